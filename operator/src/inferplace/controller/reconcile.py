"""The evaluation of InferenceWorkloads, without I/O: per workload the parsed spec (or why it did not
parse), what the metrics backend said (or why it said nothing), the previous status and the time in;
the new status, whether the recommendation changed and the figures for the operator's own metrics out.

    resolve -> observed traffic -> derive calibration -> one search -> report -> conditions, Event

`reconcile_all` takes several workloads through the calibration and the search together (one engine
pass); `reconcile` is one workload alone. Each gets the same answer either way.

The status has the same shapes `inferplace recommend -o json` prints, plus what only the operator
knows: `observed`, and the `MetricsAvailable` and `Calibrated` conditions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from inferplace.api import InferenceWorkloadSpec, describe
from inferplace.api.clock import rfc3339
from inferplace.api.status import Condition, InferenceWorkloadStatus, Observed, Placement, PriceUsed
from inferplace.api.types import fixed
from inferplace.api.vocabulary import APPROVAL_ANNOTATION, ConditionType
from inferplace.catalog import Catalog
from inferplace.feedback.corrections import Check
from inferplace.feedback.promises import dated, promises_of
from inferplace.feedback.verify import baseline_of, in_progress, pending_move, verify
from inferplace.metrics import MetricsUnavailable, Observation
from inferplace.placement import Assessed, RegionDefault, Workload, WorkloadError, assess_outcomes, resolve
from inferplace.placement.calibrate import derive_calibrations
from inferplace.placement.calibration import Calibration, FleetCorrections, Uncalibrated
from inferplace.placement.search import search
from inferplace.placement.settings import DEFAULTS, Settings
from inferplace.placement.traffic import observed_traffic
from inferplace.pricing import PriceBook


@dataclass(frozen=True)
class InvalidSpec:
    """A spec the API models refuse, one `spec.path: problem` line each."""

    problems: Sequence[str]


def parse_spec(raw: Any) -> InferenceWorkloadSpec | InvalidSpec:
    """The spec as the API models read it, or every problem with it."""
    try:
        return InferenceWorkloadSpec.model_validate(raw)
    except ValidationError as exc:
        return InvalidSpec(describe(exc, InferenceWorkloadSpec, prefix="spec."))


@dataclass(frozen=True)
class PricesState:
    """Where the operator's prices come from right now (for the PricesCurrent condition)."""

    live: bool  # the live AWS provider is enabled
    refreshed_at: datetime | None  # the last refresh that returned prices
    failed_at: datetime | None  # the last refresh with a problem (None: the last one was clean)
    problems: tuple[str, ...]
    snapshot_as_of: str


SNAPSHOT_ONLY = PricesState(False, None, None, (), "")


@dataclass(frozen=True)
class Evaluation:
    status: dict[str, Any]  # wire form, ready to write
    ready: bool
    event: tuple[str, str, str] | None  # (Normal|Warning, reason, message) when worth telling
    monthly_savings: float | None
    cost_per_million_now: float | None
    cost_per_million_recommended: float | None
    verification_event: tuple[str, str, str] | None = None  # PredictionConfirmed / PredictionMissed
    check: Check | None = None  # a new verdict for the fleet's corrections (its workload field is the name)
    ratios: dict[str, float] = field(default_factory=dict)  # verification metric -> observed / promised
    node_pool: str | None = None  # of the placement verified
    realized_savings: float | None = None  # USD a month, against the baseline's instance bill


def _cond(type_: ConditionType, ok: bool | None, reason: str, message: str, generation: int | None,
          now: datetime) -> Condition:
    status = "Unknown" if ok is None else "True" if ok else "False"
    return Condition(type=type_, status=status, reason=reason, message=message[:4096],
                     last_transition_time=rfc3339(now), observed_generation=generation)


def _stamped(generation: int | None, now: datetime) -> Callable[[ConditionType, bool | None, str, str], Condition]:
    """`_cond` for one evaluation: its conditions carry its generation and time."""
    def cond(type_: ConditionType, ok: bool | None, reason: str, message: str) -> Condition:
        return _cond(type_, ok, reason, message, generation, now)
    return cond


