"""What a placement that did not win would take to win.

A candidate that loses on price (or has no price where the workload runs) gets two figures: its
cost at the nearest price that exists (another capacity type in the region, else the same capacity
type in another region), and its break-even rate: the hourly price per instance at which its monthly
total equals the recommendation's. A month's total is affine in the hourly price (the instance bill
and the overheads on it scale with it, migration does not), so two costings through the one cost
formula give the line, and the break-even is where it meets the recommendation's total.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inferplace.placement.candidates import CandidateSet
from inferplace.placement.cost import Costing, Option, Pick, cost_all, totals_all
from inferplace.placement.predict import RowResult
from inferplace.placement.workload import Workload
from inferplace.pricing import NoPrice, Price

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class WhatItTakes:
    instance_type: str
    break_even_usd_per_hour: float | None  # None: no hourly rate wins (costs beyond the bill already lose)
    nearest: Option | None = None  # costed at the nearest price that exists (when it has none here)


def nearest_price(answers: Sequence[NoPrice]) -> Price | None:
    """The price closest to what the workload asked for: another capacity type in its region, else the
    first allowed capacity type elsewhere, else any; the cheapest of the closest."""
    if not answers or not answers[0].elsewhere:
        return None
    first = answers[0]
    wanted = [a.capacity_type for a in answers]

    def distance(p: Price) -> tuple[int, float, str]:
        rank = 0 if p.region == first.region else 1 if p.capacity_type in wanted else 2
        return rank, p.usd_per_hour, f"{p.region}/{p.capacity_type}"

    return min(first.elsewhere, key=distance)


def _break_even_costing(w: Workload, cs: CandidateSet, picks: Sequence[Pick], rates: F64) -> Costing:
    """`picks` at $1 and at $2 an instance-hour: two points of each one's affine monthly total."""
    hourly = np.concatenate([np.full(len(picks), 1.0), np.full(len(picks), 2.0)])
    return Costing(w, cs, [*picks, *picks], np.concatenate([rates, rates]), usd_per_hour=hourly)


def _break_evens(both: F64, target_total: float) -> list[float | None]:
    """Per pick of a `_break_even_costing` (its totals `both`), the hourly rate per instance at which
    its monthly total equals `target_total`."""
    n = both.size // 2
    out: list[float | None] = []
    for t1, t2 in zip(both[:n].tolist(), both[n:].tolist(), strict=True):
        slope, fixed = t2 - t1, 2 * t1 - t2
        rate = (target_total - fixed) / slope if slope > 0 else math.nan
        out.append(rate if math.isfinite(rate) and rate > 0 else None)
    return out


@dataclass(frozen=True)
class Question:
    """What one workload's losers need costed: each node pool's best loser at two hourly rates, and
    each candidate without a price here at the nearest price (and at two hourly rates)."""

    cs: CandidateSet
    losers: Sequence[Option]
    near: list[tuple[int, Price]]  # (candidate, its nearest price)
    losers_at_two_rates: Costing | None
    near_at_its_price: Costing | None
    near_at_two_rates: Costing | None

    def costings(self) -> list[Costing]:
        return [c for c in (self.losers_at_two_rates, self.near_at_two_rates) if c is not None]


def question(w: Workload, cs: CandidateSet, rows: Sequence[RowResult], losers: Sequence[Option],
             unpriced: dict[int, tuple[NoPrice, ...]]) -> Question:
    """What `what_it_takes` needs costed for these losers and candidates without a price."""
    picks = [Pick(o.candidate, o.capacity_type, o.price) for o in losers]
    rates = np.array([rows[cs.candidates[o.candidate].row].rate for o in losers])
    nearest: dict[str, Price | None] = {}  # by instance type: its candidates share their price answers
    for ci, answers in unpriced.items():
        inst = cs.candidates[ci].instance.type
        if inst not in nearest:
            nearest[inst] = nearest_price(answers)
    near = [(ci, p) for ci in unpriced if (p := nearest[cs.candidates[ci].instance.type]) is not None]
    if not near:
        return Question(cs, losers, near, _break_even_costing(w, cs, picks, rates) if picks else None, None, None)
    near_picks = [Pick(ci, p.capacity_type, p) for ci, p in near]
    cand_rows = [rows[cs.candidates[ci].row] for ci, _ in near]
    near_rates = np.array([r.rate for r in cand_rows])
    return Question(cs, losers, near, _break_even_costing(w, cs, picks, rates) if picks else None,
                    Costing(w, cs, near_picks, near_rates, np.array([float(r.replicas) for r in cand_rows])),
                    _break_even_costing(w, cs, near_picks, near_rates))


def what_it_takes(questions: Sequence[Question], target_totals: Sequence[float | None]) -> list[dict[str, WhatItTakes]]:
    """Per question (None target: no recommendation to beat, nothing asked), by instance type: the
    break-even rate of each node pool's best loser, and for a candidate without a price here, its cost
    at the nearest price and its break-even (the cheapest such candidate of its type). Every question's
    costings go through the cost model together."""
    asked = [q for q, t in zip(questions, target_totals, strict=True) if t is not None]
    totals = iter(totals_all([c for q in asked for c in q.costings()]))
    near_costed = iter(cost_all([q.near_at_its_price for q in asked if q.near_at_its_price is not None]))
    out: list[dict[str, WhatItTakes]] = []
    for q, target in zip(questions, target_totals, strict=True):
        if target is None:
            out.append({})
            continue
        found: dict[str, WhatItTakes] = {}
        cs = q.cs
        if q.losers_at_two_rates is not None:
            for opt, rate in zip(q.losers, _break_evens(next(totals), target), strict=True):
                inst = cs.candidates[opt.candidate].instance.type
                found[inst] = WhatItTakes(inst, rate)
        if q.near_at_its_price is not None:
            _, options = next(near_costed)
            evens = _break_evens(next(totals), target)
            cheapest: dict[str, tuple[float, int]] = {}  # by instance type: its first cheapest (only that is built)
            for k, ((ci, _), cents) in enumerate(zip(q.near, options.totals_cents(), strict=True)):
                inst = cs.candidates[ci].instance.type
                if inst not in cheapest or cents < cheapest[inst][0]:
                    cheapest[inst] = (cents, k)
            for inst, (cents, k) in cheapest.items():
                old = found.get(inst)
                if old is None or old.nearest is None or cents < old.nearest.total_cents:
                    found[inst] = WhatItTakes(inst, evens[k], options[k])
        out.append(found)
    return out
