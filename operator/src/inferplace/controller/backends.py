"""Which metrics backend answers a workload, chosen by the operator's configuration: plain
Prometheus (optionally with a bearer token file, basic auth or a CA bundle), or Amazon Managed
Service for Prometheus (SigV4). A workload's own `spec.metrics.prometheusUrl` gets a plain backend
without the operator's credentials, so a spec cannot collect them.

Answers are shared for one evaluation interval: each figure is one grouped query per interval for
every workload whose selector uses the same label names (see `inferplace.metrics.prometheus`)."""

from __future__ import annotations

from requests.auth import AuthBase

from inferplace.api.clock import Clock, system_clock
from inferplace.controller.config import OperatorConfig
from inferplace.controller.runtime import BackendFactory
from inferplace.metrics import MetricsBackend
from inferplace.metrics.amp import ManagedPrometheusBackend
from inferplace.metrics.auth import BearerTokenFile, basic_auth
from inferplace.metrics.prometheus import PrometheusBackend


def operator_backend(c: OperatorConfig, clock: Clock = system_clock) -> MetricsBackend | None:
    if not c.prometheus_url:
        return None
    if c.sigv4_region:
        amp = ManagedPrometheusBackend.connect(c.prometheus_url, c.sigv4_region, c.prometheus_timeout_s, c.ca_bundle)
        amp.share_s = c.interval_s
        amp.clock = clock
        return amp
    auth: AuthBase | None = None
    if c.bearer_token_file:
        auth = BearerTokenFile(c.bearer_token_file)
    elif c.basic_auth_username and c.basic_auth_password_file:
        auth = basic_auth(c.basic_auth_username, c.basic_auth_password_file)
    return PrometheusBackend(c.prometheus_url, timeout_s=c.prometheus_timeout_s, auth=auth, ca_bundle=c.ca_bundle,
                             share_s=c.interval_s, clock=clock)


def metrics_backends(c: OperatorConfig, clock: Clock = system_clock) -> BackendFactory:
    own = operator_backend(c, clock)
    others: dict[str, MetricsBackend] = {}  # one per URL, so its answers are shared too

    def for_url(url: str | None) -> MetricsBackend | None:
        if url is None or (own is not None and url.rstrip("/") == own.url.rstrip("/")):
            return own
        key = url.rstrip("/")
        if key not in others:
            others[key] = PrometheusBackend(url, timeout_s=c.prometheus_timeout_s, ca_bundle=c.ca_bundle,
                                            share_s=c.interval_s, clock=clock)
        return others[key]

    return for_url
