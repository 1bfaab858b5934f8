"""From step times to what a client sees, for each way a server is loaded.

- static batch: one batch of fixed-length requests prefilled together, then decoded together;
- closed loop: N clients, each sending its next request when the last one finishes;
- offline maximum: every request queued, the largest batch that fits the KV cache;
- server SLO: Poisson arrivals, rate raised until the p99 TTFT or TPOT limit binds.

Continuous batching (the last three) interleaves prefills with decode steps: prefill work then
stretches TPOT, and a prompt waits for the prefill queue (an M/G/1 queue) before its first token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from inferplace.engine.roofline import Hardware, StepTime, decode_step, kv_capacity, prefill
from inferplace.engine.shapes import ShapeArrays

F64 = NDArray[np.float64]

# What limits an operating point; `binding_resource` returns an index into BOUNDS, in this order.
Bound = Literal["memory-bandwidth", "compute", "interconnect", "framework-overhead", "memory-capacity"]
BOUNDS: tuple[Bound, ...] = get_args(Bound)
# What stops a replica taking more requests within the SLOs (the rate limit's cause), in this order.
Limit = Literal["TTFT objective", "TPOT objective", "end-to-end objective", "batch limit", "KV-cache memory",
                "throughput"]
LIMITS: tuple[Limit, ...] = get_args(Limit)


@dataclass(frozen=True)
class Decoder:
    """Decode timing for one set of scenarios, with or without speculative decoding."""

    shape: ShapeArrays
    place: Hardware
    draft: ShapeArrays
    draft_place: Hardware
    spec_k: F64  # speculative tokens per step (0: off)
    spec_alpha: F64  # per-token acceptance rate
    # Compiled static shapes (Neuron): a prompt is encoded alone by a graph of its own (`static`), and every
    # decode step runs the compiled batch, however many sequences are running (0 where shapes are dynamic).
    static: NDArray[np.bool_] | None = None
    compiled_batch: F64 | None = None

    def tokens_per_step(self) -> F64:
        a = np.clip(self.spec_alpha, 0.0, 0.999)
        k = self.spec_k
        gain = (1.0 - a ** (k + 1.0)) / (1.0 - a)
        return np.where(k > 0, gain, 1.0)

    def step(self, batch: F64, context: F64) -> StepTime:
        """Time of one iteration (verification + drafting when speculative)."""
        if self.compiled_batch is not None:
            batch = np.maximum(batch, self.compiled_batch)  # padded to the compiled batch
        target = decode_step(self.shape, self.place, batch, context, 1.0 + self.spec_k)
        if not np.any(self.spec_k > 0):
            return target
        draft = decode_step(self.draft, self.draft_place, batch, context)
        k = self.spec_k
        return StepTime(
            target.total + k * draft.total,
            target.memory + k * draft.memory,
            target.compute + k * draft.compute,
            target.comm + k * draft.comm,
            target.overhead + k * draft.overhead,
        )

    def per_token(self, batch: F64, context: F64) -> F64:
        return self.step(batch, context).total / self.tokens_per_step()

    def prefills(self, prompt_len: F64) -> tuple[F64, F64]:
        """(amortized, alone): one prompt's prefill inside continuous batching, and by itself. Dynamic
        shapes fold a prompt's chunks into decode steps that read the weights anyway; a compiled
        context-encoding graph runs on its own, so it costs its whole time, weights included."""
        ones = np.ones_like(prompt_len)
        alone = prefill(self.shape, self.place, ones, prompt_len).total
        amortized = prefill(self.shape, self.place, ones, prompt_len, weights_amortized=True).total
        static = self.static
        return (amortized if static is None else np.where(static, alone, amortized)), alone


@dataclass(frozen=True)
class Results:
    """Predictions per scenario; times in seconds, NaN where not estimated."""

    output_tok_s_total: F64
    ttft_mean: F64  # what most serving benchmarks publish (guidellm, NxDI's iteration averages)
    tpot_mean: F64
    ttft_p50: F64
    ttft_p99: F64
    tpot_p50: F64
    tpot_p99: F64
    bound: NDArray[np.int64]  # index into BOUNDS
    batch: F64  # concurrent sequences per replica at the operating point
    max_batch: F64  # largest batch whose KV cache fits
    fits: NDArray[np.bool_]
    slo_reachable: NDArray[np.bool_]  # False where no load meets the server-slo limits

    def bound_names(self) -> list[Bound]:
        return [BOUNDS[int(b)] for b in self.bound]


@dataclass(frozen=True)
class ModeResult:
    """One serving mode's answer per scenario (per replica)."""

    throughput: F64  # output tokens/s
    ttft_mean: F64
    tpot_mean: F64
    ttft_p50: F64
    ttft_p99: F64
    tpot_p50: F64
    tpot_p99: F64
    bound: NDArray[np.int64]
    batch: F64


