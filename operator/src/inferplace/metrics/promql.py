"""PromQL label matchers built from a spec's selector: names validated, values escaped, so no
spec field can inject PromQL."""

from __future__ import annotations

import re

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DURATION = re.compile(r"^[1-9][0-9]*(s|m|h|d)$")


class SelectorError(ValueError):
    pass


def _escape(value: str) -> str:
    # PromQL string literals follow Go's escaping: backslash and double quote must be escaped,
    # and a newline would end the matcher.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def selector(labels: dict[str, str]) -> str:
    """`{a="x",b="y"}` (exact matches) for the given labels; `` when there are none."""
    parts = []
    for name in sorted(labels):
        if not LABEL_NAME.match(name):
            raise SelectorError(f"label name {name!r} must match {LABEL_NAME.pattern}")
        parts.append(f'{name}="{_escape(labels[name])}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def window(text: str) -> str:
    if not DURATION.match(text):
        raise SelectorError(f"window {text!r} must be a duration such as 30m, 1h or 7d")
    return text
