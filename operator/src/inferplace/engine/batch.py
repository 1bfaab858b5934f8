"""Many scenarios as arrays, evaluated in one vectorized pass."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from inferplace.engine.roofline import Hardware, a2a_hops, kv_capacity, kv_replication
from inferplace.engine.serving import (
    Decoder,
    Results,
    closed_loop,
    max_batch,
    offline_max,
    server_slo,
    static_batch,
)
from inferplace.engine.shapes import ShapeArrays

F64 = NDArray[np.float64]

LOADS = ("static-batch", "closed-loop", "offline-max", "server-slo")


@dataclass(frozen=True)
class Efficiency:
    """Achievable fractions of peak and runtime constants (fitted per chip generation × framework)."""

    bw_fraction: F64
    prefill_fraction: F64
    decode_fraction: F64
    step_overhead: F64  # s
    prefill_overhead: F64  # s
    collective_latency: F64  # s
    memory_reserve: F64
    link_fraction: F64
    runtime_max_batch: F64
    tail_ratio: F64  # p99 / p50 of per-request TPOT and TTFT away from queueing
    # Compiled static shapes (Neuron): a prompt is prefilled at the next power of two of its length, and
    # a decode step attends over the next power of two of its context, from this many tokens; 0: none.
    bucket_floor: F64 | None = None
    moe_fraction: F64 | None = None  # routed-expert matmul efficiency relative to dense (None: 1)
    moe_all_experts: F64 | None = None  # 1: every token goes through every expert (static MoE graphs)
    moe_layer_overhead: F64 | float = 0.0  # s per MoE layer per decode step beyond its matmuls


@dataclass(frozen=True)
class ScenarioArrays:
    shape: ShapeArrays
    draft: ShapeArrays
    peak_flops: F64
    draft_peak_flops: F64
    bandwidth: F64
    link: F64
    memory: F64
    tp: F64
    ranks_per_chip: F64  # tensor-parallel ranks per chip (NeuronCores on Neuron, 1 on GPUs)
    replicas: F64
    weight_bytes: F64
    kv_bytes: F64
    draft_weight_bytes: F64
    isl: F64
    osl: F64
    batch: F64  # static batch or clients; NaN when the runtime chooses
    load: NDArray[np.int64]  # index into LOADS
    ttft_slo: F64  # s; inf when none
    tpot_slo: F64
    spec_k: F64
    spec_alpha: F64
    eff: Efficiency
    # Live calibration (operator): measured over modelled decode-step and prefill time on today's
    # placement, applied to the rows of the same chip generation and serving stack. None: 1 everywhere.
    decode_scale: F64 | None = None
    prefill_scale: F64 | None = None
    # Expert parallelism (1/0) and whether the chips' fabric is switched (1) or a torus (0). None: off.
    expert_parallel: F64 | None = None
    switched: F64 | None = None
    # The measured server's batch limit where its source states it (NaN: not stated). A static-shape stack
    # pads every decode step to it; where it is not stated, to nothing (the batch it runs).
    max_batch: F64 | None = None

    def hardware(self, draft: bool = False) -> Hardware:
        e = self.eff
        shape = self.draft if draft else self.shape
        return Hardware(
            tp=self.tp,
            peak_flops=self.draft_peak_flops if draft else self.peak_flops,
            bandwidth=self.bandwidth,
            link=self.link,
            memory=self.memory,
            weight_bytes=self.draft_weight_bytes if draft else self.weight_bytes,
            kv_bytes=self.kv_bytes,
            kv_replication=kv_replication(
                shape.kv_heads, shape.mla, self.tp * self.ranks_per_chip),
            bw_fraction=e.bw_fraction,
            prefill_fraction=e.prefill_fraction,
            decode_fraction=e.decode_fraction,
            # Per-step overhead is mostly kernel launches, so a shallow draft model pays less.
            step_overhead=e.step_overhead * (self.draft.layers / self.shape.layers if draft else 1.0)
            + e.moe_layer_overhead * shape.moe_layers,
            prefill_overhead=e.prefill_overhead,
            collective_latency=e.collective_latency,
            memory_reserve=e.memory_reserve,
            link_fraction=e.link_fraction,
            moe_fraction=1.0 if e.moe_fraction is None else e.moe_fraction,
            moe_all_experts=0.0 if e.moe_all_experts is None else e.moe_all_experts,
            expert_parallel=0.0 if self.expert_parallel is None else self.expert_parallel,
            a2a_hops=1.0 if self.switched is None else a2a_hops(self.switched, self.tp),
        )


@dataclass(frozen=True)
class Prepared:
    """What every serving mode needs: the decoder, the KV-limited batch and whether it fits."""

    dec: Decoder
    bmax: F64  # largest batch whose KV cache (and the draft's) fits, per replica
    fits: NDArray[np.bool_]


def prepare(sa: ScenarioArrays, seq: F64, padded: bool = True) -> Prepared:
    """`seq`: tokens of KV each running sequence holds on average. `padded`: decode steps of a static-shape
    stack run its compiled batch (a measured server: compiled for its batch limit); without, they run the
    batch they hold (a deployment sized for its load is compiled for the batch it runs at that load)."""
    place = sa.hardware()
    draft_place = sa.hardware(draft=True)
    bmax = max_batch(sa.shape, place, seq)
    # A draft model's weights and KV cache share the replica's memory.
    draft_cost = np.where(sa.spec_k > 0, max_batch(sa.draft, draft_place, seq), np.inf)
    bmax = np.where(sa.spec_k > 0, np.floor(1.0 / (1.0 / np.maximum(bmax, 1e-9) + 1.0 / draft_cost)), bmax)
    fits = (kv_capacity(sa.shape, place) > 0) & (bmax >= 1)
    static, compiled = None, None
    if sa.eff.bucket_floor is not None and np.any(sa.eff.bucket_floor > 0):
        static = sa.eff.bucket_floor > 0
        if padded:  # every decode step runs the compiled batch (a static batch is compiled for itself)
            known = sa.max_batch if sa.max_batch is not None else np.full_like(sa.tp, np.nan)
            cap = np.maximum(np.minimum(bmax, known), 1.0)
            cap = np.where(sa.load == 0, np.where(np.isnan(sa.batch), 1.0, sa.batch), cap)
            compiled = np.where(static & ~np.isnan(cap), cap, 0.0)
    dec = Decoder(sa.shape, place, sa.draft, draft_place, sa.spec_k, sa.spec_alpha, static, compiled)
    return Prepared(dec, bmax, fits)


def bucketed(tokens: F64, floor: F64 | None) -> F64:
    """What a compiled static shape costs: the next power of two of `tokens`, at least `floor` (where the
    floor is positive; elsewhere `tokens` as they are)."""
    if floor is None:
        return tokens
    shape = np.maximum(np.exp2(np.ceil(np.log2(np.maximum(tokens, 1.0)))), floor)
    return np.where(floor > 0, shape, tokens)


def predict(sa: ScenarioArrays) -> Results:
    """Throughput and latency percentiles for every scenario; NaN where the model does not fit."""
    # Under continuous batching sequences are at every stage of their output, so one holds
    # ISL + OSL/2 tokens of KV on average; a static batch holds ISL + OSL at its last step. Compiled
    # static shapes hold (and attend over) the bucket the sequence falls in.
    floor = sa.eff.bucket_floor
    seq = bucketed(np.where(sa.load == 0, sa.isl + sa.osl, sa.isl + sa.osl / 2.0), floor)
    prep = prepare(sa, seq)
    dec, bmax = prep.dec, prep.bmax
    requested = np.where(np.isnan(sa.batch), 1.0, sa.batch)
    fits = prep.fits & ~((sa.load == 0) & (bmax < requested))
    cap = sa.eff.runtime_max_batch
    tail = sa.eff.tail_ratio
    # Closed loop: the clients are spread over the replicas (a load balancer in front of them all).
    clients = requested / np.maximum(sa.replicas, 1.0)
    # A prompt is prefilled at its bucket's length; decode attends over the bucket of its context.
    isl = bucketed(sa.isl, floor)
    mid = bucketed(sa.isl + sa.osl / 2.0, floor)
    end = bucketed(sa.isl + sa.osl, floor)
    s_out = static_batch(dec, requested, isl, sa.osl, tail, mid, end)
    c_out = closed_loop(dec, clients, bmax, isl, sa.osl, cap, tail, mid)
    o_out = offline_max(dec, bmax, isl, sa.osl, cap, mid)
    v_out = server_slo(dec, bmax, isl, sa.osl, sa.ttft_slo, sa.tpot_slo, tail, cap, mid)

    modes = [s_out, c_out, o_out, v_out]
    which = [sa.load == i for i in range(len(LOADS))]

    def pick(attr: str) -> F64:
        chosen: F64 = np.select(which, [getattr(m, attr) for m in modes]).astype(np.float64)
        return chosen

    nan = np.where(fits, 1.0, np.nan)
    return Results(
        output_tok_s_total=pick("throughput") * sa.replicas * nan,
        ttft_mean=pick("ttft_mean") * nan,
        tpot_mean=pick("tpot_mean") * nan,
        ttft_p50=pick("ttft_p50") * nan,
        ttft_p99=pick("ttft_p99") * nan,
        tpot_p50=pick("tpot_p50") * nan,
        tpot_p99=pick("tpot_p99") * nan,
        bound=pick("bound").astype(np.int64),
        batch=pick("batch") * nan,
        max_batch=bmax,
        fits=fits,
        slo_reachable=~((sa.load == 3) & np.isnan(v_out.throughput)),
    )
