"""`inferplace prices`: the prices in effect, each with its source, capacity type, region and age, so
a user can see why a cost is what it is. `inferplace prices refresh` reads live prices from the AWS
price APIs (needs the 'aws' extra and pricing:GetProducts + ec2:DescribeSpotPriceHistory) and writes
them as a rates file that `--prices` and the chart's price ConfigMap accept.

Exit status: 0 done; 2 bad input; 3 (refresh) some calls failed: the file holds what was read.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pydantic_core
import yaml

from inferplace.api.clock import rfc3339, system_clock
from inferplace.api.errors import terminal_safe
from inferplace.catalog import CatalogError, load_catalog
from inferplace.cli.as_of import ENV, add_as_of_argument, as_of
from inferplace.cli.inputs import InputError
from inferplace.cli.pricing import REGION, add_price_arguments, price_book
from inferplace.pricing import Price

EXIT_OK, EXIT_NONE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


def register(sub: Any) -> None:
    p = sub.add_parser("prices", help="the prices in effect, or refresh them from AWS", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_price_arguments(p)
    p.add_argument("--instance-type", metavar="TYPE", help="only this instance type")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    add_as_of_argument(p)
    actions = p.add_subparsers(dest="action", metavar="{refresh}")
    r = actions.add_parser("refresh", help="read live prices from AWS and write a rates file",
                           description="Read on-demand, reserved and spot prices from the AWS price APIs (standard "
                                       "credential chain) and write them as a rates file for --prices.")
    r.add_argument("--region", dest="refresh_regions", action="append", required=True, metavar="REGION",
                   help="region to read (repeatable)")
    r.add_argument("--out", type=Path, required=True, metavar="FILE.yaml")
    r.add_argument("--instance-type", dest="refresh_types", action="append", metavar="TYPE",
                   help="only these instance types (repeatable; default: every type the catalog knows)")
    r.add_argument("--no-spot", action="store_true", help="skip spot prices")
    r.add_argument("--timeout", type=_seconds, default=10.0, metavar="SECONDS",
                   help="per call (default 10; 0.1 to 300)")
    p.set_defaults(run=run)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of seconds such as 10 or 2.5") from None
    if not 0.1 <= value <= 300:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"{text[:40]!r}: give 0.1 to 300 seconds")
    return value


def _row(p: Price, today: date) -> dict[str, Any]:
    return {"instanceType": p.instance_type, "region": p.region, "capacityType": p.capacity_type,
            "usdPerHour": f"{p.usd_per_hour:.10g}", "asOf": p.as_of.isoformat(), "ageDays": p.age_days(today),
            "provider": p.provider, "source": p.source, "note": p.note}


def run(args: argparse.Namespace) -> int:
    try:
        if args.action == "refresh":
            return _refresh(args)
        return _list(args)
    except (InputError, CatalogError) as exc:
        print(f"inferplace prices: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _list(args: argparse.Namespace) -> int:
    cat = load_catalog()
    clock = as_of(args)
    book = price_book(args, cat, clock.at.date())
    if args.instance_type is not None:
        cat.instance(args.instance_type)  # an unknown type says so, with the closest names (exit 2)
    rows = [_row(p, clock.at.date()) for p in book.listing(args.region, args.instance_type)]
    if not rows:
        # Nothing matched: say what was asked, and exit 1 (0 is an answer, 2 a mistake in the command).
        asked = " ".join(f"{k} {v}" for k, v in (("--instance-type", args.instance_type), ("--region", args.region))
                         if v)
        print(f"inferplace prices: no prices match {asked or 'the price sources'}; `inferplace prices` lists them all",
              file=sys.stderr)
        if args.output == "json":
            sys.stdout.write(pydantic_core.to_json({"asOf": rfc3339(clock.at), "prices": []}, indent=2).decode()
                             + "\n")
        return EXIT_NONE
    if args.output == "json":
        body = {"asOf": rfc3339(clock.at), "prices": rows}
        sys.stdout.write(pydantic_core.to_json(body, indent=2).decode() + "\n")
        return EXIT_OK
    print(f"{clock.describe()}: ages count to this day")
    head = ("instance", "region", "capacity", "$/hour", "as of", "age (d)", "from")
    cells = [head, *((r["instanceType"], r["region"], r["capacityType"], r["usdPerHour"], r["asOf"], str(r["ageDays"]),
                      r["provider"]) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    for c in cells:
        line = "  ".join(v.rjust(w) if i in (3, 5) else v.ljust(w) for i, (v, w) in enumerate(zip(c, widths,
                                                                                                  strict=True)))
        print(terminal_safe(line.rstrip()))
    return EXIT_OK


def _refresh(args: argparse.Namespace) -> int:
    clock = as_of(args)
    if clock.fixed:
        raise InputError(f"{clock.source}: refresh reads today's live prices and stamps them with the system "
                         f"clock; an as-of applies to listing prices (unset {ENV} for refresh)")
    bad = [r for r in args.refresh_regions if not REGION.fullmatch(r)]
    if bad:
        raise InputError(f"--region {bad[0][:40]!r} is not an AWS region such as us-east-1")
    try:
        from inferplace.pricing.aws import botocore_clients, fetch  # noqa: PLC0415 - optional extra

        clients = botocore_clients(args.timeout)
    except ImportError:
        raise InputError("refresh needs botocore: pip install 'inferplace[aws]'") from None
    types = args.refresh_types or sorted(load_catalog().instances)
    got = fetch(clients, types, args.refresh_regions, clock.at, spot=not args.no_spot)
    for problem in got.problems:
        print(f"inferplace prices refresh: {problem}", file=sys.stderr)
    if not got.prices:
        print("inferplace prices refresh: no prices were read; nothing written", file=sys.stderr)
        return EXIT_PARTIAL if got.problems else EXIT_OK
    now = rfc3339(system_clock())
    doc = {"prices": [{"instanceType": p.instance_type, "capacityType": p.capacity_type,
                       "usdPerHour": f"{p.usd_per_hour:.10g}", "source": f"{p.source}, read {now}",
                       "date": p.as_of.isoformat(), "region": p.region}
                      for p in sorted(got.prices, key=lambda p: (p.instance_type, p.region, p.capacity_type))]}
    header = (f"# Written by `inferplace prices refresh` at {now} from the AWS price APIs ({got.calls} calls, "
              f"{len(got.problems)} problem(s)).\n# Pass it with --prices, or put it in the chart's price ConfigMap.\n")
    try:
        args.out.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=120), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {args.out}: {exc}") from None
    print(f"wrote {len(got.prices)} prices to {args.out}")
    return EXIT_PARTIAL if got.problems else EXIT_OK
