"""The operator against a real API server: apply a workload, wait for Ready, read the status the
way a user does (`kubectl get iw`, wide columns), change the spec, and have bad manifests refused
at admission by the generated CRD's schema and CEL rules."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
import yaml

from ..support.live import WINDOW, Live
from .conftest import Cluster, Operator

pytestmark = pytest.mark.e2e

CURRENT = {"instanceType": "p5.48xlarge", "replicas": 2, "chipsPerReplica": 1, "capacityType": "on-demand"}


def manifest(name: str, namespace: str, **spec: Any) -> str:
    body: dict[str, Any] = {
        "model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
        "traffic": {"requestsPerSecond": 10, "promptTokens": {"mean": 1000, "p95": 2000},
                    "outputTokens": {"mean": 200, "p95": 400}, "peakToMeanRatio": "1.5"},
        "slo": {"ttftP95Ms": 2000, "tpotP95Ms": 60},
        "current": CURRENT,
    }
    body.update(spec)
    return yaml.safe_dump({"apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload",
                           "metadata": {"name": name, "namespace": namespace}, "spec": body})


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in obj.get("status", {}).get("conditions", []) if c.get("type") == kind), {})


def wait_evaluated(cluster: Cluster, name: str, op: Operator, timeout: float = 120) -> dict[str, Any]:
    """The object once its status answers its current generation."""
    deadline = time.monotonic() + timeout
    while True:
        obj = cluster.get(name)
        if obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"]:
            return obj
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} not evaluated in {timeout:g} s: {obj.get('status')}\n"
                                 f"operator log:\n{op.log.read_text()[-4000:]}")
        time.sleep(0.5)


def test_workload_gets_a_recommendation_from_live_metrics(cluster: Cluster, operator: Operator,
                                                         live_prometheus: Live) -> None:
    metrics = {"server": "vllm", "selector": {"namespace": "chat", "model_name": "llama-8b"}, "window": WINDOW}
    cluster.kubectl("apply", "-f", "-", stdin=manifest("chat", cluster.namespace, metrics=metrics))
    obj = wait_evaluated(cluster, "chat", operator)
    status = obj["status"]
    assert condition(obj, "Ready")["status"] == "True", status
    assert condition(obj, "MetricsAvailable")["status"] == "True", status
    assert condition(obj, "Calibrated").get("reason"), status
    for c in status["conditions"]:
        assert c["observedGeneration"] == obj["metadata"]["generation"] and c["lastTransitionTime"]
    truth = live_prometheus.truth.expected()
    observed = status["observed"]
    assert float(observed["requestsPerSecond"]) == pytest.approx(truth["requests_per_second"], rel=0.05)
    assert float(observed["outputTokensMean"]) == pytest.approx(truth["output_tokens_mean"], rel=0.05)
    assert float(observed["ttftMeanMs"]) == pytest.approx(truth["ttft_mean_s"] * 1e3, rel=0.05)
    rec = status["recommendation"]
    assert rec["instanceType"] and rec["nodePool"] and float(rec["costPerMillionOutputTokens"]) > 0
    assert status["current"]["instanceType"] == "p5.48xlarge" and status["lastEvaluationTime"]
    # --alternatives 3 (the fixture's): three written; every other node pool is still in rejected, with its cost.
    assert len(status["alternatives"]) == 3, [a["summary"] for a in status["alternatives"]]
    pools = {rec["nodePool"]} | {a["nodePool"] for a in status["alternatives"]} | {
        r["nodePool"] for r in status["rejected"]}
    assert {"g6e", "p4d", "p5", "trn2", "inf2"} <= pools, sorted(pools)
    # The status is one field of the operator's in managedFields (the CRD marks it atomic), not every leaf.
    shown = json.loads(cluster.kubectl("get", "iw", "chat", "-n", cluster.namespace, "-o", "json",
                                       "--show-managed-fields").stdout)
    owned = [m["fieldsV1"] for m in shown["metadata"]["managedFields"] if m.get("subresource") == "status"]
    assert owned == [{"f:status": {}}], owned

    # kubectl get iw: the printer columns a user reads.
    table = cluster.kubectl("get", "iw", "-n", cluster.namespace).stdout.splitlines()
    header = table[0].split()
    for column in ("NAME", "MODEL", "CURRENT", "RECOMMENDED", "SAVINGS/MO", "SAVINGS", "%", "CONFIDENCE",
                   "READY", "AGE"):
        assert column in header, table[0]
    row = table[1].split()
    assert row[0] == "chat" and "p5.48xlarge" in row and rec["instanceType"] in row and "True" in row
    wide = cluster.kubectl("get", "iw", "-n", cluster.namespace, "-o", "wide").stdout.splitlines()
    for column in ("$/1M", "TTFT", "TPOT"):
        assert column in wide[0], wide[0]
    assert rec["costPerMillionOutputTokens"] in wide[1]

    # Explain comes from the model docstrings (the published OpenAPI can lag the CRD by seconds).
    deadline = time.monotonic() + 60
    while (explain := cluster.kubectl("explain", "inferenceworkloads.spec.slo", check=False)).returncode != 0:
        assert time.monotonic() < deadline, explain.stderr
        time.sleep(2)
    assert "tpotP95Ms" in explain.stdout

    # The operator's own metrics carry this workload's figures.
    # The status is written first, then the Event, then the gauges: poll briefly.
    want = f'inferplace_cost_per_million_output_tokens_usd{{name="chat",namespace="{cluster.namespace}"'
    deadline = time.monotonic() + 15
    while True:
        with urllib.request.urlopen(operator.metrics_url, timeout=5) as r:
            text = r.read().decode()
        if want in text or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "inferplace_evaluations_total" in text
    assert want in text, operator.log.read_text()[-3000:]


def test_spec_change_is_reevaluated_at_once(cluster: Cluster, operator: Operator) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=manifest("batch", cluster.namespace))
    first = wait_evaluated(cluster, "batch", operator)
    assert condition(first, "MetricsAvailable")["reason"] == "NotConfigured"
    tokens = first["status"]["recommendation"]["costBreakdown"]["acceptedOutputTokensPerMonth"]
    cluster.kubectl("patch", "iw", "batch", "-n", cluster.namespace, "--type=merge",
                    "-p", '{"spec": {"traffic": {"requestsPerSecond": 40}}}')
    second = wait_evaluated(cluster, "batch", operator, timeout=30)  # well before the 1 m interval
    assert second["metadata"]["generation"] > first["metadata"]["generation"]
    assert second["status"]["recommendation"]["costBreakdown"]["acceptedOutputTokensPerMonth"] != tokens
    events = cluster.kubectl("get", "events", "-n", cluster.namespace,
                             "--field-selector", "involvedObject.name=batch", "-o", "yaml").stdout
    assert "RecommendationChanged" in events


def test_unevaluable_spec_is_not_ready_with_a_reason(cluster: Cluster, operator: Operator) -> None:
    cluster.kubectl("apply", "-f", "-", stdin=manifest("ghost", cluster.namespace,
                                                       model={"name": "acme/NoSuchModel-7B"}))
    obj = wait_evaluated(cluster, "ghost", operator)
    ready = condition(obj, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "CannotEvaluate")
    assert "spec.model.name" in ready["message"]


@pytest.mark.parametrize(("spec", "field"), [
    ({"current": CURRENT | {"replicas": 0}}, "spec.current.replicas"),
    ({"slo": {"ttftP95Ms": 2000}}, "tpotP95Ms"),
    ({"model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "weightPrecision": "fp13"}}, "spec.model.weightPrecision"),
    ({"constraints": {"capacityTypes": ["cheap"]}}, "spec.constraints.capacityTypes"),
    ({"traffic": {"requestsPerSecond": 10, "promptTokens": {"mean": 1000, "p95": 10},
                  "outputTokens": {"mean": 200}}}, "p95"),
])
def test_bad_manifests_are_refused_by_the_api_server(cluster: Cluster, spec: dict[str, Any], field: str) -> None:
    proc = cluster.kubectl("apply", "-f", "-", stdin=manifest("bad", cluster.namespace, **spec), check=False)
    assert proc.returncode != 0, proc.stdout
    assert field in proc.stderr, proc.stderr
