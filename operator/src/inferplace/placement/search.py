"""The placement search: evaluate every candidate of every workload in one engine pass, size and
cost them, and pick the cheapest per million accepted output tokens that meets the SLOs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import numpy as np
from numpy.typing import NDArray

from inferplace.catalog import Catalog
from inferplace.catalog.accelerators import BYTES_PER_ELEMENT
from inferplace.catalog.instances import Price
from inferplace.engine.batch import ScenarioArrays
from inferplace.engine.roofline import weight_footprint
from inferplace.engine.shapes import ShapeArrays, shape_of
from inferplace.engine.slo import Latency, SloCapacity, Tails, latency_at, slo_capacity
from inferplace.engine.tco import CostTerms, Overheads, monthly_cost, replicas_for, size
from inferplace.placement.calibration import scope_of
from inferplace.placement.candidates import (
    CandidateSet,
    EngineKey,
    Failure,
    enumerate_candidates,
    framework_for,
    kv_dtype_for,
    scenario_for,
)
from inferplace.placement.workload import Workload
from inferplace.scenarios import Scenario, ScenarioError, check_dtypes, efficiency_for, to_arrays

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Option:
    """One costed placement (candidate x capacity type) that meets the SLOs."""

    candidate: int  # index into the candidate set
    capacity_type: str
    price: Price
    replicas: int
    instances: int
    utilization: float
    capacity_tok_s: float
    cost: dict[str, float]  # monthly USD per term, plus instance_bill and total
    per_million: float


@dataclass(frozen=True)
class RowResult:
    """Engine answers for one row (per replica)."""

    rate: float  # requests/s within the SLOs (NaN: none)
    fits: bool
    bound: int
    replicas: int  # for the workload's peak demand
    latency: tuple[float, float, float]  # ttft, tpot, e2e p95 (s) at peak, at `replicas`
    saturated: bool  # at that load the replica cannot keep up (latencies meaningless)
    unloaded: tuple[float, float, float]
    at_mean: tuple[float, float]  # mean TTFT and mean TPOT (s) at the mean load, at `replicas`


@dataclass
class Outcome:
    """Everything decided for one workload; `report.py` turns it into status."""

    workload: Workload
    cs: CandidateSet
    rows: list[RowResult]
    options: list[Option]  # meeting the SLOs and priced, cheapest first
    failures: dict[str, Failure]
    current_row: RowResult | None
    current_key: EngineKey | None
    current_note: str | None
    efficiency_group: dict[int, str] = field(default_factory=dict)  # row -> efficiency group


def _demand_peak(w: Workload) -> float:
    return w.rps * w.peak_to_mean * (1.0 + w.retry_rate)


def _demand_mean(w: Workload) -> float:
    return w.rps * (1.0 + w.retry_rate)


def _current_scenario(w: Workload, cat: Catalog) -> tuple[EngineKey | None, Scenario | None, str | None]:
    if w.current is None:
        return None, None, None
    inst = w.current.instance
    acc = cat.accelerators[inst.accelerator]
    wdt = w.weight_precision
    kvd = kv_dtype_for(w, acc, wdt)
    try:
        check_dtypes(acc, wdt, kvd)
    except ScenarioError as exc:
        return None, None, f"today's placement cannot be modelled: {exc}"
    chips = w.current.placement.chips_per_replica
    if chips > 1 and acc.link_bytes_s <= 0:
        return None, None, f"today's placement cannot be modelled: no interconnect figure for {acc.id}"
    key = EngineKey(acc.id, chips, wdt, kvd, False, framework_for(w, acc))
    return key, scenario_for(w, acc, key), None


def _row_results(cap: SloCapacity, lat: Latency, mean: Latency, replicas: F64, lo: int, hi: int) -> list[RowResult]:
    out = []
    for i in range(lo, hi):
        out.append(RowResult(
            rate=float(cap.rate[i]), fits=bool(cap.fits[i]), bound=int(cap.bound[i]),
            replicas=int(replicas[i]),
            latency=(float(lat.ttft[i]), float(lat.tpot[i]), float(lat.e2e[i])),
            saturated=bool(lat.saturated[i]),
            unloaded=(float(cap.unloaded.ttft[i]), float(cap.unloaded.tpot[i]), float(cap.unloaded.e2e[i])),
            at_mean=(float(mean.ttft_mean[i]), float(mean.tpot_mean[i])),
        ))
    return out


def _calibrated(sa: ScenarioArrays, sets: list[CandidateSet], bounds: list[tuple[int, int]],
                workloads: list[Workload], cat: Catalog) -> ScenarioArrays:
    """Apply each workload's live calibration to its rows in the calibrated engine group."""
    if not any(w.calibration is not None and w.calibration.applied for w in workloads):
        return sa
    decode = np.ones_like(sa.isl)
    prefill = np.ones_like(sa.isl)
    for w, cs, (lo, _hi) in zip(workloads, sets, bounds, strict=True):
        cal = w.calibration
        if cal is None or not cal.applied:
            continue
        for i, k in enumerate(cs.keys):
            if scope_of(cat, k) == cal.group:
                decode[lo + i], prefill[lo + i] = cal.decode_scale, cal.prefill_scale
    return replace(sa, decode_scale=decode, prefill_scale=prefill)


