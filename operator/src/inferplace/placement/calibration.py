"""Live calibration: compare what today's placement measures with what the engine predicts for it at
the same load, and correct the engine for that accelerator family when they differ.

Means are compared, not percentiles: `_sum/_count` series have no histogram bucket bias, while a
p95 read off vLLM's buckets can be 15-30% high (shared/reference/metrics.md §0.3). The decode step
is scaled by measured/predicted mean TPOT and the prefill by measured/predicted mean TTFT; both
scales apply to every candidate with the same chip generation and serving stack (its "scope", e.g.
hopper/vllm), since that is what one measurement can speak for: not other chips that happen to
share a fitted efficiency group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inferplace.catalog import Catalog
    from inferplace.placement.candidates import EngineKey
    from inferplace.placement.search import Outcome

AGREEMENT = 0.10  # |measured/predicted - 1| within which the engine is left alone and trusted more
PLAUSIBLE = 3.0  # beyond this factor the measurement is not of the placement the spec describes
MIN_REQUESTS_PER_SECOND = 0.01  # below this a window's means are a handful of requests


def scope_of(cat: Catalog, key: EngineKey) -> str:
    """What one live measurement speaks for: chip generation / serving stack."""
    return f"{cat.accelerators[key.accelerator].generation}/{key.framework}"


@dataclass(frozen=True)
class Calibration:
    group: str  # scope calibrated (scope_of), e.g. "hopper/vllm"
    applied: bool  # scales are used by the search
    agrees: bool  # the uncalibrated engine was within AGREEMENT of the measurement
    decode_scale: float
    prefill_scale: float
    reason: str  # CamelCase, for the Calibrated condition
    message: str

    @property
    def residual(self) -> float:
        """How far the uncalibrated engine was off (fraction), the larger of decode and prefill."""
        return max(abs(self.decode_scale - 1.0), abs(self.prefill_scale - 1.0))


class NotCalibrated(Exception):  # noqa: N818 - a state, carried by the Calibrated condition
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _ratio(measured: float | None, predicted: float) -> float | None:
    if measured is None or not math.isfinite(predicted) or predicted <= 0 or measured <= 0:
        return None
    return measured / predicted


def derive(o: Outcome, group: str | None, rps: float | None, tpot_mean_s: float | None,
           ttft_mean_s: float | None) -> Calibration:
    """Calibration from the uncalibrated outcome of a workload whose traffic is the observed one.

    Raises NotCalibrated with a reason when there is nothing to compare with.
    """
    w = o.workload
    if w.current is None or o.current_row is None or group is None:
        raise NotCalibrated("NoCurrentPlacement", o.current_note or "spec.current is not set (or cannot be "
                            "modelled), so there is no placement to compare the measurements with")
    if rps is None or rps < MIN_REQUESTS_PER_SECOND:
        raise NotCalibrated("NotEnoughTraffic", f"{rps or 0:.3g} requests/s in the window: too few to calibrate")
    row = o.current_row
    if not row.fits or row.saturated:
        raise NotCalibrated("CurrentNotModelled", "the engine cannot model today's placement at today's load "
                            "(the model does not fit, or the replicas are saturated)")
    pred_ttft, pred_tpot = row.at_mean
    r_dec = _ratio(tpot_mean_s, pred_tpot)
    r_pf = _ratio(ttft_mean_s, pred_ttft)
    if r_dec is None and r_pf is None:
        raise NotCalibrated("NoLatencyMetrics", "no mean TPOT or TTFT could be read for today's placement")
    where = f"{w.current.instance.type} ({group})"
    parts = []
    if r_dec is not None and tpot_mean_s is not None:
        parts.append(f"mean TPOT {tpot_mean_s * 1e3:.2f} ms measured vs {pred_tpot * 1e3:.2f} ms modelled")
    if r_pf is not None and ttft_mean_s is not None:
        parts.append(f"mean TTFT {ttft_mean_s * 1e3:.0f} ms measured vs {pred_ttft * 1e3:.0f} ms modelled")
    seen = "; ".join(parts) + f" on {where} at {rps:.3g} req/s"
    ratios = [r for r in (r_dec, r_pf) if r is not None]
    if any(r > PLAUSIBLE or r < 1.0 / PLAUSIBLE for r in ratios):
        return Calibration(group, False, False, r_dec or 1.0, r_pf or 1.0, "MeasurementImplausible",
                           f"{seen}: off by more than {PLAUSIBLE:g}x, so the engine was not adjusted; check that "
                           "spec.current and spec.metrics.selector describe the same servers")
    dec, pf = r_dec or 1.0, r_pf or 1.0
    if all(abs(r - 1.0) <= AGREEMENT for r in ratios):
        return Calibration(group, False, True, dec, pf, "ModelAgrees",
                           f"{seen}: within {AGREEMENT * 100:g}%, the engine is used as fitted and its error "
                           f"range for {group} is narrowed")
    return Calibration(group, True, False, dec, pf, "ModelAdjusted",
                       f"{seen}: {group} candidates use decode steps x{dec:.2f} and prefill x{pf:.2f}")
