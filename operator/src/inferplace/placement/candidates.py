"""Every placement worth evaluating for a workload, and the reasons the others were dropped early.

A candidate is an instance type x chips per replica x weight precision x speculative decoding;
capacity types are priced later. Engine rows are shared between instance types with the same
chip (g6e.xlarge ... g6e.16xlarge all hold one L40S), so each is predicted once. Today's placement
is one more candidate, flagged `current`, with an engine row of its own: it runs at today's replica
count, so its latency differs from a freshly sized fleet on the same shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple

from inferplace.api.vocabulary import REASONS, NeuronSupport, Platform, Precision, Reason
from inferplace.catalog import Accelerator, Catalog, InstanceType
from inferplace.catalog.efficiency import DEFAULT_FRAMEWORK
from inferplace.placement.scenarios import Scenario, ScenarioError, check_dtypes, weight_bytes
from inferplace.placement.workload import Workload


@dataclass
class Failure:
    reason: Reason
    message: str


class EngineKey(NamedTuple):
    """What decides an engine row's numbers, besides the workload (a tuple: hashed and compared in C)."""

    accelerator: str
    generation: str
    chips: int
    weight_dtype: Precision
    kv_dtype: Precision
    speculative: bool
    framework: str

    @property
    def scope(self) -> str:
        """What one live measurement on this row speaks for: chip generation / serving stack."""
        return f"{self.generation}/{self.framework}"


@dataclass(frozen=True)
class Candidate:
    instance: InstanceType
    accelerator: Accelerator
    row: int  # index into the set's engine rows
    migration_weeks: float
    migration_basis: str
    current: bool = False  # today's placement: today's replicas and capacity type, nothing to migrate


@dataclass
class CandidateSet:
    workload: Workload
    keys: list[EngineKey]
    scenarios: list[Scenario]
    candidates: list[Candidate]
    failures: dict[str, Failure]  # by instance type: the furthest failure so far
    index: dict[EngineKey, int]
    current: int | None = None  # index into candidates of today's placement
    current_note: str | None = None  # why today's placement cannot be modelled
    _weights: dict[Precision, float] = field(default_factory=dict)

    def weights(self, dtype: Precision) -> float:
        """Bytes of the workload's model weights in `dtype`, counted once per search."""
        if dtype not in self._weights:
            self._weights[dtype] = weight_bytes(self.workload.model, dtype)
        return self._weights[dtype]

    def row(self, key: EngineKey, acc: Accelerator) -> int:
        """The engine row for `key`, added on first use."""
        if key not in self.index:
            self.index[key] = self.own_row(key, acc)
        return self.index[key]

    def own_row(self, key: EngineKey, acc: Accelerator) -> int:
        """A new engine row for `key`, shared with no other candidate."""
        self.keys.append(key)
        self.scenarios.append(scenario_for(self.workload, acc, key))
        return len(self.keys) - 1

    def fail(self, inst: str, reason: Reason, message: str) -> None:
        _keep_furthest(self.failures, inst, reason, message)

    @property
    def current_candidate(self) -> Candidate | None:
        return None if self.current is None else self.candidates[self.current]


RANK = {r: i for i, r in enumerate(REASONS)}  # how far a placement got before it failed


def _keep_furthest(failures: dict[str, Failure], inst: str, reason: Reason, message: str) -> None:
    old = failures.get(inst)
    # At equal rank the later option wins: options come in ascending chip counts, so the message
    # describes the largest (closest to working) placement.
    if old is None or RANK[reason] >= RANK[old.reason]:
        failures[inst] = Failure(reason, message)


@cache
def chip_options(chips: int) -> tuple[int, ...]:
    """Powers of two up to the instance's chips, and all of them."""
    out = [1]
    while out[-1] * 2 <= chips:
        out.append(out[-1] * 2)
    if chips not in out:
        out.append(chips)
    return tuple(out)


class Layout(NamedTuple):
    """What decides which candidates a workload has, and why the others drop out: everything
    `enumerate_candidates` reads of the workload except what goes into the engine scenarios. Workloads
    of one layout share their candidates (thousands of workloads have a handful of layouts)."""

    families: frozenset[str] | None
    family: str
    neuron_tier: NeuronSupport
    neuron_tier_reason: str
    migration_overrides: tuple[tuple[str, float], ...]
    current_family: str | None
    current_platform: Platform | None
    max_migration_weeks: float
    precisions: tuple[Precision, ...]
    kv_precision: Precision | None
    speculative: bool  # a draft model is named: each shape is also tried with speculative decoding
    gpu_framework: str


