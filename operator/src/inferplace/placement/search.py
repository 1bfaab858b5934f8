"""The placement search: predict every candidate of every workload in one vectorized engine pass,
then size and cost them (`cost.py`) and keep the cheapest per million accepted output tokens.

A live calibration is an input here (one per workload, or none), never derived or stored here: the
search is run once, with the engine already corrected where a measurement says so.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

from inferplace.api.vocabulary import Reason
from inferplace.catalog import Catalog
from inferplace.placement.calibration import Calibration, FleetCorrection, FleetCorrections
from inferplace.placement.candidates import RANK, CandidateSet, Failure, enumerate_candidates
from inferplace.placement.cost import (
    CurrentCost,
    Option,
    OptionTable,
    PriceAnswers,
    cost_all,
    cost_current,
    option_costing,
    ranked,
    today_costing,
)
from inferplace.placement.managed import ManagedOption, managed_options
from inferplace.placement.predict import RowRequest, RowResult, predict_rows
from inferplace.placement.whatif import WhatItTakes, question, what_it_takes
from inferplace.placement.workload import Workload
from inferplace.pricing import NoPrice, PriceBook

Choice = Option | ManagedOption
"""A recommendable option: a self-hosted placement, or a managed per-token API."""


@dataclass(frozen=True)
class Outcome:
    """Everything decided for one workload; `confidence.py` and `report.py` take it from here."""

    workload: Workload
    calibration: Calibration | None
    cs: CandidateSet
    rows: list[RowResult]
    options: OptionTable  # self-hosted, meeting the SLOs and priced, cheapest first (today's placement excluded)
    current: CurrentCost | None
    failures: dict[str, Failure]  # by instance type, and by managed API provider
    managed: list[ManagedOption] = field(default_factory=list)  # cheapest first
    # Fleet corrections applied, and each corrected row's prediction without its correction (a correction
    # never hides the model's own error: both are reported).
    corrections: FleetCorrections | None = None
    uncorrected: dict[int, RowResult] = field(default_factory=dict)
    # By instance type: what a placement that did not win would take to win (`whatif.py`).
    what_it_takes: dict[str, WhatItTakes] = field(default_factory=dict)

    def correction_of(self, row: int) -> FleetCorrection | None:
        """The fleet correction applied to engine row `row`, if any."""
        if row not in self.uncorrected or self.corrections is None:
            return None
        return self.corrections.get(self.cs.keys[row].scope)

    @cached_property
    def chosen(self) -> Choice | None:
        """The cheapest option known to meet the SLOs; at equal cost the self-hosted one. An API whose latency
        nobody measured is never chosen (it stays an alternative). Found once: the options are not changed."""
        best = self.options[0] if self.options else None
        api = next((m for m in self.managed if m.latency_known), None)
        if api is not None and (best is None or api.total_cents < best.total_cents):
            return api
        return best

    def node_pool(self, opt: Choice) -> str:
        if isinstance(opt, ManagedOption):
            return opt.provider
        return self._pool_of(opt.candidate)

    def _pool_of(self, candidate: int) -> str:
        return self.cs.candidates[candidate].instance.family

    def best_per_node_pool(self) -> dict[str, Choice]:
        """The cheapest option of each node pool (instance family, or API provider); read, not changed."""
        return self._best_per_node_pool

    @cached_property
    def _best_per_node_pool(self) -> dict[str, Choice]:
        best: dict[str, Choice] = {}
        first: dict[str, int] = {}  # read from the table's columns: only each pool's cheapest option is built
        totals = self.options.totals_cents()
        for j, ci in enumerate(self.options.candidates()):
            pool = self._pool_of(ci)
            if pool not in first or totals[j] < totals[first[pool]]:
                first[pool] = j
        best.update((pool, self.options[j]) for pool, j in first.items())
        for api in self.managed:
            if api.provider not in best or api.total_cents < best[api.provider].total_cents:
                best[api.provider] = api
        return best

    def alternatives(self, limit: int) -> list[Choice]:
        """The best of each other node pool (cheapest first), then the next cheapest options."""
        chosen = self.chosen
        if chosen is None:  # nothing known to meet the SLOs: the APIs of unknown latency are still worth a look
            return list(self.managed[:limit])
        pool = self.node_pool(chosen)
        bests = sorted((opt for fam, opt in self.best_per_node_pool().items() if opt is not chosen and fam != pool),
                       key=lambda opt: opt.per_million)
        taken = {id(b) for b in bests} | {id(chosen)}
        rest = list(itertools.islice((opt for opt in self.options if id(opt) not in taken), max(limit - len(bests), 0)))
        return (bests + rest)[:limit]


def search(workloads: Sequence[Workload], cat: Catalog, book: PriceBook,
           calibrations: Sequence[Calibration | None] | None = None,
           corrections: FleetCorrections | None = None) -> list[Outcome]:
    """Predict all workloads together (one vectorized engine pass) and decide each.

    `corrections`: the fleet's live checks per scope; a row of a corrected scope is predicted with its
    goodput scaled by the correction (its step times by the inverse), unless the workload's own live
    calibration covers that scope, and is predicted once more without it, to report both."""
    cals = list(calibrations) if calibrations is not None else [None] * len(workloads)
    if len(cals) != len(workloads):
        raise ValueError(f"{len(cals)} calibrations for {len(workloads)} workloads")
    sets = [enumerate_candidates(w, cat) for w in workloads]
    requests: list[RowRequest] = []
    plain: list[RowRequest] = []  # corrected rows again, without the correction
    corrected: list[int] = []
    bounds: list[tuple[int, int]] = []
    for w, cs, cal in zip(workloads, sets, cals, strict=True):
        cur = cs.current_candidate
        lo = len(requests)
        if cal is None and corrections is None:  # nothing to scale: every row as fitted (the CLI's case)
            requests += [RowRequest(scen, w) for scen in cs.scenarios]
            if cur is not None and w.current is not None:  # today's row at today's replicas
                requests[lo + cur.row] = RowRequest(cs.scenarios[cur.row], w, w.current.replicas)
            bounds.append((lo, len(requests)))
            continue
        for i, (key, scen) in enumerate(zip(cs.keys, cs.scenarios, strict=True)):
            fixed = w.current.replicas if cur is not None and w.current is not None and i == cur.row else None
            own = cal.scales(key.scope) if cal else None
            fix = corrections.get(key.scope) if corrections is not None and own is None else None
            if fix is not None:
                corrected.append(len(requests))
                plain.append(RowRequest(scen, w, fixed, None))
                own = (1.0 / fix.factor, 1.0 / fix.factor)
            requests.append(RowRequest(scen, w, fixed, own))
        bounds.append((lo, len(requests)))
    results = predict_rows([*requests, *plain], cat)
    without = dict(zip(corrected, results[len(requests):], strict=True))
    unpriced: list[dict[int, tuple[NoPrice, ...]]] = [{} for _ in workloads]
    costings = []
    prices: PriceAnswers = {}  # the book's answers, looked up once per instance type for all workloads
    for w, cs, (lo, hi), no_price in zip(workloads, sets, bounds, unpriced, strict=True):
        _record_row_failures(w, cs, results[lo:hi], cat)
        costings.append(option_costing(w, cs, results[lo:hi], book, no_price, prices))
    todays = [today_costing(w, cs, results[lo:hi], book)
              for w, cs, (lo, hi) in zip(workloads, sets, bounds, strict=True)]
    # Every workload's options and today's placement through the cost model in one pass.
    costed = cost_all([*costings, *(t for t in todays if t is not None)])
    today_costed = iter(costed[len(costings):])
    outcomes = []
    questions = []
    for w, cs, cal, (lo, hi), c, (totals, table), no_price, today in zip(
            workloads, sets, cals, bounds, costings, costed[:len(costings)], unpriced, todays, strict=True):
        rows = results[lo:hi]
        options = ranked(c, rows, totals, table)
        current = cost_current(w, cs, rows, book, next(today_costed)[1][0] if today is not None else None)
        managed, not_offered = managed_options(w, book.apis, cat)
        mine = {i - lo: r for i, r in without.items() if lo <= i < hi}
        o = Outcome(w, cal, cs, rows, options, current, {**cs.failures, **not_offered}, managed, corrections, mine)
        losers = [b for b in o.best_per_node_pool().values() if isinstance(b, Option) and b is not o.chosen]
        questions.append(question(w, cs, rows, losers, no_price))
        outcomes.append(o)
    # What each loser would take to win, again in one pass.
    targets = [o.chosen.total_cents if o.chosen is not None else None for o in outcomes]
    for o, found in zip(outcomes, what_it_takes(questions, targets), strict=True):
        o.what_it_takes.update(found)
    return outcomes


def _record_row_failures(w: Workload, cs: CandidateSet, rows: list[RowResult], cat: Catalog) -> None:
    """Every candidate whose engine row meets no load within the SLOs, with the reason."""
    failed = {i for i, row in enumerate(rows) if not row.serves}
    if not failed:
        return
    # Each instance type keeps one failure (`CandidateSet.fail`: the furthest, the later at equal rank), so
    # which row's it keeps is decided on the reasons alone, and only those rows' messages are written.
    by_row: dict[int, list[str]] = {}
    for c in cs.candidates:
        if c.row in failed and not c.current:
            by_row.setdefault(c.row, []).append(c.instance.type)
    reasons = {i: _row_reason(w, rows[i]) for i in by_row}
    kept: dict[str, int] = {}
    for i in sorted(by_row):
        for inst in by_row[i]:
            j = kept.get(inst)
            if j is None or RANK[reasons[i]] >= RANK[reasons[j]]:
                kept[inst] = i
    messages = {i: _row_failure(w, cs, rows[i], i, reasons[i], cat) for i in set(kept.values())}
    for inst, i in kept.items():
        cs.fail(inst, reasons[i], messages[i])


def _row_reason(w: Workload, row: RowResult) -> Reason:
    """Why a row that serves no load fails: the weights do not fit, or the first objective unmet unloaded."""
    if not row.fits:
        return "DOES_NOT_FIT"
    ttft, tpot, e2e = row.unloaded
    if ttft > w.ttft_slo_s:
        return "SLO_TTFT_UNMET"
    if tpot > w.tpot_slo_s:
        return "SLO_TPOT_UNMET"
    if e2e > w.e2e_slo_s:
        return "SLO_E2E_UNMET"
    return "SLO_TPOT_UNMET"  # every objective met unloaded, yet no request rate meets them all


def _row_failure(w: Workload, cs: CandidateSet, row: RowResult, i: int, reason: Reason, cat: Catalog) -> str:
    """The message for row `i`'s failure `reason` (from `_row_reason`)."""
    key = cs.keys[i]
    acc = cat.accelerators[key.accelerator]
    where = f"{key.chips} x {acc.id} ({acc.memory_bytes / 1e9:.0f} GB each)"
    if reason == "DOES_NOT_FIT":
        weights = cs.weights(key.weight_dtype)  # counted once per search (the lead time reads it too)
        return (f"{w.model.id} in {key.weight_dtype} ({weights / 1e9:.0f} GB of weights) leaves no room for the "
                f"KV cache of one {w.prompt_mean + w.output_mean / 2:.0f}-token sequence on {where}")
    ttft, tpot, e2e = row.unloaded
    if reason == "SLO_TTFT_UNMET":
        return (f"TTFT p95 is {ttft * 1e3:.0f} ms even unloaded on {where}, above the "
                f"{w.ttft_slo_s * 1e3:g} ms objective")
    if reason == "SLO_E2E_UNMET":
        return (f"end-to-end p95 is {e2e * 1e3:.0f} ms even unloaded on {where}, above the "
                f"{w.e2e_slo_s * 1e3:g} ms objective")
    if tpot > w.tpot_slo_s:
        return (f"TPOT p95 is {tpot * 1e3:.1f} ms even unloaded on {where}, above the "
                f"{w.tpot_slo_s * 1e3:g} ms objective")
    return f"no request rate meets all objectives on {where}"
