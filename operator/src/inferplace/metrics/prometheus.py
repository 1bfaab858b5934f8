"""The plain Prometheus backend: queries over HTTP with a bearer token, basic auth or a CA bundle,
each bounded in time and size (`transport.BoundedSession`), all of one workload's within one budget.

Every figure is one query grouped by the selector's label names (`sum by (namespace, model_name)`),
so one answer holds that figure for every workload whose selector uses the same label names. With
`share_s` > 0 (the operator) the answers are kept that long and every workload is read from them:
a cycle over 1,000 workloads costs one query per figure, not one per figure per workload. Without
it (the CLI, tests at a fixed time) the query carries the workload's own matchers.

The client does not retry (the operator's timer is the retry). Faults (unreachable, slow, too large,
redirected elsewhere, 5xx, malformed answers, NaN, no series) never raise past `observe`: a figure
that cannot be read is None and its reason is kept, and `MetricsUnavailable` is raised only when
nothing at all could be read, with a reason a condition can carry. No reason quotes the server.
A fault is kept like an answer, so a broken server costs one wait per query and interval, not one
per workload.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests.auth import AuthBase
from urllib3.util.retry import Retry

from inferplace.api.clock import Clock, system_clock
from inferplace.api.vocabulary import duration_seconds
from inferplace.metrics import answers
from inferplace.metrics.answers import AnswerFault, Key, Series, Table
from inferplace.metrics.deadline import Deadline
from inferplace.metrics.observation import MetricsUnavailable, Observation, ObserveRequest
from inferplace.metrics.profiles import (
    GPU_UTILIZATION,
    PROFILES,
    Query,
    coverage_query,
    expression,
    neuron_utilization,
)
from inferplace.metrics.promql import check_label_name, selector, window
from inferplace.metrics.shape import HOUR_S, fold, profile_hours, sample_range
from inferplace.metrics.transport import BoundedSession, Limits, TransportFault
from inferplace.metrics.urls import shown

DEFAULT_TIMEOUT_S = 10.0  # one request
DEFAULT_BUDGET_S = 30.0  # all the requests of one workload's observation
COVERAGE_POINTS = 60  # the coverage query samples the window this many times
# Faults of one answer: the figure is missing, the others are still read.
ANSWER_FAULTS = (PrometheusApiClientException, AnswerFault, ValueError, KeyError, TypeError, IndexError,
                 RecursionError, UnicodeDecodeError)


FAULT_KEEP_S = 30.0


class Unreachable(Exception):  # noqa: N818 - a state, as MetricsUnavailable
    """The server did not answer (connection refused, reset, the budget spent): reading on is pointless."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class _Shared:
    """An answer kept for `PrometheusBackend.share_s` seconds (a fault too, so a dead server costs one
    wait per query and not one per workload)."""

    at: float  # monotonic, for its age
    wall: float  # unix time the query answered for: the observation's time
    value: Table | Series | None = None
    fault: BaseException | None = None


