"""Live traffic and latency from Prometheus: metric profiles per serving stack, safe PromQL built
from a workload's selector, and a client with timeouts that reports faults as reasons, not crashes."""

from inferplace.metrics.client import MetricsUnavailable, Observation, PrometheusSource
from inferplace.metrics.promql import SelectorError, selector

__all__ = ["MetricsUnavailable", "Observation", "PrometheusSource", "SelectorError", "selector"]
