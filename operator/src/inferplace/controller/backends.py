"""Which metrics backend answers a workload, chosen by the operator's configuration: plain
Prometheus (optionally with a bearer token file, basic auth or a CA bundle), or Amazon Managed
Service for Prometheus (SigV4).

The Prometheus endpoint is the platform's: a workload's own `spec.metrics.prometheusUrl` is asked
only when it falls under the operator's allow-list (checked here, before any request), and then
without the operator's credentials or the environment's. A backend per such URL is kept while a
workload names it, and dropped with the last one (`retain`), with the answers it kept.

Answers are shared for one evaluation interval: each figure is one grouped query per interval for
every workload whose selector uses the same label names (see `inferplace.metrics.prometheus`)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from requests.auth import AuthBase

from inferplace.api.clock import Clock, system_clock
from inferplace.controller.config import OperatorConfig
from inferplace.metrics import MetricsBackend, MetricsUnavailable
from inferplace.metrics.amp import ManagedPrometheusBackend
from inferplace.metrics.auth import BearerTokenFile, basic_auth
from inferplace.metrics.prometheus import PrometheusBackend
from inferplace.metrics.transport import Limits
from inferplace.metrics.urls import shown


def operator_backend(c: OperatorConfig, clock: Clock = system_clock) -> MetricsBackend | None:
    if not c.prometheus_url:
        return None
    limits = Limits(max_bytes=c.max_answer_bytes)
    if c.sigv4_region:
        amp = ManagedPrometheusBackend.connect(c.prometheus_url, c.sigv4_region, c.prometheus_timeout_s, c.ca_bundle)
        amp.share_s, amp.clock, amp.limits, amp.budget_s = c.interval_s, clock, limits, c.evaluation_timeout_s
        amp.trust_env = True
        return amp
    auth: AuthBase | None = None
    if c.bearer_token_file:
        auth = BearerTokenFile(c.bearer_token_file)
    elif c.basic_auth_username and c.basic_auth_password_file:
        auth = basic_auth(c.basic_auth_username, c.basic_auth_password_file)
    # The platform's own server: proxies from the environment apply to it.
    return PrometheusBackend(c.prometheus_url, timeout_s=c.prometheus_timeout_s, auth=auth, ca_bundle=c.ca_bundle,
                             share_s=c.interval_s, budget_s=c.evaluation_timeout_s, limits=limits, trust_env=True,
                             clock=clock)


class MetricsBackends:
    """The backend for a workload's `spec.metrics.prometheusUrl` (None: the operator's own); raises
    MetricsUnavailable(PrometheusUrlNotAllowed) for a URL outside the allow-list, before any request."""

    def __init__(self, c: OperatorConfig, clock: Clock = system_clock):
        self.config = c
        self.clock = clock
        self.own = operator_backend(c, clock)
        self.others: dict[str, MetricsBackend] = {}  # one per URL, so its answers are shared too
        self._lock = threading.Lock()

    def __call__(self, url: str | None) -> MetricsBackend | None:
        own = self.own
        if url is None or (own is not None and url.rstrip("/") == own.url.rstrip("/")):
            return own
        if not self.config.allowed_prometheus_urls.allows(url):
            raise MetricsUnavailable(
                "PrometheusUrlNotAllowed",
                f"spec.metrics.prometheusUrl {shown(url)} is not under the operator's allow-list (the chart's "
                "prometheus.allowedUrls); it was not queried: remove it to use the operator's Prometheus, or ask "
                "the platform team to allow it")
        key = url.rstrip("/")
        with self._lock:
            backend = self.others.get(key)
            if backend is None:
                c = self.config
                backend = PrometheusBackend(url, timeout_s=c.prometheus_timeout_s, ca_bundle=c.ca_bundle,
                                            share_s=c.interval_s, budget_s=c.evaluation_timeout_s,
                                            limits=Limits(max_bytes=c.max_answer_bytes), clock=self.clock)
                self.others[key] = backend
        return backend

    def retain(self, urls: Iterable[str | None]) -> int:
        """Drop the backends (and the answers they kept) no workload names any more; how many were dropped."""
        keep = {u.rstrip("/") for u in urls if u}
        with self._lock:
            gone = [k for k in self.others if k not in keep]
            for k in gone:
                del self.others[k]
        return len(gone)


def metrics_backends(c: OperatorConfig, clock: Clock = system_clock) -> MetricsBackends:
    return MetricsBackends(c, clock)