@dataclass
class PrometheusBackend:
    url: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    headers: dict[str, str] | None = None
    auth: AuthBase | tuple[str, str] | None = None
    ca_bundle: str | None = None
    share_s: float = 0.0  # > 0: answer all workloads from grouped queries kept this long
    budget_s: float = DEFAULT_BUDGET_S  # every request of one observation, together
    limits: Limits = field(default_factory=Limits)
    trust_env: bool = False  # proxies and .netrc from the environment: only for the platform's own server
    queries_sent: int = 0  # HTTP queries made (instant and range): what a cycle costs Prometheus
    clock: Clock = system_clock  # the end of every window ("now") unless a request fixes it
    monotonic: Any = time.monotonic
    _shared: dict[tuple[str, str, float], _Shared] = field(default_factory=dict, init=False, repr=False)
    _locks: dict[tuple[str, str, float], threading.Lock] = field(default_factory=dict, init=False, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _client(self, budget: Deadline) -> PrometheusConnect:
        session = BoundedSession(lambda: budget.within(self.timeout_s), self.limits, self.trust_env)
        if self.ca_bundle:
            session.verify = self.ca_bundle
        # No client-side retries: the operator's timer retries, and a hanging server must cost one wait.
        return PrometheusConnect(url=self.url.rstrip("/"), headers=self.headers, auth=self.auth, session=session,
                                 timeout=self.timeout_s, retry=Retry(total=0))

    def budget(self) -> Deadline:
        return Deadline(self.budget_s, self.monotonic)

    # --- one query -------------------------------------------------------------------------------

    def table(self, promql: str, names: tuple[str, ...], at: float | None = None,
              client: PrometheusConnect | None = None) -> Table:
        """An instant query's finite values by the values of `names`. Raises on faults."""
        params: dict[str, Any] = {} if at is None else {"time": f"{at:.3f}"}
        result = self._send(lambda c: c.custom_query(promql, params=params), client)
        return answers.table(result, names)

    def series(self, promql: str, names: tuple[str, ...], start: float, end: float, step_s: int,
               client: PrometheusConnect | None = None) -> Series:
        """A range query's samples by the values of `names`. Raises on faults."""
        result = self._send(lambda c: c.custom_query_range(
            promql, start_time=datetime.fromtimestamp(start, UTC), end_time=datetime.fromtimestamp(end, UTC),
            step=str(step_s)), client)
        return answers.series(result, names)

    def query(self, promql: str, at: float | None = None, client: PrometheusConnect | None = None) -> float | None:
        """The single value of an ungrouped instant query (None: no series)."""
        answer = self.table(promql, (), at, client)
        return answer.get(())

    def _send(self, call: Any, client: PrometheusConnect | None) -> Any:
        self.queries_sent += 1
        try:
            return call(client or self._client(self.budget()))
        except TransportFault as exc:
            if exc.reason == "DeadlineExceeded":
                raise Unreachable(exc.reason, exc.message) from exc
            raise
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise Unreachable("PrometheusUnreachable", _connection_fault(exc)) from exc

    def _kept(self, what: tuple[str, str, float], fetch: Any) -> tuple[Any, float]:
        """(`fetch()`, when it was fetched) once per `share_s` for every caller asking the same `what`;
        concurrent callers wait for the first."""
        with self._guard:
            lock = self._locks.setdefault(what, threading.Lock())
        with lock:
            now = self.monotonic()
            kept = self._shared.get(what)
            # A fault is kept briefly: long enough that a dead server costs one wait per query in a burst of
            # evaluations, not so long that a server back up is ignored for a whole interval.
            keep = min(self.share_s, FAULT_KEEP_S) if kept is not None and kept.fault is not None else self.share_s
            if kept is None or now - kept.at > keep:
                wall = self.clock().timestamp()
                try:
                    kept = _Shared(now, wall, value=fetch())
                except (Unreachable, *ANSWER_FAULTS) as exc:
                    kept = _Shared(now, wall, fault=_bare(exc))
                with self._guard:
                    self._shared[what] = kept
                    # Range answers are keyed by their last hour: forget those no query can ask for again.
                    for k, v in list(self._shared.items()):
                        if now - v.at > 2 * max(self.share_s, HOUR_S):
                            del self._shared[k]
                            self._locks.pop(k, None)
        if kept.fault is not None:
            raise kept.fault
        return kept.value, kept.wall

    # --- one workload ----------------------------------------------------------------------------

    def observe(self, request: ObserveRequest) -> Observation:
        """Every figure the server's profile knows, over the request's window, at its time (default: now)."""
        names = tuple(sorted(request.selector))
        for n in names:  # they become PromQL grouping labels: the same rules as matchers
            check_label_name(n)
        mine: Key = tuple(request.selector[n] for n in names)
        shared = self.share_s > 0 and request.at is None
        sel = selector({}) if shared else selector(dict(request.selector))
        w = window(request.window)
        profile = PROFILES[request.server]
        queries: dict[str, Query] = dict(profile)
        if request.platform == "gpu":
            queries["accelerator_utilization"] = GPU_UTILIZATION
        elif request.platform == "neuron":
            # neuron-monitor's series carry no pod labels: joined to the workload's own pods' nodes.
            queries["accelerator_utilization"] = neuron_utilization(profile)
        at = request.at if request.at is not None else self.clock().timestamp()
        budget = self.budget()
        values: dict[str, float | None] = {}
        problems: dict[str, str] = {}
        client = self._client(budget)  # one connection pool for all the figures
        first_fault: BaseException | None = None
        try:
            for name, q in queries.items():
                by = names if q.grouped else ()
                promql = expression(q, sel, w, by)
                try:
                    if shared:
                        answer, fetched = self._kept(("instant", promql, 0.0),
                                                     lambda p=promql, b=by: self.table(p, b, client=client))
                        at = min(at, fetched)  # the oldest answer used: the figures are at least that fresh
                    else:
                        answer = self.table(promql, by, at, client)
                except ANSWER_FAULTS as exc:
                    values[name], problems[name] = None, f"bad answer: {answers.summary(exc)}"
                    first_fault = first_fault or exc
                    continue
                value = answer.get(mine if q.grouped else ())
                values[name] = None if value is None else value * q.scale
                if value is None:
                    problems[name] = "no series (or NaN) for this selector and window"
            if all(v is None for v in values.values()):
                if first_fault is not None:
                    raise MetricsUnavailable(answers.reason(first_fault),
                                             f"{shown(self.url)}: bad answer: {answers.summary(first_fault)}")
                described = selector(dict(request.selector)) or "(no selector)"
                raise MetricsUnavailable("NoSeries", f"no {request.server} series match {described} over {w}")
            coverage = self._coverage(request, names, mine, sel, at, shared, client, problems)
            try:
                hourly, source, why = self._hourly(request, names, mine, sel, at, shared, client)
            except ANSWER_FAULTS as exc:
                hourly, source, why = None, "", f"bad answer: {answers.summary(exc)}"
        except Unreachable as exc:
            # The server is down, hanging or dripping: do not wait out another timeout per figure.
            raise MetricsUnavailable(exc.reason, f"{shown(self.url)}: {exc.message} (each query "
                                                 f"{self.timeout_s:g} s, all {self.budget_s:g} s)") from None
        if why is not None:
            problems["hourly_requests_per_second"] = why
        return Observation.of(w, at, values, problems, hourly, source, coverage)

    def _coverage(self, request: ObserveRequest, names: tuple[str, ...], mine: Key, sel: str, at: float,
                  shared: bool, client: PrometheusConnect, problems: dict[str, str]) -> float | None:
        """The fraction of the window the workload's series cover (a young Prometheus, a new workload or a
        gap reads a rate over less time than the window, and `rate()` divides by the whole window)."""
        q = coverage_query(PROFILES[request.server])
        if q is None:
            return None
        span = duration_seconds(request.window)
        step = max(math.ceil(span / COVERAGE_POINTS), 1)
        by = names
        promql = expression(q, sel, "", by)
        try:
            if shared:
                def fetch() -> Series:
                    end = self.clock().timestamp()
                    return self.series(promql, by, end - span, end, step, client)
                answer, _ = self._kept(("coverage", promql, span), fetch)
            else:
                answer = self.series(promql, by, at - span, at, step, client)
        except ANSWER_FAULTS as exc:
            problems["coverage"] = f"bad answer: {answers.summary(exc)}"
            return None
        points: list[tuple[float, float]] = answer.get(mine, [])
        if not points or span <= 0:
            problems["coverage"] = f"not measured: no {q.names[0]} series for this selector"
            return None
        # The steps the series exist at (gaps count against it), and how far back their first sample is.
        since_first = points[-1][0] - points[0][1]
        return max(min(len(points) * step, since_first, span) / span, 0.0)

    def _hourly(self, request: ObserveRequest, names: tuple[str, ...], mine: Key, sel: str, at: float, shared: bool,
                client: PrometheusConnect) -> tuple[tuple[float, ...] | None, str, str | None]:
        """(hourly request rates, their source, why they are missing) over the request's shape window:
        folded onto a week when it holds a whole week, else onto a day."""
        if request.shape_window is None:
            return None, "", None
        span = duration_seconds(request.shape_window)
        hours = profile_hours(span)
        if hours is None:
            return None, "", f"shape window {request.shape_window} is under a day: no traffic shape (use 1d or 7d)"
        profile = PROFILES[request.server]
        name = next((n for n in ("requests_per_second", "output_tokens_per_second") if n in profile), None)
        if name is None:
            return None, "", f"{request.server} exports no request or token counter to shape the traffic from"
        promql = expression(profile[name], sel, "1h", names)
        if shared:
            # Whole hours only change once an hour: the range is cut at the last whole hour.
            start, end = sample_range(self.clock().timestamp(), span)
            answer, _ = self._kept(("range", promql, end),
                                   lambda: self.series(promql, names, start, end, HOUR_S, client))
        else:
            start, end = sample_range(at, span)
            answer = self.series(promql, names, start, end, HOUR_S, client)
        samples = answer.get(mine, [])
        what = f"hourly {name.replace('_', ' ')}"
        shape, why = fold(samples, hours)
        if shape is None and hours == 168:
            shape, short = fold(samples, 24)
            hours, why = 24, f"{why}; folded onto a day instead" if shape is not None else f"{why}; by day: {short}"
        if shape is None:
            return None, "", f"{what} over {request.shape_window}: {why}"
        got = sum(1 for _, v in samples if math.isfinite(v))
        source = f"Prometheus: {what}, {got} hours up to {datetime.fromtimestamp(end, UTC):%Y-%m-%dT%H:%MZ}, " \
                 f"folded onto {hours} hours"
        return shape, source, why or None


def _bare(exc: BaseException) -> BaseException:
    """The fault as kept for later callers: its reason and message only. The raised one holds its traceback,
    whose frames hold what was read (megabytes of a cut-off answer), and the client's exception the body."""
    if isinstance(exc, Unreachable):
        return Unreachable(exc.reason, exc.message)
    return AnswerFault(answers.reason(exc), answers.summary(exc))


def _connection_fault(exc: BaseException) -> str:
    """A connection fault's kind, without the library's text (which can hold the URL's credentials)."""
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    return f"connection failed ({type(exc).__name__})"

