"""The operator's kopf handlers against kmock's Kubernetes API emulator: create -> status written,
spec change -> re-evaluated, interval -> re-evaluated, bad spec -> Ready=False, Prometheus down ->
MetricsAvailable=False with the declared traffic. kmock has no generations, so the tests stamp
`metadata.generation` on every spec write, as the API server does."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonpatch
import kmock as km
import pytest
import yaml
from kopf.testing import KopfRunner

import inferplace.controller.handlers  # noqa: F401 - registers the handlers in kopf's default registry

from ..support.live import WINDOW, Live
from ..support.manifests import CURRENT, SELF_HOSTED, workload_doc
from ..support.ports import free_port

pytestmark = pytest.mark.handlers

RESOURCE = "inferplace.io/v1alpha1/inferenceworkloads"
BASE = "/apis/inferplace.io/v1alpha1/namespaces/team/inferenceworkloads"


class Emulator(km.KubernetesEmulator):  # type: ignore[misc]
    """kmock + what kopf and the status writer rely on: a fresh resourceVersion per write and
    HTTP 422 on a failed JSON-Patch test, as the API server answers."""

    _rv = itertools.count(1)

    async def _handle(self, request: Any) -> Any:
        if request.action in (km.action.CREATE, km.action.UPDATE):
            rv = str(next(self._rv))
            if isinstance(request.data, dict):
                request.data.setdefault("metadata", {})["resourceVersion"] = rv
            elif isinstance(request.data, list):
                request.data.append({"op": "add", "path": "/metadata/resourceVersion", "value": rv})
        try:
            return await super()._handle(request)
        except jsonpatch.JsonPatchException as e:
            raise km.KubernetesError(status=422, reason="Invalid", message=str(e)) from e


async def until(condition: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.fixture
def api(kmock: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    kmock.resources["v1/namespaces"] = km.ResourceInfo(kind="Namespace", namespaced=False, verbs={"list", "watch"})
    kmock.resources["v1/events"] = km.ResourceInfo(kind="Event", namespaced=True, verbs={"create", "list"})
    kmock.resources[RESOURCE] = km.ResourceInfo(
        kind="InferenceWorkload", singular="inferenceworkload", namespaced=True, subresources={"status"},
        verbs={"get", "list", "watch", "create", "patch", "delete"})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
        "clusters": [{"name": "kmock", "cluster": {"server": str(kmock.url).rstrip("/")}}],
        "users": [{"name": "kmock", "user": {}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
    }))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("INFERPLACE_ALL_NAMESPACES", "true")
    monkeypatch.setenv("INFERPLACE_INTERVAL", "2s")
    monkeypatch.setenv("INFERPLACE_METRICS_ADDRESS", f"127.0.0.1:{free_port()}")
    return kmock


def _doc(name: str, generation: int = 1, **spec: Any) -> dict[str, Any]:
    doc = workload_doc(current=CURRENT, name=name, constraints=SELF_HOSTED)
    doc["spec"].update(spec)
    doc["metadata"] |= {"namespace": "team", "uid": f"uid-{name}", "generation": generation}
    return doc


def _status(api: Any, name: str) -> dict[str, Any]:
    obj = api.objects[RESOURCE, "team", name]
    status: dict[str, Any] = obj.get("status") or {}
    return status


def _condition(api: Any, name: str, kind: str) -> dict[str, Any]:
    return next((c for c in _status(api, name).get("conditions", []) if c["type"] == kind), {})


def _counter(name: str, **labels: str) -> float:
    """A sample of the running operator's /metrics (0 when absent)."""
    address = os.environ["INFERPLACE_METRICS_ADDRESS"]
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=5) as r:
        text = r.read().decode()
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


def _run() -> KopfRunner:
    return KopfRunner(["run", "-A", "--standalone", "-m", "inferplace.controller.handlers"], timeout=60)


