"""Work the search shares or defers gives the answers it would give doing it all, every time."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from inferplace.api import InferenceWorkload
from inferplace.catalog import load_catalog
from inferplace.engine import slo
from inferplace.engine.roofline import ACTIVATION_BYTES, Hardware, _collectives, _dense_equivalent, decode_step
from inferplace.engine.shapes import ShapeArrays, shape_of
from inferplace.engine.slo import SEARCH_POINTS, SEARCH_ROUNDS, STEP_GRID, SloModel, Tails, _latency, _limit
from inferplace.placement import RegionDefault, resolve
from inferplace.placement.calibration import NO_CORRECTIONS
from inferplace.placement.candidates import _enumerate, enumerate_candidates, layout_of, proposed
from inferplace.placement.cost import CostTerms, cents, round_cents, total_cents
from inferplace.placement.predict import RowRequest, predict_at_fleet, predict_rows
from inferplace.placement.scenarios import Scenario, to_arrays
from inferplace.placement.search import Choice, _record_row_failures, _row_failure, _row_reason, search
from inferplace.placement.workload import Workload
from inferplace.pricing import default_book

from ..support.manifests import CURRENT, workload_doc

F64 = NDArray[np.float64]
CAT = load_catalog()
BOOK = default_book()
REGION = RegionDefault("us-east-1", "the test's default")


def _workload(model: dict[str, Any] | None = None, **spec: Any) -> Workload:
    doc = workload_doc(current=CURRENT, **spec)
    if model is not None:
        doc["spec"]["model"] = model
    iw = InferenceWorkload.model_validate(doc)
    return resolve(iw.metadata.name, iw.spec, CAT, REGION)


def _values(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    out = [0.005, 0.015, 0.285, 1.005, 2.675, -0.125, -2.675, 0.0, -0.0, 1e15 + 0.5, 2.0**52, 1e300, -1e300,
           math.inf, -math.inf, math.nan, 5e-324]
    for _ in range(n):
        kind = rng.randrange(5)
        if kind == 0:
            out.append(rng.randint(-10**7, 10**7) / 1000 + rng.choice([0.0, 0.0005, -0.0005]))  # halves of a cent
        elif kind == 1:
            out.append(rng.uniform(-1e6, 1e6))
        elif kind == 2:
            out.append(rng.uniform(0, 1) * 10.0 ** rng.randint(-8, 16))
        elif kind == 3:
            out.append(round(rng.uniform(0, 1e5), 3))
        else:
            out.append(rng.randint(0, 10**9) / 200)  # exact multiples of half a cent
    return out


def test_cents_are_rounded_exactly_as_python_rounds_them() -> None:
    values = _values(200_000, seed=7)
    got = round_cents(np.array(values)).tolist()
    wrong = [(x, g, round(x, 2)) for x, g in zip(values, got, strict=True)
             if not (g == round(x, 2) or (math.isnan(g) and math.isnan(x)))]
    assert not wrong, wrong[:5]
    # numpy's own rounding differs on these (the reason for the helper): the test would catch a plain np.round
    assert float(np.round(2.675, 2)) != round(2.675, 2) or float(np.round(1.005, 2)) != round(1.005, 2)


def test_totals_in_cents_are_the_printed_sum_of_the_printed_terms() -> None:
    rng = np.random.default_rng(3)
    terms = rng.uniform(0, 5e4, size=(2_000, len(CostTerms.TERMS)))
    terms[::7] = np.round(terms[::7], 3)  # many half cents
    got = total_cents(terms).tolist()
    for row, total in zip(terms.tolist(), got, strict=True):
        printed = cents(dict(zip(CostTerms.TERMS, row, strict=True)) | {"instance_bill": 0.0, "total": 0.0})
        assert total == printed["total"]


def test_workloads_of_one_layout_share_candidates_and_keep_their_own_scenarios() -> None:
    a = _workload()
    b = _workload(traffic={"requestsPerSecond": 3, "promptTokens": {"mean": 4000, "p95": 8000},
                           "outputTokens": {"mean": 50, "p95": 100}}, slo={"ttftP95Ms": 900, "tpotP95Ms": 30})
    assert layout_of(a, CAT) == layout_of(b, CAT)
    assert proposed(layout_of(a, CAT), CAT) is proposed(layout_of(b, CAT), CAT)
    ca, cb = enumerate_candidates(a, CAT), enumerate_candidates(b, CAT)
    assert ca.keys == cb.keys and ca.candidates[:-1] == cb.candidates[:-1]
    assert ca.scenarios != cb.scenarios
    assert {s.input_tokens for s in cb.scenarios} == {4000} and {s.tpot_slo_s for s in cb.scenarios} == {0.03}
    # what one workload's search adds (failures, its current row) is its own
    ca.fail("p5.48xlarge", "NO_PRICE", "test")
    assert "p5.48xlarge" not in enumerate_candidates(b, CAT).failures


@pytest.mark.parametrize("spec", [
    {"constraints": {"maxMigrationWeeks": 0}},
    {"constraints": {"instanceFamilies": ["p5", "g6e"]}},
    {"constraints": {"weightPrecisions": ["bf16", "fp8"]}},
    {"model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "neuronSupport": "unsupported"}},
    {"economics": {"migrationWeeks": [{"target": "neuron", "weeks": "0.5"}]}},
    {"speculativeDecoding": {"draftModel": "meta-llama/Llama-3.2-1B-Instruct", "acceptanceRate": "0.7",
                             "numSpeculativeTokens": 4}},
])
def test_a_layout_field_changes_the_candidates_as_a_fresh_enumeration_does(spec: dict[str, Any]) -> None:
    plain, changed = _workload(), _workload(**spec)
    assert layout_of(plain, CAT) != layout_of(changed, CAT)
    for w in (plain, changed):
        fresh = _enumerate(layout_of(w, CAT), CAT)  # no cache
        cs = enumerate_candidates(w, CAT)
        assert tuple(cs.keys[:len(fresh.keys)]) == fresh.keys
        assert tuple(cs.candidates[:len(fresh.candidates)]) == fresh.candidates
        assert {t: (f.reason, f.message) for t, f in cs.failures.items()} == \
            {t: (f.reason, f.message) for t, f in fresh.failures}


def test_the_cheapest_of_each_node_pool_read_from_the_table_is_the_one_a_full_scan_finds() -> None:
    for w in (_workload(constraints={"capacityTypes": ["on-demand", "spot"]}),
              _workload(constraints={"capacityTypes": ["on-demand", "reserved-1y", "reserved-3y"]})):
        (o,) = search([w], CAT, BOOK)
        every: list[Choice] = [*o.options, *o.managed]  # builds every option
        brute: dict[str, Choice] = {}
        for opt in every:
            pool = o.node_pool(opt)
            if pool not in brute or opt.total_cents < brute[pool].total_cents:
                brute[pool] = opt
        assert o.best_per_node_pool() == brute
        assert list(o.best_per_node_pool()) == list(brute)  # same order: ties sort alike downstream
        assert [opt.total_cents for opt in o.options] == o.options.totals_cents()
        assert len(o.options) > 20 and o.options[-1] is o.options[len(o.options) - 1]


SPECULATIVE = {"speculativeDecoding": {"draftModel": "meta-llama/Llama-3.2-1B-Instruct", "acceptanceRate": "0.7",
                                       "numSpeculativeTokens": 4}}


def test_scenarios_made_positionally_are_the_ones_keywords_make() -> None:
    w = _workload(**SPECULATIVE, traffic={"requestsPerSecond": 3, "promptTokens": {"mean": 4000, "p95": 8000},
                                          "outputTokens": {"mean": 50, "p95": 100}},
                  slo={"ttftP95Ms": 900, "tpotP95Ms": 30})
    cs = enumerate_candidates(w, CAT)
    assert {k.speculative for k in cs.keys} == {False, True}
    for key, got in zip(cs.keys, cs.scenarios, strict=True):
        spec = key.speculative
        assert got == Scenario(
            model=w.model, accelerator=CAT.accelerators[key.accelerator], chips_per_replica=key.chips, replicas=1,
            weight_dtype=key.weight_dtype, kv_dtype=key.kv_dtype, input_tokens=4000.0, output_tokens=50.0,
            batch=got.batch, load="server-slo", framework=key.framework, ttft_slo_s=0.9, tpot_slo_s=0.03,
            draft_model=w.draft if spec else None, acceptance_rate=0.7 if spec else 0.0,
            speculative_tokens=4 if spec else 0, expert_parallel=w.expert_parallel)
        assert math.isnan(got.batch) and math.isnan(got.max_batch)


def test_each_instance_keeps_the_failure_a_fold_over_every_failed_row_keeps() -> None:
    """The search decides each instance type's kept failure on the reasons and writes only those messages;
    the reference writes every failed row's message and folds them all through `CandidateSet.fail`."""
    seen: set[str] = set()
    for spec in ({"model": {"name": "meta-llama/Llama-3.3-70B-Instruct"}, "slo": {"ttftP95Ms": 300, "tpotP95Ms": 15}},
                 {"model": {"name": "Qwen/Qwen2.5-72B-Instruct"},
                  "slo": {"ttftP95Ms": 20000, "tpotP95Ms": 200, "e2eP95Ms": 4000}}):
        w = _workload(**spec)
        (o,) = search([w], CAT, BOOK)
        got, reference = enumerate_candidates(w, CAT), enumerate_candidates(w, CAT)
        _record_row_failures(w, got, o.rows, CAT)
        for i, row in enumerate(o.rows):
            if row.serves:
                continue
            reason = _row_reason(w, row)
            message = _row_failure(w, reference, row, i, reason, CAT)
            for c in reference.candidates:
                if c.row == i and not c.current:
                    reference.fail(c.instance.type, reason, message)
        seen |= {f.reason for f in reference.failures.values()}
        assert {t: (f.reason, f.message) for t, f in got.failures.items()} == \
            {t: (f.reason, f.message) for t, f in reference.failures.items()}
    assert {"DOES_NOT_FIT", "SLO_TTFT_UNMET", "SLO_TPOT_UNMET", "SLO_E2E_UNMET"} <= seen


