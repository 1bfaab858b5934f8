"""Prices: the bundled snapshot and its generator, the user's rates, regions, capacity types on one
axis, staleness, and the operator's live layer with its fallbacks."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from inferplace.catalog import load_catalog
from inferplace.controller.prices import OperatorPrices
from inferplace.controller.reconcile import parse_spec, reconcile
from inferplace.placement import RegionDefault
from inferplace.pricing import OverrideError, bundled, parse_overrides, read_overrides
from inferplace.pricing.aws import Fetched
from inferplace.pricing.model import Price
from inferplace.pricing.snapshot import SnapshotError, generate, render

from ..support.cli import run_cli, write_lines, write_yaml
from ..support.manifests import CURRENT, SELF_HOSTED, workload_doc
from ..support.plan import NOW, plan_one

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "scripts/data/prices-2026.csv"
CAT = load_catalog()


def _row(**kw: str) -> dict[str, str]:
    base = {"instance_type": "p5.48xlarge", "region": "us-east-1", "capacity_type": "on-demand",
            "usd_per_hour": "55.04", "as_of_date": "2026-07-20", "source": "aws/karpenter@abc:pricing.go", "notes": ""}
    return base | kw


# ---- the snapshot -----------------------------------------------------------------------------------

def test_the_committed_snapshot_is_what_the_sourced_table_gives() -> None:
    with TABLE.open(encoding="utf-8") as fh:
        text = render(generate(list(csv.DictReader(fh)), "scripts/data/prices-2026.csv"))
    committed = ROOT / "operator/src/inferplace/pricing/data/snapshot.yaml"
    assert committed.read_text(encoding="utf-8") == text, "run scripts/generate_prices.py"


def test_the_generator_keeps_the_newest_figure_and_refuses_what_it_cannot_stand_behind() -> None:
    doc = generate([
        _row(usd_per_hour="98.32", as_of_date="2025-04-28"), _row(),
        _row(usd_per_hour="55.04", as_of_date="2025-06-23"),
        _row(instance_type="a.x", source=""), _row(instance_type="b.x", as_of_date=""),
        _row(instance_type="c.x", region=""), _row(instance_type="d.x", notes="UNVERIFIED: looks like a block rate"),
        _row(instance_type="e.x", capacity_type="dedicated"), _row(instance_type="f.x", usd_per_hour="0"),
        _row(instance_type="g.x", as_of_date="2026-13-45"),
    ], "table.csv")
    assert [(p["instanceType"], p["usdPerHour"], p["asOf"]) for p in doc["prices"]] == [
        ("p5.48xlarge", "55.04", "2026-07-20")]
    reasons = {r["row"].split()[0]: r["reason"] for r in doc["refused"]}
    assert reasons["a.x"] == "no source" and reasons["b.x"] == "no as-of date"
    assert reasons["c.x"].startswith("no region") and "UNVERIFIED" in reasons["d.x"]
    assert "capacity type" in reasons["e.x"] and "outside" in reasons["f.x"] and "not a date" in reasons["g.x"]


def test_two_figures_for_one_key_and_date_are_a_conflict_to_resolve() -> None:
    with pytest.raises(SnapshotError, match="two figures"):
        generate([_row(), _row(usd_per_hour="60")], "t.csv")


def test_the_bundled_snapshot_has_the_figures_of_record() -> None:
    snap = bundled()
    assert snap.get("p5.48xlarge", "us-east-1", "on-demand").usd_per_hour == 55.04  # after the mid-2025 cut
    assert snap.get("g6e.12xlarge", "us-east-1", "on-demand").usd_per_hour == 10.49264
    block = snap.get("trn2.48xlarge", "us-east-2", "capacity-block")
    assert (block.usd_per_hour, block.as_of) == (35.7608, date(2026, 7, 22))
    # The UNVERIFIED "on-demand" trn2 row (a capacity-block rate) is not used as on-demand.
    assert snap.get("trn2.48xlarge", "us-east-2", "on-demand") is None
    assert all(p.source and p.as_of and p.region for p in snap.prices())


# ---- the user's rates --------------------------------------------------------------------------------

def _override(**kw: Any) -> dict[str, Any]:
    return {"prices": [{"instanceType": "trn2.48xlarge", "capacityType": "savings-plan-1y", "usdPerHour": "24",
                        "source": "EDP contract", "date": "2026-10-01"} | kw]}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("date", "2026-13-45", "prices[0].date"),
    ("usdPerHour", "10001", "prices[0].usdPerHour: must be <= 10000"),
    ("usdPerHour", "0", "prices[0].usdPerHour: must be > 0"),
    ("capacityType", "reserved", "prices[0].capacityType: must be one of"),
    ("region", "mars-1", "prices[0].region: must match"),
])
def test_bad_rates_are_refused_naming_the_field(field: str, value: str, message: str) -> None:
    with pytest.raises(OverrideError) as err:
        parse_overrides(_override(**{field: value}), CAT.instances)
    assert any(message in p for p in err.value.problems), err.value.problems


def test_a_rate_for_an_unknown_instance_type_names_the_known_ones() -> None:
    with pytest.raises(OverrideError, match=r"unknown instance type 'trn9\.48xlarge'; known: "):
        parse_overrides(_override(instanceType="trn9.48xlarge"), CAT.instances)


def test_a_rate_without_a_region_answers_everywhere_and_says_so() -> None:
    rates = read_overrides("prices:\n- {instanceType: trn2.48xlarge, capacityType: on-demand, usdPerHour: '30', "
                           "source: quote, date: 2026-11-01}\n", CAT.instances)
    p = rates.get("trn2.48xlarge", "eu-west-1", "on-demand")
    assert p is not None and p.region == "eu-west-1" and "every region" in p.note
    regional = parse_overrides(_override(region="us-east-2"), CAT.instances)
    assert regional.get("trn2.48xlarge", "us-east-1", "savings-plan-1y") is None


# ---- regions and capacity types on one axis ---------------------------------------------------------

def _trn2(region: str | None, capacity_types: list[str] | None) -> Any:
    constraints: dict[str, Any] = {"instanceFamilies": ["trn2", "p5"], "managedApis": []}
    if region:
        constraints["region"] = region
    if capacity_types:
        constraints["capacityTypes"] = capacity_types
    doc = workload_doc(model="meta-llama/Llama-3.3-70B-Instruct", constraints=constraints,
                       slo={"ttftP95Ms": 5000, "tpotP95Ms": 100})
    return plan_one(doc).status


def test_trn2_is_ranked_on_its_capacity_block_price_where_that_is_allowed() -> None:
    st = _trn2("us-east-2", ["on-demand", "capacity-block"])
    trn2 = [p for p in [st.recommendation, *st.alternatives] if p and p.node_pool == "trn2"]
    assert trn2, [r.message for r in st.rejected]
    best = trn2[0]
    assert best.capacity_type == "capacity-block" and best.cost_breakdown.price.usd_per_hour == "35.7608"
    assert best.cost_breakdown.price.region == "us-east-2" and best.cost_breakdown.price.as_of == "2026-07-22"
    assert float(best.monthly_cost) > 0
    said = " ".join(best.rationale)
    assert "priced as capacity-block" in said and "no on-demand price in us-east-2" in said and "182 days" in said


def test_an_on_demand_only_workload_in_us_east_1_is_told_where_trn2_has_a_price() -> None:
    st = _trn2(None, None)
    (rej,) = [r for r in st.rejected if r.node_pool == "trn2"]
    assert rej.reason == "NO_PRICE"
    assert "no on-demand price for trn2.48xlarge in us-east-1" in rej.message
    assert "us-east-2 (capacity-block)" in rej.message
    assert any("capacity types: on-demand only" in a for a in st.assumptions)
    assert any("prices for us-east-1" in a for a in st.assumptions)


def test_a_price_is_never_taken_from_another_region() -> None:
    st = _trn2("eu-west-1", None)
    assert st.recommendation is None
    assert all(r.reason in ("NO_PRICE", "EXCLUDED_BY_CONSTRAINTS") for r in st.rejected)
    p5 = next(r for r in st.rejected if r.node_pool == "p5")
    assert "in eu-west-1" in p5.message and "us-east-1 (on-demand)" in p5.message


def test_spot_states_its_interruption_risk() -> None:
    doc = workload_doc(model="meta-llama/Llama-3.3-70B-Instruct", slo={"ttftP95Ms": 5000, "tpotP95Ms": 100},
                       constraints={"instanceFamilies": ["p5en"], "capacityTypes": ["spot"], "managedApis": []})
    rec = plan_one(doc).status.recommendation
    assert rec is not None and rec.capacity_type == "spot"
    assert any("two minutes' notice" in r for r in rec.rationale)


def test_an_old_price_lowers_the_confidence_and_says_so() -> None:
    # us-east-2's on-demand figures are from 2026-01-21: over 180 days old on 2026-12-01.
    doc = workload_doc(model="meta-llama/Llama-3.3-70B-Instruct", slo={"ttftP95Ms": 5000, "tpotP95Ms": 100},
                       constraints={"instanceFamilies": ["p5"], "region": "us-east-2"})
    rec = plan_one(doc).status.recommendation
    assert rec is not None and rec.cost_breakdown.price.age_days == (NOW.date() - date(2026, 1, 21)).days
    assert "days old (over 180)" in rec.confidence.basis
    assert any("older than 180 days" in r for r in rec.rationale)


# ---- the operator: live layer, fallbacks, condition, Event -------------------------------------------

def _live(prices: list[Price], problems: list[str]) -> OperatorPrices:
    return OperatorPrices(None, bundled(), lambda _t, _r: Fetched(prices, problems, 1), ["p5.48xlarge"],
                          {"us-east-1"}, clock=lambda: NOW)


def _conditions(prices: OperatorPrices, previous: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    spec = parse_spec(workload_doc(current=CURRENT, constraints=SELF_HOSTED)["spec"])
    r = reconcile("w", spec, 1, previous, None, None, CAT, prices.book(), RegionDefault("us-east-1", "test"), NOW,
                  prices=prices.state())
    return {c["type"]: c for c in r.status["conditions"]}, r


def test_live_prices_win_over_the_snapshot_and_the_status_says_they_are_live() -> None:
    prices = _live([Price("p5.48xlarge", "us-east-1", "on-demand", 50.0, NOW.date(), "AWS Price List", "aws")], [])
    prices.refresh()
    conds, r = _conditions(prices)
    assert r.status["current"]["costBreakdown"]["price"]["provider"] == "aws"
    assert r.status["current"]["costBreakdown"]["price"]["usdPerHour"] == "50.0000"
    assert (conds["PricesCurrent"]["status"], conds["PricesCurrent"]["reason"]) == ("True", "LivePrices")


def test_a_failed_refresh_keeps_the_last_good_prices_the_snapshot_fills_gaps_and_ready_stays() -> None:
    prices = _live([Price("p5.48xlarge", "us-east-1", "on-demand", 50.0, NOW.date(), "AWS Price List", "aws")], [])
    prices.refresh()
    prices.fetcher = lambda _t, _r: Fetched([], ["pricing:GetProducts for us-east-1: ThrottlingException: slow down"])
    prices.refresh()
    conds, r = _conditions(prices)
    assert r.status["current"]["costBreakdown"]["price"]["usdPerHour"] == "50.0000"  # the last good one
    assert conds["PricesCurrent"]["reason"] == "LiveRefreshFailed"
    assert "ThrottlingException" in conds["PricesCurrent"]["message"]
    assert "the snapshot fills the gaps" in conds["PricesCurrent"]["message"]
    assert conds["Ready"]["status"] == "True"
    never = _live([], ["pricing:GetProducts for us-east-1: AccessDeniedException: not allowed"])
    never.refresh()
    conds, r = _conditions(never)
    assert r.status["current"]["costBreakdown"]["price"]["provider"] == "snapshot"
    assert "no refresh has succeeded" in conds["PricesCurrent"]["message"] and conds["Ready"]["status"] == "True"


def test_a_price_change_between_evaluations_is_an_event() -> None:
    prices = _live([Price("p5.48xlarge", "us-east-1", "on-demand", 50.0, NOW.date(), "AWS Price List", "aws")], [])
    prices.refresh()
    _, first = _conditions(prices)
    prices.fetcher = lambda _t, _r: Fetched([Price("p5.48xlarge", "us-east-1", "on-demand", 45.0, NOW.date(),
                                                   "AWS Price List", "aws")], [])
    prices.refresh()
    _, second = _conditions(prices, first.status)
    assert second.event is not None and second.event[1] == "PriceChanged"
    assert "$50.0000/h -> $45.0000/h" in second.event[2]


def test_a_stale_price_in_use_makes_prices_current_false() -> None:
    old = NOW.date() - timedelta(days=400)
    prices = _live([Price("p5.48xlarge", "us-east-1", "on-demand", 50.0, old, "AWS Price List", "aws")], [])
    prices.refresh()
    conds, _ = _conditions(prices)
    assert (conds["PricesCurrent"]["status"], conds["PricesCurrent"]["reason"]) == ("False", "PriceStale")


# ---- the CLI --------------------------------------------------------------------------------------------

def test_prices_lists_what_is_in_effect_with_source_and_age(tmp_path: Path) -> None:
    r = run_cli("prices", "--region", "us-east-2", "--instance-type", "trn2.48xlarge", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert '"capacityType": "capacity-block"' in r.stdout and '"usdPerHour": "35.7608"' in r.stdout
    rates = write_yaml(tmp_path, _override(region="us-east-2"), name="rates.yaml")
    r = run_cli("prices", "--prices", str(rates), "--region", "us-east-2", "--instance-type", "trn2.48xlarge")
    assert r.returncode == 0 and "savings-plan-1y" in r.stdout and "override" in r.stdout


def test_recommend_refuses_a_bad_rates_file_naming_the_field(tmp_path: Path) -> None:
    rates = write_lines(tmp_path, ["prices:", "- {instanceType: p5.48xlarge, capacityType: on-demand, usdPerHour: '1',",
                                   "   source: x, date: 2026-13-45}"], name="rates.yaml")
    r = run_cli("recommend", "-f", str(ROOT / "examples/01-steady-chat-llama-3.1-8b/workload.yaml"),
                "--prices", str(rates))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "prices[0].date:" in r.stderr and "month value is outside expected range of 1-12" in r.stderr
