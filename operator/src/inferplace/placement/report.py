"""From a search outcome to the status block: today's cost, the recommendation with its reasons and
confidence, the best of each other node pool, and why every other node pool lost.

Formatting only: every figure here was decided by the search (`search.py`), costed by `cost.py`
and assessed by `confidence.py`; the time of the evaluation comes from the caller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from inferplace.api.clock import rfc3339
from inferplace.api.status import BreakEven as BreakEvenStatus
from inferplace.api.status import (
    Condition,
    Confidence,
    CostBreakdown,
    CurrentStatus,
    InferenceWorkloadStatus,
    ManagedApiUse,
    NearestPrice,
    Placement,
    PriceUsed,
    Projected,
    Rejection,
    SavingsRange,
    ScalingUsed,
    TrafficShape,
    placement_id,
)
from inferplace.api.status import WhatItTakes as WhatItTakesStatus
from inferplace.api.types import fixed, money
from inferplace.api.vocabulary import REASONS
from inferplace.catalog import Catalog
from inferplace.catalog.declared import DECLARED
from inferplace.engine import BOUNDS, LIMITS
from inferplace.engine.tco import HOURS_PER_MONTH, SECONDS_PER_MONTH
from inferplace.placement.breakeven import BreakEven, CostCurve, cost_curves
from inferplace.placement.confidence import Estimate
from inferplace.placement.cost import BILLED_BY_USE, CurrentCost, Option
from inferplace.placement.managed import LATENCY_UNKNOWN, ManagedOption
from inferplace.placement.predict import RowResult
from inferplace.placement.search import Choice, Outcome
from inferplace.placement.whatif import WhatItTakes
from inferplace.placement.workload import Workload
from inferplace.pricing import TERMS, Price


@dataclass(frozen=True)
class PlotPoint:
    label: str
    node_pool: str
    tpot_p95_ms: float
    cost_per_million: float
    chosen: bool


@dataclass(frozen=True)
class Report:
    name: str
    status: InferenceWorkloadStatus
    points: Callable[[], list[PlotPoint]]  # computed only when a plot asks for them
    tpot_slo_ms: float
    # Monthly cost against the mean request rate per node pool: computed only when a plot asks for it.
    curves: Callable[[], list[CostCurve]] = list
    today_rps: float = 0.0


def _price_used(price: Price, today: date) -> PriceUsed:
    return PriceUsed(usd_per_hour=fixed(price.usd_per_hour, 4), capacity_type=price.capacity_type,
                     region=price.region, as_of=price.as_of.isoformat(), age_days=price.age_days(today),
                     source=price.source[:512], provider=price.provider, note=price.note[:512])


def _breakdown(terms: dict[str, float], price: Price, tokens: float, today: date) -> CostBreakdown:
    """`terms` already rounded to cents (Option.cost_cents)."""
    return CostBreakdown(
        accelerators=money(terms["accelerators"]), host=money(terms["host"]),
        network=money(terms["network"]), storage=money(terms["storage"]), power=money(terms["power"]),
        orchestration=money(terms["orchestration"]),
        software_engineering=money(terms["software_engineering"]),
        failed_requests_and_retries=money(terms["failed_requests_and_retries"]),
        idle_capacity=money(terms["idle_capacity"]), total=money(terms["total"]),
        instance_bill=money(terms["instance_bill"]), price=_price_used(price, today),
        accepted_output_tokens_per_month=fixed(tokens, 0),
    )


def _projected(latency: tuple[float, float, float], capacity_tok_s: float, utilization: float) -> Projected:
    ttft, tpot, e2e = (x * 1e3 if math.isfinite(x) else 0.0 for x in latency)
    return Projected(ttft_p95_ms=fixed(ttft), tpot_p95_ms=fixed(tpot, 2), e2eP95Ms=fixed(e2e),
                     output_tokens_per_second=fixed(capacity_tok_s), utilization=fixed(utilization, 3))


def _meets(w_slo: tuple[float, float, float], lat: tuple[float, float, float]) -> bool:
    return all(math.isfinite(x) and x <= s * (1 + 1e-9) for x, s in zip(lat, w_slo, strict=True))


def _stale(price: Price, today: date, max_age_days: int) -> str | None:
    age = price.age_days(today)
    if age <= max_age_days:
        return None
    return (f"price ${price.usd_per_hour}/h is {age} days old (as of {price.as_of.isoformat()}, older than "
            f"{max_age_days} days): check it, refresh prices (inferplace prices refresh) or supply a rate")


def _current(o: Outcome, today: date, max_age_days: int) -> CurrentStatus | None:
    w = o.workload
    if w.current is None:
        return None
    cur: CurrentCost | None = o.current
    notes: list[str] = []
    if o.cs.current_note:
        notes.append(o.cs.current_note)
    instances = math.ceil(w.current.replicas / max((w.current.instance.chips or w.current.chips_per_replica)
                                                   // w.current.chips_per_replica, 1))
    meets: bool | None = None
    projected = None
    bound = None
    if cur is not None:
        instances = cur.instances
    if cur is not None and cur.row is not None:
        row = cur.row
        slo = (w.ttft_slo_s, w.tpot_slo_s, w.e2e_slo_s)
        peak = float(w.demand.peak)
        replicas = w.current.replicas
        within = math.isfinite(row.rate) and peak / replicas <= row.rate * (1 + 1e-9)
        meets = row.fits and within and _meets(slo, row.latency)
        slo_rps = row.rate * replicas if math.isfinite(row.rate) else 0.0
        if not row.fits:
            notes.append("the model does not fit today's placement as described")
        elif row.saturated:
            notes.append(f"overloaded at the peak of {peak:.2f} req/s (retries included): {replicas} replicas "
                         f"cannot keep up, queues grow without bound (SLO capacity {slo_rps:.2f} req/s)")
        elif not meets:
            notes.append(f"at the peak of {peak:.2f} req/s the SLOs are not met with {replicas} replicas "
                         f"(SLO capacity {slo_rps:.2f} req/s)")
        if row.fits and not row.saturated:
            projected = _projected(row.latency, cur.capacity_tok_s, cur.utilization)
            bound = BOUNDS[row.bound]
    if instances < w.spread_nodes <= w.current.replicas or w.current.replicas < w.min_replicas:
        notes.append(f"{w.current.replicas} replica(s) on {instances} instance(s): losing one node stops the service "
                     f"(a proposed fleet keeps at least {w.min_replicas} replicas on {w.spread_nodes} or more nodes)")
    option = cur.option if cur is not None else None
    if option is not None and (cur is None or cur.row is None):
        notes.append("today's cost: instance hours at the price; latency, capacity and idle share are not modelled "
                     "(the reason is given before), so every hour counts as busy")
    if cur is not None and cur.price_note:
        notes.append(cur.price_note)
    stale = _stale(option.price, today, max_age_days) if option is not None else None
    if stale:
        notes.append(f"today's {stale}")
    status = CurrentStatus(
        instance_type=w.current.instance.type, capacity_type=w.current.capacity_type, replicas=w.current.replicas,
        instances=instances, chips_per_replica=w.current.chips_per_replica, meets_slo=meets,
        projected=projected, bound=bound, notes=notes[:16],
    )
    if option is None:
        return status
    terms = option.cost_cents
    return status.model_copy(update={
        "monthly_cost": money(terms["total"]),
        "cost_per_million_output_tokens": fixed(option.per_million, 4),
        "cost_breakdown": _breakdown(terms, option.price, w.accepted_tok_s * SECONDS_PER_MONTH, today),
    })


def _confidence(e: Estimate) -> Confidence:
    rng = e.savings_percent_range
    spread = None if rng is None else SavingsRange(low=fixed(rng[0]), high=fixed(rng[1]))
    return Confidence(level=e.level, basis=e.basis[:1024], savings_percent_range=spread, group=e.group,
                      scope=e.scope, error_p90_pct=fixed(e.error * 100, 1) if e.error is not None else None)


def _neuron_lines(o: Outcome, cat: Catalog, family: str) -> list[str]:
    w = o.workload
    lines = []
    if w.neuron_tier_overridden:
        tier, why = cat.migration.support(w.family)
        lines.append(f"Neuron support set to {w.neuron_tier} by spec.model.neuronSupport (catalog: {tier}; {why})")
    else:
        lines.append(f"Neuron support for {w.family}: {w.neuron_tier} ({w.neuron_tier_reason})")
    if w.neuron_tier == "beta":
        lines.append("beta support: budget for compiler and accuracy issues; keep a GPU fallback")
    risk = cat.migration.platform_risks.get(family)
    if risk:
        lines.append(f"risk: {risk.risk} ({cat.migration.sources[risk.source].cite()})")
    return lines


def _savings(cur_total: float | None, total: float, cost: dict[str, float], one_time: float
             ) -> tuple[str | None, str | None, str | None]:
    """(monthly savings, percent, payback months) against today's cost."""
    if not cur_total:
        return None, None, None
    s = round(cur_total - total, 2)
    run_rate = cur_total - (cost["total"] - cost["software_engineering"])
    payback = None
    if one_time == 0 and run_rate > 0:
        payback = fixed(0.0)
    elif run_rate > 0:
        payback = fixed(one_time / run_rate)
    return money(s), fixed(s / cur_total * 100), payback


