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


@dataclass(frozen=True)
class Decoder:
    """Decode timing for one set of scenarios, with or without speculative decoding."""

    shape: ShapeArrays
    place: Hardware
    draft: ShapeArrays
    draft_place: Hardware
    spec_k: F64  # speculative tokens per step (0: off)
    spec_alpha: F64  # per-token acceptance rate

    def tokens_per_step(self) -> F64:
        a = np.clip(self.spec_alpha, 0.0, 0.999)
        k = self.spec_k
        gain = (1.0 - a ** (k + 1.0)) / (1.0 - a)
        return np.where(k > 0, gain, 1.0)

    def step(self, batch: F64, context: F64) -> StepTime:
        """Time of one iteration (verification + drafting when speculative)."""
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


@dataclass(frozen=True)
class Results:
    """Predictions per scenario; times in seconds, NaN where not estimated."""

    output_tok_s_total: F64
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


def static_batch(dec: Decoder, batch: F64, isl: F64, osl: F64, tail: F64) -> ModeResult:
    pf = prefill(dec.shape, dec.place, batch, isl)
    mid = dec.step(batch, isl + osl / 2.0)
    tpot50 = mid.total / dec.tokens_per_step()
    tpot99 = dec.per_token(batch, isl + osl) * tail
    ttft50 = pf.total
    ttft99 = pf.total * tail
    tput = batch * osl / (ttft50 + np.maximum(osl - 1.0, 0.0) * tpot50)
    bound = binding_resource(mid, np.zeros_like(batch, dtype=bool))
    return ModeResult(tput, ttft50, ttft99, tpot50, tpot99, bound, batch)


def _continuous(dec: Decoder, batch: F64, isl: F64, osl: F64) -> tuple[F64, F64, F64, StepTime]:
    """Steady state of `batch` sequences under continuous batching.

    Returns (TPOT, amortized prefill time per request, time to prefill one prompt alone, step).
    """
    step = dec.step(batch, isl + osl / 2.0)
    pf_amortized = prefill(dec.shape, dec.place, np.ones_like(isl), isl, weights_amortized=True).total
    pf_alone = prefill(dec.shape, dec.place, np.ones_like(isl), isl).total
    # Each step, (batch - 1)/osl other requests start; their prefill chunks ride in this step.
    stall = np.maximum(batch - 1.0, 0.0) / np.maximum(osl, 1.0) * pf_amortized
    tpot = (step.total + stall) / dec.tokens_per_step()
    return tpot, pf_amortized, pf_alone, step


def offline_max(dec: Decoder, bmax: F64, isl: F64, osl: F64, runtime_cap: F64) -> ModeResult:
    batch = np.maximum(np.minimum(bmax, runtime_cap), 1.0)
    tpot, pf_amortized, pf_alone, step = _continuous(dec, batch, isl, osl)
    # Over one request lifetime the replica prefills `batch` prompts and runs `osl` decode steps.
    lifetime = batch * pf_amortized + osl * step.total / dec.tokens_per_step()
    tput = batch * osl / lifetime
    bound = binding_resource(step, bmax <= runtime_cap)
    return ModeResult(tput, pf_alone, pf_alone, tpot, tpot, bound, batch)


def closed_loop(dec: Decoder, clients: F64, bmax: F64, isl: F64, osl: F64, runtime_cap: F64,
                tail: F64) -> ModeResult:
    batch = np.maximum(np.minimum(np.minimum(clients, bmax), runtime_cap), 1.0)
    tpot, pf_amortized, pf_alone, step = _continuous(dec, batch, isl, osl)
    ttft = pf_alone + 0.5 * step.total * (batch > 1)
    for _ in range(4):  # prefill queueing depends on the request rate, which depends on TTFT
        cycle = ttft + np.maximum(osl - 1.0, 0.0) * tpot
        rate = batch / cycle
        rho = rate * pf_amortized
        ttft = pf_alone + 0.5 * step.total * (batch > 1) + rho * pf_amortized / (
            2.0 * (1.0 - np.clip(rho, 0.0, 0.95)))
    cycle = ttft + np.maximum(osl - 1.0, 0.0) * tpot
    rate = batch / cycle
    # Clients beyond the batch wait their turn: a request's whole life is clients / rate.
    ttft = np.where(clients > batch, clients / rate - np.maximum(osl - 1.0, 0.0) * tpot, ttft)
    tput = rate * osl
    bound = binding_resource(step, clients > bmax)
    return ModeResult(tput, ttft, ttft * tail, tpot, tpot * tail, bound, batch)


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
    slowdown = np.maximum(1.0 - rho, 1e-3)  # decode steps share the replica with prefill
    ceiling = np.maximum(bmax, 1.0)
    for _ in range(6):  # concurrency (Little's law) and TPOT depend on each other
        tpot = step_total(batch) / tokens_per_step / slowdown
        batch = np.minimum(np.maximum(rate * (pf_alone + osl * tpot), 1.0), ceiling)
    step = step_total(batch)
    tail_pf = pf_alone if pf_tail is None else pf_tail
    ttft_q = tail_pf + step + _mg1_wait(rho, pf_amortized, quantile)
    return tpot, ttft_q, batch, rho, step


def median_ttft(pf_alone: F64, step: F64, rho: F64, pf_amortized: F64) -> F64:
    """Median TTFT at prefill utilization `rho`: the prompt's prefill, half a decode step, the queue's median."""
    out: F64 = pf_alone + 0.5 * step + _mg1_wait(rho, pf_amortized, 0.5)
    return out


def server_slo(dec: Decoder, bmax: F64, isl: F64, osl: F64, ttft_slo: F64, tpot_slo: F64,
               tail: F64, runtime_cap: F64) -> ModeResult:
    cap = np.maximum(np.minimum(bmax, runtime_cap), 1.0)
    pf_amortized = prefill(dec.shape, dec.place, np.ones_like(isl), isl, weights_amortized=True).total
    pf_alone = prefill(dec.shape, dec.place, np.ones_like(isl), isl).total
    hi_tput = offline_max(dec, bmax, isl, osl, runtime_cap).throughput
    lo = np.zeros_like(isl)
    hi = hi_tput / np.maximum(osl, 1.0) * 1.05
    context = isl + osl / 2.0

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
    step = dec.step(batch, isl + osl / 2.0)
    bound = binding_resource(step, (batch >= cap * 0.95) & (bmax <= runtime_cap))
    # No positive rate meets the limits (e.g. one prompt's prefill alone exceeds the TTFT limit).
    rate = np.where(lo > 0, rate, np.nan)
    return ModeResult(rate * osl, ttft50, ttft99, tpot, tpot * tail, bound, batch)
