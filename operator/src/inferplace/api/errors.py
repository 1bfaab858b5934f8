"""Validation errors as one line per problem: the field path, what was wrong, what is allowed."""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

_COMPARISONS = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", ">="),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "<="),
}


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class found by walking `loc` (aliases) from `root`; None when it leaves models."""
    cls: type[BaseModel] | None = root
    for part in loc:
        if cls is None:
            return None
        if isinstance(part, int):
            continue
        field = next((f for n, f in cls.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return None
        cls = _first_model(field.annotation)
    return cls


def _first_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _first_model(arg)
            if found is not None:
                return found
    return None


def _message(err: ErrorDetails, root: type[BaseModel]) -> str:
    kind = err["type"]
    ctx = err.get("ctx", {})
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        parent = _model_at(root, tuple(err["loc"][:-1]))
        if parent is not None:
            allowed = sorted(f.alias or n for n, f in parent.model_fields.items())
            return f"unknown field; allowed: {', '.join(allowed)}"
        return "unknown field"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"must be one of: {expected.replace(' or ', ', ')}"
    if kind in _COMPARISONS:
        key, sign = _COMPARISONS[kind]
        return f"must be {sign} {ctx.get(key)}"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx.get('pattern')}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be an integer"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a mapping of fields"
    if kind == "list_type":
        return "must be a list"
    if kind in ("string_type",):
        if isinstance(err.get("input"), bool):  # `name: n` or `no`: kubectl reads them unquoted as booleans
            return "must be a string (unquoted y/n/yes/no/on/off/true/false are booleans to kubectl; quote it)"
        return "must be a string"
    msg = err["msg"]
    return msg.removeprefix("Value error, ")


SHOWN = 80  # characters of a value quoted in a message
KEY_SHOWN = 60  # characters of a field name shown in a path


# What a terminal acts on instead of printing: C0 and C1 controls (ESC starts colour, clear-screen and
# window-title sequences) and the bidirectional overrides that reorder what a reader sees.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """`text` with every character a terminal would act on written as an escape (`\x1b`, `\u202e`);
    newlines and tabs kept, so a table keeps its lines."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                       else f"\\u{ord(m.group()):04x}", text)


def shown(value: object) -> str:
    """A value as a message quotes it: cut to `SHOWN` characters, never expanded."""
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= SHOWN else text[:SHOWN] + f"... ({len(text)} characters)"
_PLAIN_KEY = re.compile(rf"[A-Za-z0-9_/-]{{1,{KEY_SHOWN}}}")


def key_text(part: object) -> str:
    """A field name as a path shows it: as written when plain, else quoted (empty, a newline, ...) and cut."""
    text = str(part)
    if _PLAIN_KEY.fullmatch(text) or text == "[key]":  # pydantic's marker: the key itself is invalid
        return text
    quoted = repr(text)
    return quoted if len(quoted) <= KEY_SHOWN else quoted[:KEY_SHOWN] + "...'"


def field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = key_text(part)
            out += (f".{name}" if out else name) if name == str(part) else f"[{name}]"
    return out or "(document)"


def describe(exc: ValidationError, root: type[BaseModel], prefix: str = "") -> list[str]:
    """One `path: problem` line per error, paths in the manifest's own (camelCase) names."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        path = field_path(loc)
        lines.append(f"{prefix}{path}: {_message(err, root)}")
    return lines
