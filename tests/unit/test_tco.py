"""The TCO arithmetic against hand-computed figures, and a two-instance toy catalog whose answer is
known without trusting the engine's absolute numbers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from inferplace.catalog import Catalog, load_catalog
from inferplace.engine.tco import Demand, Overheads, monthly_cost, size
from inferplace.pricing import PriceBook

from ..support.manifests import workload_doc
from ..support.plan import book_of, plan_one


def test_sizing_by_hand() -> None:
    # 10 req/s mean, peak x2, 5% retries -> 21 req/s to carry at peak; a replica serves 3 req/s at the
    # SLO and may run at 70% -> ceil(21 / 2.1) = 10 replicas; 2 chips each, 8 chips per instance ->
    # 4 per instance -> 3 instances (12 slots) -> capacity 36 req/s -> utilization 10.5 / 36.
    s = size(np.array([3.0]), Demand(10.0, 2.0, 0.05), 0.7, 1, np.array([2.0]), np.array([8.0]), 200.0)
    assert s.replicas[0] == 10
    assert s.instances[0] == 3
    assert s.replicas_per_instance[0] == 4
    assert s.capacity_tok_s[0] == pytest.approx(36 * 200)
    assert s.utilization[0] == pytest.approx(10.5 / 36)


def test_demand_by_hand() -> None:
    d = Demand(mean_rps=10.0, peak_to_mean=2.0, retry_rate=0.05)
    assert d.peak == pytest.approx(21.0)
    assert d.mean == pytest.approx(10.5)


def test_a_given_fleet_is_packed_and_used_as_is() -> None:
    # Today's 5 replicas x 2 chips on 8-chip instances: 2 instances, 4 slots each; 3 req/s per replica.
    s = size(np.array([3.0]), Demand(10.0, 2.0, 0.05), 0.7, 1, np.array([2.0]), np.array([8.0]), 200.0,
             replicas=np.array([5.0]))
    assert s.replicas[0] == 5 and s.instances[0] == 2
    assert s.utilization[0] == pytest.approx(10.5 / 24)
    # A fleet that cannot serve within the SLOs has no capacity: all of it is busy (or idle), never NaN.
    none = size(np.array([np.nan]), Demand(10.0, 2.0, 0.05), 0.7, 1, np.array([2.0]), np.array([8.0]), 200.0,
                replicas=np.array([5.0]))
    assert none.capacity_tok_s[0] == 0 and none.utilization[0] == 1.0


def test_min_replicas_wins_over_low_demand() -> None:
    s = size(np.array([50.0]), Demand(0.1, 1.0, 0.0), 0.8, 3, np.array([1.0]), np.array([1.0]), 100.0)
    assert s.replicas[0] == 3 and s.instances[0] == 3


def test_monthly_cost_terms_by_hand() -> None:
    s = size(np.array([3.0]), Demand(10.0, 2.0, 0.05), 0.7, 1, np.array([2.0]), np.array([8.0]), 200.0)
    c = monthly_cost(np.array([10.0]), s, Overheads(host=0.0, network=0.01, storage=0.02, power=0.03,
                                                     orchestration=0.04),
                     0.05, np.array([6.0]), 5000.0, 12.0, accepted_tok_s=10.0 * 200)
    bill = 10.0 * 3 * 730  # $/h x instances x hours
    u = 10.5 / 36
    assert c.instance_bill[0] == pytest.approx(bill)
    assert c.accelerators[0] == pytest.approx(bill * u / 1.05)
    assert c.failed_requests_and_retries[0] == pytest.approx(bill * u * 0.05 / 1.05)
    assert c.idle_capacity[0] == pytest.approx(bill * (1 - u))
    assert c.network[0] == pytest.approx(bill * 0.01)
    assert c.storage[0] == pytest.approx(bill * 0.02)
    assert c.power[0] == pytest.approx(bill * 0.03)
    assert c.orchestration[0] == pytest.approx(bill * 0.04)
    assert c.software_engineering[0] == pytest.approx(6 * 5000 / 12)
    expected_total = bill * 1.10 + 6 * 5000 / 12
    assert c.total[0] == pytest.approx(expected_total)
    tokens = 10.0 * 200 * 730 * 3600
    assert c.accepted_tokens_per_month == pytest.approx(tokens)
    assert c.per_million_tokens[0] == pytest.approx(expected_total / (tokens / 1e6))


def _toy(price_a: float, price_b: float | None) -> tuple[Catalog, PriceBook]:
    """Two instance types with the same chip (so the same performance) and different prices."""
    cat = load_catalog()
    base = cat.instances["p5en.48xlarge"]
    a = base.model_copy(update={"type": "toya.48xlarge", "family": "toya"})
    b = base.model_copy(update={"type": "toyb.48xlarge", "family": "toyb"})
    prices = [("toya.48xlarge", "us-east-1", "on-demand", price_a)]
    if price_b is not None:
        prices.append(("toyb.48xlarge", "us-east-1", "on-demand", price_b))
    return dataclasses.replace(cat, instances={"toya.48xlarge": a, "toyb.48xlarge": b}), book_of(prices)


def test_toy_catalog_cheaper_instance_wins_and_costs_add_up() -> None:
    cat, book = _toy(price_a=40.0, price_b=30.0)
    doc = workload_doc(current={"instanceType": "toya.48xlarge", "replicas": 2, "chipsPerReplica": 8})
    doc["spec"]["economics"] = {"migrationWeeks": [{"target": "toyb", "weeks": 2}], "engineerWeekCost": 6000,
                                "amortizationMonths": 12, "retryRate": "0", "targetUtilization": 1,
                                "overheadRates": {"host": 0, "network": 0, "storage": 0, "power": 0,
                                                  "orchestration": 0}}
    rep = plan_one(doc, cat, book)
    rec, cur = rep.status.recommendation, rep.status.current
    assert rec is not None and cur is not None
    assert rec.instance_type == "toyb.48xlarge"
    # Same chip, same shape: the same instance count; only price and migration differ.
    b = rec.cost_breakdown
    inst_bill = 30.0 * rec.instances * 730
    assert float(b.instance_bill) == pytest.approx(inst_bill, abs=0.01)
    assert float(b.software_engineering) == pytest.approx(2 * 6000 / 12, abs=0.01)
    assert float(rec.monthly_cost) == pytest.approx(inst_bill + 1000, abs=0.02)
    assert float(cur.monthly_cost or 0) == pytest.approx(40.0 * cur.instances * 730, abs=0.02)
    terms = ["accelerators", "host", "network", "storage", "power", "orchestration", "software_engineering",
             "failed_requests_and_retries", "idle_capacity"]
    assert sum(float(getattr(b, t)) for t in terms) == pytest.approx(float(b.total), abs=0.05)
    savings = float(cur.monthly_cost or 0) - float(rec.monthly_cost)
    assert float(rec.savings_monthly or 0) == pytest.approx(savings, abs=0.01)
    assert float(rec.savings_percent or 0) == pytest.approx(savings / float(cur.monthly_cost or 1) * 100, abs=0.05)
    # Payback: one-time migration cost over the monthly run-rate saving before amortized engineering.
    run_rate = float(cur.monthly_cost or 0) - inst_bill
    assert float(rec.payback_months or 0) == pytest.approx(2 * 6000 / run_rate, abs=0.05)
    # The loser is explained, with its cost.
    (lost,) = [r for r in rep.status.rejected if r.node_pool == "toya"]
    assert lost.reason == "HIGHER_COST"
    per_m = float(rec.cost_per_million_output_tokens)
    tokens = float(b.accepted_output_tokens_per_month)
    assert per_m == pytest.approx(float(rec.monthly_cost) / (tokens / 1e6), rel=1e-3)


def test_migration_cost_can_reverse_the_choice() -> None:
    cat, book = _toy(price_a=40.0, price_b=39.9)
    doc = workload_doc(current={"instanceType": "toya.48xlarge", "replicas": 2, "chipsPerReplica": 8})
    doc["spec"]["economics"] = {"migrationWeeks": [{"target": "toyb", "weeks": 40}], "engineerWeekCost": 10000,
                                "amortizationMonths": 6}
    rec = plan_one(doc, cat, book).status.recommendation
    assert rec is not None and rec.instance_type == "toya.48xlarge"


def test_price_missing_is_no_price_never_zero() -> None:
    cat, book = _toy(price_a=40.0, price_b=None)
    rep = plan_one(workload_doc(), cat, book)
    assert rep.status.recommendation is not None
    assert rep.status.recommendation.instance_type == "toya.48xlarge"
    (rej,) = [r for r in rep.status.rejected if r.node_pool == "toyb"]
    assert rej.reason == "NO_PRICE"
    assert "no on-demand price for toyb.48xlarge in us-east-1" in rej.message
    assert "no source has any price for it" in rej.message
