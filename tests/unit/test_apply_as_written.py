"""Answers a team can apply as written: redundancy by default, the constraint that binds named, renders that
schedule on the target platform, model names in any case (see test_cli_recommend), APIs only with a known
latency (see test_cli_recommend)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from inferplace.api import InferenceWorkload
from inferplace.catalog import load_catalog
from inferplace.engine import LIMITS
from inferplace.engine.slo import SloModel, Tails
from inferplace.placement.scenarios import Scenario, to_arrays
from inferplace.placement.search import search
from inferplace.placement.workload import RegionDefault, resolve
from inferplace.pricing import default_book
from inferplace.rollout.serving import Target, deployment_patch, serving_args, with_flag

from ..support.manifests import ONE_REPLICA, SELF_HOSTED, workload_doc
from ..support.plan import plan_one

pytestmark = pytest.mark.unit
CAT = load_catalog()


# ---- redundancy by default ---------------------------------------------------------------------------

def _best(doc: dict[str, Any]) -> tuple[Any, Any, Any]:
    iw = InferenceWorkload.model_validate(doc)
    w = resolve("w", iw.spec, CAT, RegionDefault("us-east-1", "test"))
    (o,) = search([w], CAT, default_book())
    best = o.options[0]
    return w, best, o.rows[o.cs.candidates[best.candidate].row]


def test_a_fleet_keeps_one_spare_replica_on_two_nodes_by_default() -> None:
    doc = workload_doc(constraints={**SELF_HOSTED, "instanceFamilies": ["p5"]})
    w, best, row = _best(doc)
    assert (w.min_replicas, w.spare_replicas, w.spread_nodes) == (2, 1, 2)
    # By hand: the peak of 10 req/s x 2, with 1% retries, at 80% of what one replica carries, plus one spare.
    need = math.ceil(10 * 2 * 1.01 / (row.rate * 0.8) - 1e-9)
    assert best.replicas == max(need + 1, 2)
    assert best.instances >= 2  # never all replicas on one node
    st = plan_one(doc).status
    assert any(a.startswith("constraints.minReplicas = 2 (default)") for a in st.assumptions)
    assert any(a.startswith("constraints.spareReplicas = 1 (default: N+1") for a in st.assumptions)
    # Overridden: the peak's need only, packed as tightly as the instances allow, and no assumption listed.
    _, one, row1 = _best(workload_doc(constraints={**SELF_HOSTED, **ONE_REPLICA, "instanceFamilies": ["p5"]}))
    assert one.replicas == max(math.ceil(10 * 2 * 1.01 / (row1.rate * 0.8) - 1e-9), 1)
    assert not any("minReplicas" in a for a in plan_one(workload_doc(constraints={**SELF_HOSTED, **ONE_REPLICA})
                                                        ).status.assumptions)


def test_today_on_a_single_node_is_called_out() -> None:
    doc = workload_doc(current={"instanceType": "p5.48xlarge", "replicas": 2, "chipsPerReplica": 1},
                       constraints=SELF_HOSTED)
    cur = plan_one(doc).status.current
    assert cur is not None and any("losing one node stops the service" in n for n in cur.notes)


# ---- the constraint that binds -----------------------------------------------------------------------

def test_the_batch_limit_is_named_where_it_binds() -> None:
    # Llama 3.1 8B on 2 Trainium2 chips (NxD Inference): the runtime's batch limit fills before TPOT or TTFT.
    s = Scenario(model=CAT.model("meta-llama/Llama-3.1-8B-Instruct"), accelerator=CAT.accelerator("trainium2"),
                 chips_per_replica=2, replicas=1, weight_dtype="bf16", kv_dtype="bf16", input_tokens=800,
                 output_tokens=300, batch=math.nan, load="server-slo", framework="nxdi", ttft_slo_s=0.8,
                 tpot_slo_s=0.040)
    sa = to_arrays([s], CAT)
    tails = Tails(np.array([2000.0]), np.array([700.0]), np.array([np.inf]))
    model = SloModel(sa, tails)
    cap = model.capacity()
    assert cap.limit is not None and LIMITS[int(cap.limit[0])] == "batch limit"
    # Just above the limit the batch is full while both objectives still hold: the batch limit binds.
    over = model.latency_at(cap.rate * 1.05)
    assert over.batch[0] >= model.st.rows.cap[0] * 0.999
    at = model.latency_at(cap.rate)
    assert at.ttft[0] <= 0.8 and at.tpot[0] <= 0.040
    # With a tight TPOT objective the objective binds instead.
    tight = to_arrays([Scenario(**{**s.__dict__, "tpot_slo_s": 0.012})], CAT)
    t = SloModel(tight, tails).capacity()
    assert t.limit is not None and LIMITS[int(t.limit[0])] == "TPOT objective"


def test_every_self_hosted_placement_says_what_binds() -> None:
    st = plan_one(workload_doc(constraints=SELF_HOSTED)).status
    for p in [st.recommendation, *st.alternatives]:
        assert p is not None and p.limit in LIMITS
        assert any("caps it at" in r and "-bound" in r for r in p.rationale)


# ---- renders that schedule ---------------------------------------------------------------------------

def _target(**over: Any) -> Target:
    base: dict[str, Any] = {"platform": "neuron", "generation": "neuron-v2", "resource": "aws.amazon.com/neuron",
                            "chips": 12, "tp_size": 24, "weight_dtype": "bf16"}
    return Target(**(base | over))


def _today(image: str, resources: dict[str, str], args: list[str]) -> dict[str, Any]:
    box = {"name": "vllm", "image": image, "args": args, "resources": {"limits": resources, "requests": resources}}
    return {"spec": {"template": {"spec": {"containers": [box]}}}}


def test_a_gpu_deployment_moved_to_neuron_keeps_nothing_of_cuda() -> None:
    today = _today("vllm/vllm-openai:v0.11.0", {"nvidia.com/gpu": "4"}, ["--model", "m", "-tp", "4"])
    p = deployment_patch("ns", "d", "vllm", "pool", "inf2.48xlarge", _target(), 3, "vllm", "abc", today)
    (box,) = p.patch["spec"]["template"]["spec"]["containers"]
    assert box["resources"]["limits"]["nvidia.com/gpu"] is None  # removed by the strategic merge
    assert box["resources"]["limits"]["aws.amazon.com/neuron"] == "12"
    assert box["image"].startswith("public.ecr.aws/neuron/pytorch-inference-vllm-neuronx:")
    assert box["args"] == ["--model", "m", "-tp", "24"]
    assert any("today's vllm/vllm-openai:v0.11.0 is built for gpu" in n for n in p.notes)


def test_todays_image_stays_on_its_platform_and_the_teams_own_wins() -> None:
    today = _today("registry.example.com/team/vllm:2026.11", {"nvidia.com/gpu": "1"}, ["--model", "m"])
    gpu = _target(platform="gpu", generation="hopper", resource="nvidia.com/gpu", chips=1, tp_size=1)
    p = deployment_patch("ns", "d", "vllm", "pool", "p5.4xlarge", gpu, 2, "vllm", "abc", today)
    assert p.patch["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/team/vllm:2026.11"
    own = _target(image="registry.example.com/team/vllm-neuron:1")
    p = deployment_patch("ns", "d", "vllm", "pool", "trn2.48xlarge", own, 2, "vllm", "abc", today)
    assert p.patch["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/team/vllm-neuron:1"
    trn2 = _target(generation="neuron-v3", chips=1, tp_size=4)
    p = deployment_patch("ns", "d", "vllm", "pool", "trn2.3xlarge", trn2, 2, "vllm", "abc", None)
    assert "sdk2.33.0" in p.patch["spec"]["template"]["spec"]["containers"][0]["image"]


def test_fp8_and_speculative_decoding_reach_the_server_flags() -> None:
    args, notes = serving_args(["--model", "m", "--quantization", "awq"], "vllm",
                               _target(platform="gpu", weight_dtype="fp8", draft_model="meta-llama/Llama-3.2-1B",
                                       speculative_tokens=4))
    assert args == ["--model", "m", "--quantization", "fp8", "--speculative-config",
                    '{"model": "meta-llama/Llama-3.2-1B", "num_speculative_tokens": 4}']
    assert notes == []
    # Back to bf16 without a draft: both flags go, nothing else moves.
    args, _ = serving_args(args, "vllm", _target(platform="gpu"))
    assert args == ["--model", "m"]
    assert with_flag(["-q=fp8", "--x"], ("--quantization", "-q"), None) == ["--x"]
    _, notes = serving_args([], "tgi", _target(weight_dtype="fp8"))
    assert notes and "fp8" in notes[0]


def test_an_fp8_option_renders_with_fp8() -> None:
    from inferplace.rollout.render import render  # noqa: PLC0415
    from inferplace.rollout.subject import Subject  # noqa: PLC0415

    doc = workload_doc(name="rag", model="meta-llama/Llama-3.3-70B-Instruct",
                       constraints={**SELF_HOSTED, "instanceFamilies": ["p5"], "weightPrecisions": ["fp8"]})
    doc["spec"]["model"]["weightPrecision"] = "fp8"
    doc["spec"]["serving"] = {"deployment": "rag", "container": "vllm"}
    rep = plan_one(doc)
    rec = rep.status.recommendation
    assert rec is not None and rec.weight_precision == "fp8"
    iw = InferenceWorkload.model_validate(doc)
    today = {("default", "rag"): _today("vllm/vllm-openai:v0.11.0", {"nvidia.com/gpu": "8"}, ["--model", "x"])}
    r = render(Subject("default", "rag", iw.spec, rep.status), CAT, deployments=today)
    (box,) = r.patch["spec"]["template"]["spec"]["containers"]
    assert "--quantization" in box["args"] and box["args"][box["args"].index("--quantization") + 1] == "fp8"


# ---- docs and output that match the tool -------------------------------------------------------------

def test_every_example_table_fits_100_columns_and_never_splits_a_source() -> None:
    from pathlib import Path  # noqa: PLC0415

    from ..golden.golden import side_arguments  # noqa: PLC0415
    from ..support.cli import run_cli  # noqa: PLC0415

    root = Path(__file__).resolve().parents[2] / "examples"
    for example in sorted(p.parent for p in root.glob("*/workload.yaml")):
        r = run_cli("recommend", "-f", str(example / "workload.yaml"), "--as-of", "2026-12-01", "--top", "10",
                    *side_arguments(example))
        assert r.returncode == 0, r.stderr
        for line in r.stdout.splitlines():
            assert len(line) <= 100, (example.name, line)
            assert not line.rstrip().endswith(("-", "/", "@")), (example.name, line)  # nothing cut mid-word
    r = run_cli("recommend", "-f", str(root / "04-gemma-3-unsupported-on-neuron" / "workload.yaml"))
    assert "aws-neuron/aws-neuron-sdk@db1586c:libraries/nxd-inference/developer_guides/model-reference.rst" in r.stdout


def test_prices_that_match_nothing_say_so() -> None:
    from ..support.cli import run_cli  # noqa: PLC0415

    r = run_cli("prices", "--instance-type", "p5.48xl")
    assert r.returncode == 2 and "unknown instance type 'p5.48xl' (did you mean: p5.48xlarge" in r.stderr
    r = run_cli("prices", "--instance-type", "p5e.48xlarge", "--region", "eu-west-1")
    assert r.returncode == 1 and "no prices match --instance-type p5e.48xlarge --region eu-west-1" in r.stderr
    r = run_cli("prices", "--instance-type", "p5e.48xlarge", "--region", "us-east-2", "-o", "json")
    assert r.returncode == 0 and "capacity-block" in r.stdout