def _collectives_directly(s: ShapeArrays, p: Hardware, tokens: F64) -> F64:
    """The collectives as first written: every term evaluated at each token count."""
    ring = 2.0 * (p.tp - 1.0) / p.tp
    link = np.where(p.link > 0, p.link * p.link_fraction, np.inf)
    per = p.collective_latency + ring * tokens * s.hidden * ACTIVATION_BYTES / link
    allreduce = 2.0 * s.layers * per
    share = tokens / p.tp * s.top_k * s.hidden * ACTIVATION_BYTES * (p.tp - 1.0) / p.tp
    a2a = p.collective_latency * p.a2a_hops + share * p.a2a_hops / link
    ep = (2.0 * s.layers - s.moe_layers) * per + 2.0 * s.moe_layers * a2a
    total = np.where((np.asarray(p.expert_parallel) > 0) & (s.moe_layers > 0), ep, allreduce)
    out: F64 = np.where(p.tp > 1, total, 0.0)
    return out


def _random_hardware(rng: np.random.Generator, n: int) -> Hardware:
    def r(lo: float, hi: float) -> F64:
        return rng.uniform(lo, hi, n)

    return Hardware(tp=rng.choice([1.0, 2.0, 4.0, 8.0, 16.0], n), peak_flops=r(1e14, 2e15), bandwidth=r(1e11, 8e12),
                    link=np.where(rng.random(n) < 0.2, 0.0, r(1e10, 9e11)), memory=r(1e10, 2e11), weight_bytes=r(1, 2),
                    kv_bytes=r(1, 2), kv_replication=np.ones(n), bw_fraction=r(0.3, 0.9), prefill_fraction=r(0.3, 0.9),
                    decode_fraction=r(0.3, 0.9), step_overhead=r(0, 0.01), prefill_overhead=r(0, 0.01),
                    collective_latency=r(0, 1e-4), memory_reserve=r(0.05, 0.2), link_fraction=r(0.3, 0.9),
                    moe_fraction=r(0.3, 1.0), moe_all_experts=(rng.random(n) < 0.3).astype(float),
                    expert_parallel=(rng.random(n) < 0.5).astype(float), a2a_hops=rng.choice([1.0, 2.0], n))


