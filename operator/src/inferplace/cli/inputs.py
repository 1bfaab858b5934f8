"""Reading what the user hands the CLI: files, directories or stdin, as YAML manifests or CSV rows.

One module for every subcommand, so `recommend`, `estimate` and the others read input the same way
and fail the same way: `InputError` with one line naming the file and the problem (exit 2).
"""

from __future__ import annotations

import csv
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from inferplace.api import API_VERSION, KIND, InferenceWorkload, describe
from inferplace.api import documents as documents_mod
from inferplace.api.errors import key_text
from inferplace.api.resource import NAME_PATTERN
from inferplace.api.stored import as_stored


class InputError(Exception):
    """The input as a whole cannot be used (exit 2)."""


def read_bytes(path: Path) -> bytes:
    """At most MAX_BYTES of the file, or of stdin for `-` (a larger input stops while being read)."""
    try:
        return documents_mod.read_bytes(path, sys.stdin.buffer if str(path) == "-" else None)
    except documents_mod.ReadError as exc:
        raise InputError(str(exc)) from None


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """The file's text (bounded as `read_bytes`), or stdin's for `-`."""
    try:
        return read_bytes(path).decode(encoding)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: byte {exc.start}: not {encoding} (byte 0x{exc.object[exc.start]:02x})") from None


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
    """Every non-empty document of a (multi-document) YAML file; InputError naming the first broken one."""
    docs = documents_mod.documents(read_bytes(path))
    bad = next((d for d in docs if d.problem), None)
    if bad is not None:
        raise InputError(f"{path}: document {bad.index + 1}: {bad.problem}")
    return [d.value for d in docs if d.value is not None]


def csv_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV file with a header holding at least `required`; cells stripped."""
    text = read_text(path, encoding="utf-8-sig")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InputError(f"{path}: line {line}: a NUL byte (is this a binary file?)")
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _rows(path, reader, required)
    except csv.Error as exc:  # e.g. a cell over csv.field_size_limit() (131,072 characters)
        raise InputError(f"{path}: line {reader.line_num + 1}: {exc}") from None


def _rows(path: Path, reader: csv.DictReader[str], required: tuple[str, ...]) -> list[dict[str, str]]:
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
    label: str = ""  # where it was read, for messages: `[file: ]document N (name)`


_DNS_NAME = re.compile(NAME_PATTERN)


def parse_manifest(doc: Any, index: int, where: str = "") -> tuple[Manifest | None, list[str]]:
    """The manifest, or the problems with it (one `label: path: problem` line each)."""
    label = f"{where}document {index + 1}"
    if not isinstance(doc, dict):
        return None, [f"{label}: expected an InferenceWorkload manifest (a mapping), got {type(doc).__name__}"]
    meta = doc.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str) and meta["name"]:
        name = meta["name"]  # as written when a valid name; else quoted and cut (it may hold a newline)
        label += f" ({name})" if len(name) <= 253 and _DNS_NAME.fullmatch(name) else f" ({key_text(name)})"
    if doc.get("kind") != KIND or doc.get("apiVersion") != API_VERSION:
        return None, [f"{label}: kind/apiVersion must be {KIND} / {API_VERSION}, got "
                      f"{str(doc.get('kind'))[:64]!r} / {str(doc.get('apiVersion'))[:64]!r}"]
    try:
        return Manifest(doc, InferenceWorkload.model_validate(as_stored(doc)), label), []
    except ValidationError as exc:
        return None, describe(exc, InferenceWorkload, prefix=f"{label}: ")


# Top-level keys of the files --instances and --prices read: an example directory holds them beside its
# manifest, and `-f DIR` passes over them (they carry no kind) instead of calling them broken manifests.
SIDE_FILE_KEYS = frozenset({"instanceTypes", "prices"})


def _side_file(doc: object) -> bool:
    """A document that travels with manifests but is not one: a --instances/--prices file, or the Namespace a
    manifest file creates before its workloads (so that `kubectl apply -f` works on it as it is)."""
    if not isinstance(doc, dict):
        return False
    if doc.get("apiVersion") == "v1" and doc.get("kind") == "Namespace":
        return True
    return "kind" not in doc and "apiVersion" not in doc and bool(SIDE_FILE_KEYS & doc.keys())


def manifests(paths: list[Path]) -> tuple[list[Manifest], list[str]]:
    """Every InferenceWorkload in `paths`, and one line per problem with the others: a broken file or
    document is reported and the rest still answered."""
    found: list[Manifest] = []
    problems: list[str] = []
    files = expand(paths)
    where_shown = len(files) > 1 or any(p.is_dir() for p in paths)
    for path in files:
        try:
            docs = documents_mod.documents(read_bytes(path))
        except InputError as exc:
            problems.append(str(exc))
            continue
        where = f"{path}: " if where_shown else ""
        for d in docs:  # numbered within their file, as `kubectl apply` names them
            if d.problem is not None:
                problems.append(f"{where}document {d.index + 1}: {d.problem}")
            elif _side_file(d.value):
                continue
            elif d.value is not None:
                manifest, errs = parse_manifest(d.value, d.index, where)
                problems += errs
                if manifest is not None:
                    found.append(manifest)
    if not found and not problems:
        raise InputError(f"{', '.join(map(str, paths))}: no InferenceWorkload manifests found")
    return found, problems
