"""The fleet view: every recommended move with its saving and its cost in engineer-weeks, and under a
budget the set of moves with the largest total monthly saving that fits: an exact 0/1 knapsack
(weeks in the status's own resolution, savings in cents), optionally with at most K moves. Among sets
that save the same, the one using the fewest weeks wins. Moves that do not fit wait for the next budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from inferplace.rollout.subject import Subject

MAX_CELLS = 50_000_000  # the knapsack's table (moves x count x weeks): beyond this, ask for a coarser budget


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class Move:
    workload: str  # namespace/name
    summary: str  # what it moves to
    recommendation: str  # its id
    saving: Decimal  # USD per month
    weeks: Decimal  # migration engineer-weeks
    payback_months: Decimal | None
    confidence: str
    today: Decimal | None  # USD per month now


@dataclass(frozen=True)
class Plan:
    today: Decimal  # monthly spend today, where it is priced
    recommended: Decimal  # the same workloads on their recommendations
    moves: list[Move]  # every move that saves money, best first
    chosen: list[Move]  # within the budget, in the order to make them (shortest payback first)
    waiting: list[Move]  # the rest, best saving first
    budget_weeks: Decimal | None
    max_moves: int | None
    unpriced: list[str]  # workloads without today's price or a recommendation: not in the totals

    @property
    def saving(self) -> Decimal:
        return sum((m.saving for m in self.chosen), Decimal(0))

    @property
    def weeks(self) -> Decimal:
        return sum((m.weeks for m in self.chosen), Decimal(0))


def moves_of(subjects: Sequence[Subject]) -> tuple[list[Move], Decimal, Decimal, list[str]]:
    moves: list[Move] = []
    today = recommended = Decimal(0)
    unpriced: list[str] = []
    for s in subjects:
        rec, cur = s.status.recommendation, s.status.current
        now = Decimal(cur.monthly_cost) if cur is not None and cur.monthly_cost is not None else None
        if rec is None or now is None:
            unpriced.append(s.key)
            continue
        today += now
        saving = Decimal(rec.savings_monthly or 0)
        recommended += Decimal(rec.monthly_cost) if saving > 0 else now
        if saving > 0 and rec.id is not None:
            moves.append(Move(s.key, rec.summary, rec.id, saving, Decimal(rec.migration_weeks),
                              Decimal(rec.payback_months) if rec.payback_months is not None else None,
                              rec.confidence.level, now))
    moves.sort(key=lambda m: (-m.saving, m.weeks, m.workload))
    return moves, today, recommended, unpriced


def choose(moves: Sequence[Move], budget_weeks: Decimal | None, max_moves: int | None) -> list[int]:
    """Indices of the best set within the budget (exact)."""
    n = len(moves)
    if n == 0:
        return []
    if budget_weeks is None and max_moves is None:
        return list(range(n))
    places = max([-(m.weeks.as_tuple().exponent) for m in moves] + [0])  # type: ignore[operator]
    scale = 10 ** min(int(places), 3)
    weights = [int(m.weeks * scale) for m in moves]
    values = np.array([int(m.saving * 100) for m in moves], dtype=np.int64)
    cap = int(budget_weeks * scale) if budget_weeks is not None else sum(weights)
    k_max = min(max_moves, n) if max_moves is not None else n
    if (n + 1) * (k_max + 1) * (cap + 1) > MAX_CELLS:
        raise PlanError(f"{n} moves x {k_max} x a budget of {cap} steps is too large to plan exactly; "
                        "give --budget-weeks in whole weeks or fewer --max-moves")
    neg = np.int64(-1)
    # best[k, c]: the largest saving of at most k moves weighing at most c (-1: impossible)
    best = np.zeros((k_max + 1, cap + 1), dtype=np.int64)
    took = np.zeros((n, k_max + 1, cap + 1), dtype=bool)
    for i, (w, v) in enumerate(zip(weights, values, strict=True)):
        if w > cap:
            continue
        cand = np.full_like(best, neg)
        cand[1:, w:] = best[:-1, : cap + 1 - w] + v
        better = cand > best
        took[i] = better
        best = np.where(better, cand, best)
    top = best[k_max].max()
    c = int(np.argmax(best[k_max] == top))  # the fewest weeks that reach it
    k = k_max
    chosen: list[int] = []
    for i in range(n - 1, -1, -1):
        if took[i, k, c]:
            chosen.append(i)
            k -= 1
            c -= weights[i]
    return sorted(chosen)


def plan_moves(subjects: Sequence[Subject], budget_weeks: Decimal | None = None,
               max_moves: int | None = None) -> Plan:
    if budget_weeks is not None and budget_weeks < 0:
        raise PlanError(f"--budget-weeks must be >= 0, got {budget_weeks}")
    if max_moves is not None and max_moves < 0:
        raise PlanError(f"--max-moves must be >= 0, got {max_moves}")
    moves, today, recommended, unpriced = moves_of(subjects)
    picked = set(choose(moves, budget_weeks, max_moves))
    chosen = sorted((moves[i] for i in picked),
                    key=lambda m: (m.payback_months if m.payback_months is not None else Decimal(10**9), -m.saving))
    waiting = [m for i, m in enumerate(moves) if i not in picked]
    return Plan(today, recommended, moves, chosen, waiting, budget_weeks, max_moves, unpriced)