def _past(text: Any, now: datetime) -> bool:
    """An RFC 3339 time read back from a status, not after `now` (an edited status is not trusted over the clock)."""
    try:
        return isinstance(text, str) and datetime.fromisoformat(text.replace("Z", "+00:00")) <= now
    except ValueError:
        return False


def _keep_transition_times(new: list[Condition], old: list[dict[str, Any]], now: datetime) -> list[Condition]:
    """API conventions: lastTransitionTime changes only when the status of a condition does."""
    before = {c.get("type"): c for c in old if isinstance(c, dict)}
    out = []
    for c in new:
        prev = before.get(c.type)
        same = prev and prev.get("status") == c.status and _past(prev.get("lastTransitionTime"), now)
        out.append(c.model_copy(update={"last_transition_time": prev["lastTransitionTime"]}) if same and prev else c)
    return out


def _observed(obs: Observation) -> Observed:
    def num(x: float | None, scale: float = 1.0, places: int = 3) -> str | None:
        return fixed(x * scale, places) if x is not None and math.isfinite(x) and x >= 0 else None

    return Observed(
        window=obs.window, time=rfc3339(datetime.fromtimestamp(obs.time, UTC)),
        requests_per_second=num(obs.requests_per_second, places=4),
        prompt_tokens_per_second=num(obs.prompt_tokens_per_second, places=1),
        output_tokens_per_second=num(obs.output_tokens_per_second, places=1),
        prompt_tokens_mean=num(obs.prompt_tokens_mean, places=1), output_tokens_mean=num(obs.output_tokens_mean,
                                                                                       places=1),
        ttft_mean_ms=num(obs.ttft_mean_s, 1e3, 1), ttft_p50_ms=num(obs.ttft_p50_s, 1e3, 1),
        ttft_p95_ms=num(obs.ttft_p95_s, 1e3, 1), tpot_mean_ms=num(obs.tpot_mean_s, 1e3, 2),
        tpot_p50_ms=num(obs.tpot_p50_s, 1e3, 2), tpot_p95_ms=num(obs.tpot_p95_s, 1e3, 2),
        running_batch=num(obs.running_batch, places=2), kv_cache_usage=num(obs.kv_cache_usage),
        accelerator_utilization=num(obs.accelerator_utilization), window_coverage=num(obs.coverage),
        missing=[f"{k}: {why}"[:512] for k, why in sorted(obs.problems.items())][:16],
    )


def _key(p: dict[str, Any] | Placement | None) -> str | None:
    if p is None:
        return None
    d = p.model_dump(by_alias=True) if isinstance(p, Placement) else p
    if d.get("kind") == "managed-api":
        return str(d.get("summary"))
    return (f"{d.get('replicas')} x {d.get('chipsPerReplica')} chips on {d.get('instances')} "
            f"{d.get('instanceType')} ({d.get('capacityType')}, {d.get('weightPrecision')}"
            f"{', speculative' if d.get('speculativeDecoding') else ''})")


def _condition(conditions: list[dict[str, Any]], type_: ConditionType) -> dict[str, Any]:
    """The previous status's condition of this type ({} if none)."""
    return next((c for c in conditions if c.get("type") == type_), {})


def _ready_reason(conditions: list[dict[str, Any]]) -> str | None:
    c = _condition(conditions, "Ready")
    return str(c["reason"]) if "reason" in c else None


def _wire(status: InferenceWorkloadStatus) -> dict[str, Any]:
    out: dict[str, Any] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return out


