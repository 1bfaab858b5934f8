"""One operator evaluation without I/O: conditions, observed traffic, live calibration, events."""

from __future__ import annotations

from typing import Any

import pytest

from inferplace.api import InferenceWorkloadSpec
from inferplace.api.status import InferenceWorkloadStatus
from inferplace.catalog import load_catalog
from inferplace.controller.reconcile import Context, Evaluation, Subject, parse_spec, reconcile, reconcile_all
from inferplace.metrics import MetricsUnavailable, Observation
from inferplace.placement import RegionDefault, resolve
from inferplace.placement.search import search
from inferplace.placement.settings import DEFAULTS
from inferplace.placement.traffic import observed_traffic
from inferplace.pricing import default_book

from ..support.manifests import CURRENT, SELF_HOSTED, workload_doc
from ..support.plan import NOW

CAT = load_catalog()
BOOK = default_book()
REGION = RegionDefault("us-east-1", "the test's default")
AGREEMENT = DEFAULTS.calibration.agreement
PLAUSIBLE = DEFAULTS.calibration.plausible_factor


def evaluate(name: str, spec: dict[str, Any], generation: int | None, previous: dict[str, Any] | None,
             obs: Observation | None, fault: MetricsUnavailable | None) -> Evaluation:
    return reconcile(name, parse_spec(spec), generation, previous, obs, fault, CAT, BOOK, REGION, NOW)


