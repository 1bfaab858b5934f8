"""InferenceWorkload status: conditions, today's cost, the recommendation, its rivals and the losers.

`inferplace recommend -o json|yaml` prints exactly this block, and the operator writes it. Money is
US dollars per month of 730 hours, as a string with 2 decimals; other decimals are strings too
(see api/types.py for why).
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from inferplace.api.types import WIRE
from inferplace.api.vocabulary import (
    Bound,
    CapacityType,
    ConditionType,
    ConfidenceLevel,
    Limit,
    ManagedApi,
    Precision,
    PriceProvider,
    Reason,
    ScalingStrategy,
    VerificationState,
)

MAX_ALTERNATIVES = 32  # status.alternatives' maxItems

DecimalText = Annotated[str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", max_length=32)]


class Condition(BaseModel):
    """Kubernetes-style condition (Ready, MetricsAvailable, Calibrated)."""

    model_config = WIRE
    type: ConditionType
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=128)
    message: str = Field(default="", max_length=4096)
    last_transition_time: str = Field(max_length=64)
    observed_generation: int | None = Field(default=None, ge=0)


class Projected(BaseModel):
    """Latency at peak load and capacity within the SLOs."""

    model_config = WIRE
    ttft_p95_ms: DecimalText
    tpot_p95_ms: DecimalText
    e2e_p95_ms: DecimalText = Field(alias="e2eP95Ms")
    output_tokens_per_second: DecimalText
    """Output tokens/s the placement serves while meeting the SLOs (all replicas)."""
    utilization: DecimalText
    """Mean demand (retries included) over that capacity on the instances paid for, 0-1."""


class PriceUsed(BaseModel):
    """The hourly price a cost was computed with, and where it came from."""

    model_config = WIRE
    usd_per_hour: DecimalText
    """Per instance."""
    capacity_type: CapacityType
    region: str = Field(max_length=32)
    as_of: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", max_length=10)
    """The date the figure was read or took effect."""
    age_days: int = Field(ge=0)
    """Days between asOf and the evaluation."""
    source: str = Field(max_length=512)
    provider: PriceProvider
    """override (your rates), aws (the live AWS price APIs) or snapshot (bundled with inferplace)."""
    note: str = Field(default="", max_length=512)


class CostBreakdown(BaseModel):
    """Monthly cost by term (seed formula: cost per 1M accepted output tokens = sum / tokens)."""

    model_config = WIRE
    accelerators: DecimalText
    """Share of the instance bill doing accepted work."""
    host: DecimalText
    network: DecimalText
    storage: DecimalText
    power: DecimalText
    orchestration: DecimalText
    software_engineering: DecimalText
    """Migration engineer-weeks times their cost, spread over the amortization months."""
    failed_requests_and_retries: DecimalText
    """Share of the instance bill spent on requests that failed and were retried."""
    idle_capacity: DecimalText
    """Share of the instance bill left idle (headroom for the peak, target utilization, whole instances)."""
    total: DecimalText
    instance_bill: DecimalText
    """accelerators + failedRequestsAndRetries + idleCapacity: what the instances cost."""
    price: PriceUsed | None = None
    """The instance price (absent for a managed API, whose prices are under managedApi)."""
    accepted_output_tokens_per_month: DecimalText


class SavingsRange(BaseModel):
    model_config = WIRE
    low: DecimalText
    high: DecimalText


class Confidence(BaseModel):
    """How far to trust the savings: from the engine's held-out error for this accelerator family."""

    model_config = WIRE
    level: ConfidenceLevel
    savings_percent_range: SavingsRange | None = None
    """Savings if the engine is off by its p90 held-out error either way (absent without a current cost)."""
    basis: str = Field(max_length=1024)
    group: str | None = Field(default=None, max_length=64)
    """The fitted efficiency group whose measured error this rests on (absent for an API)."""
    scope: str | None = Field(default=None, max_length=64)
    """Chip generation / serving stack: what a live check of this placement corrects."""
    error_p90_pct: DecimalText | None = None
    """The goodput error the range assumes (the group's held-out p90, widened where said)."""


