"""Where owning the silicon starts to pay: the mean request rate above which the best self-hosted
placement costs less per month than the cheapest allowed managed API.

Both sides are costed by the same functions as the search, at multiples of today's traffic (the
same token mix and traffic shape): the fleet re-sized at each rate with its own strategy, the API
linear in the tokens. The crossing is found on a log grid from 1/1000 to 1000 times today's rate
and refined by bisection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inferplace.placement.cost import Option, totals_at_scales
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


def break_even(o: Outcome) -> BreakEven | None:
    if not o.options or not o.managed:
        return None
    best, api = o.options[0], o.managed[0]
    rate = o.rows[o.cs.candidates[best.candidate].row].rate
    hosted, _ = totals_at_scales(o.workload, o.cs, best, rate, GRID)
    apis = curve(o, api, GRID)
    cheaper = hosted <= apis
    if cheaper[0]:
        return BreakEven(best, api, None, None, True)
    if not cheaper.any():
        return BreakEven(best, api, None, None, False)
    i = int(np.argmax(cheaper))  # the first multiple where self-hosting is the cheaper
    lo, hi = float(GRID[i - 1]), float(GRID[i])
    for _ in range(ROUNDS):
        pts = np.linspace(lo, hi, REFINE)
        win = totals_at_scales(o.workload, o.cs, best, rate, pts)[0] <= curve(o, api, pts)
        j = int(np.argmax(win)) if win.any() else REFINE - 1
        lo, hi = float(pts[max(j - 1, 0)]), float(pts[j])
    _, util = totals_at_scales(o.workload, o.cs, best, rate, np.array([hi]))
    return BreakEven(best, api, hi, float(util[0]), False)
