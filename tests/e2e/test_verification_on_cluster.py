"""After the move, on the real control plane with a real Prometheus holding backfilled traffic before
and after it (promtool): a workload that kept its promise is Confirmed; one whose new fleet served 40%
less than promised, latency above the range, is Missed, and its miss corrects a third workload on the
same node pool in the next cycle, whose rationale names the correction. Status, Events, the operator's
metrics and the corrections ConfigMap are read as a user reads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferplace.controller.fleet_checks import READ_EVERY_S
from inferplace.controller.sharding import shard_of
from inferplace.metrics.prometheus import FAULT_KEEP_S

from ..support.moves import STEP_S, Serving, backfill
from ..support.ports import free_port
from ..support.prom import binaries, running, stop, wait_http
from .conftest import Cluster

pytestmark = pytest.mark.e2e

HOUR = 3600
OLD = {"instanceType": "p5.48xlarge", "replicas": 2, "chipsPerReplica": 1, "capacityType": "on-demand"}
# a: Qwen3-32B, recommended onto Hopper; b and c: two 7-8B models, both recommended onto g6e (ada/vllm)
MODELS = {"a": "Qwen/Qwen3-32B", "b": "meta-llama/Llama-3.1-8B-Instruct", "c": "mistralai/Mistral-7B-Instruct-v0.3"}
RPS = 2.0
CONFIGMAP = "inferplace-corrections"


def _manifest(name: str, namespace: str, current: dict[str, Any]) -> str:
    spec = {"model": {"name": MODELS[name]},
            "traffic": {"requestsPerSecond": RPS, "promptTokens": {"mean": 500}, "outputTokens": {"mean": 200}},
            "slo": {"ttftP95Ms": 2000, "tpotP95Ms": 60}, "current": current,
            # One replica, no spare: the by-hand figures count one replica (redundancy is tested on its own).
            "constraints": {"managedApis": [], "minReplicas": 1, "spareReplicas": 0},
            "metrics": {"server": "vllm", "selector": {"namespace": "team", "service": name}, "window": "1h"},
            "verification": {"settle": "1m"}}
    return yaml.safe_dump({"apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload",
                           "metadata": {"name": name, "namespace": namespace}, "spec": spec})


@dataclass(frozen=True)
class Run:
    cluster: Cluster
    namespace: str
    prometheus_port: int
    metrics_urls: tuple[str, ...]  # one per operator process
    logs: tuple[Path, ...]

    @property
    def metrics_url(self) -> str:
        return self.metrics_urls[0]

    def log_tails(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-4000:]}" for log in self.logs)

    def get(self, name: str) -> dict[str, Any]:
        out = self.cluster.kubectl("get", "iw", name, "-n", self.namespace, "-o", "json").stdout
        obj: dict[str, Any] = json.loads(out)
        return obj

    def wait(self, name: str, ok: Callable[[dict[str, Any]], bool], what: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            obj = self.get(name)
            if ok(obj):
                return obj
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: {what} not seen in {timeout:g} s: "
                                     f"{json.dumps(obj.get('status', {}))[:3000]}\n{self.log_tails()}")
            time.sleep(0.5)


@contextmanager
def _operators(cluster: Cluster, namespace: str, tmp: Path, count: int, *flags: str) -> Iterator[Run]:
    """`count` operator processes watching `namespace`, sharing the corrections ConfigMap, with a
    Prometheus URL where nothing listens yet (the test starts Prometheus on that port later)."""
    binaries()  # Prometheus is needed later: fail (or skip) now, not halfway
    prom_port = free_port()
    env = os.environ | {"KUBECONFIG": cluster.kubeconfig}
    procs: list[subprocess.Popen[bytes]] = []
    urls, logs = [], []
    try:
        for i in range(count):
            log, metrics_port, live_port = tmp / f"operator-{i}.log", free_port(), free_port()
            # Prometheus is not up yet: the first evaluations promise from the declared traffic. The interval is
            # long, so that every later evaluation is one the test causes (a spec change, a fleet check).
            cmd = [sys.executable, "-m", "inferplace", "operator", "--namespace", namespace,
                   "--prometheus-url", f"http://127.0.0.1:{prom_port}", "--interval", "30m", "--log-format", "plain",
                   "--corrections-configmap", f"{namespace}/{CONFIGMAP}", "--metrics-address",
                   f"127.0.0.1:{metrics_port}", "--liveness", f"http://127.0.0.1:{live_port}/healthz", *flags]
            with log.open("w") as out:
                procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env))
            urls.append(f"http://127.0.0.1:{metrics_port}/metrics")
            logs.append(log)
            assert wait_http(f"http://127.0.0.1:{live_port}/healthz", 60, procs[-1]), log.read_text()[-4000:]
        yield Run(cluster, namespace, prom_port, tuple(urls), tuple(logs))
    finally:
        for proc in procs:
            stop(proc)


@pytest.fixture(scope="module")
def run(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with cluster.scratch_namespace(f"{cluster.namespace}-verify") as namespace, \
            _operators(cluster, namespace, tmp_path_factory.mktemp("verify-operator"), 1) as one:
        yield one


@pytest.fixture
def sharded(cluster: Cluster, tmp_path: Path) -> Iterator[Run]:
    """Two processes, two shards, and a namespace where b and c hash to different shards."""
    namespace = next(ns for i in range(64) if shard_of(ns := f"{cluster.namespace}-vs{i}", "b", 2)
                     != shard_of(ns, "c", 2))
    with cluster.scratch_namespace(namespace), \
            _operators(cluster, namespace, tmp_path, 2, "--shards", "2", "--leader-election-namespace", namespace,
                       "--leader-election-id", "verify") as two:
        deadline = time.monotonic() + 60
        while [_metric(u, "inferplace_shards_held") for u in two.metrics_urls] != [1.0, 1.0]:
            assert time.monotonic() < deadline, f"not one shard each within 60 s\n{two.log_tails()}"
            time.sleep(0.5)
        yield two


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _metric(url: str, name: str, **labels: str) -> float | None:
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if ((line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()))
                or (not labels and line.startswith(name + " "))):
            return float(line.rsplit(" ", 1)[1])
    return None


def _placements(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in [status.get("recommendation"), *status.get("alternatives", [])] if p]


def _promised(run: Run, names: list[str]) -> dict[str, dict[str, Any]]:
    """Each workload applied with today's placement, and its status once it holds promises."""
    for name in names:
        run.cluster.kubectl("apply", "-f", "-", stdin=_manifest(name, run.namespace, OLD))
    return {name: run.wait(name, lambda o: bool(o.get("status", {}).get("promises")), "promises")["status"]
            for name in names}


