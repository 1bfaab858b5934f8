"""`render` and `plan` against hand-checked expectations: a GPU and a Neuron recommendation rendered into
Karpenter objects and a Deployment patch, the capacity types, your own rates as a NodeOverlay, args
kept when today's Deployment is given, approval, and the exact knapsack against a hand calculation."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferplace.api import InferenceWorkload
from inferplace.api.status import InferenceWorkloadStatus
from inferplace.catalog import load_catalog
from inferplace.pricing import default_book, parse_overrides
from inferplace.rollout import RenderError, RenderSettings, Subject, plan_moves, render
from inferplace.rollout.serving import with_tensor_parallel

from ..support.cli import run_cli, write_yaml
from ..support.manifests import SELF_HOSTED, workload_doc
from ..support.plan import plan_one

CAT = load_catalog()
ROOT = Path(__file__).resolve().parents[2]


def _subject(doc: dict[str, Any], book: Any = None, approved: str | None = None) -> Subject:
    iw = InferenceWorkload.model_validate(doc)
    status = plan_one(doc, book=book).status
    return Subject(iw.metadata.namespace or "team", iw.metadata.name, iw.spec, status, approved)


def _gpu() -> dict[str, Any]:
    doc = workload_doc(name="chat", constraints={**SELF_HOSTED, "instanceFamilies": ["g6e"]},
                       serving={"deployment": "vllm-chat", "container": "vllm"})
    doc["metadata"]["namespace"] = "team"
    return doc


def test_a_gpu_recommendation_by_hand() -> None:
    s = _subject(_gpu())
    rec = s.status.recommendation
    assert rec is not None and rec.instance_type is not None and rec.instances and rec.chips_per_replica
    r = render(s, CAT)
    (pool,) = r.objects
    spec = pool["spec"]["template"]["spec"]
    assert spec["requirements"] == [
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [rec.instance_type]},
        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}]
    assert spec["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    assert spec["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "inferplace-nvidia"}
    # Limits: the recommended instances' GPUs plus 25%, rounded up.
    chips_per_instance = CAT.instances[rec.instance_type].chips or 1
    want = -(-rec.instances * chips_per_instance * 5 // 4)
    assert pool["spec"]["limits"] == {"nvidia.com/gpu": str(want)}
    assert pool["spec"]["disruption"]["consolidationPolicy"] == "WhenEmpty"
    assert pool["metadata"]["labels"]["inferplace.io/recommendation"] == rec.id
    assert r.node_class["spec"]["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
    # The Deployment patch: the named container, its GPUs, replicas, where it runs.
    p = r.patch
    assert (p["metadata"]["name"], p["metadata"]["namespace"]) == ("vllm-chat", "team")
    assert p["spec"]["replicas"] == rec.replicas
    pod = p["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"karpenter.sh/nodepool": pool["metadata"]["name"],
                                   "node.kubernetes.io/instance-type": rec.instance_type}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    (box,) = pod["containers"]
    n = str(rec.chips_per_replica)
    # Only GPUs are requested (a null removes any Neuron resource in a strategic merge); today's image is not
    # known, so the GPU default is named, with its source in the notes.
    gone = {"aws.amazon.com/neuron": None, "aws.amazon.com/neuroncore": None, "aws.amazon.com/neurondevice": None}
    assert box == {"name": "vllm", "image": "vllm/vllm-openai:v0.11.0",
                   "resources": {"requests": {"nvidia.com/gpu": n, **gone}, "limits": {"nvidia.com/gpu": n, **gone}}}
    assert any("image vllm/vllm-openai:v0.11.0: the gpu default" in note for note in r.notes)
    assert p["spec"]["template"]["metadata"]["annotations"]["inferplace.io/tensor-parallel-size"] == n
    assert any(f"--tensor-parallel-size {n}" in note for note in r.notes)


def test_a_neuron_recommendation_by_hand() -> None:
    doc = workload_doc(name="neuron", model="meta-llama/Llama-3.3-70B-Instruct",
                       constraints={**SELF_HOSTED, "instanceFamilies": ["inf2"]},
                       slo={"ttftP95Ms": 5000, "tpotP95Ms": 100})
    s = _subject(doc)
    rec = s.status.recommendation
    assert rec is not None and rec.instance_type is not None and rec.instance_type.startswith("inf2")
    r = render(s, CAT)
    spec = r.objects[0]["spec"]["template"]["spec"]
    assert spec["taints"] == [{"key": "aws.amazon.com/neuron", "value": "true", "effect": "NoSchedule"}]
    assert spec["nodeClassRef"]["name"] == "inferplace-neuron"
    (box,) = r.patch["spec"]["template"]["spec"]["containers"]
    chips = rec.chips_per_replica
    assert chips is not None
    assert box["resources"]["limits"] == {"aws.amazon.com/neuron": str(chips), "nvidia.com/gpu": None,
                                          "aws.amazon.com/neuroncore": None, "aws.amazon.com/neurondevice": None}
    # Inferentia2 (NeuronCore-v2): the last vLLM DLC the Neuron docs give for Inf2/Trn1.
    neuron_v2 = "public.ecr.aws/neuron/pytorch-inference-vllm-neuronx:0.9.1-neuronx-py311-sdk2.26.1-ubuntu22.04"
    assert box["image"] == neuron_v2
    # Inferentia2: 2 NeuronCores per device, each a tensor-parallel rank.
    tp = r.patch["spec"]["template"]["metadata"]["annotations"]["inferplace.io/tensor-parallel-size"]
    assert tp == str(2 * chips)
    assert any("device plugin" in n for n in r.notes)


def test_capacity_types_map_to_what_karpenter_launches() -> None:
    # A capacity block is `reserved` capacity with the node class selecting the reservation; a commitment
    # (reserved-1y) is billing on on-demand capacity.
    doc = workload_doc(name="blk", model="meta-llama/Llama-3.3-70B-Instruct", slo={"ttftP95Ms": 5000, "tpotP95Ms": 100},
                       constraints={**SELF_HOSTED, "instanceFamilies": ["trn2"], "region": "us-east-2",
                                    "capacityTypes": ["capacity-block"]})
    r = render(_subject(doc), CAT)
    assert r.objects[0]["spec"]["template"]["spec"]["requirements"][1]["values"] == ["reserved"]
    assert r.node_class["spec"]["capacityReservationSelectorTerms"] == [
        {"tags": {"inferplace.io/capacity-block": "${CLUSTER_NAME}"}}]
    assert r.objects[0]["spec"]["template"]["spec"]["nodeClassRef"]["name"] == r.node_class["metadata"]["name"]
    doc = workload_doc(name="ri", constraints={**SELF_HOSTED, "instanceFamilies": ["p4d"],
                                               "capacityTypes": ["reserved-1y"]})
    r = render(_subject(doc), CAT)
    assert r.objects[0]["spec"]["template"]["spec"]["requirements"][1]["values"] == ["on-demand"]
    assert any("buy the commitment" in n for n in r.notes)


def test_your_own_rate_becomes_a_node_overlay() -> None:
    book = default_book(parse_overrides({"prices": [
        {"instanceType": "g6e.xlarge", "capacityType": "on-demand", "usdPerHour": "1.20",
         "source": "negotiated rate (test)", "date": "2026-11-01"}]}))
    doc = workload_doc(name="own", constraints={**SELF_HOSTED, "instanceFamilies": ["g6e"]})
    s = _subject(doc, book)
    assert s.status.recommendation is not None and s.status.recommendation.instance_type == "g6e.xlarge"
    r = render(s, CAT)
    overlay = r.objects[1]
    assert overlay["kind"] == "NodeOverlay" and overlay["spec"]["price"] == "1.2"
    assert overlay["spec"]["requirements"][0] == {"key": "node.kubernetes.io/instance-type", "operator": "In",
                                                  "values": ["g6e.xlarge"]}
    plain = render(_subject(doc), CAT)
    assert [o["kind"] for o in plain.objects] == ["NodePool"]  # a public price needs no overlay


def test_todays_args_are_kept_and_only_the_tensor_parallel_flag_changes() -> None:
    args = ["--model", "m", "--tensor-parallel-size", "8", "--max-model-len", "8192"]
    assert with_tensor_parallel(args, ("--tensor-parallel-size", "-tp"), 2) == [
        "--model", "m", "--tensor-parallel-size", "2", "--max-model-len", "8192"]
    assert with_tensor_parallel(["--tensor-parallel-size=8", "--x"], ("--tensor-parallel-size",), 4) == [
        "--tensor-parallel-size=4", "--x"]
    assert with_tensor_parallel(["-tp", "8"], ("--tensor-parallel-size", "-tp"), 1) == ["-tp", "1"]
    assert with_tensor_parallel(["--model", "m"], ("--tensor-parallel-size",), 2) == [
        "--model", "m", "--tensor-parallel-size", "2"]
    s = _subject(_gpu())
    today = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "vllm-chat", "namespace": "team"},
             "spec": {"template": {"spec": {"containers": [{"name": "vllm", "args": args}]}}}}
    r = render(s, CAT, deployments={("team", "vllm-chat"): today})
    (box,) = r.patch["spec"]["template"]["spec"]["containers"]
    n = str(s.status.recommendation.chips_per_replica if s.status.recommendation else 0)
    assert box["args"] == ["--model", "m", "--tensor-parallel-size", n, "--max-model-len", "8192"]


def test_approval_and_what_is_not_rendered() -> None:
    s = _subject(_gpu())
    rec = s.status.recommendation
    assert rec is not None and rec.id
    with pytest.raises(RenderError, match=r"not approved: no inferplace\.io/approved-recommendation"):
        render(s, CAT, RenderSettings(approved_only=True))
    stale = Subject(s.namespace, s.name, s.spec, s.status, "0123456789ab")
    with pytest.raises(RenderError, match=f"the recommendation is {rec.id}"):
        render(stale, CAT, RenderSettings(approved_only=True))
    ok = Subject(s.namespace, s.name, s.spec, s.status, rec.id)
    assert render(ok, CAT, RenderSettings(approved_only=True)).option_id == rec.id
    measured = [{"provider": "bedrock", "ttftP95Ms": 900, "tpotP95Ms": 30, "source": "llmperf, 2026-11-20"}]
    api = _subject(workload_doc(name="api", model="meta-llama/Llama-3.3-70B-Instruct", measuredApiLatency=measured))
    with pytest.raises(RenderError, match="a per-token API needs no nodes"):
        render(api, CAT)
    first_alt = render(api, CAT, RenderSettings(option=1))
    assert first_alt.objects[0]["kind"] == "NodePool"


def _with(s: Subject, saving: str, weeks: str, cost: str = "100000") -> Subject:
    rec = s.status.recommendation
    cur = s.status.current
    assert rec is not None and cur is not None
    rec = rec.model_copy(update={"savings_monthly": saving, "migration_weeks": weeks, "payback_months": "1.0"})
    cur = cur.model_copy(update={"monthly_cost": cost})
    status = InferenceWorkloadStatus.model_validate(s.status.model_copy(
        update={"recommendation": rec, "current": cur}).model_dump())
    return Subject(s.namespace, s.name, s.spec, status)


def test_the_plan_is_the_exact_knapsack_not_the_greedy_one() -> None:
    base = _subject(workload_doc(name="x", current={"instanceType": "p5.48xlarge", "replicas": 2,
                                                    "chipsPerReplica": 1}, constraints=SELF_HOSTED))
    a = _with(Subject("team", "a", base.spec, base.status), "90.00", "3.0")
    b = _with(Subject("team", "b", base.spec, base.status), "50.00", "2.0")
    c = _with(Subject("team", "c", base.spec, base.status), "50.00", "2.0")
    # Budget 4 weeks: the best saving per week is A (30/week), but A leaves 1 week unused: B + C saves 100.
    p = plan_moves([a, b, c], Decimal(4))
    assert sorted(m.workload for m in p.chosen) == ["team/b", "team/c"] and p.saving == Decimal(100)
    assert [m.workload for m in p.waiting] == ["team/a"]
    # One move only: A.
    p = plan_moves([a, b, c], Decimal(4), max_moves=1)
    assert [m.workload for m in p.chosen] == ["team/a"] and p.weeks == Decimal(3)
    # Enough budget: all three; none: nothing.
    assert len(plan_moves([a, b, c], Decimal(7)).chosen) == 3
    assert plan_moves([a, b, c], Decimal(1)).chosen == []
    assert plan_moves([a, b, c], Decimal(4)).today == Decimal(300000)


def test_plan_on_the_examples_with_a_small_budget(tmp_path: Path) -> None:
    # By hand from the examples' statuses: every move takes one engineer-week, so one week buys the single
    # largest saving, example 07 (moe-agents to p4d capacity blocks, $26,721.88); 05, 01 and 04 wait. No move is
    # to a per-token API: none has a measured latency. 02, 03 and 06 save nothing once a fleet keeps N+1 replicas
    # on two nodes (03's today: one instance), so they propose no move.
    r = run_cli("plan", "-f", str(ROOT / "examples"), "--budget-weeks", "1", "-o", "json")
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert [m["workload"] for m in body["chosen"]] == ["agents/moe-agents"]
    assert [m["workload"] for m in body["waiting"]] == ["default/internal-tools", "chat/support-chat",
                                                         "default/gemma-summarizer"]
    assert body["weeks"] == "1.0" and not any("API" in m["to"] for m in body["chosen"] + body["waiting"])
    table = run_cli("plan", "-f", str(ROOT / "examples"), "--budget-weeks", "1")
    assert "waits" in table.stdout and "default/internal-tools" in table.stdout


def test_render_cli_writes_files_and_says_what_it_skipped(tmp_path: Path) -> None:
    measured = [{"provider": "bedrock", "ttftP95Ms": 900, "tpotP95Ms": 30, "source": "llmperf, 2026-11-20"}]
    f = write_yaml(tmp_path, _gpu(), workload_doc(name="api", model="meta-llama/Llama-3.3-70B-Instruct",
                                                  measuredApiLatency=measured))
    out = tmp_path / "out"
    r = run_cli("render", "-f", str(f), "--out", str(out), "--cluster-name", "prod")
    assert r.returncode == 3, r.stderr
    assert "not rendered: default/api: the recommendation is bedrock API" in r.stderr
    docs = list(yaml.safe_load_all((out / "team" / "chat" / "karpenter.yaml").read_text()))
    assert docs[0]["kind"] == "NodePool"
    nc = yaml.safe_load((out / "ec2nodeclass-inferplace-nvidia.yaml").read_text())
    assert nc["spec"]["role"] == "KarpenterNodeRole-prod"
    assert nc["spec"]["subnetSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": "prod"}}]
    assert "&id" not in (out / "ec2nodeclass-inferplace-nvidia.yaml").read_text()  # no YAML aliases
    patch = yaml.safe_load((out / "team" / "chat" / "deployment-patch.yaml").read_text())
    assert patch["kind"] == "Deployment" and patch["metadata"]["name"] == "vllm-chat"
