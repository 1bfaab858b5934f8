"""The plain Prometheus backend: instant queries over HTTP with a timeout, a bearer token, basic auth
or a CA bundle.

Every request has a timeout; the client does not retry (the operator's timer is the retry). Faults
(unreachable, slow, 5xx, malformed answers, NaN, no series) never raise past `observe`: a figure
that cannot be read is None and its reason is kept, and `MetricsUnavailable` is raised only when
nothing at all could be read, with a reason a condition can carry.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests.auth import AuthBase
from urllib3.util.retry import Retry

from inferplace.api.vocabulary import duration_seconds
from inferplace.metrics.observation import MetricsUnavailable, Observation, ObserveRequest
from inferplace.metrics.profiles import GPU_UTILIZATION, NEURON_UTILIZATION, PROFILES, Query, expression
from inferplace.metrics.promql import selector, window
from inferplace.metrics.shape import HOUR_S, fold, profile_hours, sample_range

DEFAULT_TIMEOUT_S = 10.0


@dataclass
class PrometheusBackend:
    url: str
    timeout_s: float = DEFAULT_TIMEOUT_S
    headers: dict[str, str] | None = None
    auth: AuthBase | tuple[str, str] | None = None
    ca_bundle: str | None = None
    session: requests.Session | None = None

    def _client(self) -> PrometheusConnect:
        session = self.session or requests.Session()
        if self.ca_bundle:
            session.verify = self.ca_bundle
        # No client-side retries: the operator's timer retries, and a hanging server must cost one timeout.
        return PrometheusConnect(url=self.url.rstrip("/"), headers=self.headers, auth=self.auth, session=session,
                                 timeout=self.timeout_s, retry=Retry(total=0))

    def query(self, promql: str, at: float | None = None, client: PrometheusConnect | None = None) -> float | None:
        """The single value of an instant query (None: no series). Raises on transport and format faults."""
        params: dict[str, Any] = {} if at is None else {"time": f"{at:.3f}"}
        result = (client or self._client()).custom_query(promql, params=params)
        if not isinstance(result, list):
            raise ValueError(f"unexpected answer shape: {type(result).__name__}")
        if not result:
            return None
        if len(result) > 1:
            raise ValueError(f"expected one series, got {len(result)}")
        sample = result[0].get("value") if isinstance(result[0], dict) else None
        if not isinstance(sample, list) or len(sample) != 2:
            raise ValueError(f"malformed sample: {sample!r}"[:200])
        value = float(sample[1])
        return value if math.isfinite(value) else None

    def query_range(self, promql: str, start: float, end: float, step_s: int,
                    client: PrometheusConnect | None = None) -> list[tuple[float, float]]:
        """The (time, value) samples of a range query with one series (none: []). Raises on faults."""
        result = (client or self._client()).custom_query_range(
            promql, start_time=datetime.fromtimestamp(start, UTC), end_time=datetime.fromtimestamp(end, UTC),
            step=str(step_s))
        if not isinstance(result, list):
            raise ValueError(f"unexpected answer shape: {type(result).__name__}")
        if not result:
            return []
        if len(result) > 1:
            raise ValueError(f"expected one series, got {len(result)}")
        values = result[0].get("values") if isinstance(result[0], dict) else None
        if not isinstance(values, list):
            raise ValueError(f"malformed range answer: {str(result[0])[:200]}")
        return [(float(t), float(v)) for t, v in values]

    def _hourly(self, request: ObserveRequest, sel: str, at: float,
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
        start, end = sample_range(at, span)
        samples = self.query_range(expression(profile[name], sel, "1h"), start, end, HOUR_S, client)
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

    def observe(self, request: ObserveRequest) -> Observation:
        """Every figure the server's profile knows, over the request's window, at its time (default: now)."""
        sel = selector(dict(request.selector))
        w = window(request.window)
        queries: dict[str, Query] = dict(PROFILES[request.server])
        if request.platform == "gpu":
            queries["accelerator_utilization"] = GPU_UTILIZATION
        elif request.platform == "neuron":
            queries["accelerator_utilization"] = NEURON_UTILIZATION
        at = request.at if request.at is not None else time.time()
        values: dict[str, float | None] = {}
        problems: dict[str, str] = {}
        transport_errors: list[str] = []
        client = self._client()  # one connection pool for all the figures
        for name, q in queries.items():
            try:
                value = self.query(expression(q, sel, w), at=at, client=client)
            except (requests.Timeout, requests.ConnectionError) as exc:
                transport_errors.append(f"{type(exc).__name__}: {exc}")
                values[name], problems[name] = None, "Prometheus unreachable or too slow"
                # The server is down or hanging: do not wait out a timeout per figure.
                break
            except (PrometheusApiClientException, requests.RequestException, ValueError, KeyError, TypeError) as exc:
                values[name], problems[name] = None, f"bad answer: {str(exc)[:200]}"
                continue
            values[name] = None if value is None else value * q.scale
            if value is None:
                problems[name] = "no series (or NaN) for this selector and window"
        if transport_errors:
            raise MetricsUnavailable("PrometheusUnreachable",
                                     f"{self.url}: {transport_errors[0][:300]} (timeout {self.timeout_s:g} s)")
        if all(v is None for v in values.values()):
            bad = [p for p in problems.values() if p.startswith("bad answer")]
            if bad:
                raise MetricsUnavailable("PrometheusError", f"{self.url}: {bad[0]}")
            raise MetricsUnavailable("NoSeries", f"no {request.server} series match {sel or '(no selector)'} over {w}")
        try:
            hourly, source, why = self._hourly(request, sel, at, client)
        except (PrometheusApiClientException, requests.RequestException, ValueError, KeyError, TypeError) as exc:
            hourly, source, why = None, "", f"bad answer: {str(exc)[:200]}"
        if why is not None:
            problems["hourly_requests_per_second"] = why
        return Observation.of(w, at, values, problems, hourly, source)