def _history(prom: dict[str, dict[str, Any]], moves: dict[str, tuple[float, float, float]], end: int,
             moved: int) -> list[Serving]:
    """Today's pods (two replicas sharing the traffic) of every workload in `prom` until the move, or until
    `end` for those that do not move; then, for each of `moves`, the promise's replicas serving its tokens,
    TTFT and TPOT at those multiples of the promise."""
    servings = []
    for name in prom:
        last = moved if name in moves else end
        servings += [Serving({"namespace": "team", "service": name, "pod": f"{name}-old-{i}"}, end - 4 * HOUR, last,
                             RPS / 2, 500.0, 200.0, 0.4, 0.02) for i in (0, 1)]
    for name, (tokens, ttft, tpot) in moves.items():
        p = prom[name]
        per_replica = float(p["outputTokensPerSecondPerReplica"]) * tokens
        servings += [Serving({"namespace": "team", "service": name, "pod": f"{name}-new-{i}"}, moved, end,
                             per_replica / 200.0, 500.0, 200.0, float(p["ttftP95Ms"]) * ttft / 1e3,
                             float(p["tpotP95Ms"]) * tpot / 1e3) for i in range(p["replicas"])]
    return servings


def _after_the_first_fault(promised: dict[str, dict[str, Any]]) -> None:
    """The fault the first evaluations met (nothing listened yet) is kept FAULT_KEEP_S: let it pass."""
    last = max(datetime.fromisoformat(st["lastEvaluationTime"].replace("Z", "+00:00")) for st in promised.values())
    time.sleep(max(last.timestamp() + FAULT_KEEP_S + 1 - time.time(), 0))


def _follow(run: Run, name: str, p: dict[str, Any], moved: int, by_id: bool) -> None:
    """The team follows the recommendation: by its id, or by instance type and chips."""
    current = {"instanceType": p["instanceType"], "replicas": p["replicas"], "chipsPerReplica": p["chipsPerReplica"],
               "capacityType": "on-demand", "since": _iso(moved)}
    if by_id:
        current["recommendationId"] = p["id"]
    run.cluster.kubectl("patch", "iw", name, "-n", run.namespace, "--type", "merge", "-p",
                        json.dumps({"spec": {"current": current}}))


