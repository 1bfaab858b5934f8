"""SLO logic and Neuron support rules of the placement search."""

from __future__ import annotations

import numpy as np
import pytest

from inferplace.catalog import load_catalog
from inferplace.engine.slo import Tails, latency_at, slo_capacity
from inferplace.placement.scenarios import Scenario, to_arrays
from inferplace.pricing import default_book, parse_overrides

from ..support.manifests import SELF_HOSTED, workload_doc
from ..support.plan import plan_one


def _rows(ttft_ms: float, tpot_ms: float, isl_p95: float = 2000.0) -> tuple:  # type: ignore[type-arg]
    cat = load_catalog()
    s = Scenario(model=cat.model("meta-llama/Llama-3.1-8B-Instruct"), accelerator=cat.accelerator("h100-sxm"),
                 chips_per_replica=1, replicas=1, weight_dtype="bf16", kv_dtype="bf16", input_tokens=1000,
                 output_tokens=200, batch=float("nan"), load="server-slo", framework="vllm",
                 ttft_slo_s=ttft_ms / 1e3, tpot_slo_s=tpot_ms / 1e3)
    sa = to_arrays([s], cat)
    tails = Tails(np.array([isl_p95]), np.array([400.0]), np.array([np.inf]))
    return sa, tails


def test_goodput_meets_both_slos_at_the_limit_and_not_beyond() -> None:
    sa, tails = _rows(1000, 40)
    cap = slo_capacity(sa, tails)
    rate = cap.rate[0]
    assert rate > 0
    at = latency_at(sa, tails, np.array([rate]))
    assert at.ttft[0] <= 1.0 and at.tpot[0] <= 0.040
    beyond = latency_at(sa, tails, np.array([rate * 1.05]))
    assert beyond.ttft[0] > 1.0 or beyond.tpot[0] > 0.040 or beyond.saturated[0]


def test_tighter_slo_means_less_goodput() -> None:
    loose = slo_capacity(*_rows(2000, 60)).rate[0]
    tight = slo_capacity(*_rows(2000, 20)).rate[0]
    assert tight < loose


def test_longer_p95_prompts_raise_ttft() -> None:
    sa, short = _rows(1000, 40, isl_p95=1000)
    _, long = _rows(1000, 40, isl_p95=16000)
    r = np.array([1.0])
    assert latency_at(sa, long, r).ttft[0] > latency_at(sa, short, r).ttft[0]


def test_unreachable_tpot_is_reported_with_the_floor() -> None:
    doc = workload_doc(constraints=SELF_HOSTED)
    doc["spec"]["slo"] = {"ttftP95Ms": 2000, "tpotP95Ms": "0.5"}
    rep = plan_one(doc)
    assert rep.status.recommendation is None
    assert rep.status.conditions[0].status == "False"
    reasons = {r.reason for r in rep.status.rejected}
    assert "SLO_TPOT_UNMET" in reasons
    msg = next(r.message for r in rep.status.rejected if r.reason == "SLO_TPOT_UNMET")
    assert "even unloaded" in msg and "0.5 ms objective" in msg


def test_unreachable_ttft_is_named() -> None:
    doc = workload_doc(constraints=SELF_HOSTED)
    doc["spec"]["traffic"]["promptTokens"] = {"mean": 30000, "p95": 60000}
    doc["spec"]["slo"] = {"ttftP95Ms": 50, "tpotP95Ms": 100}
    rep = plan_one(doc)
    assert rep.status.recommendation is None
    assert "SLO_TTFT_UNMET" in {r.reason for r in rep.status.rejected}


def test_every_recommendation_meets_its_slos_at_peak() -> None:
    rep = plan_one(workload_doc(constraints=SELF_HOSTED))
    rec = rep.status.recommendation
    assert rec is not None
    for p in [rec, *rep.status.alternatives]:
        assert float(p.projected.ttft_p95_ms) <= 2000
        assert float(p.projected.tpot_p95_ms) <= 60
        assert 0 < float(p.projected.utilization) <= 1


def test_unsupported_family_is_rejected_on_neuron() -> None:
    doc = workload_doc(model="google/gemma-3-27b-it")
    doc["spec"]["constraints"] = {"instanceFamilies": ["inf2", "trn1", "p5en"], **SELF_HOSTED}
    rep = plan_one(doc)
    rejected = {r.node_pool: r for r in rep.status.rejected}
    for fam in ("inf2", "trn1"):
        assert rejected[fam].reason == "MODEL_UNSUPPORTED_ON_NEURON"
        assert "gemma3" in rejected[fam].message and "neuronSupport" in rejected[fam].message
    assert rep.status.recommendation is not None
    assert rep.status.recommendation.node_pool == "p5en"


