"""Reading a workload's live figures from Prometheus.

Every request has a timeout; the client does not retry (the operator's timer is the retry). Faults
(unreachable, slow, 5xx, malformed answers, NaN, no series) never raise past `observe`: a figure
that cannot be read is None and its reason is kept, and `MetricsUnavailable` is raised only when
nothing at all could be read, with a reason a condition can carry.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from requests.auth import AuthBase
from urllib3.util.retry import Retry

from inferplace.metrics.profiles import GPU_UTILIZATION, NEURON_UTILIZATION, PROFILES, Figure, expression
from inferplace.metrics.promql import selector, window

DEFAULT_TIMEOUT_S = 10.0


class MetricsUnavailable(Exception):  # noqa: N818 - a state, named as the condition reports it
    """No figure could be read; `reason` is a CamelCase condition reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Observation:
    """Live figures over `window` ending at `time` (unix seconds); None where not available."""

    window: str
    time: float
    values: dict[str, float | None] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # figure -> why it is missing

    def get(self, name: str) -> float | None:
        return self.values.get(name)


@dataclass
class PrometheusSource:
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
            raise ValueError(f"malformed sample: {sample!r}")
        value = float(sample[1])
        return value if math.isfinite(value) else None

    def observe(self, server: str, labels: dict[str, str], win: str, at: float | None = None,
                platform: str | None = None) -> Observation:
        """Every figure the server's profile knows, over `win`, at time `at` (default: now)."""
        sel = selector(labels)
        w = window(win)
        figures: dict[str, Figure] = dict(PROFILES[server])
        if platform == "gpu":
            figures["accelerator_utilization"] = GPU_UTILIZATION
        elif platform == "neuron":
            figures["accelerator_utilization"] = NEURON_UTILIZATION
        obs = Observation(window=w, time=at if at is not None else time.time())
        transport_errors: list[str] = []
        client = self._client()  # one connection pool for all the figures
        for name, fig in figures.items():
            try:
                value = self.query(expression(fig, sel, w), at=obs.time, client=client)
            except (requests.Timeout, requests.ConnectionError) as exc:
                transport_errors.append(f"{type(exc).__name__}: {exc}")
                obs.values[name], obs.problems[name] = None, "Prometheus unreachable or too slow"
                # The server is down or hanging: do not wait out a timeout per figure.
                break
            except (PrometheusApiClientException, requests.RequestException, ValueError, KeyError, TypeError) as exc:
                obs.values[name], obs.problems[name] = None, f"bad answer: {str(exc)[:200]}"
                continue
            obs.values[name] = None if value is None else value * fig.scale
            if value is None:
                obs.problems[name] = "no series (or NaN) for this selector and window"
        if transport_errors:
            raise MetricsUnavailable("PrometheusUnreachable",
                                     f"{self.url}: {transport_errors[0][:300]} (timeout {self.timeout_s:g} s)")
        if all(v is None for v in obs.values.values()):
            bad = [p for p in obs.problems.values() if p.startswith("bad answer")]
            if bad:
                raise MetricsUnavailable("PrometheusError", f"{self.url}: {bad[0]}")
            raise MetricsUnavailable("NoSeries", f"no {server} series match {sel or '(no selector)'} over {w}")
        return obs
