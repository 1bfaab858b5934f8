"""InferenceWorkload spec: what the team serves, how much traffic, which latency, where it runs now."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, field_validator, model_validator

from inferplace.api.types import PLAIN_TEXT, WIRE, Dec, wire_with_rules
from inferplace.api.vocabulary import (
    DURATION_PATTERN,
    LABEL_NAME_PATTERN,
    CapacityType,
    ManagedApi,
    MetricsServer,
    NeuronSupport,
    Precision,
    duration_seconds,
)

# RFC 3339 with its zone (a time without one would depend on the reader's).
RFC3339_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$"

LabelName = Annotated[str, Field(pattern=LABEL_NAME_PATTERN, max_length=128)]


class MoEShape(BaseModel):
    """Mixture-of-experts feed-forward layers."""

    model_config = WIRE
    experts: int = Field(ge=2, le=1024)
    """Routed experts per MoE layer."""
    top_k: int = Field(ge=1, le=64)
    """Experts each token is routed to."""
    expert_intermediate_size: int = Field(ge=64, le=262144)
    """Intermediate size of one expert's FFN."""
    shared_experts: int = Field(default=0, ge=0, le=16)
    """Experts every token goes through."""
    dense_layers: int = Field(default=0, ge=0, le=512)
    """Leading layers with a dense FFN instead of experts."""


class SlidingWindowShape(BaseModel):
    """Local attention layers that only keep the last `window` tokens of KV cache."""

    model_config = WIRE
    window: int = Field(ge=16, le=10_000_000)
    local_layer_fraction: Dec = Field(gt=0, le=1)
    """Fraction of layers using the window, e.g. "0.8333" for 5 local per global layer."""


MIN_CONTEXT = 1024


class Architecture(BaseModel):
    """The shape of a decoder-only transformer not in the catalog (from its config.json)."""

    model_config = wire_with_rules(("self.heads % self.kvHeads == 0", "heads must be a multiple of kvHeads"),
                                   ("!has(self.moe) || self.moe.topK <= self.moe.experts",
                                    "moe.topK cannot exceed moe.experts"),
                                   ("!has(self.moe) || !has(self.moe.denseLayers) || "
                                    "self.moe.denseLayers < self.layers",
                                    "moe.denseLayers must be fewer than layers (a model with only dense layers has no "
                                    "moe)"))
    layers: int = Field(ge=1, le=512)
    hidden_size: int = Field(ge=64, le=65536)
    heads: int = Field(ge=1, le=1024)
    """Attention (query) heads."""
    kv_heads: int = Field(ge=1, le=1024)
    """Key/value heads (equal to heads without grouped-query attention)."""
    head_dim: int | None = Field(default=None, ge=16, le=1024)
    """Per-head dimension; hiddenSize / heads when omitted."""
    intermediate_size: int = Field(ge=64, le=262144)
    vocab_size: int = Field(ge=256, le=1_000_000)
    max_context: int = Field(default=131072, ge=MIN_CONTEXT, le=10_000_000)
    """Longest prompt plus output it serves, in tokens (at least 1,024: GPT-2's, the shortest of any family)."""
    tied_embeddings: bool = False
    moe: MoEShape | None = None
    sliding_window: SlidingWindowShape | None = None

    @model_validator(mode="after")
    def _heads_divide(self) -> Architecture:
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kvHeads ({self.kv_heads})")
        if self.moe and self.moe.top_k > self.moe.experts:
            raise ValueError("moe.topK cannot exceed moe.experts")
        if self.moe and self.moe.dense_layers >= self.layers:
            raise ValueError(f"moe.denseLayers ({self.moe.dense_layers}) must be fewer than layers ({self.layers}): "
                             "a model with only dense layers has no moe")
        return self


