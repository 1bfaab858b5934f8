"""Live traffic and latency: a backend interface (`observation.MetricsBackend`) with typed requests
and observations, metric profiles per serving stack, and safe PromQL built from a workload's
selector. The HTTP backends live in `prometheus` (plain Prometheus: bearer, basic, CA bundle) and
`amp` (Amazon Managed Service for Prometheus, SigV4); importing this package loads neither.
"""

from inferplace.metrics.observation import MetricsBackend, MetricsUnavailable, Observation, ObserveRequest
from inferplace.metrics.promql import SelectorError, selector

__all__ = ["MetricsBackend", "MetricsUnavailable", "Observation", "ObserveRequest", "SelectorError", "selector"]
