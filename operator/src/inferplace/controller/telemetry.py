"""The operator's own Prometheus metrics, on a registry of its own (served at /metrics)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

KEYS = ("namespace", "name")


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.evaluations = Counter("inferplace_evaluations", "Evaluations of InferenceWorkloads by result "
                                   "(ready, not_ready, error)", ["result"], registry=r)
        self.duration = Histogram("inferplace_evaluation_duration_seconds", "Wall time of one evaluation: "
                                  "its share of its batch's Prometheus reads and engine pass, and its status write",
                                  buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r)
        self.prometheus_errors = Counter("inferplace_prometheus_query_errors",
                                         "Prometheus faults by reason (PrometheusUnreachable, PrometheusError, "
                                         "NoSeries, BadAnswer)", ["reason"], registry=r)
        self.api_errors = Counter("inferplace_kubernetes_api_errors", "Failed status or event writes",
                                  ["operation"], registry=r)
        self.api_writes = Counter("inferplace_kubernetes_api_writes", "Writes to the API server by kind (status, "
                                  "event), and status writes skipped because nothing in the status changed "
                                  "(status_unchanged)", ["kind"], registry=r)
        self.status_skipped = Counter("inferplace_status_writes_skipped", "Status writes skipped: nothing a user "
                                      "reads changed (unchanged), or only live figures moved within "
                                      "--status-tolerance (within_tolerance)", ["reason"], registry=r)
        self.shards_held = Gauge("inferplace_shards_held", "Shards (Leases) this process holds and evaluates; 0 "
                                 "on a standby", registry=r)
        self.workloads = Gauge("inferplace_workloads", "InferenceWorkloads the operator knows", registry=r)
        self.queue = Gauge("inferplace_evaluation_queue_length", "Workloads waiting for an evaluation",
                           registry=r)
        self.savings = Gauge("inferplace_projected_monthly_savings_usd", "Current monthly cost minus the "
                             "recommendation's (USD per 730-hour month)", KEYS, registry=r)
        self.cost = Gauge("inferplace_cost_per_million_output_tokens_usd", "Cost per million accepted output "
                          "tokens", [*KEYS, "placement"], registry=r)
        self.price_refresh_errors = Counter("inferplace_price_refresh_errors", "Problems in live price refreshes "
                                            "(failed calls, unusable entries)", registry=r)
        self.price_age = Gauge("inferplace_prices_age_seconds", "Seconds since the prices in effect were read: the "
                               "last good live refresh, else the snapshot's date", registry=r)
        self.prediction_ratio = Gauge("inferplace_prediction_ratio", "After a move to a recommended placement "
                                      "and its settling period: observed over promised, per metric "
                                      "(throughputPerReplica, ttftP95, tpotP95)",
                                      ["namespace", "workload", "metric", "node_pool"], registry=r)
        self.realized_savings = Gauge("inferplace_realized_savings_dollars", "After a verified move: the "
                                      "baseline's monthly instance bill minus the new placement's (USD per "
                                      "730-hour month)", ["namespace", "workload"], registry=r)
        self._ratio_series: dict[tuple[str, str], set[tuple[str, str, str, str]]] = {}
        self.ready = Gauge("inferplace_workload_ready", "1 when the workload has a recommendation", KEYS,
                           registry=r)

    def record(self, namespace: str, name: str, ready: bool, savings: float | None, now: float | None,
               recommended: float | None) -> None:
        self.ready.labels(namespace, name).set(1.0 if ready else 0.0)
        for gauge, labels, value in ((self.savings, (namespace, name), savings),
                                     (self.cost, (namespace, name, "current"), now),
                                     (self.cost, (namespace, name, "recommended"), recommended)):
            if value is None:
                _forget(gauge, labels)
            else:
                gauge.labels(*labels).set(value)

    def verification(self, namespace: str, name: str, ratios: Mapping[str, float], node_pool: str | None,
                     savings: float | None) -> None:
        """The latest check of a move (series of metrics no longer checked, or another node pool, go)."""
        now = {(namespace, name, metric, node_pool) for metric in ratios} if node_pool is not None else set()
        for labels in self._ratio_series.pop((namespace, name), set()) - now:
            _forget(self.prediction_ratio, labels)
        for labels in now:
            self.prediction_ratio.labels(*labels).set(ratios[labels[2]])
        if now:
            self._ratio_series[(namespace, name)] = now
        if savings is None:
            _forget(self.realized_savings, (namespace, name))
        else:
            self.realized_savings.labels(namespace, name).set(savings)

    def forget(self, namespace: str, name: str) -> None:
        self.verification(namespace, name, {}, None, None)
        _forget(self.ready, (namespace, name))
        _forget(self.savings, (namespace, name))
        for placement in ("current", "recommended"):
            _forget(self.cost, (namespace, name, placement))


def _forget(gauge: Gauge, labels: tuple[str, ...]) -> None:
    with contextlib.suppress(KeyError):
        gauge.remove(*labels)
