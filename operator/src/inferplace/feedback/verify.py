"""Checking a recommendation after the move: promised against observed, and what was actually saved.

1. The promise (`feedback.promises`): what a placement was recommended with.
2. The move: `spec.current` changes to a placement that carries one of them out (by
   `spec.current.recommendationId`, else by instance type, chips per replica and precision) - the
   verification starts, at `spec.current.since` or when first seen (`pending_move`; Pending while
   `since` is still ahead), with the baseline of the placement it replaced (its instances and price,
   and what Prometheus saw over the window before the move).
3. The check (`verify`), once the settling period and one whole metrics window after it have passed
   (cold starts and settling never count): each metric's ratio of observed to promised against the
   range the promise stated; Confirmed when all are inside, Missed when a latency is outside (the
   fleet could not keep up), Inconclusive when the metrics are missing or the load stayed below what
   the promise was sized for while latency held (capacity not exercised). Realized cost per million
   output tokens is instance hours at the promise's price over the tokens actually served; realized
   monthly savings are against the baseline's instance bill.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from inferplace.api.clock import rfc3339
from inferplace.api.spec import InferenceWorkloadSpec
from inferplace.api.status import Baseline, Promise, Realized, Verification, VerificationRow
from inferplace.api.types import fixed
from inferplace.api.vocabulary import duration_seconds
from inferplace.engine.tco import HOURS_PER_MONTH
from inferplace.feedback.promises import matches
from inferplace.metrics.observation import Observation

CHECK_BOUNDS = (0.2, 5.0)  # a single check's ratio (corrections are bounded again, tighter)
Metric = Literal["throughputPerReplica", "ttftP95", "tpotP95"]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class Move:
    promise: Promise
    moved_at: datetime


def in_progress(spec: InferenceWorkloadSpec, previous: Mapping[str, Any] | None) -> Verification | None:
    """The verification the previous status holds, if the spec still runs the placement it verifies."""
    raw = (previous or {}).get("verification")
    if not isinstance(raw, dict):
        return None
    try:
        v = Verification.model_validate(raw)
    except ValueError:
        return None
    return v if matches(spec, v.promise.model_dump(by_alias=True)) else None


def pending_move(spec: InferenceWorkloadSpec, previous: Mapping[str, Any] | None, now: datetime) -> Move | None:
    """A move that starts a verification now: spec.current changed from the placement of the previous status
    to one a kept promise is for."""
    prev = previous or {}
    cur = spec.current
    if cur is None or in_progress(spec, previous) is not None:
        return None
    raw_before = prev.get("current")
    before: Mapping[str, Any] = raw_before if isinstance(raw_before, dict) else {}
    if (before.get("instanceType"), before.get("chipsPerReplica")) == (cur.instance_type.lower(),
                                                                      cur.chips_per_replica):
        return None  # the placement the last evaluation already had: no move
    for raw in prev.get("promises") or []:
        if isinstance(raw, dict) and matches(spec, raw):
            try:
                promise = Promise.model_validate(raw)
            except ValueError:
                continue
            # a `since` ahead of now is a move announced for later: Pending until then
            return Move(promise, _time(cur.since) if cur.since else now)
    return None


def baseline_of(previous: Mapping[str, Any] | None, before: Observation | None) -> Baseline | None:
    """Today's placement as the previous status costed it, and what Prometheus saw before the move."""
    cur = (previous or {}).get("current")
    if not isinstance(cur, dict) or not cur.get("instanceType") or not cur.get("instances"):
        return None
    price = ((cur.get("costBreakdown") or {}).get("price") or {}).get("usdPerHour")
    return baseline(str(cur["instanceType"]), int(cur["instances"]), float(price) if price is not None else None,
                    before)


def baseline(instance_type: str, instances: int, usd_per_hour: float | None, before: Observation | None) -> Baseline:
    """The placement a move replaced (its instance bill at `usd_per_hour`), and Prometheus before the move."""
    monthly = usd_per_hour * instances * HOURS_PER_MONTH if usd_per_hour is not None else None

    def ms(x: float | None) -> str | None:
        return fixed(x * 1e3, 1) if x is not None and math.isfinite(x) else None

    tokens = before.output_tokens_per_second if before is not None else None
    return Baseline(
        instance_type=instance_type, instances=instances,
        usd_per_instance_hour=fixed(usd_per_hour, 4) if usd_per_hour is not None else None,
        monthly_instance_cost=fixed(monthly, 2) if monthly is not None else None,
        output_tokens_per_second=fixed(tokens, 3) if tokens is not None else None,
        ttft_p95_ms=ms(before.ttft_p95_s) if before else None, tpot_p95_ms=ms(before.tpot_p95_s) if before else None,
        window_end=rfc3339(datetime.fromtimestamp(before.time, UTC)) if before else None)


@dataclass(frozen=True)
class Outcome:
    verification: Verification
    check_ratio: float | None  # observed / promised goodput, for the fleet's corrections; None: no check


