"""Goodput under latency objectives: how many requests per second one replica serves while the
TTFT, TPOT and end-to-end percentiles a workload asks for still hold, and what latency it sees at a
given load.

Arrivals are Poisson at the workload's mean token mix. The TTFT percentile uses the prefill of a
prompt at that percentile of prompt lengths plus the prefill queue's wait at that percentile; the
TPOT percentile scales the mean by the fitted tail ratio; the end-to-end percentile adds the
percentile output length's decode time to the TTFT percentile.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from inferplace.engine.batch import ScenarioArrays, bucketed, prepare
from inferplace.engine.roofline import prefill
from inferplace.engine.serving import LIMITS, Decoder, binding_resource, server_at, tail_at

F64 = NDArray[np.float64]

# The rate search tries POINTS rates at once per round, narrowing the bracket POINTS+1-fold:
# 5 rounds of 8 resolve the SLO limit to 1/59049 of the first bracket, far below any other error.
SEARCH_ROUNDS = 5
SEARCH_POINTS = 8
STEP_GRID = 40  # batch sizes (geometric, 1 .. cap) at which a decode step is computed exactly
# From this many rows the search first drops those no load can satisfy: an extra pass, which pays for itself
# from about 180 rows (measured: 116 rows 1.26 ms with it against 1.20 ms without, 232 rows 1.53 against
# 1.58); the operator's batches of 4 workloads and the CLI's chunks, not one workload's ~56.
SKIP_HOPELESS_FROM = 180


@dataclass(frozen=True)
class Tails:
    """The workload's percentile inputs, one entry per row."""

    prompt_tokens: F64  # prompt length at the percentile
    output_tokens: F64  # output length at the percentile
    e2e_slo: F64  # s; inf when none
    quantile: float = 0.95


@dataclass(frozen=True)
class Latency:
    """Latencies (s) at the percentile, per row, at a given load."""

    ttft: F64
    tpot: F64
    e2e: F64
    batch: F64  # running sequences per replica
    prefill_utilization: F64
    saturated: NDArray[np.bool_]  # the load exceeds what the replica can serve: queues grow without bound
    ttft_mean: F64  # means: what live `_sum/_count` series measure without histogram bucket bias
    tpot_mean: F64

    def point(self, k: int) -> Latency:
        """The latencies at the `k`th of several loads evaluated stacked (a leading axis of loads)."""
        return Latency(*(getattr(self, f.name)[k] for f in fields(Latency)))


@dataclass(frozen=True)
class SloCapacity:
    rate: F64  # requests/s per replica at the SLO limit; NaN where no load meets it
    fits: NDArray[np.bool_]
    max_batch: F64
    bound: NDArray[np.int64]  # index into serving.BOUNDS at the limit
    unloaded: Latency  # latency of a lone request: which objective is out of reach
    limit: NDArray[np.int64]  # index into serving.LIMITS: what fails just above the rate


class StepTable:
    """Decode step time vs batch per row, interpolated in a table computed once (see `step_table`);
    `take` gives some rows' table (the search narrows only the rows some load can still satisfy)."""

    def __init__(self, flat: F64, slope: F64, base: NDArray[np.int64], cap: F64, scale: F64) -> None:
        self.flat, self.slope, self.base, self.cap, self.scale = flat, slope, base, cap, scale

    def take(self, rows: NDArray[np.int64]) -> StepTable:
        return StepTable(self.flat, self.slope, self.base[rows], self.cap[rows], self.scale[rows])

    def __call__(self, batch: F64) -> F64:
        # In place where a temporary is ours: the search calls this on (points, rows) arrays many times.
        u = np.minimum(np.maximum(batch, 1.0), self.cap)
        np.log(u, out=u)
        u *= self.scale
        i = u.astype(np.int64)
        np.minimum(i, STEP_GRID - 2, out=i)
        u -= i  # the fraction of the way to the next grid point
        i += self.base
        out: F64 = self.slope[i]
        out *= u
        out += self.flat[i]
        return out


def step_table(dec: Decoder, cap: F64, context: F64, time_scale: F64 | None = None) -> StepTable:
    """Decode step time vs batch, computed once on a geometric grid and interpolated after.

    The step is piecewise linear in the batch (bytes and FLOPs both grow linearly), so 40 points
    between 1 and the batch cap keep the interpolation within a fraction of a percent, and the
    bisection below costs a table lookup per iteration instead of a roofline evaluation.
    """
    frac = np.arange(STEP_GRID, dtype=np.float64)[:, None] / (STEP_GRID - 1)
    grid = cap[None, :] ** frac  # (grid, rows): broadcasts against per-row arrays
    table = dec.step(grid, context).total
    if time_scale is not None:  # live calibration of the step time, per row
        table = table * time_scale[None, :]
    log_cap = np.log(cap)
    scale = np.where(log_cap > 0, (STEP_GRID - 1) / np.where(log_cap > 0, log_cap, 1.0), 0.0)
    flat = table.T.ravel()  # row r's grid at [r * STEP_GRID, (r + 1) * STEP_GRID)
    slope = np.append(np.diff(flat), 0.0)  # slope[j] == flat[j + 1] - flat[j]: one lookup, not two
    return StepTable(flat, slope, np.arange(cap.size) * STEP_GRID, cap, scale)


