"""Reading what the user hands the CLI: files, directories or stdin, as YAML manifests or CSV rows.

One module for every subcommand, so `recommend`, `estimate` and the others read input the same way
and fail the same way: `InputError` with one line naming the file and the problem (exit 2).
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from inferplace.api import API_VERSION, KIND, InferenceWorkload, describe

# libyaml's parser when the platform has it (6x faster on a thousand manifests), else PyYAML's own.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class InputError(Exception):
    """The input as a whole cannot be used (exit 2)."""


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The file's text, or stdin's for `-`."""
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text(encoding=encoding)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def expand(paths: list[Path]) -> list[Path]:
    """Files as given; a directory as every *.yaml / *.yml file in it, recursively, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                raise InputError(f"{path}: no *.yaml files in this directory")
            out += found
        else:
            out.append(path)
    return out


def yaml_documents(path: Path) -> list[Any]:
    """Every non-empty document of a (multi-document) YAML file."""
    try:
        return [d for d in yaml.load_all(read_text(path), Loader=_LOADER) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{path}:{where}: not valid YAML: {problem}") from None


def csv_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV file with a header holding at least `required`; cells stripped."""
    text = read_text(path, encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise InputError(f"{path} is empty: expected a CSV header with {', '.join(required)}")
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"{path}: missing required column(s): {', '.join(missing)}")
    reader.fieldnames = header
    rows = []
    for row in reader:
        if None in row:
            raise InputError(f"{path}: line {reader.line_num} has more cells than the header")
        rows.append({k: (v or "").strip() for k, v in row.items()})
    return rows


@dataclass(frozen=True)
class Manifest:
    """One InferenceWorkload as the user wrote it (`document`, never rewritten) and as parsed."""

    document: dict[str, Any]
    workload: InferenceWorkload


def parse_manifest(doc: Any, index: int) -> tuple[Manifest | None, list[str]]:
    """The manifest, or the problems with it (one `label: path: problem` line each)."""
    label = f"document {index + 1}"
    if not isinstance(doc, dict):
        return None, [f"{label}: expected an InferenceWorkload manifest (a mapping), got {type(doc).__name__}"]
    meta = doc.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        label += f" ({meta['name'][:253]})"
    if doc.get("kind") != KIND or doc.get("apiVersion") != API_VERSION:
        return None, [f"{label}: kind/apiVersion must be {KIND} / {API_VERSION}, got "
                      f"{str(doc.get('kind'))[:64]!r} / {str(doc.get('apiVersion'))[:64]!r}"]
    try:
        return Manifest(doc, InferenceWorkload.model_validate(doc)), []
    except ValidationError as exc:
        return None, describe(exc, InferenceWorkload, prefix=f"{label}: ")


def manifests(paths: list[Path]) -> tuple[list[Manifest], list[str]]:
    """Every InferenceWorkload in `paths`, and one line per problem with the others."""
    docs = [d for path in expand(paths) for d in yaml_documents(path)]
    if not docs:
        raise InputError(f"{', '.join(map(str, paths))}: no InferenceWorkload manifests found")
    found: list[Manifest] = []
    problems: list[str] = []
    for i, doc in enumerate(docs):
        manifest, errs = parse_manifest(doc, i)
        problems += errs
        if manifest is not None:
            found.append(manifest)
    return found, problems
