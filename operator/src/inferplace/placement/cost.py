"""Sizing and costing candidates: one path for every candidate, today's placement included.

A `Costing` is one workload's picks; `cost_all` sizes each pick's fleet (replicas for the peak at the
target utilization, or a given fleet for today's placement), packs it into whole instances and prices
it with the engine's TCO terms, every workload of a search in one numpy pass (a traffic shape's hourly
sizing is done per workload). The search costs its options and today's placement with it, the
what-it-takes figures and the confidence model's error bounds re-cost options with it: one formula
throughout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any, NamedTuple, overload

import numpy as np
from numpy.typing import NDArray

from inferplace.api.vocabulary import CapacityType, Precision, ScalingStrategy
from inferplace.engine.tco import (
    CostTerms,
    Demand,
    Overheads,
    Sizing,
    monthly_cost,
    replicas_for,
    size,
    size_over_hours,
)
from inferplace.placement.candidates import Candidate, CandidateSet
from inferplace.placement.predict import RowResult
from inferplace.placement.settings import DEFAULTS, ScalingSettings
from inferplace.placement.workload import Workload
from inferplace.pricing import NoPrice, Price, PriceBook

F64 = NDArray[np.float64]
COST_FIELDS = (*CostTerms.TERMS, "instance_bill", "total")
# Capacity types billed for the hours used: only these gain from a fleet that follows the traffic.
BILLED_BY_USE: tuple[CapacityType, ...] = ("on-demand", "spot")


@dataclass
class Option:
    """One costed placement: a candidate bought as one capacity type. Not changed once made (not frozen
    only because a search makes thousands, and a frozen dataclass's init is four times slower)."""

    candidate: int  # index into the candidate set
    capacity_type: CapacityType
    price: Price
    replicas: int
    instances: int
    utilization: float
    capacity_tok_s: float
    cost: dict[str, float]  # monthly USD per term, plus instance_bill and total
    per_million: float
    total_cents: float  # the monthly total as printed: the sum of the terms rounded to cents (see `cents`)
    unpriced: tuple[CapacityType, ...] = ()  # capacity types the workload allows that have no price here
    strategy: ScalingStrategy = "fixed"
    instance_hours: float = 0.0  # per month
    cold_start_share: float = 0.0  # requests that arrive while the fleet starts from zero
    lead_s: float = 0.0  # scale-up lead time assumed

    @cached_property
    def cost_cents(self) -> dict[str, float]:
        """The terms as printed: rounded to cents so that they add up (see `cents`)."""
        return cents(self.cost)


@dataclass(frozen=True)
class CurrentCost:
    """Today's placement: its engine row (None: it cannot be modelled), its fleet, and its cost where it
    has a price. Today's bill needs no engine: instance hours at the price, over the tokens served."""

    candidate: Candidate | None
    row: RowResult | None
    instances: int
    utilization: float
    capacity_tok_s: float
    option: Option | None  # None: no price for today's capacity type
    price_note: str | None


def cents(terms: dict[str, float]) -> dict[str, float]:
    """Terms rounded to cents, the total their sum and the bill the sum of its three shares, so the
    printed figures add up exactly."""
    out = {k: round(v, 2) for k, v in terms.items()}
    out["total"] = round(sum(out[k] for k in CostTerms.TERMS), 2)
    out["instance_bill"] = round(out["accelerators"] + out["failed_requests_and_retries"] + out["idle_capacity"], 2)
    return out


def round_cents(values: F64) -> F64:
    """`round(x, 2)` of each value, exactly as Python rounds it (numpy's scaled rounding differs at
    halves: 2.675 is 2.67499... and Python gives 2.67). Vectorized; values within a hair of a half
    cent, and values too large for x * 100 to keep their cents (never a monthly cost), are rounded one
    by one by Python."""
    out: F64 = np.round(values, 2)
    scaled = values * 100.0
    with np.errstate(invalid="ignore", over="ignore"):
        near = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) < 1e-6 + 1e-12 * np.abs(scaled)
        slow = near | (np.abs(values) >= 1e13) & np.isfinite(values)
    for i in np.flatnonzero(slow):
        out.flat[i] = round(float(values.flat[i]), 2)
    return out