class ModelSpec(BaseModel):
    """The model served: a catalog id, or an explicit architecture."""

    model_config = wire_with_rules(
        ("has(self.name) != has(self.architecture)", "set exactly one of name or architecture"),
        ("!has(self.architecture) || has(self.family)", "family is required with architecture"),
    )
    name: str | None = Field(default=None, min_length=1, max_length=200)
    """Catalog id or Hugging Face id, e.g. meta-llama/Llama-3.1-8B-Instruct."""
    architecture: Architecture | None = None
    """Explicit shape for a model not in the catalog (then `family` is required)."""
    family: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9.-]*$")
    """Model family (llama, mistral, qwen3, gemma3, ...): drives Neuron support. Defaults to the catalog's."""
    weight_precision: Precision = "bf16"
    """Precision the weights are served in today."""
    kv_cache_precision: Precision | None = None
    """KV-cache precision; the weight precision (16-bit for int8/fp4 weights) when omitted."""
    neuron_support: NeuronSupport | None = None
    """Override the Neuron support tier of the family (e.g. `supported` once the team has ported it)."""
    expert_parallel: bool = False
    """MoE models: shard the experts whole over a replica's chips (expert parallelism) instead of splitting
    each (tensor parallelism, the serving stacks' default). Tokens then cross the chip fabric twice per MoE
    layer, which costs more on a torus (trn1, trn2, inf2) than on a switched fabric (NVSwitch, Trn3)."""

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.name is None) == (self.architecture is None):
            raise ValueError("set exactly one of name or architecture")
        if self.architecture is not None and self.family is None:
            raise ValueError("family is required with architecture (it decides Neuron support)")
        return self


class TokenStats(BaseModel):
    """A token-count distribution."""

    model_config = wire_with_rules(("!has(self.p95) || self.p95 >= self.mean", "p95 cannot be below mean"))
    mean: int = Field(ge=1, le=10_000_000)
    p95: int | None = Field(default=None, ge=1, le=10_000_000)
    """95th percentile; the mean when omitted."""

    @model_validator(mode="after")
    def _ordered(self) -> TokenStats:
        if self.p95 is not None and self.p95 < self.mean:
            raise ValueError(f"p95 ({self.p95}) cannot be below mean ({self.mean})")
        return self


class Traffic(BaseModel):
    """Declared traffic; in a cluster, live metrics replace it when available."""

    model_config = wire_with_rules(
        ("!has(self.profile) || size(self.profile) == 24 || size(self.profile) == 168",
         "profile: give 24 (a day) or 168 (a week) hourly multipliers"),
        ("!has(self.profile) || self.profile.exists(h, type(h) == int ? h != 0 : "
         "(isQuantity(h) && quantity(h).compareTo(quantity('0')) != 0))",
         "profile: every hour is 0; give at least one hour with traffic"),
    )
    requests_per_second: Dec = Field(gt=0, le=1_000_000)
    """Mean request rate over the day."""
    prompt_tokens: TokenStats
    output_tokens: TokenStats
    peak_to_mean_ratio: Dec = Field(default=Decimal(1), ge=1, le=100)
    """Peak request rate over the mean; capacity is sized for the peak. A profile, when given, decides instead."""
    profile: list[Dec] | None = Field(default=None, min_length=24, max_length=168)
    """The shape of a day (24) or a week (168, Monday 00:00 first) of hourly request rates, as multipliers of
    requestsPerSecond; normalised to a mean of 1. In a cluster, the operator derives it from Prometheus."""

    @field_validator("profile")
    @classmethod
    def _profile_hours(cls, profile: list[Decimal] | None) -> list[Decimal] | None:
        if profile is not None:
            if len(profile) not in (24, 168):
                raise ValueError(f"{len(profile)} values; give 24 (a day) or 168 (a week) hourly multipliers")
            if not any(profile):
                raise ValueError("every hour is 0; give at least one hour with traffic")
        return profile


class Slo(BaseModel):
    """Latency objectives at the 95th percentile, in milliseconds."""

    model_config = WIRE
    ttft_p95_ms: Dec = Field(gt=0, le=3_600_000)
    """Time to first token."""
    tpot_p95_ms: Dec = Field(gt=0, le=60_000)
    """Time per output token after the first."""
    e2e_p95_ms: Dec | None = Field(default=None, gt=0, le=36_000_000, alias="e2eP95Ms")
    """Whole request, first byte in to last token out."""


class CurrentPlacement(BaseModel):
    """Where the workload runs today."""

    model_config = WIRE
    instance_type: str = Field(min_length=3, max_length=64)
    replicas: int = Field(ge=1, le=10_000)
    chips_per_replica: int = Field(ge=1, le=64)
    """Accelerator chips (GPUs, Inferentia/Trainium devices) per model replica."""
    capacity_type: CapacityType = "on-demand"
    recommendation_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{12}$")
    """The recommendation (its status id) this placement carries out: verification compares what it serves
    with what was promised for it. Without it, a placement matching a promise's instance type, chips per
    replica and precision is taken to carry that promise out."""
    since: str | None = Field(default=None, max_length=40, pattern=RFC3339_PATTERN)
    """When this placement started serving (RFC 3339, e.g. 2026-12-01T09:00:00Z); verification counts from
    here. Default: when the operator first saw it."""