@dataclass(frozen=True)
class _Rows:
    """What the latency at a rate needs, per row (`take`: some rows' of it)."""

    step_total: StepTable
    tokens_per_step: F64
    cap: F64
    osl: F64
    pf_amortized: F64
    pf_alone: F64
    pf_tail: F64
    tail: F64
    decode_tokens: F64  # tokens decoded after the first by a request at the output-length percentile
    ttft_slo: F64
    tpot_slo: F64
    e2e_slo: F64

    def take(self, rows: NDArray[np.int64]) -> _Rows:
        return _Rows(**{f.name: getattr(self, f.name).take(rows) if f.name == "step_total" else
                        getattr(self, f.name)[rows] for f in fields(self)})

    def meets(self, lat: Latency) -> NDArray[np.bool_]:
        """Every objective met, and the replica keeps up."""
        out: NDArray[np.bool_] = ((lat.ttft <= self.ttft_slo) & (lat.tpot <= self.tpot_slo)
                                  & (lat.e2e <= self.e2e_slo) & ~lat.saturated)
        return out


@dataclass(frozen=True)
class _Setup:
    dec: Decoder
    rows: _Rows
    bmax: F64
    context: F64  # tokens a decode step attends over (its bucket under static shapes)
    fits: NDArray[np.bool_]


def _setup(sa: ScenarioArrays, tails: Tails) -> _Setup:
    floor = sa.eff.bucket_floor  # compiled static shapes: a prompt and a context cost their bucket
    context = bucketed(sa.isl + sa.osl / 2.0, floor)
    prep = prepare(sa, context, padded=False)  # a fleet is compiled for the batch it is sized to run
    ones = np.ones_like(sa.isl)
    dec = prep.dec
    isl = bucketed(sa.isl, floor)
    pf_amortized, pf_alone = dec.prefills(isl)
    pf_tail = prefill(dec.shape, dec.place, ones, bucketed(np.maximum(tails.prompt_tokens, sa.isl), floor)).total
    if sa.prefill_scale is not None:
        pf_amortized, pf_alone, pf_tail = (x * sa.prefill_scale for x in (pf_amortized, pf_alone, pf_tail))
    cap = np.maximum(np.minimum(prep.bmax, sa.eff.runtime_max_batch), 1.0)
    rows = _Rows(step_table(dec, cap, context, sa.decode_scale), dec.tokens_per_step(), cap, sa.osl, pf_amortized,
                 pf_alone, pf_tail, tail_at(sa.eff.tail_ratio, tails.quantile),
                 np.maximum(np.maximum(tails.output_tokens, sa.osl) - 1.0, 0.0), sa.ttft_slo, sa.tpot_slo,
                 tails.e2e_slo)
    return _Setup(dec, rows, prep.bmax, context, prep.fits)


def _latency(r: _Rows, quantile: float, rate: F64) -> Latency:
    tpot, ttft_q, batch, rho, step = server_at(
        r.step_total, r.tokens_per_step, rate, r.cap, r.osl, r.pf_amortized, r.pf_alone, r.pf_tail, quantile)
    tpot_q = tpot * r.tail
    e2e = ttft_q + r.decode_tokens * tpot_q
    # Mean wait of the exponential-tail M/G/1 approximation that gives the percentile in server_at.
    busy = np.clip(rho, 0.0, 0.999)
    ttft_mean = r.pf_alone + 0.5 * step + busy * r.pf_amortized / (1.0 - busy)
    return Latency(ttft_q, tpot_q, e2e, batch, rho, (rho >= 0.98) | (batch >= r.cap), ttft_mean, tpot)


