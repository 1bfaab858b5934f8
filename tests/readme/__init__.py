"""The README's commands and outputs, checked against the tool: `python -m tests.readme --update` rewrites
every output block from the command above it."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

from inferplace.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARKER = re.compile(r"<!-- output of: (inferplace [^\n]*?) -->\n```\n(.*?)```\n", re.S)


def run(command: str) -> tuple[int, str]:
    """Exit code and stdout of an `inferplace ...` command line, run in the repository's root."""
    argv = shlex.split(command)
    assert argv[0] == "inferplace", command
    out = io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out):
        code = main(argv[1:])
    return code, out.getvalue()


def blocks(text: str) -> list[tuple[str, str]]:
    """(command, output block as written) for every `<!-- output of: ... -->` marker."""
    return [(m.group(1), m.group(2)) for m in MARKER.finditer(text)]


def update() -> None:
    text = README.read_text()

    def fresh(m: re.Match[str]) -> str:
        _, out = run(m.group(1))
        return f"<!-- output of: {m.group(1)} -->\n```\n{out}```\n"

    README.write_text(MARKER.sub(fresh, text))
