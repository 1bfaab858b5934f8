"""Counting a transformer: parameters, bytes read per decode step, KV bytes and attention FLOPs.

The engine reads an architecture through the `Architecture` protocol below (read-only attributes),
so any object with those fields will do: the catalog's models, a user's explicit architecture, a
test's dataclass. Nothing here knows where the numbers came from.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


class MixtureOfExperts(Protocol):
    @property
    def experts(self) -> int: ...
    @property
    def top_k(self) -> int: ...
    @property
    def expert_intermediate(self) -> int: ...
    @property
    def shared_experts(self) -> int: ...
    @property
    def dense_layers(self) -> int: ...


class LatentAttention(Protocol):
    """Multi-head latent attention (DeepSeek): one compressed latent per token in the KV cache."""

    @property
    def q_lora_rank(self) -> int: ...
    @property
    def kv_lora_rank(self) -> int: ...
    @property
    def qk_nope_head_dim(self) -> int: ...
    @property
    def qk_rope_head_dim(self) -> int: ...
    @property
    def v_head_dim(self) -> int: ...


class Window(Protocol):
    @property
    def window(self) -> int: ...
    @property
    def local_layer_fraction(self) -> float: ...


class Architecture(Protocol):
    """A decoder-only transformer, as far as bytes and FLOPs go."""

    @property
    def layers(self) -> int: ...
    @property
    def hidden(self) -> int: ...
    @property
    def heads(self) -> int: ...
    @property
    def kv_heads(self) -> int: ...
    @property
    def head_dim(self) -> int: ...
    @property
    def intermediate(self) -> int: ...
    @property
    def vocab(self) -> int: ...
    @property
    def tied_embeddings(self) -> bool: ...
    @property
    def moe(self) -> MixtureOfExperts | None: ...
    @property
    def mla(self) -> LatentAttention | None: ...
    @property
    def sliding_window(self) -> Window | None: ...


@dataclass(frozen=True)
class ModelShape:
    """Scalars the engine needs from one architecture (counts, not bytes)."""

    layers: float
    hidden: float
    heads: float
    total_params: float
    embed_params: float  # input embedding + untied LM head: kept in 16-bit by quantized checkpoints
    head_params: float  # LM-head matmul (the tied embedding when tied)
    expert_params: float  # one routed expert of one layer (0 for dense models)
    experts: float  # routed experts per MoE layer (0 for dense)
    top_k: float
    moe_layers: float
    active_matmul_params: float  # weights multiplied per token (LM head included)
    kv_elems_per_token_layer: float  # K and V (or the MLA latent) elements per token per layer
    kv_heads: float
    mla: float  # 1.0 for multi-head latent attention
    attn_decode_coeff: float  # attention FLOPs per token per context position per layer
    attn_prefill_coeff: float
    window: float  # sliding window (inf when none)
    local_fraction: float  # share of layers that use the window


def shape_of(arch: Architecture) -> ModelShape:
    h, L, H, K, d = arch.hidden, arch.layers, arch.heads, arch.kv_heads, arch.head_dim
    if arch.mla is not None:
        m = arch.mla
        qk = m.qk_nope_head_dim + m.qk_rope_head_dim
        q = h * m.q_lora_rank + m.q_lora_rank * H * qk if m.q_lora_rank else h * H * qk
        attn = q + h * (m.kv_lora_rank + m.qk_rope_head_dim)
        attn += m.kv_lora_rank * H * (m.qk_nope_head_dim + m.v_head_dim) + H * m.v_head_dim * h
        kv_elems = float(m.kv_lora_rank + m.qk_rope_head_dim)
        # Decode runs MLA "absorbed": scores and values against the latent directly.
        attn_decode = 2.0 * H * (2 * m.kv_lora_rank + m.qk_rope_head_dim)
        attn_prefill = 2.0 * H * (qk + m.v_head_dim)
    else:
        attn = h * H * d + 2 * h * K * d + H * d * h
        kv_elems = float(2 * K * d)
        attn_decode = attn_prefill = 4.0 * H * d
    dense_ffn = 3 * h * arch.intermediate
    embed = arch.vocab * h
    head = 0 if arch.tied_embeddings else arch.vocab * h
    if arch.moe is not None:
        moe = arch.moe
        moe_layers = L - moe.dense_layers
        expert = 3 * h * moe.expert_intermediate
        per_moe_layer = (moe.experts + moe.shared_experts) * expert + h * moe.experts
        total = embed + head + L * attn + moe.dense_layers * dense_ffn + moe_layers * per_moe_layer
        active_ffn = moe.dense_layers * dense_ffn + moe_layers * (
            (moe.top_k + moe.shared_experts) * expert + h * moe.experts
        )
        experts, top_k = float(moe.experts), float(moe.top_k)
    else:
        moe_layers, expert, experts, top_k = 0, 0, 0.0, 0.0
        total = embed + head + L * (attn + dense_ffn)
        active_ffn = L * dense_ffn
    sw = arch.sliding_window
    return ModelShape(
        layers=float(L),
        hidden=float(h),
        heads=float(H),
        total_params=float(total),
        embed_params=float(embed + head),
        head_params=float(arch.vocab * h),
        expert_params=float(expert),
        experts=experts,
        top_k=top_k,
        moe_layers=float(moe_layers),
        active_matmul_params=float(arch.vocab * h + L * attn + active_ffn),
        kv_elems_per_token_layer=kv_elems,
        kv_heads=float(K),
        mla=1.0 if arch.mla is not None else 0.0,
        attn_decode_coeff=attn_decode,
        attn_prefill_coeff=attn_prefill,
        window=float(sw.window) if sw else float("inf"),
        local_fraction=float(sw.local_layer_fraction) if sw else 0.0,
    )


@dataclass(frozen=True)
class ShapeArrays:
    """`ModelShape` fields stacked into arrays, one entry per scenario."""

    layers: F64
    hidden: F64
    heads: F64
    total_params: F64
    embed_params: F64
    head_params: F64
    expert_params: F64
    experts: F64
    top_k: F64
    moe_layers: F64
    active_matmul_params: F64
    kv_elems_per_token_layer: F64
    kv_heads: F64
    mla: F64
    attn_decode_coeff: F64
    attn_prefill_coeff: F64
    window: F64
    local_fraction: F64

    @classmethod
    def stack(cls, shapes: list[ModelShape]) -> ShapeArrays:
        cols = {f.name: np.array([getattr(s, f.name) for s in shapes], dtype=np.float64)
                for f in fields(ModelShape)}
        return cls(**cols)

    def take(self, index: NDArray[np.int64]) -> ShapeArrays:
        """The shapes at `index` (one entry per scenario), from a stack of distinct shapes."""
        return ShapeArrays(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def effective_context(self, ctx: F64) -> F64:
        """Mean positions attended per layer at context `ctx` (sliding-window layers cap it)."""
        local = np.minimum(ctx, self.window)
        return (1.0 - self.local_fraction) * ctx + self.local_fraction * local

    def kv_bytes(self, ctx: F64, kv_bytes_per_elem: F64) -> F64:
        """KV-cache bytes held by one sequence of length `ctx` (all layers)."""
        return self.layers * self.kv_elems_per_token_layer * self.effective_context(ctx) * (
            kv_bytes_per_elem
        )

    def prefill_attention_flops(self, prompt: F64) -> F64:
        """Causal attention FLOPs to prefill one prompt (sum over its positions)."""
        full = prompt * prompt / 2.0
        w = np.minimum(self.window, prompt)
        local = prompt * w - w * w / 2.0
        positions = (1.0 - self.local_fraction) * full + self.local_fraction * local
        return self.layers * self.attn_prefill_coeff * positions

    def experts_touched(self, tokens: F64) -> F64:
        """Expected distinct routed experts per MoE layer hit by `tokens` tokens (uniform routing)."""
        e = np.maximum(self.experts, 1.0)
        # p_miss ** tokens as exp(tokens * log p_miss): the log once per model, an exp per point of a grid
        # (a power with an array exponent costs several times an exp). A p_miss of 0 (top-k = all experts)
        # is kept just above it, so 0 tokens still touch none and one token already touches them all.
        log_miss = np.log(np.clip(1.0 - self.top_k / e, np.finfo(np.float64).tiny, 1.0))
        hit = -np.expm1(np.maximum(tokens, 0.0) * log_miss)
        return np.where(self.experts > 0, e * hit, 0.0)
