"""Generate the bundled price snapshot from the sourced price table (as Karpenter generates its
price table): the newest sourced figure per instance type x region x capacity type, every refused
row listed with its reason.

    python scripts/generate_prices.py [--table scripts/data/prices-2026.csv] [--check]

`--check` exits 1 when the committed snapshot differs from what the table gives (CI runs it).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from inferplace.pricing.snapshot import FILE, generate, render

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "scripts/data/prices-2026.csv"
OUT = ROOT / "operator/src/inferplace/pricing/data" / FILE


def snapshot_text(table: Path) -> str:
    with table.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return render(generate(rows, str(table.relative_to(ROOT)) if table.is_relative_to(ROOT) else table.name))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--check", action="store_true", help="compare with the committed snapshot instead of writing it")
    args = ap.parse_args()
    text = snapshot_text(args.table.resolve())
    if args.check:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.relative_to(ROOT)} differs from {args.table}: run scripts/generate_prices.py", file=sys.stderr)
            return 1
        print(f"{OUT.relative_to(ROOT)}: up to date")
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