@pytest.mark.asyncio
@pytest.mark.kmock(cls=Emulator)
async def test_create_update_and_interval_reevaluate(api: Any) -> None:
    with _run() as runner:
        await until(lambda: len(api[km.action.WATCH]))
        resp = await api.post(BASE, json=_doc("chat"))
        assert resp.status == 200
        await until(lambda: _status(api, "chat").get("observedGeneration") == 1)
        ready = _condition(api, "chat", "Ready")
        assert ready["status"] == "True" and ready["observedGeneration"] == 1
        first = _status(api, "chat")
        assert first["recommendation"]["instanceType"] and first["current"]["instanceType"] == "p5.48xlarge"
        assert _condition(api, "chat", "MetricsAvailable")["reason"] == "NotConfigured"
        # An Event tells that a recommendation exists.
        await until(lambda: any(e.get("reason") == "RecommendationChanged"
                                for e in api.objects.values() if e.get("kind") == "Event" or "involvedObject" in e))

        # A spec change (the API server bumps the generation) is evaluated at once.
        tokens = first["recommendation"]["costBreakdown"]["acceptedOutputTokensPerMonth"]
        busier = {"requestsPerSecond": 40, "promptTokens": {"mean": 1000}, "outputTokens": {"mean": 200}}
        resp = await api.patch(f"{BASE}/chat", json={"metadata": {"generation": 2}, "spec": {"traffic": busier}})
        assert resp.status == 200
        await until(lambda: _status(api, "chat").get("observedGeneration") == 2)
        assert _status(api, "chat")["recommendation"]["costBreakdown"]["acceptedOutputTokensPerMonth"] != tokens

        # With nothing changed, the interval (2 s here) re-evaluates, and writes nothing: the status on
        # the object is what the evaluation gives, up to its time.
        stamp = _status(api, "chat")["lastEvaluationTime"]
        await until(lambda: _counter("inferplace_kubernetes_api_writes_total", kind="status_unchanged") >= 1,
                    timeout=10)
        assert _status(api, "chat")["lastEvaluationTime"] == stamp
    assert runner.exit_code == 0, runner.output
    # No finalizer and no kopf annotations on the user's object.
    meta = api.objects[RESOURCE, "team", "chat"]["metadata"]
    assert not meta.get("finalizers") and not any("kopf" in k for k in meta.get("annotations", {}))


@pytest.mark.asyncio
@pytest.mark.kmock(cls=Emulator)
async def test_unevaluable_spec_and_prometheus_down(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    closed = free_port()  # nothing listens here
    monkeypatch.setenv("INFERPLACE_ALLOWED_PROMETHEUS_URLS", f"http://127.0.0.1:{closed}")
    with _run() as runner:
        await until(lambda: len(api[km.action.WATCH]))
        bad = _doc("ghost", model={"name": "acme/NoSuchModel-7B"})
        down = _doc("blind", metrics={"server": "vllm", "prometheusUrl": f"http://127.0.0.1:{closed}"})
        for doc in (bad, down):
            assert (await api.post(BASE, json=doc)).status == 200
        await until(lambda: _status(api, "ghost").get("observedGeneration") == 1
                    and _status(api, "blind").get("observedGeneration") == 1)
        ready = _condition(api, "ghost", "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "CannotEvaluate")
        assert "spec.model.name" in ready["message"]
        metrics = _condition(api, "blind", "MetricsAvailable")
        assert (metrics["status"], metrics["reason"]) == ("False", "PrometheusUnreachable")
        assert _condition(api, "blind", "Ready")["status"] == "True"  # declared traffic still answers
    assert runner.exit_code == 0, runner.output


@pytest.mark.asyncio
@pytest.mark.prometheus
@pytest.mark.kmock(cls=Emulator)
async def test_live_metrics_reach_the_status(api: Any, live_prometheus: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFERPLACE_ALLOWED_PROMETHEUS_URLS", live_prometheus.url)
    metrics = {"server": "vllm", "selector": {"namespace": "chat"}, "window": WINDOW,
               "prometheusUrl": live_prometheus.url}
    with _run() as runner:
        await until(lambda: len(api[km.action.WATCH]))
        assert (await api.post(BASE, json=_doc("live", metrics=metrics))).status == 200
        await until(lambda: _status(api, "live").get("observedGeneration") == 1)
    assert runner.exit_code == 0, runner.output
    status = _status(api, "live")
    assert _condition(api, "live", "MetricsAvailable")["status"] == "True"
    truth = live_prometheus.truth.expected()
    observed = status["observed"]
    assert float(observed["requestsPerSecond"]) == pytest.approx(truth["requests_per_second"], rel=0.03)
    assert float(observed["outputTokensMean"]) == pytest.approx(truth["output_tokens_mean"], rel=0.03)
    assert float(observed["tpotMeanMs"]) == pytest.approx(truth["tpot_mean_s"] * 1e3, rel=0.03)
    # The observed traffic, not the declared 10 req/s x 200 tokens, is what gets costed.
    tokens = float(status["recommendation"]["costBreakdown"]["acceptedOutputTokensPerMonth"])
    assert tokens == pytest.approx(truth["output_tokens_per_second"] * 730 * 3600, rel=0.03)
    calibrated = _condition(api, "live", "Calibrated")
    assert calibrated["reason"] in ("ModelAgrees", "ModelAdjusted", "MeasurementImplausible")
    assert "measured vs" in calibrated["message"]
