"""`inferplace recommend`: where each InferenceWorkload in a file should run and what it saves.

Exit status: 0 every workload got a recommendation; 3 some workload has no placement meeting its
SLOs (its reasons are printed); 2 bad input (each problem on stderr as `field.path: problem`; the
workloads that were valid are still answered).
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inferplace.api.clock import AsOf
from inferplace.catalog import Catalog, CatalogError
from inferplace.cli import formatters
from inferplace.cli.as_of import add_as_of_argument, as_of
from inferplace.cli.inputs import InputError, manifests
from inferplace.cli.instances import add_instances_argument, catalog_for
from inferplace.cli.pricing import add_price_arguments, price_book, region_default, with_cli_choices
from inferplace.placement import WorkloadError, recommend
from inferplace.placement.settings import DEFAULT_ALTERNATIVES, DEFAULTS, ReportSettings, Settings

EXIT_OK, EXIT_USAGE, EXIT_NO_PLACEMENT = 0, 2, 3


def register(sub: Any) -> None:
    p = sub.add_parser("recommend", help="recommend node pools for InferenceWorkload manifests",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-f", "--filename", required=True, type=Path, metavar="FILE.yaml", action="append",
                   help="InferenceWorkload manifests: a multi-document YAML file, a directory (every *.yaml "
                        "in it, recursively) or '-' for stdin; repeat to read several")
    p.add_argument("-o", "--output", choices=sorted(formatters.TEXT), default="table")
    p.add_argument("--top", type=int, default=DEFAULT_ALTERNATIVES, metavar="N",
                   help=f"alternatives to show per workload (default {DEFAULT_ALTERNATIVES})")
    p.add_argument("--plot", type=Path, metavar="FILE.svg|FILE.png",
                   help="draw cost per 1M output tokens against projected TPOT p95 (needs matplotlib)")
    add_price_arguments(p)
    add_instances_argument(p)
    add_as_of_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (InputError, CatalogError, formatters.PlotError) as exc:
        print(f"inferplace recommend: {exc}", file=sys.stderr)
        return EXIT_USAGE


CHUNK = 128  # workloads searched together; each chunk's answers are written and dropped before the next


@dataclass
class Tally:
    """What the exit status needs of answers already written and dropped."""

    problems: list[str] = field(default_factory=list)
    unplaced: int = 0
    printed: int = 0  # problems already on stderr


def reporting(alternatives: int) -> Settings:
    """The search's settings when `alternatives` are shown (`--top N`, `--option N`): only those are
    assessed and formatted (at most DEFAULTS' 10 however many are asked for, as before)."""
    shown = min(max(alternatives, 0), DEFAULTS.report.max_alternatives)
    return DEFAULTS.model_copy(update={"report": ReportSettings(max_alternatives=shown)})


def answers(args: argparse.Namespace, cat: Catalog, clock: AsOf, tally: Tally,
            alternatives: int) -> Iterator[formatters.Answer]:
    """Every manifest in `args.filename` answered as of `clock` (priced as `add_price_arguments` says) with
    up to `alternatives` alternatives, a chunk at a time; each problem goes into `tally` as it is found."""
    book = price_book(args, cat, clock.at.date())
    region = region_default(args, book)
    settings = reporting(alternatives)
    found, problems = manifests(args.filename)
    tally.problems += problems
    for start in range(0, len(found), CHUNK):
        chunk = found[start:start + CHUNK]
        items = [(m.workload.metadata.name, with_cli_choices(args, m.workload.spec)) for m in chunk]
        for m, res in zip(chunk, recommend(items, cat, book, clock(), region, settings=settings), strict=True):
            if isinstance(res, WorkloadError):
                tally.problems += [f"{m.label}: {p}" for p in res.problems]
                continue
            if res.status.recommendation is None:
                tally.unplaced += 1
            yield formatters.Answer(m.document, m.workload, res)


def _run(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise InputError(f"--top must be >= 0, got {args.top}")
    clock = as_of(args)
    tally = Tally()
    stream = answers(args, catalog_for(args), clock, tally, args.top)
    options = formatters.Options(top=args.top, as_of=clock)
    drawn: list[formatters.Answer] = []  # --plot draws every workload at once: only then are answers kept
    first = next(stream, None)
    if first is not None:
        def written() -> Iterator[formatters.Answer]:
            for a in itertools.chain([first], stream):
                _report(tally)
                if args.plot is not None:
                    drawn.append(a)
                yield a
        for piece in formatters.TEXT[args.output](written(), options):
            sys.stdout.write(piece)
    _report(tally)
    if args.plot is not None and drawn:
        image = formatters.FILES["plot"](drawn, options, args.plot.suffix)
        try:
            args.plot.write_bytes(image)
        except OSError as exc:
            raise InputError(f"cannot write {args.plot}: {exc}") from None
    if tally.problems:
        return EXIT_USAGE
    return EXIT_NO_PLACEMENT if tally.unplaced else EXIT_OK


def _report(tally: Tally) -> None:
    """Print the problems found since the last call (as they are found, beside the answers)."""
    for line in tally.problems[tally.printed:]:
        print(f"error: {line}", file=sys.stderr)
    tally.printed = len(tally.problems)
