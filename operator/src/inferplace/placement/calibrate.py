"""Live calibration: compare what today's placement measures with what the engine predicts for it at
the same load, and say how to correct the engine for that chip generation and serving stack.

Means are compared, not percentiles: `_sum/_count` series have no histogram bucket bias, while a
p95 read off vLLM's buckets can be 15-30% high. The decode step is scaled by measured/predicted mean
TPOT and the prefill by measured/predicted mean TTFT. The result is a value handed to the one search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from inferplace.catalog import Catalog
from inferplace.metrics.observation import Observation
from inferplace.placement.calibration import Calibration, Uncalibrated
from inferplace.placement.candidates import current_key, scenario_for
from inferplace.placement.predict import AtFleet, RowRequest, predict_at_fleet
from inferplace.placement.settings import DEFAULTS, CalibrationBands
from inferplace.placement.workload import Current, Workload


def _ratio(measured: float | None, predicted: float) -> float | None:
    if measured is None or not math.isfinite(predicted) or predicted <= 0 or measured <= 0:
        return None
    return measured / predicted


def derive_calibration(w: Workload, cat: Catalog, obs: Observation | None,
                       bands: CalibrationBands = DEFAULTS.calibration) -> Calibration | Uncalibrated:
    """A calibration from live latency on today's placement, for a workload whose traffic is the
    observed one; or why there is none."""
    (cal,) = derive_calibrations([(w, obs)], cat, bands)
    return cal


def derive_calibrations(items: Sequence[tuple[Workload, Observation | None]], cat: Catalog,
                        bands: CalibrationBands = DEFAULTS.calibration) -> list[Calibration | Uncalibrated]:
    """`derive_calibration` of each (workload, observation), today's placements predicted together (one
    engine pass: most of a single calibration's time is the pass's fixed cost; today's fleet at today's
    load, so no SLO capacity search)."""
    found = [_comparison(w, cat, obs, bands) for w, obs in items]
    rows = iter(predict_at_fleet([f.request for f in found if isinstance(f, _Comparison)], cat))
    return [f if isinstance(f, Uncalibrated) else _from_prediction(f, next(rows), bands) for f in found]


@dataclass(frozen=True)
class _Comparison:
    """Today's placement, measured, to be compared with its prediction."""

    request: RowRequest
    observed: Observation
    current: Current
    scope: str


def _comparison(w: Workload, cat: Catalog, obs: Observation | None,
                bands: CalibrationBands) -> _Comparison | Uncalibrated:
    """What to compare today's measurements with, or why there is no calibration to derive."""
    if obs is None:
        return Uncalibrated("NoMetrics", "no live latency to calibrate with")
    key, note = current_key(w, cat)
    if w.current is None or key is None:
        return Uncalibrated("NoCurrentPlacement", note or "spec.current is not set (or cannot be modelled), so "
                            "there is no placement to compare the measurements with")
    if w.rps < bands.min_requests_per_second:
        return Uncalibrated("NotEnoughTraffic", f"{w.rps or 0:.3g} requests/s in the window: too few to calibrate")
    acc = cat.accelerators[w.current.instance.accelerator]
    return _Comparison(RowRequest(scenario_for(w, acc, key), w, w.current.replicas), obs, w.current, key.scope)


def _from_prediction(c: _Comparison, row: AtFleet, bands: CalibrationBands) -> Calibration | Uncalibrated:
    """The calibration from today's placement as measured and as predicted (`row`)."""
    obs, scope, rps = c.observed, c.scope, c.request.workload.rps
    if not row.fits or row.saturated:
        return Uncalibrated("CurrentNotModelled", "the engine cannot model today's placement at today's load "
                            "(the model does not fit, or the replicas are saturated)")
    pred_ttft, pred_tpot = row.at_mean
    r_dec = _ratio(obs.tpot_mean_s, pred_tpot)
    r_pf = _ratio(obs.ttft_mean_s, pred_ttft)
    if r_dec is None and r_pf is None:
        return Uncalibrated("NoLatencyMetrics", "no mean TPOT or TTFT could be read for today's placement")
    where = f"{c.current.instance.type} ({scope})"
    parts = []
    if r_dec is not None and obs.tpot_mean_s is not None:
        parts.append(f"mean TPOT {obs.tpot_mean_s * 1e3:.2f} ms measured vs {pred_tpot * 1e3:.2f} ms modelled")
    if r_pf is not None and obs.ttft_mean_s is not None:
        parts.append(f"mean TTFT {obs.ttft_mean_s * 1e3:.0f} ms measured vs {pred_ttft * 1e3:.0f} ms modelled")
    seen = "; ".join(parts) + f" on {where} at {rps:.3g} req/s"
    ratios = [r for r in (r_dec, r_pf) if r is not None]
    dec, pf = r_dec or 1.0, r_pf or 1.0
    far = bands.plausible_factor
    if any(r > far or r < 1.0 / far for r in ratios):
        return Calibration(scope, False, False, dec, pf, "MeasurementImplausible",
                           f"{seen}: off by more than {far:g}x, so the engine was not adjusted; check that "
                           "spec.current and spec.metrics.selector describe the same servers")
    if all(abs(r - 1.0) <= bands.agreement for r in ratios):
        return Calibration(scope, False, True, dec, pf, "ModelAgrees",
                           f"{seen}: within {bands.agreement * 100:g}%, the engine is used as fitted and its error "
                           f"range for {scope} is narrowed")
    return Calibration(scope, True, False, dec, pf, "ModelAdjusted",
                       f"{seen}: {scope} candidates use decode steps x{dec:.2f} and prefill x{pf:.2f}")
