"""One time budget for all the queries of one evaluation.

A per-socket timeout bounds each wait, not the whole: a server that drips one byte every few
seconds never trips it, and fifteen figures could each wait out a full timeout. A `Deadline` is
set once per evaluation; every request is given what is left of it (and never more than its own
timeout), so an evaluation's reads end when the budget does, whatever the server does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Deadline:
    """Ends `seconds` after it was made, by the monotonic clock (not the time of day)."""

    seconds: float
    monotonic: Callable[[], float] = time.monotonic
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.started < 0:
            object.__setattr__(self, "started", self.monotonic())

    @property
    def ends(self) -> float:
        return self.started + self.seconds

    def remaining(self) -> float:
        return max(self.ends - self.monotonic(), 0.0)

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def within(self, seconds: float) -> Deadline:
        """A deadline for one request: `seconds` from now, but never past this one."""
        return Deadline(min(seconds, self.remaining()), self.monotonic)


__all__ = ["Deadline"]
