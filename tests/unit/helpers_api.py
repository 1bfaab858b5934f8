"""Manifests for tests."""

from __future__ import annotations

from typing import Any


def workload_doc(model: str = "meta-llama/Llama-3.1-8B-Instruct", current: dict[str, Any] | None = None,
                 name: str = "w") -> dict[str, Any]:
    spec: dict[str, Any] = {
        "model": {"name": model},
        "traffic": {"requestsPerSecond": 10, "promptTokens": {"mean": 1000, "p95": 2000},
                    "outputTokens": {"mean": 200, "p95": 400}, "peakToMeanRatio": 2},
        "slo": {"ttftP95Ms": 2000, "tpotP95Ms": 60},
    }
    if current is not None:
        spec["current"] = current
    return {"apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload", "metadata": {"name": name},
            "spec": spec}
