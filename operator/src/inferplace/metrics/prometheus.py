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
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests.auth import AuthBase
from urllib3.util.retry import Retry

from inferplace.metrics.observation import MetricsUnavailable, Observation, ObserveRequest
from inferplace.metrics.profiles import GPU_UTILIZATION, NEURON_UTILIZATION, PROFILES, Query, expression
from inferplace.metrics.promql import selector, window

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
        return Observation.of(w, at, values, problems)
