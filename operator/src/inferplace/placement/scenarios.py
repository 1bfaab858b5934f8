"""Scenarios: one serving configuration each, made of catalog objects, stacked into the engine's arrays.

This is where the catalog meets the engine: the engine sees only numbers. Checks that need the
catalog (a data type the chip does not run, weights that fit nowhere) raise ScenarioError with a
one-line reason, so a caller can report it for that row and still predict the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inferplace.api.vocabulary import BYTES_PER_ELEMENT, PRECISIONS, Precision
from inferplace.catalog import Accelerator, Catalog, ModelArch
from inferplace.catalog.efficiency import EfficiencyParams
from inferplace.engine import LOADS, Efficiency, ScenarioArrays
from inferplace.engine.roofline import weight_footprint
from inferplace.engine.shapes import ModelShape, ShapeArrays, shape_of

F64 = NDArray[np.float64]


class ScenarioError(ValueError):
    """A scenario that cannot be estimated; the message is one line a user can act on."""


@dataclass
class Scenario:  # not changed once made; not frozen: a search makes one per engine row, and a frozen init is 4x slower
    """A fully resolved scenario (catalog objects, numbers, no blanks)."""

    model: ModelArch
    accelerator: Accelerator
    chips_per_replica: int
    replicas: int
    weight_dtype: Precision
    kv_dtype: Precision
    input_tokens: float
    output_tokens: float
    batch: float  # NaN when the runtime chooses
    load: str
    framework: str
    ttft_slo_s: float = math.inf
    tpot_slo_s: float = math.inf
    draft_model: ModelArch | None = None
    acceptance_rate: float = 0.0
    speculative_tokens: int = 0
    expert_parallel: bool = False  # a MoE model's experts sharded whole over the chips (see engine.roofline)
    # The server's batch limit where it is known (vLLM max_num_seqs, the batch a Neuron graph was compiled
    # for); NaN: the serving stack's default (its efficiency group's runtime_max_batch).
    max_batch: float = math.nan


def compute_dtype(acc: Accelerator, weight_dtype: Precision) -> Precision:
    """The matmul data type: fp8/fp4 weights run natively where the chip has that rate;
    int8 weights are dequantized to 16-bit (weight-only quantization)."""
    if weight_dtype in ("fp8", "fp4") and weight_dtype in acc.peak_tflops:
        return weight_dtype
    return "fp16" if weight_dtype == "fp16" else "bf16"


def check_dtypes(acc: Accelerator, weight_dtype: Precision, kv_dtype: Precision) -> None:
    if weight_dtype not in PRECISIONS:
        raise ScenarioError(f"weight_dtype {weight_dtype!r} unknown; allowed: {', '.join(PRECISIONS)}")
    if kv_dtype not in PRECISIONS:
        raise ScenarioError(f"kv_dtype {kv_dtype!r} unknown; allowed: {', '.join(PRECISIONS)}")
    if weight_dtype not in acc.weight_dtypes:
        raise ScenarioError(
            f"weight_dtype {weight_dtype} is not native on {acc.id} "
            f"(supported: {', '.join(acc.weight_dtypes)})"
        )
    if kv_dtype not in acc.kv_dtypes:
        raise ScenarioError(
            f"kv_dtype {kv_dtype} is not native on {acc.id} (supported: {', '.join(acc.kv_dtypes)})"
        )
    cd = compute_dtype(acc, weight_dtype)
    if cd not in acc.peak_tflops:
        why = acc.missing.get(cd) or acc.missing.get("bf16") or "not in the catalog"
        raise ScenarioError(f"no {cd} peak compute figure for {acc.id}: {why}")


def smallest_fitting_tp(model: ModelArch, acc: Accelerator, eff: EfficiencyParams, wdt: Precision,
                        available: int) -> int:
    """The fewest chips (a power of two, or all available) whose memory holds the weights."""
    shape = ShapeArrays.stack([shape_of(model)])
    tp = 1
    weights = float(weight_footprint(shape, np.array([BYTES_PER_ELEMENT[wdt]]))[0])
    while tp <= available:
        # Leave a tenth of the usable memory for at least some KV cache.
        if weights < acc.memory_bytes * tp * (1 - eff.memory_reserve) * 0.9:
            return tp
        tp *= 2
    raise ScenarioError(
        f"{model.id} in {wdt} does not fit on {available} x {acc.id} "
        f"({acc.memory_bytes / 1e9:.0f} GB each)"
    )


def weight_bytes(model: ModelArch, dtype: Precision) -> float:
    """Bytes of the model's weights in `dtype` (embeddings and LM head stay 16-bit)."""
    shape = ShapeArrays.stack([shape_of(model)])
    return float(weight_footprint(shape, np.array([BYTES_PER_ELEMENT[dtype]]))[0])


def efficiency_for(cat: Catalog, acc: Accelerator, framework: str) -> tuple[str, EfficiencyParams]:
    return cat.efficiency.lookup(acc.generation, acc.platform, framework)


# Per scenario: numbers of its chip, data types and serving stack (the same for many rows)...
_HARDWARE = ("peak", "dpeak", "bw", "link", "mem", "ranks", "wb", "kvb", "dwb",
             "e_bw", "e_pf", "e_dec", "e_ovh", "e_povh", "e_coll", "e_res", "e_link", "e_cap", "e_tail", "e_bucket",
             "e_moe", "e_moe_all", "e_moe_ovh", "switched")
