"""From a search outcome to the status block: today's cost, the recommendation with its reasons and
confidence, the best of each other node pool, and why every other node pool lost."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from inferplace.api.status import (
    Condition,
    Confidence,
    CostBreakdown,
    CurrentStatus,
    InferenceWorkloadStatus,
    Placement,
    Projected,
    Rejection,
    SavingsRange,
)
from inferplace.api.types import fixed, money
from inferplace.catalog import Catalog
from inferplace.catalog.instances import Price
from inferplace.engine.serving import BOUNDS
from inferplace.engine.tco import CostTerms, Overheads, Sizing, monthly_cost, size
from inferplace.placement.calibration import scope_of
from inferplace.placement.candidates import REASON_ORDER
from inferplace.placement.search import Option, Outcome, RowResult

MAX_ALTERNATIVES = 10
UNVALIDATED_ERROR = 0.5  # assumed p90 error of a fit that was never checked on held-out data
INHERITED_WIDENING = 1.5  # a borrowed fit is trusted less than on the chips it was fitted to
# Error left after live latency agreed with the engine: other shapes of the same family still differ
# from the one measured (chips per replica, precision, batch), so never narrower than this.
CALIBRATED_ERROR = 0.10


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
    points: list[PlotPoint]
    tpot_slo_ms: float


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cents(terms: dict[str, float]) -> dict[str, float]:
    """Terms rounded to cents, the total their sum and the bill the sum of its three shares, so the
    printed figures add up exactly."""
    out = {k: round(v, 2) for k, v in terms.items()}
    out["total"] = round(sum(out[k] for k in CostTerms.TERMS), 2)
    out["instance_bill"] = round(out["accelerators"] + out["failed_requests_and_retries"] + out["idle_capacity"], 2)
    return out


def _breakdown(terms: dict[str, float], price: Price, tokens: float) -> CostBreakdown:
    terms = _cents(terms)
    return CostBreakdown(
        accelerators=money(terms["accelerators"]), host=money(terms["host"]),
        network=money(terms["network"]), storage=money(terms["storage"]), power=money(terms["power"]),
        orchestration=money(terms["orchestration"]),
        software_engineering=money(terms["software_engineering"]),
        failed_requests_and_retries=money(terms["failed_requests_and_retries"]),
        idle_capacity=money(terms["idle_capacity"]), total=money(terms["total"]),
        instance_bill=money(terms["instance_bill"]), usd_per_instance_hour=fixed(price.usd_per_hour, 4),
        price_source=f"{price.source} ({price.region}, {price.date}{', STALE' if price.stale else ''})"[:512],
        accepted_output_tokens_per_month=fixed(tokens, 0),
    )


def _projected(latency: tuple[float, float, float], capacity_tok_s: float, utilization: float) -> Projected:
    ttft, tpot, e2e = (x * 1e3 if math.isfinite(x) else 0.0 for x in latency)
    return Projected(ttft_p95_ms=fixed(ttft), tpot_p95_ms=fixed(tpot, 2), e2eP95Ms=fixed(e2e),
                     output_tokens_per_second=fixed(capacity_tok_s), utilization=fixed(utilization, 3))


def _terms(costs: CostTerms, j: int = 0) -> dict[str, float]:
    return {k: float(getattr(costs, k)[j]) for k in (*CostTerms.TERMS, "instance_bill", "total")}


def _meets(w_slo: tuple[float, float, float], lat: tuple[float, float, float]) -> bool:
    return all(math.isfinite(x) and x <= s * (1 + 1e-9) for x, s in zip(lat, w_slo, strict=True))


def _current(o: Outcome) -> tuple[CurrentStatus | None, float | None]:
    w = o.workload
    if w.current is None:
        return None, None
    place, inst = w.current.placement, w.current.instance
    chips = inst.chips or place.chips_per_replica
    per_instance = max(chips // place.chips_per_replica, 1)
    instances = math.ceil(place.replicas / per_instance)
    notes: list[str] = []
    if o.current_note:
        notes.append(o.current_note)
    row = o.current_row
    meets: bool | None = None
    projected = None
    bound = None
    utilization = 1.0
    capacity_tok_s = 0.0
    if row is not None:
        slo = (w.ttft_slo_s, w.tpot_slo_s, w.e2e_slo_s)
        peak = w.rps * w.peak_to_mean * (1 + w.retry_rate)
        within = math.isfinite(row.rate) and peak / place.replicas <= row.rate * (1 + 1e-9)
        meets = row.fits and within and _meets(slo, row.latency)
        if math.isfinite(row.rate):
            capacity_rps = instances * per_instance * row.rate
            capacity_tok_s = capacity_rps * w.output_mean
            utilization = min(w.rps * (1 + w.retry_rate) / capacity_rps, 1.0)
        slo_rps = row.rate * place.replicas if math.isfinite(row.rate) else 0.0
        if not row.fits:
            notes.append("the model does not fit today's placement as described")
        elif row.saturated:
            notes.append(f"overloaded at the peak of {peak:.2f} req/s (retries included): {place.replicas} replicas "
                         f"cannot keep up, queues grow without bound (SLO capacity {slo_rps:.2f} req/s)")
        elif not meets:
            notes.append(f"at the peak of {peak:.2f} req/s the SLOs are not met with {place.replicas} replicas "
                         f"(SLO capacity {slo_rps:.2f} req/s)")
        if row.fits and not row.saturated:
            projected = _projected(row.latency, capacity_tok_s, utilization)
            bound = BOUNDS[row.bound]
    price = inst.prices.get(place.capacity_type)
    status = CurrentStatus(
        instance_type=inst.type, capacity_type=place.capacity_type, replicas=place.replicas,
        instances=instances, chips_per_replica=place.chips_per_replica, meets_slo=meets,
        projected=projected, bound=bound, notes=notes,
    )
    if price is None:
        notes.append(f"no {place.capacity_type} price for {inst.type} in the catalog: savings cannot be "
                     "computed; supply one with --prices or the price-override ConfigMap")
        return status, None
    if price.stale:
        notes.append(f"today's price (${price.usd_per_hour}/h, {price.date}) is flagged stale in the catalog")
    sizing = Sizing(np.array([place.replicas], dtype=np.float64), np.array([instances], dtype=np.float64),
                    np.array([per_instance], dtype=np.float64), np.array([capacity_tok_s]),
                    np.array([utilization]))
    costs = monthly_cost(np.array([price.usd_per_hour]), sizing, Overheads(**w.overheads), w.retry_rate,
                         np.zeros(1), w.engineer_week_cost, w.amortization_months, w.accepted_tok_s)
    terms = _cents(_terms(costs))
    status = status.model_copy(update={
        "monthly_cost": money(terms["total"]),
        "cost_per_million_output_tokens": fixed(float(costs.per_million_tokens[0]), 4),
        "cost_breakdown": _breakdown(terms, price, costs.accepted_tokens_per_month),
    })
    return status, terms["total"]


def _error_basis(o: Outcome, row: int, cat: Catalog) -> tuple[float, int, str]:
    """(p90 fractional error, highest level allowed 0=high..2=low, basis text), after live calibration."""
    e, floor, text = _fit_error(o, row, cat)
    cal = o.workload.calibration
    if cal is None or cal.group != scope_of(cat, o.cs.keys[row]):
        return e, floor, text
    if cal.agrees:
        narrowed = min(e, max(cal.residual, CALIBRATED_ERROR))
        return (narrowed, min(floor, 1), f"{text}; narrowed to {narrowed * 100:.0f}%: live latency on today's "
                f"placement agrees with the engine within {cal.residual * 100:.0f}%")
    if cal.applied:
        return e, floor, (f"{text}; engine calibrated on live latency (decode x{cal.decode_scale:.2f}, "
                          f"prefill x{cal.prefill_scale:.2f})")
    return e, floor, text


def _fit_error(o: Outcome, row: int, cat: Catalog) -> tuple[float, int, str]:
    group = o.efficiency_group[row]
    p = cat.efficiency.groups[group]
    if p.error_p90_pct is not None:
        return (p.error_p90_pct / 100, 0,
                f"engine held-out error for {group}: median {p.error_median_pct:g}%, p90 {p.error_p90_pct:g}% "
                f"over {p.error_values} published values")
    if p.inherits and cat.efficiency.groups[p.inherits].error_p90_pct is not None:
        src = cat.efficiency.groups[p.inherits]
        e = (src.error_p90_pct or 0) / 100 * INHERITED_WIDENING
        return (e, 1, f"no measurements for {group}; it reuses the {p.inherits} fit (held-out p90 "
                      f"{src.error_p90_pct:g}%), widened {INHERITED_WIDENING:g}x")
    return (UNVALIDATED_ERROR, 2, f"{group} was fitted without a held-out check; assumed p90 error "
                                  f"{UNVALIDATED_ERROR * 100:g}%")


def _costs_at_rates(o: Outcome, opts: list[Option], rates: np.ndarray) -> np.ndarray:
    """Monthly totals of `opts` re-sized as if each replica served `rates` requests/s."""
    w = o.workload
    cands = [o.cs.candidates[opt.candidate] for opt in opts]
    sizing = size(rates, w.rps, w.peak_to_mean, w.retry_rate, w.target_utilization, w.min_replicas,
                  np.array([float(o.cs.keys[c.row].chips) for c in cands]),
                  np.array([float(c.instance.chips or 1) for c in cands]), w.output_mean)
    costs = monthly_cost(np.array([opt.price.usd_per_hour for opt in opts]), sizing, Overheads(**w.overheads),
                         w.retry_rate, np.array([c.migration_weeks for c in cands]), w.engineer_week_cost,
                         w.amortization_months, w.accepted_tok_s)
    return costs.total


def _confidences(o: Outcome, opts: list[Option], cur_total: float | None, cat: Catalog) -> list[Confidence]:
    """Level and savings range per option: the savings if the engine is off by its p90 error."""
    basis = [_error_basis(o, o.cs.candidates[opt.candidate].row, cat) for opt in opts]
    ranges: list[SavingsRange | None] = [None] * len(opts)
    if cur_total and opts:
        rate = np.array([o.rows[o.cs.candidates[opt.candidate].row].rate for opt in opts])
        err = np.array([e for e, _, _ in basis])
        worst = _costs_at_rates(o, opts, rate * np.maximum(1 - err, 0.1))
        best = _costs_at_rates(o, opts, rate * (1 + err))
        ranges = [SavingsRange(low=fixed((cur_total - lo) / cur_total * 100),
                               high=fixed((cur_total - hi) / cur_total * 100))
                  for lo, hi in zip(worst, best, strict=True)]
    out = []
    for opt, (e, floor, why), rng in zip(opts, basis, ranges, strict=True):
        c = o.cs.candidates[opt.candidate]
        level = max(0 if e <= 0.30 else 1 if e <= 0.5 else 2, floor)
        extra: list[str] = []
        if opt.price.stale:
            level, extra = min(level + 1, 2), [*extra, "price flagged stale"]
        if c.accelerator.platform == "neuron" and o.workload.neuron_tier != "supported":
            level, extra = min(level + 1, 2), [*extra, f"Neuron support is {o.workload.neuron_tier}"]
        text = why + (f"; lowered: {', '.join(extra)}" if extra else "")
        out.append(Confidence(level=("high", "medium", "low")[level], savings_percent_range=rng,
                              basis=text[:1024]))
    return out


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
        lines.append(f"risk: {risk.risk} ({cat.migration.sources[risk.source].url})")
    return lines


def _placement(o: Outcome, opt: Option, cur_total: float | None, cat: Catalog, best: Option | None,
               n_options: int, confidence: Confidence) -> Placement:
    w = o.workload
    c = o.cs.candidates[opt.candidate]
    key = o.cs.keys[c.row]
    row: RowResult = o.rows[c.row]
    inst, acc = c.instance, c.accelerator
    savings = pct = payback = None
    total = _cents(opt.cost)["total"]
    if cur_total:
        s = round(cur_total - total, 2)
        savings, pct = money(s), fixed(s / cur_total * 100)
        one_time = c.migration_weeks * w.engineer_week_cost
        run_rate = cur_total - (opt.cost["total"] - opt.cost["software_engineering"])
        if one_time == 0 and run_rate > 0:
            payback = fixed(0.0)
        elif run_rate > 0:
            payback = fixed(one_time / run_rate)
    per_instance = max((inst.chips or 1) // key.chips, 1)
    why: list[str] = []
    if best is None:
        slo = f"TTFT p95 <= {w.ttft_slo_s * 1e3:g} ms, TPOT p95 <= {w.tpot_slo_s * 1e3:g} ms"
        if math.isfinite(w.e2e_slo_s):
            slo += f", e2e p95 <= {w.e2e_slo_s * 1e3:g} ms"
        why.append(f"cheapest of {n_options} priced placements meeting {slo} at the peak of "
                   f"{w.rps * w.peak_to_mean:.2f} req/s ({w.rps:g} mean x {w.peak_to_mean:g})")
        if w.current is not None and inst.type == w.current.instance.type:
            why.append(f"today's instance type {inst.type} is already the cheapest that meets the SLOs")
    else:
        d = (opt.per_million / best.per_million - 1) * 100
        why.append(f"{d:+.1f}% cost per 1M output tokens vs the recommendation")
    why.append(f"{opt.replicas} replicas x {key.chips} {acc.name}, {per_instance} per {inst.type}: "
               f"{opt.instances} instances; {BOUNDS[row.bound]}-bound at the SLO limit "
               f"({row.rate:.2f} req/s per replica)")
    if c.migration_weeks > 0:
        why.append(f"migration {c.migration_weeks:g} engineer-weeks ({c.migration_basis}) = "
                   f"${c.migration_weeks * w.engineer_week_cost:,.0f}, spread over {w.amortization_months:g} months")
    if acc.platform == "neuron":
        why.extend(_neuron_lines(o, cat, inst.family))
    p = opt.price
    why.append(f"{opt.capacity_type} ${p.usd_per_hour}/h per instance from {p.source} ({p.region}, {p.date})")
    if p.stale:
        why.append(f"price flagged stale in the catalog{': ' + p.note if p.note else ''}")
    if w.region and w.region not in p.region:
        why.append(f"price is for {p.region}, not {w.region}")
    if key.weight_dtype != w.weight_precision:
        why.append(f"weights in {key.weight_dtype} where today {w.weight_precision}: a quality change to "
                   "validate before switching")
    if key.speculative and w.draft is not None:
        why.append(f"speculative decoding with {w.draft.id} ({w.speculative_tokens} tokens, acceptance "
                   f"{w.acceptance_rate:g})")
    return Placement(
        node_pool=inst.family, instance_type=inst.type, capacity_type=opt.capacity_type,
        replicas=opt.replicas, instances=opt.instances, chips_per_replica=key.chips,
        weight_precision=key.weight_dtype, speculative_decoding=key.speculative,
        projected=_projected(row.latency, opt.capacity_tok_s, opt.utilization),
        monthly_cost=money(total), cost_per_million_output_tokens=fixed(opt.per_million, 4),
        cost_breakdown=_breakdown(opt.cost, p, w.accepted_tok_s * 730 * 3600),
        savings_monthly=savings, savings_percent=pct, payback_months=payback,
        migration_weeks=fixed(c.migration_weeks), confidence=confidence,
        bound=BOUNDS[row.bound], rationale=[x[:1024] for x in why[:16]],
    )


def _rejections(o: Outcome, cat: Catalog, chosen: Option | None, per_family: dict[str, Option]) -> list[Rejection]:
    fams: dict[str, list[str]] = {}
    for inst in cat.instances.values():
        fams.setdefault(inst.family, []).append(inst.type)
    chosen_family = o.cs.candidates[chosen.candidate].instance.family if chosen else None
    out = []
    for fam, types in sorted(fams.items()):
        if fam == chosen_family:
            continue
        if fam in per_family and chosen is not None:
            opt = per_family[fam]
            c = o.cs.candidates[opt.candidate]
            d = (opt.per_million / chosen.per_million - 1) * 100
            out.append(Rejection(node_pool=fam, instance_type=c.instance.type, reason="HIGHER_COST",
                                 message=f"best: {opt.replicas} x {o.cs.keys[c.row].chips} chips on "
                                         f"{opt.instances} {c.instance.type} ({opt.capacity_type}) at "
                                         f"${opt.per_million:.4f}/1M tokens, {d:+.1f}% vs the recommendation"))
            continue
        failed = [(t, o.failures[t]) for t in types if t in o.failures]
        if not failed:
            continue
        top = max(REASON_ORDER.index(f.reason) for _, f in failed)
        reason = REASON_ORDER[top]
        by_msg: dict[str, list[str]] = {}
        for t, f in failed:
            if f.reason == reason:
                by_msg.setdefault(f.message, []).append(t)
        msg = "; ".join(f"{', '.join(ts)}: {m}" for m, ts in by_msg.items())
        single = next(iter(by_msg.values())) if len(by_msg) == 1 else []
        out.append(Rejection(node_pool=fam, instance_type=single[0] if len(single) == 1 else None,
                             reason=reason, message=msg[:2048]))
    return out[:64]


def build_report(o: Outcome, cat: Catalog, generation: int | None = None) -> Report:
    w = o.workload
    current, cur_total = _current(o)
    opts = o.options
    chosen = opts[0] if opts else None
    per_family: dict[str, Option] = {}
    for opt in opts:
        per_family.setdefault(o.cs.candidates[opt.candidate].instance.family, opt)
    # The best of each other node pool first (ranked), then the next cheapest placements (ranked).
    bests = sorted((opt for fam, opt in per_family.items() if chosen and opt is not chosen
                    and fam != o.cs.candidates[chosen.candidate].instance.family), key=lambda x: x.per_million)
    rest = [opt for opt in opts[1:] if opt not in bests][:max(MAX_ALTERNATIVES - len(bests), 0)]
    alt_opts = (bests + rest)[:MAX_ALTERNATIVES]
    shown = ([chosen] if chosen else []) + alt_opts
    conf = _confidences(o, shown, cur_total, cat)
    placed = [_placement(o, opt, cur_total, cat, None if opt is chosen else chosen, len(opts), cf)
              for opt, cf in zip(shown, conf, strict=True)]
    rec = placed[0] if chosen else None
    alternatives = placed[1:] if chosen else []
    now = now_rfc3339()
    if rec is not None:
        ready = Condition(type="Ready", status="True", reason="RecommendationAvailable",
                          message=f"{rec.instance_type} x {rec.instances} ({rec.capacity_type}) at "
                                  f"${rec.cost_per_million_output_tokens}/1M output tokens",
                          last_transition_time=now, observed_generation=generation)
    else:
        reasons = sorted({f.reason for f in o.failures.values()}, key=REASON_ORDER.index)
        ready = Condition(type="Ready", status="False", reason="NoFeasiblePlacement",
                          message=("no priced placement meets the SLOs; furthest reasons: "
                                   + ", ".join(reasons[-3:]))[:4096],
                          last_transition_time=now, observed_generation=generation)
    status = InferenceWorkloadStatus(
        observed_generation=generation, conditions=[ready], current=current, recommendation=rec,
        alternatives=alternatives, rejected=_rejections(o, cat, chosen, per_family),
        assumptions=[a[:512] for a in w.assumptions[:32]], last_evaluation_time=now,
    )
    points = []
    seen = set()
    for opt in opts:
        c = o.cs.candidates[opt.candidate]
        k = o.cs.keys[c.row]
        label = f"{c.instance.type} {k.chips}c {k.weight_dtype}{' spec' if k.speculative else ''}"
        if (label, opt.capacity_type) in seen:
            continue
        seen.add((label, opt.capacity_type))
        points.append(PlotPoint(label, c.instance.family, o.rows[c.row].latency[1] * 1e3, opt.per_million,
                                opt is chosen))
    return Report(w.name, status, points, w.tpot_slo_s * 1e3)


__all__ = ["PlotPoint", "Report", "build_report"]
