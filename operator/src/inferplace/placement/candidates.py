"""Every placement worth evaluating for a workload, and the reasons the others were dropped early.

A candidate is an instance type x chips per replica x weight precision x speculative decoding;
capacity types are priced later. Engine rows are shared between instance types with the same
chip (g6e.xlarge ... g6e.16xlarge all hold one L40S), so each is evaluated once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inferplace.catalog import Accelerator, Catalog, InstanceType
from inferplace.placement.workload import NEURON_FRAMEWORK, Workload
from inferplace.scenarios import Scenario, ScenarioError, check_dtypes

# Most advanced failure last: an instance type is reported with the furthest any of its options got.
REASON_ORDER = (
    "EXCLUDED_BY_CONSTRAINTS",
    "MODEL_UNSUPPORTED_ON_NEURON",
    "MIGRATION_EXCEEDS_LIMIT",
    "NO_PERFORMANCE_DATA",
    "DOES_NOT_FIT",
    "SLO_TTFT_UNMET",
    "SLO_E2E_UNMET",
    "SLO_TPOT_UNMET",
    "NO_PRICE",
    "HIGHER_COST",
)


@dataclass
class Failure:
    reason: str
    message: str


@dataclass(frozen=True)
class EngineKey:
    accelerator: str
    chips: int
    weight_dtype: str
    kv_dtype: str
    speculative: bool
    framework: str


@dataclass(frozen=True)
class Candidate:
    instance: InstanceType
    accelerator: Accelerator
    row: int  # index into the set's engine rows
    migration_weeks: float
    migration_basis: str


@dataclass
class CandidateSet:
    workload: Workload
    keys: list[EngineKey]
    scenarios: list[Scenario]
    candidates: list[Candidate]
    failures: dict[str, Failure]  # by instance type: the furthest failure so far
    index: dict[EngineKey, int]

    def row(self, key: EngineKey, acc: Accelerator) -> int:
        """The engine row for `key`, added on first use."""
        if key not in self.index:
            self.index[key] = len(self.keys)
            self.keys.append(key)
            self.scenarios.append(scenario_for(self.workload, acc, key))
        return self.index[key]

    def fail(self, inst: str, reason: str, message: str) -> None:
        old = self.failures.get(inst)
        # At equal rank the later option wins: options come in ascending chip counts, so the message
        # describes the largest (closest to working) placement.
        if old is None or REASON_ORDER.index(reason) >= REASON_ORDER.index(old.reason):
            self.failures[inst] = Failure(reason, message)


def chip_options(chips: int) -> list[int]:
    """Powers of two up to the instance's chips, and all of them."""
    out = [1]
    while out[-1] * 2 <= chips:
        out.append(out[-1] * 2)
    if chips not in out:
        out.append(chips)
    return out


def kv_dtype_for(w: Workload, acc: Accelerator, weight_dtype: str) -> str:
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
    return NEURON_FRAMEWORK if acc.platform == "neuron" else w.gpu_framework


def scenario_for(w: Workload, acc: Accelerator, key: EngineKey) -> Scenario:
    return Scenario(
        model=w.model, accelerator=acc, chips_per_replica=key.chips, replicas=1,
        weight_dtype=key.weight_dtype, kv_dtype=key.kv_dtype, input_tokens=w.prompt_mean,
        output_tokens=w.output_mean, batch=math.nan, load="server-slo", framework=key.framework,
        ttft_slo_s=w.ttft_slo_s, tpot_slo_s=w.tpot_slo_s,
        draft_model=w.draft if key.speculative else None,
        acceptance_rate=w.acceptance_rate if key.speculative else 0.0,
        speculative_tokens=w.speculative_tokens if key.speculative else 0,
    )


def enumerate_candidates(w: Workload, cat: Catalog) -> CandidateSet:
    cs = CandidateSet(w, [], [], [], {}, {})
    for inst in cat.instances.values():
        if w.families is not None and inst.family not in w.families:
            cs.fail(inst.type, "EXCLUDED_BY_CONSTRAINTS",
                    f"family {inst.family} is not in spec.constraints.instanceFamilies")
            continue
        acc = cat.accelerators[inst.accelerator]
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
                    key = EngineKey(acc.id, chips, wdt, kvd, spec, framework_for(w, acc))
                    cs.candidates.append(Candidate(inst, acc, cs.row(key, acc), weeks, basis))
    return cs
