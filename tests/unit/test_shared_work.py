"""Work the search shares or defers gives the answers it would give doing it all, every time."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from inferplace.api import InferenceWorkload
from inferplace.catalog import load_catalog
from inferplace.placement import RegionDefault, resolve
from inferplace.placement.candidates import _enumerate, enumerate_candidates, layout_of, proposed
from inferplace.placement.cost import CostTerms, cents, round_cents, total_cents
from inferplace.placement.search import Choice, search
from inferplace.placement.workload import Workload
from inferplace.pricing import default_book

from ..support.manifests import CURRENT, workload_doc

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