def _prices_condition(st: InferenceWorkloadStatus, state: PricesState, max_age_days: int) -> tuple[bool, str, str]:
    """(status, reason, message) of PricesCurrent: where the prices came from, and whether any is too old."""
    used: list[tuple[str, PriceUsed]] = [(label, p.cost_breakdown.price) for label, p in
            (("today's placement", st.current), ("the recommendation", st.recommendation))
            if p is not None and p.cost_breakdown is not None and p.cost_breakdown.price is not None]
    apis = [(label, p.managed_api) for label, p in (("the recommendation", st.recommendation),)
            if p is not None and p.managed_api is not None]
    providers = sorted({price.provider for _, price in used} | {f"{api.provider} API prices" for _, api in apis})
    where = f"prices from {', '.join(providers)}" if used or apis else "no price was used"
    old = [f"{label}'s price ({price.capacity_type} {price.region}, as of {price.as_of}) is {price.age_days} days old"
           for label, price in used if price.age_days > max_age_days]
    old += [f"{label}'s per-token price ({api.provider} {api.mode} {api.region}, as of {api.as_of}) is "
            f"{api.age_days} days old" for label, api in apis if api.age_days > max_age_days]
    if state.live and state.failed_at is not None:
        last = f"last good refresh {rfc3339(state.refreshed_at)}" if state.refreshed_at else "no refresh has succeeded"
        fallback = f"{where}; the live AWS provider failed at {rfc3339(state.failed_at)} ({last}: those prices stay, " \
                   f"the snapshot fills the gaps): {state.problems[0] if state.problems else 'unknown'}"
        return (not old, "LiveRefreshFailed", "; ".join([fallback, *old]))
    if old:
        fixes = []
        if any("per-token" not in o for o in old):
            fixes.append("refresh prices or supply a rate")
        if any("per-token" in o for o in old):
            fixes.append("per-token prices come from the bundled table (pricing/data/managed-apis.yaml): check the "
                         "provider's current price")
        fix = "; ".join(fixes)
        return (False, "PriceStale", f"{'; '.join(old)} (limit {max_age_days} days): {fix}")
    if state.live:
        return (True, "LivePrices", f"{where}; live AWS prices refreshed {rfc3339(state.refreshed_at)}"
                if state.refreshed_at else f"{where}; the live AWS provider has not answered yet")
    return (True, "Dated", f"{where}, each within {max_age_days} days of today")


def _price_changes(previous: dict[str, Any], st: InferenceWorkloadStatus) -> list[str]:
    """Prices that changed since the last evaluation, for the same placement and capacity type."""
    out = []
    for label, key in (("today's placement", "current"), ("the recommendation", "recommendation")):
        before = previous.get(key) if isinstance(previous.get(key), dict) else None
        after = getattr(st, key)
        if before is None or after is None or after.cost_breakdown is None or after.cost_breakdown.price is None:
            continue
        old = (before.get("costBreakdown") or {}).get("price") or {}
        new = after.cost_breakdown.price
        same = (before.get("instanceType"), old.get("capacityType"), old.get("region")) == (
            after.instance_type, new.capacity_type, new.region)
        if same and old.get("usdPerHour") not in (None, new.usd_per_hour):
            out.append(f"{label} ({after.instance_type}, {new.capacity_type}, {new.region}): "
                       f"${old.get('usdPerHour')}/h -> ${new.usd_per_hour}/h ({new.provider}, as of {new.as_of})")
    return out


def _approval(st: InferenceWorkloadStatus, approved: str | None) -> tuple[bool | None, str, str]:
    """(status, reason, message) of Approved: whether the approved recommendation is still the current one."""
    rec = st.recommendation
    key = APPROVAL_ANNOTATION
    if approved is None:
        if rec is None:
            return (False, "NoRecommendation", "nothing to approve")
        return (False, "NotApproved", f"annotate {key}={rec.id} to approve {rec.summary}")
    if rec is None:
        return (False, "NoRecommendation", f"{key}={approved[:64]} was approved, but there is no recommendation now")
    if approved == rec.id:
        return (True, "Approved", f"{rec.summary} ({rec.id}) is approved and still the recommendation")
    return (False, "ApprovalOutdated", f"{key}={approved[:64]} is not the current recommendation {rec.id} "
            f"({rec.summary}): review it, then approve the new id; `inferplace render --approved` renders nothing "
            "for this workload meanwhile")


