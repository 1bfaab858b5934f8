"""The shape of a day or a week of traffic from hourly samples of a request rate.

A range query with a 1-hour step answers, at each whole hour t, the rate over the hour before it.
The samples are folded onto the hours of a day (24, 00:00 UTC first) or, with at least a week of
them, of a week (168, Monday 00:00 UTC first) and averaged where the window holds several days or
weeks, so the multipliers line up with `spec.traffic.profile`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from inferplace.metrics.plausible import MAX_RATE

HOUR_S = 3600
DAY_S = 24 * HOUR_S
WEEK_S = 7 * DAY_S
MONDAY_S = 4 * DAY_S  # 1970-01-05 00:00 UTC, the first Monday of the epoch
MAX_HOURS = 28 * 24  # at most four weeks of samples: enough to average, few enough to answer fast


def profile_hours(window_s: float) -> int | None:
    """24 or 168 hourly slots for a window of that many seconds; None when it is under a day."""
    if window_s >= WEEK_S:
        return 168
    if window_s >= DAY_S:
        return 24
    return None


def sample_range(at: float, window_s: float) -> tuple[float, float]:
    """(first, last) whole hours to sample so that `window_s` seconds before `at` are covered."""
    last = math.floor(at / HOUR_S) * HOUR_S
    n = min(int(window_s // HOUR_S), MAX_HOURS)
    return last - (n - 1) * HOUR_S, last


def slot(t: float, hours: int) -> int:
    """The hour of the day (24) or of the week from Monday (168) that the sample at `t` describes."""
    start = t - HOUR_S  # the sample at t is the rate over the hour before it
    if hours == 24:
        return int(start // HOUR_S) % 24
    return int((start - MONDAY_S) // HOUR_S) % 168


def fold(samples: Sequence[tuple[float, float]], hours: int) -> tuple[tuple[float, ...] | None, str]:
    """Mean rate in each slot, or None and why when a slot has no plausible sample (finite, 0..MAX_RATE)."""
    sums, counts = [0.0] * hours, [0] * hours
    for t, v in samples:
        if math.isfinite(v) and 0 <= v <= MAX_RATE:
            i = slot(t, hours)
            sums[i] += v
            counts[i] += 1
    empty = [i for i, c in enumerate(counts) if c == 0]
    if empty:
        return None, f"{len(empty)} of {hours} hours have no sample (first: hour {empty[0]})"
    if not any(sums):
        return None, "no requests in any hour"
    return tuple(s / c for s, c in zip(sums, counts, strict=True)), ""