def _headline(o: Outcome, opt: Choice, best: Choice | None, n_options: int) -> str:
    w = o.workload
    if best is None:
        slo = f"TTFT p95 <= {w.ttft_slo_s * 1e3:g} ms, TPOT p95 <= {w.tpot_slo_s * 1e3:g} ms"
        if math.isfinite(w.e2e_slo_s):
            slo += f", e2e p95 <= {w.e2e_slo_s * 1e3:g} ms"
        peak = f"at the peak of {w.rps * w.peak_to_mean:.2f} req/s ({w.rps:g} mean x {w.peak_to_mean:g})"
        if isinstance(opt, ManagedOption) and not opt.latency_known:
            return (f"no placement is known to meet {slo} {peak}: no self-hosted one does, and this API's latency "
                    "is unknown")
        if isinstance(opt, ManagedOption):
            return (f"cheapest of {n_options} priced options meeting {slo} {peak}; this API's latency as the team "
                    "measured it")
        return f"cheapest of {n_options} priced placements meeting {slo} {peak}"
    d = (opt.per_million / best.per_million - 1) * 100
    return f"{d:+.1f}% cost per 1M output tokens vs the recommendation"


def summary(o: Outcome, opt: Choice) -> str:
    """One line for `kubectl get`: what runs, bought how, scaled how."""
    if isinstance(opt, ManagedOption):
        return f"{opt.provider} API ({opt.price.mode})"
    inst = o.cs.candidates[opt.candidate].instance
    scaled = f", {opt.strategy}" if opt.strategy != "fixed" else ""
    return f"{opt.instances} x {inst.type} ({opt.capacity_type}{scaled})"


