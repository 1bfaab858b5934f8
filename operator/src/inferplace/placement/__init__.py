"""Placement: resolve a workload against the catalog, search every candidate with the engine, cost
them with the TCO model and report the cheapest that meets the SLOs, with the reasons."""

from __future__ import annotations

from inferplace.api.spec import InferenceWorkloadSpec
from inferplace.catalog import Catalog
from inferplace.placement.report import PlotPoint, Report, build_report
from inferplace.placement.search import search
from inferplace.placement.workload import Workload, WorkloadError, resolve

__all__ = ["PlotPoint", "Report", "Workload", "WorkloadError", "plan", "resolve"]


def plan(items: list[tuple[str, InferenceWorkloadSpec]], cat: Catalog) -> list[Report | WorkloadError]:
    """Reports in input order; a workload that cannot be resolved gets its WorkloadError instead."""
    resolved: list[Workload | WorkloadError] = []
    for name, spec in items:
        try:
            resolved.append(resolve(name, spec, cat))
        except WorkloadError as exc:
            resolved.append(exc)
    good = [r for r in resolved if isinstance(r, Workload)]
    outcomes = iter(search(good, cat))
    return [build_report(next(outcomes), cat) if isinstance(r, Workload) else r for r in resolved]
