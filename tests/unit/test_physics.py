"""Physical invariants the engine must keep whatever its fitted efficiencies are."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from inferplace.catalog import load_catalog
from inferplace.engine import predict
from inferplace.engine.roofline import decode_step, kv_replication, weight_footprint
from inferplace.engine.shapes import ShapeArrays, shape_of
from inferplace.evidence.rows import resolve_row
from inferplace.placement.scenarios import ScenarioError, to_arrays

from ..support.engine import BASE, predict_rows


def _arrays(**over: str):
    cat = load_catalog()
    return to_arrays([resolve_row(BASE | over, cat)], cat)


@pytest.mark.parametrize("load", ["static-batch", "closed-loop", "offline-max"])
def test_more_bandwidth_never_slows_decode(load: str) -> None:
    a = _arrays(load=load, batch="16")
    base = predict(a)
    for factor in (1.5, 2.0, 4.0):
        faster = predict(replace(a, bandwidth=a.bandwidth * factor))
        assert faster.tpot_p50[0] <= base.tpot_p50[0] + 1e-12
        assert faster.output_tok_s_total[0] >= base.output_tok_s_total[0] - 1e-9


def test_fp8_weights_halve_weight_bytes() -> None:
    bf16, fp8 = _arrays(weight_dtype="bf16"), _arrays(weight_dtype="fp8")
    s = bf16.shape
    body_bf16 = weight_footprint(s, bf16.weight_bytes) - s.embed_params * 2
    body_fp8 = weight_footprint(s, fp8.weight_bytes) - s.embed_params * 2
    assert body_fp8[0] == pytest.approx(body_bf16[0] / 2)


def test_fp8_weights_speed_up_memory_bound_decode() -> None:
    r = predict_rows([{"weight_dtype": "bf16", "batch": 1}, {"weight_dtype": "fp8", "batch": 1}])
    assert r.tpot_p50[1] < r.tpot_p50[0] * 0.75


def test_throughput_grows_with_batch_until_memory_caps_it() -> None:
    clients = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    rows = [{"load": "closed-loop", "batch": c, "model": "meta-llama/Llama-3.3-70B-Instruct",
             "weight_dtype": "fp8", "input_tokens": 2000, "output_tokens": 1000,
             "accelerator": "h200-sxm"} for c in clients]
    r = predict_rows(rows)
    tput = r.output_tok_s_total
    assert np.all(np.diff(tput) >= -1e-6 * tput[:-1])
    cap = r.max_batch[0]
    assert 1 < cap < 512
    below = [t for c, t in zip(clients, tput, strict=True) if c <= cap]
    assert below[-1] > 10 * below[0]
    beyond = [t for c, t in zip(clients, tput, strict=True) if c >= 2 * cap]
    assert beyond and max(beyond) == pytest.approx(min(beyond), rel=1e-6)
    assert r.bound_names()[-1] == "memory-capacity"


def test_moe_computes_on_active_parameters() -> None:
    cat = load_catalog()
    s = shape_of(cat.model("mistralai/Mixtral-8x7B-Instruct-v0.1"))
    assert 12e9 < s.active_matmul_params < 14e9 < 46e9 < s.total_params < 48e9
    a = _arrays(model="mistralai/Mixtral-8x7B-Instruct-v0.1", weight_dtype="fp8")
    shape = a.shape
    step = decode_step(shape, a.hardware(), np.array([64.0]), np.array([10.0]))
    flops_per_token = step.compute[0] * a.peak_flops[0] * a.eff.decode_fraction[0] / 64
    assert flops_per_token == pytest.approx(2 * s.active_matmul_params, rel=0.01)


def test_moe_batch_of_one_reads_only_routed_experts() -> None:
    s = ShapeArrays.stack([shape_of(load_catalog().model("Qwen/Qwen3-30B-A3B"))])
    assert s.experts_touched(np.array([1.0]))[0] == pytest.approx(8.0)
    assert s.experts_touched(np.array([10_000.0]))[0] == pytest.approx(128.0)


def test_mla_and_sliding_window_shrink_the_kv_cache() -> None:
    cat = load_catalog()
    ds = ShapeArrays.stack([shape_of(cat.model("deepseek-ai/DeepSeek-V3"))])
    per_token = ds.kv_bytes(np.array([1.0]), np.array([2.0]))[0] / 61
    assert per_token == pytest.approx((512 + 64) * 2)
    gemma = ShapeArrays.stack([shape_of(cat.model("google/gemma-3-27b-it"))])
    short, long = gemma.kv_bytes(np.array([1024.0, 32768.0]), np.array([2.0, 2.0]))
    assert long < 32 * short / 4  # 5 of 6 layers stop growing past the 1024-token window


def test_a_model_that_does_not_fit_is_reported_not_estimated() -> None:
    r = predict_rows([{"model": "meta-llama/Llama-3.1-405B-Instruct", "accelerator": "l40s",
              "weight_dtype": "fp8"}])
    assert not r.fits[0]
    assert np.isnan(r.output_tok_s_total[0])


def test_unsupported_data_type_is_refused_with_the_allowed_ones() -> None:
    with pytest.raises(ScenarioError, match=r"fp8 is not native on a100-80gb \(supported: bf16"):
        resolve_row(BASE | {"accelerator": "a100-80gb", "weight_dtype": "fp8"}, load_catalog())


def test_speculative_decoding_lowers_tpot_when_drafts_are_accepted() -> None:
    spec = {"model": "meta-llama/Llama-3.3-70B-Instruct", "weight_dtype": "fp8", "batch": 1,
            "accelerator": "h200-sxm",
            "chips_per_replica": 2, "num_chips": 2, "draft_model": "meta-llama/Llama-3.2-1B-Instruct",
            "num_speculative_tokens": 4}
    r = predict_rows([{**spec, "draft_model": "", "num_speculative_tokens": ""},
             {**spec, "acceptance_rate": 0.8}, {**spec, "acceptance_rate": 0.05}])
    plain, good, bad = r.tpot_p50
    assert good < plain * 0.6
    assert bad > good


def test_tensor_parallel_splits_weights_and_pays_for_collectives() -> None:
    r = predict_rows([{"model": "meta-llama/Llama-3.3-70B-Instruct", "weight_dtype": "fp8", "batch": 1,
              "accelerator": "h200-sxm", "num_chips": n, "chips_per_replica": n} for n in (1, 2, 4, 8)])
    assert r.tpot_p50[1] < r.tpot_p50[0]
    # Going wide has diminishing returns: 8 chips are far from 8x faster than one.
    assert r.tpot_p50[0] / r.tpot_p50[3] < 6


def test_server_slo_meets_its_limits() -> None:
    r = predict_rows([{"load": "server-slo", "batch": "", "ttft_slo_ms": 2000, "tpot_slo_ms": t,
              "model": "meta-llama/Llama-3.3-70B-Instruct", "weight_dtype": "fp8",
              "accelerator": "h200-sxm"} for t in (40, 100, 200)])
    assert np.all(r.tpot_p99 <= np.array([0.040, 0.100, 0.200]) * 1.01)
    assert np.all(r.ttft_p99 <= 2.0 * 1.01)
    assert np.all(np.diff(r.output_tok_s_total) > 0)  # looser TPOT limit, more throughput


def test_kv_heads_are_replicated_when_ranks_outnumber_them() -> None:
    heads = np.array([8.0, 8.0, 40.0, 128.0])
    mla = np.array([0.0, 0.0, 0.0, 1.0])
    ranks = np.array([8.0, 24.0, 24.0, 8.0])
    # GQA 8 heads over 8 ranks: none; over 24 NeuronCores: 3 copies; MHA 40 heads: none;
    # an MLA latent is kept whole by every rank.
    assert list(kv_replication(heads, mla, ranks)) == [1.0, 3.0, 1.0, 8.0]
