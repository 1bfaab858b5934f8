"""Placement: resolve a workload against the catalog, predict every candidate with the engine, cost
them with the TCO model, assess the confidence and report the cheapest that meets the SLOs.

One way through, each step a module of its own:
    workload.resolve -> candidates -> predict (engine) -> cost -> search (decide) -> confidence -> report
Live measurements enter as values: `traffic.observed_traffic` (the workload's traffic) and
`calibrate.derive_calibration` (a correction of the engine), both before the one search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from inferplace.api.spec import InferenceWorkloadSpec
from inferplace.catalog import Catalog
from inferplace.placement.breakeven import BreakEven, break_evens
from inferplace.placement.calibration import Calibration
from inferplace.placement.confidence import Estimate, assess_all
from inferplace.placement.report import PlotPoint, Report, build_report
from inferplace.placement.search import Choice, Outcome, search
from inferplace.placement.settings import DEFAULTS, Settings
from inferplace.placement.workload import RegionDefault, Workload, WorkloadError, resolve
from inferplace.pricing import PriceBook

__all__ = ["Assessed", "PlotPoint", "RegionDefault", "Report", "Workload", "WorkloadError", "assess_outcomes",
           "recommend", "report", "report_with", "resolve"]


def report(o: Outcome, cat: Catalog, now: datetime, generation: int | None = None,
           settings: Settings = DEFAULTS) -> Report:
    """The status of one outcome: its alternatives, each assessed, formatted."""
    return report_with(o, o.alternatives(settings.report.max_alternatives), cat, now, generation, settings)


def report_with(o: Outcome, alternatives: Sequence[Choice], cat: Catalog, now: datetime,
                generation: int | None = None, settings: Settings = DEFAULTS) -> Report:
    """The status of one outcome with the alternatives given (e.g. the placement a team already runs)."""
    (a,) = assess_outcomes([(o, alternatives)], cat, now, settings)
    return a.report(cat, now, generation, settings)


@dataclass(frozen=True)
class Assessed:
    """An outcome with the choices it shows assessed and its break-even found: all a report needs."""

    outcome: Outcome
    alternatives: Sequence[Choice]  # shown after the recommendation (all shown, when there is none)
    estimates: Sequence[Estimate]  # of the recommendation, then of each alternative
    break_even: BreakEven | None

    def report(self, cat: Catalog, now: datetime, generation: int | None = None,
               settings: Settings = DEFAULTS) -> Report:
        return build_report(self.outcome, self.alternatives, self.estimates, self.break_even, cat, now, generation,
                            settings.pricing.max_age_days)


def assess_outcomes(asked: Sequence[tuple[Outcome, Sequence[Choice]]], cat: Catalog, now: datetime,
                    settings: Settings = DEFAULTS) -> list[Assessed]:
    """Each outcome with the alternatives given, every outcome's confidence bounds and break-even
    costed together (a report made from each later holds one status at a time)."""
    shown = [([o.chosen] if o.chosen else []) + [a for a in alternatives if a is not o.chosen]
             for o, alternatives in asked]
    today = now.astimezone(UTC).date()
    estimates = assess_all([(o, s) for (o, _), s in zip(asked, shown, strict=True)], cat, today, settings.confidence,
                           settings.pricing.max_age_days)
    evens = break_evens([o for o, _ in asked])
    return [Assessed(o, s[1:] if o.chosen else s, e, be)
            for (o, _), s, e, be in zip(asked, shown, estimates, evens, strict=True)]


def recommend(items: Sequence[tuple[str, InferenceWorkloadSpec]], cat: Catalog, book: PriceBook, now: datetime,
              region: RegionDefault | None = None, calibrations: Sequence[Calibration | None] | None = None,
              settings: Settings = DEFAULTS) -> list[Report | WorkloadError]:
    """Reports in input order; a workload that cannot be resolved gets its WorkloadError instead.

    `region`: where to price workloads whose spec names no region (default: the price book's)."""
    region = region or RegionDefault(book.default_region, "the price snapshot's default region")
    resolved: list[Workload | WorkloadError] = []
    for name, spec in items:
        try:
            resolved.append(resolve(name, spec, cat, region, settings))
        except WorkloadError as exc:
            resolved.append(exc)
    good = [r for r in resolved if isinstance(r, Workload)]
    cals = None
    if calibrations is not None:
        cals = [c for r, c in zip(resolved, calibrations, strict=True) if isinstance(r, Workload)]
    limit = settings.report.max_alternatives
    assessed = iter(assess_outcomes([(o, o.alternatives(limit)) for o in search(good, cat, book, cals)], cat, now,
                                    settings))
    return [next(assessed).report(cat, now, settings=settings) if isinstance(r, Workload) else r for r in resolved]
