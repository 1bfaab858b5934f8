"""What every CLI command that prices shares: `--region` and `--prices FILE`, and the price book they give."""

from __future__ import annotations

import argparse
import datetime
import re
from pathlib import Path
from typing import cast

from inferplace.api.spec import InferenceWorkloadSpec
from inferplace.api.vocabulary import MANAGED_APIS, ManagedApi
from inferplace.catalog import Catalog
from inferplace.cli.inputs import InputError, read_bytes
from inferplace.placement import RegionDefault
from inferplace.pricing import OverrideError, PriceBook, default_book, read_overrides

REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")


def add_price_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--region", metavar="REGION",
                   help="AWS region to price workloads in when their spec.constraints.region is not set "
                        "(default: the price snapshot's, us-east-1)")
    p.add_argument("--prices", type=Path, metavar="FILE.yaml",
                   help="your rates (negotiated, savings plans, prices no public source has), laid over every "
                        "other price; see README")
    p.add_argument("--managed-apis", type=managed_apis, metavar="NAME,...|none",
                   help=f"per-token APIs to weigh against self-hosting, replacing each spec's "
                        f"constraints.managedApis ({', '.join(MANAGED_APIS)}; none for none)")


def managed_apis(text: str) -> tuple[ManagedApi, ...]:
    """`--managed-apis`: a comma-separated list of per-token APIs, or none."""
    if text.strip().lower() == "none":
        return ()
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in MANAGED_APIS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"{text[:80]!r}: give none or a comma-separated list of "
                                         f"{', '.join(MANAGED_APIS)}")
    return tuple(dict.fromkeys(cast(ManagedApi, n) for n in names))


def with_cli_choices(args: argparse.Namespace, spec: InferenceWorkloadSpec) -> InferenceWorkloadSpec:
    """The spec as the CLI's flags ask to answer it (`--managed-apis` replaces spec.constraints.managedApis);
    the manifest itself is printed as written."""
    apis: tuple[ManagedApi, ...] | None = getattr(args, "managed_apis", None)
    if apis is None:
        return spec
    return spec.model_copy(update={"constraints": spec.constraints.model_copy(update={"managed_apis": list(apis)})})


def price_book(args: argparse.Namespace, cat: Catalog, today: datetime.date) -> PriceBook:
    """The price book `--prices` and `--region` ask for; a rate dated after `today` (the as-of) is refused."""
    if args.region is not None and not REGION.fullmatch(args.region):
        raise InputError(f"--region {args.region[:40]!r} is not an AWS region such as us-east-1")
    if args.prices is None:
        return default_book()
    try:
        data = read_bytes(args.prices)
    except InputError as exc:
        raise InputError(f"--prices: {exc}") from None
    try:
        overrides = read_overrides(data, cat.instances, today)
    except OverrideError as exc:
        raise InputError(f"--prices {args.prices}: " + "; ".join(exc.problems)) from None
    return default_book(overrides)


def region_default(args: argparse.Namespace, book: PriceBook) -> RegionDefault:
    if args.region is not None:
        return RegionDefault(args.region, "the CLI's --region")
    return RegionDefault(book.default_region, "the price snapshot's default region")