def search(workloads: list[Workload], cat: Catalog) -> list[Outcome]:
    """Evaluate all workloads together (one vectorized engine pass) and decide each."""
    sets = [enumerate_candidates(w, cat) for w in workloads]
    scenarios: list[Scenario] = []
    bounds: list[tuple[int, int]] = []
    currents: list[tuple[int | None, str | None]] = []
    per_row_w: list[Workload] = []
    for w, cs in zip(workloads, sets, strict=True):
        key, scen, note = _current_scenario(w, cat)
        current_index = None
        if key is not None and scen is not None:
            # Its own row even when a candidate shares the key: it runs at today's replica count.
            current_index = len(cs.keys)
            cs.keys.append(key)
            cs.scenarios.append(scen)
        currents.append((current_index, note))
        lo = len(scenarios)
        scenarios.extend(cs.scenarios)
        bounds.append((lo, len(scenarios)))
        per_row_w.extend([w] * len(cs.scenarios))
    if not scenarios:
        return [Outcome(w, cs, [], [], dict(cs.failures), None, None, note)
                for w, cs, (_k, note) in zip(workloads, sets, currents, strict=True)]

    sa = _calibrated(to_arrays(scenarios, cat), sets, bounds, workloads, cat)
    col = np.asarray
    tails = Tails(
        prompt_tokens=col([w.prompt_p95 for w in per_row_w], dtype=np.float64),
        output_tokens=col([w.output_p95 for w in per_row_w], dtype=np.float64),
        e2e_slo=col([w.e2e_slo_s for w in per_row_w], dtype=np.float64),
    )
    cap = slo_capacity(sa, tails)
    demand = col([_demand_peak(w) for w in per_row_w], dtype=np.float64)
    util = col([w.target_utilization for w in per_row_w], dtype=np.float64)
    min_rep = col([w.min_replicas for w in per_row_w], dtype=np.float64)
    replicas = replicas_for(cap.rate, demand, util, min_rep)
    replicas = np.where(np.isfinite(replicas), replicas, 0.0)

    # Today's placement runs at its own replica count.
    for (cur, _note), (lo, _hi), w in zip(currents, bounds, workloads, strict=True):
        if cur is not None and w.current is not None:
            replicas[lo + cur] = w.current.placement.replicas
    mean_demand = col([_demand_mean(w) for w in per_row_w], dtype=np.float64)
    both = latency_at(sa, tails, np.stack([demand, mean_demand]) / np.maximum(replicas, 1.0))
    lat, mean = (Latency(*(getattr(both, f.name)[k] for f in fields(Latency))) for k in (0, 1))

    outcomes = []
    for w, cs, (lo, hi), (cur, note) in zip(workloads, sets, bounds, currents, strict=True):
        rows = _row_results(cap, lat, mean, replicas, lo, hi)
        groups = {i: efficiency_for(cat, cat.accelerators[k.accelerator], k.framework)[0]
                  for i, k in enumerate(cs.keys)}
        current_row = rows[cur] if cur is not None else None
        current_key = cs.keys[cur] if cur is not None else None
        options = _cost_options(w, cs, rows, cat)
        outcomes.append(Outcome(w, cs, rows, options, dict(cs.failures), current_row, current_key, note,
                                groups))
    return outcomes


def _row_failure(w: Workload, cs: CandidateSet, row: RowResult, i: int, cat: Catalog) -> tuple[str, str]:
    key = cs.keys[i]
    acc = cat.accelerators[key.accelerator]
    where = f"{key.chips} x {acc.id} ({acc.memory_bytes / 1e9:.0f} GB each)"
    if not row.fits:
        shape = ShapeArrays.stack([shape_of(w.model)])
        weights = float(weight_footprint(shape, np.array([BYTES_PER_ELEMENT[key.weight_dtype]]))[0])
        return "DOES_NOT_FIT", (f"{w.model.id} in {key.weight_dtype} ({weights / 1e9:.0f} GB of weights) "
                                f"leaves no room for the KV cache of one {w.prompt_mean + w.output_mean / 2:.0f}"
                                f"-token sequence on {where}")
    ttft, tpot, e2e = row.unloaded
    if ttft > w.ttft_slo_s:
        return "SLO_TTFT_UNMET", (f"TTFT p95 is {ttft * 1e3:.0f} ms even unloaded on {where}, above the "
                                  f"{w.ttft_slo_s * 1e3:g} ms objective")
    if tpot > w.tpot_slo_s:
        return "SLO_TPOT_UNMET", (f"TPOT p95 is {tpot * 1e3:.1f} ms even unloaded on {where}, above the "
                                  f"{w.tpot_slo_s * 1e3:g} ms objective")
    if e2e > w.e2e_slo_s:
        return "SLO_E2E_UNMET", (f"end-to-end p95 is {e2e * 1e3:.0f} ms even unloaded on {where}, above the "
                                 f"{w.e2e_slo_s * 1e3:g} ms objective")
    return "SLO_TPOT_UNMET", f"no request rate meets all objectives on {where}"