def _disagreed(old_conditions: list[dict[str, Any]], generation: int | None) -> bool:
    """Whether the previous evaluation of this generation reported the observed traffic as too far off the
    declared one (a new spec declares new traffic: it starts afresh)."""
    c = _condition(old_conditions, "MetricsAvailable")
    return c.get("reason") == "TrafficDisagrees" and c.get("observedGeneration") == generation


@dataclass(frozen=True)
class Subject:
    """One workload to evaluate: its parsed spec (or why it did not parse), the previous status, what
    the metrics backend said (or why it said nothing). `approved`: the value of the object's
    inferplace.io/approved-recommendation annotation, if any. `before`: Prometheus over the window ending
    at a move the previous status says is starting (`feedback.verify.pending_move`), for its baseline."""

    name: str
    spec: InferenceWorkloadSpec | InvalidSpec
    generation: int | None
    previous: dict[str, Any] | None
    obs: Observation | None
    fault: MetricsUnavailable | None
    approved: str | None = None
    before: Observation | None = None


@dataclass(frozen=True)
class Context:
    """What every evaluation of one pass shares. `corrections`: the fleet's live checks per scope."""

    cat: Catalog
    book: PriceBook
    region: RegionDefault
    now: datetime
    settings: Settings = DEFAULTS
    prices: PricesState = SNAPSHOT_ONLY
    corrections: FleetCorrections | None = None


def reconcile(name: str, spec: InferenceWorkloadSpec | InvalidSpec, generation: int | None,
              previous: dict[str, Any] | None, obs: Observation | None, fault: MetricsUnavailable | None,
              cat: Catalog, book: PriceBook, region: RegionDefault, now: datetime,
              settings: Settings = DEFAULTS, prices: PricesState = SNAPSHOT_ONLY,
              approved: str | None = None, corrections: FleetCorrections | None = None,
              before: Observation | None = None) -> Evaluation:
    """The evaluation of one workload (`Subject` says what each argument is)."""
    (evaluation,) = reconcile_all([Subject(name, spec, generation, previous, obs, fault, approved, before)],
                                  Context(cat, book, region, now, settings, prices, corrections))
    return evaluation


def reconcile_all(subjects: Sequence[Subject], ctx: Context) -> Iterator[Evaluation]:
    """Each subject's evaluation, in order, one at a time as asked for (a caller writing each before the
    next holds one status at once). The workloads that get as far as the engine are calibrated together
    and searched together, at the first answer (one engine pass each: most of one workload's time alone
    is a pass's fixed cost); each answer is the one it would get alone."""
    started = [_start(s, ctx) for s in subjects]
    going = [p for p in started if isinstance(p, _Started)]
    cals = derive_calibrations([(p.workload, p.subject.obs) for p in going], ctx.cat, ctx.settings.calibration)
    outcomes = search([p.workload for p in going], ctx.cat, ctx.book,
                      [c if isinstance(c, Calibration) else None for c in cals], ctx.corrections)
    limit = ctx.settings.report.max_alternatives
    # Confidence bounds and break-evens costed for all at once; each status is still made one at a time.
    assessed = assess_outcomes([(o, o.alternatives(limit)) for o in outcomes], ctx.cat, ctx.now, ctx.settings)
    del outcomes  # held by `assessed` alone, popped as each is reported: let go once its status is made
    assessed.reverse()
    engine = iter(zip(going, cals, strict=True))
    for p in started:
        if isinstance(p, Evaluation):
            yield p
        else:
            done, cal = next(engine)
            yield _finish(done, cal, assessed.pop(), ctx)


@dataclass(frozen=True)
class _Started:
    """A subject resolved against the catalog, its traffic the observed one where it is usable."""

    subject: Subject
    spec: InferenceWorkloadSpec
    previous: dict[str, Any]
    old_conditions: list[dict[str, Any]]
    workload: Workload
    metrics: Condition


