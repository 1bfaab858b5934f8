"""Efficiency groups: which published measurements fit which fractions of peak.

A group is a chip generation (or a platform) and a serving stack: the rows of those accelerators
served by those frameworks are fitted together, and held out one configuration (and one model) at a
time to measure the group's error. A group without measurements of its own inherits a fitted one,
scaled by the specs that differ, and says so (`Inherited`); nothing borrows another group's
efficiencies silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# name -> (lower bound, upper bound, prior, prior log-width): weak priors keep what the data cannot see
# at physical values.
PARAMS: dict[str, tuple[float, float, float, float]] = {
    "bw_fraction": (0.3, 0.95, 0.75, 0.5),
    "prefill_fraction": (0.15, 0.9, 0.5, 0.7),
    "decode_fraction": (0.08, 0.9, 0.4, 0.9),
    "step_overhead_ms": (0.05, 40.0, 2.0, 2.0),
    "prefill_overhead_ms": (0.1, 200.0, 5.0, 2.5),
    "collective_latency_us": (1.0, 300.0, 20.0, 2.0),
    "memory_reserve": (0.02, 0.35, 0.1, 0.7),
    "tail_ratio": (1.0, 2.0, 1.1, 0.5),
    "moe_fraction": (0.02, 1.0, 1.0, 1.5),  # 1 (as fast as dense) unless a group fits it
    "moe_layer_overhead_us": (1.0, 2000.0, 100.0, 2.0),
}
# What a group that does not fit a parameter (and does not set it) runs with: none of the cost it measures.
UNFITTED = {"moe_layer_overhead_us": 0.0}


@dataclass(frozen=True)
class GroupSpec:
    key: str  # "neuron/nxdi": generation or platform / serving stack, as the catalog looks it up
    stack: str  # what a reader calls it
    accelerators: frozenset[str]
    frameworks: frozenset[str]  # `framework` values of the rows that belong to it
    fit: tuple[str, ...]  # parameters fitted to the rows
    base: Mapping[str, float] = field(default_factory=dict)  # the others: runtime constants
    # Other lookup keys fitted together with this one: the same fractions of peak, runtime constants of their
    # own (a stack that compiles other static shapes over the same NxD models).
    variants: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    # Parameters each variant fits on its own rows rather than sharing the group's: what its own host-side
    # runtime costs (optimum-neuron samples on the host in Python; NxD Inference on the device).
    variant_fit: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inherited:
    """A group with no measurements of its own: a fitted group's efficiencies, with runtime constants of
    its own, used on chips whose specs the engine scales by (so the fractions carry over, not the speed)."""

    key: str
    source: str
    why: str
    constants: Mapping[str, float] = field(default_factory=dict)


# Compiled static shapes. NxD Inference buckets prompts and contexts by powers of two from 128 tokens;
# optimum-neuron (its vLLM plugin, its generate() and TGI's Neuron backend) exports one sequence length,
# 4096 by default (the SEQUENCE_LENGTH of its published runs), so every prompt and context costs at
# least that; its default compiled batch is 32 (BATCH_SIZE), TGI's 8 (MAX_BATCH_SIZE of its runs).
NXDI_SHAPES = {"bucket_floor": 128.0, "moe_all_experts": 1.0}
OPTIMUM_NEURON_SHAPES = {"bucket_floor": 4096.0, "runtime_max_batch": 32}

GROUPS: tuple[GroupSpec, ...] = (
    GroupSpec("hopper/trtllm", "TensorRT-LLM on Hopper", frozenset({"h100-sxm", "h200-sxm"}),
              frozenset({"trtllm", "nim-trtllm"}),
              ("bw_fraction", "prefill_fraction", "decode_fraction", "step_overhead_ms", "memory_reserve",
               "tail_ratio"),
              {"collective_latency_us": 15.0, "link_fraction": 0.7, "runtime_max_batch": 2048,
               "prefill_overhead_ms": 5.0}),
    GroupSpec("blackwell/trtllm", "TensorRT-LLM on Blackwell", frozenset({"b200"}), frozenset({"trtllm"}),
              ("bw_fraction", "prefill_fraction", "decode_fraction", "step_overhead_ms", "memory_reserve"),
              {"collective_latency_us": 15.0, "link_fraction": 0.7, "runtime_max_batch": 2048,
               "prefill_overhead_ms": 5.0, "tail_ratio": 1.15}),
    GroupSpec("neuron-v2/neuronx", "transformers-neuronx (Neuron SDK <= 2.18) on Inferentia2/Trainium1",
              frozenset({"inferentia2", "trainium1"}), frozenset({"neuronx"}),
              ("bw_fraction", "prefill_fraction", "decode_fraction", "step_overhead_ms", "prefill_overhead_ms",
               "collective_latency_us", "tail_ratio"),
              {"memory_reserve": 0.05, "link_fraction": 0.7, "runtime_max_batch": 64}),
    GroupSpec("neuron-v2/nxdi", "vLLM and optimum-neuron on NxD Inference, Inferentia2 and Trainium1",
              frozenset({"inferentia2", "trainium1"}),
              frozenset({"nxdi", "nxdi-vllm", "optimum-neuron-vllm", "optimum-neuron-static"}),
              ("bw_fraction", "prefill_fraction", "decode_fraction", "step_overhead_ms", "prefill_overhead_ms",
               "collective_latency_us", "moe_fraction", "moe_layer_overhead_us"),
              {"memory_reserve": 0.1, "link_fraction": 0.7, "runtime_max_batch": 64, "tail_ratio": 1.15,
               **NXDI_SHAPES},
              {"neuron-v2/optimum-neuron": OPTIMUM_NEURON_SHAPES}, ("step_overhead_ms",)),
    GroupSpec("neuron-v3/nxdi", "vLLM and optimum-neuron on NxD Inference, Trainium2",
              frozenset({"trainium2"}),
              frozenset({"nxdi", "nxdi-vllm", "optimum-neuron-vllm", "optimum-neuron-static"}),
              ("bw_fraction", "prefill_fraction", "decode_fraction", "step_overhead_ms", "prefill_overhead_ms",
               "collective_latency_us", "moe_fraction", "moe_layer_overhead_us"),
              {"memory_reserve": 0.1, "link_fraction": 0.7, "runtime_max_batch": 64, "tail_ratio": 1.15,
               **NXDI_SHAPES},
              {"neuron-v3/optimum-neuron": OPTIMUM_NEURON_SHAPES}, ("step_overhead_ms",)),
    GroupSpec("neuron/tgi-neuron", "TGI (Neuron backend) on Inferentia2 and Trainium1",
              frozenset({"inferentia2", "trainium1"}), frozenset({"tgi-neuron"}),
              ("bw_fraction", "prefill_fraction", "step_overhead_ms", "prefill_overhead_ms"),
              {"decode_fraction": 0.4, "collective_latency_us": 20.0, "memory_reserve": 0.1, "link_fraction": 0.7,
               "tail_ratio": 1.15, "bucket_floor": 4096.0, "runtime_max_batch": 8, "moe_all_experts": 1.0}),
    GroupSpec("gpu/vllm", "vLLM on NVIDIA and AMD GPUs", frozenset({"h100-sxm", "h200-sxm", "l40s", "mi300x", "b200"}),
              frozenset({"vllm"}), ("bw_fraction", "prefill_fraction", "decode_fraction"),
              {"step_overhead_ms": 4.0, "prefill_overhead_ms": 5.0, "collective_latency_us": 20.0,
               "memory_reserve": 0.1, "link_fraction": 0.7, "runtime_max_batch": 256, "tail_ratio": 1.15}),
)

INHERITED: tuple[Inherited, ...] = (
    Inherited("gpu/*", "hopper/trtllm", "a GPU stack without measurements of its own: TensorRT-LLM on Hopper's "
              "fractions of peak, with vLLM's batch limit", {"runtime_max_batch": 256}),
    Inherited("neuron/*", "neuron-v3/nxdi", "a Neuron stack without measurements of its own: vLLM/NxD Inference's "
              "fractions of peak on Trainium2", {"runtime_max_batch": 64}),
    Inherited("neuron-v4/nxdi", "neuron-v3/nxdi", "Trainium3 has no published serving measurement: Trainium2's "
              "vLLM/NxD Inference fractions of peak, scaled by Trainium3's own compute, bandwidth and memory"),
)


def group_of(spec_key: str) -> GroupSpec:
    return next(g for g in GROUPS if g.key == spec_key)


def rows_of(group: GroupSpec, rows: Sequence[Mapping[str, str]]) -> list[Mapping[str, str]]:
    return [r for r in rows if r.get("accelerator") in group.accelerators and r.get("framework") in group.frameworks]


__all__ = ["GROUPS", "INHERITED", "PARAMS", "UNFITTED", "GroupSpec", "Inherited", "group_of", "rows_of"]
