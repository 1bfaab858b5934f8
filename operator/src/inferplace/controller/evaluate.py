"""One evaluation of one InferenceWorkload, without I/O: the spec as stored, what Prometheus said
(or why it said nothing) and the previous status in; the new status, whether the recommendation
changed and the figures for the operator's own metrics out.

The status has the same shapes `inferplace recommend -o json` prints, plus what only the operator
knows: `observed`, and the `MetricsAvailable` and `Calibrated` conditions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from inferplace.api import InferenceWorkloadSpec, describe
from inferplace.api.status import Condition, InferenceWorkloadStatus, Observed, Placement
from inferplace.api.types import fixed
from inferplace.catalog import Catalog
from inferplace.metrics import MetricsUnavailable, Observation
from inferplace.placement import WorkloadError, resolve
from inferplace.placement.calibration import (
    MIN_REQUESTS_PER_SECOND,
    Calibration,
    NotCalibrated,
    derive,
    scope_of,
)
from inferplace.placement.report import build_report, now_rfc3339
from inferplace.placement.search import Outcome, search
from inferplace.placement.workload import Workload

CONDITION_TYPES = ("Ready", "MetricsAvailable", "Calibrated")


@dataclass(frozen=True)
class Evaluation:
    status: dict[str, Any]  # wire form, ready to write
    ready: bool
    event: tuple[str, str, str] | None  # (Normal|Warning, reason, message) when worth telling
    monthly_savings: float | None
    cost_per_million_now: float | None
    cost_per_million_recommended: float | None


def _cond(type_: str, ok: bool | None, reason: str, message: str, generation: int | None) -> Condition:
    status = "Unknown" if ok is None else "True" if ok else "False"
    return Condition(type=type_, status=status, reason=reason, message=message[:4096],
                     last_transition_time=now_rfc3339(), observed_generation=generation)


def _keep_transition_times(new: list[Condition], old: list[dict[str, Any]]) -> list[Condition]:
    """API conventions: lastTransitionTime changes only when the status of a condition does."""
    before = {c.get("type"): c for c in old if isinstance(c, dict)}
    out = []
    for c in new:
        prev = before.get(c.type)
        same = prev and prev.get("status") == c.status and isinstance(prev.get("lastTransitionTime"), str)
        out.append(c.model_copy(update={"last_transition_time": prev["lastTransitionTime"]}) if same and prev else c)
    return out


def _observed(obs: Observation) -> Observed:
    v = obs.values

    def num(key: str, scale: float = 1.0, places: int = 3) -> str | None:
        x = v.get(key)
        return fixed(x * scale, places) if x is not None and math.isfinite(x) and x >= 0 else None

    return Observed(
        window=obs.window, time=datetime.fromtimestamp(obs.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        requests_per_second=num("requests_per_second", places=4),
        prompt_tokens_per_second=num("prompt_tokens_per_second", places=1),
        output_tokens_per_second=num("output_tokens_per_second", places=1),
        prompt_tokens_mean=num("prompt_tokens_mean", places=1), output_tokens_mean=num("output_tokens_mean", places=1),
        ttft_mean_ms=num("ttft_mean_s", 1e3, 1), ttft_p50_ms=num("ttft_p50_s", 1e3, 1),
        ttft_p95_ms=num("ttft_p95_s", 1e3, 1), tpot_mean_ms=num("tpot_mean_s", 1e3, 2),
        tpot_p50_ms=num("tpot_p50_s", 1e3, 2), tpot_p95_ms=num("tpot_p95_s", 1e3, 2),
        running_batch=num("running_batch", places=2), kv_cache_usage=num("kv_cache_usage"),
        accelerator_utilization=num("accelerator_utilization"),
        missing=[f"{k}: {why}"[:512] for k, why in sorted(obs.problems.items())][:16],
    )


def observed_traffic(w: Workload, obs: Observation) -> tuple[Workload, str]:
    """The workload with its traffic replaced by the observed one where it was read.

    The declared p95 lengths keep their ratio to the mean (the length histograms have 1-2-5 buckets,
    too coarse for a p95); the peak-to-mean ratio stays as declared (one window shows no peak).
    """
    rps = obs.get("requests_per_second")
    out_mean = obs.get("output_tokens_mean")
    in_mean = obs.get("prompt_tokens_mean")
    if rps is None and out_mean and obs.get("output_tokens_per_second") is not None:
        rps = (obs.get("output_tokens_per_second") or 0.0) / out_mean
    if rps is None or rps < MIN_REQUESTS_PER_SECOND:
        return w, (f"declared traffic used: {rps or 0:.3g} requests/s observed in {obs.window}, too little to "
                   "replace it")
    used = [f"{rps:.3g} req/s"]
    prompt = (w.prompt_mean, w.prompt_p95)
    output = (w.output_mean, w.output_p95)
    if in_mean and in_mean >= 1:
        prompt = (in_mean, max(w.prompt_p95 * in_mean / w.prompt_mean, in_mean))
        used.append(f"{in_mean:.0f} prompt tokens")
    if out_mean and out_mean >= 1:
        output = (out_mean, max(w.output_p95 * out_mean / w.output_mean, out_mean))
        used.append(f"{out_mean:.0f} output tokens")
    note = (f"traffic observed over {obs.window} ({', '.join(used)} mean) replaces spec.traffic; "
            f"peak-to-mean {w.peak_to_mean:g} and p95/mean length ratios as declared")
    return replace(w, rps=rps, prompt_mean=prompt[0], prompt_p95=prompt[1], output_mean=output[0],
                   output_p95=output[1], assumptions=[*w.assumptions, note]), note


def _group(o: Outcome, cat: Catalog) -> str | None:
    return None if o.current_key is None else scope_of(cat, o.current_key)


def _calibrate(o: Outcome, obs: Observation | None, cat: Catalog) -> tuple[Outcome, Calibration | NotCalibrated]:
    if obs is None:
        return o, NotCalibrated("NoMetrics", "no live latency to calibrate with")
    try:
        cal = derive(o, _group(o, cat), o.workload.rps, obs.get("tpot_mean_s"), obs.get("ttft_mean_s"))
    except NotCalibrated as exc:
        return o, exc
    w = replace(o.workload, calibration=cal)
    if cal.applied:
        return search([w], cat)[0], cal
    o.workload = w
    return o, cal


def _key(p: dict[str, Any] | Placement | None) -> str | None:
    if p is None:
        return None
    d = p.model_dump(by_alias=True) if isinstance(p, Placement) else p
    return (f"{d.get('replicas')} x {d.get('chipsPerReplica')} chips on {d.get('instances')} "
            f"{d.get('instanceType')} ({d.get('capacityType')}, {d.get('weightPrecision')}"
            f"{', speculative' if d.get('speculativeDecoding') else ''})")


def evaluate(name: str, spec: dict[str, Any], generation: int | None, previous: dict[str, Any] | None,
             obs: Observation | None, fault: MetricsUnavailable | None, cat: Catalog,
             metrics_configured: bool) -> Evaluation:
    previous = previous or {}
    raw = previous.get("conditions")
    old_conditions: list[dict[str, Any]] = [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []
    if not metrics_configured:
        metrics = _cond("MetricsAvailable", False, "NotConfigured",
                        "spec.metrics is not set: the declared spec.traffic is used", generation)
    elif fault is not None:
        metrics = _cond("MetricsAvailable", False, fault.reason,
                        f"{fault.message}; falling back to the declared spec.traffic", generation)
    else:
        metrics = _cond("MetricsAvailable", True, "Observed", "live traffic read from Prometheus", generation)

    def failed(reason: str, message: str) -> Evaluation:
        conds = [_cond("Ready", False, reason, message, generation), metrics,
                 _cond("Calibrated", None, "NotEvaluated", "the spec could not be evaluated", generation)]
        status = InferenceWorkloadStatus(
            observed_generation=generation, conditions=_keep_transition_times(conds, old_conditions),
            observed=_observed(obs) if obs else None, last_evaluation_time=now_rfc3339())
        was = next((c for c in old_conditions if isinstance(c, dict) and c.get("type") == "Ready"), {})
        event = None if was.get("reason") == reason else ("Warning", reason, message[:1024])
        return Evaluation(_wire(status), False, event, None, None, None)

    try:
        parsed = InferenceWorkloadSpec.model_validate(spec)
    except ValidationError as exc:
        return failed("InvalidSpec", "; ".join(describe(exc, InferenceWorkloadSpec, prefix="spec."))[:4096])
    try:
        w = resolve(name, parsed, cat)
    except WorkloadError as exc:
        return failed("CannotEvaluate", "; ".join(exc.problems))

    if obs is not None:
        w, note = observed_traffic(w, obs)
        if note.startswith("declared"):
            metrics = metrics.model_copy(update={"message": f"live figures read; {note}"})
        else:
            missing = ", ".join(sorted(obs.problems)) or "none"
            metrics = metrics.model_copy(update={"message": f"{note}; figures not read: {missing}"[:4096]})
    o, cal = _calibrate(search([w], cat)[0], obs, cat)
    report = build_report(o, cat, generation)
    if isinstance(cal, Calibration):
        calibrated = _cond("Calibrated", cal.applied or cal.agrees, cal.reason, cal.message, generation)
    else:
        calibrated = _cond("Calibrated", False, cal.reason, cal.message, generation)
    st = report.status
    conds = _keep_transition_times([*st.conditions, metrics, calibrated], old_conditions)
    st = st.model_copy(update={"conditions": conds, "observed": _observed(obs) if obs else None})
    rec = st.recommendation
    before, after = _key(previous.get("recommendation")), _key(rec)
    event = None
    if after is not None and before != after:
        verb = "changed to" if before else "is"
        savings = f", saving ${rec.savings_monthly}/month" if rec and rec.savings_monthly else ""
        event = ("Normal", "RecommendationChanged",
                 f"recommendation {verb} {after} at ${rec.cost_per_million_output_tokens if rec else ''}"
                 f"/1M output tokens{savings}" + (f" (was {before})" if before else ""))
    elif after is None and _ready_reason(old_conditions) != st.conditions[0].reason:
        event = ("Warning", st.conditions[0].reason, st.conditions[0].message[:1024])
    cur = st.current
    return Evaluation(
        _wire(st), rec is not None, event,
        float(rec.savings_monthly) if rec and rec.savings_monthly else None,
        float(cur.cost_per_million_output_tokens) if cur and cur.cost_per_million_output_tokens else None,
        float(rec.cost_per_million_output_tokens) if rec else None,
    )


def _ready_reason(conditions: list[dict[str, Any]]) -> str | None:
    c = next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), None)
    return None if c is None else str(c.get("reason"))


def _wire(status: InferenceWorkloadStatus) -> dict[str, Any]:
    out: dict[str, Any] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return out