def verify(spec: InferenceWorkloadSpec, promise: Promise, moved_at: datetime, baseline: Baseline | None,
           obs: Observation | None, fault: str | None, instances_now: int, window: str, now: datetime,
           checked: Verification | None = None) -> Outcome:
    """The verification of `promise` at `now`: settling, or the check over the window ending now."""
    settle = timedelta(seconds=duration_seconds(spec.verification.settle))
    settled_at = moved_at + settle
    ready_at = settled_at + timedelta(seconds=duration_seconds(window))
    base = {"promise": promise, "moved_at": rfc3339(moved_at), "settled_at": rfc3339(settled_at), "baseline": baseline}
    if checked is not None and checked.state in ("Confirmed", "Missed"):
        return Outcome(checked, None)  # a verdict stands until the placement changes again
    if now < moved_at:
        return Outcome(Verification(state="Pending", reason="MoveAhead", message=(
            f"spec.current.since says {promise.summary} serves from {rfc3339(moved_at)}; the settling period "
            f"starts then"), **base), None)
    if now < ready_at:
        return Outcome(Verification(state="Settling", reason="Settling", message=(
            f"moved to {promise.summary} at {rfc3339(moved_at)}; the check runs from {rfc3339(ready_at)}: the "
            f"{spec.verification.settle} settling period and one {window} window after it (nothing before counts)"),
            **base), None)
    replicas = spec.current.replicas if spec.current else promise.replicas
    tput = obs.output_tokens_per_second if obs is not None else None
    if obs is None or tput is None:
        why = fault or "no output-token rate was read"
        return Outcome(Verification(state="Inconclusive", reason="NoMetrics", checked_at=rfc3339(now), message=(
            f"nothing to compare with the promise over the {window} window ending {rfc3339(now)}: {why}"),
            **base), None)
    e = float(promise.error_p90_pct) / 100.0
    low, high = 1.0 / (1.0 + e), 1.0 + e
    per_replica = tput / max(replicas, 1)
    rows = [_row("throughputPerReplica", float(promise.output_tokens_per_second_per_replica), per_replica,
                 f">= {low:.2f}", lambda r: r >= low)]
    latencies: tuple[tuple[Metric, str, float | None], ...] = (("ttftP95", promise.ttft_p95_ms, obs.ttft_p95_s),
                                                               ("tpotP95", promise.tpot_p95_ms, obs.tpot_p95_s))
    for metric, promised, seen in latencies:
        rows.append(_row(metric, float(promised), seen * 1e3 if seen is not None else None, f"<= {high:.2f}",
                         lambda r: r <= high))
    realized = _realized(promise, baseline, tput, instances_now)
    slow = [r for r in rows[1:] if r.within is False]
    short = rows[0].within is False
    ratio_t = float(rows[0].ratio) if rows[0].ratio is not None else None
    table = "; ".join(f"{r.metric} {r.observed or '-'} vs {r.promised} (x{r.ratio or '-'}, {r.acceptable})"
                      for r in rows)
    if slow:
        worst = max(float(r.ratio or 1.0) for r in slow)
        ratio = ratio_t if short and ratio_t is not None else 1.0 / worst
        state, reason, what = "Missed", "LatencyAbovePromise", (
            f"{', '.join(r.metric for r in slow)} above the promise's range"
            + (" and the fleet served less than it was sized for" if short else ""))
    elif short:
        state, reason, what, ratio = "Inconclusive", "LoadBelowPromise", (
            "the fleet served less than the promise was sized for while latency held: the capacity promised was "
            "not exercised"), None
    else:
        state, reason, what, ratio = ("Confirmed", "AsPromised", "every measured figure is inside the promise's range",
                                      1.0)
    if ratio is not None:
        ratio = min(max(ratio, CHECK_BOUNDS[0]), CHECK_BOUNDS[1])
    message = f"{what}: {table}"
    if realized.monthly_savings is not None and baseline is not None:
        message += f"; realized savings ${realized.monthly_savings}/month against {baseline.instance_type}"
    return Outcome(Verification(state=state, reason=reason, message=message[:2048], checked_at=rfc3339(now),
                                rows=rows, realized=realized, **base), ratio)


def _row(metric: Metric, promised: float, observed: float | None, acceptable: str, ok: Any) -> VerificationRow:
    if observed is None or not math.isfinite(observed) or promised <= 0:
        return VerificationRow(metric=metric, promised=fixed(promised, 3), acceptable=acceptable)
    ratio = observed / promised
    return VerificationRow(metric=metric, promised=fixed(promised, 3), observed=fixed(observed, 3),
                           ratio=fixed(ratio, 3), acceptable=acceptable, within=bool(ok(ratio)))


def _realized(promise: Promise, baseline: Baseline | None, tokens_per_s: float, instances: int) -> Realized:
    """Instance hours at the promise's price over the tokens served, and the monthly difference to the baseline."""
    usd_h = float(promise.usd_per_instance_hour)
    monthly = usd_h * instances * HOURS_PER_MONTH
    per_million = usd_h * instances / (tokens_per_s * 3600.0) * 1e6 if tokens_per_s > 0 else None
    before = float(baseline.monthly_instance_cost) if baseline and baseline.monthly_instance_cost else None
    promised_tokens = float(promise.output_tokens_per_second_per_replica) * promise.replicas
    promised = usd_h * promise.instances / (promised_tokens * 3600.0) * 1e6 if promised_tokens > 0 else None
    return Realized(cost_per_million_output_tokens=fixed(per_million, 4) if per_million is not None else None,
                    promised_cost_per_million_output_tokens=fixed(promised, 4) if promised is not None else None,
                    monthly_instance_cost=fixed(monthly, 2),
                    baseline_monthly_instance_cost=fixed(before, 2) if before is not None else None,
                    monthly_savings=fixed(before - monthly, 2) if before is not None else None)


__all__ = ["Move", "Outcome", "baseline", "baseline_of", "in_progress", "pending_move", "verify"]
