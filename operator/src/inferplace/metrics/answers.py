"""What a Prometheus answer may be, checked without HTTP: the result's shape, how many series, each
sample's value; and the short, bounded summary of a failed answer that a condition may carry.

Nothing a server sent is ever quoted: a summary names the fault (HTTP status, not JSON, too deep,
wrong shape, too many series), so a status, Event or log line cannot be used to read a server's
answer back, and a tenant's server cannot write into them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

Key = tuple[str, ...]  # the values of the grouping labels, in the order of the names
Table = dict[Key, float]  # an instant answer: one value per label-value combination
Series = dict[Key, list[tuple[float, float]]]  # a range answer

MAX_SERIES = 20_000  # a grouped answer has one series per workload selector's values
MAX_SAMPLES = 200_000  # a range answer's samples over all series (28 days hourly is 672 a series)
MAX_LABEL = 1024  # characters of one label value


class AnswerFault(Exception):  # noqa: N818 - a state, like MetricsUnavailable
    """An answer refused or cut off; `reason` is a CamelCase condition reason and the message names the
    fault, never what the server sent."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class AnswerError(AnswerFault, ValueError):
    """An answer not in the Prometheus API's shape."""

    def __init__(self, message: str):
        super().__init__("BadAnswer", message)


def _series(result: Any) -> list[Mapping[str, Any]]:
    if not isinstance(result, list) or not all(isinstance(s, dict) for s in result):
        raise AnswerError(f"the result is a {type(result).__name__}, not a list of series")
    if len(result) > MAX_SERIES:
        raise AnswerError(f"{len(result):,} series, over the limit of {MAX_SERIES:,}")
    return result


def key(series: Mapping[str, Any], names: tuple[str, ...]) -> Key:
    metric = series.get("metric") or {}
    if not isinstance(metric, dict):
        raise AnswerError("a series' labels are not a mapping")
    values = tuple(metric.get(n, "") for n in names)
    if not all(isinstance(v, str) and len(v) <= MAX_LABEL for v in values):
        raise AnswerError("a label value is not a string of at most 1024 characters")
    return values


def value(sample: Any) -> float:
    """A sample's value (Prometheus sends [time, "value"]); NaN for NaN and infinities, which no figure can be."""
    if not isinstance(sample, list) or len(sample) != 2 or not isinstance(sample[1], str | int | float) \
            or isinstance(sample[1], bool):
        raise AnswerError("a sample is not a [time, value] pair")
    try:
        x = float(sample[1])
    except ValueError:
        raise AnswerError("a sample's value is not a number") from None
    return x if math.isfinite(x) else math.nan


def timestamp(sample: list[Any]) -> float:
    t = sample[0]
    if isinstance(t, bool) or not isinstance(t, int | float) or not math.isfinite(t):
        raise AnswerError("a sample's time is not a number")
    return float(t)


def table(result: Any, names: tuple[str, ...]) -> Table:
    """An instant query's finite values by the values of `names`."""
    out: Table = {}
    for s in _series(result):
        k = key(s, names)
        if k in out:
            raise AnswerError(f"more than one series for one combination of {', '.join(names) or 'no labels'}")
        x = value(s.get("value"))
        if math.isfinite(x):
            out[k] = x
    return out


def series(result: Any, names: tuple[str, ...]) -> Series:
    """A range query's samples by the values of `names` (non-finite values dropped)."""
    out: Series = {}
    total = 0
    for s in _series(result):
        values = s.get("values")
        if not isinstance(values, list):
            raise AnswerError("a range series has no list of values")
        total += len(values)
        if total > MAX_SAMPLES:
            raise AnswerError(f"over {MAX_SAMPLES:,} samples")
        k = key(s, names)
        if k in out:
            raise AnswerError(f"more than one series for one combination of {', '.join(names) or 'no labels'}")
        points = [(timestamp(p), value(p)) for p in values]
        out[k] = [(t, v) for t, v in points if math.isfinite(v)]
    return out


_STATUS = re.compile(r"HTTP Status Code (\d{3})")


def summary(exc: BaseException) -> str:
    """A failed answer in at most a few words, with nothing the server wrote in it."""
    if isinstance(exc, AnswerFault):
        return exc.message
    if isinstance(exc, RecursionError):
        return "an answer nested too deeply"
    text = str(exc)
    status = _STATUS.search(text[:64])
    if status is not None:
        return f"HTTP {status.group(1)}"
    if type(exc).__name__ in ("JSONDecodeError", "InvalidJSONError") or isinstance(exc, UnicodeDecodeError):
        return "an answer that is not JSON"
    if isinstance(exc, KeyError | TypeError | IndexError | AttributeError):
        return "an answer not in the Prometheus API's shape"
    return type(exc).__name__


def reason(exc: BaseException) -> str:
    """The CamelCase condition reason of a failed answer."""
    if isinstance(exc, AnswerFault):
        return exc.reason
    if _STATUS.search(str(exc)[:64]) is not None:
        return "PrometheusError"
    return "BadAnswer"


__all__ = ["MAX_SERIES", "AnswerError", "AnswerFault", "Key", "Series", "Table", "key", "reason", "series", "summary",
           "table", "value"]
