"""`inferplace plan`: the fleet view. Monthly spend today against the recommendations, every move with
its saving, engineer-weeks, payback and confidence, and under `--budget-weeks` (and `--max-moves`)
the moves with the largest total saving that fit, chosen exactly; the rest wait for the next budget.

Exit status: 0; 2 bad input.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from inferplace.api.clock import AsOf, rfc3339
from inferplace.api.errors import terminal_safe
from inferplace.catalog import CatalogError
from inferplace.cli.as_of import as_of
from inferplace.cli.inputs import InputError
from inferplace.cli.instances import catalog_for
from inferplace.cli.subjects import add_source_arguments, subjects
from inferplace.rollout import Move, Plan, plan_moves
from inferplace.rollout.plan import PlanError

EXIT_OK, EXIT_USAGE = 0, 2


def _weeks(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of weeks such as 4 or 2.5") from None
    if not value.is_finite() or value < 0 or value > 10_000:
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 to 10000 weeks")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="which moves to make first under a budget of engineer-weeks",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(p)
    p.add_argument("--budget-weeks", type=_weeks, metavar="N", help="engineer-weeks available for migrations")
    p.add_argument("--max-moves", type=int, metavar="K", help="at most this many moves")
    p.add_argument("-o", "--output", choices=["table", "json"], default="table")
    p.add_argument("--plot", type=Path, metavar="FILE.svg|FILE.png",
                   help="cumulative monthly saving against cumulative engineer-weeks (needs matplotlib)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (InputError, CatalogError, PlanError) as exc:
        print(f"inferplace plan: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    cat = catalog_for(args)
    clock = as_of(args)
    found, problems = subjects(args, cat, clock)
    plan = plan_moves(found, args.budget_weeks, args.max_moves)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    # --from-cluster: each workload's answer is as of its own status.lastEvaluationTime.
    when = None if args.from_cluster else clock
    sys.stdout.write(_json(plan, when) if args.output == "json" else terminal_safe(_table(plan, when)))
    if args.plot is not None:
        _plot(plan, args.plot)
    return EXIT_USAGE if problems else EXIT_OK


def _move(m: Move) -> dict[str, Any]:
    return {"workload": m.workload, "to": m.summary, "recommendation": m.recommendation,
            "savingsMonthly": f"{m.saving:.2f}", "migrationWeeks": str(m.weeks),
            "paybackMonths": str(m.payback_months) if m.payback_months is not None else None,
            "confidence": m.confidence, "monthlyCostToday": f"{m.today:.2f}" if m.today is not None else None}


def _json(p: Plan, when: AsOf | None) -> str:
    body = {"asOf": rfc3339(when.at) if when else None,
            "monthlyCostToday": f"{p.today:.2f}", "monthlyCostRecommended": f"{p.recommended:.2f}",
            "budgetWeeks": str(p.budget_weeks) if p.budget_weeks is not None else None, "maxMoves": p.max_moves,
            "chosen": [_move(m) for m in p.chosen], "savingsMonthly": f"{p.saving:.2f}", "weeks": str(p.weeks),
            "waiting": [_move(m) for m in p.waiting], "notInTotals": p.unpriced}
    return json.dumps(body, indent=2) + "\n"


def _table(p: Plan, when: AsOf | None) -> str:
    out = io.StringIO()
    out.write(f"{when.describe()}\n" if when else "as of each workload's status.lastEvaluationTime (--from-cluster)\n")
    possible = p.today - p.recommended
    out.write(f"fleet: ${p.today:,.2f}/month today; ${p.recommended:,.2f}/month on every recommendation "
              f"(saves ${possible:,.2f}/month, {len(p.moves)} moves, "
              f"{sum((m.weeks for m in p.moves), Decimal(0))} engineer-weeks)\n")
    limits = []
    if p.budget_weeks is not None:
        limits.append(f"{p.budget_weeks} engineer-weeks")
    if p.max_moves is not None:
        limits.append(f"at most {p.max_moves} moves")
    out.write(f"budget: {', '.join(limits) or 'none (every move)'}: {len(p.chosen)} moves saving "
              f"${p.saving:,.2f}/month for {p.weeks} engineer-weeks\n")
    rows = [("", "workload", "to", "$/month saved", "weeks", "payback mo", "confidence")]
    rows += [("do" if i == 0 else "", m.workload, m.summary, f"{m.saving:,.2f}", str(m.weeks),
              str(m.payback_months) if m.payback_months is not None else "-", m.confidence)
             for i, m in enumerate(p.chosen)]
    rows += [("waits" if i == 0 else "", m.workload, m.summary, f"{m.saving:,.2f}", str(m.weeks),
              str(m.payback_months) if m.payback_months is not None else "-", m.confidence)
             for i, m in enumerate(p.waiting)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    right = (False, False, False, True, True, True, False)
    for r in rows:
        cells = [c.rjust(w) if rt else c.ljust(w) for c, w, rt in zip(r, widths, right, strict=True)]
        out.write(("  " + "  ".join(cells)).rstrip() + "\n")
    if p.unpriced:
        out.write(f"not in the totals (no price today or no recommendation): {', '.join(p.unpriced)}\n")
    return out.getvalue()


def _plot(p: Plan, path: Path) -> None:
    try:
        import matplotlib as mpl  # noqa: PLC0415 - optional

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'inferplace[plot]'") from None
    if path.suffix.lower() not in (".svg", ".png"):
        raise InputError("the plot's file name must end in .svg or .png")
    # In the order the moves are made: best saving per engineer-week first.
    order = sorted(p.moves, key=lambda m: -(m.saving / m.weeks) if m.weeks else Decimal("-1e30"))
    fig, ax = plt.subplots(figsize=(9, 5))
    try:
        x, y = [0.0], [0.0]
        for m in order:
            x.append(x[-1] + float(m.weeks))
            y.append(y[-1] + float(m.saving))
        ax.step(x, y, where="post", label="every move, best saving per week first")
        if p.budget_weeks is not None:
            ax.axvline(float(p.budget_weeks), color="red", linestyle="--", label=f"budget {p.budget_weeks} weeks")
        ax.axhline(float(p.saving), color="green", linestyle=":", label=f"chosen: ${p.saving:,.0f}/month")
        ax.set_xlabel("cumulative migration engineer-weeks")
        ax.set_ylabel("cumulative saving (USD per month)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, format=path.suffix.lower().lstrip("."))
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(fig)
