"""Every threshold that tunes a recommendation, in one model with its meaning and its bounds.

The economics defaults stand in for what a spec leaves out (each one used is listed in
`status.assumptions`); the calibration bands decide when live latency corrects the engine; the
confidence figures say how far an unchecked fit is trusted. `DEFAULTS` is what the CLI and the
operator use; tests and callers may pass their own.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from inferplace.api.status import MAX_ALTERNATIVES

_FROZEN = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class EconomicsDefaults(BaseModel):
    """Used where `spec.economics` is silent."""

    model_config = _FROZEN
    engineer_week_cost: float = Field(default=5000.0, ge=0, le=1_000_000)
    """USD per engineer-week, fully loaded (a planning assumption, not a sourced figure)."""
    amortization_months: float = Field(default=12.0, ge=1, le=120)
    """Months over which migration work is spread."""
    retry_rate: float = Field(default=0.01, ge=0, lt=1)
    """Fraction of requests that fail and are sent again."""
    target_utilization: float = Field(default=0.8, gt=0, le=1)
    """Peak load over SLO capacity a fleet is sized to."""
    host: float = Field(default=0.0, ge=0, le=5)
    """Host CPU and memory as a fraction of the instance bill (EC2 prices include the host)."""
    network: float = Field(default=0.01, ge=0, le=5)
    """Data transfer and load balancing, as a fraction of the instance bill."""
    storage: float = Field(default=0.01, ge=0, le=5)
    """Weights, images and caches on EBS/S3/FSx, as a fraction of the instance bill."""
    power: float = Field(default=0.0, ge=0, le=5)
    """Power and facility (included in cloud prices)."""
    orchestration: float = Field(default=0.02, ge=0, le=5)
    """Control plane, monitoring and gateways, as a fraction of the instance bill."""


class CalibrationBands(BaseModel):
    """When a live measurement of today's placement corrects the engine."""

    model_config = _FROZEN
    agreement: float = Field(default=0.10, gt=0, lt=1)
    """|measured/modelled - 1| within which the engine is left alone and trusted more."""
    plausible_factor: float = Field(default=3.0, gt=1, le=100)
    """Beyond this factor either way the measurement is not of the placement the spec describes."""
    min_requests_per_second: float = Field(default=0.01, gt=0, le=1000)
    """Below this a window's means rest on a handful of requests: neither traffic nor latency is used."""
    max_disagreement: float = Field(default=10.0, gt=1, le=1000)
    """An observed request rate this many times above or below the declared one is reported, not used."""
    agree_again: float = Field(default=0.8, gt=0, le=1)
    """Once reported, the observed rate is used again only within this fraction of max_disagreement (8x):
    a rate near the limit (2 req/s observed against 20 declared) must not flip the fleet's size between
    the declared and the observed traffic at every evaluation."""


class ConfidenceSettings(BaseModel):
    """How far the engine's error is trusted, per efficiency group."""

    model_config = _FROZEN
    extrapolation_widening: float = Field(default=1.5, ge=1, le=10)
    """A placement beyond what its group's measurements cover (concurrency, prompt length, a chip without
    measurements of its own): the held-out error times this, with the reason said."""
    inherited_widening: float = Field(default=1.5, ge=1, le=10)
    """A borrowed fit is trusted less than on the chips it was fitted to: its error times this."""
    calibrated_error_floor: float = Field(default=0.10, ge=0, lt=1)
    """Error left after live latency agreed with the engine (other shapes of the chip still differ)."""
    high_below: float = Field(default=0.30, gt=0, lt=5)
    """p90 error at or below which the level is high."""
    medium_below: float = Field(default=0.50, gt=0, lt=5)
    """p90 error at or below which the level is medium (low above)."""


class PricingSettings(BaseModel):
    """How old a price may be before it is called stale."""

    model_config = _FROZEN
    max_age_days: int = Field(default=180, ge=1, le=3650)
    """A price older than this lowers the confidence level and says so."""


class ScalingSettings(BaseModel):
    """The scale-up lead time when a spec does not give one: node provisioning + image pull + weights."""

    model_config = _FROZEN
    node_provisioning_s: float = Field(default=180.0, ge=0, le=3600)
    """A new node, from the request to Ready (aws/karpenter-provider-aws#2906, 2022-11-21: "2-4 minutes")."""
    image_pull_s: float = Field(default=120.0, ge=0, le=3600)
    """A serving image of about 10 GB (aws/karpenter-provider-aws PR #1476, 2022-03-17: "a couple of minutes")."""
    weight_load_gb_per_s: float = Field(default=0.1, gt=0, le=100)
    """Weights from S3 to the accelerators. Derived: Qwen3-8B's ~16 GB in 168 s in AWS's SageMaker container
    caching example (secondary write-ups, 2026-06-17)."""


class RedundancySettings(BaseModel):
    """A fleet that survives losing a replica or its node, where the spec says nothing (listed in assumptions)."""

    model_config = _FROZEN
    min_replicas: int = Field(default=2, ge=1, le=10_000)
    """Never one replica: a node drain, a failed health check or a reclaimed spot instance would stop serving."""
    spare_replicas: int = Field(default=1, ge=0, le=100)
    """N+1: one replica beyond what the peak needs, so losing one still carries the peak within the SLOs."""


DEFAULT_ALTERNATIVES = 5  # the operator's --alternatives and the CLI's --top: what `kubectl describe` lists


class ReportSettings(BaseModel):
    model_config = _FROZEN
    max_alternatives: int = Field(default=10, ge=0, le=MAX_ALTERNATIVES)
    """Alternatives a search reports: the best of each other node pool, then the next cheapest. The CLI shows
    `--top` of them; the operator writes `--alternatives` of them into each status."""


class Settings(BaseModel):
    """All tuning of the placement search, with the defaults the CLI and the operator use."""

    model_config = _FROZEN
    economics: EconomicsDefaults = EconomicsDefaults()
    calibration: CalibrationBands = CalibrationBands()
    confidence: ConfidenceSettings = ConfidenceSettings()
    pricing: PricingSettings = PricingSettings()
    scaling: ScalingSettings = ScalingSettings()
    redundancy: RedundancySettings = RedundancySettings()
    report: ReportSettings = ReportSettings()


DEFAULTS = Settings()
