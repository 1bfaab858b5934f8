"""Output formats, each a function registered here by name: text formats print to stdout (`-o`),
file formats write a file (`--plot`). A new format is a module with one function and a line below."""

from __future__ import annotations

from inferplace.cli.formatters.base import Answer, FileFormatter, Options, TextFormatter
from inferplace.cli.formatters.plot import PlotError, plot
from inferplace.cli.formatters.structured import as_json, as_yaml
from inferplace.cli.formatters.table import table

TEXT: dict[str, TextFormatter] = {"table": table, "json": as_json, "yaml": as_yaml}
FILES: dict[str, FileFormatter] = {"plot": plot}

__all__ = ["FILES", "TEXT", "Answer", "FileFormatter", "Options", "PlotError", "TextFormatter"]
