"""Generate the bundled price tables from the sourced ones (as Karpenter generates its price table):
the newest sourced figure per instance type x region x capacity type, and per managed API x model x
region x pricing mode, every refused row listed with its reason.

    python scripts/generate_prices.py [--check]

`--check` exits 1 when a committed table differs from what the sourced ones give (a unit test checks it too).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from inferplace.pricing import managed, snapshot

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "operator/src/inferplace/pricing/data"
# (sourced table, generated file, generator, renderer)
TABLES = (
    (ROOT / "scripts/data/prices-2026.csv", DATA / snapshot.FILE, snapshot.generate, snapshot.render),
    (ROOT / "scripts/data/managed-api-prices-2026.csv", DATA / managed.FILE, managed.generate, managed.render),
)


def generated_text(table: Path, generate: Any, render: Any) -> str:
    with table.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return str(render(generate(rows, str(table.relative_to(ROOT)))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare with the committed tables instead of writing them")
    args = ap.parse_args()
    status = 0
    for table, out, generate, render in TABLES:
        text = generated_text(table, generate, render)
        if args.check:
            if out.read_text(encoding="utf-8") != text:
                print(f"{out.relative_to(ROOT)} differs from {table.relative_to(ROOT)}: run scripts/generate_prices.py",
                      file=sys.stderr)
                status = 1
            else:
                print(f"{out.relative_to(ROOT)}: up to date")
        else:
            out.write_text(text, encoding="utf-8")
            print(f"wrote {out.relative_to(ROOT)}")
    return status


if __name__ == "__main__":
    sys.exit(main())
