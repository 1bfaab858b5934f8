"""The engine pass of the placement search: for each engine row, the request rate one replica serves
within the SLOs, the replicas the workload's peak needs (or today's fleet), and the latency at the
peak and at the mean load. Rows of many workloads are predicted together, in one vectorized pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from inferplace.catalog import Catalog
from inferplace.engine import LIMITS
from inferplace.engine.batch import ScenarioArrays
from inferplace.engine.slo import SloModel, Tails
from inferplace.engine.tco import Demand, replicas_for
from inferplace.placement.scenarios import Scenario, to_arrays
from inferplace.placement.workload import Workload

F64 = NDArray[np.float64]


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
    sa = to_arrays([r.scenario for r in requests], cat)
    if any(r.scales is not None for r in requests):
        decode = np.array([r.scales[0] if r.scales else 1.0 for r in requests])
        prefill = np.array([r.scales[1] if r.scales else 1.0 for r in requests])
        sa = replace(sa, decode_scale=decode, prefill_scale=prefill)
    return _predict(sa, requests)


def _predict(sa: ScenarioArrays, requests: Sequence[RowRequest]) -> list[RowResult]:
    # A workload's figures are read once, not once per row (a workload has ~50 rows), then spread to its rows.
    owners: dict[int, int] = {}
    ws: list[Workload] = []
    for r in requests:
        if id(r.workload) not in owners:
            owners[id(r.workload)] = len(ws)
            ws.append(r.workload)
    of = np.fromiter((owners[id(r.workload)] for r in requests), dtype=np.int64, count=len(requests))

    def col(values: list[float]) -> F64:
        return np.asarray(values, dtype=np.float64)[of]

    tails = Tails(prompt_tokens=col([w.prompt_p95 for w in ws]), output_tokens=col([w.output_p95 for w in ws]),
                  e2e_slo=col([w.e2e_slo_s for w in ws]))
    model = SloModel(sa, tails)  # prepared once: capacity and latencies from the same setup
    cap = model.capacity()
    demand = Demand(col([w.rps for w in ws]), col([w.peak_to_mean for w in ws]), col([w.retry_rate for w in ws]))
    peak, mean = np.asarray(demand.peak, dtype=np.float64), np.asarray(demand.mean, dtype=np.float64)
    sized = replicas_for(cap.rate, peak, col([w.target_utilization for w in ws]), col([w.min_replicas for w in ws]),
                         col([w.spare_replicas for w in ws]))
    fixed = np.array([math.nan if r.replicas is None else r.replicas for r in requests], dtype=np.float64)
    replicas = np.where(np.isnan(fixed), np.where(np.isfinite(sized), sized, 0.0), fixed)
    both = model.latency_at(np.stack([peak, mean]) / np.maximum(replicas, 1.0))
    lat, at_mean = both.point(0), both.point(1)
    unloaded = cap.unloaded
    # Whole columns to Python values at once (per-element conversion is the slow part at this size), and
    # each RowResult made positionally (keywords cost more than the rest of its construction).
    return list(map(
        RowResult, cap.rate.tolist(), cap.fits.tolist(), cap.bound.tolist(), replicas.astype(np.int64).tolist(),
        zip(lat.ttft.tolist(), lat.tpot.tolist(), lat.e2e.tolist(), strict=True), lat.saturated.tolist(),
        zip(unloaded.ttft.tolist(), unloaded.tpot.tolist(), unloaded.e2e.tolist(), strict=True),
        zip(at_mean.ttft_mean.tolist(), at_mean.tpot_mean.tolist(), strict=True), lat.batch.tolist(),
        cap.limit.tolist()))
