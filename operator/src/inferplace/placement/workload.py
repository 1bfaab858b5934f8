"""A validated spec resolved against the catalog, with every default it needed written down.

Problems that the schema cannot see (an unknown model, an instance type the catalog lacks, a
current placement that does not add up) are collected as `field.path: what is wrong; what is
allowed` lines, all of them at once. The result is a plain value: nothing later in the pipeline
changes it (a calibration, observed traffic or a search each make a new value or take it as given).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from inferplace.api.spec import InferenceWorkloadSpec
from inferplace.api.vocabulary import (
    DEFAULT_MANAGED_APIS,
    CapacityType,
    ManagedApi,
    NeuronSupport,
    Precision,
    duration_seconds,
)
from inferplace.catalog import Catalog, CatalogError, InstanceType, ModelArch
from inferplace.catalog.efficiency import DEFAULT_FRAMEWORK
from inferplace.catalog.models import MoE, SlidingWindow
from inferplace.engine.tco import Demand, Overheads
from inferplace.placement.settings import DEFAULTS, Settings


class WorkloadError(ValueError):
    """The spec cannot be evaluated; `problems` holds one `path: message` line each."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Current:
    """Where the workload runs today."""

    instance: InstanceType
    replicas: int
    chips_per_replica: int
    capacity_type: CapacityType


@dataclass(frozen=True)
class Workload:
    name: str
    model: ModelArch
    family: str
    neuron_tier: NeuronSupport
    neuron_tier_reason: str
    neuron_tier_overridden: bool
    weight_precision: Precision  # today's
    kv_precision: Precision | None  # None: follow the weight precision where native
    precisions: tuple[Precision, ...]  # weight precisions to search
    rps: float
    prompt_mean: float
    prompt_p95: float
    output_mean: float
    output_p95: float
    peak_to_mean: float
    ttft_slo_s: float
    tpot_slo_s: float
    e2e_slo_s: float  # inf when none
    current: Current | None
    families: frozenset[str] | None
    capacity_types: tuple[CapacityType, ...]
    region: str  # where prices are read: never from another region
    min_replicas: int
    spare_replicas: int
    spread_nodes: int  # a proposed fleet runs on at least this many instances (2 with the default redundancy)
    max_migration_weeks: float
    engineer_week_cost: float
    amortization_months: float
    migration_overrides: dict[str, float]
    overheads: Overheads
    retry_rate: float
    target_utilization: float
    gpu_framework: str
    draft: ModelArch | None
    acceptance_rate: float
    speculative_tokens: int
    managed_apis: tuple[ManagedApi, ...] = DEFAULT_MANAGED_APIS
    served_model: str = ""  # the Hugging Face id, spelled as the catalog does (an API serves Instruct, not the
    # base id); "" for a custom architecture
    profile: tuple[float, ...] | None = None  # hourly multipliers of rps, mean 1 (24 or 168)
    profile_source: str = ""
    autoscale: bool = True
    scale_to_zero: bool = False
    lead_time_s: float | None = None  # spec.scaling.scaleUpLeadTime; None: estimated per candidate
    expert_parallel: bool = False  # spec.model.expertParallel (MoE models only)
    # spec.measuredApiLatency: per API, (TTFT p95 s, TPOT p95 s, source)
    api_latency: dict[str, tuple[float, float, str]] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()

    @property
    def demand(self) -> Demand:
        return Demand(self.rps, self.peak_to_mean, self.retry_rate)

    @property
    def accepted_tok_s(self) -> float:
        return self.rps * self.output_mean


def _custom_model(name: str, spec: InferenceWorkloadSpec) -> ModelArch:
    arch = spec.model.architecture
    assert arch is not None
    assert spec.model.family is not None
    moe = None
    if arch.moe:
        moe = MoE(experts=arch.moe.experts, top_k=arch.moe.top_k,
                  expert_intermediate=arch.moe.expert_intermediate_size,
                  shared_experts=arch.moe.shared_experts, dense_layers=arch.moe.dense_layers)
    window = None
    if arch.sliding_window:
        window = SlidingWindow(window=arch.sliding_window.window,
                               local_layer_fraction=float(arch.sliding_window.local_layer_fraction))
    return ModelArch(
        id=f"custom/{name}", family=spec.model.family, layers=arch.layers, hidden=arch.hidden_size,
        heads=arch.heads, kv_heads=arch.kv_heads, head_dim=arch.head_dim or arch.hidden_size // arch.heads,
        intermediate=arch.intermediate_size, vocab=arch.vocab_size, max_context=arch.max_context,
        tied_embeddings=arch.tied_embeddings, attention="gqa" if arch.kv_heads < arch.heads else "mha",
        moe=moe, sliding_window=window,
    )