def test_neuron_support_override_admits_neuron_with_the_porting_cost() -> None:
    doc = workload_doc(model="google/gemma-3-27b-it", current={"instanceType": "p5en.48xlarge", "replicas": 1,
                                                                "chipsPerReplica": 2})
    doc["spec"]["model"]["neuronSupport"] = "unsupported"
    doc["spec"]["constraints"] = {"instanceFamilies": ["inf2"], **SELF_HOSTED}
    rep = plan_one(doc)
    assert {r.reason for r in rep.status.rejected if r.node_pool == "inf2"} == {"MODEL_UNSUPPORTED_ON_NEURON"}
    doc["spec"]["model"]["neuronSupport"] = "beta"
    rep = plan_one(doc)
    rec = rep.status.recommendation
    assert rec is not None and rec.node_pool == "inf2"
    assert float(rec.migration_weeks) == 10  # catalog default, GPU to Neuron, beta tier
    assert any("neuronSupport" in line for line in rec.rationale)
    assert any("pinned to 2.28" in line for line in rec.rationale)  # the Inf2 platform risk
    assert rec.confidence.level == "low"


def test_supported_family_gets_default_gpu_to_neuron_weeks_and_limit_applies() -> None:
    doc = workload_doc(current={"instanceType": "p5en.48xlarge", "replicas": 1, "chipsPerReplica": 1})
    doc["spec"]["constraints"] = {"instanceFamilies": ["inf2"], **SELF_HOSTED}
    rec = plan_one(doc).status.recommendation
    assert rec is not None and float(rec.migration_weeks) == 6
    doc["spec"]["constraints"]["maxMigrationWeeks"] = 4
    rep = plan_one(doc)
    assert rep.status.recommendation is None
    assert {r.reason for r in rep.status.rejected if r.node_pool == "inf2"} == {"MIGRATION_EXCEEDS_LIMIT"}


def test_migration_override_by_platform() -> None:
    doc = workload_doc(current={"instanceType": "p5en.48xlarge", "replicas": 1, "chipsPerReplica": 1})
    doc["spec"]["constraints"] = {"instanceFamilies": ["inf2"], **SELF_HOSTED}
    doc["spec"]["economics"] = {"migrationWeeks": [{"target": "neuron", "weeks": "2.5"}]}
    rec = plan_one(doc).status.recommendation
    assert rec is not None and float(rec.migration_weeks) == pytest.approx(2.5)
    assert "spec.economics.migrationWeeks[neuron]" in " ".join(rec.rationale)


def test_excluded_families_are_reported() -> None:
    doc = workload_doc()
    doc["spec"]["constraints"] = {"instanceFamilies": ["g6e"], **SELF_HOSTED}
    rep = plan_one(doc)
    ex = {r.node_pool for r in rep.status.rejected if r.reason == "EXCLUDED_BY_CONSTRAINTS"}
    assert {"p5", "inf2", "trn2"} <= ex
    assert rep.status.recommendation is not None and rep.status.recommendation.node_pool == "g6e"


def test_speculative_decoding_is_searched_both_ways() -> None:
    doc = workload_doc(model="meta-llama/Llama-3.3-70B-Instruct")
    doc["spec"]["slo"] = {"ttftP95Ms": 3000, "tpotP95Ms": 20}
    doc["spec"]["speculativeDecoding"] = {"draftModel": "meta-llama/Llama-3.2-1B", "acceptanceRate": "0.75",
                                          "numSpeculativeTokens": 4}
    doc["spec"]["constraints"] = {"instanceFamilies": ["p5en"], **SELF_HOSTED}
    rep = plan_one(doc)
    flags = {p.speculative_decoding for p in [rep.status.recommendation, *rep.status.alternatives] if p}
    assert True in flags


def test_price_overrides_make_trn2_a_candidate() -> None:
    book = default_book(parse_overrides({"prices": [
        {"instanceType": "trn2.48xlarge", "capacityType": "on-demand", "usdPerHour": "1.00",
         "source": "test: absurdly low to force the choice", "date": "2026-11-01"}]}))
    rep = plan_one(workload_doc(constraints=SELF_HOSTED), book=book)
    assert rep.status.recommendation is not None
    assert rep.status.recommendation.instance_type == "trn2.48xlarge"
    price = rep.status.recommendation.cost_breakdown.price
    assert (price.provider, price.region, price.usd_per_hour) == ("override", "us-east-1", "1.0000")
    assert "price override" in price.source
