"""End-to-end fixtures: the cluster `KUBECONFIG` names (kind in CI, EKS, any real API server), the
CRD applied, a namespace per session, and the operator running out of cluster as a subprocess
next to a real Prometheus scraping a vLLM-like exporter on 127.0.0.1. Skipped without KUBECONFIG."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..support.crds import wait_established
from ..support.live import Live
from ..support.ports import free_port
from ..support.prom import stop, wait_http

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Cluster:
    kubeconfig: str
    namespace: str

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = ["kubectl", "--kubeconfig", self.kubeconfig, *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def get(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.kubectl("get", "iw", name, "-n", self.namespace, "-o", "json").stdout)
        return out

    def wait_established(self, crd: str, timeout_s: float = 60.0) -> None:
        wait_established(self.kubeconfig, crd, timeout_s)

    @contextmanager
    def scratch_namespace(self, name: str) -> Iterator[str]:
        """A namespace of the caller's own, deleted (without waiting) when it is done."""
        self.kubectl("create", "namespace", name)
        try:
            yield name
        finally:
            self.kubectl("delete", "namespace", name, "--wait=false", check=False)


@dataclass(frozen=True)
class Operator:
    metrics_url: str
    liveness_url: str
    log: Path


def _skip(why: str) -> None:
    """Skip, or fail where a cluster was promised (INFERPLACE_REQUIRE_E2E, as .ci/run sets it)."""
    if os.environ.get("INFERPLACE_REQUIRE_E2E"):
        pytest.fail(f"INFERPLACE_REQUIRE_E2E is set but {why}")
    pytest.skip(why)


def _kubeconfig() -> str:
    path = os.environ.get("KUBECONFIG", "")
    first = path.split(os.pathsep)[0] if path else ""
    if not first or not Path(first).expanduser().is_file():
        _skip("KUBECONFIG does not name a kubeconfig file: no cluster to test against")
    if shutil.which("kubectl") is None:
        _skip("kubectl is not installed")
    return str(Path(first).expanduser())


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    kubeconfig = _kubeconfig()
    c = Cluster(kubeconfig, f"inferplace-e2e-{uuid.uuid4().hex[:8]}")
    c.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    c.wait_established("inferenceworkloads.inferplace.io")
    c.kubectl("create", "namespace", c.namespace)
    try:
        yield c
    finally:
        # No finalizers are put on InferenceWorkloads, so the namespace goes at once.
        c.kubectl("delete", "namespace", c.namespace, "--wait=false", check=False)


@pytest.fixture(scope="session")
def operator(cluster: Cluster, live_prometheus: Live, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    metrics_port, live_port = free_port(), free_port()
    env = os.environ | {"KUBECONFIG": cluster.kubeconfig}
    cmd = [sys.executable, "-m", "inferplace", "operator", "--namespace", cluster.namespace,
           "--prometheus-url", live_prometheus.url, "--interval", "1m", "--log-format", "plain", "--alternatives", "3",
           "--metrics-address", f"127.0.0.1:{metrics_port}", "--liveness", f"http://127.0.0.1:{live_port}/healthz"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            op = Operator(f"http://127.0.0.1:{metrics_port}/metrics", f"http://127.0.0.1:{live_port}/healthz", log)
            if not wait_http(op.liveness_url, 60, proc):
                raise AssertionError(f"operator not live; log:\n{log.read_text()[-4000:]}")
            yield op
        finally:
            stop(proc)
