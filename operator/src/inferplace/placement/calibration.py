"""A live calibration of the engine, as a value the search is given.

Deriving one from a measurement of today's placement is `calibrate.py`'s job (above the search); this
module only says what a calibration is and which engine rows it speaks for: those of the same chip
generation and serving stack (its scope, e.g. `hopper/vllm`), not other chips that happen to share a
fitted efficiency group.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    scope: str  # EngineKey.scope calibrated, e.g. "hopper/vllm"
    applied: bool  # the scales are used by the search
    agrees: bool  # the uncalibrated engine was within the agreement band of the measurement
    decode_scale: float  # measured / modelled mean TPOT
    prefill_scale: float  # measured / modelled mean TTFT
    reason: str  # CamelCase, for the Calibrated condition
    message: str

    @property
    def residual(self) -> float:
        """How far the uncalibrated engine was off (fraction), the larger of decode and prefill."""
        return max(abs(self.decode_scale - 1.0), abs(self.prefill_scale - 1.0))

    def scales(self, scope: str) -> tuple[float, float] | None:
        """(decode, prefill) time scales for an engine row of `scope`; None where nothing changes."""
        return (self.decode_scale, self.prefill_scale) if self.applied and scope == self.scope else None


@dataclass(frozen=True)
class Uncalibrated:
    """Why there is no calibration (the Calibrated condition's reason and message)."""

    reason: str
    message: str


@dataclass(frozen=True)
class FleetCorrection:
    """What live checks of moved workloads say about one scope's goodput: multiply it by `factor`."""

    scope: str  # EngineKey.scope, e.g. "neuron-v3/nxdi"
    factor: float  # observed over promised goodput (bounded), weighted towards recent checks
    checks: int
    newest_days: float  # age of the newest check
    oldest_days: float

    def describe(self) -> str:
        return (f"corrected by {self.checks} live check{'s' if self.checks != 1 else ''} of {self.scope}: "
                f"throughput x{self.factor:.2f} (newest {self.newest_days:.0f} days old)")


@dataclass(frozen=True)
class FleetCorrections:
    """Per scope, the correction the fleet's checks give; a scope without one is predicted as fitted."""

    by_scope: dict[str, FleetCorrection]

    def get(self, scope: str) -> FleetCorrection | None:
        return self.by_scope.get(scope)


NO_CORRECTIONS = FleetCorrections({})
