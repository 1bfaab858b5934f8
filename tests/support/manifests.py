"""InferenceWorkload manifests for tests."""

from __future__ import annotations

from typing import Any

# For tests of the self-hosted rules: no managed API in the running (Bedrock is on by default).
SELF_HOSTED: dict[str, Any] = {"managedApis": []}
# For tests whose arithmetic by hand counts one replica: no redundancy (the default keeps N+1, at least 2).
ONE_REPLICA: dict[str, Any] = {"minReplicas": 1, "spareReplicas": 0}

CURRENT: dict[str, Any] = {"instanceType": "p5.48xlarge", "replicas": 2, "chipsPerReplica": 1,
                           "capacityType": "on-demand"}


def workload_doc(model: str = "meta-llama/Llama-3.1-8B-Instruct", current: dict[str, Any] | None = None,
                 name: str = "w", **spec: Any) -> dict[str, Any]:
    """A valid manifest: 10 req/s, 1000/200 tokens, TTFT 2 s, TPOT 60 ms; `spec` fields override."""
    body: dict[str, Any] = {
        "model": {"name": model},
        "traffic": {"requestsPerSecond": 10, "promptTokens": {"mean": 1000, "p95": 2000},
                    "outputTokens": {"mean": 200, "p95": 400}, "peakToMeanRatio": 2},
        "slo": {"ttftP95Ms": 2000, "tpotP95Ms": 60},
    }
    if current is not None:
        body["current"] = current
    body.update(spec)
    return {"apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload", "metadata": {"name": name},
            "spec": body}