def binding_resource(step: StepTime, capped_by_memory: NDArray[np.bool_]) -> NDArray[np.int64]:
    parts = np.stack([step.memory, step.compute, step.comm, step.overhead])
    idx = np.argmax(parts, axis=0).astype(np.int64)
    return np.where(capped_by_memory & (idx == 0), 4, idx)


def max_batch(shape: ShapeArrays, place: Hardware, seq_len: F64) -> F64:
    """Sequences of `seq_len` tokens whose KV cache fits next to the weights (per replica)."""
    per_seq = shape.kv_bytes(seq_len, place.kv_bytes) * place.kv_replication
    return np.floor(np.maximum(kv_capacity(shape, place), 0.0) / np.maximum(per_seq, 1.0))


def _mg1_wait(rho: F64, service: F64, quantile: float) -> F64:
    """Quantile of an M/G/1 (exponential-tail approximation) queueing delay."""
    rho = np.clip(rho, 0.0, 0.999)
    tail = 1.0 - quantile
    t = service / (1.0 - rho) * np.log(np.maximum(rho / tail, 1.0))
    return np.where(rho > tail, t, 0.0)


def static_batch(dec: Decoder, batch: F64, isl: F64, osl: F64, tail: F64, mid_context: F64,
                 end_context: F64) -> ModeResult:
    """`isl`: the prompt length prefilled; the contexts decode steps attend over, mid-way and at the end."""
    pf = prefill(dec.shape, dec.place, batch, isl)
    static = dec.static
    if static is not None:  # compiled context encoding takes one prompt at a time
        one = prefill(dec.shape, dec.place, np.ones_like(batch), isl)
        pf = StepTime(*(np.where(static, batch * a, b) for a, b in zip(
            (one.total, one.memory, one.compute, one.comm, one.overhead),
            (pf.total, pf.memory, pf.compute, pf.comm, pf.overhead), strict=True)))
    mid = dec.step(batch, mid_context)
    tpot50 = mid.total / dec.tokens_per_step()
    tpot99 = dec.per_token(batch, end_context) * tail
    ttft50 = pf.total
    ttft99 = pf.total * tail
    tput = batch * osl / (ttft50 + np.maximum(osl - 1.0, 0.0) * tpot50)
    bound = binding_resource(mid, np.zeros_like(batch, dtype=bool))
    return ModeResult(tput, ttft50, tpot50, ttft50, ttft99, tpot50, tpot99, bound, batch)


def _continuous(dec: Decoder, batch: F64, isl: F64, osl: F64, context: F64) -> tuple[F64, F64, F64, StepTime]:
    """Steady state of `batch` sequences under continuous batching, decode attending over `context`.

    Returns (TPOT, amortized prefill time per request, time to prefill one prompt alone, step).
    """
    step = dec.step(batch, context)
    pf_amortized, pf_alone = dec.prefills(isl)
    # Each step, (batch - 1)/osl other requests start; their prefill chunks ride in this step.
    stall = np.maximum(batch - 1.0, 0.0) / np.maximum(osl, 1.0) * pf_amortized
    tpot = (step.total + stall) / dec.tokens_per_step()
    return tpot, pf_amortized, pf_alone, step


def offline_max(dec: Decoder, bmax: F64, isl: F64, osl: F64, runtime_cap: F64, context: F64) -> ModeResult:
    batch = np.maximum(np.minimum(bmax, runtime_cap), 1.0)
    tpot, pf_amortized, pf_alone, step = _continuous(dec, batch, isl, osl, context)
    # Over one request lifetime the replica prefills `batch` prompts and runs `osl` decode steps.
    lifetime = batch * pf_amortized + osl * step.total / dec.tokens_per_step()
    tput = batch * osl / lifetime
    bound = binding_resource(step, bmax <= runtime_cap)
    return ModeResult(tput, pf_alone, tpot, pf_alone, pf_alone, tpot, tpot, bound, batch)


def closed_loop(dec: Decoder, clients: F64, bmax: F64, isl: F64, osl: F64, runtime_cap: F64,
                tail: F64, context: F64) -> ModeResult:
    """`clients` per replica, each sending its next request when the last one ends: fewer than one means
    the replica is idle part of the time (one client over three replicas keeps each busy a third)."""
    occupancy = np.minimum(np.minimum(clients, bmax), runtime_cap)  # sequences in flight, on average
    batch = np.maximum(occupancy, 1.0)  # a decode step runs at least one sequence
    tpot, pf_amortized, pf_alone, step = _continuous(dec, batch, isl, osl, context)
    ttft = pf_alone + 0.5 * step.total * (batch > 1)
    for _ in range(4):  # prefill queueing depends on the request rate, which depends on TTFT
        cycle = ttft + np.maximum(osl - 1.0, 0.0) * tpot
        rate = np.maximum(occupancy, 1e-9) / cycle
        rho = rate * pf_amortized
        ttft = pf_alone + 0.5 * step.total * (batch > 1) + rho * pf_amortized / (
            2.0 * (1.0 - np.clip(rho, 0.0, 0.95)))
    cycle = ttft + np.maximum(osl - 1.0, 0.0) * tpot
    rate = np.maximum(occupancy, 1e-9) / cycle
    # Clients beyond the batch wait their turn: a request's whole life is clients / rate.
    ttft = np.where(clients > batch, clients / rate - np.maximum(osl - 1.0, 0.0) * tpot, ttft)
    tput = rate * osl
    bound = binding_resource(step, clients > bmax)
    return ModeResult(tput, ttft, tpot, ttft, ttft * tail, tpot, tpot * tail, bound, batch)