def test_the_collectives_per_token_term_is_the_direct_formula() -> None:
    rng = np.random.default_rng(5)
    n = 4_000
    s = ShapeArrays.stack([shape_of(CAT.model(m)) for m in ("Qwen/Qwen3-30B-A3B", "meta-llama/Llama-3.1-8B-Instruct")])
    s = s.take(rng.integers(0, 2, n))
    p = _random_hardware(rng, n)
    tokens = np.exp(rng.uniform(0.0, 12.0, (5, n)))
    want, got = _collectives_directly(s, p, tokens), _collectives(s, p, tokens)
    assert np.any(want == 0.0) and np.all(np.isfinite(want)) and np.any((p.link == 0) & (p.tp > 1))
    assert np.any((p.expert_parallel > 0) & (s.moe_layers > 0) & (p.tp > 1))
    assert np.allclose(got, want, rtol=1e-12, atol=0.0)


def test_experts_touched_is_the_power_formula_at_the_edges_too() -> None:
    models = [CAT.model(m) for m in ("Qwen/Qwen3-30B-A3B", "mistralai/Mixtral-8x7B-Instruct-v0.1",
                                      "meta-llama/Llama-3.1-8B-Instruct")]
    s = ShapeArrays.stack([shape_of(m) for m in models])
    every = replace(s, top_k=s.experts.copy())  # top-k = all experts: one token touches them all
    tokens = np.array([0.0, 1.0, 2.0, 7.5, 64.0, 4096.0, 1e6])[:, None]
    for shape in (s, every):
        e = np.maximum(shape.experts, 1.0)
        p_miss = np.clip(1.0 - shape.top_k / e, 0.0, 1.0)
        want = np.where(shape.experts > 0, e * (1.0 - p_miss ** np.maximum(tokens, 0.0)), 0.0)
        assert np.allclose(shape.experts_touched(tokens), want, rtol=1e-12, atol=1e-12)
    assert np.all(every.experts_touched(tokens)[0] == 0.0)  # no tokens, no experts
    assert np.all(every.experts_touched(tokens)[1:] == np.maximum(every.experts, 0.0))


