"""Running the `inferplace` command as a user would (a subprocess) and writing its input files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml


def run_cli(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inferplace", *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)


def write_yaml(directory: Path, *docs: Any, name: str = "w.yaml") -> Path:
    p = directory / name
    p.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return p


def write_lines(directory: Path, lines: list[str], name: str = "in.csv") -> Path:
    p = directory / name
    p.write_text("\n".join(lines) + "\n")
    return p