def layout_of(w: Workload, cat: Catalog) -> Layout:
    cur = w.current
    return Layout(w.families, w.family, w.neuron_tier, w.neuron_tier_reason,
                  tuple(sorted(w.migration_overrides.items())), cur.instance.family if cur else None,
                  cat.accelerators[cur.instance.accelerator].platform if cur else None, w.max_migration_weeks,
                  w.precisions, w.kv_precision, w.draft is not None, w.gpu_framework)


def kv_dtype_for(w: Workload | Layout, acc: Accelerator, weight_dtype: Precision) -> Precision:
    if w.kv_precision is not None:
        return w.kv_precision
    if weight_dtype in ("bf16", "fp16", "fp8") and weight_dtype in acc.kv_dtypes:
        return weight_dtype
    return "bf16" if "bf16" in acc.kv_dtypes else "fp16"


def migration_weeks(lay: Layout, cat: Catalog, inst: InstanceType, acc: Accelerator) -> tuple[float, str]:
    """Engineer-weeks to move to `inst`'s node pool, and where the figure comes from."""
    overrides = dict(lay.migration_overrides)
    for target in (inst.family, acc.platform):
        if target in overrides:
            return overrides[target], f"spec.economics.migrationWeeks[{target}]"
    weeks = cat.migration.default_weeks(lay.current_platform, lay.current_family, acc.platform, inst.family,
                                        lay.neuron_tier)
    return weeks, "catalog default (migration.yaml)"


def framework_for(w: Workload | Layout, acc: Accelerator) -> str:
    return DEFAULT_FRAMEWORK["neuron"] if acc.platform == "neuron" else w.gpu_framework


def engine_key(w: Workload | Layout, acc: Accelerator, chips: int, weight_dtype: Precision, kv_dtype: Precision,
               speculative: bool) -> EngineKey:
    return EngineKey(acc.id, acc.generation, chips, weight_dtype, kv_dtype, speculative, framework_for(w, acc))


def scenario_for(w: Workload, acc: Accelerator, key: EngineKey) -> Scenario:
    return scenarios_for(w, [acc], [key])[0]


def scenarios_for(w: Workload, accs: Sequence[Accelerator], keys: Sequence[EngineKey]) -> list[Scenario]:
    """The engine scenario of each (chip, key) for `w`: the workload's figures read once, each Scenario made
    positionally (a search makes ~50 a workload; keywords cost more than the rest of the construction)."""
    isl, osl, ttft, tpot, ep = w.prompt_mean, w.output_mean, w.ttft_slo_s, w.tpot_slo_s, w.expert_parallel
    draft, alpha, k = w.draft, w.acceptance_rate, w.speculative_tokens
    return [Scenario(w.model, acc, key.chips, 1, key.weight_dtype, key.kv_dtype, isl, osl, math.nan, "server-slo",
                     key.framework, ttft, tpot, draft if key.speculative else None,
                     alpha if key.speculative else 0.0, k if key.speculative else 0, ep)
            for acc, key in zip(accs, keys, strict=True)]


def current_key(w: Workload, cat: Catalog) -> tuple[EngineKey | None, str | None]:
    """The engine key of today's placement, or why it cannot be modelled (None, None: no current)."""
    if w.current is None:
        return None, None
    acc = cat.accelerators[w.current.instance.accelerator]
    wdt = w.weight_precision
    kvd = kv_dtype_for(w, acc, wdt)
    try:
        check_dtypes(acc, wdt, kvd)
    except ScenarioError as exc:
        return None, f"today's placement cannot be modelled: {exc}"
    chips = w.current.chips_per_replica
    if chips > 1 and acc.link_bytes_s <= 0:
        return None, f"today's placement cannot be modelled: no interconnect figure for {acc.id}"
    return engine_key(w, acc, chips, wdt, kvd, False), None


@dataclass(frozen=True)
class Proposed:
    """The candidates of one layout: engine keys (each with its chip), candidates whose `row` indexes
    `keys`, and the failures of the instance types that dropped out, as `CandidateSet.fail` left them."""

    keys: tuple[EngineKey, ...]
    accelerators: tuple[Accelerator, ...]
    candidates: tuple[Candidate, ...]
    failures: tuple[tuple[str, Failure], ...]


# Layouts seen, per catalog (a catalog is built once per process; a declared --instances file makes another).
_PROPOSED: dict[int, tuple[Catalog, dict[Layout, Proposed]]] = {}
_PROPOSED_PER_CATALOG = 512


