"""The plain Prometheus backend: queries over HTTP with a timeout, a bearer token, basic auth or a
CA bundle.

Every figure is one query grouped by the selector's label names (`sum by (namespace, model_name)`),
so one answer holds that figure for every workload whose selector uses the same label names. With
`share_s` > 0 (the operator) the answers are kept that long and every workload is read from them:
a cycle over 1,000 workloads costs one query per figure, not one per figure per workload. Without
it (the CLI, tests at a fixed time) the query carries the workload's own matchers.

Every request has a timeout; the client does not retry (the operator's timer is the retry). Faults
(unreachable, slow, 5xx, malformed answers, NaN, no series) never raise past `observe`: a figure
that cannot be read is None and its reason is kept, and `MetricsUnavailable` is raised only when
nothing at all could be read, with a reason a condition can carry.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
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
from inferplace.metrics.observation import MetricsUnavailable, Observation, ObserveRequest
from inferplace.metrics.profiles import GPU_UTILIZATION, NEURON_UTILIZATION, PROFILES, Query, expression
from inferplace.metrics.promql import check_label_name, selector, window
from inferplace.metrics.shape import HOUR_S, fold, profile_hours, sample_range

DEFAULT_TIMEOUT_S = 10.0
ANSWER_FAULTS = (PrometheusApiClientException, requests.RequestException, ValueError, KeyError, TypeError)

Key = tuple[str, ...]  # the values of the grouping labels, in the order of the names
Table = dict[Key, float]  # an instant answer: one value per label-value combination
Series = dict[Key, list[tuple[float, float]]]  # a range answer


class Unreachable(Exception):  # noqa: N818 - a state, as MetricsUnavailable
    """The server did not answer (connection refused, timeout)."""


@dataclass
class _Shared:
    """An answer kept for `PrometheusBackend.share_s` seconds (a fault too, so a dead server costs one
    timeout per query and not one per workload)."""

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
    session: requests.Session | None = None
    share_s: float = 0.0  # > 0: answer all workloads from grouped queries kept this long
    queries_sent: int = 0  # HTTP queries made (instant and range): what a cycle costs Prometheus
    clock: Clock = system_clock  # the end of every window ("now") unless a request fixes it
    _shared: dict[tuple[str, str, float], _Shared] = field(default_factory=dict, init=False, repr=False)
    _locks: dict[tuple[str, str, float], threading.Lock] = field(default_factory=dict, init=False, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _client(self) -> PrometheusConnect:
        session = self.session or requests.Session()
        if self.ca_bundle:
            session.verify = self.ca_bundle
        # No client-side retries: the operator's timer retries, and a hanging server must cost one timeout.
        return PrometheusConnect(url=self.url.rstrip("/"), headers=self.headers, auth=self.auth, session=session,
                                 timeout=self.timeout_s, retry=Retry(total=0))

    # --- one query -------------------------------------------------------------------------------

    def table(self, promql: str, names: tuple[str, ...], at: float | None = None,
              client: PrometheusConnect | None = None) -> Table:
        """An instant query's finite values by the values of `names`. Raises on faults."""
        params: dict[str, Any] = {} if at is None else {"time": f"{at:.3f}"}
        result = self._send(lambda c: c.custom_query(promql, params=params), client)
        out: Table = {}
        for series in _series(result):
            sample = series.get("value")
            if not isinstance(sample, list) or len(sample) != 2:
                raise ValueError(f"malformed sample: {sample!r}"[:200])
            key = _key(series, names)
            if key in out:
                raise ValueError(f"more than one series for {dict(zip(names, key, strict=True))}")
            value = float(sample[1])
            if math.isfinite(value):
                out[key] = value
        return out

    def series(self, promql: str, names: tuple[str, ...], start: float, end: float, step_s: int,
               client: PrometheusConnect | None = None) -> Series:
        """A range query's samples by the values of `names`. Raises on faults."""
        result = self._send(lambda c: c.custom_query_range(
            promql, start_time=datetime.fromtimestamp(start, UTC), end_time=datetime.fromtimestamp(end, UTC),
            step=str(step_s)), client)
        out: Series = {}
        for s in _series(result):
            values = s.get("values")
            if not isinstance(values, list):
                raise ValueError(f"malformed range answer: {str(s)[:200]}")
            out[_key(s, names)] = [(float(t), float(v)) for t, v in values]
        return out

    def query(self, promql: str, at: float | None = None, client: PrometheusConnect | None = None) -> float | None:
        """The single value of an ungrouped instant query (None: no series)."""
        answer = self.table(promql, (), at, client)
        return answer.get(())

    def _send(self, call: Any, client: PrometheusConnect | None) -> Any:
        self.queries_sent += 1
        try:
            return call(client or self._client())
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}"[:300]) from exc

    def _kept(self, what: tuple[str, str, float], fetch: Any) -> tuple[Any, float]:
        """(`fetch()`, when it was fetched) once per `share_s` for every caller asking the same `what`;
        concurrent callers wait for the first."""
        with self._guard:
            lock = self._locks.setdefault(what, threading.Lock())
        with lock:
            now = time.monotonic()
            kept = self._shared.get(what)
            if kept is None or now - kept.at > self.share_s:
                wall = self.clock().timestamp()
                try:
                    kept = _Shared(now, wall, value=fetch())
                except (Unreachable, *ANSWER_FAULTS) as exc:
                    kept = _Shared(now, wall, fault=exc)
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
        queries: dict[str, Query] = dict(PROFILES[request.server])
        if request.platform == "gpu":
            queries["accelerator_utilization"] = GPU_UTILIZATION
        elif request.platform == "neuron":
            queries["accelerator_utilization"] = NEURON_UTILIZATION
        at = request.at if request.at is not None else self.clock().timestamp()
        values: dict[str, float | None] = {}
        problems: dict[str, str] = {}
        unreachable: str | None = None
        client = self._client()  # one connection pool for all the figures
        for name, q in queries.items():
            by = names if q.grouped else ()
            promql = expression(q, sel, w, by)
            try:
                if shared:
                    answer, fetched = self._kept(("instant", promql, 0.0), lambda p=promql, b=by: self.table(p, b))
                    at = min(at, fetched)  # the oldest answer used: the figures are at least that fresh
                else:
                    answer = self.table(promql, by, at, client)
            except Unreachable as exc:
                unreachable = str(exc)
                values[name], problems[name] = None, "Prometheus unreachable or too slow"
                break  # the server is down or hanging: do not wait out a timeout per figure
            except ANSWER_FAULTS as exc:
                values[name], problems[name] = None, f"bad answer: {str(exc)[:200]}"
                continue
            value = answer.get(mine if q.grouped else ())
            values[name] = None if value is None else value * q.scale
            if value is None:
                problems[name] = "no series (or NaN) for this selector and window"
        if unreachable is not None:
            raise MetricsUnavailable("PrometheusUnreachable",
                                     f"{self.url}: {unreachable} (timeout {self.timeout_s:g} s)")
        if all(v is None for v in values.values()):
            bad = [p for p in problems.values() if p.startswith("bad answer")]
            if bad:
                raise MetricsUnavailable("PrometheusError", f"{self.url}: {bad[0]}")
            shown = selector(dict(request.selector)) or "(no selector)"
            raise MetricsUnavailable("NoSeries", f"no {request.server} series match {shown} over {w}")
        try:
            hourly, source, why = self._hourly(request, names, mine, sel, at, shared, client)
        except (Unreachable, *ANSWER_FAULTS) as exc:
            hourly, source, why = None, "", f"bad answer: {str(exc)[:200]}"
        if why is not None:
            problems["hourly_requests_per_second"] = why
        return Observation.of(w, at, values, problems, hourly, source)

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
            answer, _ = self._kept(("range", promql, end), lambda: self.series(promql, names, start, end, HOUR_S))
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


def _series(result: Any) -> list[Mapping[str, Any]]:
    if not isinstance(result, list) or not all(isinstance(s, dict) for s in result):
        raise ValueError(f"unexpected answer shape: {type(result).__name__}")
    return result


def _key(series: Mapping[str, Any], names: tuple[str, ...]) -> Key:
    metric = series.get("metric") or {}
    if not isinstance(metric, dict):
        raise ValueError(f"malformed series labels: {metric!r}"[:200])
    return tuple(str(metric.get(n, "")) for n in names)