def _old_conditions(previous: dict[str, Any]) -> list[dict[str, Any]]:
    raw = previous.get("conditions")
    return [c for c in raw if isinstance(c, dict)] if isinstance(raw, list) else []


def _start(subject: Subject, ctx: Context) -> _Started | Evaluation:
    """How far a subject gets without the engine: a failed evaluation, or what the engine needs."""
    spec, generation, obs, fault, now = subject.spec, subject.generation, subject.obs, subject.fault, ctx.now
    previous = subject.previous or {}
    old_conditions = _old_conditions(previous)

    cond = _stamped(generation, now)

    def failed(reason: str, message: str, metrics: Condition) -> Evaluation:
        conds = [cond("Ready", False, reason, message), metrics,
                 cond("Calibrated", None, "NotEvaluated", "the spec could not be evaluated"),
                 cond("PricesCurrent", None, "NotEvaluated", "the spec could not be evaluated"),
                 cond("Approved", None, "NotEvaluated", "the spec could not be evaluated")]
        status = InferenceWorkloadStatus(
            observed_generation=generation, conditions=_keep_transition_times(conds, old_conditions, now),
            observed=_observed(obs) if obs else None, last_evaluation_time=rfc3339(now))
        event = None if _ready_reason(old_conditions) == reason else ("Warning", reason, message[:1024])
        return Evaluation(_wire(status), False, event, None, None, None)

    if isinstance(spec, InvalidSpec):
        return failed("InvalidSpec", "; ".join(spec.problems)[:4096],
                      cond("MetricsAvailable", None, "NotEvaluated", "the spec is invalid"))
    if spec.metrics is None:
        metrics = cond("MetricsAvailable", False, "NotConfigured",
                       "spec.metrics is not set: the declared spec.traffic is used")
    elif fault is not None:
        metrics = cond("MetricsAvailable", False, fault.reason,
                       f"{fault.message}; falling back to the declared spec.traffic")
    else:
        metrics = cond("MetricsAvailable", True, "Observed", "live traffic read from Prometheus")
    try:
        w = resolve(subject.name, spec, ctx.cat, ctx.region, ctx.settings)
    except WorkloadError as exc:
        return failed("CannotEvaluate", "; ".join(exc.problems), metrics)

    if obs is not None:
        use = observed_traffic(w, obs, ctx.settings.calibration, _disagreed(old_conditions, generation))
        w = use.workload
        if use.reason == "WindowNotCovered":
            metrics = cond("MetricsAvailable", False, use.reason, use.note)
        elif use.reason == "TrafficDisagrees":
            metrics = cond("MetricsAvailable", True, use.reason, use.note)
        elif not use.replaced:
            metrics = metrics.model_copy(update={"message": f"live figures read; {use.note}"})
        else:
            missing = ", ".join(sorted(obs.problems)) or "none"
            metrics = metrics.model_copy(update={"message": f"{use.note}; figures not read: {missing}"[:4096]})
    return _Started(subject, spec, previous, old_conditions, w, metrics)


