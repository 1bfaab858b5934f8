"""Roofline step times on a tensor-parallel group of chips.

A decode step reads the weights it touches (all dense weights; for MoE only the experts the batch
routes to) plus every sequence's KV cache, and does 2 FLOPs per weight per token plus attention.
Its time is the larger of bytes over achievable bandwidth and FLOPs over achievable compute, plus
two all-reduces per layer over the chip interconnect and a fixed per-step overhead (kernel
launches, scheduling, sampling). Prefill is the same sum with every prompt token in the matmuls.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inferplace.engine.shapes import ShapeArrays

F64 = NDArray[np.float64]

ACTIVATION_BYTES = 2.0  # all-reduced activations travel in 16-bit


@dataclass(frozen=True)
class Hardware:
    """One replica's chips, parallelism, data types and fitted efficiencies; one entry per scenario."""

    tp: F64  # chips per replica (tensor parallel over chips)
    peak_flops: F64  # dense peak of the matmul data type, per chip
    bandwidth: F64  # memory bytes/s per chip
    link: F64  # chip-to-chip bytes/s per direction (0: none)
    memory: F64  # bytes per chip
    weight_bytes: F64  # bytes per weight element
    kv_bytes: F64  # bytes per KV element
    kv_replication: F64  # copies of each KV head across tensor-parallel ranks (>= 1)
    bw_fraction: F64
    prefill_fraction: F64
    decode_fraction: F64
    step_overhead: F64  # s per decode step
    prefill_overhead: F64  # s per prefill launch (context-encoding graph, host work)
    collective_latency: F64  # s per all-reduce
    memory_reserve: F64  # fraction of memory the runtime keeps (activations, graphs, fragmentation)
    link_fraction: F64
    # Routed-expert matmuls run at this fraction of the dense matmuls' efficiency (many small GEMMs,
    # routing and gathers); 1 for a stack whose MoE kernels keep pace.
    moe_fraction: F64 | float = 1.0
    # A compiled static MoE graph multiplies every token through every expert (routing masks the results):
    # its expert FLOPs are all the experts', not the top-k's.
    moe_all_experts: F64 | float = 0.0
    # Expert parallelism (1) shards a MoE model's experts whole over the chips instead of splitting each:
    # every MoE layer then sends each token to its experts' chips and back (two all-to-alls) in place of
    # the MLP's all-reduce. `a2a_hops`: links an all-to-all message crosses (1 on a switched fabric).
    expert_parallel: F64 | float = 0.0
    a2a_hops: F64 | float = 1.0


@dataclass(frozen=True)
class StepTime:
    """A step's time and its parts, so the binding resource can be named."""

    total: F64
    memory: F64
    compute: F64
    comm: F64
    overhead: F64


def kv_replication(kv_heads: F64, mla: F64, ranks: F64) -> F64:
    """How many copies of the KV cache tensor parallelism keeps.

    Attention shards by KV head: with more ranks than KV heads each head is replicated (TP 24 over 8
    heads: 3 copies). An MLA latent is shared by all heads, so every rank keeps all of it.
    """
    return np.where(mla > 0, ranks, np.maximum(1.0, ranks / np.maximum(kv_heads, 1.0)))


def weight_footprint(s: ShapeArrays, weight_bytes: F64) -> F64:
    """Bytes of weights per replica; embeddings and LM head stay 16-bit in quantized checkpoints."""
    body = (s.total_params - s.embed_params) * weight_bytes
    return body + s.embed_params * np.maximum(weight_bytes, 2.0)


def kv_capacity(s: ShapeArrays, p: Hardware) -> F64:
    """Bytes left for the KV cache per replica (negative: the weights alone do not fit)."""
    return p.memory * p.tp * (1.0 - p.memory_reserve) - weight_footprint(s, p.weight_bytes)


def a2a_hops(switched: F64, chips: F64) -> F64:
    """Mean links an all-to-all message crosses: one on a switched fabric; on a 2D torus of n chips
    (a ring up to 4) the mean distance, sqrt(n)/2 (4x4: 2 hops), each hop a link the message occupies."""
    return np.where(switched > 0, 1.0, np.maximum(1.0, np.sqrt(chips) / 2.0))


def _collectives(s: ShapeArrays, p: Hardware, tokens: F64) -> F64:
    """Two ring all-reduces per layer of `tokens` x hidden activations; zero without TP. With expert
    parallelism the MoE layers' MLP all-reduce is replaced by a dispatch and a combine all-to-all: each
    chip sends its share of the tokens (tokens / n) to the top-k experts' chips ((n-1)/n of them remote),
    every byte occupying `a2a_hops` links; balanced routing is assumed (a hot expert is not modelled)."""
    fixed, per_token = _collective_terms(s, p)
    return fixed + per_token * tokens