def _within_context(spec: InferenceWorkloadSpec, model: ModelArch) -> list[str]:
    """A request longer than the model's context cannot be served: refused, naming the fields."""
    t = spec.traffic
    prompt = int(t.prompt_tokens.p95 or t.prompt_tokens.mean)
    output = int(t.output_tokens.p95 or t.output_tokens.mean)
    if prompt + output <= model.max_context:
        return []
    return [f"spec.traffic.promptTokens + spec.traffic.outputTokens: {prompt:,} + {output:,} tokens (each its p95, "
            f"else its mean) exceed the {model.max_context:,}-token context of {model.id}; a request that long "
            "cannot be served"]


def _known_models(cat: Catalog) -> str:
    return ", ".join(sorted({m.id for m in cat.models.values()}))


def normalised_profile(values: list[float], source: str, notes: list[str]) -> tuple[tuple[float, ...], float, str]:
    """(multipliers with mean 1, their peak, where they came from); a note when they had to be normalised."""
    mean = sum(values) / len(values)
    if abs(mean - 1.0) > 1e-9:
        notes.append(f"{source} normalised to a mean of 1 (its mean was {mean:.4g})")
    out = tuple(v / mean for v in values)
    return out, max(out), f"{source} ({len(values)} hours)"


@dataclass(frozen=True)
class RegionDefault:
    """The region to price a workload in when its spec names none, and who chose it."""

    region: str
    chosen_by: str  # e.g. "the price snapshot's default", "the operator's --region"


