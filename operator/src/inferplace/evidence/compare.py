"""How far predictions are from published measurements: absolute percentage error by metric and chip."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from inferplace.catalog.efficiency import EfficiencyParams

# Truth metrics and the prediction column each is compared with. `ttft_ms` and `itl_ms` are means
# (guidellm, NxDI's iteration averages; NIM does not say, and its sweep reads like guidellm's): they are
# compared with the mean predictions.
METRIC_TO_PREDICTION = {
    "output_tok_s_total": "output_tok_s_total",
    "ttft_ms_p50": "ttft_ms_p50",
    "ttft_ms_p99": "ttft_ms_p99",
    "tpot_ms_p50": "tpot_ms_p50",
    "tpot_ms_p99": "tpot_ms_p99",
    "ttft_ms": "ttft_ms_mean",
    "itl_ms": "tpot_ms_mean",
    "e2e_latency_s_p50": "e2e_latency_s_p50",
}
# What a held-out error is reported for: each truth metric's family.
FAMILY = {"output_tok_s_total": "throughput", "ttft_ms_p50": "ttft", "ttft_ms_p99": "ttft", "ttft_ms": "ttft",
          "tpot_ms_p50": "tpot", "tpot_ms_p99": "tpot", "itl_ms": "tpot", "e2e_latency_s_p50": "e2e"}
REPORT_METRICS = ("output_tok_s_total", "tpot_ms_mean", "tpot_ms_p50", "tpot_ms_p99", "ttft_ms_mean", "ttft_ms_p50",
                  "ttft_ms_p99")


@dataclass(frozen=True)
class ErrorRow:
    scenario_id: str
    accelerator: str
    metric: str
    truth: float
    predicted: float

    @property
    def ape(self) -> float:
        return abs(self.predicted - self.truth) / abs(self.truth) * 100.0


def compare(
    predictions: Mapping[str, Mapping[str, float]],
    truth_rows: Iterable[Mapping[str, str]],
    accelerator_of: Mapping[str, str],
) -> list[ErrorRow]:
    """Pair each truth value with its prediction; scenarios without a prediction are skipped."""
    out: list[ErrorRow] = []
    for row in truth_rows:
        sid, metric = row["scenario_id"], row["metric"]
        col = METRIC_TO_PREDICTION.get(metric)
        pred = predictions.get(sid, {}).get(col or "", math.nan)
        try:
            truth = float(row["value"])
        except (TypeError, ValueError):
            continue
        if col is None or not math.isfinite(pred) or truth == 0:
            continue
        metric_name = {"ttft_ms": "ttft_ms_mean", "itl_ms": "tpot_ms_mean"}.get(metric, metric)
        out.append(ErrorRow(sid, accelerator_of.get(sid, "?"), metric_name, truth, pred))
    return out


def summarize(errors: list[ErrorRow]) -> dict[tuple[str, str], tuple[int, float, float]]:
    """(metric, accelerator or 'all') -> (n, median APE, 90th-percentile APE)."""
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for e in errors:
        groups[(e.metric, "all")].append(e.ape)
        groups[(e.metric, e.accelerator)].append(e.ape)
    return {k: (len(v), float(np.median(v)), float(np.percentile(v, 90))) for k, v in groups.items()}


def format_report(errors: list[ErrorRow]) -> str:
    summary = summarize(errors)
    accs = sorted({a for (_, a) in summary if a != "all"})
    metrics = [m for m in REPORT_METRICS if (m, "all") in summary]
    metrics += sorted({m for (m, _) in summary} - set(metrics))
    lines = [f"{'metric':<20} {'accelerator':<13} {'n':>4} {'median APE %':>13} {'p90 APE %':>10}"]
    for m in metrics:
        for a in ["all", *accs]:
            if (m, a) in summary:
                n, med, p90 = summary[(m, a)]
                lines.append(f"{m:<20} {a:<13} {n:>4} {med:>13.1f} {p90:>10.1f}")
    return "\n".join(lines)


def _own(variant: EfficiencyParams, source: EfficiencyParams) -> str:
    """The runtime constants and fitted values a variant does not share with the group it is fitted with."""
    mine, theirs = variant.model_dump(), source.model_dump()
    return ", ".join(f"{k} {v:.4g}" for k, v in mine.items()
                     if isinstance(v, int | float) and not k.startswith("error_") and v != theirs[k])


def fidelity_report(groups: Mapping[str, Any], fit_date: str | None = None, age_days: int | None = None) -> str:
    """Each efficiency group: what it was fitted on, its held-out errors, the chips its measurements
    cover; inherited groups say where they come from. `groups`: the catalog's EfficiencyParams by key."""
    when = f"fitted {fit_date}" if fit_date else "fit date unknown"
    if age_days is not None:
        when += f" ({age_days} days before the as-of)"
    lines = [f"engine accuracy per efficiency group ({when}): absolute % error on published values the fit did "
             "not see,", "held out one configuration (and one model) at a time; median / p90 (values)", ""]
    head = f"{'group':<26} {'configs':>7}  {'throughput':>16} {'TTFT':>16} {'TPOT':>16}  {'new model tput':>15}"
    lines.append(head)
    for key, g in groups.items():
        if g.inherits or g.same_fit_as or not g.held_out:
            continue
        cfg = g.held_out.get("configuration", {})
        mdl = g.held_out.get("model", {})

        def cell(fam: str, src: Mapping[str, Any] = cfg) -> str:
            e = src.get(fam)
            return f"{e.median_pct:.0f}/{e.p90_pct:.0f} ({e.values})" if e else "-"

        n = sum(c.configurations for c in g.coverage.values())
        lines.append(f"{key:<26} {n:>7}  {cell('throughput'):>16} {cell('ttft'):>16} {cell('tpot'):>16}  "
                     f"{cell('throughput', mdl):>15}")
    lines += ["", "what each group's measurements cover (beyond it a recommendation says it extrapolates):"]
    for key, g in groups.items():
        if g.inherits or g.same_fit_as or not g.coverage:
            continue
        chips = "; ".join(f"{acc}: {c.configurations} configurations of {c.models} models, concurrency up to "
                          f"{c.max_concurrency_per_replica:g} a replica, prompts up to {c.max_prompt_tokens:,.0f}"
                          for acc, c in g.coverage.items())
        lines.append(f"  {key} ({g.stack}): {chips}")
    same = [f"{k} (as {g.same_fit_as}, but {_own(g, groups[g.same_fit_as])})"
            for k, g in groups.items() if g.same_fit_as and g.same_fit_as in groups]
    if same:
        lines.append("  fitted together, other compiled shapes and host overheads: " + "; ".join(same))
    lines += ["", "without measurements of their own:"]
    lines += [f"  {k}: {g.how}" for k, g in groups.items() if g.inherits]
    return "\n".join(lines) + "\n"
