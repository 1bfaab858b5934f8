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

from inferplace.placement.candidates import CandidateSet
from inferplace.placement.cost import Option, Pick, cost, monthly_totals
from inferplace.placement.predict import RowResult
from inferplace.placement.workload import Workload
from inferplace.pricing import NoPrice, Price


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


def break_even(w: Workload, cs: CandidateSet, picks: Sequence[Pick], rates: np.ndarray,
               target_total: float) -> list[float | None]:
    """Per pick, the hourly rate per instance at which its monthly total equals `target_total`."""
    if not picks:
        return []
    hourly = np.concatenate([np.full(len(picks), 1.0), np.full(len(picks), 2.0)])
    both = monthly_totals(w, cs, [*picks, *picks], np.concatenate([rates, rates]), usd_per_hour=hourly)
    one, two = both[:len(picks)], both[len(picks):]
    out: list[float | None] = []
    for t1, t2 in zip(one.tolist(), two.tolist(), strict=True):
        slope, fixed = t2 - t1, 2 * t1 - t2
        rate = (target_total - fixed) / slope if slope > 0 else math.nan
        out.append(rate if math.isfinite(rate) and rate > 0 else None)
    return out


def what_it_takes(w: Workload, cs: CandidateSet, rows: Sequence[RowResult], losers: Sequence[Option],
                  unpriced: dict[int, tuple[NoPrice, ...]], target_total: float | None) -> dict[str, WhatItTakes]:
    """By instance type: the break-even rate of each node pool's best loser, and for a candidate without a
    price here, its cost at the nearest price and its break-even (the cheapest such candidate of its type)."""
    if target_total is None:
        return {}
    out: dict[str, WhatItTakes] = {}
    picks = [Pick(o.candidate, o.capacity_type, o.price) for o in losers]
    rates = np.array([rows[cs.candidates[o.candidate].row].rate for o in losers])
    for opt, rate in zip(losers, break_even(w, cs, picks, rates, target_total), strict=True):
        out[cs.candidates[opt.candidate].instance.type] = WhatItTakes(cs.candidates[opt.candidate].instance.type, rate)
    nearest: dict[str, Price | None] = {}  # by instance type: its candidates share their price answers
    for ci, answers in unpriced.items():
        inst = cs.candidates[ci].instance.type
        if inst not in nearest:
            nearest[inst] = nearest_price(answers)
    near = [(ci, p) for ci in unpriced if (p := nearest[cs.candidates[ci].instance.type]) is not None]
    if not near:
        return out
    picks = [Pick(ci, p.capacity_type, p) for ci, p in near]
    cand_rows = [rows[cs.candidates[ci].row] for ci, _ in near]
    rates = np.array([r.rate for r in cand_rows])
    _, options = cost(w, cs, picks, rates, np.array([float(r.replicas) for r in cand_rows]))
    evens = break_even(w, cs, picks, rates, target_total)
    for (ci, _), opt, rate in zip(near, options, evens, strict=True):
        inst = cs.candidates[ci].instance.type
        old = out.get(inst)
        if old is None or old.nearest is None or opt.total_cents < old.nearest.total_cents:
            out[inst] = WhatItTakes(inst, rate, opt)
    return out