class CurrentStatus(BaseModel):
    """Today's placement, costed and checked against the SLOs at peak."""

    model_config = WIRE
    instance_type: str
    capacity_type: CapacityType
    replicas: int
    instances: int
    chips_per_replica: int
    monthly_cost: DecimalText | None = None
    cost_per_million_output_tokens: DecimalText | None = None
    cost_breakdown: CostBreakdown | None = None
    meets_slo: bool | None = None
    """Whether today's placement meets the SLOs at peak; absent when it cannot be modelled."""
    projected: Projected | None = None
    bound: Bound | None = None
    notes: list[Annotated[str, Field(max_length=1024)]] = Field(default=[], max_length=16)


class ScalingUsed(BaseModel):
    """How the fleet follows the traffic, and what that costs in instance-hours."""

    model_config = WIRE
    strategy: ScalingStrategy
    """fixed (sized for the peak all day), autoscaled (hour by hour) or scale-to-zero (none in idle hours)."""
    peak_replicas: int
    instance_hours_per_month: DecimalText
    scale_up_lead_seconds: DecimalText
    """Node provisioning plus model load; a rise in traffic is met this far ahead."""
    cold_start_miss_share: DecimalText | None = None
    """Share of requests that arrive while the fleet starts from zero and wait past the TTFT objective."""


class ManagedApiUse(BaseModel):
    """A per-token API serving the model instead of a fleet."""

    model_config = WIRE
    provider: ManagedApi
    model_id: str = Field(max_length=200)
    mode: str = Field(max_length=32)
    region: str = Field(max_length=32)
    """The AWS region the price is for, or global for an API that states none."""
    usd_per_1m_input_tokens: DecimalText
    usd_per_1m_output_tokens: DecimalText
    as_of: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", max_length=10)
    age_days: int = Field(ge=0)
    source: str = Field(max_length=512)
    latency: str = Field(max_length=256)
    """What is known of its latency: unknown unless the team measured it (spec.measuredApiLatency)."""
    measured_ttft_p95_ms: DecimalText | None = None
    measured_tpot_p95_ms: DecimalText | None = None


class Placement(BaseModel):
    """A costed option: a self-hosted placement that meets the SLOs, or a managed per-token API."""

    model_config = WIRE
    kind: Literal["self-hosted", "managed-api"] = "self-hosted"
    id: str | None = Field(default=None, pattern=r"^[0-9a-f]{12}$")
    """Stable id of what would be deployed (see `placement_id`): approve a recommendation by writing it into
    the annotation inferplace.io/approved-recommendation."""
    summary: str = Field(max_length=128)
    """One line: replicas, instance type, capacity type and scaling, or the API."""
    node_pool: str = Field(max_length=32)
    """trn2, inf2, trn1, the GPU instance family (p5en, g6e, ...), or the API provider (bedrock, ...)."""
    instance_type: str | None = None
    capacity_type: CapacityType | None = None
    replicas: int | None = None
    """At the peak."""
    instances: int | None = None
    """At the peak."""
    chips_per_replica: int | None = None
    weight_precision: Precision | None = None
    speculative_decoding: bool | None = None
    projected: Projected | None = None
    """Absent for an API: its latency is not modelled."""
    scaling: ScalingUsed | None = None
    managed_api: ManagedApiUse | None = None
    monthly_cost: DecimalText
    cost_per_million_output_tokens: DecimalText
    cost_breakdown: CostBreakdown
    savings_monthly: DecimalText | None = None
    """Current monthly cost minus this one (negative: costs more)."""
    savings_percent: DecimalText | None = None
    payback_months: DecimalText | None = None
    """One-time migration cost over the monthly run-rate saving; absent when it never pays back."""
    migration_weeks: DecimalText
    confidence: Confidence
    bound: Bound | None = None
    """What a decode step's time is spent on at the SLO limit (memory bandwidth, compute, ...)."""
    limit: Limit | None = None
    """What stops a replica taking more requests within the SLOs: an objective, the batch limit, KV memory."""
    rationale: list[Annotated[str, Field(max_length=1024)]] = Field(default=[], max_length=16)


class BreakEven(BaseModel):
    """The mean request rate above which the best self-hosted placement costs less than the cheapest API."""

    model_config = WIRE
    self_hosted: str = Field(max_length=128)
    managed_api: str = Field(max_length=128)
    requests_per_second: DecimalText | None = None
    """Absent when self-hosting is not cheaper anywhere in the range searched (see message)."""
    utilization: DecimalText | None = None
    """The self-hosted fleet's utilization at that rate."""
    today_requests_per_second: DecimalText
    message: str = Field(max_length=512)


