"""How far to trust a recommendation's savings.

Each option's goodput comes from the engine, whose error on published measurements is measured per
efficiency group: held out one configuration at a time, recorded by `scripts/fit_efficiency.py` with
what the measurements cover on each chip. The savings range re-costs the option as if its goodput
were off by that group's p90 error either way, through the same sizing and costing path as the
search, so a well-measured comparison is narrow. Where the option lies beyond the evidence (a
concurrency or prompt length no measurement reached, a chip with no measurement of its own, a group
that inherits another's fit) the error is widened and the reason said. A live calibration that agreed
with the engine narrows the error of its own scope; a stale price or beta Neuron support lowers the
level. Today's cost is its instances at their price: no engine error enters it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from inferplace.api.vocabulary import CONFIDENCE_LEVELS, ConfidenceLevel, Precision
from inferplace.catalog import Accelerator, Catalog
from inferplace.catalog.efficiency import Coverage
from inferplace.placement.cost import Costing, Option, Pick, totals_all
from inferplace.placement.managed import ManagedOption
from inferplace.placement.scenarios import compute_dtype, efficiency_for
from inferplace.placement.search import Choice, Outcome
from inferplace.placement.settings import DEFAULTS, ConfidenceSettings

LOWEST = len(CONFIDENCE_LEVELS) - 1


@dataclass(frozen=True)
class Estimate:
    level: ConfidenceLevel
    savings_percent_range: tuple[float, float] | None  # (low, high); None without today's cost
    basis: str
    group: str | None = None  # the efficiency group the error was measured on (None: an API)
    scope: str | None = None  # chip generation / serving stack: what a live check of this placement corrects
    error: float | None = None  # the goodput error the range assumes (fraction)


@dataclass(frozen=True)
class _ErrorBasis:
    p90: float  # fractional goodput error
    best_level: int  # the highest level this basis allows (0 = high)
    text: str


def _fit_error(o: Outcome, row: int, cat: Catalog, s: ConfidenceSettings) -> _ErrorBasis:
    """The measured error of the group that predicted `row`, widened where the row is beyond its evidence."""
    key = o.cs.keys[row]
    group, p = efficiency_for(cat, cat.accelerators[key.accelerator], key.framework)
    if p.inherits:
        src = cat.efficiency.groups[p.inherits]
        e = (src.error_p90_pct or 0) / 100 * s.inherited_widening
        return _ErrorBasis(e, 1, f"no measurements for {group}: {p.how.split(': ', 1)[-1]}; held-out p90 "
                                 f"{src.error_p90_pct:g}% of {p.inherits}, widened {s.inherited_widening:g}x")
    measured = p.same_fit_as or group
    assert p.error_p90_pct is not None, f"{group} has no held-out error (the catalog refuses that)"
    base = (f"{measured} held out one configuration at a time: throughput median {p.error_median_pct:g}%, p90 "
            f"{p.error_p90_pct:g}% over {p.error_values} published configurations")
    beyond = _beyond_evidence(o, row, p.coverage, key.accelerator, measured)
    if not beyond:
        return _ErrorBasis(p.error_p90_pct / 100, 0, base)
    e = p.error_p90_pct / 100 * s.extrapolation_widening
    return _ErrorBasis(e, 1, f"{base}; widened {s.extrapolation_widening:g}x: {'; '.join(beyond)}")


def _beyond_evidence(o: Outcome, row: int, coverage: Mapping[str, Coverage], accelerator: str,
                     group: str) -> list[str]:
    """Why the row lies outside what its group's measurements span (empty: inside)."""
    c = coverage.get(accelerator)
    if c is None:
        measured = ", ".join(sorted(coverage)) or "no chip"
        return [f"no measurement on {accelerator} ({group} was measured on {measured})"]
    out = []
    batch = o.rows[row].batch
    if math.isfinite(batch) and batch > c.max_concurrency_per_replica * 1.05:
        out.append(f"no measurement of {accelerator} above concurrency {c.max_concurrency_per_replica:g} per "
                   f"replica (this placement runs {batch:.0f})")
    prompt = o.workload.prompt_p95
    if prompt > c.max_prompt_tokens * 1.05:
        out.append(f"no measurement of {accelerator} with prompts over {c.max_prompt_tokens:,.0f} tokens "
                   f"(p95 here {prompt:,.0f})")
    return out


