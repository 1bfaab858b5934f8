"""Golden outputs: `inferplace recommend -o json` of every example, timestamps masked.

The figures of every example are pinned here so a refactor cannot change them unnoticed. A change
that alters them on purpose (new prices, a better model) regenerates the files in one deliberate
commit that says how each answer changed and why:

    python -m tests.golden.golden --update
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

from inferplace.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in (ROOT / "examples").glob("*/workload.yaml"))
GOLDEN = Path(__file__).parent / "recommend"
MASK = "<time>"
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def masked(node: Any) -> Any:
    """The document with every RFC 3339 timestamp replaced by a fixed mask."""
    if isinstance(node, dict):
        return {k: masked(v) for k, v in node.items()}
    if isinstance(node, list):
        return [masked(v) for v in node]
    if isinstance(node, str) and _TIMESTAMP.match(node):
        return MASK
    return node


def recommend_json(example: Path) -> tuple[int, Any]:
    """Exit code and the masked JSON document of `inferplace recommend -f EXAMPLE -o json`."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["recommend", "-f", str(example / "workload.yaml"), "-o", "json"])
    return code, masked(json.loads(out.getvalue()))


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
    parser.add_argument("--update", action="store_true", help="rewrite the golden files from today's code")
    if parser.parse_args().update:
        update()
    else:
        parser.print_help()
