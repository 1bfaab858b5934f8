"""Faults on a real control plane this module starts and breaks itself (tests/support/controlplane.py):
the API server and etcd stopped and restarted under a running operator, spec edits racing status
writes, workloads deleted while they are evaluated, Prometheus down or too slow. Each fault must end
in a clear condition or log line, with nothing crashed, lost, regressed or looping."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from inferplace.engine.tco import SECONDS_PER_MONTH

from ..support.controlplane import ControlPlane, built
from ..support.ports import free_port
from ..support.prom import stop, wait_http
from .test_cluster import condition, manifest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SELF_HOSTED = {"managedApis": []}


@dataclass
class Rig:
    plane: ControlPlane
    namespace: str
    metrics_url: str
    log: Path
    proc: subprocess.Popen[bytes]
    allowed: dict[str, int]  # ports of Prometheus URLs the operator allows workloads to name

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.plane.bin / "kubectl"), "--kubeconfig", str(self.plane.kubeconfig), *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def get(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.kubectl("get", "iw", name, "-n", self.namespace, "-o", "json").stdout)
        return out

    def apply(self, name: str, **spec: Any) -> None:
        self.kubectl("apply", "-f", "-", stdin=manifest(name, self.namespace, **spec))

    def counter(self, name: str, **labels: str) -> float:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as r:
            text = r.read().decode()
        want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(want + " ")
                   or (not labels and line.startswith(name + "{")))

    def evaluated(self, name: str) -> bool:
        obj = self.get(name)
        return obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"]

    def tail(self) -> str:
        api = self.plane.log_tail("kube-apiserver", 1500)
        return f"operator log:\n{self.log.read_text()[-3000:]}\napiserver log:\n{api}"


def eventually(check: Callable[[], bool], timeout: float, what: str, rig: Rig) -> float:
    """Seconds until `check()` held; fails with the logs after `timeout`."""
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            pass
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:g} s\n{rig.tail()}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    if not built():
        if os.environ.get("INFERPLACE_REQUIRE_E2E"):
            pytest.fail("INFERPLACE_REQUIRE_E2E is set but the control plane is not built "
                        "(python -m tests.support.controlplane build)")
        pytest.skip("control-plane binaries not built (python -m tests.support.controlplane build)")
    root = tmp_path_factory.mktemp("faults")
    with ControlPlane(root / "k8s") as plane:
        ns = f"faults-{uuid.uuid4().hex[:6]}"
        kubectl = [str(plane.bin / "kubectl"), "--kubeconfig", str(plane.kubeconfig)]
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(ROOT / "crds")], check=True,
                       capture_output=True, timeout=60)
        established(kubectl)
        subprocess.run([*kubectl, "create", "namespace", ns], check=True, capture_output=True, timeout=60)
        log = root / "operator.log"
        metrics_port, live_port = free_port(), free_port()
        allowed = {"down": free_port(), "slow": free_port()}
        # A long interval: every evaluation seen here is caused by the fault, not by the timer.
        cmd = [sys.executable, "-m", "inferplace", "operator", "--namespace", ns, "--interval", "10m",
               "--prometheus-timeout", "2s", "--api-timeout", "5s", "--log-format", "plain",
               "--metrics-address", f"127.0.0.1:{metrics_port}", "--liveness", f"http://127.0.0.1:{live_port}/healthz",
               *(a for port in allowed.values() for a in ("--allowed-prometheus-url", f"http://127.0.0.1:{port}"))]
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    env=os.environ | {"KUBECONFIG": str(plane.kubeconfig)})
            try:
                assert wait_http(f"http://127.0.0.1:{live_port}/healthz", 60, proc), log.read_text()[-3000:]
                yield Rig(plane, ns, f"http://127.0.0.1:{metrics_port}/metrics", log, proc, allowed)
            finally:
                stop(proc)


def established(kubectl: list[str], timeout: float = 60) -> None:
    """Wait for the CRD to be served. `kubectl wait` right after the apply on a fresh API server can
    answer NotFound before the CRD is visible, so poll its condition instead."""
    deadline = time.monotonic() + timeout
    while True:
        got = subprocess.run([*kubectl, "get", "crd", "inferenceworkloads.inferplace.io", "-o",
                              "jsonpath={.status.conditions[?(@.type=='Established')].status}"],
                             capture_output=True, text=True, timeout=30, check=False)
        if got.stdout.strip() == "True":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"CRD not Established in {timeout:g} s: {got.stdout} {got.stderr}")
        time.sleep(0.5)


def _ready_all(rig: Rig, names: list[str], timeout: float = 60) -> None:
    eventually(lambda: all(rig.evaluated(n) and condition(rig.get(n), "Ready")["status"] == "True" for n in names),
               timeout, f"{names} Ready", rig)


def _statuses(rig: Rig, names: list[str]) -> dict[str, dict[str, Any]]:
    return {n: rig.get(n)["status"] for n in names}


def _no_regression(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> None:
    for name, old in before.items():
        new = after[name]
        assert new["observedGeneration"] >= old["observedGeneration"], name
        assert new.get("recommendation") and condition({"status": new}, "Ready")["status"] == "True", name


def test_the_watch_resumes_after_the_api_server_restarts(rig: Rig) -> None:
    names = [f"api-{i}" for i in range(5)]
    for n in names:
        rig.apply(n, constraints=SELF_HOSTED)
    _ready_all(rig, names)
    before = _statuses(rig, names)
    evaluations = rig.counter("inferplace_evaluations_total")

    rig.plane.stop_component("kube-apiserver")
    time.sleep(10)  # the operator's watch and writes fail meanwhile
    assert rig.proc.poll() is None, rig.tail()
    rig.plane.start_component("kube-apiserver")
    back = time.monotonic()

    # A spec edit after the return is seen: the watch is live again, not silently stalled.
    rig.kubectl("patch", "iw", names[0], "-n", rig.namespace, "--type=merge",
                "-p", '{"spec": {"traffic": {"requestsPerSecond": 12}}}')
    eventually(lambda: rig.evaluated(names[0]), 60 - (time.monotonic() - back), "the edit after the restart", rig)
    # Every workload is evaluated again within 60 s of the API's return (a re-list re-evaluates).
    eventually(lambda: rig.counter("inferplace_evaluations_total") >= evaluations + len(names) + 1,
               60 - (time.monotonic() - back), "every workload evaluated again", rig)
    _no_regression(before, _statuses(rig, names))
    assert rig.proc.poll() is None


def test_an_etcd_restart_is_survived(rig: Rig) -> None:
    rig.apply("etcd-0", constraints=SELF_HOSTED)
    _ready_all(rig, ["etcd-0"])
    before = _statuses(rig, ["etcd-0"])
    rig.plane.stop_component("etcd")
    time.sleep(5)
    rig.plane.start_component("etcd")
    back = time.monotonic()
    eventually(lambda: rig.kubectl("get", "--raw", "/readyz").returncode == 0, 60, "the API server ready again", rig)
    rig.kubectl("patch", "iw", "etcd-0", "-n", rig.namespace, "--type=merge",
                "-p", '{"spec": {"traffic": {"requestsPerSecond": 13}}}')
    eventually(lambda: rig.evaluated("etcd-0"), 60 - (time.monotonic() - back), "the edit after etcd's return", rig)
    _no_regression(before, _statuses(rig, ["etcd-0"]))
    assert rig.proc.poll() is None


def test_spec_edits_racing_status_writes_end_on_the_newest_generation(rig: Rig) -> None:
    rig.apply("race", constraints=SELF_HOSTED)
    _ready_all(rig, ["race"])
    for rps in range(11, 21):  # ten edits, faster than an evaluation
        rig.kubectl("patch", "iw", "race", "-n", rig.namespace, "--type=merge",
                    "-p", json.dumps({"spec": {"traffic": {"requestsPerSecond": rps}}}))
    eventually(lambda: rig.evaluated("race"), 30, "the last edit evaluated", rig)
    status = rig.get("race")["status"]
    tokens = float(status["recommendation"]["costBreakdown"]["acceptedOutputTokensPerMonth"])
    assert tokens == pytest.approx(20 * 200 * SECONDS_PER_MONTH, rel=1e-6)  # the newest spec's traffic
    time.sleep(3)  # nothing older lands afterwards
    assert rig.evaluated("race") and rig.get("race")["status"] == status


def test_workloads_deleted_while_evaluated_cause_no_error_loop(rig: Rig) -> None:
    errors = rig.counter("inferplace_evaluations_total", result="error")
    names = [f"gone-{i}" for i in range(10)]
    for n in names:
        rig.apply(n, constraints=SELF_HOSTED)
    rig.kubectl("delete", "iw", *names, "-n", rig.namespace, "--wait=false")
    time.sleep(8)
    assert rig.counter("inferplace_evaluations_total", result="error") == errors, rig.tail()
    assert "Traceback" not in rig.log.read_text(), rig.tail()
    assert rig.kubectl("get", "iw", *names, "-n", rig.namespace, "--ignore-not-found", "-o", "name").stdout == ""
    assert rig.proc.poll() is None


class _Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.asked += 1  # type: ignore[attr-defined]
        time.sleep(5)  # longer than the operator's 2 s Prometheus timeout
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.mark.parametrize(("kind", "reason"), [("down", "PrometheusUnreachable"), ("slow", "DeadlineExceeded"),
                                                ("elsewhere", "PrometheusUrlNotAllowed")])
def test_prometheus_down_slow_or_not_allowed_falls_back_to_the_declared_traffic(rig: Rig, kind: str,
                                                                                reason: str) -> None:
    server = None
    if kind in ("slow", "elsewhere"):
        port = rig.allowed.get(kind, 0)  # "elsewhere": a server the operator was not told it may ask
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Slow)
        server.asked = 0  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
    else:
        url = f"http://127.0.0.1:{rig.allowed['down']}"  # nothing listens here
    try:
        name = f"prom-{kind}"
        rig.apply(name, constraints=SELF_HOSTED,
                  metrics={"server": "vllm", "selector": {"namespace": "x"}, "prometheusUrl": url})
        took = eventually(lambda: rig.evaluated(name), 30, f"{name} evaluated", rig)
        obj = rig.get(name)
        metrics = condition(obj, "MetricsAvailable")
        assert (metrics["status"], metrics["reason"]) == ("False", reason), metrics
        assert "declared spec.traffic" in metrics["message"] and condition(obj, "Ready")["status"] == "True"
        assert took < 20  # one timeout, not one per figure
        if kind == "elsewhere":
            assert server is not None and server.asked == 0  # type: ignore[attr-defined]  # refused before asking
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


def test_nothing_loops_hot_once_settled(rig: Rig) -> None:
    time.sleep(3)
    first = rig.counter("inferplace_evaluations_total")
    time.sleep(10)
    assert rig.counter("inferplace_evaluations_total") - first <= 1, rig.tail()
    assert rig.proc.poll() is None