def proposed(lay: Layout, cat: Catalog) -> Proposed:
    """The candidates of `lay`, enumerated once per catalog and layout."""
    held = _PROPOSED.get(id(cat))
    if held is None or held[0] is not cat:
        held = _PROPOSED[id(cat)] = (cat, {})
        for key in [k for k, (c, _) in _PROPOSED.items() if c is not cat and len(_PROPOSED) > 4]:
            del _PROPOSED[key]  # a few catalogs at most: drop the others
    seen = held[1]
    if lay not in seen:
        if len(seen) >= _PROPOSED_PER_CATALOG:
            seen.clear()
        seen[lay] = _enumerate(lay, cat)
    return seen[lay]


def _enumerate(lay: Layout, cat: Catalog) -> Proposed:
    keys: list[EngineKey] = []
    accs: list[Accelerator] = []
    index: dict[EngineKey, int] = {}
    candidates: list[Candidate] = []
    failures: dict[str, Failure] = {}

    def fail(inst: str, reason: Reason, message: str) -> None:
        _keep_furthest(failures, inst, reason, message)

    for inst in cat.instances.values():
        if lay.families is not None and inst.family not in lay.families:
            fail(inst.type, "EXCLUDED_BY_CONSTRAINTS",
                 f"family {inst.family} is not in spec.constraints.instanceFamilies")
            continue
        acc = cat.accelerator_of(inst)
        if acc is None:
            fail(inst.type, "NO_PERFORMANCE_DATA", inst.missing[0] if inst.missing else
                 f"the catalog has no figures for {inst.accelerator}")
            continue
        if acc.platform == "neuron" and lay.neuron_tier == "unsupported":
            fail(inst.type, "MODEL_UNSUPPORTED_ON_NEURON",
                 f"model family {lay.family} is not supported by the Neuron serving stack "
                 f"({lay.neuron_tier_reason}); set spec.model.neuronSupport to override")
            continue
        weeks, basis = migration_weeks(lay, cat, inst, acc)
        if weeks > lay.max_migration_weeks:
            fail(inst.type, "MIGRATION_EXCEEDS_LIMIT",
                 f"moving to {inst.family} takes {weeks:g} engineer-weeks, above "
                 f"spec.constraints.maxMigrationWeeks {lay.max_migration_weeks:g}")
            continue
        if inst.chips is None:
            fail(inst.type, "NO_PERFORMANCE_DATA",
                 f"the catalog does not know how many {acc.name} chips {inst.type} has")
            continue
        for wdt in lay.precisions:
            kvd = kv_dtype_for(lay, acc, wdt)
            try:
                check_dtypes(acc, wdt, kvd)
            except ScenarioError as exc:
                fail(inst.type, "NO_PERFORMANCE_DATA", str(exc))
                continue
            for chips in chip_options(inst.chips):
                if chips > 1 and acc.link_bytes_s <= 0:
                    why = acc.missing.get("interconnect", "no chip-to-chip bandwidth figure in the catalog")
                    fail(inst.type, "NO_PERFORMANCE_DATA",
                         f"tensor parallel over {chips} x {acc.id} needs an interconnect figure: {why}")
                    continue
                for spec in (False, True) if lay.speculative else (False,):
                    key = engine_key(lay, acc, chips, wdt, kvd, spec)
                    if key not in index:
                        index[key] = len(keys)
                        keys.append(key)
                        accs.append(acc)
                    candidates.append(Candidate(inst, acc, index[key], weeks, basis))
    return Proposed(tuple(keys), tuple(accs), tuple(candidates), tuple(failures.items()))


def enumerate_candidates(w: Workload, cat: Catalog) -> CandidateSet:
    """The workload's candidates (its layout's, shared), their engine scenarios, and today's placement."""
    p = proposed(layout_of(w, cat), cat)
    keys = list(p.keys)
    scenarios = scenarios_for(w, p.accelerators, keys)
    cs = CandidateSet(w, keys, scenarios, list(p.candidates), dict(p.failures), {k: i for i, k in enumerate(keys)})
    today, cs.current_note = current_key(w, cat)
    if today is not None and w.current is not None:
        inst = w.current.instance
        acc = cat.accelerators[inst.accelerator]
        cs.current = len(cs.candidates)
        cs.candidates.append(Candidate(inst, acc, cs.own_row(today, acc), 0.0, "today's placement", current=True))
    return cs
