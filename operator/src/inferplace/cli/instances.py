"""`--instances FILE`: instance types (and chips) a team declares itself, joining the catalog for this run."""

from __future__ import annotations

import argparse
from pathlib import Path

from inferplace.catalog import Catalog, load_catalog
from inferplace.catalog.declared import DeclaredError, read_declared
from inferplace.cli.inputs import InputError, read_bytes


def add_instances_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--instances", type=Path, metavar="FILE.yaml",
                   help="instance types the catalog lacks (new families, UltraServers, private offers): chips, "
                        "chip type or its specs, memory, interconnect and topology; price them with --prices; see "
                        "README")


def catalog_for(args: argparse.Namespace) -> Catalog:
    """The packaged catalog, with `--instances` added when given."""
    cat = load_catalog()
    path: Path | None = getattr(args, "instances", None)
    if path is None:
        return cat
    try:
        data = read_bytes(path)
    except InputError as exc:
        raise InputError(f"--instances: {exc}") from None
    try:
        return read_declared(data, cat)
    except DeclaredError as exc:
        raise InputError(f"--instances {path}: " + "; ".join(exc.problems)) from None
