"""What a Neuron serving stack does that the engine models: the server's batch limit (stated by the source
or not), the fixed cost of each MoE layer in a decode step, and a stack fitting its own host overhead."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from inferplace.catalog import load_catalog
from inferplace.catalog.efficiency import EfficiencyTable
from inferplace.engine.batch import bucketed, prepare
from inferplace.evidence.fit import fitted_from
from inferplace.evidence.groups import group_of
from inferplace.evidence.rows import resolve_row
from inferplace.placement.scenarios import ScenarioError, to_arrays

from ..support.engine import BASE

pytestmark = pytest.mark.unit

TRN2 = {"accelerator": "trainium2", "framework": "optimum-neuron-vllm", "load": "closed-loop",
        "input_tokens": "1500", "output_tokens": "250", "quality": "ok"}


def _row(**over: str) -> dict[str, str]:
    return BASE | TRN2 | over


@pytest.mark.parametrize(("note", "expected"), [
    ("guidellm synchronous profile (1 request at a time) on a server compiled for max batch 16 per replica", 16.0),
    ("guidellm throughput profile: batch = server capacity (max batch 32), client cap 128", 32.0),
    ("identical prompt repeated batch times | compiled batch 4, seq len 4096", 4.0),
    ("guidellm synchronous profile, seq len 4096", None),  # not stated
    ("compiled batch 8 for one run, max batch 32 for the other", None),  # two figures: not one server's
])
def test_the_servers_batch_limit_is_read_where_the_source_states_it(note: str, expected: float | None) -> None:
    s = resolve_row(_row(quality=f"check: {note}"), load_catalog())
    assert (math.isnan(s.max_batch) and expected is None) or s.max_batch == expected


def test_a_max_batch_column_wins_over_the_note() -> None:
    s = resolve_row(_row(max_batch="8", quality="check: server compiled for max batch 32"), load_catalog())
    assert s.max_batch == 8.0


def test_a_bad_max_batch_names_the_column() -> None:
    with pytest.raises(ScenarioError, match="max_batch must be a whole number"):
        resolve_row(_row(max_batch="2.5"), load_catalog())


def _decode_step_ms(rows: list[dict[str, str]], clients: float) -> np.ndarray:
    cat = load_catalog()
    sa = to_arrays([resolve_row(r, cat) for r in rows], cat)
    floor = sa.eff.bucket_floor
    prep = prepare(sa, bucketed(sa.isl + sa.osl / 2.0, floor))
    return np.asarray(prep.dec.step(np.full(len(rows), clients), bucketed(sa.isl + sa.osl / 2.0, floor)).total * 1e3)


def test_a_compiled_batch_the_source_states_is_run_by_every_decode_step() -> None:
    stated = _row(batch="1", quality="check: server compiled for max batch 32 per replica")
    full = _row(batch="32", quality="check: server compiled for max batch 32 per replica")
    unstated = _row(batch="1")
    one, thirty_two, alone = _decode_step_ms([stated, full, unstated], 1.0)
    # One client on a server compiled for 32 pays the 32 sequences' KV reads the graph makes...
    assert one == pytest.approx(_decode_step_ms([full], 32.0)[0])
    # ...where an unstated limit is not guessed: the step runs the batch it holds.
    assert alone < one * 0.95
    assert thirty_two == pytest.approx(one)


def test_each_moe_layer_adds_its_fixed_cost_to_a_decode_step() -> None:
    cat = load_catalog()
    group = group_of("neuron-v3/nxdi")
    base = cat.efficiency.groups["neuron-v3/nxdi"].model_dump(exclude_none=True)
    fits = {}
    for overhead in (0.0, 300.0):
        values = {n: base[n] for n in group.fit} | {"moe_layer_overhead_us": overhead}
        values |= {f"{n}@{v}": base[n] for v in group.variants for n in group.variant_fit}
        fits[overhead] = fitted_from(group, values)
    rows = [_row(model="Qwen/Qwen3-30B-A3B", framework="nxdi", batch="1"),
            _row(model="meta-llama/Llama-3.1-8B-Instruct", framework="nxdi", batch="1")]
    steps = {}
    for overhead, fit in fits.items():
        c = replace(cat, efficiency=EfficiencyTable(dict(cat.efficiency.groups) | fit, {}))
        sa = to_arrays([resolve_row(r, c) for r in rows], c)
        steps[overhead] = sa.hardware().step_overhead
    moe_layers = 48  # Qwen3-30B-A3B: every one of its 48 layers is MoE
    assert steps[300.0][0] - steps[0.0][0] == pytest.approx(moe_layers * 300e-6)
    assert steps[300.0][1] == pytest.approx(steps[0.0][1])  # a dense model has none


def test_a_variant_fits_its_own_host_overhead_and_shares_the_rest() -> None:
    group = group_of("neuron-v3/nxdi")
    assert group.variant_fit == ("step_overhead_ms",)
    base = load_catalog().efficiency.groups["neuron-v3/nxdi"].model_dump(exclude_none=True)
    values = {n: base[n] for n in group.fit} | {"step_overhead_ms": 2.0,
                                                "step_overhead_ms@neuron-v3/optimum-neuron": 5.0}
    fit = fitted_from(group, values)
    nxdi, optimum = fit["neuron-v3/nxdi"], fit["neuron-v3/optimum-neuron"]
    assert (nxdi.step_overhead_ms, optimum.step_overhead_ms) == (2.0, 5.0)
    assert optimum.bw_fraction == nxdi.bw_fraction and optimum.moe_fraction == nxdi.moe_fraction
    # ...with the runtime constants of its own (optimum-neuron compiles one 4096-token shape, batch 32).
    assert (optimum.bucket_floor, optimum.runtime_max_batch) == (4096.0, 32)
    assert nxdi.bucket_floor == 128.0
