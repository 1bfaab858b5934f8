"""Nightly-sized run of the input-contract property suite (tests/properties): generated and mutated
manifests, YAML bytes, price files and scenario rows through the CLI's entry points.

    python scripts/fuzz_inputs.py                    # 6,250 examples per property (25,000 cases), random seed
    python scripts/fuzz_inputs.py --examples 200 --derandomize   # CI's fixed examples, more of them

Prints the number of generated cases run, the exit codes seen, the slowest case (with the start of its
input) and the peak memory of the process running every case (ru_maxrss: an upper bound on any one case),
with the case that raised it. Exit status is pytest's: a broken contract fails the run and hypothesis
prints the smallest input that breaks it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=6250, help="examples per property (4 properties)")
    parser.add_argument("--derandomize", action="store_true", help="the fixed examples CI runs, not a random seed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = os.environ | {"INFERPLACE_PROPERTY_EXAMPLES": str(args.examples),
                            "INFERPLACE_PROPERTY_REPORT": str(report)}
        if not args.derandomize:
            env["INFERPLACE_PROPERTY_RANDOM"] = "1"
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-m", "properties", "-p", "no:cacheprovider",
                                "--hypothesis-show-statistics", str(ROOT / "tests" / "properties")], cwd=ROOT, env=env)
        wall = time.perf_counter() - started
        if not report.exists():
            print("no report: the suite did not finish", file=sys.stderr)
            return code or 1
        stats = json.loads(report.read_text())
    print(f"\ncases run:        {stats['cases']:,} ({args.examples:,} examples per property, "
          f"{'fixed' if args.derandomize else 'random'} seed) in {wall:.1f} s")
    print(f"exit codes:       {', '.join(f'{k}: {v:,}' for k, v in sorted(stats['exit_codes'].items()))}")
    print(f"first case:       {stats.get('first_s', 0) * 1e3:.0f} ms (it also loads the catalogs and the engine)")
    print(f"slowest other:    {stats['slowest_s'] * 1e3:.0f} ms: inferplace {stats['slowest']}")
    print(f"  its input:      {stats['slowest_input'][:400]}")
    print(f"peak memory:      {stats['max_rss_mb']:.0f} MB RSS (process after its first case: "
          f"{stats['rss_before_mb']:.0f} MB)")
    print(f"  raised last by: {stats['max_rss_raised_by'][:400]}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