# ...and of the scenario itself.
_OWN = ("tp", "rep", "isl", "osl", "batch", "ttft", "tpot", "k", "alpha", "load", "ep", "maxb")
_COLUMNS = {name: i for i, name in enumerate(_HARDWARE + _OWN)}
_LOAD_INDEX = {load: i for i, load in enumerate(LOADS)}


def _hardware(cat: Catalog, acc: Accelerator, framework: str, weight_dtype: Precision,
              kv_dtype: Precision) -> tuple[float, ...]:
    peak = acc.peak_flops(compute_dtype(acc, weight_dtype)) or math.nan
    e = efficiency_for(cat, acc, framework)[1]
    return (peak, acc.peak_flops("bf16") or peak, acc.bandwidth_bytes_s, acc.link_bytes_s, acc.memory_bytes,
            float(acc.tensor_parallel_ranks_per_chip), BYTES_PER_ELEMENT[weight_dtype], BYTES_PER_ELEMENT[kv_dtype],
            2.0, e.bw_fraction, e.prefill_fraction, e.decode_fraction, e.step_overhead_ms / 1e3,
            e.prefill_overhead_ms / 1e3, e.collective_latency_us / 1e6, e.memory_reserve, e.link_fraction,
            float(e.runtime_max_batch), e.tail_ratio, e.bucket_floor, e.moe_fraction, e.moe_all_experts,
            e.moe_layer_overhead_us / 1e6, float(acc.topology == "switched"))


def to_arrays(scenarios: list[Scenario], cat: Catalog) -> ScenarioArrays:
    """Stack resolved scenarios into the engine's arrays.

    Scenarios share models and chips, so each model is counted and each chip x data types x serving
    stack looked up once; the columns are then gathered in one array operation.
    """
    hardware: dict[tuple[str, str, str, str], int] = {}  # index into `blocks`
    blocks: list[tuple[float, ...]] = []
    shape_index: dict[int, int] = {}  # by id() of the model: index into `shapes`
    shapes: list[ModelShape] = []

    def shape(model: ModelArch) -> int:
        at = shape_index.get(id(model))
        if at is None:
            at = shape_index[id(model)] = len(shapes)
            shapes.append(shape_of(model))
        return at

    own: list[tuple[float, ...]] = []
    which: list[int] = []  # each scenario's hardware block
    targets: list[int] = []
    drafts: list[int] = []
    for s in scenarios:
        acc = s.accelerator
        hw_key = (acc.id, s.framework, s.weight_dtype, s.kv_dtype)
        hw = hardware.get(hw_key)
        if hw is None:
            hw = hardware[hw_key] = len(blocks)
            blocks.append(_hardware(cat, acc, s.framework, s.weight_dtype, s.kv_dtype))
        which.append(hw)
        target = shape_index.get(id(s.model))
        if target is None:
            target = shape(s.model)
        targets.append(target)
        drafts.append(shape(s.draft_model) if s.draft_model else target)
        # ints and bools as they are: the float64 array below converts them exactly, in C.
        own.append((s.chips_per_replica, s.replicas, s.input_tokens, s.output_tokens, s.batch, s.ttft_slo_s,
                    s.tpot_slo_s, s.speculative_tokens, s.acceptance_rate, _LOAD_INDEX[s.load], s.expert_parallel,
                    s.max_batch))
    # One contiguous row per column: each chip's block gathered once, then the scenarios' own numbers.
    table = np.concatenate([np.array(blocks, dtype=np.float64).T[:, which],
                            np.array(own, dtype=np.float64).reshape(-1, len(_OWN)).T])

    def c(name: str) -> F64:
        col: F64 = table[_COLUMNS[name]]
        return col

    # The server's batch limit where the scenario states it, else its serving stack's.
    cap = np.where(np.isnan(c("maxb")), c("e_cap"), c("maxb"))

    stacked = ShapeArrays.stack(shapes)
    return ScenarioArrays(
        shape=stacked.take(np.array(targets)), draft=stacked.take(np.array(drafts)),
        peak_flops=c("peak"), draft_peak_flops=c("dpeak"), bandwidth=c("bw"), link=c("link"),
        memory=c("mem"), tp=c("tp"), ranks_per_chip=c("ranks"), replicas=c("rep"),
        weight_bytes=c("wb"), kv_bytes=c("kvb"),
        draft_weight_bytes=c("dwb"), isl=c("isl"), osl=c("osl"), batch=c("batch"),
        load=c("load").astype(np.int64), ttft_slo=c("ttft"), tpot_slo=c("tpot"),
        spec_k=c("k"), spec_alpha=c("alpha"), expert_parallel=c("ep"), switched=c("switched"),
        max_batch=c("maxb"),
        eff=Efficiency(
            bw_fraction=c("e_bw"), prefill_fraction=c("e_pf"), decode_fraction=c("e_dec"),
            step_overhead=c("e_ovh"), prefill_overhead=c("e_povh"), collective_latency=c("e_coll"),
            memory_reserve=c("e_res"), link_fraction=c("e_link"), runtime_max_batch=cap,
            tail_ratio=c("e_tail"), bucket_floor=c("e_bucket"), moe_fraction=c("e_moe"), moe_all_experts=c("e_moe_all"),
            moe_layer_overhead=c("e_moe_ovh"),
        ),
    )