def total_cents(terms: F64) -> F64:
    """Per row of `terms` (one column per CostTerms.TERMS), the total as `cents` prints it: the terms
    rounded to cents, added in order, the sum rounded again."""
    rounded = round_cents(terms)
    acc = rounded[:, 0].copy()
    for k in range(1, rounded.shape[1]):  # left to right, as Python's sum adds them (numpy's is pairwise)
        acc += rounded[:, k]
    return round_cents(acc)


class Pick(NamedTuple):  # a tuple: a search makes one per candidate and capacity type, and a frozen init is slow
    candidate: int
    capacity_type: CapacityType
    price: Price
    unpriced: tuple[CapacityType, ...] = ()


def _demand(w: Workload, scale: F64 | None) -> Demand:
    return w.demand if scale is None else Demand(w.rps * scale, w.peak_to_mean, w.retry_rate)


def fleet(w: Workload, cs: CandidateSet, cands: Sequence[Candidate], rates: F64, replicas: F64 | None,
          scale: F64 | None = None, today: bool = False) -> Sizing:
    """Replicas (sized for the peak, or given) packed into each candidate's whole instances; a proposed fleet is
    spread over the workload's minimum of nodes, today's is packed as it runs."""
    return size(rates, _demand(w, scale), w.target_utilization, w.min_replicas,
                np.array([cs.keys[c.row].chips for c in cands], dtype=np.float64),
                np.array([c.instance.chips or 1 for c in cands], dtype=np.float64), w.output_mean, replicas,
                w.spare_replicas, 1 if today else w.spread_nodes)


def lead_time_s(w: Workload, cs: CandidateSet, c: Candidate, s: ScalingSettings = DEFAULTS.scaling) -> float:
    """Seconds from asking for a replica to its serving: the spec's, else node + image + weights."""
    if w.lead_time_s is not None:
        return w.lead_time_s
    dtype = cs.keys[c.row].weight_dtype
    return s.node_provisioning_s + s.image_pull_s + cs.weights(dtype) / 1e9 / s.weight_load_gb_per_s


@dataclass(frozen=True)
class Priced:
    sizing: Sizing
    costs: CostTerms
    strategies: list[ScalingStrategy]


def _gather(choice: NDArray[np.int64], parts: list[Any]) -> Any:
    """Field by field, each pick's value from the variant its choice names (a scalar is shared by all)."""
    if len(parts) == 1:
        return parts[0]  # one variant (no traffic shape): every pick's value is already its own
    out = {}
    for f in fields(parts[0]):
        values = [getattr(p, f.name) for p in parts]
        if any(isinstance(v, np.ndarray) for v in values):
            out[f.name] = np.choose(choice, [v if v is not None else np.zeros(choice.shape) for v in values])
        else:
            out[f.name] = values[0]
    return type(parts[0])(**out)


@dataclass(frozen=True)
class Costing:
    """One workload's picks to size and price: the arguments of one costing.

    `rates`: requests/s one replica of each pick serves within the SLOs. `replicas`: the peak fleet per
    pick when already sized (None: sized for the peak). `strategies`: the strategy each pick keeps
    (None: the cheapest). `scale`: each pick at that multiple of the traffic. `hourly` False keeps the
    fleet all day (today's). `usd_per_hour`: each pick at this hourly rate instead of its price's."""

    w: Workload
    cs: CandidateSet
    picks: Sequence[Pick]
    rates: F64
    replicas: F64 | None = None
    strategies: Sequence[ScalingStrategy] | None = None
    scale: F64 | None = None
    hourly: bool = True
    usd_per_hour: F64 | None = None

    @property
    def by_the_hour(self) -> bool:
        """Also sized hour by hour (a traffic shape, and not today's fleet): costed on its own."""
        return self.hourly and self.w.profile is not None

    def prices(self) -> F64:
        return np.array([p.price.usd_per_hour for p in self.picks]) if self.usd_per_hour is None else self.usd_per_hour

    def accepted(self) -> F64 | float:
        return self.w.accepted_tok_s if self.scale is None else self.w.accepted_tok_s * self.scale

    def lead_s(self) -> F64:
        by_dtype: dict[Precision, float] = {}  # the lead time differs only with the weights' size
        cs, out = self.cs, []
        for p in self.picks:
            c = cs.candidates[p.candidate]
            d = cs.keys[c.row].weight_dtype
            out.append(by_dtype[d] if d in by_dtype else by_dtype.setdefault(d, lead_time_s(self.w, cs, c)))
        return np.array(out, dtype=np.float64)