class TrafficShape(BaseModel):
    """The hourly shape the costs were computed over, and where it came from."""

    model_config = WIRE
    source: str = Field(max_length=256)
    hours: int
    peak_to_mean: DecimalText
    idle_hours: int
    multipliers: list[DecimalText] = Field(default=[], max_length=168)


class NearestPrice(BaseModel):
    """A placement without a price where the workload runs, costed at the nearest price that exists."""

    model_config = WIRE
    region: str = Field(max_length=32)
    capacity_type: CapacityType
    usd_per_hour: DecimalText
    as_of: str = Field(max_length=10)
    monthly_cost: DecimalText
    cost_per_million_output_tokens: DecimalText


class WhatItTakes(BaseModel):
    """What a node pool that did not win would take to win (its best instance type)."""

    model_config = WIRE
    instance_type: str = Field(max_length=64)
    break_even_usd_per_hour: DecimalText | None = None
    """The hourly rate per instance at which it would cost what the recommendation costs (None: no rate)."""
    nearest_price: NearestPrice | None = None


class Rejection(BaseModel):
    """Why a node pool (or one instance type) was not recommended."""

    model_config = WIRE
    node_pool: str = Field(max_length=32)
    instance_type: str | None = None
    reason: Reason
    message: str = Field(max_length=2048)
    what_it_takes: WhatItTakes | None = None


class Observed(BaseModel):
    """Live figures read from Prometheus (written by the operator)."""

    model_config = WIRE
    window: str
    time: str
    """End of the window (RFC 3339)."""
    requests_per_second: DecimalText | None = None
    prompt_tokens_per_second: DecimalText | None = None
    output_tokens_per_second: DecimalText | None = None
    prompt_tokens_mean: DecimalText | None = None
    output_tokens_mean: DecimalText | None = None
    ttft_mean_ms: DecimalText | None = None
    ttft_p50_ms: DecimalText | None = None
    ttft_p95_ms: DecimalText | None = None
    """Percentiles are read off histogram buckets and can be 15-30% high; calibration uses the means."""
    tpot_mean_ms: DecimalText | None = None
    tpot_p50_ms: DecimalText | None = None
    tpot_p95_ms: DecimalText | None = None
    running_batch: DecimalText | None = None
    """Mean running requests per server."""
    kv_cache_usage: DecimalText | None = None
    """0-1."""
    accelerator_utilization: DecimalText | None = None
    """0-1 (DCGM GPU utilization, or neuron-monitor NeuronCore utilization of the nodes running the workload's pods)."""
    window_coverage: DecimalText | None = None
    """The fraction of the window the workload's series cover (0-1); rates are used only from 0.9 (a rate over a
    window its series cover in part reads low)."""
    missing: list[Annotated[str, Field(max_length=512)]] = Field(default=[], max_length=16)
    """Figures that could not be read or were dropped as implausible, and why."""


class Promise(BaseModel):
    """What a recommendation promised, kept so a move to it can be checked against what it then serves."""

    model_config = WIRE
    id: str = Field(pattern=r"^[0-9a-f]{12}$")
    summary: str = Field(max_length=128)
    node_pool: str = Field(max_length=32)
    instance_type: str = Field(max_length=64)
    chips_per_replica: int = Field(ge=1)
    weight_precision: Precision
    replicas: int = Field(ge=1)
    instances: int = Field(ge=1)
    output_tokens_per_second_per_replica: DecimalText
    """The load each replica was sized to serve (the workload's mean demand over the replicas)."""
    ttft_p95_ms: DecimalText
    tpot_p95_ms: DecimalText
    cost_per_million_output_tokens: DecimalText
    monthly_cost: DecimalText
    usd_per_instance_hour: DecimalText
    savings_percent_range: SavingsRange | None = None
    error_p90_pct: DecimalText
    """The goodput error the promise stated (its group's held-out p90, widened where it extrapolated)."""
    group: str = Field(max_length=64)
    scope: str = Field(max_length=64)
    made_at: str = Field(max_length=64)


