"""Traffic shape, serving strategies, managed per-token APIs and the break-even, against figures
worked out by hand (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferplace.api import InferenceWorkload
from inferplace.catalog import load_catalog
from inferplace.engine.tco import HOURS_PER_MONTH, SECONDS_PER_MONTH, Overheads, per_token_cost, size_over_hours
from inferplace.placement.breakeven import curve
from inferplace.placement.cost import totals_at_scales
from inferplace.placement.search import search
from inferplace.placement.workload import RegionDefault, resolve
from inferplace.pricing import default_book

from ..support.cli import run_cli, write_yaml
from ..support.manifests import ONE_REPLICA, SELF_HOSTED, workload_doc
from ..support.plan import plan_one

# Office hours: nothing from 00:00 to 11:00, twice the mean from 12:00 to 23:00.
HALF_DAY = [0] * 12 + [2] * 12
NO_OVERHEADS = Overheads(host=0.0, network=0.0, storage=0.0, power=0.0, orchestration=0.0)


def test_per_token_cost_by_hand() -> None:
    # 2 req/s, 5% retries -> 2.1 req/s billed; 1000 prompt + 200 output tokens at $0.72 / $0.90 per 1M:
    # $0.00072 + $0.00018 = $0.0009 a request.
    c = per_token_cost(2.1, 1000.0, 200.0, np.array([0.72]), np.array([0.90]),
                       Overheads(host=0.5, network=0.01, storage=0.0, power=0.0, orchestration=0.0),
                       0.05, np.array([1.0]), 5000.0, 12.0, accepted_tok_s=2.0 * 200)
    bill = 2.1 * SECONDS_PER_MONTH * 0.0009
    assert c.accelerators[0] + c.failed_requests_and_retries[0] == pytest.approx(bill)
    assert c.failed_requests_and_retries[0] == pytest.approx(bill * 0.05 / 1.05)
    assert c.idle_capacity[0] == 0  # nothing is reserved, nothing idles
    assert c.host[0] == pytest.approx(bill * 0.5)  # the rate is applied as given; the API path passes 0
    assert c.network[0] == pytest.approx(bill * 0.01)
    assert c.software_engineering[0] == pytest.approx(5000.0 / 12)
    total = bill * 1.51 + 5000.0 / 12
    assert c.total[0] == pytest.approx(total)
    assert c.per_million_tokens[0] == pytest.approx(total / (400 * SECONDS_PER_MONTH) * 1e6)


def _shape(to_zero: bool, lead_s: float = 360.0) -> Any:
    demand = np.array(HALF_DAY, dtype=np.float64)  # 1 req/s mean, no retries
    return size_over_hours(np.array([1.0]), demand, 1.0, 1, np.array([1.0]), np.array([1.0]), 100.0,
                           np.array([lead_s]), to_zero)


def test_autoscaled_fleet_by_hand() -> None:
    # A replica serves 1 req/s at 100%: 1 replica (the minimum) in idle hours, 2 in busy ones. The rise
    # at 12:00 is met ahead: hour 11 pays the second instance for its last 6 minutes (lead 360 s).
    # Hours 0-10: 1, hour 11: 0.9 x 1 + 0.1 x 2 = 1.1, hours 12-23: 2 -> 36.1 instance-hours a day.
    s = _shape(to_zero=False)
    assert s.replicas[0] == 2 and s.instances[0] == 2
    assert s.instance_hours[0] == pytest.approx(36.1 * HOURS_PER_MONTH / 24)
    assert s.utilization[0] == pytest.approx(24 / 36.1)  # 24 request-hours over 36.1 instance-hours
    assert s.capacity_tok_s[0] == pytest.approx(36.1 / 24 * 100)
    assert s.cold_start_share is not None and s.cold_start_share[0] == 0


def test_scale_to_zero_by_hand() -> None:
    # Nothing runs in the 12 idle hours and nothing anticipates 12:00: its first requests wait 360 s
    # for a cold start. The busy hours pay 2 instances each -> 24 instance-hours a day, fully used.
    s = _shape(to_zero=True)
    assert s.instance_hours[0] == pytest.approx(24 * HOURS_PER_MONTH / 24)
    assert s.utilization[0] == pytest.approx(1.0)
    # Requests in the cold hour's first 360 s: 2 req/s x 360 s of 24 x 3600 request-seconds a day.
    assert s.cold_start_share is not None
    assert s.cold_start_share[0] == pytest.approx(2 * 360 / (24 * 3600))


def _office(scale_to_zero: bool, **constraints: Any) -> dict[str, Any]:
    doc = workload_doc(constraints={**SELF_HOSTED, "instanceFamilies": ["g6e"], **constraints},
                       scaling={"scaleToZero": scale_to_zero})
    doc["spec"]["traffic"]["profile"] = HALF_DAY
    return doc


def test_scale_to_zero_only_when_the_workload_allows_it() -> None:
    auto = plan_one(_office(False)).status.recommendation
    zero = plan_one(_office(True)).status.recommendation
    assert auto is not None and zero is not None and auto.scaling is not None and zero.scaling is not None
    assert auto.scaling.strategy == "autoscaled" and auto.scaling.cold_start_miss_share is None
    assert zero.scaling.strategy == "scale-to-zero"
    assert float(zero.scaling.cold_start_miss_share or 0) > 0
    assert float(zero.monthly_cost) < float(auto.monthly_cost)
    assert any("cold start" in r for r in zero.rationale)


def test_a_commitment_is_never_autoscaled() -> None:
    # A reserved instance is paid every hour whether it runs or not: only a fixed fleet makes sense.
    st = plan_one(_office(True, capacityTypes=["reserved-1y"])).status
    for p in [st.recommendation, *st.alternatives]:
        assert p is not None and p.scaling is not None and p.scaling.strategy == "fixed"


def test_a_profile_that_is_not_mean_one_is_normalised_with_a_note() -> None:
    doc = _office(False)
    doc["spec"]["traffic"]["profile"] = [0] * 12 + [4] * 12  # mean 2
    st = plan_one(doc).status
    assert st.traffic is not None and float(st.traffic.peak_to_mean) == 2 and st.traffic.idle_hours == 12
    assert any("normalised" in a for a in st.assumptions)
    same = plan_one(_office(False)).status
    assert st.recommendation is not None and same.recommendation is not None
    assert st.recommendation.monthly_cost == same.recommendation.monthly_cost


@pytest.mark.parametrize(("profile", "field", "says"), [
    ([1] * 23, "spec.traffic.profile", "at least 24"),
    ([1] * 25, "spec.traffic.profile", "24 (a day) or 168 (a week)"),
    ([-1] + [1] * 23, "spec.traffic.profile[0]", "non-negative decimal"),
    (["nan"] + [1] * 23, "spec.traffic.profile[0]", "non-negative decimal"),
    (["inf"] + [1] * 23, "spec.traffic.profile[0]", "non-negative decimal"),
    ([0] * 24, "spec.traffic.profile", "every hour is 0"),
])
def test_bad_profiles_are_refused_naming_the_field(tmp_path: Path, profile: list[Any], field: str,
                                                   says: str) -> None:
    doc = workload_doc()
    doc["spec"]["traffic"]["profile"] = profile
    r = run_cli("recommend", "-f", str(write_yaml(tmp_path, doc)))
    assert r.returncode == 2
    assert f"{field}:" in r.stderr and says in r.stderr and "Traceback" not in r.stderr


def test_the_api_is_offered_by_the_exact_model_id_and_region_only() -> None:
    # Bedrock serves Llama 3.3 70B Instruct in us-east-1 (price table); the base model id is not served.
    doc = workload_doc(model="meta-llama/Llama-3.3-70B-Instruct")
    st = plan_one(doc).status
    opts = [p for p in [st.recommendation, *st.alternatives] if p and p.kind == "managed-api"]
    (api,) = opts
    assert api.managed_api is not None
    assert (api.node_pool, api.managed_api.model_id, api.managed_api.region) == (
        "bedrock", "meta-llama/Llama-3.3-70B-Instruct", "us-east-1")
    assert api.managed_api.source and api.managed_api.as_of
    doc["spec"]["constraints"] = {"region": "ap-northeast-3"}
    st = plan_one(doc).status
    (rej,) = [r for r in st.rejected if r.node_pool == "bedrock"]
    assert rej.reason == "MODEL_NOT_OFFERED" and "ap-northeast-3" in rej.message


def test_managed_api_cost_per_million_by_hand() -> None:
    # 10 req/s x (1000 x $0.72 + 200 x $0.72) / 1M, 1% retries, 1% network; 1 engineer-week of $5000
    # over 12 months; per 1M of 10 x 200 accepted output tokens a second.
    doc = workload_doc(model="meta-llama/Llama-3.3-70B-Instruct")
    st = plan_one(doc).status
    (api,) = [p for p in [st.recommendation, *st.alternatives] if p and p.kind == "managed-api"]
    bill = 10 * 1.01 * SECONDS_PER_MONTH * 1200 * 0.72 / 1e6
    total = bill * 1.01 + 5000 / 12
    assert float(api.monthly_cost) == pytest.approx(total, abs=0.02)
    assert float(api.cost_per_million_output_tokens) == pytest.approx(total / (2000 * SECONDS_PER_MONTH) * 1e6,
                                                                      rel=1e-4)


def test_break_even_is_where_the_curves_cross() -> None:
    # Without redundancy (one replica at least, no spare) g6e crosses Bedrock; with N+1 it stays dearer.
    doc = workload_doc(model="meta-llama/Llama-3.1-8B-Instruct",
                       constraints={"instanceFamilies": ["g6e"], **ONE_REPLICA})
    doc["spec"]["traffic"]["requestsPerSecond"] = 60
    iw = InferenceWorkload.model_validate(doc)
    st = plan_one(doc).status
    be = st.break_even
    assert be is not None and be.requests_per_second is not None, be
    cat, book = load_catalog(), default_book()
    w = resolve("w", iw.spec, cat, RegionDefault("us-east-1", "test"))
    (o,) = search([w], cat, book)
    best, api = o.options[0], o.managed[0]
    rate = o.rows[o.cs.candidates[best.candidate].row].rate
    at = float(be.requests_per_second) / 60
    below, above = np.array([at * 0.9]), np.array([at])
    assert totals_at_scales(w, o.cs, best, rate, above)[0][0] <= curve(o, api, above)[0]
    assert totals_at_scales(w, o.cs, best, rate, below)[0][0] > curve(o, api, below)[0]
    assert 0 < float(be.utilization or 0) <= 1
    assert "req/s" in be.message and "bedrock" in be.message


def test_examples_02_and_05_list_a_cheaper_api_of_unknown_latency_and_01_self_hosts() -> None:
    # 02 and 05: a per-token API costs the least, but nobody measured its latency for these SLOs, so it is the
    # first alternative, marked unknown, never the recommendation; 01 self-hosts below the break-even.
    root = Path(__file__).resolve().parents[2] / "examples"
    for name in ("02-rag-llama-3.3-70b-long-prompts", "05-spiky-low-volume-mistral-7b", "01-steady-chat-llama-3.1-8b"):
        r = run_cli("recommend", "-f", str(root / name / "workload.yaml"), "-o", "json")
        st = json.loads(r.stdout)["status"]
        rec = st["recommendation"]
        assert rec["kind"] == "self-hosted", name
        assert "breakEven" in st, name
        if name.startswith("01"):
            assert float(st["breakEven"]["requestsPerSecond"]) < 60
            continue
        api = st["alternatives"][0]
        assert api["kind"] == "managed-api", name
        assert float(api["costPerMillionOutputTokens"]) < float(rec["costPerMillionOutputTokens"]), name
        latency = api["managedApi"]["latency"]
        assert latency.startswith("unknown") and "measuredApiLatency" in latency
        assert api["managedApi"]["source"] and api["managedApi"]["asOf"]


def test_cost_curves_pass_through_todays_costs() -> None:
    # The plot's curves come from the same costing as the table: at 1x today's traffic each node
    # pool's curve is that pool's best option's monthly total.
    doc = workload_doc(model="meta-llama/Llama-3.3-70B-Instruct")
    rep = plan_one(doc)
    curves = rep.curves()
    st = rep.status
    shown = {p.node_pool: float(p.monthly_cost) for p in [st.recommendation, *st.alternatives] if p}
    one = int(np.argmin(np.abs(np.log(curves[0].requests_per_second / rep.today_rps))))
    assert curves[0].requests_per_second[one] == pytest.approx(rep.today_rps)
    assert [c.chosen for c in curves].count(True) == 1
    assert any(c.managed for c in curves)
    for c in curves:
        if c.node_pool in shown:
            assert c.monthly_usd[one] == pytest.approx(shown[c.node_pool], abs=0.05), c.label
        assert np.all(np.diff(c.monthly_usd) >= -1e-6)  # more traffic never costs less
