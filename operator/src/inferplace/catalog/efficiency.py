"""Achievable fractions of peak per chip generation and serving framework, fitted to measurements.

The values live in `data/efficiency.yaml`, written by `scripts/fit_efficiency.py` together with how
they were fitted (rows, method, residuals). A group with too few measurements is not fitted: it
inherits from its fallback and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inferplace.api.vocabulary import Platform
from inferplace.catalog._files import CatalogError, read_yaml

# The serving stack the engine models on each platform when nothing says otherwise: vLLM on GPUs,
# vLLM on NxD Inference on Neuron.
DEFAULT_FRAMEWORK: dict[Platform, str] = {"gpu": "vllm", "neuron": "nxdi"}

# Names a row or a spec may give a serving stack, and the efficiency group each is fitted under.
FRAMEWORK_ALIASES: dict[str, str] = {
    "trtllm": "trtllm",
    "tensorrt-llm": "trtllm",
    "nim-trtllm": "trtllm",
    "nim": "trtllm",
    "vllm": "vllm",
    "sglang": "vllm",
    "tgi": "vllm",
    "neuronx": "neuronx",
    "transformers-neuronx": "neuronx",
    "nxdi-vllm": "nxdi",
    "nxdi": "nxdi",
    "vllm-neuron": "nxdi",
    # optimum-neuron exports NxD models at one compiled length (no context buckets): a stack of its own
    # for the static shapes, fitted with NxD Inference's fractions of peak (evidence.groups).
    "optimum-neuron-vllm": "optimum-neuron",  # vLLM with optimum-neuron's platform plugin
    "optimum-neuron-static": "optimum-neuron",  # optimum-neuron's generate() on the same compiled models
    "optimum-neuron": "optimum-neuron",
    "tgi-neuron": "tgi-neuron",  # TGI's Neuron backend (optimum-neuron models, TGI's own scheduler)
}


class HeldOutError(BaseModel):
    """Absolute percentage error of predictions on measurements the fit did not see."""

    model_config = ConfigDict(extra="forbid")
    median_pct: float = Field(ge=0)
    p90_pct: float = Field(ge=0)
    values: int = Field(ge=1)


class Coverage(BaseModel):
    """What a group's measurements span on one chip; a prediction beyond it is an extrapolation."""

    model_config = ConfigDict(extra="forbid")
    configurations: int = Field(ge=1)
    models: int = Field(ge=1)
    max_concurrency_per_replica: float = Field(gt=0)
    max_prompt_tokens: float = Field(gt=0)


class EfficiencyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bw_fraction: float = Field(gt=0.05, le=1.0)
    prefill_fraction: float = Field(gt=0.02, le=1.0)
    decode_fraction: float = Field(gt=0.02, le=1.0)
    step_overhead_ms: float = Field(ge=0, le=200)
    prefill_overhead_ms: float = Field(ge=0, le=500)
    collective_latency_us: float = Field(ge=0, le=5000)
    memory_reserve: float = Field(ge=0, lt=0.9)
    link_fraction: float = Field(gt=0, le=1.0)
    runtime_max_batch: int = Field(ge=1, le=16384)
    tail_ratio: float = Field(ge=1.0, le=3.0)
    bucket_floor: float = Field(default=0.0, ge=0, le=65536)
    """Compiled static shapes (Neuron): prompts and contexts cost their power-of-two bucket from this many
    tokens; 0: the stack runs any length as it is."""
    moe_fraction: float = Field(default=1.0, gt=0.0, le=1.0)
    """Routed-expert matmuls' efficiency relative to the dense ones (1: as fast)."""
    moe_all_experts: float = Field(default=0.0, ge=0, le=1)
    """1: every token goes through every expert (a compiled static MoE graph masks the routing's results)."""
    moe_layer_overhead_us: float = Field(default=0.0, ge=0, le=5000)
    """Fixed time a decode step spends in each MoE layer beyond its matmuls (router, top-k, gathering the
    tokens per expert and scattering them back: small ops, each a kernel of its own); 0: none measured."""
    how: str = Field(min_length=3, description="fitted on what, or inherited from where")
    # Held-out (leave-one-model-out) absolute percentage error on quality-ok published values;
    # None where there was nothing to hold out (the group is then not validated).
    error_median_pct: float | None = Field(default=None, ge=0)
    error_p90_pct: float | None = Field(default=None, ge=0)
    error_values: int = Field(default=0, ge=0)
    inherits: str | None = Field(default=None, description="the group whose fit this one reuses")
    same_fit_as: str | None = Field(default=None, description="fitted together with this group (other constants)")
    stack: str = ""
    # Per hold-out ("configuration", "model"), per metric family ("throughput", "ttft", "tpot").
    held_out: dict[Literal["configuration", "model"], dict[str, HeldOutError]] = {}
    coverage: dict[str, Coverage] = {}


class _EfficiencyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1]
    fit: dict[str, str | int | float]
    groups: dict[str, EfficiencyParams]


class EfficiencyTable:
    """Lookup with fallbacks: generation/framework, generation/*, platform/framework, platform/*."""

    def __init__(self, groups: dict[str, EfficiencyParams], fit: dict[str, str | int | float]):
        self.groups = groups
        self.fit = fit

    def lookup(self, generation: str, platform: str, framework: str) -> tuple[str, EfficiencyParams]:
        fw = FRAMEWORK_ALIASES.get(framework.lower(), framework.lower())
        for key in (f"{generation}/{fw}", f"{generation}/*", f"{platform}/{fw}", f"{platform}/*"):
            if key in self.groups:
                return key, self.groups[key]
        raise CatalogError(f"no efficiency group for {generation}/{fw} and no {platform}/* fallback")


def load_efficiency(path: Path | None = None) -> EfficiencyTable:
    raw = read_yaml("efficiency.yaml", path)
    try:
        parsed = _EfficiencyFile.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(f"efficiency table: {exc}") from exc
    for needed in ("gpu/*", "neuron/*"):
        if needed not in parsed.groups:
            raise CatalogError(f"efficiency table lacks the fallback group {needed!r}")
    for key, g in parsed.groups.items():
        # No confidence may rest on an assumed error: a group is measured, or inherits a measured one.
        src = parsed.groups.get(g.inherits) if g.inherits else g
        if src is None or src.error_p90_pct is None:
            raise CatalogError(f"efficiency group {key!r} has no held-out error and inherits none: refit with "
                               "scripts/fit_efficiency.py")
    return EfficiencyTable(parsed.groups, parsed.fit)