class Baseline(BaseModel):
    """Today's placement over the metrics window before the move: what the savings are counted against."""

    model_config = WIRE
    instance_type: str = Field(max_length=64)
    instances: int = Field(ge=1)
    usd_per_instance_hour: DecimalText | None = None
    monthly_instance_cost: DecimalText | None = None
    output_tokens_per_second: DecimalText | None = None
    ttft_p95_ms: DecimalText | None = None
    tpot_p95_ms: DecimalText | None = None
    window_end: str | None = Field(default=None, max_length=64)


class VerificationRow(BaseModel):
    """One metric: promised, observed after settling, their ratio and whether it is inside the stated range."""

    model_config = WIRE
    metric: Literal["throughputPerReplica", "ttftP95", "tpotP95"]
    promised: DecimalText
    observed: DecimalText | None = None
    ratio: DecimalText | None = None
    """Observed over promised."""
    acceptable: str = Field(max_length=64)
    """The range the promise stated for the ratio, e.g. ">= 0.81" or "<= 1.24"."""
    within: bool | None = None


class Realized(BaseModel):
    """What the move costs and saves, from the tokens actually served (instance hours at the promise's price)."""

    model_config = WIRE
    cost_per_million_output_tokens: DecimalText | None = None
    """Instance hours at the promise's price over the output tokens served."""
    promised_cost_per_million_output_tokens: DecimalText | None = None
    """The same on the promise's own figures (its instances and load): like for like with the realized one (the
    promise's costPerMillionOutputTokens counts every TCO term, not the instance bill alone)."""
    monthly_instance_cost: DecimalText
    baseline_monthly_instance_cost: DecimalText | None = None
    monthly_savings: DecimalText | None = None


class Verification(BaseModel):
    """Whether a move to a recommended placement delivered what was promised."""

    model_config = WIRE
    state: VerificationState
    reason: str = Field(pattern=r"^[A-Za-z]+$", max_length=64)
    message: str = Field(default="", max_length=2048)
    promise: Promise
    moved_at: str = Field(max_length=64)
    settled_at: str = Field(max_length=64)
    """The end of the settling period; nothing before it counts."""
    checked_at: str | None = Field(default=None, max_length=64)
    baseline: Baseline | None = None
    rows: list[VerificationRow] = Field(default=[], max_length=8)
    realized: Realized | None = None


class InferenceWorkloadStatus(BaseModel):
    """What inferplace found."""

    # The operator replaces the status whole (controller/kube.py), so the API server tracks it as one
    # field of one manager, not every leaf: a fifth less of its CPU per status write, and 0.8 KB of
    # managedFields a workload instead of 3.2 KB (300 writes of a 24 KB status on the test control plane).
    model_config = WIRE | ConfigDict(json_schema_extra={"x-kubernetes-map-type": "atomic"})
    observed_generation: int | None = Field(default=None, ge=0)
    conditions: list[Condition] = Field(default=[], max_length=16, json_schema_extra={
        "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]})
    observed: Observed | None = None
    current: CurrentStatus | None = None
    recommendation: Placement | None = None
    alternatives: list[Placement] = Field(default=[], max_length=MAX_ALTERNATIVES)
    """The best placement of each other node pool (cheapest first), then the next cheapest placements."""
    rejected: list[Rejection] = Field(default=[], max_length=64)
    break_even: BreakEven | None = None
    traffic: TrafficShape | None = None
    assumptions: list[Annotated[str, Field(max_length=512)]] = Field(default=[], max_length=32)
    """Defaults the evaluation used because the spec did not say."""
    promises: list[Promise] | None = Field(default=None, max_length=8)
    """What the recommendation and its self-hosted alternatives promised (the operator keeps them, so that
    a move to one can be verified; the CLI's reports keep none)."""
    verification: Verification | None = None
    last_evaluation_time: str | None = None


# What would be deployed: two placements with these equal are the same change to a cluster.
ID_FIELDS = ("kind", "node_pool", "instance_type", "capacity_type", "replicas", "chips_per_replica",
             "weight_precision", "speculative_decoding")


def placement_id(p: Placement) -> str:
    """12 hex digits of a hash of what would be deployed (instances, replicas, precision, scaling, or the
    API); costs and rationale do not enter it, so a price change alone does not void an approval."""
    parts: dict[str, object] = {k: getattr(p, k) for k in ID_FIELDS}
    parts["scaling"] = p.scaling.strategy if p.scaling else None
    parts["api"] = (p.managed_api.provider, p.managed_api.mode, p.managed_api.model_id) if p.managed_api else None
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]
