"""Where owning the silicon starts to pay: the mean request rate above which the best self-hosted
placement costs less per month than the cheapest allowed managed API.

Both sides are costed by the same functions as the search, at multiples of today's traffic (the
same token mix and traffic shape): the fleet re-sized at each rate with its own strategy, the API
linear in the tokens. The crossing is found on a log grid from 1/1000 to 1000 times today's rate
and refined by bisection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from inferplace.placement.cost import Option, at_scales, totals_and_utilizations, totals_at_scales
from inferplace.placement.managed import ManagedOption, priced
from inferplace.placement.search import Outcome

GRID = np.logspace(-3, 3, 61)  # multiples of today's mean traffic
REFINE = 16  # points per bisection round
ROUNDS = 2


@dataclass(frozen=True)
class BreakEven:
    self_hosted: Option
    managed: ManagedOption
    scale: float | None  # multiple of today's traffic where self-hosting becomes the cheaper; None: not in GRID
    utilization: float | None  # of the self-hosted fleet there
    cheaper_below_grid: bool  # self-hosting wins even at the smallest multiple searched


def curve(o: Outcome, opt: Option | ManagedOption, scales: np.ndarray) -> np.ndarray:
    """Monthly totals of one option at `scales` times today's traffic."""
    if isinstance(opt, ManagedOption):
        return priced(o.workload, [opt.price] * scales.size, [opt.migration_weeks] * scales.size, scales)[0]
    rate = o.rows[o.cs.candidates[opt.candidate].row].rate
    return totals_at_scales(o.workload, o.cs, opt, rate, scales)[0]


@dataclass(frozen=True)
class CostCurve:
    """Monthly cost of one node pool's best option (re-sized at each rate) against the mean request rate."""

    node_pool: str
    label: str
    managed: bool
    requests_per_second: np.ndarray
    monthly_usd: np.ndarray
    chosen: bool


def cost_curves(o: Outcome, label: Callable[[Outcome, Option | ManagedOption], str]) -> list[CostCurve]:
    """The best option of each node pool and each managed API over GRID, cheapest today first."""
    chosen = o.chosen
    best = sorted(o.best_per_node_pool().items(), key=lambda kv: kv[1].total_cents)
    return [CostCurve(pool, label(o, opt), isinstance(opt, ManagedOption), GRID * o.workload.rps,
                      curve(o, opt, GRID), opt is chosen) for pool, opt in best]


def break_evens(outcomes: Sequence[Outcome]) -> list[BreakEven | None]:
    """Per outcome, where its best self-hosted placement starts to cost less than its cheapest API
    (None: it has no option or no API). Every outcome's grid and each bisection round are costed
    together, one pass each; the fleet's utilization at the crossing is the last round's."""
    out: list[BreakEven | None] = [None] * len(outcomes)

    def hosted(ks: Sequence[int], scales: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        costings = []
        for k, pts in zip(ks, scales, strict=True):
            o = outcomes[k]
            best = o.options[0]
            costings.append(at_scales(o.workload, o.cs, best, o.rows[o.cs.candidates[best.candidate].row].rate, pts))
        return totals_and_utilizations(costings)

    todo = [k for k, o in enumerate(outcomes) if o.options and o.managed]
    # Outcome -> the multiples the crossing lies between, and the fleet's utilization at the upper one.
    crossing: dict[int, tuple[float, float, float]] = {}
    for k, (totals, util) in zip(todo, hosted(todo, [GRID] * len(todo)), strict=True):
        o = outcomes[k]
        cheaper = totals <= curve(o, o.managed[0], GRID)
        if cheaper[0] or not cheaper.any():
            out[k] = BreakEven(o.options[0], o.managed[0], None, None, bool(cheaper[0]))
            continue
        i = int(np.argmax(cheaper))  # the first multiple where self-hosting is the cheaper
        crossing[k] = (float(GRID[i - 1]), float(GRID[i]), float(util[i]))
    for _ in range(ROUNDS):
        ks = list(crossing)
        pts = [np.linspace(lo, hi, REFINE) for lo, hi, _ in crossing.values()]
        for k, p, (totals, util) in zip(ks, pts, hosted(ks, pts), strict=True):
            win = totals <= curve(outcomes[k], outcomes[k].managed[0], p)
            j = int(np.argmax(win)) if win.any() else REFINE - 1
            crossing[k] = (float(p[max(j - 1, 0)]), float(p[j]), float(util[j]))
    for k, (_, hi, util_there) in crossing.items():
        o = outcomes[k]
        out[k] = BreakEven(o.options[0], o.managed[0], hi, util_there, False)
    return out
