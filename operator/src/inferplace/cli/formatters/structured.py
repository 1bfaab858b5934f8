"""`-o json` and `-o yaml`: each manifest exactly as written (nothing dropped or rewritten) plus the
`status` block the operator would write."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from inferplace.cli.formatters.base import Answer, Options, trimmed


def _objects(answers: Sequence[Answer], options: Options) -> list[dict[str, Any]]:
    return [{**a.document, "status": trimmed(a.report.status, options.top).model_dump(
        by_alias=True, exclude_none=True, mode="json")} for a in answers]


def as_json(answers: Sequence[Answer], options: Options) -> str:
    objects = _objects(answers, options)
    body: Any = objects[0] if len(objects) == 1 else {"apiVersion": "v1", "kind": "List", "items": objects}
    return json.dumps(body, indent=2) + "\n"


def as_yaml(answers: Sequence[Answer], options: Options) -> str:
    return yaml.safe_dump_all(_objects(answers, options), sort_keys=False, width=120)