def _finish(p: _Started, cal: Calibration | Uncalibrated, assessed: Assessed, ctx: Context) -> Evaluation:
    """The status, conditions and Event of a subject the engine has answered."""
    subject, spec, previous, old_conditions, now = p.subject, p.spec, p.previous, p.old_conditions, ctx.now
    name, generation, obs, fault, settings = (subject.name, subject.generation, subject.obs, subject.fault,
                                              ctx.settings)

    cond = _stamped(generation, now)

    st = assessed.report(ctx.cat, now, generation, settings).status
    st = st.model_copy(update={"promises": dated(promises_of(st, rfc3339(now)), previous.get("promises")) or None})
    window = obs.window if obs is not None else (spec.metrics.window if spec.metrics and spec.metrics.window
                                                  else "1h")
    verdict = _verification(spec, previous, st, obs, fault, subject.before, now, window)
    if isinstance(cal, Calibration):
        calibrated = cond("Calibrated", cal.applied or cal.agrees, cal.reason, cal.message)
    else:
        calibrated = cond("Calibrated", False, cal.reason, cal.message)
    fresh, why, message = _prices_condition(st, ctx.prices, settings.pricing.max_age_days)
    priced = cond("PricesCurrent", fresh, why, message)
    consent = cond("Approved", *_approval(st, subject.approved))
    conds = _keep_transition_times([*st.conditions, p.metrics, calibrated, priced, consent], old_conditions, now)
    st = st.model_copy(update={"conditions": conds, "observed": _observed(obs) if obs else None,
                               "verification": verdict.verification if verdict else None})
    rec = st.recommendation
    was, after = _key(previous.get("recommendation")), _key(rec)
    event = None
    if after is not None and was != after:
        verb = "changed to" if was else "is"
        savings = ""
        if rec and rec.savings_monthly:
            saved = float(rec.savings_monthly)
            savings = (f", saving ${rec.savings_monthly}/month" if saved >= 0
                       else f", costing ${-saved:.2f}/month more than today")
        event = ("Normal", "RecommendationChanged",
                 f"recommendation {verb} {after} at ${rec.cost_per_million_output_tokens if rec else ''}"
                 f"/1M output tokens{savings}" + (f" (was {was})" if was else ""))
    elif after is None and _ready_reason(old_conditions) != st.conditions[0].reason:
        event = ("Warning", st.conditions[0].reason, st.conditions[0].message[:1024])
    elif changed := _price_changes(previous, st):
        event = ("Normal", "PriceChanged", "; ".join(changed)[:1024])
    cur = st.current
    return Evaluation(
        _wire(st), rec is not None, event,
        float(rec.savings_monthly) if rec and rec.savings_monthly else None,
        float(cur.cost_per_million_output_tokens) if cur and cur.cost_per_million_output_tokens else None,
        float(rec.cost_per_million_output_tokens) if rec else None,
        *(verdict.fields(name, now) if verdict else ()),
    )


@dataclass(frozen=True)
class _Verdict:
    verification: Any  # api.status.Verification
    event: tuple[str, str, str] | None
    ratio: float | None

    def fields(self, name: str, now: datetime) -> tuple[Any, ...]:
        v = self.verification
        check = None if self.ratio is None else Check(v.promise.scope, self.ratio, rfc3339(now), name, v.promise.id)
        ratios = {r.metric: float(r.ratio) for r in v.rows if r.ratio is not None}
        savings = v.realized.monthly_savings if v.realized else None
        return (self.event, check, ratios, v.promise.node_pool, float(savings) if savings is not None else None)


def _verification(spec: InferenceWorkloadSpec, previous: dict[str, Any], st: InferenceWorkloadStatus,
                  obs: Observation | None, fault: MetricsUnavailable | None, before: Observation | None,
                  now: datetime, window: str) -> _Verdict | None:
    """The verification of a move to a promised placement: started, settling, or checked."""
    ongoing = in_progress(spec, previous)
    if ongoing is not None:
        promise, moved_at, baseline = ongoing.promise, datetime.fromisoformat(
            ongoing.moved_at.replace("Z", "+00:00")), ongoing.baseline
    else:
        move = pending_move(spec, previous, now)
        if move is None:
            return None
        promise, moved_at, baseline = move.promise, move.moved_at, baseline_of(previous, before)
    instances = st.current.instances if st.current is not None else promise.instances
    out = verify(spec, promise, moved_at, baseline, obs, fault.message if fault else None, instances, window, now,
                 ongoing)
    v = out.verification
    changed = ongoing is None or ongoing.state != v.state
    event = None
    if changed and v.state == "Confirmed":
        event = ("Normal", "PredictionConfirmed", f"{promise.summary}: {v.message}"[:1024])
    elif changed and v.state == "Missed":
        event = ("Warning", "PredictionMissed", f"{promise.summary}: {v.message}"[:1024])
    return _Verdict(v, event, out.check_ratio if changed else None)
