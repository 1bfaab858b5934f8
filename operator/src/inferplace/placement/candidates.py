"""Every placement worth evaluating for a workload, and the reasons the others were dropped early.

A candidate is an instance type x chips per replica x weight precision x speculative decoding;
capacity types are priced later. Engine rows are shared between instance types with the same
chip (g6e.xlarge ... g6e.16xlarge all hold one L40S), so each is predicted once. Today's placement
is one more candidate, flagged `current`, with an engine row of its own: it runs at today's replica
count, so its latency differs from a freshly sized fleet on the same shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple

from inferplace.api.vocabulary import REASONS, Precision, Reason
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
        old = self.failures.get(inst)
        # At equal rank the later option wins: options come in ascending chip counts, so the message
        # describes the largest (closest to working) placement.
        if old is None or REASONS.index(reason) >= REASONS.index(old.reason):
            self.failures[inst] = Failure(reason, message)

    @property
    def current_candidate(self) -> Candidate | None:
        return None if self.current is None else self.candidates[self.current]


@cache
def chip_options(chips: int) -> tuple[int, ...]:
    """Powers of two up to the instance's chips, and all of them."""
    out = [1]
    while out[-1] * 2 <= chips:
        out.append(out[-1] * 2)
    if chips not in out:
        out.append(chips)
    return tuple(out)


def kv_dtype_for(w: Workload, acc: Accelerator, weight_dtype: Precision) -> Precision:
    if w.kv_precision is not None:
        return w.kv_precision
    if weight_dtype in ("bf16", "fp16", "fp8") and weight_dtype in acc.kv_dtypes:
        return weight_dtype
    return "bf16" if "bf16" in acc.kv_dtypes else "fp16"


def migration_weeks(w: Workload, cat: Catalog, inst: InstanceType, acc: Accelerator) -> tuple[float, str]:
    """Engineer-weeks to move to `inst`'s node pool, and where the figure comes from."""
    for target in (inst.family, acc.platform):
        if target in w.migration_overrides:
            return w.migration_overrides[target], f"spec.economics.migrationWeeks[{target}]"
    cur_platform = cur_family = None
    if w.current is not None:
        cur_family = w.current.instance.family
        cur_platform = cat.accelerators[w.current.instance.accelerator].platform
    weeks = cat.migration.default_weeks(cur_platform, cur_family, acc.platform, inst.family, w.neuron_tier)
    return weeks, "catalog default (migration.yaml)"


def framework_for(w: Workload, acc: Accelerator) -> str:
    return DEFAULT_FRAMEWORK["neuron"] if acc.platform == "neuron" else w.gpu_framework


def engine_key(w: Workload, acc: Accelerator, chips: int, weight_dtype: Precision, kv_dtype: Precision,
               speculative: bool) -> EngineKey:
    return EngineKey(acc.id, acc.generation, chips, weight_dtype, kv_dtype, speculative, framework_for(w, acc))


def scenario_for(w: Workload, acc: Accelerator, key: EngineKey) -> Scenario:
    return Scenario(
        model=w.model, accelerator=acc, chips_per_replica=key.chips, replicas=1,
        weight_dtype=key.weight_dtype, kv_dtype=key.kv_dtype, input_tokens=w.prompt_mean,
        output_tokens=w.output_mean, batch=math.nan, load="server-slo", framework=key.framework,
        ttft_slo_s=w.ttft_slo_s, tpot_slo_s=w.tpot_slo_s,
        draft_model=w.draft if key.speculative else None,
        acceptance_rate=w.acceptance_rate if key.speculative else 0.0,
        speculative_tokens=w.speculative_tokens if key.speculative else 0,
        expert_parallel=w.expert_parallel,
    )


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


def enumerate_candidates(w: Workload, cat: Catalog) -> CandidateSet:
    cs = CandidateSet(w, [], [], [], {}, {})
    for inst in cat.instances.values():
        if w.families is not None and inst.family not in w.families:
            cs.fail(inst.type, "EXCLUDED_BY_CONSTRAINTS",
                    f"family {inst.family} is not in spec.constraints.instanceFamilies")
            continue
        acc = cat.accelerator_of(inst)
        if acc is None:
            cs.fail(inst.type, "NO_PERFORMANCE_DATA", inst.missing[0] if inst.missing else
                    f"the catalog has no figures for {inst.accelerator}")
            continue
        if acc.platform == "neuron" and w.neuron_tier == "unsupported":
            cs.fail(inst.type, "MODEL_UNSUPPORTED_ON_NEURON",
                    f"model family {w.family} is not supported by the Neuron serving stack "
                    f"({w.neuron_tier_reason}); set spec.model.neuronSupport to override")
            continue
        weeks, basis = migration_weeks(w, cat, inst, acc)
        if weeks > w.max_migration_weeks:
            cs.fail(inst.type, "MIGRATION_EXCEEDS_LIMIT",
                    f"moving to {inst.family} takes {weeks:g} engineer-weeks, above "
                    f"spec.constraints.maxMigrationWeeks {w.max_migration_weeks:g}")
            continue
        if inst.chips is None:
            cs.fail(inst.type, "NO_PERFORMANCE_DATA",
                    f"the catalog does not know how many {acc.name} chips {inst.type} has")
            continue
        for wdt in w.precisions:
            kvd = kv_dtype_for(w, acc, wdt)
            try:
                check_dtypes(acc, wdt, kvd)
            except ScenarioError as exc:
                cs.fail(inst.type, "NO_PERFORMANCE_DATA", str(exc))
                continue
            for chips in chip_options(inst.chips):
                if chips > 1 and acc.link_bytes_s <= 0:
                    why = acc.missing.get("interconnect", "no chip-to-chip bandwidth figure in the catalog")
                    cs.fail(inst.type, "NO_PERFORMANCE_DATA",
                            f"tensor parallel over {chips} x {acc.id} needs an interconnect figure: {why}")
                    continue
                for spec in (False, True) if w.draft is not None else (False,):
                    key = engine_key(w, acc, chips, wdt, kvd, spec)
                    cs.candidates.append(Candidate(inst, acc, cs.row(key, acc), weeks, basis))
    today, cs.current_note = current_key(w, cat)
    if today is not None and w.current is not None:
        inst = w.current.instance
        acc = cat.accelerators[inst.accelerator]
        cs.current = len(cs.candidates)
        cs.candidates.append(Candidate(inst, acc, cs.own_row(today, acc), 0.0, "today's placement", current=True))
    return cs