def _spec(**extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = workload_doc(current=CURRENT, constraints=SELF_HOSTED)["spec"]
    spec.update(extra)
    return spec


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def _obs(**values: float) -> Observation:
    return Observation("1h", NOW.timestamp(), **values)


def _predicted_means(spec: dict[str, Any], obs: Observation) -> tuple[float, float]:
    """The engine's mean TTFT and TPOT for today's placement at the observed load."""
    w = observed_traffic(resolve("w", InferenceWorkloadSpec.model_validate(spec), CAT, REGION), obs).workload
    current = search([w], CAT, BOOK)[0].current
    assert current is not None
    return current.row.at_mean


def test_without_metrics_the_declared_traffic_is_used_and_every_condition_is_set() -> None:
    r = evaluate("w", _spec(), 3, None, None, None)
    InferenceWorkloadStatus.model_validate(r.status)  # the shape the CRD declares
    c = _conditions(r.status)
    assert set(c) == {"Ready", "MetricsAvailable", "Calibrated", "PricesCurrent", "Approved"}
    assert c["Ready"]["status"] == "True" and r.ready
    assert c["MetricsAvailable"]["status"] == "False" and c["MetricsAvailable"]["reason"] == "NotConfigured"
    assert c["Calibrated"]["reason"] == "NoMetrics"
    assert all(x["observedGeneration"] == 3 for x in c.values())
    assert r.status["observedGeneration"] == 3 and "observed" not in r.status
    assert r.event is not None and r.event[1] == "RecommendationChanged"


def test_observed_traffic_replaces_the_declared_one() -> None:
    obs = _obs(requests_per_second=2.5, prompt_tokens_mean=500.0, output_tokens_mean=100.0)
    r = evaluate("w", _spec(metrics={"server": "vllm"}), 1, None, obs, None)
    c = _conditions(r.status)
    assert c["MetricsAvailable"]["status"] == "True"
    assert "2.5 req/s" in c["MetricsAvailable"]["message"]
    assert r.status["observed"]["requestsPerSecond"] == "2.5000"
    # 2.5 req/s x 100 tokens, not the declared 10 x 200: the accepted tokens follow the observation.
    tokens = float(r.status["recommendation"]["costBreakdown"]["acceptedOutputTokensPerMonth"])
    assert tokens == pytest.approx(2.5 * 100 * 730 * 3600, rel=1e-6)
    assert any("replaces spec.traffic" in a for a in r.status["assumptions"])


def test_too_little_observed_traffic_keeps_the_declared_one() -> None:
    obs = _obs(requests_per_second=0.0)
    r = evaluate("w", _spec(metrics={"server": "vllm"}), 1, None, obs, None)
    tokens = float(r.status["recommendation"]["costBreakdown"]["acceptedOutputTokensPerMonth"])
    assert tokens == pytest.approx(10 * 200 * 730 * 3600, rel=1e-6)
    assert "declared traffic used" in _conditions(r.status)["MetricsAvailable"]["message"]


def test_a_rate_near_the_disagreement_limit_does_not_flip_the_fleet_each_evaluation() -> None:
    spec = _spec(metrics={"server": "vllm"})  # declares 10 req/s

    def metrics(rps: float, previous: dict[str, Any] | None, generation: int = 1) -> tuple[str, dict[str, Any]]:
        status = evaluate("w", spec, generation, previous, _obs(requests_per_second=rps), None).status
        return _conditions(status)["MetricsAvailable"]["reason"], status

    assert metrics(1.05, None)[0] == "Observed"  # 9.5x below: used
    reason, reported = metrics(0.95, None)  # 10.5x below: reported, the declared traffic sized
    assert reason == "TrafficDisagrees"
    message = _conditions(reported)["MetricsAvailable"]["message"]
    assert "more than 10x apart; used again once within 8x" in message, message
    assert metrics(1.05, reported)[0] == "TrafficDisagrees"  # 9.5x: still reported, the fleet keeps its size
    assert metrics(1.3, reported)[0] == "Observed"  # 7.7x: within 8x, used again
    assert metrics(1.05, reported, generation=2)[0] == "Observed"  # a new spec starts afresh


def test_prometheus_fault_falls_back_to_declared_traffic() -> None:
    fault = MetricsUnavailable("PrometheusUnreachable", "http://127.0.0.1:9: connection refused")
    r = evaluate("w", _spec(metrics={"server": "vllm"}), 1, None, None, fault)
    c = _conditions(r.status)
    assert (c["MetricsAvailable"]["status"], c["MetricsAvailable"]["reason"]) == ("False", "PrometheusUnreachable")
    assert "falling back to the declared spec.traffic" in c["MetricsAvailable"]["message"]
    assert c["Ready"]["status"] == "True"


def _range_width(p: dict[str, Any]) -> float:
    rng = p["confidence"]["savingsPercentRange"]
    return float(rng["high"]) - float(rng["low"])


def _same_scope(status: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in [status["recommendation"], *status["alternatives"]] if p["nodePool"].startswith("p5")]


def test_agreeing_latency_narrows_the_range_of_the_same_chip_only() -> None:
    load = {"requests_per_second": 40.0, "prompt_tokens_mean": 1000.0, "output_tokens_mean": 200.0}
    spec = _spec(metrics={"server": "vllm"}, current=CURRENT | {"replicas": 8})
    ttft, tpot = _predicted_means(spec, _obs(**load))
    plain = evaluate("w", spec, 1, None, _obs(**load), None).status
    agreed = evaluate("w", spec, 1, None, _obs(**load, tpot_mean_s=tpot * 1.05, ttft_mean_s=ttft * 0.97),
                      None).status
    c = _conditions(agreed)["Calibrated"]
    assert (c["status"], c["reason"]) == ("True", "ModelAgrees")
    before, after = _same_scope(plain), _same_scope(agreed)
    assert before and len(before) == len(after)
    for b, a in zip(before, after, strict=True):
        assert "narrowed" in a["confidence"]["basis"]
        assert _range_width(a) <= _range_width(b)
    # Whole instances can hide an error band; where sizing is sensitive it must shrink.
    assert any(_range_width(a) < _range_width(b) for b, a in zip(before, after, strict=True))
    # Other chips keep their own error: one measurement on H100 says nothing about L40S.
    others = [p for p in agreed["alternatives"] if p["nodePool"] in ("g6e", "inf2", "trn1")]
    assert others and all("narrowed" not in p["confidence"]["basis"] for p in others)


def test_slower_live_latency_adjusts_the_engine_for_that_chip() -> None:
    load = {"requests_per_second": 4.0, "prompt_tokens_mean": 1000.0, "output_tokens_mean": 200.0}
    spec = _spec(metrics={"server": "vllm"})
    ttft, tpot = _predicted_means(spec, _obs(**load))
    plain = evaluate("w", spec, 1, None, _obs(**load), None).status
    slow = evaluate("w", spec, 1, None, _obs(**load, tpot_mean_s=tpot * 1.6, ttft_mean_s=ttft),
                    None).status
    c = _conditions(slow)["Calibrated"]
    assert (c["status"], c["reason"]) == ("True", "ModelAdjusted")
    assert "decode steps x1.60" in c["message"]
    # Today's placement (H100, the calibrated chip) is now modelled slower...
    assert float(slow["current"]["projected"]["tpotP95Ms"]) > 1.4 * float(plain["current"]["projected"]["tpotP95Ms"])
    # ...and a chip of another generation is not.
    def g6e(s: dict[str, Any]) -> list[str]:
        return [p["projected"]["tpotP95Ms"] for p in [s["recommendation"], *s["alternatives"]]
                if p["instanceType"] == "g6e.xlarge"]
    assert g6e(slow) == g6e(plain)


def test_implausible_latency_is_reported_not_applied() -> None:
    load = {"requests_per_second": 4.0, "prompt_tokens_mean": 1000.0, "output_tokens_mean": 200.0}
    spec = _spec(metrics={"server": "vllm"})
    _ttft, tpot = _predicted_means(spec, _obs(**load))
    plain = evaluate("w", spec, 1, None, _obs(**load), None).status
    wild = evaluate("w", spec, 1, None, _obs(**load, tpot_mean_s=tpot * (PLAUSIBLE + 1)), None).status
    c = _conditions(wild)["Calibrated"]
    assert (c["status"], c["reason"]) == ("False", "MeasurementImplausible")
    assert wild["current"]["projected"] == plain["current"]["projected"]
    assert AGREEMENT < PLAUSIBLE


def test_no_current_placement_cannot_be_calibrated() -> None:
    spec = workload_doc()["spec"] | {"metrics": {"server": "vllm"}}
    r = evaluate("w", spec, 1, None, _obs(requests_per_second=3.0, tpot_mean_s=0.01), None)
    c = _conditions(r.status)["Calibrated"]
    assert (c["status"], c["reason"]) == ("False", "NoCurrentPlacement")


def test_a_spec_that_cannot_be_evaluated_says_why_once() -> None:
    spec = _spec(model={"name": "acme/NoSuchModel-7B"})
    r = evaluate("w", spec, 2, None, None, None)
    c = _conditions(r.status)
    assert (c["Ready"]["status"], c["Ready"]["reason"]) == ("False", "CannotEvaluate")
    assert c["Ready"]["message"].startswith("spec.model.name:") and "known:" in c["Ready"]["message"]
    assert "recommendation" not in r.status and r.status["observedGeneration"] == 2
    assert r.event is not None and r.event[0] == "Warning"
    again = evaluate("w", spec, 2, r.status, None, None)
    assert again.event is None  # no Event storm on every interval


def test_a_spec_the_schema_passed_but_the_models_refuse_is_invalid() -> None:
    spec = _spec(slo={"ttftP95Ms": 2000, "tpotP95Ms": 60, "bogus": 1})
    r = evaluate("w", spec, 1, None, None, None)
    ready = _conditions(r.status)["Ready"]
    assert ready["reason"] == "InvalidSpec" and "spec.slo.bogus" in ready["message"]


def test_no_feasible_placement_is_not_ready_with_the_reasons() -> None:
    spec = _spec(slo={"ttftP95Ms": 1, "tpotP95Ms": 1})
    r = evaluate("w", spec, 1, None, None, None)
    ready = _conditions(r.status)["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "NoFeasiblePlacement")
    assert "SLO_" in ready["message"] and not r.ready


def test_transition_times_and_events_follow_changes_only() -> None:
    first = evaluate("w", _spec(), 1, None, None, None)
    stamped = dict(first.status)
    stamped["conditions"] = [c | {"lastTransitionTime": "2020-01-01T00:00:00Z"} for c in first.status["conditions"]]
    same = evaluate("w", _spec(), 1, stamped, None, None)
    assert same.event is None
    assert {c["lastTransitionTime"] for c in same.status["conditions"]} == {"2020-01-01T00:00:00Z"}
    fewer = _spec(traffic={"requestsPerSecond": 1, "promptTokens": {"mean": 1000}, "outputTokens": {"mean": 200}})
    changed = evaluate("w", fewer, 2, same.status, None, None)
    assert changed.event is not None and changed.event[1] == "RecommendationChanged"
    assert "(was " in changed.event[2]



# The team measured Bedrock's latency for its workload: an API is recommended only with such a figure.
MEASURED_BEDROCK = [{"provider": "bedrock", "ttftP95Ms": 900, "tpotP95Ms": 30,
                     "source": "llmperf from us-east-1, 2026-11-20"}]


def test_an_old_per_token_price_makes_prices_not_current() -> None:
    # Bedrock's Llama 3.3 70B price in the table is from 2025-11-19: over 180 days old on 2026-12-01.
    spec = workload_doc(model="meta-llama/Llama-3.3-70B-Instruct", measuredApiLatency=MEASURED_BEDROCK)["spec"]
    r = evaluate("w", spec, 1, None, None, None)
    assert r.status["recommendation"]["kind"] == "managed-api"
    prices = _conditions(r.status)["PricesCurrent"]
    assert (prices["status"], prices["reason"]) == ("False", "PriceStale")
    assert "per-token price (bedrock on-demand us-east-1, as of 2025-11-19)" in prices["message"]
    assert any("as measured by the team (llmperf" in why for why in r.status["recommendation"]["rationale"])


def test_the_event_for_a_managed_api_names_it() -> None:
    spec = workload_doc(model="meta-llama/Llama-3.3-70B-Instruct", measuredApiLatency=MEASURED_BEDROCK)["spec"]
    r = evaluate("w", spec, 1, None, None, None)
    assert r.event is not None and r.event[1] == "RecommendationChanged"
    assert "bedrock API (on-demand)" in r.event[2] and "None" not in r.event[2]


def test_the_approved_condition_follows_the_annotation() -> None:
    spec = _spec()
    r = evaluate("w", spec, 1, None, None, None)
    rec_id = r.status["recommendation"]["id"]
    c = _conditions(r.status)["Approved"]
    assert (c["status"], c["reason"]) == ("False", "NotApproved") and rec_id in c["message"]
    ok = reconcile("w", parse_spec(spec), 1, None, None, None, CAT, BOOK, REGION, NOW, approved=rec_id)
    assert (_conditions(ok.status)["Approved"]["status"], _conditions(ok.status)["Approved"]["reason"]) == (
        "True", "Approved")
    old = reconcile("w", parse_spec(spec), 1, None, None, None, CAT, BOOK, REGION, NOW, approved="0123456789ab")
    c = _conditions(old.status)["Approved"]
    assert (c["status"], c["reason"]) == ("False", "ApprovalOutdated") and rec_id in c["message"]


def test_the_recommendation_id_is_what_would_be_deployed() -> None:
    # The same placement gives the same id; a different traffic that changes the fleet changes it; a
    # price change alone does not.
    a = evaluate("w", _spec(), 1, None, None, None).status["recommendation"]
    b = evaluate("w", _spec(), 2, None, None, None).status["recommendation"]
    assert a["id"] == b["id"] and len(a["id"]) == 12
    busier = _spec(traffic={"requestsPerSecond": 200, "promptTokens": {"mean": 1000}, "outputTokens": {"mean": 200}})
    c = evaluate("w", busier, 1, None, None, None).status["recommendation"]
    assert c["replicas"] != a["replicas"] and c["id"] != a["id"]


def test_workloads_evaluated_together_get_the_answers_each_gets_alone() -> None:
    """The operator evaluates queued workloads in one pass (`reconcile_all`): every kind of subject in
    one batch (invalid, unknown model, infeasible, live traffic that calibrates, a previous status, other
    models) answered exactly as alone, in order."""
    load = {"requests_per_second": 4.0, "prompt_tokens_mean": 1000.0, "output_tokens_mean": 200.0}
    live = _spec(metrics={"server": "vllm"})
    ttft, tpot = _predicted_means(live, _obs(**load))
    slower = _obs(**load, tpot_mean_s=tpot * 1.6, ttft_mean_s=ttft * 1.2)
    first = evaluate("prev", _spec(), 1, None, None, None)
    subjects = [
        Subject("plain", parse_spec(_spec()), 1, None, None, None),
        Subject("invalid", parse_spec(_spec(slo={"ttftP95Ms": 2000, "tpotP95Ms": 60, "bogus": 1})), 1, None, None,
                None),
        Subject("calibrated", parse_spec(live), 2, None, slower, None),
        Subject("unknown", parse_spec(_spec(model={"name": "acme/NoSuchModel-7B"})), 1, None, None, None),
        Subject("infeasible", parse_spec(_spec(slo={"ttftP95Ms": 1, "tpotP95Ms": 1})), 1, None, None, None),
        Subject("prev", parse_spec(_spec()), 1, first.status, None, None, approved="0123456789ab"),
        Subject("big", parse_spec(workload_doc("meta-llama/Llama-3.1-70B-Instruct", current=CURRENT)["spec"]), 4,
                None, None, MetricsUnavailable("PrometheusUnreachable", "refused")),
        Subject("managed", parse_spec(workload_doc()["spec"]), 1, None, None, None),
    ]
    ctx = Context(CAT, BOOK, REGION, NOW)
    together = list(reconcile_all(subjects, ctx))
    alone = [next(reconcile_all([s], ctx)) for s in subjects]
    assert together == alone
    reasons = [_conditions(e.status)["Ready"]["reason"] for e in together]
    assert [reasons[1], *reasons[3:5]] == ["InvalidSpec", "CannotEvaluate", "NoFeasiblePlacement"]
    assert _conditions(together[2].status)["Calibrated"]["reason"] == "ModelAdjusted"
    assert list(reconcile_all([], ctx)) == []