def tail_at(tail99: F64, quantile: float) -> F64:
    """p-quantile over median of per-request latency, from the fitted p99 ratio (log-normal tail)."""
    return np.asarray(tail99 ** (NORMAL_Z[quantile] / NORMAL_Z[0.99]), dtype=np.float64)


# Standard normal quantiles for the percentiles a user can ask for.
NORMAL_Z = {0.5: 0.0, 0.9: 1.2816, 0.95: 1.6449, 0.99: 2.3263}


StepFn = Callable[[F64], F64]
"""Decode iteration time (s) as a function of the running batch, at each row's mean context."""


def server_at(
    step_total: StepFn, tokens_per_step: F64, rate: F64, bmax: F64, osl: F64, pf_amortized: F64,
    pf_alone: F64, pf_tail: F64 | None = None, quantile: float = 0.99,
) -> tuple[F64, F64, F64, F64, F64]:
    """Latencies at Poisson arrival `rate` (requests/s per replica).

    Returns (mean TPOT, TTFT at `quantile`, running batch, prefill utilization, step time).
    `pf_tail` is the prefill of a prompt at that quantile of prompt lengths (default: the mean one).
    """
    rho = rate * pf_amortized
    batch = np.maximum(rate * (pf_alone + osl * 0.02), 1.0)
    tpot = np.zeros_like(rate)
    # Decode steps share the replica with prefill: a step's time per token is stretched by 1 / (1 - rho).
    per_token = 1.0 / (tokens_per_step * np.maximum(1.0 - rho, 1e-3))
    waiting, decoding = rate * pf_alone, rate * osl  # Little's law: batch = waiting + decoding * tpot
    ceiling = np.maximum(bmax, 1.0)
    for _ in range(6):  # concurrency (Little's law) and TPOT depend on each other
        tpot = step_total(batch) * per_token
        batch = decoding * tpot
        batch += waiting
        np.maximum(batch, 1.0, out=batch)
        np.minimum(batch, ceiling, out=batch)
    step = step_total(batch)
    tail_pf = pf_alone if pf_tail is None else pf_tail
    ttft_q = tail_pf + step + _mg1_wait(rho, pf_amortized, quantile)
    return tpot, ttft_q, batch, rho, step


def median_ttft(pf_alone: F64, step: F64, rho: F64, pf_amortized: F64) -> F64:
    """Median TTFT at prefill utilization `rho`: the prompt's prefill, half a decode step, the queue's median."""
    out: F64 = pf_alone + 0.5 * step + _mg1_wait(rho, pf_amortized, 0.5)
    return out


def server_slo(dec: Decoder, bmax: F64, isl: F64, osl: F64, ttft_slo: F64, tpot_slo: F64,
               tail: F64, runtime_cap: F64, context: F64) -> ModeResult:
    cap = np.maximum(np.minimum(bmax, runtime_cap), 1.0)
    pf_amortized, pf_alone = dec.prefills(isl)
    hi_tput = offline_max(dec, bmax, isl, osl, runtime_cap, context).throughput
    lo = np.zeros_like(isl)
    hi = hi_tput / np.maximum(osl, 1.0) * 1.05

    def step_total(batch: F64) -> F64:
        return dec.step(batch, context).total

    tps = dec.tokens_per_step()
    for _ in range(32):  # bisection on the arrival rate: latency grows with it
        mid = (lo + hi) / 2.0
        tpot, ttft99, batch, rho, _s = server_at(step_total, tps, mid, cap, osl, pf_amortized, pf_alone)
        ok = (tpot * tail <= tpot_slo) & (ttft99 <= ttft_slo) & (rho < 0.98) & (batch < cap)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    rate = np.maximum(lo, 1e-9)
    tpot, ttft99, batch, rho, step_s = server_at(step_total, tps, rate, cap, osl, pf_amortized, pf_alone)
    ttft50 = median_ttft(pf_alone, step_s, rho, pf_amortized)
    rho_c = np.clip(rho, 0.0, 0.999)
    ttft_mean = pf_alone + 0.5 * step_s + rho_c * pf_amortized / (1.0 - rho_c)  # M/M/1-like mean wait
    step = dec.step(batch, context)
    bound = binding_resource(step, (batch >= cap * 0.95) & (bmax <= runtime_cap))
    # No positive rate meets the limits (e.g. one prompt's prefill alone exceeds the TTFT limit).
    rate = np.where(lo > 0, rate, np.nan)
    return ModeResult(rate * osl, ttft_mean, tpot, ttft50, ttft99, tpot, tpot * tail, bound, batch)