def _pool(o: Outcome, opt: Option) -> str:
    """The placement without its count: the count is re-sized at every rate of a break-even curve."""
    inst = o.cs.candidates[opt.candidate].instance
    scaled = f", {opt.strategy}" if opt.strategy != "fixed" else ""
    chips = o.cs.keys[o.cs.candidates[opt.candidate].row].chips
    plural = "s" if chips > 1 else ""
    return f"{inst.type} ({chips} chip{plural} a replica, {opt.capacity_type}{scaled})"


def _scaling(o: Outcome, opt: Option) -> tuple[ScalingUsed, list[str]]:
    w = o.workload
    cold = fixed(opt.cold_start_share, 4) if opt.strategy == "scale-to-zero" else None
    used = ScalingUsed(strategy=opt.strategy, peak_replicas=opt.replicas,
                       instance_hours_per_month=fixed(opt.instance_hours, 1),
                       scale_up_lead_seconds=fixed(opt.lead_s, 0), cold_start_miss_share=cold)
    why: list[str] = []
    fixed_hours = opt.instances * HOURS_PER_MONTH
    lead = f"{opt.lead_s / 60:.0f} min" + (" (spec.scaling.scaleUpLeadTime)" if w.lead_time_s is not None else
                                          " (estimated: node provisioning, image pull, weights from S3)")
    if opt.strategy == "autoscaled":
        why.append(f"autoscaled hour by hour between {w.min_replicas} and {opt.replicas} replicas over "
                   f"{w.profile_source}: {opt.instance_hours:,.0f} instance-hours a month instead of "
                   f"{fixed_hours:,.0f} for a fleet fixed for the peak; every rise is met {lead} ahead")
    elif opt.strategy == "scale-to-zero":
        idle = sum(1 for x in w.profile or () if x <= 0)
        why.append(f"scaled to zero in the {idle} idle hours of {w.profile_source}, else autoscaled up to "
                   f"{opt.replicas} replicas: {opt.instance_hours:,.0f} instance-hours a month instead of "
                   f"{fixed_hours:,.0f}; {opt.cold_start_share * 100:.2f}% of requests arrive during a {lead} cold "
                   "start and miss the TTFT objective (spec.scaling.scaleToZero allows it)")
    elif w.profile is not None and opt.capacity_type not in BILLED_BY_USE:
        why.append(f"a fleet fixed for the peak hour: {opt.capacity_type} is paid every hour, so following the "
                   "traffic would not lower the bill")
    return used, why