class VerificationSpec(BaseModel):
    """How a move to a recommended placement is checked against what was promised."""

    model_config = WIRE
    settle: str = Field(default="24h", pattern=DURATION_PATTERN, max_length=8)
    """Time after the move that never counts (cold starts, warm-up, traffic shifting over); at least 1m."""

    @field_validator("settle")
    @classmethod
    def _at_least_a_minute(cls, v: str) -> str:
        if duration_seconds(v) < 60:
            raise ValueError(f"{v} is under a minute; give at least 1m")
        return v


class Constraints(BaseModel):
    """Limits on the search."""

    model_config = WIRE
    instance_families: list[Annotated[str, Field(min_length=2, max_length=32)]] | None = Field(
        default=None, min_length=1, max_length=64)
    """Allow-list of instance families (trn2, inf2, p5e, g6e, ...); every family when omitted."""
    capacity_types: list[CapacityType] = Field(default=["on-demand"], min_length=1, max_length=7)
    """Pricing to consider; on-demand only when omitted."""
    weight_precisions: list[Precision] | None = Field(default=None, min_length=1, max_length=5)
    """Weight precisions the team accepts (a change is a quality change to validate); the current one when omitted."""
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$", max_length=32)
    """AWS region; prices from another region are flagged in the rationale."""
    min_replicas: int | None = Field(default=None, ge=1, le=10_000)
    """Replicas to keep while serving (an autoscaled fleet never goes below it; scale-to-zero only in idle hours);
    2 when omitted, so that one lost replica or node does not stop the service."""
    spare_replicas: int | None = Field(default=None, ge=0, le=100)
    """Replicas beyond what the peak needs, so that losing as many still carries it within the SLOs (N+1); 1 when
    omitted, 0 for none."""
    max_migration_weeks: Dec | None = Field(default=None, ge=0, le=520)
    """Reject targets whose migration needs more engineer-weeks than this."""
    managed_apis: list[ManagedApi] | None = Field(default=None, max_length=5)
    """Per-token APIs to price against self-hosting (data residency, compliance); [bedrock] when omitted, [] for
    none."""


class MigrationOverride(BaseModel):
    """Engineer-weeks to move to one node pool (instance family) or platform (gpu, neuron)."""

    model_config = WIRE
    target: str = Field(min_length=2, max_length=32, pattern=r"^[a-z0-9-]+$")
    weeks: Dec = Field(ge=0, le=520)


class OverheadRates(BaseModel):
    """Monthly overheads as fractions of the instance bill."""

    model_config = WIRE
    host: Dec | None = Field(default=None, ge=0, le=5)
    """Host CPU and memory beyond the instance (EC2 prices include the host: default 0)."""
    network: Dec | None = Field(default=None, ge=0, le=5)
    """Data transfer and load balancing (default 0.01)."""
    storage: Dec | None = Field(default=None, ge=0, le=5)
    """Model weights, images and caches on EBS/S3/FSx (default 0.01)."""
    power: Dec | None = Field(default=None, ge=0, le=5)
    """Power and facility (in the cloud price: default 0; set it for owned hardware)."""
    orchestration: Dec | None = Field(default=None, ge=0, le=5)
    """Cluster control plane, monitoring, gateways (default 0.02)."""


class Economics(BaseModel):
    """Money beyond the instance bill; every default used is listed in status.assumptions."""

    model_config = WIRE
    engineer_week_cost: Dec | None = Field(default=None, ge=0, le=1_000_000)
    """Fully loaded US dollars per engineer-week (default 5000)."""
    amortization_months: int | None = Field(default=None, ge=1, le=120)
    """Months over which migration work is spread (default 12)."""
    migration_weeks: list[MigrationOverride] = Field(default=[], max_length=32)
    """Per target node pool or platform; overrides the catalog defaults."""
    overhead_rates: OverheadRates = OverheadRates()
    retry_rate: Dec | None = Field(default=None, ge=0, lt=1)
    """Fraction of requests that fail and are retried (default 0.01)."""
    target_utilization: Dec | None = Field(default=None, gt=0, le=1)
    """Peak load over SLO capacity the team accepts (default 0.8)."""


