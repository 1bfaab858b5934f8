"""Scenarios: one serving configuration each, resolved against the catalog and stacked for the engine.

Resolution is where bad input is caught: every problem becomes a one-line reason naming the field
and what is allowed, so a caller can report it for that row and still evaluate the others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inferplace.catalog import Accelerator, Catalog, CatalogError, ModelArch
from inferplace.catalog.accelerators import BYTES_PER_ELEMENT, DTYPES
from inferplace.catalog.efficiency import EfficiencyParams
from inferplace.engine import LOADS, Efficiency, ScenarioArrays
from inferplace.engine.roofline import weight_footprint
from inferplace.engine.shapes import ModelShape, ShapeArrays, shape_of

# When a source gives output lengths but no prompt length (MLPerf datasets), assume this many prompt
# tokens. It is an assumption, not a reading; it affects TTFT and prefill-heavy throughput.
DEFAULT_PROMPT_TOKENS = 1024

DEFAULT_FRAMEWORK = {"gpu": "vllm", "neuron": "nxdi"}


class ScenarioError(ValueError):
    """A scenario that cannot be estimated; the message is one line a user can act on."""


@dataclass(frozen=True)
class Scenario:
    """A fully resolved scenario (catalog objects, numbers, no blanks)."""

    model: ModelArch
    accelerator: Accelerator
    chips_per_replica: int
    replicas: int
    weight_dtype: str
    kv_dtype: str
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


def compute_dtype(acc: Accelerator, weight_dtype: str) -> str:
    """The matmul data type: fp8/fp4 weights run natively where the chip has that rate;
    int8 weights are dequantized to 16-bit (weight-only quantization)."""
    if weight_dtype in ("fp8", "fp4") and weight_dtype in acc.peak_tflops:
        return weight_dtype
    return "fp16" if weight_dtype == "fp16" else "bf16"


def check_dtypes(acc: Accelerator, weight_dtype: str, kv_dtype: str) -> None:
    if weight_dtype not in DTYPES:
        raise ScenarioError(f"weight_dtype {weight_dtype!r} unknown; allowed: {', '.join(DTYPES)}")
    if kv_dtype not in DTYPES:
        raise ScenarioError(f"kv_dtype {kv_dtype!r} unknown; allowed: {', '.join(DTYPES)}")
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


def smallest_fitting_tp(model: ModelArch, acc: Accelerator, eff: EfficiencyParams, wdt: str,
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


# ---- resolving a row of the scenario CSV format (shared/data/SCENARIOS.md) --------------------

REQUIRED_COLUMNS = ("scenario_id", "model", "accelerator", "output_tokens", "load")


def _num(row: dict[str, str], key: str, *, integer: bool = False, positive: bool = True) -> float | None:
    raw = (row.get(key) or "").strip()
    if not raw:
        return None
    try:
        val = float(raw)
    except ValueError:
        raise ScenarioError(f"{key} must be a number, got {raw!r}") from None
    if not math.isfinite(val) or (positive and val <= 0):
        raise ScenarioError(f"{key} must be a positive number, got {raw!r}")
    if integer and val != int(val):
        raise ScenarioError(f"{key} must be a whole number, got {raw!r}")
    return val


def resolve_row(row: dict[str, str], cat: Catalog) -> Scenario:
    """Turn one CSV row into a Scenario, or raise ScenarioError with a one-line reason."""
    try:
        model = cat.model((row.get("model") or "").strip() or "(blank)")
        acc_name = (row.get("accelerator") or "").strip()
        inst_name = (row.get("instance_type") or "").strip()
        if not acc_name and inst_name:
            acc_name = cat.instance(inst_name).accelerator
        acc = cat.accelerator(acc_name or "(blank)")
        draft_name = (row.get("draft_model") or "").strip()
        draft = cat.model(draft_name) if draft_name else None
    except CatalogError as exc:
        raise ScenarioError(str(exc)) from None
    load = (row.get("load") or "").strip()
    if load not in LOADS:
        raise ScenarioError(f"load {load!r} unknown; allowed: {', '.join(LOADS)}")
    wdt = (row.get("weight_dtype") or "").strip().lower() or "bf16"
    kvd = (row.get("kv_dtype") or "").strip().lower() or "bf16"
    check_dtypes(acc, wdt, kvd)
    framework = (row.get("framework") or "").strip().lower() or DEFAULT_FRAMEWORK[acc.platform]
    _, eff = efficiency_for(cat, acc, framework)

    osl = _num(row, "output_tokens")
    if osl is None:
        raise ScenarioError("output_tokens is blank; it is required")
    isl = _num(row, "input_tokens") or float(DEFAULT_PROMPT_TOKENS)
    batch = _num(row, "batch", integer=True)
    if load in ("static-batch", "closed-loop") and batch is None:
        raise ScenarioError(f"batch is blank; it is required for load {load}")
    ttft_ms = _num(row, "ttft_slo_ms")
    tpot_ms = _num(row, "tpot_slo_ms")
    if load == "server-slo" and (ttft_ms is None or tpot_ms is None):
        raise ScenarioError("ttft_slo_ms and tpot_slo_ms are required for load server-slo")
    # Longer than the trained context is allowed (RoPE scaling does it; Neuron's tables run
    # Llama-2 at 8k): it costs KV memory, which the engine counts.

    num_chips = _num(row, "num_chips", integer=True)
    replicas = _num(row, "replicas", integer=True)
    cpr = _num(row, "chips_per_replica", integer=True)
    if cpr is None and replicas is not None and num_chips is not None:
        cpr = num_chips / replicas
        if cpr != int(cpr):
            raise ScenarioError(f"num_chips {num_chips:.0f} is not a multiple of replicas {replicas:.0f}")
    if cpr is None:
        available = num_chips
        if available is None and inst_name:
            available = float(cat.instance(inst_name).chips or 0) or None
        if available is None:
            raise ScenarioError("chips_per_replica, num_chips and instance_type are all blank")
        cpr = float(smallest_fitting_tp(model, acc, eff, wdt, int(available)))
        if replicas is None:
            replicas = float(int(available // cpr)) if num_chips is not None else 1.0
    if replicas is None:
        replicas = num_chips / cpr if num_chips is not None and num_chips >= cpr else 1.0
        replicas = float(max(int(replicas), 1))
    if cpr > 1 and acc.link_bytes_s <= 0:
        why = acc.missing.get("interconnect", "no chip-to-chip bandwidth figure in the catalog")
        raise ScenarioError(f"tensor parallel over {cpr:.0f} x {acc.id} needs an interconnect: {why}")

    alpha = _num(row, "acceptance_rate") or 0.0
    k = _num(row, "num_speculative_tokens", integer=True) or 0.0
    if (draft is None) != (k == 0):
        raise ScenarioError("draft_model and num_speculative_tokens go together")
    if draft is not None and not 0 < alpha < 1:
        raise ScenarioError("acceptance_rate must be between 0 and 1 with speculative decoding")

    return Scenario(
        model=model, accelerator=acc, chips_per_replica=int(cpr), replicas=int(replicas),
        weight_dtype=wdt, kv_dtype=kvd, input_tokens=isl, output_tokens=osl,
        batch=math.nan if batch is None else batch, load=load, framework=framework,
        ttft_slo_s=(ttft_ms or math.inf) / 1e3, tpot_slo_s=(tpot_ms or math.inf) / 1e3,
        draft_model=draft, acceptance_rate=alpha, speculative_tokens=int(k),
    )
