"""Stand-ins for the operator's ports where a test needs to see what it was given: the status
writer (what the API server would have received) and nothing else faked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeWriter:
    statuses: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    fail_with: Exception | None = None
    closed: bool = False

    def write_status(self, namespace: str, name: str, uid: str | None, status: dict[str, Any],
                     generation: int | None = None) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.statuses.append((namespace, name, status))

    def post_event(self, namespace: str, name: str, uid: str | None, kind_type: str, reason: str,
                   message: str) -> None:
        self.events.append((name, kind_type, reason))

    def ping(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def close(self) -> None:
        self.closed = True