def _fixed(costings: Sequence[Costing]) -> Priced:
    """Every pick of `costings` with a fleet fixed all day (sized for the peak, or as given), sized and
    priced in one pass: each workload's figures spread over its own picks (the same formulas, one
    numpy call for all rather than one per workload)."""
    counts = [len(c.picks) for c in costings]

    def each(value: Callable[[Costing], float]) -> F64 | float:
        if len(costings) == 1:
            return float(value(costings[0]))  # shared by every pick: numpy broadcasts it
        return np.repeat(np.array([value(c) for c in costings], dtype=np.float64), counts)

    def joined(parts: list[F64]) -> F64:
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    cands = [(c.cs, c.cs.candidates[p.candidate]) for c in costings for p in c.picks]
    rates = joined([c.rates for c in costings])
    scale = joined([np.ones(n) if c.scale is None else c.scale for c, n in zip(costings, counts, strict=True)])
    demand = Demand(each(lambda c: c.w.rps) * scale, each(lambda c: c.w.peak_to_mean),
                    each(lambda c: c.w.retry_rate))
    replicas = None
    if any(c.replicas is not None for c in costings):
        given = joined([np.full(n, math.nan) if c.replicas is None else c.replicas
                        for c, n in zip(costings, counts, strict=True)])
        replicas = given
        if any(c.replicas is None for c in costings):
            sized = replicas_for(rates, demand.peak, each(lambda c: c.w.target_utilization),
                                 each(lambda c: c.w.min_replicas), each(lambda c: c.w.spare_replicas))
            replicas = np.where(np.repeat([c.replicas is not None for c in costings], counts), given, sized)
    sizing = size(rates, demand, each(lambda c: c.w.target_utilization), each(lambda c: c.w.min_replicas),
                  np.array([cs.keys[c.row].chips for cs, c in cands], dtype=np.float64),
                  np.array([c.instance.chips or 1 for _, c in cands], dtype=np.float64),
                  each(lambda c: c.w.output_mean), replicas, each(lambda c: c.w.spare_replicas),
                  each(lambda c: c.w.spread_nodes if c.hourly else 1))  # today's fleet is packed as it runs
    overheads = Overheads(each(lambda c: float(c.w.overheads.host)), each(lambda c: float(c.w.overheads.network)),
                          each(lambda c: float(c.w.overheads.storage)), each(lambda c: float(c.w.overheads.power)),
                          each(lambda c: float(c.w.overheads.orchestration)))
    accepted = joined([np.full(n, c.accepted()) if c.scale is None else np.asarray(c.accepted())
                       for c, n in zip(costings, counts, strict=True)])
    costs = monthly_cost(joined([c.prices() for c in costings]), sizing, overheads, each(lambda c: c.w.retry_rate),
                         np.array([c.migration_weeks for _, c in cands]), each(lambda c: c.w.engineer_week_cost),
                         each(lambda c: c.w.amortization_months), accepted)
    return Priced(sizing, costs, ["fixed"] * len(cands))