class SpeculativeDecoding(BaseModel):
    """Draft-model speculative decoding; the search tries it on and off."""

    model_config = WIRE
    draft_model: str = Field(min_length=1, max_length=200)
    acceptance_rate: Dec = Field(gt=0, lt=1)
    """Probability that the target accepts one drafted token."""
    num_speculative_tokens: int = Field(ge=1, le=16)


class MeasuredApiLatency(BaseModel):
    """A managed API's latency for this workload as the team measured it (p95, at its prompt and output lengths)."""

    model_config = WIRE
    provider: ManagedApi
    ttft_p95_ms: Dec = Field(gt=0, le=600_000)
    tpot_p95_ms: Dec = Field(gt=0, le=600_000)
    source: str = Field(min_length=3, max_length=512, pattern=PLAIN_TEXT)
    """How and where it was measured (load tool, region, date), e.g. "llmperf from us-east-1, 2026-11-20"."""


class Metrics(BaseModel):
    """Where the operator reads live traffic and latency."""

    model_config = WIRE
    server: MetricsServer = "vllm"
    selector: dict[LabelName, Annotated[str, Field(max_length=256)]] = Field(default={}, max_length=16)
    """Prometheus label name to exact value, e.g. {namespace: chat, model_name: llama-8b}."""
    window: str | None = Field(default=None, pattern=DURATION_PATTERN, max_length=8)
    """Rate and average window, e.g. 30m or 1h; when unset, the operator's metrics window (1h)."""
    shape_window: str = Field(default="7d", pattern=DURATION_PATTERN, max_length=8)
    """How far back the traffic's shape is read (hourly request rates folded onto a week from 7d, onto a day
    from 1d; at most 28d); it replaces spec.traffic.profile when complete."""
    prometheus_url: str | None = Field(default=None, pattern=r"^https?://[^\s/?#@]+(/[^\s?#@]*)?$", max_length=2048)
    """Query this Prometheus instead of the operator's, only if it is under an entry of the operator's allow-list
    (the chart's prometheus.allowedUrls, set by the platform; empty unless set, and then this URL is refused before
    any request). The operator's credentials are never sent to it, and nothing it answers is copied into status. A
    base URL: no user:password@, query or fragment."""


class Scaling(BaseModel):
    """How the fleet may follow the traffic's shape (spec.traffic.profile, or the one the operator observes)."""

    model_config = WIRE
    autoscale: bool = True
    """Size the fleet hour by hour between constraints.minReplicas and the peak (on-demand and spot only)."""
    scale_to_zero: bool = False
    """Allow no replicas in hours without traffic; the first requests after such an hour wait for a cold start."""
    scale_up_lead_time: str | None = Field(default=None, pattern=DURATION_PATTERN, max_length=8)
    """Node provisioning plus model load, e.g. 10m; estimated from the model's size when omitted."""


K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class Serving(BaseModel):
    """The Deployment that serves this workload, for `inferplace render`'s patch."""

    model_config = WIRE
    deployment: str = Field(min_length=1, max_length=253, pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    """Its name, in the workload's namespace."""
    container: str = Field(min_length=1, max_length=63, pattern=K8S_NAME)
    """The serving container's name (the patch merges into it by name)."""


class InferenceWorkloadSpec(BaseModel):
    """An LLM inference workload to place."""

    model_config = WIRE
    model: ModelSpec
    traffic: Traffic
    slo: Slo
    current: CurrentPlacement | None = None
    """Today's placement; without it there is nothing to save against."""
    constraints: Constraints = Constraints()
    economics: Economics = Economics()
    speculative_decoding: SpeculativeDecoding | None = None
    scaling: Scaling = Scaling()
    metrics: Metrics | None = None
    verification: VerificationSpec = VerificationSpec()
    """How a move to a recommended placement is verified (the operator, from spec.metrics)."""
    serving: Serving | None = None
    """The serving Deployment and container, for the rendered patch (else `render --deployment/--container`)."""
    measured_api_latency: list[MeasuredApiLatency] = Field(default=[], max_length=5)
    """Managed APIs' latency as measured by the team. An API is recommended only where its latency is known to meet
    the SLOs; without a figure it is listed as an alternative with its latency unknown."""
