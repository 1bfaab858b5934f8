"""`inferplace recommend`: where each InferenceWorkload in a file should run and what it saves.

Exit status: 0 every workload got a recommendation; 3 some workload has no placement meeting its
SLOs (its reasons are printed); 2 bad input (each problem on stderr as `field.path: problem`; the
workloads that were valid are still answered).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from inferplace.api.clock import AsOf
from inferplace.catalog import Catalog, CatalogError, load_catalog
from inferplace.cli import formatters
from inferplace.cli.as_of import add_as_of_argument, as_of
from inferplace.cli.inputs import InputError, manifests
from inferplace.cli.pricing import add_price_arguments, price_book, region_default
from inferplace.placement import WorkloadError, recommend

EXIT_OK, EXIT_USAGE, EXIT_NO_PLACEMENT = 0, 2, 3


def register(sub: Any) -> None:
    p = sub.add_parser("recommend", help="recommend node pools for InferenceWorkload manifests",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-f", "--filename", required=True, type=Path, metavar="FILE.yaml", action="append",
                   help="InferenceWorkload manifests: a multi-document YAML file, a directory (every *.yaml "
                        "in it, recursively) or '-' for stdin; repeat to read several")
    p.add_argument("-o", "--output", choices=sorted(formatters.TEXT), default="table")
    p.add_argument("--top", type=int, default=5, metavar="N",
                   help="alternatives to show per workload (default 5)")
    p.add_argument("--plot", type=Path, metavar="FILE.svg|FILE.png",
                   help="draw cost per 1M output tokens against projected TPOT p95 (needs matplotlib)")
    add_price_arguments(p)
    add_as_of_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (InputError, CatalogError, formatters.PlotError) as exc:
        print(f"inferplace recommend: {exc}", file=sys.stderr)
        return EXIT_USAGE


def answer(args: argparse.Namespace, cat: Catalog, clock: AsOf) -> tuple[list[formatters.Answer], list[str]]:
    """Every manifest in `args.filename` answered as of `clock` (priced as `add_price_arguments` says),
    and the problems."""
    book = price_book(args, cat)
    found, problems = manifests(args.filename)
    items = [(m.workload.metadata.name, m.workload.spec) for m in found]
    results = recommend(items, cat, book, clock(), region_default(args, book)) if found else []
    answers: list[formatters.Answer] = []
    for m, res in zip(found, results, strict=True):
        if isinstance(res, WorkloadError):
            problems += [f"{m.label}: {p}" for p in res.problems]
        else:
            answers.append(formatters.Answer(m.document, m.workload, res))
    return answers, problems


def _run(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise InputError(f"--top must be >= 0, got {args.top}")
    clock = as_of(args)
    answers, problems = answer(args, load_catalog(), clock)
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    options = formatters.Options(top=args.top, as_of=clock)
    if answers:
        sys.stdout.write(formatters.TEXT[args.output](answers, options))
    if args.plot is not None and answers:
        image = formatters.FILES["plot"](answers, options, args.plot.suffix)
        try:
            args.plot.write_bytes(image)
        except OSError as exc:
            raise InputError(f"cannot write {args.plot}: {exc}") from None
    if problems:
        return EXIT_USAGE
    return EXIT_OK if all(a.report.status.recommendation for a in answers) else EXIT_NO_PLACEMENT