def test_an_unpriced_instance_keeps_the_message_of_its_largest_serving_candidate() -> None:
    """Only the last unpriced candidate of an instance type has its message written: the one `CandidateSet.fail`
    keeps of several of one rank (candidates come in ascending chips per replica)."""
    w = _workload(constraints={"capacityTypes": ["on-demand"]})
    (o,) = search([w], CAT, BOOK)
    unpriced = {t: f.message for t, f in o.failures.items() if f.reason == "NO_PRICE"}
    several = 0
    for inst, message in unpriced.items():
        chips = [o.cs.keys[c.row].chips for c in o.cs.candidates
                 if c.instance.type == inst and not c.current and o.rows[c.row].serves]
        assert message.startswith(f"meets the SLOs ({max(chips)} chips per replica), but ")
        several += len(chips) > 1
    assert several >= 2


def _capacity_searching_every_row(model: SloModel) -> tuple[F64, F64, F64]:
    """The SLO rate search as first written: every row searched, hopeless ones included; (lo, hi, unloaded TTFT)."""
    rows, q = model.st.rows, model.tails.quantile
    step_full = rows.step_total(rows.cap) / rows.tokens_per_step
    hi = rows.cap / (np.maximum(rows.osl, 1.0) * step_full + rows.pf_amortized * rows.cap) * 1.5
    lo = np.zeros_like(hi)
    steps = np.arange(1, SEARCH_POINTS + 1, dtype=np.float64)[:, None] / (SEARCH_POINTS + 1)
    cols = np.arange(hi.size)
    for _ in range(SEARCH_ROUNDS):
        pts = lo + (hi - lo) * steps
        ok = rows.meets(_latency(rows, q, pts))
        first_fail = np.where(ok.all(axis=0), SEARCH_POINTS, np.argmin(ok, axis=0))
        new_lo = np.where(first_fail > 0, pts[np.maximum(first_fail - 1, 0), cols], lo)
        hi = np.where(first_fail < SEARCH_POINTS, pts[np.minimum(first_fail, SEARCH_POINTS - 1), cols], hi)
        lo = new_lo
    return lo, hi, _latency(rows, q, np.full_like(lo, 1e-9)).ttft