def resolve(name: str, spec: InferenceWorkloadSpec, cat: Catalog, region: RegionDefault,
            settings: Settings = DEFAULTS) -> Workload:
    problems: list[str] = []
    assumptions: list[str] = []

    model: ModelArch | None = None
    if spec.model.name is not None:
        try:
            model = cat.model(spec.model.name)
        except CatalogError as exc:
            problems.append(f"spec.model.name: {exc}; known: {_known_models(cat)}")
    else:
        model = _custom_model(name, spec)

    families = {i.family for i in cat.instances.values()}
    allowed: frozenset[str] | None = None
    if spec.constraints.instance_families is not None:
        allowed = frozenset(f.lower() for f in spec.constraints.instance_families)
        for i, fam in enumerate(spec.constraints.instance_families):
            if fam.lower() not in families:
                problems.append(f"spec.constraints.instanceFamilies[{i}]: unknown instance family "
                                f"{fam!r}; known: {', '.join(sorted(families))}")

    current = None
    if spec.current is not None:
        try:
            inst = cat.instance(spec.current.instance_type)
        except CatalogError as exc:
            problems.append(f"spec.current.instanceType: {exc}; known: {', '.join(sorted(cat.instances))}")
        else:
            if inst.chips is None or cat.accelerator_of(inst) is None:
                why = inst.missing[0] if inst.missing else f"the catalog does not know how many chips {inst.type} has"
                problems.append(f"spec.current.instanceType: {inst.type} cannot be modelled: {why}")
            elif spec.current.chips_per_replica > inst.chips:
                problems.append(f"spec.current.chipsPerReplica: {spec.current.chips_per_replica} exceeds the "
                                f"{inst.chips} chips of {inst.type}; multi-instance replicas are not modelled")
            else:
                current = Current(inst, spec.current.replicas, spec.current.chips_per_replica,
                                  spec.current.capacity_type)

    draft = None
    sd = spec.speculative_decoding
    if sd is not None:
        try:
            draft = cat.model(sd.draft_model)
        except CatalogError as exc:
            problems.append(f"spec.speculativeDecoding.draftModel: {exc}; known: {_known_models(cat)}")

    seen_apis: set[str] = set()
    for i, m in enumerate(spec.measured_api_latency):
        if m.provider in seen_apis:
            problems.append(f"spec.measuredApiLatency[{i}].provider: a second figure for {m.provider}; give one")
        seen_apis.add(m.provider)
    if model is not None:
        problems += _within_context(spec, model)
    if problems or model is None:
        raise WorkloadError(problems)

    family = (spec.model.family or model.family).lower()
    tier, tier_reason = cat.migration.support(family)
    overridden = spec.model.neuron_support is not None
    if spec.model.neuron_support is not None:
        tier, tier_reason = spec.model.neuron_support, "set by spec.model.neuronSupport"

    defaults = settings.economics

    def econ(key: str, attr: str, value: object) -> float:
        if value is None:
            default = float(getattr(defaults, attr))
            assumptions.append(f"economics.{key} = {default:g} (default)")
            return default
        return float(value)  # type: ignore[arg-type]

    e = spec.economics
    overheads = Overheads(**{k: econ(f"overheadRates.{k}", k, getattr(e.overhead_rates, k))
                             for k in ("host", "network", "storage", "power", "orchestration")})
    gpu_framework = spec.metrics.server if spec.metrics else DEFAULT_FRAMEWORK["gpu"]
    if spec.metrics is None:
        assumptions.append("GPU candidates are modelled as served by vLLM (spec.metrics.server not set)")
    assumptions.append(f"Neuron candidates are modelled as served by vLLM on NxD Inference "
                       f"({DEFAULT_FRAMEWORK['neuron']})")
    precisions = tuple(spec.constraints.weight_precisions or [spec.model.weight_precision])
    traffic = spec.traffic
    peak_to_mean = float(traffic.peak_to_mean_ratio)
    profile: tuple[float, ...] | None = None
    source = ""
    if traffic.profile is not None:
        profile, peak_to_mean, source = normalised_profile([float(x) for x in traffic.profile], "spec.traffic.profile",
                                                           assumptions)
        if "peak_to_mean_ratio" in traffic.model_fields_set:
            assumptions.append(f"spec.traffic.peakToMeanRatio {traffic.peak_to_mean_ratio} not used: the profile's "
                               f"peak is {peak_to_mean:.3g}x the mean")
    else:
        assumptions.append("no traffic shape (spec.traffic.profile): a fleet fixed for the peak of "
                           f"{peak_to_mean:g}x the mean; autoscaling and scale-to-zero not evaluated")
    if spec.constraints.region is None:
        assumptions.append(f"prices for {region.region} ({region.chosen_by}; set spec.constraints.region)")
    redundancy = settings.redundancy
    min_replicas = spec.constraints.min_replicas
    spare_replicas = spec.constraints.spare_replicas
    if min_replicas is None:
        min_replicas = redundancy.min_replicas
        assumptions.append(f"constraints.minReplicas = {min_replicas} (default), on 2 nodes or more: one lost "
                           "replica or node does not stop the service")
    if spare_replicas is None:
        spare_replicas = redundancy.spare_replicas
        assumptions.append(f"constraints.spareReplicas = {spare_replicas} (default: N+1, one replica beyond what the "
                           "peak needs, so losing one still meets the SLOs)")
    if "capacity_types" not in spec.constraints.model_fields_set:
        assumptions.append("capacity types: on-demand only (no commitment assumed; spec.constraints.capacityTypes "
                           "allows spot, reserved, savings plans or capacity blocks)")
    return Workload(
        name=name,
        model=model,
        family=family,
        neuron_tier=tier,
        neuron_tier_reason=tier_reason,
        neuron_tier_overridden=overridden,
        weight_precision=spec.model.weight_precision,
        kv_precision=spec.model.kv_cache_precision,
        precisions=precisions,
        rps=float(traffic.requests_per_second),
        prompt_mean=float(traffic.prompt_tokens.mean),
        prompt_p95=float(traffic.prompt_tokens.p95 or traffic.prompt_tokens.mean),
        output_mean=float(traffic.output_tokens.mean),
        output_p95=float(traffic.output_tokens.p95 or traffic.output_tokens.mean),
        peak_to_mean=peak_to_mean,
        ttft_slo_s=float(spec.slo.ttft_p95_ms) / 1e3,
        tpot_slo_s=float(spec.slo.tpot_p95_ms) / 1e3,
        e2e_slo_s=float(spec.slo.e2e_p95_ms) / 1e3 if spec.slo.e2e_p95_ms is not None else math.inf,
        current=current,
        families=allowed,
        capacity_types=tuple(dict.fromkeys(spec.constraints.capacity_types)),
        region=spec.constraints.region or region.region,
        min_replicas=min_replicas,
        spare_replicas=spare_replicas,
        spread_nodes=min(min_replicas, 2),
        max_migration_weeks=(float(spec.constraints.max_migration_weeks)
                             if spec.constraints.max_migration_weeks is not None else math.inf),
        engineer_week_cost=econ("engineerWeekCost", "engineer_week_cost", e.engineer_week_cost),
        amortization_months=econ("amortizationMonths", "amortization_months", e.amortization_months),
        migration_overrides={m.target: float(m.weeks) for m in e.migration_weeks},
        overheads=overheads,
        retry_rate=econ("retryRate", "retry_rate", e.retry_rate),
        target_utilization=econ("targetUtilization", "target_utilization", e.target_utilization),
        gpu_framework=gpu_framework,
        draft=draft,
        acceptance_rate=float(sd.acceptance_rate) if sd else 0.0,
        speculative_tokens=sd.num_speculative_tokens if sd else 0,
        managed_apis=(DEFAULT_MANAGED_APIS if spec.constraints.managed_apis is None
                      else tuple(dict.fromkeys(spec.constraints.managed_apis))),
        served_model=cat.canonical_model_name(spec.model.name) if spec.model.name else "",
        profile=profile,
        profile_source=source,
        autoscale=spec.scaling.autoscale,
        scale_to_zero=spec.scaling.scale_to_zero,
        lead_time_s=(float(duration_seconds(spec.scaling.scale_up_lead_time))
                     if spec.scaling.scale_up_lead_time else None),
        expert_parallel=spec.model.expert_parallel and model.moe is not None,
        api_latency={m.provider: (float(m.ttft_p95_ms) / 1e3, float(m.tpot_p95_ms) / 1e3, m.source)
                     for m in spec.measured_api_latency},
        assumptions=tuple(assumptions),
    )
