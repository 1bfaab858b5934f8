"""Every `inferplace` command the README and the examples' READMEs show runs as shown, and every output block
the README shows is what the tool prints today."""

from __future__ import annotations

import re
import shlex

import pytest

from . import README, ROOT, blocks, run

pytestmark = pytest.mark.unit

# What a command needs that this test cannot give it: a cluster, a Prometheus, AWS, or a write into the tree
# (the e2e, Prometheus and plot tests run those).
ELSEWHERE = ("--from-cluster", "inferplace operator", "prices refresh", "--prometheus-url", " > ", "--plot")


def commands(text: str) -> list[str]:
    """`inferplace ...` lines of bash blocks and indented code (continuations joined), synopses left out."""
    lines: list[str] = []
    in_bash = False
    for raw in text.splitlines():
        if raw.startswith("```"):
            in_bash = raw.startswith("```bash") and not in_bash
            continue
        continued = bool(lines) and lines[-1].endswith("\\")
        if in_bash or raw.startswith("    inferplace ") or (continued and raw.startswith("    ")):
            lines.append(raw.strip())
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1].rstrip() + " " + line
        else:
            joined.append(line)
    out = []
    for line in joined:
        for part in re.split(r"\s*&&\s*", line.split("  #")[0].strip()):
            if part.startswith("inferplace ") and not re.search(r"[|\[]|FILE|DIR\b", part):
                out.append(part)
    return out


DOCS = [README, *sorted((ROOT / "examples").glob("*/README.md"))]
SHOWN = sorted({(doc.relative_to(ROOT).as_posix(), c) for doc in DOCS for c in commands(doc.read_text())})


def test_the_readmes_show_commands_to_run() -> None:
    assert len(SHOWN) >= 8, SHOWN


@pytest.mark.parametrize(("doc", "command"), SHOWN, ids=[f"{d}: {c[:60]}" for d, c in SHOWN])
def test_every_command_runs_as_shown(doc: str, command: str) -> None:
    if any(x in f" {command} " for x in ELSEWHERE):
        pytest.skip(f"needs a cluster, Prometheus, AWS or writes into the tree: {command}")
    assert shlex.split(command)[0] == "inferplace"
    code, out = run(command)
    assert code in (0, 3), (doc, command, code)  # 3: some workload has no placement meeting its SLOs (shown)
    assert "Traceback" not in out


@pytest.mark.parametrize(("command", "shown"), blocks(README.read_text()), ids=lambda x: str(x)[:60])
def test_every_output_block_is_what_the_tool_prints(command: str, shown: str) -> None:
    code, out = run(command)
    assert code == 0 and out == shown, "run `python -m tests.readme --update` and review the change"
