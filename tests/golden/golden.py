"""Golden outputs: `inferplace recommend -o json --as-of AS_OF` of every example.

The figures of every example are pinned here so a refactor cannot change them unnoticed. They are
written and compared at one fixed as-of, so price ages, staleness and every timestamp are the same
on any day: a golden file changes only when behaviour does. A change that alters them on purpose
(new prices, a better model) regenerates the files in one deliberate commit that says how each
answer changed and why:

    python -m tests.golden.golden --update
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path
from typing import Any

from inferplace.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/workload.yaml"))
GOLDEN = Path(__file__).parent / "recommend"
AS_OF = "2026-12-01"  # the one clock of every golden file; move it only with a deliberate regeneration


def recommend_text(example: Path, *extra: str, as_of: str = AS_OF) -> tuple[int, str]:
    """Exit code and stdout of `inferplace recommend -f EXAMPLE -o json --as-of AS_OF [extra...]`."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["recommend", "-f", str(example / "workload.yaml"), "-o", "json", "--as-of", as_of, *extra])
    return code, out.getvalue()


# Files an example may carry beside its manifest, and the flag each is passed with (as its README says).
SIDE_FILES = {"instances.yaml": "--instances", "whatif-rate.yaml": "--prices"}


def side_arguments(example: Path) -> list[str]:
    return [arg for name, flag in SIDE_FILES.items() if (example / name).is_file()
            for arg in (flag, str(example / name))]


def recommend_json(example: Path, as_of: str = AS_OF) -> tuple[int, Any]:
    """Exit code and the JSON document of `inferplace recommend -f EXAMPLE -o json --as-of AS_OF` (with the
    example's own instance types and rates, where it has them)."""
    code, text = recommend_text(example, *side_arguments(example), as_of=as_of)
    return code, json.loads(text)


def golden_path(example: Path) -> Path:
    return GOLDEN / f"{example.name}.json"


def update() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for example in EXAMPLES:
        code, doc = recommend_json(example)
        golden_path(example).write_text(json.dumps({"exitCode": code, "output": doc}, indent=2) + "\n")
        print(f"wrote {golden_path(example).relative_to(ROOT)} (exit {code})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true",
                        help=f"rewrite the golden files from today's code, as of {AS_OF}")
    if parser.parse_args().update:
        update()
    else:
        parser.print_help()
