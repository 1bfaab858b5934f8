"""What every output format is given: the answered workloads, and the user's display options."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from inferplace.api import InferenceWorkload
from inferplace.api.clock import AsOf
from inferplace.api.status import InferenceWorkloadStatus
from inferplace.placement import Report


@dataclass(frozen=True)
class Answer:
    document: dict[str, Any]  # the manifest exactly as written
    workload: InferenceWorkload
    report: Report


@dataclass(frozen=True)
class Options:
    top: int = 5  # alternatives to show per workload
    as_of: AsOf | None = None  # the clock the answers were given by (the table says it)


TextFormatter = Callable[[Iterator[Answer], Options], Iterator[str]]
"""Renders answers as the text printed on stdout, piece by piece as they come: an answer is written and
dropped before the next is computed, so memory follows one answer, not the number of workloads."""

FileFormatter = Callable[[Sequence[Answer], Options, str], bytes]
"""Renders answers into the bytes of a file whose suffix (e.g. ".svg") is given."""


def trimmed(status: InferenceWorkloadStatus, top: int) -> InferenceWorkloadStatus:
    return status.model_copy(update={"alternatives": status.alternatives[:top]})
