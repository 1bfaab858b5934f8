"""PromQL label matchers built from a spec's selector: names validated, values escaped, so no
spec field can inject PromQL."""

from __future__ import annotations

import re

from inferplace.api.vocabulary import DURATION_PATTERN, LABEL_NAME_PATTERN

_LABEL_NAME = re.compile(LABEL_NAME_PATTERN.strip("^$"))
_DURATION = re.compile(DURATION_PATTERN.strip("^$"))


class SelectorError(ValueError):
    pass


def _escape(value: str) -> str:
    # PromQL string literals follow Go's escaping: backslash and double quote must be escaped,
    # and a newline would end the matcher.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def check_label_name(name: str) -> None:
    """Refuse names PromQL cannot take and the reserved `__*` names (`__name__` would replace the metric)."""
    if name.startswith("__"):
        raise SelectorError(f"label name {name[:64]!r} is reserved (names starting with __ are Prometheus' own)")
    if not _LABEL_NAME.fullmatch(name):
        raise SelectorError(f"label name {name[:64]!r} must match {LABEL_NAME_PATTERN}")


def selector(labels: dict[str, str]) -> str:
    """`{a="x",b="y"}` (exact matches) for the given labels; `` when there are none."""
    parts = []
    for name in sorted(labels):
        check_label_name(name)
        parts.append(f'{name}="{_escape(labels[name])}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def window(text: str) -> str:
    if not _DURATION.fullmatch(text):
        raise SelectorError(f"window {text[:40]!r} must be a duration such as 30m, 1h or 7d")
    return text