def _priced(c: Costing) -> Priced:
    """Sizing and TCO terms for one costing's picks: each sized for the peak all day, and (on-demand and
    spot, given a traffic shape) hour by hour, autoscaled or to zero where allowed; the cheapest is kept,
    or the strategy `c.strategies` names for each pick."""
    fixed = _fixed([c])
    if not c.by_the_hour:
        return fixed
    w, cs, picks = c.w, c.cs, c.picks
    cands = [cs.candidates[p.candidate] for p in picks]
    prices, lead = c.prices(), c.lead_s()
    weeks = np.array([cand.migration_weeks for cand in cands])

    def priced(sizing: Sizing) -> CostTerms:
        return monthly_cost(prices, sizing, w.overheads, w.retry_rate, weeks, w.engineer_week_cost,
                            w.amortization_months, c.accepted())

    variants: list[tuple[ScalingStrategy, Sizing]] = [("fixed", fixed.sizing)]
    profile = np.asarray(w.profile)
    demand = _demand(w, c.scale).hourly(profile)
    per_replica = np.array([float(cs.keys[cand.row].chips) for cand in cands])
    per_instance = np.array([float(cand.instance.chips or 1) for cand in cands])
    wanted = set(c.strategies) if c.strategies is not None else {"autoscaled", "scale-to-zero"}
    if w.autoscale and "autoscaled" in wanted:
        variants.append(("autoscaled", size_over_hours(c.rates, demand, w.target_utilization, w.min_replicas,
                                                       per_replica, per_instance, w.output_mean, lead, False,
                                                       w.spare_replicas, w.spread_nodes)))
    if w.scale_to_zero and "scale-to-zero" in wanted and bool(np.any(profile <= 0)):
        variants.append(("scale-to-zero", size_over_hours(c.rates, demand, w.target_utilization, w.min_replicas,
                                                          per_replica, per_instance, w.output_mean, lead, True,
                                                          w.spare_replicas, w.spread_nodes)))
    costs = [fixed.costs] + [priced(s) for _, s in variants[1:]]
    names = [n for n, _ in variants]
    if c.strategies is not None:
        choice = np.array([names.index(s) if s in names else 0 for s in c.strategies], dtype=np.int64)
    else:
        by_use = np.array([p.capacity_type in BILLED_BY_USE for p in picks])
        totals = np.stack([t.total if n == "fixed" else np.where(by_use, t.total, np.inf)
                           for n, t in zip(names, costs, strict=True)])
        choice = np.argmin(totals, axis=0).astype(np.int64)  # ties keep the simpler strategy (fixed first)
    sizing = _gather(choice, [s for _, s in variants])
    return Priced(sizing, _gather(choice, costs), [names[int(i)] for i in choice])


def _priced_all(costings: Sequence[Costing]) -> list[tuple[Priced, int]]:
    """Each costing's Priced and where its picks start in it: those sized only all day share one pass
    (one without picks has an empty slice of it, not a pass of its own)."""
    together = [c for c in costings if not c.by_the_hour]
    shared = _fixed(together) if together else None
    out: list[tuple[Priced, int]] = []
    start = 0
    for c in costings:
        if shared is not None and not c.by_the_hour:
            out.append((shared, start))
            start += len(c.picks)
        else:
            out.append((_priced(c), 0))
    return out


def totals_all(costings: Sequence[Costing]) -> list[F64]:
    """Each costing's monthly totals, those sized only all day in one pass."""
    return [total for total, _ in totals_and_utilizations(costings)]


def totals_and_utilizations(costings: Sequence[Costing]) -> list[tuple[F64, F64]]:
    """Each costing's monthly totals and its fleets' utilizations, those sized only all day in one pass."""
    out: list[tuple[F64, F64]] = []
    for c, (pr, start) in zip(costings, _priced_all(costings), strict=True):
        end = start + len(c.picks)
        out.append((pr.costs.total[start:end], pr.sizing.utilization[start:end]))
    return out


def at_scales(w: Workload, cs: CandidateSet, opt: Option, rate: float, scales: F64) -> Costing:
    """One option at `scales` times today's traffic, with its own strategy (`rate`: per replica)."""
    pick = Pick(opt.candidate, opt.capacity_type, opt.price)
    return Costing(w, cs, [pick] * scales.size, np.full(scales.size, rate), None, [opt.strategy] * scales.size, scales)


def totals_at_scales(w: Workload, cs: CandidateSet, opt: Option, rate: float, scales: F64) -> tuple[F64, F64]:
    """Monthly totals and utilizations of one option at `scales` times today's traffic, same strategy."""
    return totals_and_utilizations([at_scales(w, cs, opt, rate, scales)])[0]