def _state(want: str) -> Callable[[dict[str, Any]], bool]:
    return lambda o: (o.get("status", {}).get("verification") or {}).get("state") == want


def _corrected(named: str) -> Callable[[dict[str, Any]], bool]:
    return lambda o: any(named in line for p in _placements(o.get("status", {})) if p["nodePool"] == "g6e"
                         for line in p.get("rationale", []))


def test_verification_confirms_a_kept_promise_and_a_miss_corrects_the_node_pool(run: Run, tmp_path: Path) -> None:
    ns = run.namespace
    promised = _promised(run, list(MODELS))
    prom = {name: st["promises"][0] for name, st in promised.items()}
    for name, st in promised.items():
        assert prom[name]["id"] == st["recommendation"]["id"]  # the first promise is the recommendation's
    assert prom["b"]["nodePool"] == prom["c"]["nodePool"] == "g6e", prom
    assert prom["b"]["scope"] == prom["c"]["scope"] != prom["a"]["scope"], prom
    c_before = next(p for p in _placements(promised["c"]) if p["nodePool"] == "g6e")

    # History: a and b moved two hours ago (a as promised; b 40% fewer tokens, TTFT x2, TPOT x1.5); c never moves.
    end = (int(time.time()) // STEP_S) * STEP_S
    moved = end - 2 * HOUR
    data = backfill(_history(prom, {"a": (1.0, 0.7, 0.8), "b": (0.6, 2.0, 1.5)}, end, moved), tmp_path / "prom")
    with running(tmp_path / "prom", "global: {scrape_interval: 15s}\nscrape_configs: []\n", data,
                 port=run.prometheus_port):
        _after_the_first_fault(promised)
        _follow(run, "a", prom["a"], moved, by_id=True)
        _follow(run, "b", prom["b"], moved, by_id=False)
        a = run.wait("a", _state("Confirmed"), "verification Confirmed")["status"]["verification"]
        b = run.wait("b", _state("Missed"), "verification Missed")["status"]["verification"]

        # a: every figure inside the promise's range; realized cost from the served tokens, savings vs p5.48xlarge
        assert a["promise"]["id"] == prom["a"]["id"] and a["reason"] == "AsPromised"
        assert a["movedAt"] == _iso(moved) and a["settledAt"] == _iso(moved + 60)
        rows = {r["metric"]: r for r in a["rows"]}
        assert float(rows["throughputPerReplica"]["ratio"]) == pytest.approx(1.0, abs=0.03)
        assert float(rows["ttftP95"]["ratio"]) == pytest.approx(0.7, abs=0.03)
        assert all(r["within"] for r in a["rows"])
        base = a["baseline"]
        assert base["instanceType"] == "p5.48xlarge" and base["windowEnd"] == _iso(moved)
        assert float(base["outputTokensPerSecond"]) == pytest.approx(RPS * 200, rel=0.03)
        usd_h, instances = float(prom["a"]["usdPerInstanceHour"]), prom["a"]["instances"]
        served = float(rows["throughputPerReplica"]["observed"]) * prom["a"]["replicas"]
        r = a["realized"]
        assert float(r["costPerMillionOutputTokens"]) == pytest.approx(usd_h * instances / (served * 3600) * 1e6,
                                                                       abs=1e-4)
        assert float(r["monthlySavings"]) == pytest.approx(
            float(base["monthlyInstanceCost"]) - usd_h * instances * 730, abs=0.01)

        # b: 40% fewer tokens than promised, TTFT twice the promise
        assert b["reason"] == "LatencyAbovePromise", b["message"]
        rows_b = {r["metric"]: r for r in b["rows"]}
        assert float(rows_b["throughputPerReplica"]["ratio"]) == pytest.approx(0.6, abs=0.03)
        assert rows_b["throughputPerReplica"]["within"] is False and rows_b["ttftP95"]["within"] is False

        # The corrections ConfigMap: both checks, and the corrections they give
        cm = json.loads(run.cluster.kubectl("get", "configmap", CONFIGMAP, "-n", ns, "-o", "json").stdout)
        checks = {c["workload"]: c for c in json.loads(cm["data"]["checks.json"])}
        assert checks[f"{ns}/b"]["ratio"] == pytest.approx(0.6, abs=0.03) and checks[f"{ns}/a"]["ratio"] == 1.0
        assert checks[f"{ns}/b"]["scope"] == prom["b"]["scope"] and checks[f"{ns}/b"]["promise"] == prom["b"]["id"]
        summary = json.loads(cm["data"]["corrections.json"])
        assert summary[prom["b"]["scope"]]["checks"] == 1
        assert summary[prom["b"]["scope"]]["factor"] == pytest.approx(checks[f"{ns}/b"]["ratio"])

        # c, on b's node pool, is evaluated again with b's miss: its g6e placement is corrected, and says so
        named = f"corrected by 1 live check of {prom['b']['scope']}: throughput x{checks[f'{ns}/b']['ratio']:.2f}"
        c = run.wait("c", _corrected(named), f"a rationale naming '{named}'", timeout=60)["status"]
        g6e = next(p for p in _placements(c) if p["nodePool"] == "g6e")
        line = next(x for x in g6e["rationale"] if named in x)
        assert "where the fitted engine alone says" in line
        assert named in g6e["confidence"]["basis"]
        assert float(g6e["projected"]["tpotP95Ms"]) > float(c_before["projected"]["tpotP95Ms"])

    # Events, as kubectl shows them
    events = json.loads(run.cluster.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
    seen = {(e["involvedObject"]["name"], e["reason"], e["type"]) for e in events}
    assert ("a", "PredictionConfirmed", "Normal") in seen and ("b", "PredictionMissed", "Warning") in seen, seen
    assert not any(name == "c" and reason.startswith("Prediction") for name, reason, _ in seen)

    # The operator's metrics
    ratio_b = _metric(run.metrics_url, "inferplace_prediction_ratio", namespace=ns, workload="b",
                      metric="throughputPerReplica", node_pool="g6e")
    assert ratio_b == pytest.approx(0.6, abs=0.03)
    assert _metric(run.metrics_url, "inferplace_realized_savings_dollars", namespace=ns,
                   workload="a") == pytest.approx(float(a["realized"]["monthlySavings"]), abs=0.01)


    # kubectl get iw shows the verification state
    table = run.cluster.kubectl("get", "iw", "-n", ns).stdout.splitlines()
    assert "VERIFIED" in table[0].split()
    rows_by_name = {line.split()[0]: line.split() for line in table[1:]}
    assert "Confirmed" in rows_by_name["a"] and "Missed" in rows_by_name["b"]
    described = run.cluster.kubectl("describe", "iw", "b", "-n", ns).stdout
    assert "Verification:" in described and "LatencyAbovePromise" in described
    assert "PredictionMissed" in described


def test_a_miss_found_by_one_shard_process_corrects_a_workload_the_other_holds(sharded: Run, tmp_path: Path) -> None:
    """b and c on two processes (shards by hash): b's miss, stored in the ConfigMap by b's process, reaches
    c's process within its minute's read of the store, which evaluates c with the correction."""
    run = sharded
    promised = _promised(run, ["b", "c"])
    prom = {name: st["promises"][0] for name, st in promised.items()}
    assert prom["b"]["scope"] == prom["c"]["scope"], prom
    end = (int(time.time()) // STEP_S) * STEP_S
    moved = end - 2 * HOUR
    data = backfill(_history(prom, {"b": (0.6, 2.0, 1.5)}, end, moved), tmp_path / "prom")
    with running(tmp_path / "prom", "global: {scrape_interval: 15s}\nscrape_configs: []\n", data,
                 port=run.prometheus_port):
        _after_the_first_fault(promised)
        _follow(run, "b", prom["b"], moved, by_id=False)
        run.wait("b", _state("Missed"), "verification Missed")
        checked = time.monotonic()
        named = f"corrected by 1 live check of {prom['b']['scope']}"
        run.wait("c", _corrected(named), f"a rationale naming '{named}'", timeout=READ_EVERY_S + 60)
        print(f"c corrected {time.monotonic() - checked:.1f} s after b's verdict was seen")
    # The check was made by one process and read from the store by the other.
    made = [log for log in run.logs if f"fleet check of {prom['b']['scope']} from {run.namespace}/b" in log.read_text()]
    read = [log for log in run.logs if "fleet checks changed in the store" in log.read_text()]
    assert len(made) == 1 and read and made[0] not in read, run.log_tails()