def _placement(o: Outcome, opt: Option, cur_total: float | None, cat: Catalog, best: Choice | None,
               n_options: int, confidence: Confidence, today: date, max_age_days: int) -> Placement:
    w = o.workload
    c = o.cs.candidates[opt.candidate]
    key = o.cs.keys[c.row]
    row: RowResult = o.rows[c.row]
    inst, acc = c.instance, c.accelerator
    total = opt.total_cents
    savings, pct, payback = _savings(cur_total, total, opt.cost, c.migration_weeks * w.engineer_week_cost)
    per_instance = max((inst.chips or 1) // key.chips, 1)
    why = [_headline(o, opt, best, n_options)]
    if best is None and w.current is not None and inst.type == w.current.instance.type:
        why.append(f"today's instance type {inst.type} is already the cheapest that meets the SLOs")
    scaling, scaling_why = _scaling(o, opt)
    why.extend(scaling_why)
    why.append(f"{opt.replicas} replicas x {key.chips} {acc.name}, {per_instance} per {inst.type}: "
               f"{opt.instances} instances; {_limit_text(row)}")
    if inst.spec_source and inst.spec_source.startswith(DECLARED):
        why.append(f"{inst.type} is an instance type declared by the team, not the catalog ({inst.spec_source})")
    fix = o.correction_of(c.row)
    if fix is not None:
        plain = o.uncorrected[c.row].rate
        why.append(f"{fix.describe()}: {row.rate:.2f} req/s per replica where the fitted engine alone says "
                   f"{plain:.2f}")
    if c.migration_weeks > 0:
        why.append(f"migration {c.migration_weeks:g} engineer-weeks ({c.migration_basis}) = "
                   f"${c.migration_weeks * w.engineer_week_cost:,.0f}, spread over {w.amortization_months:g} months")
    if acc.platform == "neuron":
        why.extend(_neuron_lines(o, cat, inst.family))
    p = opt.price
    why.append(f"{opt.capacity_type} ${p.usd_per_hour}/h per instance in {p.region}, as of {p.as_of.isoformat()} "
               f"({p.provider}: {p.source})")
    if opt.capacity_type != "on-demand" or opt.unpriced:
        lacking = f"; no {', '.join(opt.unpriced)} price in {p.region}" if opt.unpriced else ""
        why.append(f"priced as {opt.capacity_type}, the cheapest allowed capacity type with a price here"
                   f"{lacking}: {TERMS[opt.capacity_type]}")
    stale = _stale(p, today, max_age_days)
    if stale:
        why.append(stale)
    if key.weight_dtype != w.weight_precision:
        why.append(f"weights in {key.weight_dtype} where today {w.weight_precision}: a quality change to "
                   "validate before switching")
    if key.speculative and w.draft is not None:
        why.append(f"speculative decoding with {w.draft.id} ({w.speculative_tokens} tokens, acceptance "
                   f"{w.acceptance_rate:g})")
    return Placement(
        kind="self-hosted", summary=summary(o, opt), scaling=scaling,
        node_pool=inst.family, instance_type=inst.type, capacity_type=opt.capacity_type,
        replicas=opt.replicas, instances=opt.instances, chips_per_replica=key.chips,
        weight_precision=key.weight_dtype, speculative_decoding=key.speculative,
        projected=_projected(row.latency, opt.capacity_tok_s, opt.utilization),
        monthly_cost=money(total), cost_per_million_output_tokens=fixed(opt.per_million, 4),
        cost_breakdown=_breakdown(opt.cost_cents, p, w.accepted_tok_s * SECONDS_PER_MONTH, today),
        savings_monthly=savings, savings_percent=pct, payback_months=payback,
        migration_weeks=fixed(c.migration_weeks), confidence=confidence,
        bound=BOUNDS[row.bound], limit=LIMITS[row.limit], rationale=[x[:1024] for x in why[:16]],
    )


def _managed_placement(o: Outcome, opt: ManagedOption, cur_total: float | None, best: Choice | None,
                       n_options: int, confidence: Confidence, today: date, max_age_days: int) -> Placement:
    w = o.workload
    total = opt.total_cents
    savings, pct, payback = _savings(cur_total, total, opt.cost, opt.migration_weeks * w.engineer_week_cost)
    p = opt.price
    why = [_headline(o, opt, best, n_options)]
    why.append(f"{opt.provider} {p.mode} at ${p.usd_per_1m_input:g} per 1M input and ${p.usd_per_1m_output:g} per 1M "
               f"output tokens ({p.region}, as of {p.as_of.isoformat()}; {p.source}): {w.prompt_mean:.0f} prompt and "
               f"{w.output_mean:.0f} output tokens a request, retries included")
    why.append("no idle capacity and nothing to scale: the bill follows the tokens")
    why.append(f"latency {_api_latency(opt, w)}")
    if opt.migration_weeks > 0:
        why.append(f"migration {opt.migration_weeks:g} engineer-weeks ({opt.migration_basis}) = "
                   f"${opt.migration_weeks * w.engineer_week_cost:,.0f}, spread over {w.amortization_months:g} months")
    age = p.age_days(today)
    if age > max_age_days:
        why.append(f"API price is {age} days old (as of {p.as_of.isoformat()}, older than {max_age_days} days): "
                   "check it")
    api = ManagedApiUse(provider=opt.provider, model_id=p.model_id, mode=p.mode, region=p.region,
                        usd_per_1m_input_tokens=fixed(p.usd_per_1m_input, 4),
                        usd_per_1m_output_tokens=fixed(p.usd_per_1m_output, 4), as_of=p.as_of.isoformat(),
                        age_days=age, source=p.source[:512], latency=_api_latency(opt, w)[:256])
    terms = opt.cost_cents
    breakdown = CostBreakdown(
        accelerators=money(terms["accelerators"]), host=money(terms["host"]), network=money(terms["network"]),
        storage=money(terms["storage"]), power=money(terms["power"]), orchestration=money(terms["orchestration"]),
        software_engineering=money(terms["software_engineering"]),
        failed_requests_and_retries=money(terms["failed_requests_and_retries"]),
        idle_capacity=money(terms["idle_capacity"]), total=money(terms["total"]),
        instance_bill=money(terms["instance_bill"]), price=None,
        accepted_output_tokens_per_month=fixed(w.accepted_tok_s * SECONDS_PER_MONTH, 0))
    if opt.latency is not None:
        api = api.model_copy(update={"measured_ttft_p95_ms": fixed(opt.latency[0] * 1e3, 1),
                                     "measured_tpot_p95_ms": fixed(opt.latency[1] * 1e3, 2)})
    return Placement(
        kind="managed-api", summary=summary(o, opt), node_pool=opt.provider, managed_api=api,
        monthly_cost=money(total), cost_per_million_output_tokens=fixed(opt.per_million, 4),
        cost_breakdown=breakdown, savings_monthly=savings, savings_percent=pct, payback_months=payback,
        migration_weeks=fixed(opt.migration_weeks), confidence=confidence, rationale=[x[:1024] for x in why[:16]])


def _limit_text(row: RowResult) -> str:
    """What binds at the SLO limit, and what the decode steps are spent on there."""
    limit = LIMITS[row.limit]
    what = {"throughput": "the replica's throughput (prefill and decode saturate)",
            "batch limit": "the serving stack's batch limit (running sequences)",
            "KV-cache memory": "the KV cache the memory holds (running sequences)"}.get(limit, f"the {limit}")
    return (f"{what} caps it at {row.rate:.2f} req/s per replica; decode steps there are "
            f"{BOUNDS[row.bound]}-bound")


def _api_latency(opt: ManagedOption, w: Workload) -> str:
    if opt.latency is None:
        return LATENCY_UNKNOWN
    ttft, tpot, source = opt.latency
    return (f"as measured by the team ({source}): TTFT p95 {ttft * 1e3:g} ms, TPOT p95 {tpot * 1e3:g} ms, within "
            f"the {w.ttft_slo_s * 1e3:g} / {w.tpot_slo_s * 1e3:g} ms objectives")


def _break_even(o: Outcome, be: BreakEven | None) -> BreakEvenStatus | None:
    if be is None:
        return None
    w = o.workload
    hosted, api = _pool(o, be.self_hosted), summary(o, be.managed)
    if be.scale is not None and be.utilization is not None:
        rps = be.scale * w.rps
        msg = (f"above {rps:.3g} req/s mean ({be.scale:.3g}x today's {w.rps:g}) self-hosting on {hosted} costs less "
               f"than {api}, the fleet {be.utilization:.0%} utilized there; below it the API costs less than this "
               "placement")
        return BreakEvenStatus(self_hosted=hosted, managed_api=api, requests_per_second=fixed(rps, 4),
                               utilization=fixed(be.utilization, 3), today_requests_per_second=fixed(w.rps, 4),
                               message=msg)
    msg = (f"self-hosting on {hosted} costs less than {api} even at 1/1000 of today's traffic"
           if be.cheaper_below_grid else
           f"self-hosting on {hosted} stays dearer than {api} up to 1000x today's traffic ({w.rps * 1000:.3g} req/s)")
    return BreakEvenStatus(self_hosted=hosted, managed_api=api, today_requests_per_second=fixed(w.rps, 4), message=msg)


def _traffic(w: Workload) -> TrafficShape | None:
    if w.profile is None:
        return None
    return TrafficShape(source=w.profile_source[:256], hours=len(w.profile), peak_to_mean=fixed(max(w.profile), 3),
                        idle_hours=sum(1 for x in w.profile if x <= 0), multipliers=[fixed(x, 3) for x in w.profile])


def _rejections(o: Outcome, cat: Catalog, chosen: Choice | None, per_family: dict[str, Choice]) -> list[Rejection]:
    fams = cat.instance_types_by_family
    chosen_family = o.node_pool(chosen) if chosen else None
    out = []
    for provider in o.workload.managed_apis:
        if provider == chosen_family:
            continue
        api = per_family.get(provider)
        if isinstance(api, ManagedOption) and chosen is not None:
            d = (api.per_million / chosen.per_million - 1) * 100
            out.append(Rejection(node_pool=provider, reason="HIGHER_COST",
                                 message=f"{summary(o, api)} at ${api.per_million:.4f}/1M tokens, {d:+.1f}% vs the "
                                         "recommendation"))
        elif provider in o.failures:
            f = o.failures[provider]
            out.append(Rejection(node_pool=provider, reason=f.reason, message=f.message[:2048]))
    for fam, types in sorted(fams.items()):
        if fam == chosen_family:
            continue
        hosted = per_family.get(fam)
        if isinstance(hosted, Option) and chosen is not None:
            opt = hosted
            c = o.cs.candidates[opt.candidate]
            d = (opt.per_million / chosen.per_million - 1) * 100
            wt = o.what_it_takes.get(c.instance.type)
            out.append(Rejection(node_pool=fam, instance_type=c.instance.type, reason="HIGHER_COST",
                                 message=f"best: {opt.replicas} x {o.cs.keys[c.row].chips} chips on "
                                         f"{opt.instances} {c.instance.type} ({opt.capacity_type}) at "
                                         f"${opt.per_million:.4f}/1M tokens, {d:+.1f}% vs the recommendation"
                                         + _wins_below(wt),
                                 what_it_takes=_what_it_takes(wt)))
            continue
        failed = [(t, o.failures[t]) for t in types if t in o.failures]
        if not failed:
            continue
        top = max(REASONS.index(f.reason) for _, f in failed)
        reason = REASONS[top]
        # What it would take is told once per node pool, for its type cheapest at the nearest price.
        costed = [wt for t, f in failed if f.reason == reason and (wt := o.what_it_takes.get(t)) is not None
                  and wt.nearest is not None]
        best = min(costed, key=lambda wt: wt.nearest.total_cents if wt.nearest else math.inf, default=None)
        by_msg: dict[str, list[str]] = {}
        for t, f in failed:
            if f.reason == reason:
                by_msg.setdefault(f.message, []).append(t)
        msg = "; ".join(f"{', '.join(ts)}: {m}" for m, ts in by_msg.items())
        single = next(iter(by_msg.values())) if len(by_msg) == 1 else []
        msg = (_at_nearest(best) + "; " + msg) if best is not None else msg
        out.append(Rejection(node_pool=fam, instance_type=single[0] if len(single) == 1 else None,
                             reason=reason, message=msg[:2048], what_it_takes=_what_it_takes(best)))
    return out[:64]


def _wins_below(wt: WhatItTakes | None) -> str:
    if wt is None:
        return ""
    if wt.break_even_usd_per_hour is None:
        return "; no hourly rate makes it win (its other costs alone exceed the recommendation's)"
    return f"; it would win at ${wt.break_even_usd_per_hour:,.2f}/h or less per {wt.instance_type}"


def _at_nearest(wt: WhatItTakes | None) -> str:
    """What a placement without a price here would cost at the nearest price, and where it would win."""
    if wt is None or wt.nearest is None:
        return ""
    n, p = wt.nearest, wt.nearest.price
    return (f"{wt.instance_type} at the nearest price ({p.region} {p.capacity_type}, ${p.usd_per_hour:,.2f}/h as "
            f"of {p.as_of.isoformat()}) would cost ${n.total_cents:,.2f}/month, ${n.per_million:.4f}/1M tokens"
            + _wins_below(wt))


def _what_it_takes(wt: WhatItTakes | None) -> WhatItTakesStatus | None:
    if wt is None:
        return None
    near = None
    if wt.nearest is not None:
        p = wt.nearest.price
        near = NearestPrice(region=p.region, capacity_type=p.capacity_type, usd_per_hour=fixed(p.usd_per_hour, 4),
                            as_of=p.as_of.isoformat(), monthly_cost=money(wt.nearest.total_cents),
                            cost_per_million_output_tokens=fixed(wt.nearest.per_million, 4))
    be = wt.break_even_usd_per_hour
    return WhatItTakesStatus(instance_type=wt.instance_type, nearest_price=near,
                             break_even_usd_per_hour=None if be is None else fixed(be, 4))


def build_report(o: Outcome, alternatives: Sequence[Choice], estimates: Sequence[Estimate], be: BreakEven | None,
                 cat: Catalog, now: datetime, generation: int | None = None, max_price_age_days: int = 180) -> Report:
    """The status for `o`: its recommendation, then `alternatives`, with one estimate for each in that order,
    and `be`, its `break_even`."""
    w = o.workload
    today = now.astimezone(UTC).date()
    current = _current(o, today, max_price_age_days)
    cur_total = o.current.option.total_cents if o.current and o.current.option else None
    opts = o.options
    chosen = o.chosen
    shown = ([chosen] if chosen else []) + list(alternatives)
    n = len(opts) + len(o.managed)
    placed = [_managed_placement(o, opt, cur_total, None if opt is chosen else chosen, n, _confidence(e), today,
                                 max_price_age_days) if isinstance(opt, ManagedOption) else
              _placement(o, opt, cur_total, cat, None if opt is chosen else chosen, n, _confidence(e), today,
                         max_price_age_days) for opt, e in zip(shown, estimates, strict=True)]
    for p in placed:
        p.id = placement_id(p)  # of the placement as built (made here, so set in place rather than copied)
    rec = placed[0] if chosen else None
    others = placed[1:] if chosen else placed  # nothing known to meet the SLOs: what there is, marked
    stamp = rfc3339(now)
    if rec is not None:
        ready = Condition(type="Ready", status="True", reason="RecommendationAvailable",
                          message=f"{rec.summary} at ${rec.cost_per_million_output_tokens}/1M output tokens",
                          last_transition_time=stamp, observed_generation=generation)
    else:
        reasons = sorted({f.reason for f in o.failures.values()}, key=REASONS.index)
        ready = Condition(type="Ready", status="False", reason="NoFeasiblePlacement",
                          message=("no priced placement meets the SLOs; furthest reasons: "
                                   + ", ".join(reasons[-3:]))[:4096],
                          last_transition_time=stamp, observed_generation=generation)
    status = InferenceWorkloadStatus(
        observed_generation=generation, conditions=[ready], current=current, recommendation=rec,
        alternatives=others, rejected=_rejections(o, cat, chosen, o.best_per_node_pool()),
        break_even=_break_even(o, be), traffic=_traffic(w),
        assumptions=[a[:512] for a in w.assumptions[:32]], last_evaluation_time=stamp,
    )
    return Report(w.name, status, lambda: _plot_points(o, chosen), w.tpot_slo_s * 1e3,
                  lambda: cost_curves(o, _curve_label), w.rps)


def _plot_points(o: Outcome, chosen: Choice | None) -> list[PlotPoint]:
    """Every costed shape once (per capacity type): cost per 1M output tokens against projected TPOT."""
    points = []
    seen = set()
    for opt in o.options:
        c = o.cs.candidates[opt.candidate]
        k = o.cs.keys[c.row]
        label = f"{c.instance.type} {k.chips}c {k.weight_dtype}{' spec' if k.speculative else ''}"
        if (label, opt.capacity_type) in seen:
            continue
        seen.add((label, opt.capacity_type))
        points.append(PlotPoint(label, c.instance.family, o.rows[c.row].latency[1] * 1e3, opt.per_million,
                                opt is chosen))
    return points


def _curve_label(o: Outcome, opt: Choice) -> str:
    return summary(o, opt) if isinstance(opt, ManagedOption) else _pool(o, opt)


__all__ = ["PlotPoint", "Report", "build_report"]