class _Columns:
    """One costing's figures per pick, as Python numbers (whole columns converted at once: indexing numpy
    arrays element by element is the slow part). The cost terms stay an array, a pick's row converted
    when its option is built, and the scale-up lead time is found only then (most picks are read only
    for their totals)."""

    def __init__(self, costing: Costing, lists: dict[str, Any]) -> None:
        self.costing = costing
        self.picks = costing.picks
        self.strategies, self.table, self.totals = lists["strategies"], lists["table"], lists["totals"]
        self.replicas, self.instances = lists["replicas"], lists["instances"]
        self.util, self.tok_s, self.hours = lists["util"], lists["tok_s"], lists["hours"]
        self.cold, self.per_million = lists["cold"], lists["per_million"]
        self.built: dict[int, Option] = {}

    @staticmethod
    def lists(pr: Priced) -> dict[str, Any]:
        """The columns of every pick `pr` priced (the cost terms as one array, a row per pick)."""
        sizing, costs = pr.sizing, pr.costs
        stacked = np.stack([getattr(costs, k) for k in COST_FIELDS], axis=1)
        cold = sizing.cold_start_share
        return {"strategies": pr.strategies, "table": stacked,
                "totals": total_cents(stacked[:, :len(CostTerms.TERMS)]).tolist(),
                "replicas": sizing.replicas.tolist(), "instances": sizing.instances.tolist(),
                "util": sizing.utilization.tolist(), "tok_s": sizing.capacity_tok_s.tolist(),
                "hours": sizing.instance_hours.tolist(),
                "cold": cold.tolist() if cold is not None else [0.0] * len(pr.strategies),
                "per_million": costs.per_million_tokens.tolist()}

    @staticmethod
    def part(lists: dict[str, Any], start: int, costing: Costing) -> _Columns:
        """The columns of `costing`'s picks, found from `start` on in `lists` (each workload's own, copied:
        the options a report keeps hold only their workload's figures, not every workload's of the pass)."""
        end = start + len(costing.picks)
        return _Columns(costing, {k: v[start:end].copy() if isinstance(v, np.ndarray) else v[start:end]
                                  for k, v in lists.items()})

    def option(self, j: int) -> Option:
        opt = self.built.get(j)
        if opt is None:
            p = self.picks[j]
            c = self.costing
            opt = self.built[j] = Option(
                p.candidate, p.capacity_type, p.price, int(self.replicas[j]), int(self.instances[j]),
                float(self.util[j]), float(self.tok_s[j]), dict(zip(COST_FIELDS, self.table[j].tolist(), strict=True)),
                float(self.per_million[j]), self.totals[j], p.unpriced, self.strategies[j], float(self.hours[j]),
                float(self.cold[j]), lead_time_s(c.w, c.cs, c.cs.candidates[p.candidate]))
        return opt


class OptionTable(Sequence[Option]):
    """The Options of one costing, in a given order, each built on first use: a search costs hundreds
    of options and reads a few (the cheapest of each node pool, the alternatives shown)."""

    def __init__(self, columns: _Columns | None, order: Sequence[int] | None = None) -> None:
        self._columns = columns
        n = len(columns.picks) if columns is not None else 0
        self._order = list(order) if order is not None else list(range(n))

    def ordered(self, order: Sequence[int]) -> OptionTable:
        """The same options in `order` (indices into this table's costing)."""
        return OptionTable(self._columns, [self._order[k] for k in order])

    def __len__(self) -> int:
        return len(self._order)

    @overload
    def __getitem__(self, i: int) -> Option: ...

    @overload
    def __getitem__(self, i: slice) -> list[Option]: ...

    def __getitem__(self, i: int | slice) -> Option | list[Option]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        assert self._columns is not None
        return self._columns.option(self._order[i])

    def _column(self, values: list[Any]) -> list[Any]:
        return [values[j] for j in self._order]

    def candidates(self) -> list[int]:
        """Each option's candidate index, in order (read without building the options)."""
        return [] if self._columns is None else [self._columns.picks[j].candidate for j in self._order]

    def totals_cents(self) -> list[float]:
        """Each option's `total_cents`, in order (read without building the options)."""
        return [] if self._columns is None else self._column(self._columns.totals)

    def instances(self) -> list[float]:
        """Each option's instance count, in order."""
        return [] if self._columns is None else self._column(self._columns.instances)


def cost_all(costings: Sequence[Costing]) -> list[tuple[F64, OptionTable]]:
    """Each costing's monthly totals and Options, those sized only all day in one pass. Given a traffic
    shape, a costing's picks are also sized by the hour (except today's fleet, kept as it runs)."""
    priced = _priced_all(costings)
    shared = next((pr for c, (pr, _) in zip(costings, priced, strict=True) if not c.by_the_hour and c.picks), None)
    columns = _Columns.lists(shared) if shared is not None else None
    out: list[tuple[F64, OptionTable]] = []
    for c, (pr, start) in zip(costings, priced, strict=True):
        n = len(c.picks)
        if not n:
            out.append((np.zeros(0), OptionTable(None)))
        elif pr is shared:
            assert columns is not None
            out.append((pr.costs.total[start:start + n], OptionTable(_Columns.part(columns, start, c))))
        else:
            out.append((pr.costs.total, OptionTable(_Columns(c, _Columns.lists(pr)))))
    return out


