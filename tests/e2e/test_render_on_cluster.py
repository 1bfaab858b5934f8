"""What `inferplace render` writes, applied to a real API server with Karpenter's CRDs: every example
(its recommendation, or its best self-hosted alternative where a managed API is recommended), a
Neuron placement, a capacity block and a NodeOverlay for your own rate, all server-side applied; and
the Deployment patch applied to a real Deployment, keeping its other container args."""

from __future__ import annotations

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

import pytest
import yaml

from inferplace.api.writing import dump_all

from .conftest import Cluster, Operator

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "tests" / "data" / "karpenter-crds"
EXAMPLES = sorted((ROOT / "examples").glob("*/workload.yaml"))


def _render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "inferplace", "render", *args], capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def karpenter(cluster: Cluster) -> Iterator[str]:
    """Karpenter's CRDs on the cluster (the installed ones where Karpenter runs: never replaced)."""
    names = ["nodepools.karpenter.sh", "ec2nodeclasses.karpenter.k8s.aws", "nodeoverlays.karpenter.sh"]
    missing = [n for n in names if cluster.kubectl("get", "crd", n, check=False).returncode != 0]
    if missing:
        files = {"nodepools.karpenter.sh": "karpenter.sh_nodepools.yaml",
                 "ec2nodeclasses.karpenter.k8s.aws": "karpenter.k8s.aws_ec2nodeclasses.yaml",
                 "nodeoverlays.karpenter.sh": "karpenter.sh_nodeoverlays.yaml"}
        for n in missing:
            cluster.kubectl("apply", "--server-side", "-f", str(CRDS / files[n]))
        for n in names:
            cluster.wait_established(n)
    run = uuid.uuid4().hex[:6]
    try:
        yield run
    finally:
        # The rendered objects are cluster-scoped: remove what this module applied.
        for kind in ("nodepools.karpenter.sh", "ec2nodeclasses.karpenter.k8s.aws", "nodeoverlays.karpenter.sh"):
            cluster.kubectl("delete", kind, "-l", f"inferplace-e2e={run}", "--ignore-not-found", check=False)


def _self_hosted_option(example: Path) -> int:
    out = subprocess.run([sys.executable, "-m", "inferplace", "recommend", "-f", str(example), "-o", "json"],
                         capture_output=True, text=True, timeout=300, check=True).stdout
    st = json.loads(out)["status"]
    options = [st["recommendation"], *st["alternatives"]]
    return next(i for i, p in enumerate(options) if p["kind"] == "self-hosted")


def _apply(cluster: Cluster, out: Path, run: str) -> list[str]:
    docs: list[dict[str, Any]] = []
    for f in sorted(out.rglob("*.yaml")):
        if f.name == "deployment-patch.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    for d in docs:
        d["metadata"].setdefault("labels", {})["inferplace-e2e"] = run
    # Names are shared across runs of this test (cluster-scoped): give them this run's suffix.
    for d in docs:
        d["metadata"]["name"] = f"{d['metadata']['name']}-{run}"[:63]
    for d in docs:
        if d["kind"] == "NodePool":
            ref = d["spec"]["template"]["spec"]["nodeClassRef"]
            ref["name"] = f"{ref['name']}-{run}"[:63]
    proc = cluster.kubectl("apply", "--server-side", "--field-manager=inferplace-render", "-f", "-",
                           stdin=dump_all(docs), check=False)
    assert proc.returncode == 0, proc.stderr
    return [f"{d['kind']}/{d['metadata']['name']}" for d in docs]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.parent.name for e in EXAMPLES])
def test_every_example_renders_objects_the_api_server_accepts(cluster: Cluster, karpenter: str, example: Path,
                                                             tmp_path: Path) -> None:
    option = _self_hosted_option(example)
    r = _render("-f", str(example), "--option", str(option), "--out", str(tmp_path), "--cluster-name", "e2e")
    assert r.returncode == 0, r.stderr
    applied = _apply(cluster, tmp_path, karpenter)
    assert any(a.startswith("NodePool/") for a in applied) and any(a.startswith("EC2NodeClass/") for a in applied)


