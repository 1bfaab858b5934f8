"""One clock for every "now" that reaches an answer: price ages and staleness, the confidence they
lower, as-of dates, condition and Event times, the end of a Prometheus window.

The operator reads the system clock. The CLI reads it too unless `--as-of` (or `INFERPLACE_AS_OF`)
fixes it, so a report, a golden file or a GitOps diff is the same on every day. Nothing else in the
product asks the system for the time of day: it is given a `Clock` (monotonic time for timeouts and
scheduling is another matter, and stays `time.monotonic`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

Clock = Callable[[], datetime]
"""A source of "now": an aware datetime in UTC."""

AS_OF_FORMS = "a date (2026-12-01, meaning 00:00:00 UTC) or an RFC 3339 time with its zone (2026-12-01T12:00:00Z)"

# The earliest and latest as-of accepted: Prometheus and unix time start in 1970; past 9998 a day's
# arithmetic (price ages, the end of a window) leaves the calendar.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, tzinfo=UTC)

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# RFC 3339's date-time: the zone is required (a time without one would depend on the machine's zone).
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


class AsOfError(ValueError):
    """An as-of that is not a date or a zoned time; the message says what is allowed."""


def system_clock() -> datetime:
    """The machine's time of day, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class AsOf:
    """A clock that always answers `at`, and where that time came from (for the output to say)."""

    at: datetime
    source: str  # "--as-of 2026-12-01", "INFERPLACE_AS_OF=2026-12-01", "the system clock"

    def __call__(self) -> datetime:
        return self.at

    @property
    def fixed(self) -> bool:
        return self.source != SYSTEM

    def describe(self) -> str:
        """`as of 2026-12-01T00:00:00Z (--as-of 2026-12-01)`: what every report prints."""
        return f"as of {rfc3339(self.at)} ({self.source})"


SYSTEM = "the system clock"


def now_from(clock: Clock = system_clock) -> AsOf:
    """The clock's time, read once, so one answer has one "now" throughout."""
    if isinstance(clock, AsOf):
        return clock
    return AsOf(clock(), SYSTEM)


def parse_as_of(text: str) -> datetime:
    """`text` as an aware UTC datetime; AsOfError naming the allowed forms otherwise."""
    value = text.strip()
    shown = text[:40]
    try:
        if _DATE.fullmatch(value):
            at = datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
        elif _TIMESTAMP.fullmatch(value):
            at = _zoned(value)
        else:
            raise AsOfError(f"{shown!r} is not {AS_OF_FORMS}")
    except ValueError as exc:
        if isinstance(exc, AsOfError):
            raise
        raise AsOfError(f"{shown!r} is not a real date or time ({exc}); give {AS_OF_FORMS}") from None
    if not EARLIEST <= at <= LATEST:
        raise AsOfError(f"{shown!r} is outside {EARLIEST.year}..{LATEST.year}")
    return at


def _zoned(value: str) -> datetime:
    head, _, rest = value.replace("t", "T").replace(" ", "T").partition("T")
    zone = "+00:00" if rest[-1] in "Zz" else rest[-6:]
    clock = rest[:-1] if rest[-1] in "Zz" else rest[:-6]
    seconds, _, fraction = clock.partition(".")
    micro = int((fraction + "000000")[:6]) if fraction else 0  # nanoseconds are cut, as Kubernetes cuts them
    naive = datetime.fromisoformat(f"{head}T{seconds}").replace(microsecond=micro)
    sign = 1 if zone[0] == "+" else -1
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(f"zone {zone} out of range")
    offset = timedelta(hours=hours, minutes=minutes) * sign
    return (naive - offset).replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    """`moment` in UTC to the second, as Kubernetes writes times (2026-12-01T12:00:00Z)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


__all__ = ["AS_OF_FORMS", "SYSTEM", "AsOf", "AsOfError", "Clock", "now_from", "parse_as_of", "rfc3339",
           "system_clock"]