def _error_basis(o: Outcome, row: int, cat: Catalog, s: ConfidenceSettings) -> _ErrorBasis:
    """The fit's error, narrowed where live latency on the same scope agreed with the engine; a fleet
    correction is named (it moves the prediction, not the error the model keeps)."""
    basis = _fit_error(o, row, cat, s)
    fix = o.correction_of(row)
    if fix is not None:
        basis = _ErrorBasis(basis.p90, basis.best_level, f"{basis.text}; {fix.describe()}")
    cal = o.calibration
    if cal is None or cal.scope != o.cs.keys[row].scope:
        return basis
    if cal.agrees:
        narrowed = min(basis.p90, max(cal.residual, s.calibrated_error_floor))
        return _ErrorBasis(narrowed, min(basis.best_level, 1), f"{basis.text}; narrowed to {narrowed * 100:.0f}%: "
                           f"live latency on today's placement agrees with the engine within "
                           f"{cal.residual * 100:.0f}%")
    if cal.applied:
        return _ErrorBasis(basis.p90, basis.best_level, f"{basis.text}; engine calibrated on live latency (decode "
                           f"x{cal.decode_scale:.2f}, prefill x{cal.prefill_scale:.2f})")
    return basis


def _managed(opt: ManagedOption, cur_total: float | None, today: date, max_price_age_days: int) -> Estimate:
    """An API's cost follows the tokens exactly: the risk is its price's age and its unmodelled latency."""
    age = opt.price.age_days(today)
    level = 1  # medium at best: its latency is the team's measurement at best, never modelled
    latency = "latency as the team measured it" if opt.latency_known else "latency unknown (not recommendable)"
    text = f"per-token price of {opt.provider} ({opt.price.as_of.isoformat()}): the cost follows the tokens; {latency}"
    if age > max_price_age_days:
        level, text = LOWEST, f"{text}; lowered: price {age} days old (over {max_price_age_days})"
    rng = None
    if cur_total:
        s = (cur_total - opt.total_cents) / cur_total * 100
        rng = (s, s)
    return Estimate(CONFIDENCE_LEVELS[level], rng, text)


def assess(o: Outcome, choices: Sequence[Choice], cat: Catalog, today: date,
           settings: ConfidenceSettings = DEFAULTS.confidence,
           max_price_age_days: int = DEFAULTS.pricing.max_age_days) -> list[Estimate]:
    """Level and savings range per option: the savings if the engine's goodput is off by its group's p90
    error either way, as a ratio (an API's savings have no engine error)."""
    return assess_all([(o, choices)], cat, today, settings, max_price_age_days)[0]


def assess_all(asked: Sequence[tuple[Outcome, Sequence[Choice]]], cat: Catalog, today: date,
               settings: ConfidenceSettings = DEFAULTS.confidence,
               max_price_age_days: int = DEFAULTS.pricing.max_age_days) -> list[list[Estimate]]:
    """`assess` of each outcome's choices, every outcome's error bounds costed in one pass."""
    hosted = [[c for c in choices if isinstance(c, Option)] for _, choices in asked]
    bases = [[_error_basis(o, o.cs.candidates[opt.candidate].row, cat, settings) for opt in options]
             for (o, _), options in zip(asked, hosted, strict=True)]
    costings = [_bounds_costing(o, options, b) for (o, _), options, b in zip(asked, hosted, bases, strict=True)]
    bounds = iter(totals_all([c for c in costings if c is not None]))
    out = []
    for (o, choices), options, b, costing in zip(asked, hosted, bases, costings, strict=True):
        cur_total = o.current.option.total_cents if o.current and o.current.option else None
        ranges: list[tuple[float, float] | None] = [None] * len(options)
        if costing is not None and cur_total:
            both = next(bounds)
            worst, best = both[:len(options)], both[len(options):]
            ranges = [((cur_total - lo) / cur_total * 100, (cur_total - hi) / cur_total * 100)
                      for lo, hi in zip(worst, best, strict=True)]
        estimates = iter(_hosted(o, options, b, ranges, cat, today, settings, max_price_age_days))
        out.append([_managed(c, cur_total, today, max_price_age_days) if isinstance(c, ManagedOption)
                    else next(estimates) for c in choices])
    return out