@pytest.mark.parametrize("spec", [
    # Neuron: inf2 for Llama 3.3 70B.
    {"model": {"name": "meta-llama/Llama-3.3-70B-Instruct"}, "slo": {"ttftP95Ms": 5000, "tpotP95Ms": 100},
     "constraints": {"instanceFamilies": ["inf2"], "managedApis": []}},
    # A capacity block of trn2 in us-east-2.
    {"model": {"name": "meta-llama/Llama-3.3-70B-Instruct"}, "slo": {"ttftP95Ms": 5000, "tpotP95Ms": 100},
     "constraints": {"instanceFamilies": ["trn2"], "region": "us-east-2", "capacityTypes": ["capacity-block"],
                     "managedApis": []}},
], ids=["neuron-inf2", "trn2-capacity-block"])
def test_neuron_and_capacity_block_render_objects_the_api_server_accepts(cluster: Cluster, karpenter: str,
                                                                        spec: dict[str, Any], tmp_path: Path) -> None:
    body = {"traffic": {"requestsPerSecond": 2, "promptTokens": {"mean": 1000}, "outputTokens": {"mean": 200}}}
    doc = {"apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload",
           "metadata": {"name": "neuron", "namespace": "team"}, "spec": {**body, **spec}}
    f = tmp_path / "w.yaml"
    f.write_text(yaml.safe_dump(doc))
    r = _render("-f", str(f), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    _apply(cluster, tmp_path / "out", karpenter)


def test_a_node_overlay_for_your_own_rate_is_accepted(cluster: Cluster, karpenter: str, tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text(yaml.safe_dump({"prices": [{"instanceType": "g6e.xlarge", "capacityType": "on-demand",
                                                  "usdPerHour": "1.20", "source": "negotiated (e2e)",
                                                  "date": "2026-11-01"}]}))
    doc = {"apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload", "metadata": {"name": "own"},
           "spec": {"model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
                    "traffic": {"requestsPerSecond": 2, "promptTokens": {"mean": 1000}, "outputTokens": {"mean": 200}},
                    "slo": {"ttftP95Ms": 2000, "tpotP95Ms": 60},
                    "constraints": {"instanceFamilies": ["g6e"], "managedApis": []}}}
    f = tmp_path / "w.yaml"
    f.write_text(yaml.safe_dump(doc))
    r = _render("-f", str(f), "--prices", str(prices), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    applied = _apply(cluster, tmp_path / "out", karpenter)
    assert any(a.startswith("NodeOverlay/") for a in applied), applied


def test_the_deployment_patch_applies_and_keeps_the_other_args(cluster: Cluster, tmp_path: Path) -> None:
    args = ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--tensor-parallel-size", "8", "--max-model-len", "8192"]
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "metadata": {"name": "vllm-chat", "namespace": cluster.namespace},
                  "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "vllm-chat"}},
                           "template": {"metadata": {"labels": {"app": "vllm-chat"}},
                                        "spec": {"containers": [
                                            {"name": "vllm", "image": "vllm/vllm-openai:v0.11.0", "args": args,
                                             "env": [{"name": "HF_HOME", "value": "/cache"}]},
                                            {"name": "sidecar", "image": "busybox:1.36"}]}}}}
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump(deployment))
    cluster.kubectl("apply", "-f", str(tmp_path / "deploy.yaml"))
    doc = {"apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload",
           "metadata": {"name": "chat", "namespace": cluster.namespace},
           "spec": {"model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
                    "traffic": {"requestsPerSecond": 20, "promptTokens": {"mean": 1000}, "outputTokens": {"mean": 200}},
                    "slo": {"ttftP95Ms": 2000, "tpotP95Ms": 60},
                    "constraints": {"instanceFamilies": ["g6e"], "managedApis": []},
                    "serving": {"deployment": "vllm-chat", "container": "vllm"}}}
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(doc))
    r = _render("-f", str(tmp_path / "w.yaml"), "--deployments", str(tmp_path / "deploy.yaml"),
                "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    patch = tmp_path / "out" / cluster.namespace / "chat" / "deployment-patch.yaml"
    want = yaml.safe_load(patch.read_text())
    cluster.kubectl("patch", "deployment", "vllm-chat", "-n", cluster.namespace, "--type=strategic",
                    "--patch-file", str(patch))
    got = json.loads(cluster.kubectl("get", "deployment", "vllm-chat", "-n", cluster.namespace, "-o", "json").stdout)
    pod = got["spec"]["template"]["spec"]
    vllm = next(c for c in pod["containers"] if c["name"] == "vllm")
    tp = want["spec"]["template"]["metadata"]["annotations"]["inferplace.io/tensor-parallel-size"]
    assert vllm["args"] == ["--model", "meta-llama/Llama-3.1-8B-Instruct", "--tensor-parallel-size", tp,
                            "--max-model-len", "8192"]
    assert vllm["env"] == [{"name": "HF_HOME", "value": "/cache"}]  # untouched
    assert vllm["resources"]["limits"]["nvidia.com/gpu"] == tp
    assert [c["name"] for c in pod["containers"]] == ["vllm", "sidecar"]  # nothing added, nothing lost
    assert pod["nodeSelector"]["node.kubernetes.io/instance-type"].startswith("g6e.")
    assert got["spec"]["replicas"] == want["spec"]["replicas"]


def test_approval_from_the_cluster_end_to_end(cluster: Cluster, operator: Operator, tmp_path: Path) -> None:
    from .test_cluster import condition, manifest, wait_evaluated  # noqa: PLC0415 - shared helpers

    cluster.kubectl("apply", "-f", "-", stdin=manifest("approve-me", cluster.namespace,
                                                       constraints={"managedApis": []}))
    obj = wait_evaluated(cluster, "approve-me", operator)
    rec = obj["status"]["recommendation"]
    assert condition(obj, "Approved")["reason"] == "NotApproved" and rec["id"] in condition(obj, "Approved")["message"]
    env_args = ("--from-cluster", "-n", cluster.namespace, "--approved")
    r = subprocess.run([sys.executable, "-m", "inferplace", "render", *env_args], capture_output=True, text=True,
                       timeout=120, check=False, env=os.environ | {"KUBECONFIG": cluster.kubeconfig})
    assert r.returncode == 3 and f"{cluster.namespace}/approve-me: not approved" in r.stderr, r.stderr
    cluster.kubectl("annotate", "iw", "approve-me", "-n", cluster.namespace,
                    f"inferplace.io/approved-recommendation={rec['id']}")
    deadline = time.monotonic() + 30
    while condition(cluster.get("approve-me"), "Approved").get("status") != "True":
        assert time.monotonic() < deadline, cluster.get("approve-me")["status"]["conditions"]
        time.sleep(0.5)
    r = subprocess.run([sys.executable, "-m", "inferplace", "render", *env_args], capture_output=True, text=True,
                       timeout=120, check=False, env=os.environ | {"KUBECONFIG": cluster.kubeconfig})
    rendered = [d for d in yaml.safe_load_all(r.stdout) if d]
    assert any(d["kind"] == "NodePool" and d["metadata"]["labels"]["inferplace.io/recommendation"] == rec["id"]
               for d in rendered), (r.stdout[-2000:], r.stderr)
    plan = subprocess.run([sys.executable, "-m", "inferplace", "plan", "--from-cluster", "-n", cluster.namespace,
                           "-o", "json"], capture_output=True, text=True, timeout=120, check=False,
                          env=os.environ | {"KUBECONFIG": cluster.kubeconfig})
    # Exit 2 only for other tests' workloads caught mid-evaluation (no status yet, or one behind the spec).
    assert plan.returncode in (0, 2), plan.stderr
    for line in plan.stderr.splitlines():
        assert "approve-me" not in line and re.search(r": (no status yet|its status answers generation)", line), line
    assert (plan.returncode == 2) == bool(plan.stderr.strip()), plan.stderr
    assert "approve-me" in plan.stdout
    # A namespace with no workloads (a typo) says so and exits 2, for plan and render alike.
    for command in ("plan", "render"):
        r = subprocess.run([sys.executable, "-m", "inferplace", command, "--from-cluster", "-n", "no-such-namespace"],
                           capture_output=True, text=True, timeout=120, check=False,
                           env=os.environ | {"KUBECONFIG": cluster.kubeconfig})
        assert r.returncode == 2 and "no InferenceWorkloads in namespace(s) no-such-namespace" in r.stderr, r.stderr


def test_a_move_from_gpu_to_neuron_renders_pods_that_can_schedule(cluster: Cluster, tmp_path: Path) -> None:
    # Example 03 (Mixtral on g6e, vLLM's CUDA image, 4 GPUs a replica) moved to Inferentia2 (its TTFT objective
    # relaxed so that inf2 qualifies): the patched Deployment, checked by a server-side dry run, asks only for
    # Neuron devices and runs a Neuron image.
    name = "mixtral-assistant"
    meta = {"name": name, "namespace": cluster.namespace}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                  "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "mixtral"}},
                           "template": {"metadata": {"labels": {"app": "mixtral"}},
                                        "spec": {"containers": [{
                                            "name": name, "image": "vllm/vllm-openai:v0.11.0",
                                            "args": ["--model", "mistralai/Mixtral-8x7B-v0.1",
                                                     "--tensor-parallel-size", "4"],
                                            "resources": {"requests": {"nvidia.com/gpu": "4"},
                                                          "limits": {"nvidia.com/gpu": "4"}}}]}}}}
    (tmp_path / "deploy.yaml").write_text(yaml.safe_dump(deployment))
    cluster.kubectl("apply", "-f", str(tmp_path / "deploy.yaml"))
    doc = yaml.safe_load((ROOT / "examples" / "03-moe-mixtral-8x7b" / "workload.yaml").read_text())
    doc["metadata"]["namespace"] = cluster.namespace
    doc["spec"]["slo"]["ttftP95Ms"] = 8000
    doc["spec"]["constraints"] = {"instanceFamilies": ["inf2"], "managedApis": []}
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(doc))
    r = _render("-f", str(tmp_path / "w.yaml"), "--deployments", str(tmp_path / "deploy.yaml"),
                "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    patch = tmp_path / "out" / cluster.namespace / name / "deployment-patch.yaml"
    dry = cluster.kubectl("patch", "deployment", name, "-n", cluster.namespace, "--type=strategic",
                          "--patch-file", str(patch), "--dry-run=server", "-o", "json")
    pod = json.loads(dry.stdout)["spec"]["template"]["spec"]
    box = pod["containers"][0]
    assert box["resources"]["requests"] == {"aws.amazon.com/neuron": "12"}
    assert box["resources"]["limits"] == {"aws.amazon.com/neuron": "12"}
    assert "neuron" in box["image"] and box["image"].startswith("public.ecr.aws/neuron/")
    assert box["args"] == ["--model", "mistralai/Mixtral-8x7B-v0.1", "--tensor-parallel-size", "24"]
    assert pod["nodeSelector"]["node.kubernetes.io/instance-type"].startswith("inf2.")
    assert {t["key"] for t in pod["tolerations"]} == {"aws.amazon.com/neuron"}
    # A dry run changes nothing: today's Deployment is as it was.
    live = json.loads(cluster.kubectl("get", "deployment", name, "-n", cluster.namespace, "-o", "json").stdout)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == "vllm/vllm-openai:v0.11.0"
