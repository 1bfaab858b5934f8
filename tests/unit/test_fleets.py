"""Every fleet priced and every current accelerator modelled: today's cost without an engine row, what a
losing candidate would take to win, instance types a team declares, expert parallelism by topology."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferplace.catalog import load_catalog
from inferplace.catalog.declared import DeclaredError, declare, read_declared
from inferplace.engine.roofline import a2a_hops, decode_step
from inferplace.placement.scenarios import Scenario, to_arrays

from ..support.cli import run_cli
from ..support.manifests import SELF_HOSTED, workload_doc
from ..support.plan import book_of, plan_one

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
EX07 = ROOT / "examples" / "07-trainium3"
CAT = load_catalog()
OVERHEADS = 1.04  # default network 0.01 + storage 0.01 + orchestration 0.02 on the instance bill
HOURS = 730.0
ECONOMICS = {"engineerWeekCost": 6000, "amortizationMonths": 12}


# ---- today's cost whenever a price exists ----------------------------------------------------------

def test_today_is_billed_by_instance_hours_when_the_engine_cannot_model_it() -> None:
    # FP8 weights on A100s: no FP8 on Ampere, so today's placement has no engine row; it still has a price.
    doc = workload_doc(current={"instanceType": "p4d.24xlarge", "replicas": 4, "chipsPerReplica": 2,
                                "capacityType": "on-demand"},
                       constraints=SELF_HOSTED | {"instanceFamilies": ["p4d", "p5"]}, economics=ECONOMICS)
    doc["spec"]["model"]["weightPrecision"] = "fp8"
    book = book_of([("p4d.24xlarge", "us-east-1", "on-demand", 20.0), ("p5.48xlarge", "us-east-1", "on-demand", 55.0)])
    st = plan_one(doc, book=book).status
    cur = st.current
    assert cur is not None and cur.projected is None and cur.meets_slo is None
    # By hand: 4 replicas x 2 chips on 8-chip p4d = 1 instance; 20.00 x 730 h x 1.04 = 15,184.00 a month,
    # over 10 req/s x 200 tokens x 2,628,000 s = 5,256 million tokens: 2.8889 per million.
    assert cur.instances == 1
    assert cur.monthly_cost == "15184.00" and cur.cost_per_million_output_tokens == "2.8889"
    assert any("cannot be modelled" in n for n in cur.notes)
    assert any("instance hours at the price" in n for n in cur.notes)
    rec = st.recommendation
    assert rec is not None and rec.savings_monthly is not None
    assert float(rec.savings_monthly) == pytest.approx(15184.00 - float(rec.monthly_cost), abs=0.01)


def test_a_g5_fleet_shows_todays_cost_and_its_savings() -> None:
    doc = workload_doc(current={"instanceType": "g5.12xlarge", "replicas": 6, "chipsPerReplica": 4,
                                "capacityType": "on-demand"}, constraints=SELF_HOSTED)
    st = plan_one(doc).status
    assert st.current is not None and st.current.monthly_cost is not None and st.current.projected is not None
    assert st.recommendation is not None and st.recommendation.savings_monthly is not None


# ---- what a losing candidate would take --------------------------------------------------------------

def test_break_even_rates_and_the_nearest_price_by_hand() -> None:
    doc = workload_doc(current={"instanceType": "p5.48xlarge", "replicas": 2, "chipsPerReplica": 1,
                                "capacityType": "on-demand"},
                       constraints=SELF_HOSTED | {"instanceFamilies": ["p5", "p4d", "trn2"]}, economics=ECONOMICS)
    book = book_of([("p5.48xlarge", "us-east-1", "on-demand", 55.04), ("p4d.24xlarge", "us-east-1", "on-demand", 60.0),
                    ("trn2.48xlarge", "us-east-2", "capacity-block", 35.76)])
    st = plan_one(doc, book=book).status
    rec = st.recommendation
    assert rec is not None and rec.instance_type == "p5.48xlarge"
    target = float(rec.monthly_cost)
    rejected = {r.node_pool: r for r in st.rejected}

    # A loser on price: its total is 1.04 x 730 h x instances x rate + migration spread over 12 months, so
    # the rate at which it costs what the recommendation costs is (target - migration) / (1.04 x 730 x n).
    p4d = next(a for a in st.alternatives if a.instance_type == "p4d.24xlarge")
    r = rejected["p4d"]
    assert r.reason == "HIGHER_COST" and r.what_it_takes is not None
    migration = float(p4d.migration_weeks) * 6000 / 12
    by_hand = (target - migration) / (OVERHEADS * HOURS * p4d.instances)
    assert float(r.what_it_takes.break_even_usd_per_hour) == pytest.approx(by_hand, abs=1e-4)
    assert by_hand < 60.0 and f"${by_hand:,.2f}/h or less per p4d.24xlarge" in r.message

    # No price in us-east-1: costed at the nearest price that exists (us-east-2 capacity-block).
    t = rejected["trn2"]
    assert t.reason == "NO_PRICE" and t.what_it_takes is not None
    near = t.what_it_takes.nearest_price
    assert near is not None and (near.region, near.capacity_type, near.usd_per_hour) == (
        "us-east-2", "capacity-block", "35.7600")
    weeks = CAT.migration.default_weeks("gpu", "p5", "neuron", "trn2", "supported")
    sw = weeks * 6000 / 12
    instances = (float(near.monthly_cost) - sw) / (35.76 * OVERHEADS * HOURS)
    assert instances == pytest.approx(round(instances), abs=1e-3) and round(instances) >= 1
    be = (target - sw) / (OVERHEADS * HOURS * round(instances))
    assert float(t.what_it_takes.break_even_usd_per_hour) == pytest.approx(be, abs=1e-4)
    assert "at the nearest price (us-east-2 capacity-block, $35.76/h" in t.message


def test_the_table_says_at_what_rate_each_loser_would_win() -> None:
    r = run_cli("recommend", "-f", str(EX07 / "workload.yaml"), "--instances", str(EX07 / "instances.yaml"),
                "--prices", str(EX07 / "whatif-rate.yaml"), "--as-of", "2026-12-01")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "would win at or below (per instance-hour, all else as priced):" in text
    assert "trn3.48xlarge $" in text


# ---- instance types a team declares ------------------------------------------------------------------

def _declared(**over: Any) -> dict[str, Any]:
    inst = {"type": "trn3.48xlarge", "accelerator": "trainium3", "chips": 16, "source": "Neuron docs"} | over
    return {"instanceTypes": [inst]}


def test_a_declared_instance_type_joins_the_catalog_for_the_run_only() -> None:
    cat = read_declared((EX07 / "instances.yaml").read_bytes(), CAT)
    inst = cat.instance("trn3.48xlarge")
    assert (inst.family, inst.chips, inst.vcpu) == ("trn3", 16, 192)
    acc = cat.accelerator_of(inst)
    assert acc is not None and acc.generation == "neuron-v4" and acc.topology == "switched"
    assert acc.link_bytes_s == pytest.approx(2560e9)
    assert "trn3.48xlarge" not in load_catalog().instances  # the packaged catalog is untouched


def test_a_declared_chip_with_its_own_figures() -> None:
    raw = {"accelerators": [{"id": "acme-x1", "name": "Acme X1", "vendor": "nvidia", "generation": "hopper",
                             "peakTflops": {"bf16": "989", "fp8": "1979"}, "memoryGiB": "141",
                             "memoryBandwidthTBs": "4.8",
                             "interconnect": {"gbPerSecond": "450", "topology": "switched"},
                             "weightDtypes": ["bf16", "fp8"], "kvDtypes": ["bf16", "fp8"],
                             "source": "vendor datasheet 2026-05"}],
           "instanceTypes": [{"type": "acme.8x", "accelerator": "acme-x1", "chips": 8, "source": "private offer"}]}
    cat = declare(raw, CAT)
    acc = cat.accelerator_of(cat.instance("acme.8x"))
    assert acc is not None and acc.peak_flops("fp8") == pytest.approx(1979e12)
    assert acc.memory_bytes == pytest.approx(141 * 2**30) and "vendor datasheet" in acc.memory.source


def test_own_memory_or_interconnect_makes_a_chip_of_its_own() -> None:
    cat = declare(_declared(type="trn2x.48xlarge", accelerator="trn2", acceleratorMemoryGiB="96",
                            interconnect={"gbPerSecond": "1024", "topology": "switched"}), CAT)
    acc = cat.accelerator_of(cat.instance("trn2x.48xlarge"))
    assert acc is not None and acc.id == "trainium2@trn2x.48xlarge" and acc.topology == "switched"
    assert CAT.accelerators["trainium2"].topology == "torus"  # the catalog's chip keeps its own


@pytest.mark.parametrize(("over", "expected"), [
    ({"type": "p5.48xlarge"}, "instanceTypes[0].type: 'p5.48xlarge' is already in the catalog"),
    ({"accelerator": "tpu-v9"}, "instanceTypes[0].accelerator: unknown chip 'tpu-v9'; allowed: the catalog's"),
    ({"chips": 0}, "instanceTypes[0].chips"),
    ({"chips": 1.5}, "instanceTypes[0].chips"),
    ({"type": "Trn3 Server"}, "instanceTypes[0].type"),
    ({"interconnect": {"gbPerSecond": "100", "topology": "mesh"}}, "instanceTypes[0].interconnect.topology"),
    ({"interconnect": {"gbPerSecond": 100.5, "topology": "torus"}}, "write decimals as quoted strings"),
    ({"source": ""}, "instanceTypes[0].source"),
])
def test_bad_declarations_name_the_field(over: dict[str, Any], expected: str) -> None:
    with pytest.raises(DeclaredError) as err:
        declare(_declared(**over), CAT)
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_a_declared_chip_is_checked_too() -> None:
    chip = {"id": "acme-x1", "name": "Acme X1", "vendor": "nvidia", "generation": "volta", "peakTflops": {"fp8": "1"},
            "memoryGiB": "80", "memoryBandwidthTBs": "3", "source": "datasheet"}
    with pytest.raises(DeclaredError) as err:
        declare({"accelerators": [chip], "instanceTypes": _declared()["instanceTypes"]}, CAT)
    assert "accelerators[0].generation: 'volta' is not one the efficiencies were fitted for; allowed:" in \
        err.value.problems[0] and "hopper" in err.value.problems[0]
    chip["generation"] = "hopper"
    with pytest.raises(DeclaredError, match=r"accelerators\[0\].peakTflops: bf16 is required"):
        declare({"accelerators": [chip], "instanceTypes": _declared()["instanceTypes"]}, CAT)


def test_the_cli_reports_a_bad_instances_file_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "instances.yaml"
    bad.write_text("instanceTypes:\n- type: trn3.48xlarge\n  accelerator: nope\n  chips: 16\n  source: x y\n")
    r = run_cli("recommend", "-f", str(EX07 / "workload.yaml"), "--instances", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--instances" in r.stderr and "instanceTypes[0].accelerator: unknown chip 'nope'" in r.stderr


def test_render_targets_a_declared_instance_type_by_name(tmp_path: Path) -> None:
    rates = tmp_path / "rates.yaml"
    rates.write_text('prices:\n- instanceType: trn3.48xlarge\n  capacityType: capacity-block\n  usdPerHour: "1.00"\n'
                     '  region: us-east-2\n  source: what-if, not a price\n  date: "2026-11-20"\n')
    r = run_cli("render", "-f", str(EX07 / "workload.yaml"), "--instances", str(EX07 / "instances.yaml"),
                "--prices", str(rates), "--as-of", "2026-12-01")
    assert r.returncode == 0, r.stderr
    assert "trn3.48xlarge" in r.stdout and "node.kubernetes.io/instance-type" in r.stdout


# ---- expert parallelism: a switched fabric against a torus -------------------------------------------

def _moe_step(topology: str, expert_parallel: bool) -> tuple[float, Any, Any]:
    acc = CAT.accelerator("trainium3").model_copy(update={"topology": topology})
    s = Scenario(model=CAT.model("Qwen/Qwen3-30B-A3B"), accelerator=acc, chips_per_replica=16, replicas=1,
                 weight_dtype="bf16", kv_dtype="bf16", input_tokens=2000, output_tokens=400, batch=64.0,
                 load="closed-loop", framework="nxdi", expert_parallel=expert_parallel)
    sa = to_arrays([s], CAT)
    hw = sa.hardware()
    step = decode_step(sa.shape, hw, np.array([64.0]), np.array([2200.0]))
    return float(step.comm[0]), sa, hw


def test_expert_parallel_all_to_all_costs_more_on_a_torus_by_the_hops() -> None:
    switched, sa, hw = _moe_step("switched", True)
    torus, _, _ = _moe_step("torus", True)
    assert torus > switched
    # By hand: on a 4x4 torus an all-to-all message crosses sqrt(16)/2 = 2 links, on a switch 1. The extra
    # is, per MoE layer and per all-to-all (dispatch and combine), one more latency and one more pass of
    # each chip's share: 64/16 tokens x top-k x hidden x 2 bytes x 15/16 over the usable link bandwidth.
    assert float(a2a_hops(np.array([0.0]), np.array([16.0]))[0]) == 2.0
    shape = sa.shape
    link = float(hw.link[0] * hw.link_fraction[0])
    share = 64 / 16 * float(shape.top_k[0]) * float(shape.hidden[0]) * 2 * 15 / 16
    extra = 2 * float(shape.moe_layers[0]) * (float(hw.collective_latency[0]) + share / link)
    assert torus - switched == pytest.approx(extra, rel=1e-9)


def test_without_expert_parallelism_the_topology_does_not_matter() -> None:
    assert _moe_step("switched", False)[0] == _moe_step("torus", False)[0]
    assert not math.isclose(_moe_step("torus", True)[0], _moe_step("torus", False)[0])