def _bounds_costing(o: Outcome, options: Sequence[Option], bases: Sequence[_ErrorBasis]) -> Costing | None:
    """Both bounds of each option's savings in one costing: its picks twice, at the slow and at the fast
    goodput, off by the error as a ratio either way (a 100% error is half or twice the goodput, never
    zero). None where there is no savings to bound (no options, or no cost for today's placement)."""
    current = o.current.option if o.current else None
    if not (current and current.total_cents and options):
        return None
    rate = np.array([o.rows[o.cs.candidates[opt.candidate].row].rate for opt in options])
    err = np.array([b.p90 for b in bases])
    picks = [Pick(opt.candidate, opt.capacity_type, opt.price) for opt in options]
    strategies = [opt.strategy for opt in options]
    return Costing(o.workload, o.cs, [*picks, *picks], np.concatenate([rate / (1 + err), rate * (1 + err)]),
                   strategies=[*strategies, *strategies])


def _hosted(o: Outcome, options: Sequence[Option], bases: Sequence[_ErrorBasis],
            ranges: Sequence[tuple[float, float] | None], cat: Catalog, today: date, settings: ConfidenceSettings,
            max_price_age_days: int) -> list[Estimate]:
    out = []
    for opt, basis, rng in zip(options, bases, ranges, strict=True):
        c = o.cs.candidates[opt.candidate]
        level = 0 if basis.p90 <= settings.high_below else 1 if basis.p90 <= settings.medium_below else 2
        level = max(level, basis.best_level)
        lowered: list[str] = []
        age = opt.price.age_days(today)
        if age > max_price_age_days:
            level, lowered = min(level + 1, LOWEST), [*lowered, f"price {age} days old (over {max_price_age_days})"]
        if c.accelerator.platform == "neuron" and o.workload.neuron_tier != "supported":
            level, lowered = min(level + 1, LOWEST), [*lowered, f"Neuron support is {o.workload.neuron_tier}"]
        key = o.cs.keys[c.row]
        derived = derived_figures(c.accelerator, key.weight_dtype, key.chips)
        if derived:
            level, lowered = min(level + 1, LOWEST), [*lowered, f"{c.accelerator.id}'s {' and '.join(derived)} "
                                                      "derived, not published (see the catalog)"]
        text = basis.text + (f"; lowered: {', '.join(lowered)}" if lowered else "")
        group, _ = efficiency_for(cat, c.accelerator, key.framework)
        out.append(Estimate(CONFIDENCE_LEVELS[level], rng, text, group, key.scope, basis.p90))
    return out


def derived_figures(acc: Accelerator, weight_dtype: Precision, chips: int) -> list[str]:
    """The figures this placement's prediction rests on that no source states (derived in the catalog)."""
    used = {f"{compute_dtype(acc, weight_dtype)} peak": acc.peak_tflops.get(compute_dtype(acc, weight_dtype)),
            "memory bandwidth": acc.memory_bandwidth}
    if chips > 1:
        used["interconnect"] = acc.interconnect
    return [name for name, fig in used.items() if fig is not None and fig.derived]