class SloModel:
    """One set of scenarios prepared once (decoder, batch limits, prefill times, the decode-step
    table), then asked for its SLO capacity and for latencies at any load."""

    def __init__(self, sa: ScenarioArrays, tails: Tails):
        self.sa = sa
        self.tails = tails
        self.st = _setup(sa, tails)

    def latency_at(self, rate: F64) -> Latency:
        """Latency percentiles at `rate` requests/s per replica (NaN where the model does not fit)."""
        st = self.st
        lat = _latency(st.rows, self.tails.quantile, np.maximum(rate, 1e-9))
        nan = np.where(st.fits, 1.0, np.nan)
        return Latency(lat.ttft * nan, lat.tpot * nan, lat.e2e * nan, lat.batch * nan,
                       lat.prefill_utilization * nan, lat.saturated, lat.ttft_mean * nan, lat.tpot_mean * nan)

    def capacity(self) -> SloCapacity:
        """The largest Poisson request rate per replica meeting `sa.ttft_slo`, `sa.tpot_slo` and
        `tails.e2e_slo` at `tails.quantile`. Every latency grows with the rate, so the feasible rates
        are an interval from zero."""
        sa, st, tails = self.sa, self.st, self.tails
        rows, q = st.rows, tails.quantile
        # Upper bound: every decode slot busy at the fastest step, prefill included.
        step_full = rows.step_total(rows.cap) / rows.tokens_per_step
        hi = rows.cap / (np.maximum(sa.osl, 1.0) * step_full + rows.pf_amortized * rows.cap) * 1.5
        lo = np.zeros_like(hi)
        steps = np.arange(1, SEARCH_POINTS + 1, dtype=np.float64)[:, None] / (SEARCH_POINTS + 1)
        unloaded: Latency | None = None
        if hi.size >= SKIP_HOPELESS_FROM:
            # A lone request first: a row whose objectives fail even then fails at every rate (every latency
            # grows with it), so only the others are searched; the rest keep lo = 0 and the bracket the search
            # would have narrowed to its first point every round (the same numbers, without the work).
            unloaded = _latency(rows, q, np.full_like(sa.osl, 1e-9))
            alive = np.flatnonzero(rows.meets(unloaded))
            some = rows.take(alive)
            a_lo, a_hi = lo[alive], hi[alive]
            for _ in range(SEARCH_ROUNDS):  # every point fails: lo + (hi - lo) * steps[0], lo = 0, bit for bit
                hi = hi * steps[0, 0]
        else:  # a few rows: one more pass over them all costs more than it saves
            alive, some, a_lo, a_hi = np.arange(hi.size), rows, lo, hi
        cols = np.arange(alive.size)
        for _ in range(SEARCH_ROUNDS):
            pts = a_lo + (a_hi - a_lo) * steps  # (points, rows): every latency broadcasts over the rows
            ok = some.meets(_latency(some, q, pts))
            first_fail = np.where(ok.all(axis=0), SEARCH_POINTS, np.argmin(ok, axis=0))
            new_lo = np.where(first_fail > 0, pts[np.maximum(first_fail - 1, 0), cols], a_lo)
            a_hi = np.where(first_fail < SEARCH_POINTS, pts[np.minimum(first_fail, SEARCH_POINTS - 1), cols], a_hi)
            a_lo = new_lo
        lo[alive], hi[alive] = a_lo, a_hi
        reachable = st.fits & (lo > 0)
        # The limit found and just above it (and a lone request, unless it came first), in one pass.
        points = [np.maximum(lo, 1e-9), np.maximum(hi, 1e-9)]
        if unloaded is None:
            at = _latency(rows, q, np.stack([np.full_like(lo, 1e-9), *points]))
            unloaded, lat, over = (at.point(k) for k in (0, 1, 2))
        else:
            at = _latency(rows, q, np.stack(points))
            lat, over = (at.point(k) for k in (0, 1))
        step = st.dec.step(lat.batch, st.context)
        bound = binding_resource(step, (lat.batch >= rows.cap * 0.95) & (st.bmax <= sa.eff.runtime_max_batch))
        return SloCapacity(
            rate=np.where(reachable, lo, np.nan),
            fits=st.fits,
            max_batch=st.bmax,
            bound=bound,
            unloaded=unloaded,
            limit=_limit(sa, st, over),
        )


def _limit(sa: ScenarioArrays, st: _Setup, over: Latency) -> NDArray[np.int64]:
    """Which constraint fails first just above the SLO limit (index into LIMITS): a full batch (the runtime's
    limit, or the KV cache the memory holds) or a saturated prefill queue before an objective, then the
    objectives in the order TTFT, TPOT, end-to-end."""
    rows = st.rows
    full = over.batch >= rows.cap * 0.999
    at = LIMITS.index
    # A full batch is the runtime's limit, or the KV cache's where the memory holds fewer than the runtime takes.
    batch_cap = np.where(st.bmax < sa.eff.runtime_max_batch, at("KV-cache memory"), at("batch limit"))
    out = np.where(over.ttft > rows.ttft_slo, at("TTFT objective"), np.where(
        over.tpot > rows.tpot_slo, at("TPOT objective"),
        np.where(over.e2e > rows.e2e_slo, at("end-to-end objective"), at("throughput"))))
    out = np.where(full, batch_cap, np.where(over.prefill_utilization >= 0.98, at("throughput"), out))
    return out.astype(np.int64)


def latency_at(sa: ScenarioArrays, tails: Tails, rate: F64) -> Latency:
    """Latency percentiles at `rate` requests/s per replica (NaN where the model does not fit)."""
    return SloModel(sa, tails).latency_at(rate)


def slo_capacity(sa: ScenarioArrays, tails: Tails) -> SloCapacity:
    """The largest Poisson request rate per replica meeting the SLOs (see SloModel.capacity)."""
    return SloModel(sa, tails).capacity()