def _collective_terms(s: ShapeArrays, p: Hardware) -> tuple[F64, F64]:
    """The collectives' time as `fixed + per_token * tokens`, per scenario: every term is linear in the
    tokens, so the per-scenario coefficients are computed once and a grid of batches costs one multiply-add."""
    ring = 2.0 * (p.tp - 1.0) / p.tp
    link = np.where(p.link > 0, p.link * p.link_fraction, np.inf)
    per_fixed, per_token = p.collective_latency, ring * s.hidden * ACTIVATION_BYTES / link
    a2a_fixed = p.collective_latency * p.a2a_hops
    a2a_token = s.top_k * s.hidden * ACTIVATION_BYTES * (p.tp - 1.0) / p.tp / p.tp * p.a2a_hops / link
    dense_layers = 2.0 * s.layers - s.moe_layers  # with EP: the all-reduces left (attention, dense MLPs)
    ep = (np.asarray(p.expert_parallel) > 0) & (s.moe_layers > 0)
    fixed = np.where(ep, dense_layers * per_fixed + 2.0 * s.moe_layers * a2a_fixed, 2.0 * s.layers * per_fixed)
    token = np.where(ep, dense_layers * per_token + 2.0 * s.moe_layers * a2a_token, 2.0 * s.layers * per_token)
    tp = p.tp > 1
    return np.where(tp, fixed, 0.0), np.where(tp, token, 0.0)


def _dense_equivalent(s: ShapeArrays, p: Hardware) -> F64:
    """Weights multiplied per token, the routed experts' counted at their lower efficiency."""
    routed = s.moe_layers * s.top_k * s.expert_params
    every = s.moe_layers * np.maximum(s.experts - s.top_k, 0.0) * s.expert_params * p.moe_all_experts
    out: F64 = s.active_matmul_params + every + (routed + every) * (1.0 / np.maximum(p.moe_fraction, 1e-3) - 1.0)
    return out


def decode_step(s: ShapeArrays, p: Hardware, batch: F64, context: F64,
                tokens_per_seq: F64 | float = 1.0) -> StepTime:
    """One decode iteration for `batch` sequences at mean `context`.

    `tokens_per_seq` > 1 is a speculative verification step: the same bytes, more FLOPs.
    Each term is a per-scenario figure times the sequences or tokens (bytes and FLOPs grow linearly),
    so a grid of batches per scenario (the SLO search's step table) costs a multiply-add per term.
    """
    tokens = batch * tokens_per_seq
    bandwidth = p.tp * (p.bandwidth * p.bw_fraction)  # the replica's achievable bytes/s
    dense_read = (s.total_params - s.embed_params - s.moe_layers * s.experts * s.expert_params)
    dense_read = dense_read * p.weight_bytes + s.head_params * np.maximum(p.weight_bytes, 2.0)
    kv_per_seq = s.kv_bytes(context, p.kv_bytes) * p.kv_replication
    t_mem = dense_read / bandwidth + batch * (kv_per_seq / bandwidth) + _expert_read_s(s, p, tokens, bandwidth)
    attn = s.layers * s.attn_decode_coeff * s.effective_context(context)
    t_cmp = tokens * ((2.0 * _dense_equivalent(s, p) + attn) / (p.tp * (p.peak_flops * p.decode_fraction)))
    t_comm = _collectives(s, p, tokens)
    total = np.maximum(t_mem, t_cmp) + t_comm + p.step_overhead
    return StepTime(total, t_mem, t_cmp, t_comm, p.step_overhead)


def _expert_read_s(s: ShapeArrays, p: Hardware, tokens: F64, bandwidth: F64) -> F64 | float:
    """Seconds to read the routed experts `tokens` tokens touch: computed for the MoE scenarios only
    (a dense model touches none), the others' 0."""
    moe = s.experts > 0
    if not moe.any():
        return 0.0
    per_expert = s.moe_layers * s.expert_params * p.weight_bytes / bandwidth
    if moe.all():
        out: F64 = s.experts_touched(tokens) * per_expert
        return out
    cols = np.flatnonzero(moe)
    shape = np.broadcast_shapes(np.shape(tokens), moe.shape)
    out = np.zeros(shape)
    out[..., cols] = s.take(cols).experts_touched(np.broadcast_to(tokens, shape)[..., cols]) * per_expert[cols]
    return out


def prefill(s: ShapeArrays, p: Hardware, prompts: F64, prompt_len: F64,
            weights_amortized: bool = False) -> StepTime:
    """Prefill `prompts` prompts of `prompt_len` tokens together.

    With `weights_amortized`, the weight-read floor is dropped: under continuous batching a
    prompt's chunks ride along in steps that read the weights anyway.
    """
    tokens = prompts * prompt_len
    flops = prompts * (2.0 * _dense_equivalent(s, p) * prompt_len + s.prefill_attention_flops(prompt_len))
    t_cmp = flops / p.tp / (p.peak_flops * p.prefill_fraction)
    touched = s.moe_layers * s.experts_touched(tokens) * s.expert_params
    dense = s.total_params - s.moe_layers * s.experts * s.expert_params
    t_mem = (dense + touched) * p.weight_bytes / p.tp / (p.bandwidth * p.bw_fraction)
    if weights_amortized:
        t_mem = np.zeros_like(t_mem)
    t_comm = _collectives(s, p, tokens)
    overhead = np.where(weights_amortized, 0.0, p.prefill_overhead)
    total = np.maximum(t_mem, t_cmp) + t_comm + overhead
    return StepTime(total, t_mem, t_cmp, t_comm, overhead)
