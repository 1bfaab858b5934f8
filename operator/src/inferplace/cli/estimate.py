"""`inferplace estimate`: predict throughput and latency for every row of a scenario CSV."""

from __future__ import annotations

import argparse
import csv
import sys
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from inferplace.api.errors import shown
from inferplace.catalog import CatalogError, load_catalog
from inferplace.cli.as_of import add_as_of_argument, as_of
from inferplace.cli.inputs import InputError, csv_rows
from inferplace.evidence.compare import compare, fidelity_report, format_report
from inferplace.evidence.predictions import OUTPUT_COLUMNS, estimate_rows
from inferplace.evidence.rows import REQUIRED_COLUMNS

EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 2, 3


def register(sub: Any) -> None:
    p = sub.add_parser("estimate", help="predict throughput, TTFT and TPOT for a scenario CSV",
                       description=__doc__)
    p.add_argument("--fidelity", action="store_true",
                   help="print each efficiency group's held-out errors and what its measurements cover, and exit")
    add_as_of_argument(p)
    p.add_argument("--scenarios", type=Path, metavar="FILE.csv",
                   help="scenarios, one per row (columns in the README, 'inferplace estimate'); '-' for stdin")
    p.add_argument("--out", type=Path, metavar="FILE.csv", help="write results here (default: stdout)")
    p.add_argument("--truth", type=Path, metavar="FILE.csv",
                   help="also print the error against published values (scenario_id,metric,value,unit)")
    p.add_argument("--quality", choices=("all", "ok"), default="all",
                   help="with --truth: score only rows whose `quality` column is 'ok'")
    p.set_defaults(run=run)


def _write(rows: list[dict[str, str]], stream: TextIO) -> None:
    w = csv.DictWriter(stream, fieldnames=list(OUTPUT_COLUMNS), lineterminator="\n")
    # Python 3.11's csv leaves a lone carriage return unquoted when the line ends in "\n", so a
    # scenario id holding one would split its row: such rows are written fully quoted.
    quoted = csv.DictWriter(stream, fieldnames=list(OUTPUT_COLUMNS), lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writeheader()
    for row in rows:
        (quoted if any("\r" in v for v in row.values()) else w).writerow(row)


def run(args: argparse.Namespace) -> int:
    if args.fidelity:
        return _fidelity(args)
    if args.scenarios is None:
        print("inferplace estimate: --scenarios FILE.csv is required (or --fidelity)", file=sys.stderr)
        return EXIT_USAGE
    try:
        rows = csv_rows(args.scenarios, REQUIRED_COLUMNS)
        truth = csv_rows(args.truth, ("scenario_id", "metric", "value")) if args.truth else None
        results, preds = estimate_rows(rows)
    except InputError as exc:
        print(f"inferplace estimate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CatalogError as exc:
        print(f"inferplace estimate: catalog error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.out:
        try:
            with args.out.open("w", encoding="utf-8", newline="") as fh:
                _write(results, fh)
        except OSError as exc:
            print(f"inferplace estimate: cannot write {args.out}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    else:
        _write(results, sys.stdout)
    failed = [r for r in results if r["error"]]
    for r in failed:
        sid = r["scenario_id"]
        print(f"inferplace estimate: {shown(sid if sid.isprintable() else repr(sid))}: {r['error']}", file=sys.stderr)
    if truth is not None:
        keep = {r["scenario_id"] for r in rows if args.quality == "all" or r.get("quality") == "ok"}
        acc_of = {r["scenario_id"]: r.get("accelerator", "") for r in rows}
        errors = compare({k: v for k, v in preds.items() if k in keep}, truth, acc_of)
        report = format_report(errors) if errors else "no truth value matched an estimated scenario"
        print(report, file=sys.stdout if args.out else sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK


def _fidelity(args: argparse.Namespace) -> int:
    try:
        clock = as_of(args)
        table = load_catalog().efficiency
    except (InputError, CatalogError) as exc:
        print(f"inferplace estimate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    fitted = str(table.fit.get("date", "")) or None
    age = (clock.at.date() - date.fromisoformat(fitted)).days if fitted else None
    sys.stdout.write(fidelity_report(table.groups, fitted, age))
    return EXIT_OK