@pytest.mark.parametrize("skip_from", [0, 10**9], ids=["hopeless rows skipped", "every row searched"])
def test_the_rate_search_skips_only_rows_no_load_satisfies(skip_from: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows whose lone request already misses an objective are not searched (from SKIP_HOPELESS_FROM rows);
    either way every row's rate, limit and lone-request latency are, bit for bit, those of searching every row."""
    monkeypatch.setattr(slo, "SKIP_HOPELESS_FROM", skip_from)
    big, moe = {"name": "meta-llama/Llama-3.3-70B-Instruct"}, {"name": "Qwen/Qwen3-30B-A3B"}
    workloads = [_workload(), _workload(**SPECULATIVE), _workload(model=big, slo={"ttftP95Ms": 300, "tpotP95Ms": 15}),
                 _workload(model=moe, slo={"ttftP95Ms": 20000, "tpotP95Ms": 200, "e2eP95Ms": 4000})]
    requests = [RowRequest(s, w) for w in workloads for s in enumerate_candidates(w, CAT).scenarios]
    sa = to_arrays([r.scenario for r in requests], CAT)
    ws = [r.workload for r in requests]
    tails = Tails(np.array([w.prompt_p95 for w in ws]), np.array([w.output_p95 for w in ws]),
                  np.array([w.e2e_slo_s for w in ws]))
    model = SloModel(sa, tails)
    got = model.capacity()
    lo, hi, lone_ttft = _capacity_searching_every_row(model)
    skipped = ~model.st.rows.meets(got.unloaded)
    assert 0.1 < skipped.mean() < 0.9 and np.all(lo[skipped] == 0.0)
    assert np.array_equal(got.rate, np.where(model.st.fits & (lo > 0), lo, np.nan), equal_nan=True)
    assert np.array_equal(got.unloaded.ttft, lone_ttft)
    over = _latency(model.st.rows, tails.quantile, np.maximum(hi, 1e-9))
    assert np.array_equal(got.limit, _limit(sa, model.st, over))
    other = SloModel(sa, tails)
    monkeypatch.setattr(slo, "SKIP_HOPELESS_FROM", 10**9 - skip_from)  # the other way
    again = other.capacity()
    for name in ("rate", "bound", "limit", "max_batch", "fits"):
        assert np.array_equal(getattr(got, name), getattr(again, name), equal_nan=True), name
    for f in ("ttft", "tpot", "e2e", "batch", "saturated", "ttft_mean", "tpot_mean"):
        assert np.array_equal(getattr(got.unloaded, f), getattr(again.unloaded, f), equal_nan=True), f


def test_a_search_with_nothing_to_scale_predicts_the_rows_the_general_path_does() -> None:
    """Without calibrations or fleet corrections the rows are requested in one go; with an empty set of
    corrections (the general path) every row, today's at today's replicas, comes out the same."""
    ws = [_workload(), _workload(**SPECULATIVE), _workload(slo={"ttftP95Ms": 500, "tpotP95Ms": 20})]
    fast, general = search(ws, CAT, BOOK), search(ws, CAT, BOOK, corrections=NO_CORRECTIONS)
    for a, b in zip(fast, general, strict=True):
        assert a.cs.current is not None and repr(a.rows) == repr(b.rows)  # repr: NaN rates compare equal
        assert a.rows[a.cs.candidates[a.cs.current].row].replicas == a.workload.current.replicas  # type: ignore[union-attr]


def test_a_fleet_at_its_load_is_predicted_as_the_full_pass_predicts_it() -> None:
    """A calibration asks only how today's fleet does at today's load (no capacity search): the same
    numbers, bit for bit, as the full pass gives for the same rows, live scales and speculation included."""
    ws = [_workload(), _workload(**SPECULATIVE), _workload(slo={"ttftP95Ms": 500, "tpotP95Ms": 20}),
          _workload(model={"name": "Qwen/Qwen3-30B-A3B"}, traffic={
              "requestsPerSecond": 40, "promptTokens": {"mean": 3000, "p95": 6000},
              "outputTokens": {"mean": 500, "p95": 900}})]
    rng = random.Random(5)
    requests = [RowRequest(scen, w, rng.randint(1, 12), rng.choice([None, (1.0, 1.0), (1.7, 0.6), (0.5, 2.5)]))
                for w in ws for scen in enumerate_candidates(w, CAT).scenarios]
    full = predict_rows(requests, CAT)
    alone = predict_at_fleet(requests, CAT)
    assert any(not r.fits for r in full) and any(r.saturated for r in full) and any(r.serves for r in full)
    assert repr([(r.fits, r.saturated, r.at_mean) for r in full]) == repr(
        [(a.fits, a.saturated, a.at_mean) for a in alone])  # repr: NaN compares equal
    with pytest.raises(ValueError, match="replicas"):
        predict_at_fleet([RowRequest(requests[0].scenario, ws[0])], CAT)


def _decode_step_directly(s: ShapeArrays, p: Hardware, batch: F64, context: F64) -> F64:
    """The decode step as first written: every term evaluated at each batch."""
    tokens = batch * 1.0
    dense_read = (s.total_params - s.embed_params - s.moe_layers * s.experts * s.expert_params)
    dense_read = dense_read * p.weight_bytes + s.head_params * np.maximum(p.weight_bytes, 2.0)
    e = np.maximum(s.experts, 1.0)
    touched = np.where(s.experts > 0, e * (1.0 - np.clip(1.0 - s.top_k / e, 0.0, 1.0) ** np.maximum(tokens, 0.0)), 0.0)
    expert_read = s.moe_layers * touched * s.expert_params * p.weight_bytes
    kv_read = batch * s.kv_bytes(context, p.kv_bytes) * p.kv_replication
    t_mem = (dense_read + expert_read + kv_read) / p.tp / (p.bandwidth * p.bw_fraction)
    attn = s.layers * s.attn_decode_coeff * s.effective_context(context)
    t_cmp = tokens * (2.0 * _dense_equivalent(s, p) + attn) / p.tp / (p.peak_flops * p.decode_fraction)
    out: F64 = np.maximum(t_mem, t_cmp) + _collectives_directly(s, p, tokens) + p.step_overhead
    return out


@pytest.mark.parametrize("models", [("meta-llama/Llama-3.1-8B-Instruct",), ("Qwen/Qwen3-30B-A3B",),
                                    ("Qwen/Qwen3-30B-A3B", "meta-llama/Llama-3.1-8B-Instruct",
                                     "mistralai/Mixtral-8x7B-Instruct-v0.1")])
def test_the_decode_step_per_scenario_terms_are_the_direct_formula(models: tuple[str, ...]) -> None:
    """Dense only, MoE only and mixed: the MoE scenarios' expert reads are computed apart, the rest are 0."""
    rng = np.random.default_rng(9)
    n = 3_000
    s = ShapeArrays.stack([shape_of(CAT.model(m)) for m in models]).take(rng.integers(0, len(models), n))
    p = _random_hardware(rng, n)
    batch = np.exp(rng.uniform(0.0, 6.0, (STEP_GRID, n)))
    context = rng.uniform(100.0, 30_000.0, n)
    got = decode_step(s, p, batch, context).total
    assert got.shape == batch.shape
    assert np.allclose(got, _decode_step_directly(s, p, batch, context), rtol=1e-12, atol=0.0)