# By instance type, region and allowed capacity types (an instance type's candidates differ in chips and
# precision, not in price): the prices found, the answers without one, the capacity types those are,
# and why none is allowed ("": one is).
PriceAnswers = dict[tuple[str, str, tuple[CapacityType, ...]],
                    tuple[list[tuple[CapacityType, Price]], tuple[NoPrice, ...], tuple[CapacityType, ...], str]]


def option_costing(w: Workload, cs: CandidateSet, rows: Sequence[RowResult], book: PriceBook,
                   no_price: dict[int, tuple[NoPrice, ...]] | None = None,
                   found: PriceAnswers | None = None) -> Costing:
    """Every candidate that meets the SLOs, for every allowed capacity type in the workload's region; a
    candidate without any of those prices is recorded as NO_PRICE (and in `no_price`, by candidate, with
    the answers that say where a price exists). `found`: the book's answers already looked up (shared by
    the workloads of a search, filled here)."""
    picks: list[Pick] = []
    found = {} if found is None else found
    kinds = tuple(w.capacity_types)
    serves = [row.serves for row in rows]
    unpriced_last: dict[str, tuple[Candidate, str]] = {}
    for ci, c in enumerate(cs.candidates):
        if c.current or not serves[c.row]:
            continue
        key = (c.instance.type, w.region, kinds)
        answered = found.get(key)
        if answered is None:
            answers = [(kind, book.price(c.instance.type, w.region, kind)) for kind in kinds]
            missing = tuple(a for _, a in answers if isinstance(a, NoPrice))
            answered = found[key] = ([(k, a) for k, a in answers if isinstance(a, Price)], missing,
                                     tuple(a.capacity_type for a in missing),
                                     missing_price(missing) if len(missing) == len(kinds) else "")
        prices, missing, unpriced, why = answered
        picks += [Pick(ci, kind, a, unpriced) for kind, a in prices]
        if why:
            if no_price is not None:
                no_price[ci] = missing
            unpriced_last[c.instance.type] = (c, why)
    # An instance type keeps its last failure of a rank (`CandidateSet.fail`): only its last unpriced
    # candidate's message is written (the most chips per replica).
    for inst, (c, why) in unpriced_last.items():
        cs.fail(inst, "NO_PRICE", f"meets the SLOs ({cs.keys[c.row].chips} chips per replica), but " + why)
    cand_rows = [rows[cs.candidates[p.candidate].row] for p in picks]
    return Costing(w, cs, picks, np.array([r.rate for r in cand_rows]),
                   np.array([float(r.replicas) for r in cand_rows]))


def ranked(c: Costing, rows: Sequence[RowResult], totals: F64, options: OptionTable) -> OptionTable:
    """The options of an `option_costing`, cheapest first; at equal cost (whole instances make ties
    common) today's shape, then the least migration, the fewest instances and the lowest latency."""
    if not c.picks:
        return options
    w, cs = c.w, c.cs
    cur = w.current
    cands = [cs.candidates[p.candidate] for p in c.picks]
    keys = [cs.keys[cand.row] for cand in cands]
    same_shape = np.array([cur is not None and cand.instance.type == cur.instance.type
                           and k.chips == cur.chips_per_replica and k.weight_dtype == w.weight_precision
                           and not k.speculative for cand, k in zip(cands, keys, strict=True)])
    order = np.lexsort((np.array([rows[cand.row].latency[1] for cand in cands]), np.array(options.instances()),
                        np.array([cand.migration_weeks for cand in cands]), ~same_shape, np.round(totals, 2)))
    return options.ordered(order.tolist())


def today_costing(w: Workload, cs: CandidateSet, rows: Sequence[RowResult], book: PriceBook) -> Costing | None:
    """Today's placement at today's replica count and capacity type, kept all day, to cost with the
    options (None: no placement, no engine row for it, or no price)."""
    if w.current is None or cs.current is None:
        return None
    price = book.price(w.current.instance.type, w.region, w.current.capacity_type)
    if not isinstance(price, Price):
        return None
    rate = rows[cs.candidates[cs.current].row].rate
    return Costing(w, cs, [Pick(cs.current, w.current.capacity_type, price)], np.array([rate]),
                   np.array([float(w.current.replicas)]), hourly=False)


