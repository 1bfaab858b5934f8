"""vLLM series for workloads that moved: the pods of one placement serve until the move, the pods of
the next from it, each at traffic and latency the test states; written as OpenMetrics and backfilled
into a TSDB with `promtool tsdb create-blocks-from openmetrics`."""

from __future__ import annotations

import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .prom import binaries

STEP_S = 15


@dataclass(frozen=True)
class Serving:
    """One pod's series from `start` to `end` (unix s): its rates, lengths, and TTFT/TPOT p95."""

    labels: dict[str, str]
    start: int
    end: int
    requests_per_s: float
    prompt_mean: float
    output_mean: float
    ttft_p95_s: float
    tpot_p95_s: float
    running: float = 8.0
    extra: dict[str, float] = field(default_factory=dict)


def _buckets(p95: float) -> list[tuple[float, float]]:
    """Cumulative fractions whose 0.95 quantile is exactly `p95` (histogram_quantile interpolates linearly
    inside a bucket, and 0.95 is a bucket's upper edge here)."""
    return [(round(p95 * 0.4, 6), 0.5), (round(p95, 6), 0.95), (round(p95 * 2, 6), 1.0)]


def _mean(p95: float) -> float:
    return p95 * 0.4 * 0.5 * 0.5 + (p95 * 0.7) * 0.45 + p95 * 1.5 * 0.05


def openmetrics(servings: list[Serving], step_s: int = STEP_S) -> str:
    families: dict[tuple[str, str], list[str]] = defaultdict(list)  # (name, type) -> sample lines

    for s in servings:
        lab = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        times = range(s.start, s.end + 1, step_s)

        def counter(name: str, rate: float, lab: str = lab, s: Serving = s, times: range = times) -> None:
            families[(name, "counter")] += [f"{name}_total{{{lab}}} {rate * (t - s.start):.3f} {t}" for t in times]

        def gauge(name: str, value: float, lab: str = lab, times: range = times) -> None:
            families[(name, "gauge")] += [f"{name}{{{lab}}} {value} {t}" for t in times]

        def histogram(name: str, rate: float, mean: float, buckets: list[tuple[float, float]], lab: str = lab,
                      s: Serving = s, times: range = times) -> None:
            lines = families[(name, "histogram")]
            for t in times:
                n = rate * (t - s.start)
                lines += [f'{name}_bucket{{{lab},le="{le}"}} {n * f:.3f} {t}' for le, f in buckets]
                lines += [f'{name}_bucket{{{lab},le="+Inf"}} {n:.3f} {t}', f"{name}_count{{{lab}}} {n:.3f} {t}",
                          f"{name}_sum{{{lab}}} {n * mean:.3f} {t}"]

        r = s.requests_per_s
        counter("vllm:request_success", r)
        counter("vllm:generation_tokens", r * s.output_mean)
        counter("vllm:prompt_tokens", r * s.prompt_mean)
        histogram("vllm:request_prompt_tokens", r, s.prompt_mean,
                  [(s.prompt_mean * 0.5, 0.3), (s.prompt_mean * 2, 0.95), (s.prompt_mean * 4, 1.0)])
        histogram("vllm:request_generation_tokens", r, s.output_mean,
                  [(s.output_mean * 0.5, 0.3), (s.output_mean * 2, 0.95), (s.output_mean * 4, 1.0)])
        histogram("vllm:time_to_first_token_seconds", r, _mean(s.ttft_p95_s), _buckets(s.ttft_p95_s))
        histogram("vllm:inter_token_latency_seconds", r * s.output_mean, _mean(s.tpot_p95_s),
                  _buckets(s.tpot_p95_s))
        gauge("vllm:num_requests_running", s.running)
        for name, value in s.extra.items():
            gauge(name, value)
    out = []
    for (name, kind), lines in families.items():
        out.append(f"# TYPE {name} {kind}")
        out += lines
    return "\n".join([*out, "# EOF"]) + "\n"


def backfill(servings: list[Serving], root: Path) -> Path:
    """A TSDB directory holding `servings` (for `prom.running(..., data=)`)."""
    _, promtool = binaries()
    root.mkdir(parents=True, exist_ok=True)
    (root / "moves.om").write_text(openmetrics(servings))
    data = root / "tsdb"
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(root / "moves.om"), str(data)],
                   check=True, capture_output=True, timeout=300)
    return data
