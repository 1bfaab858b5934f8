"""The engine pass of the placement search: for each engine row, the request rate one replica serves
within the SLOs, the replicas the workload's peak needs (or today's fleet), and the latency at the
peak and at the mean load. Rows of many workloads are predicted together, in one vectorized pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from inferplace.catalog import Catalog
from inferplace.engine import LIMITS
from inferplace.engine.batch import ScenarioArrays
from inferplace.engine.slo import Latency, SloModel, Tails
from inferplace.engine.tco import Demand, replicas_for
from inferplace.placement.scenarios import Scenario, to_arrays
from inferplace.placement.workload import Workload

F64 = NDArray[np.float64]
Column = Callable[[Callable[[Workload], float]], F64]  # a workload figure -> its value on every row


@dataclass(slots=True)
class RowResult:  # not changed once made; not frozen: a search makes one per engine row, and a frozen init is 4x slower
    """Engine answers for one row (per replica)."""

    rate: float  # requests/s within the SLOs (NaN: none)
    fits: bool
    bound: int  # index into engine BOUNDS
    replicas: int  # for the workload's peak demand (today's count on today's row)
    latency: tuple[float, float, float]  # ttft, tpot, e2e p95 (s) at peak, at `replicas`
    saturated: bool  # at that load the replica cannot keep up (latencies meaningless)
    unloaded: tuple[float, float, float]
    at_mean: tuple[float, float]  # mean TTFT and mean TPOT (s) at the mean load, at `replicas`
    batch: float = math.nan  # running sequences per replica at peak (what the evidence must cover)
    limit: int = LIMITS.index("throughput")  # engine LIMITS: what stops the replica taking more requests within SLOs

    @property
    def serves(self) -> bool:
        """Some load is met within the SLOs: a candidate on this row can be sized and costed."""
        return self.fits and math.isfinite(self.rate) and self.rate > 0


class RowRequest(NamedTuple):  # a tuple: a search makes one per engine row, and a frozen init is slow
    """One engine row to predict: the scenario, whose traffic it carries, and its fleet."""

    scenario: Scenario
    workload: Workload
    replicas: int | None = None  # None: as many as the peak needs; else a given fleet (today's)
    scales: tuple[float, float] | None = None  # live calibration (decode, prefill); None: as fitted


def predict_rows(requests: Sequence[RowRequest], cat: Catalog) -> list[RowResult]:
    """SLO goodput, replicas and latency at peak and mean load for each request, in one engine pass."""
    if not requests:
        return []
    return _predict(_arrays(requests, cat), requests)


class AtFleet(NamedTuple):
    """A given fleet's latency at its workload's load (per replica: the load over its replicas)."""

    fits: bool
    saturated: bool  # at the peak load the replica cannot keep up (latencies meaningless)
    at_mean: tuple[float, float]  # mean TTFT and mean TPOT (s) at the mean load


def predict_at_fleet(requests: Sequence[RowRequest], cat: Catalog) -> list[AtFleet]:
    """Each request's fleet (its `replicas`, which must be given) at its peak and mean load, in one engine
    pass without the SLO capacity search: what a calibration compares with measurements. The same
    numbers as `predict_rows`' `fits`, `saturated` and `at_mean` for the same requests."""
    if not requests:
        return []
    if any(r.replicas is None for r in requests):
        raise ValueError("predict_at_fleet needs each request's replicas")
    sa = _arrays(requests, cat)
    col = _workload_columns(requests)
    model = SloModel(sa, _tails(col))
    peak, mean = _loads(col)
    lat, at_mean = _at_loads(model, peak, mean, np.array([r.replicas for r in requests], dtype=np.float64))
    return list(map(AtFleet, model.st.fits.tolist(), lat.saturated.tolist(),
                    zip(at_mean.ttft_mean.tolist(), at_mean.tpot_mean.tolist(), strict=True)))


def _arrays(requests: Sequence[RowRequest], cat: Catalog) -> ScenarioArrays:
    sa = to_arrays([r.scenario for r in requests], cat)
    if any(r.scales is not None for r in requests):
        decode = np.array([r.scales[0] if r.scales else 1.0 for r in requests])
        prefill = np.array([r.scales[1] if r.scales else 1.0 for r in requests])
        sa = replace(sa, decode_scale=decode, prefill_scale=prefill)
    return sa


def _workload_columns(requests: Sequence[RowRequest]) -> Column:
    """`col(figure)`: a workload figure for every row. A workload's figures are read once, not once per
    row (a workload has ~50 rows), then spread to its rows."""
    owners: dict[int, int] = {}
    ws: list[Workload] = []
    for r in requests:
        if id(r.workload) not in owners:
            owners[id(r.workload)] = len(ws)
            ws.append(r.workload)
    of = np.fromiter((owners[id(r.workload)] for r in requests), dtype=np.int64, count=len(requests))

    def col(figure: Callable[[Workload], float]) -> F64:
        return np.asarray([figure(w) for w in ws], dtype=np.float64)[of]

    return col


def _tails(col: Column) -> Tails:
    return Tails(prompt_tokens=col(lambda w: w.prompt_p95), output_tokens=col(lambda w: w.output_p95),
                 e2e_slo=col(lambda w: w.e2e_slo_s))


def _loads(col: Column) -> tuple[F64, F64]:
    """Each row's workload's peak and mean request rate."""
    demand = Demand(col(lambda w: w.rps), col(lambda w: w.peak_to_mean), col(lambda w: w.retry_rate))
    return np.asarray(demand.peak, dtype=np.float64), np.asarray(demand.mean, dtype=np.float64)


def _at_loads(model: SloModel, peak: F64, mean: F64, replicas: F64) -> tuple[Latency, Latency]:
    """Latency at the peak and at the mean load, spread over `replicas`, in one pass."""
    both = model.latency_at(np.stack([peak, mean]) / np.maximum(replicas, 1.0))
    return both.point(0), both.point(1)


def _predict(sa: ScenarioArrays, requests: Sequence[RowRequest]) -> list[RowResult]:
    col = _workload_columns(requests)
    tails = _tails(col)
    model = SloModel(sa, tails)  # prepared once: capacity and latencies from the same setup
    cap = model.capacity()
    peak, mean = _loads(col)
    sized = replicas_for(cap.rate, peak, col(lambda w: w.target_utilization), col(lambda w: w.min_replicas),
                         col(lambda w: w.spare_replicas))
    fixed = np.array([math.nan if r.replicas is None else r.replicas for r in requests], dtype=np.float64)
    replicas = np.where(np.isnan(fixed), np.where(np.isfinite(sized), sized, 0.0), fixed)
    lat, at_mean = _at_loads(model, peak, mean, replicas)
    unloaded = cap.unloaded
    # Whole columns to Python values at once (per-element conversion is the slow part at this size), and
    # each RowResult made positionally (keywords cost more than the rest of its construction).
    return list(map(
        RowResult, cap.rate.tolist(), cap.fits.tolist(), cap.bound.tolist(), replicas.astype(np.int64).tolist(),
        zip(lat.ttft.tolist(), lat.tpot.tolist(), lat.e2e.tolist(), strict=True), lat.saturated.tolist(),
        zip(unloaded.ttft.tolist(), unloaded.tpot.tolist(), unloaded.e2e.tolist(), strict=True),
        zip(at_mean.ttft_mean.tolist(), at_mean.tpot_mean.tolist(), strict=True), lat.batch.tolist(),
        cap.limit.tolist()))
