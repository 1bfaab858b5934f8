"""`inferplace crd`: print the CustomResourceDefinition generated from the API models, or check that
the committed copies (crds/ and the Helm chart's crds/) match them."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import Any

from inferplace.api.crd import FILE_NAME, render_crd

EXIT_OK, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2


def register(sub: Any) -> None:
    p = sub.add_parser("crd", help="print the generated CRD, or check committed copies against it",
                       description=__doc__)
    p.add_argument("--check", nargs="*", type=Path, metavar="DIR",
                   help=f"compare DIR/{FILE_NAME} (default: crds/ and charts/inferplace/crds/) with the models; "
                        "exit 1 on any difference")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    text = render_crd()
    if args.check is None:
        sys.stdout.write(text)
        return EXIT_OK
    status = EXIT_OK
    # Default: the repository's crds/ and the Helm chart's generated copy.
    chart = Path("charts/inferplace/crds")
    folders = args.check or [Path("crds"), *([chart] if chart.is_dir() else [])]
    for folder in folders:
        path = folder / FILE_NAME
        try:
            committed = path.read_text(encoding="utf-8")
        except OSError as exc:
            print(f"inferplace crd --check: cannot read {path}: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if committed != text:
            diff = difflib.unified_diff(committed.splitlines(keepends=True), text.splitlines(keepends=True),
                                        fromfile=str(path), tofile="generated from inferplace.api")
            sys.stderr.writelines(list(diff)[:200])
            print(f"\n{path} differs from the models: run `inferplace crd > {path}`", file=sys.stderr)
            status = EXIT_DRIFT
        else:
            print(f"{path}: up to date")
    return status
