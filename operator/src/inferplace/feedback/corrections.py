"""A fleet that learns from its misses: every verified move is a check of its scope (chip generation and
serving stack), and the checks of a scope become one bounded correction of the engine's goodput there.

A check is the ratio of what a placement served to what was promised (1 for a confirmed promise). A
scope's correction is the weighted median of its checks' ratios, each weighted by its age (halved
every `HALF_LIFE_DAYS`; checks older than `MAX_AGE_DAYS` are dropped), bounded to `BOUNDS` so one bad
check cannot zero a chip. Confirmed checks pull it back to 1 as they accumulate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from inferplace.placement.calibration import FleetCorrection, FleetCorrections

HALF_LIFE_DAYS = 30.0
MAX_AGE_DAYS = 180.0
BOUNDS = (0.5, 1.5)
MAX_CHECKS = 256  # kept in all (the oldest go first)


@dataclass(frozen=True)
class Check:
    scope: str
    ratio: float  # observed / promised goodput; 1 for a confirmed promise
    at: str  # RFC 3339
    workload: str  # namespace/name
    promise: str  # the promise's id

    def time(self) -> datetime:
        return datetime.fromisoformat(self.at.replace("Z", "+00:00"))


def _weighted_median(values: Sequence[float], weights: Sequence[float]) -> float:
    """The value with half the weight on either side; midway between two that split it exactly."""
    pairs = sorted(zip(values, weights, strict=True))
    half = sum(weights) / 2.0
    acc = 0.0
    for i, (v, w) in enumerate(pairs):
        acc += w
        if math.isclose(acc, half, rel_tol=1e-9) and i + 1 < len(pairs):
            return (v + pairs[i + 1][0]) / 2.0
        if acc > half:
            return v
    return pairs[-1][0]


def corrections(checks: Iterable[Check], now: datetime) -> FleetCorrections:
    """Per scope, the correction its recent checks give."""
    by: dict[str, list[tuple[float, float]]] = defaultdict(list)  # scope -> (ratio, age in days)
    for c in checks:
        age = max((now - c.time()).total_seconds() / 86400.0, 0.0)
        if age <= MAX_AGE_DAYS and math.isfinite(c.ratio) and c.ratio > 0:
            by[c.scope].append((c.ratio, age))
    out = {}
    for scope, items in by.items():
        logs = [math.log(r) for r, _ in items]
        weights = [0.5 ** (age / HALF_LIFE_DAYS) for _, age in items]
        factor = min(max(math.exp(_weighted_median(logs, weights)), BOUNDS[0]), BOUNDS[1])
        ages = [a for _, a in items]
        out[scope] = FleetCorrection(scope, factor, len(items), min(ages), max(ages))
    return FleetCorrections(out)


def merged(checks: Sequence[Check], new: Check) -> list[Check]:
    """The checks with `new` added, a workload's earlier check of the same promise replaced, at most MAX_CHECKS."""
    kept = [c for c in checks if (c.workload, c.promise) != (new.workload, new.promise)]
    kept.append(new)
    kept.sort(key=lambda c: c.at)
    return kept[-MAX_CHECKS:]


def to_json(checks: Sequence[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]


def from_json(raw: Any) -> list[Check]:
    """Checks as stored; anything malformed is skipped (the store is the operator's, but it is a ConfigMap)."""
    out = []
    for item in raw if isinstance(raw, list) else []:
        try:
            c = Check(str(item["scope"])[:64], float(item["ratio"]), str(item["at"])[:64], str(item["workload"])[:300],
                      str(item["promise"])[:12])
            c.time()
        except (KeyError, TypeError, ValueError):
            continue
        if math.isfinite(c.ratio) and c.ratio > 0:
            out.append(c)
    return out[-MAX_CHECKS:]


__all__ = ["BOUNDS", "HALF_LIFE_DAYS", "MAX_AGE_DAYS", "Check", "corrections", "from_json", "merged", "to_json"]
