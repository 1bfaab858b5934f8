"""The Helm chart on a real API server: every rendering (default and each ci/ values file) accepted
by a server-side dry run, and the operator doing its whole job with exactly the chart's RBAC (a
token of the chart's ServiceAccount), while what its role does not grant is refused."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from inferplace.controller.corrections_store import ConfigMapCorrections
from inferplace.feedback.corrections import Check

from ..support.chart import VALUES, render, values_of
from ..support.ports import free_port
from ..support.prom import stop, wait_http
from .conftest import Cluster
from .test_cluster import condition, manifest

pytestmark = pytest.mark.e2e


def _installed(cluster: Cluster, api_version: str, kind: str) -> bool:
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    out = cluster.kubectl("api-resources", f"--api-group={group}", "--no-headers", check=False).stdout
    return any(line.split()[-1] == kind for line in out.splitlines() if line.strip())


@pytest.fixture
def release_namespace(cluster: Cluster) -> Iterator[str]:
    with cluster.scratch_namespace(f"inferplace-chart-{uuid.uuid4().hex[:6]}") as ns:
        yield ns


@pytest.mark.parametrize("values_file", [None, *VALUES], ids=lambda p: p.name if p else "no-values")
def test_every_rendering_is_accepted_by_a_server_side_dry_run(cluster: Cluster, release_namespace: str,
                                                              values_file: Path | None) -> None:
    values = values_of(values_file) if values_file else {}
    # A release name of this run's own: the chart's cluster-scoped objects (ClusterRole, ClusterRoleBinding) never
    # meet one already on the cluster (a chart applied there client-side would own their fields).
    docs = render(values, name=release_namespace, namespace=release_namespace)
    # Namespaced RBAC puts Roles in the watched namespaces: they must exist for the dry run.
    for ns in {d["metadata"].get("namespace") for d in docs} - {None, release_namespace}:
        cluster.kubectl("create", "namespace", ns, check=False)
    missing = [d for d in docs if not _installed(cluster, d["apiVersion"], d["kind"])]
    # Only prometheus-operator's ServiceMonitor may lack its CRD (it is not part of Kubernetes).
    assert {d["apiVersion"] for d in missing} <= {"monitoring.coreos.com/v1"}, [d["kind"] for d in missing]
    applied = [d for d in docs if d not in missing]
    proc = cluster.kubectl("apply", "--server-side", "--dry-run=server", "--field-manager=helm", "-f", "-",
                           stdin=yaml.safe_dump_all(applied), check=False)
    assert proc.returncode == 0, proc.stderr
    kinds = sorted(f"{d['kind']}/{d['metadata']['name']}" for d in applied)
    for k in kinds:
        assert k.split("/")[0].lower() in proc.stdout.lower(), (k, proc.stdout)


def _token_kubeconfig(cluster: Cluster, namespace: str, sa: str, path: Path) -> Path:
    token = cluster.kubectl("create", "token", sa, "-n", namespace, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    ctx_name = admin.get("current-context")
    ctx = next(c["context"] for c in admin["contexts"] if c["name"] == ctx_name)
    cl = next(c["cluster"] for c in admin["clusters"] if c["name"] == ctx["cluster"])
    cluster_entry = {"server": cl["server"]}
    if "certificate-authority-data" in cl:
        cluster_entry["certificate-authority-data"] = cl["certificate-authority-data"]
    elif "certificate-authority" in cl:
        ca = Path(cl["certificate-authority"]).read_bytes()
        cluster_entry["certificate-authority-data"] = base64.b64encode(ca).decode()
    elif cl.get("insecure-skip-tls-verify"):
        cluster_entry["insecure-skip-tls-verify"] = True
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "sa",
        "clusters": [{"name": "c", "cluster": cluster_entry}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "c", "user": sa, "namespace": namespace}}],
    }))
    path.chmod(0o600)
    return path


def _as(cluster: Cluster, kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_operator_does_its_job_with_exactly_the_charts_rbac(cluster: Cluster, release_namespace: str,
                                                                tmp_path: Path) -> None:
    watched = f"{release_namespace}-w"
    cluster.kubectl("create", "namespace", watched)
    try:
        # Two shards: the replicas' Leases and the shard label are exercised with the chart's RBAC too.
        values = {"watch": {"allNamespaces": False, "namespaces": [watched]}, "sharding": {"shards": 2}}
        docs = render(values, name="inferplace", namespace=release_namespace)
        rbac = [d for d in docs if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
        assert {d["kind"] for d in rbac} == {"ServiceAccount", "Role", "RoleBinding"}
        # the fleet's verification checks: a ConfigMap in the release namespace, its Role for that one only
        store = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-corrections"))
        rbac.append(store)
        cluster.kubectl("apply", "--server-side", "-f", "-", stdin=yaml.safe_dump_all(rbac))
        sa = next(d["metadata"]["name"] for d in rbac if d["kind"] == "ServiceAccount")
        kubeconfig = _token_kubeconfig(cluster, release_namespace, sa, tmp_path / "sa.kubeconfig")

        # What the role does not grant is refused, with the token and by the API server's own answer.
        name = store["metadata"]["name"]
        for verb, what, ns in (("get", "secrets", watched), ("list", "configmaps", watched),
                               ("list", "configmaps", release_namespace), ("create", "configmaps", release_namespace),
                               ("update", "configmaps/other", release_namespace), ("delete", f"configmaps/{name}",
                                                                                    release_namespace),
                               ("update", "inferenceworkloads.inferplace.io", watched),
                               ("delete", "inferenceworkloads.inferplace.io", watched),
                               ("list", "inferenceworkloads.inferplace.io", "default"),
                               ("create", "leases.coordination.k8s.io", watched),
                               ("create", "pods", watched)):
            can = _as(cluster, kubeconfig, "auth", "can-i", verb, what, "-n", ns)
            assert can.stdout.strip() == "no", (verb, what, ns, can.stdout, can.stderr)
        denied = _as(cluster, kubeconfig, "get", "secrets", "-n", watched)
        assert denied.returncode != 0 and "Forbidden" in denied.stderr, denied.stderr
        for args in (("watch", "inferenceworkloads.inferplace.io"),
                     ("patch", "inferenceworkloads.inferplace.io", "--subresource=status"), ("create", "events"),
                     ("patch", "inferenceworkloads.inferplace.io")):  # the shard label
            can = _as(cluster, kubeconfig, "auth", "can-i", *args, "-n", watched)
            assert can.stdout.strip() == "yes", (args, can.stdout, can.stderr)
        for verb in ("get", "update"):
            can = _as(cluster, kubeconfig, "auth", "can-i", verb, f"configmaps/{name}", "-n", release_namespace)
            assert can.stdout.strip() == "yes", (verb, can.stdout, can.stderr)
        for verb in ("list", "create", "update", "delete"):
            can = _as(cluster, kubeconfig, "auth", "can-i", verb, "leases.coordination.k8s.io", "-n", release_namespace)
            assert can.stdout.strip() == "yes", (verb, can.stdout, can.stderr)
        deploy = next(d for d in docs if d["kind"] == "Deployment")
        chart_env = {e["name"]: e.get("value") for e in deploy["spec"]["template"]["spec"]["containers"][0]["env"]}

        # The operator with that token only: it evaluates a workload, writes status and an Event.
        log = tmp_path / "operator.log"
        live_port = free_port()
        leases = {k: v for k, v in chart_env.items() if "LEADER" in k or "SHARDS" in k}
        assert leases["INFERPLACE_SHARDS"] == "2"
        assert leases["INFERPLACE_LEADER_ELECTION_NAMESPACE"] == release_namespace
        env = os.environ | {"KUBECONFIG": str(kubeconfig)} | leases
        cmd = [sys.executable, "-m", "inferplace", "operator", "--namespace", watched, "--interval", "1m",
               "--log-format", "plain", "--metrics-address", f"127.0.0.1:{free_port()}",
               "--corrections-configmap", f"{release_namespace}/{name}",
               "--liveness", f"http://127.0.0.1:{live_port}/healthz"]
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            try:
                assert wait_http(f"http://127.0.0.1:{live_port}/healthz", 60, proc), log.read_text()[-4000:]
                cluster.kubectl("apply", "-f", "-", stdin=manifest("rbac", watched))
                obj = _wait_ready(cluster, watched, "rbac", log)
                assert condition(obj, "Ready")["status"] == "True", obj["status"]
                assert obj["metadata"]["labels"]["inferplace.io/shard"] in ("0-of-2", "1-of-2")
                _wait_event(cluster, watched, "rbac", "RecommendationChanged", log)
            finally:
                stop(proc)
        text = log.read_text()
        # 403 as a status code, not inside a random member id ("vm-403bfdc6" failed this once).
        assert "Forbidden" not in text and not re.search(r"\b403\b", text), text[-4000:]
        assert "fleet corrections not read" not in text, text[-4000:]

        # The corrections store writes its ConfigMap with that token, keeping the chart's labels.
        client = kubernetes.client.ApiClient(kubernetes.config.new_client_from_config(
            config_file=str(kubeconfig)).configuration)
        store = ConfigMapCorrections(client, release_namespace, name, 30.0)
        check = Check("ada/vllm", 0.6, "2026-12-01T00:00:00Z", f"{watched}/rbac", "0123456789ab")
        assert store.add(check) == [check] and store.load() == [check]
        cm = json.loads(cluster.kubectl("get", "configmap", name, "-n", release_namespace, "-o", "json").stdout)
        assert cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert json.loads(cm["data"]["corrections.json"])["ada/vllm"]["factor"] == pytest.approx(0.6)
        client.close()
    finally:
        cluster.kubectl("delete", "namespace", watched, "--wait=false", check=False)


def _wait_ready(cluster: Cluster, namespace: str, name: str, log: Path, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        out = cluster.kubectl("get", "iw", name, "-n", namespace, "-o", "json").stdout
        obj: dict[str, Any] = json.loads(out)
        if obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"]:
            return obj
        assert time.monotonic() < deadline, f"{name} not evaluated: {obj.get('status')}\n{log.read_text()[-4000:]}"
        time.sleep(0.5)


def _wait_event(cluster: Cluster, namespace: str, name: str, reason: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        events = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
        if any(e["involvedObject"]["name"] == name and e["reason"] == reason for e in events):
            return
        assert time.monotonic() < deadline, ([e["reason"] for e in events], log.read_text()[-3000:])
        time.sleep(0.5)