def cost_current(w: Workload, cs: CandidateSet, rows: Sequence[RowResult], book: PriceBook,
                 costed: Option | None = None) -> CurrentCost | None:
    """Today's placement at today's replica count and capacity type, through the same path; one the
    engine cannot model is still billed (instance hours at its price), with no latency or capacity.
    `costed`: its `today_costing` already costed."""
    if w.current is None:
        return None
    price = book.price(w.current.instance.type, w.region, w.current.capacity_type)
    price_note = None if isinstance(price, Price) else (
        f"{price.explain()}: savings cannot be computed; supply today's rate with --prices or the "
        "price-override ConfigMap")
    replicas = np.array([float(w.current.replicas)])
    if cs.current is None:
        return _bill_unmodelled(w, replicas, price, price_note)
    c = cs.candidates[cs.current]
    row = rows[c.row]
    if not isinstance(price, Price):
        sizing = fleet(w, cs, [c], np.array([row.rate]), replicas, today=True)
        shape = (int(sizing.instances[0]), float(sizing.utilization[0]), float(sizing.capacity_tok_s[0]))
        return CurrentCost(c, row, *shape, None, price_note)
    if costed is None:
        today = today_costing(w, cs, rows, book)
        assert today is not None
        ((_, (costed,)),) = cost_all([today])
    return CurrentCost(c, row, costed.instances, costed.utilization, costed.capacity_tok_s, costed, None)


# Option.candidate of today's placement when the engine has no row for it (no candidate index).
NOT_A_CANDIDATE = -1


def _bill_unmodelled(w: Workload, replicas: F64, price: Price | NoPrice, price_note: str | None) -> CurrentCost:
    """Today's fleet where the engine cannot model the chip: the same sizing and cost formulas with an
    unknown per-replica rate, so the bill counts every instance hour as busy (the idle share is unknown)."""
    assert w.current is not None
    inst = w.current.instance
    sizing = size(np.array([math.nan]), w.demand, w.target_utilization, w.min_replicas,
                  np.array([float(w.current.chips_per_replica)]),
                  np.array([float(inst.chips or w.current.chips_per_replica)]), w.output_mean, replicas)
    instances = int(sizing.instances[0])
    if not isinstance(price, Price):
        return CurrentCost(None, None, instances, math.nan, 0.0, None, price_note)
    costs = monthly_cost(np.array([price.usd_per_hour]), sizing, w.overheads, w.retry_rate, np.zeros(1),
                         w.engineer_week_cost, w.amortization_months, w.accepted_tok_s)
    terms = {k: float(getattr(costs, k)[0]) for k in COST_FIELDS}
    option = Option(NOT_A_CANDIDATE, w.current.capacity_type, price, w.current.replicas, instances, math.nan, 0.0,
                    terms, float(costs.per_million_tokens[0]), cents(terms)["total"],
                    instance_hours=float(sizing.instance_hours[0]))
    return CurrentCost(None, None, instances, math.nan, 0.0, option, None)


def missing_price(answers: Sequence[NoPrice]) -> str:
    """Why no allowed capacity type has a price here, and where one exists."""
    first = answers[0]
    kinds = " or ".join(a.capacity_type for a in answers)
    text = f"no {kinds} price for {first.instance_type} in {first.region}"
    allowed = {a.capacity_type for a in answers}
    here = sorted({p.capacity_type for p in first.elsewhere if p.region == first.region} - allowed)
    there = sorted({f"{p.region} ({p.capacity_type})" for p in first.elsewhere if p.region != first.region})
    if here:
        text += f"; in {first.region} it is priced as {', '.join(here)} (allow it with spec.constraints.capacityTypes)"
    if there:
        text += f"; priced in {', '.join(there[:6])}{' ...' if len(there) > 6 else ''} (spec.constraints.region)"
    if not first.elsewhere:
        text += "; no source has any price for it"
    return text + "; or supply a rate with --prices (CLI) or the price-override ConfigMap"
