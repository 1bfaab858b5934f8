"""A vLLM-like Prometheus exporter with known figures, for tests, the scale benchmark and the kind
integration: it serves `/metrics` in the text format with the series vLLM exposes (current names),
growing counters and histograms at a fixed rate, so a Prometheus that scrapes it can be checked
against the truth.

    python -m inferplace.testing.exporter --port 8000 --pods 2 --rps 3 [--namespace chat]
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Truth:
    """Per-pod traffic and latency the exporter reports; `expected()` is what a query should read."""

    rps: float = 3.0  # requests/s per pod
    prompt_mean: float = 800.0
    output_mean: float = 200.0
    ttft_s: tuple[tuple[float, float], ...] = ((0.08, 0.8), (0.4, 0.2))  # (value, share of requests)
    tpot_s: tuple[tuple[float, float], ...] = ((0.012, 0.9), (0.03, 0.1))  # (value, share of tokens)
    running: float = 12.0
    kv_usage: float = 0.35
    pods: tuple[str, ...] = ("vllm-0", "vllm-1")
    namespace: str = "chat"
    model_name: str = "llama-8b"

    @staticmethod
    def mean(mix: tuple[tuple[float, float], ...]) -> float:
        return sum(v * s for v, s in mix)

    def expected(self) -> dict[str, float]:
        n = len(self.pods)
        return {
            "requests_per_second": self.rps * n,
            "prompt_tokens_per_second": self.rps * self.prompt_mean * n,
            "output_tokens_per_second": self.rps * self.output_mean * n,
            "prompt_tokens_mean": self.prompt_mean,
            "output_tokens_mean": self.output_mean,
            "ttft_mean_s": self.mean(self.ttft_s),
            "tpot_mean_s": self.mean(self.tpot_s),
            "running_batch": self.running,
            "kv_cache_usage": self.kv_usage,
        }


TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
TOKEN_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


@dataclass
class Exporter:
    truth: Truth
    host: str = "127.0.0.1"
    port: int = 0
    started: float = field(default_factory=time.monotonic)  # counters grow with the time served, not the date

    def render(self, now: float | None = None) -> str:
        """The exposition at monotonic time `now` (default: the present)."""
        t = max((time.monotonic() if now is None else now) - self.started, 0.0)
        tr = self.truth
        out: list[str] = []

        def head(name: str, kind: str) -> None:
            out.append(f"# HELP {name} vLLM-like test series")
            out.append(f"# TYPE {name} {kind}")

        def histogram(name: str, lab: str, count: float, mix: tuple[tuple[float, float], ...],
                      buckets: tuple[float, ...]) -> None:
            for le in buckets:
                share = sum(s for v, s in mix if v <= le)
                out.append(f'{name}_bucket{{{lab},le="{le}"}} {count * share:.6f}')
            out.append(f'{name}_bucket{{{lab},le="+Inf"}} {count:.6f}')
            out.append(f"{name}_count{{{lab}}} {count:.6f}")
            out.append(f"{name}_sum{{{lab}}} {count * Truth.mean(mix):.6f}")

        series: dict[str, list[str]] = {}
        for pod in tr.pods:
            lab = f'model_name="{tr.model_name}",engine="0",namespace="{tr.namespace}",pod="{pod}"'
            reqs = tr.rps * t
            series.setdefault("vllm:request_success_total counter", []).append(
                f'vllm:request_success_total{{{lab},finished_reason="stop"}} {reqs:.6f}')
            series.setdefault("vllm:prompt_tokens_total counter", []).append(
                f"vllm:prompt_tokens_total{{{lab}}} {reqs * tr.prompt_mean:.6f}")
            series.setdefault("vllm:generation_tokens_total counter", []).append(
                f"vllm:generation_tokens_total{{{lab}}} {reqs * tr.output_mean:.6f}")
            series.setdefault("vllm:num_requests_running gauge", []).append(
                f"vllm:num_requests_running{{{lab}}} {tr.running}")
            series.setdefault("vllm:kv_cache_usage_perc gauge", []).append(
                f"vllm:kv_cache_usage_perc{{{lab}}} {tr.kv_usage}")
        for key, lines in series.items():
            name, kind = key.split(" ")
            head(name, kind)
            out.extend(lines)
        # (name, observations per request, values and shares, buckets)
        hists: tuple[tuple[str, float, tuple[tuple[float, float], ...], tuple[float, ...]], ...] = (
            ("vllm:request_prompt_tokens", 1.0, ((tr.prompt_mean, 1.0),), TOKEN_BUCKETS),
            ("vllm:request_generation_tokens", 1.0, ((tr.output_mean, 1.0),), TOKEN_BUCKETS),
            ("vllm:time_to_first_token_seconds", 1.0, tr.ttft_s, TTFT_BUCKETS),
            ("vllm:inter_token_latency_seconds", tr.output_mean, tr.tpot_s, ITL_BUCKETS),
        )
        for name, per_request, mix, buckets in hists:
            head(name, "histogram")
            for pod in tr.pods:
                lab = f'model_name="{tr.model_name}",engine="0",namespace="{tr.namespace}",pod="{pod}"'
                histogram(name, lab, tr.rps * t * per_request, mix, buckets)
        return "\n".join(out) + "\n"

    def serve(self) -> ThreadingHTTPServer:
        """Start serving in a daemon thread; call `.shutdown()` and `.server_close()` to stop."""
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = int(server.server_address[1])
        threading.Thread(target=server.serve_forever, name="vllm-exporter", daemon=True).start()
        return server


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--pods", type=int, default=2)
    p.add_argument("--rps", type=float, default=3.0, help="requests/s per pod")
    p.add_argument("--namespace", default="chat")
    p.add_argument("--model-name", default="llama-8b")
    a = p.parse_args()
    truth = Truth(rps=a.rps, pods=tuple(f"vllm-{i}" for i in range(a.pods)), namespace=a.namespace,
                  model_name=a.model_name)
    server = Exporter(truth, a.host, a.port).serve()
    print(f"serving http://{a.host}:{server.server_address[1]}/metrics", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
