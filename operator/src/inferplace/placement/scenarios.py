"""Scenarios: one serving configuration each, made of catalog objects, stacked into the engine's arrays.

This is where the catalog meets the engine: the engine sees only numbers. Checks that need the
catalog (a data type the chip does not run, weights that fit nowhere) raise ScenarioError with a
one-line reason, so a caller can report it for that row and still predict the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inferplace.api.vocabulary import BYTES_PER_ELEMENT, PRECISIONS, Precision
from inferplace.catalog import Accelerator, Catalog, ModelArch
from inferplace.catalog.efficiency import EfficiencyParams
from inferplace.engine import LOADS, Efficiency, ScenarioArrays
from inferplace.engine.roofline import weight_footprint
from inferplace.engine.shapes import ModelShape, ShapeArrays, shape_of


class ScenarioError(ValueError):
    """A scenario that cannot be estimated; the message is one line a user can act on."""


@dataclass(frozen=True)
class Scenario:
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


def efficiency_for(cat: Catalog, acc: Accelerator, framework: str) -> tuple[str, EfficiencyParams]:
    return cat.efficiency.lookup(acc.generation, acc.platform, framework)


def to_arrays(scenarios: list[Scenario], cat: Catalog) -> ScenarioArrays:
    """Stack resolved scenarios into the engine's arrays."""
    shapes: list[ModelShape] = []
    drafts: list[ModelShape] = []
    cols: dict[str, list[float]] = {k: [] for k in (
        "peak", "dpeak", "bw", "link", "mem", "tp", "ranks", "rep", "wb", "kvb", "dwb", "isl", "osl", "batch",
        "ttft", "tpot", "k", "alpha")}
    effs: dict[str, list[float]] = {k: [] for k in (
        "bw", "pf", "dec", "ovh", "povh", "coll", "res", "link", "cap", "tail")}
    loads: list[int] = []
    # Scenarios share models and chips: count each model and look up each efficiency group once.
    shape_memo: dict[int, ModelShape] = {}
    eff_memo: dict[tuple[str, str], EfficiencyParams] = {}

    def shape(model: ModelArch) -> ModelShape:
        if id(model) not in shape_memo:
            shape_memo[id(model)] = shape_of(model)
        return shape_memo[id(model)]

    for s in scenarios:
        acc = s.accelerator
        target = shape(s.model)
        shapes.append(target)
        drafts.append(shape(s.draft_model) if s.draft_model else target)
        cd = compute_dtype(acc, s.weight_dtype)
        peak = acc.peak_flops(cd) or math.nan
        cols["peak"].append(peak)
        cols["dpeak"].append(acc.peak_flops("bf16") or peak)
        cols["bw"].append(acc.bandwidth_bytes_s)
        cols["link"].append(acc.link_bytes_s)
        cols["mem"].append(acc.memory_bytes)
        cols["tp"].append(s.chips_per_replica)
        cols["ranks"].append(acc.tensor_parallel_ranks_per_chip)
        cols["rep"].append(s.replicas)
        cols["wb"].append(BYTES_PER_ELEMENT[s.weight_dtype])
        cols["kvb"].append(BYTES_PER_ELEMENT[s.kv_dtype])
        cols["dwb"].append(2.0)
        cols["isl"].append(s.input_tokens)
        cols["osl"].append(s.output_tokens)
        cols["batch"].append(s.batch)
        cols["ttft"].append(s.ttft_slo_s)
        cols["tpot"].append(s.tpot_slo_s)
        cols["k"].append(float(s.speculative_tokens))
        cols["alpha"].append(s.acceptance_rate)
        loads.append(LOADS.index(s.load))
        if (acc.id, s.framework) not in eff_memo:
            eff_memo[acc.id, s.framework] = efficiency_for(cat, acc, s.framework)[1]
        e = eff_memo[acc.id, s.framework]
        for key, val in (("bw", e.bw_fraction), ("pf", e.prefill_fraction), ("dec", e.decode_fraction),
                         ("ovh", e.step_overhead_ms / 1e3), ("povh", e.prefill_overhead_ms / 1e3),
                         ("coll", e.collective_latency_us / 1e6),
                         ("res", e.memory_reserve), ("link", e.link_fraction),
                         ("cap", float(e.runtime_max_batch)), ("tail", e.tail_ratio)):
            effs[key].append(val)
    a = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
    f = {k: np.asarray(v, dtype=np.float64) for k, v in effs.items()}
    return ScenarioArrays(
        shape=ShapeArrays.stack(shapes), draft=ShapeArrays.stack(drafts),
        peak_flops=a["peak"], draft_peak_flops=a["dpeak"], bandwidth=a["bw"], link=a["link"],
        memory=a["mem"], tp=a["tp"], ranks_per_chip=a["ranks"], replicas=a["rep"],
        weight_bytes=a["wb"], kv_bytes=a["kvb"],
        draft_weight_bytes=a["dwb"], isl=a["isl"], osl=a["osl"], batch=a["batch"],
        load=np.asarray(loads, dtype=np.int64), ttft_slo=a["ttft"], tpot_slo=a["tpot"],
        spec_k=a["k"], spec_alpha=a["alpha"],
        eff=Efficiency(
            bw_fraction=f["bw"], prefill_fraction=f["pf"], decode_fraction=f["dec"],
            step_overhead=f["ovh"], prefill_overhead=f["povh"], collective_latency=f["coll"],
            memory_reserve=f["res"],
            link_fraction=f["link"], runtime_max_batch=f["cap"], tail_ratio=f["tail"],
        ),
    )