def _missing_price(inst_type: str, kinds: list[str], cat: Catalog) -> str:
    inst = cat.instances[inst_type]
    text = f"the catalog has no {' or '.join(kinds)} price for {inst_type}"
    why = [m for m in inst.missing if "price" in m.lower()] or ([inst.notes] if inst.notes else [])
    if why:
        text += f" (catalog note: {why[0]})"
    if any(k.startswith("reserved") for k in kinds) and "reserved-unknown-term" in inst.prices:
        p = inst.prices["reserved-unknown-term"]
        text += (f"; a reserved rate of unknown term (${p.usd_per_hour}/h, {p.date}) is not assumed to be "
                 "reserved-1y or reserved-3y")
    return text + "; supply one with --prices (CLI) or the price-override ConfigMap"


def _cost_options(w: Workload, cs: CandidateSet, rows: list[RowResult], cat: Catalog) -> list[Option]:
    """Size and cost every viable candidate for every allowed capacity type; record the rest."""
    ok_rows = {i for i, r in enumerate(rows) if r.fits and math.isfinite(r.rate) and r.rate > 0}
    for i, r in enumerate(rows):
        if i not in ok_rows:
            reason, msg = _row_failure(w, cs, r, i, cat)
            for c in cs.candidates:
                if c.row == i:
                    cs.fail(c.instance.type, reason, msg)
    picks: list[tuple[int, str, Price]] = []
    for ci, c in enumerate(cs.candidates):
        if c.row not in ok_rows:
            continue
        missing: list[str] = []
        for kind in w.capacity_types:
            price = c.instance.prices.get(kind)
            if price is None:
                missing.append(kind)
            else:
                picks.append((ci, kind, price))
        if len(missing) == len(w.capacity_types):
            cs.fail(c.instance.type, "NO_PRICE", f"meets the SLOs ({cs.keys[c.row].chips} chips per replica), but "
                    + _missing_price(c.instance.type, missing, cat))
    if not picks:
        return []
    cand = [cs.candidates[ci] for ci, _, _ in picks]
    rate = np.array([rows[c.row].rate for c in cand])
    sizing = size(
        rate, w.rps, w.peak_to_mean, w.retry_rate, w.target_utilization, w.min_replicas,
        np.array([cs.keys[c.row].chips for c in cand], dtype=np.float64),
        np.array([c.instance.chips or 1 for c in cand], dtype=np.float64), w.output_mean,
    )
    costs = monthly_cost(
        np.array([p.usd_per_hour for _, _, p in picks]), sizing, Overheads(**w.overheads), w.retry_rate,
        np.array([c.migration_weeks for c in cand]), w.engineer_week_cost, w.amortization_months,
        w.accepted_tok_s,
    )
    # Cheapest first; at equal cost (whole instances make ties common) keep today's shape, then the
    # least migration, the fewest instances and the lowest latency.
    cur = w.current
    is_current = np.array([cur is not None and c.instance.type == cur.instance.type
                           and cs.keys[c.row].chips == cur.placement.chips_per_replica
                           and cs.keys[c.row].weight_dtype == w.weight_precision and not cs.keys[c.row].speculative
                           for c in cand])
    tpot = np.array([rows[c.row].latency[1] for c in cand])
    weeks = np.array([c.migration_weeks for c in cand])
    order = np.lexsort((tpot, sizing.instances, weeks, ~is_current, np.round(costs.total, 2)))
    names = (*CostTerms.TERMS, "instance_bill", "total")
    table = np.stack([getattr(costs, k) for k in names], axis=1).tolist()
    out = []
    for j in order:
        ci, kind, price = picks[j]
        terms = dict(zip(names, table[j], strict=True))
        out.append(Option(ci, kind, price, int(sizing.replicas[j]), int(sizing.instances[j]),
                          float(sizing.utilization[j]), float(sizing.capacity_tok_s[j]), terms,
                          float(costs.per_million_tokens[j])))
    return out

