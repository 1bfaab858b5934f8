"""What a metrics backend is asked and what it answers, as typed values; no HTTP client here.

A backend (plain Prometheus, Amazon Managed Service for Prometheus, ...) implements `MetricsBackend`:
`observe(request) -> Observation`. A figure it cannot read is None with its reason in `problems`;
when nothing at all can be read it raises `MetricsUnavailable` with a reason a condition can carry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Protocol

from inferplace.api.vocabulary import MetricsServer, Platform


class MetricsUnavailable(Exception):  # noqa: N818 - a state, named as the condition reports it
    """No figure could be read; `reason` is a CamelCase condition reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class ObserveRequest:
    server: MetricsServer
    selector: Mapping[str, str]  # Prometheus label name -> exact value
    window: str  # a duration such as 30m or 1h
    platform: Platform | None = None  # which accelerator utilization series apply
    at: float | None = None  # end of the window (unix seconds); None: now
    shape_window: str | None = None  # how far back to read the hourly shape; None: not read


@dataclass(frozen=True)
class Observation:
    """Live figures over `window` ending at `time` (unix seconds); None where not available."""

    window: str
    time: float
    requests_per_second: float | None = None
    prompt_tokens_per_second: float | None = None
    output_tokens_per_second: float | None = None
    prompt_tokens_mean: float | None = None
    output_tokens_mean: float | None = None
    ttft_mean_s: float | None = None
    ttft_p50_s: float | None = None
    ttft_p95_s: float | None = None
    tpot_mean_s: float | None = None
    tpot_p50_s: float | None = None
    tpot_p95_s: float | None = None
    running_batch: float | None = None  # mean running requests per server
    kv_cache_usage: float | None = None  # 0-1
    accelerator_utilization: float | None = None  # 0-1
    problems: Mapping[str, str] = field(default_factory=dict)  # figure -> why it is missing
    # The traffic's shape: mean request rate in each hour of a day (24) or a week (168), from a range
    # query over the window; None when the window is under a day or the series has gaps (see problems).
    hourly_requests_per_second: tuple[float, ...] | None = None
    hourly_source: str = ""  # which series and how many days were folded
    # The fraction of the window the workload's series cover (0-1); None: not measured. A rate over a
    # window the series cover only in part reads low: `rate()` divides by the whole window.
    coverage: float | None = None

    @classmethod
    def of(cls, window: str, time: float, figures: Mapping[str, float | None],
           problems: Mapping[str, str], hourly: tuple[float, ...] | None = None,
           hourly_source: str = "", coverage: float | None = None) -> Observation:
        """An observation from figures keyed by name (as the metric profiles name them)."""
        unknown = sorted(set(figures) - set(FIGURES))
        if unknown:
            raise ValueError(f"not figures of an Observation: {', '.join(unknown)}")
        return cls(window, time, problems=dict(problems), hourly_requests_per_second=hourly,
                   hourly_source=hourly_source, coverage=coverage, **figures)

    def figures(self) -> dict[str, float | None]:
        """Every figure by name (the names the metric profiles use)."""
        return {name: getattr(self, name) for name in FIGURES}


NOT_FIGURES = ("window", "time", "problems", "hourly_requests_per_second", "hourly_source", "coverage")
FIGURES: tuple[str, ...] = tuple(f.name for f in fields(Observation) if f.name not in NOT_FIGURES)
"""The single values an Observation carries, by name."""


class MetricsBackend(Protocol):
    """Where live figures come from. Every call has a timeout; faults never raise past `observe`
    except as MetricsUnavailable."""

    @property
    def url(self) -> str: ...

    def observe(self, request: ObserveRequest) -> Observation: ...
