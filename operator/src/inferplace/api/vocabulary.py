"""The words of the InferenceWorkload API, each list defined once; the rest of the project takes them
from here (the CRD's enums, the catalog's data types, the placement's reason codes, the operator's
durations).
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from inferplace.engine import BOUNDS, LIMITS, Bound, Limit

Precision = Literal["bf16", "fp16", "fp8", "int8", "fp4"]
"""Weight or KV-cache data type."""
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
BYTES_PER_ELEMENT: dict[Precision, float] = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "fp4": 0.5}

CapacityType = Literal[
    "on-demand", "spot", "reserved-1y", "reserved-3y", "savings-plan-1y", "savings-plan-3y", "capacity-block"
]
"""How an instance hour is bought."""
CAPACITY_TYPES: tuple[CapacityType, ...] = get_args(CapacityType)

PriceProvider = Literal["override", "aws", "snapshot"]
"""Who answered for a price: the user's rates, the live AWS price APIs, or the snapshot bundled with inferplace."""
PRICE_PROVIDERS: tuple[PriceProvider, ...] = get_args(PriceProvider)

NeuronSupport = Literal["supported", "beta", "unsupported"]
"""How well the Neuron serving stack runs a model family."""

Platform = Literal["gpu", "neuron"]

ManagedApi = Literal["bedrock", "together", "deepinfra", "fireworks", "groq"]
"""Per-token model APIs priced on the same axis as self-hosted node pools."""
MANAGED_APIS: tuple[ManagedApi, ...] = get_args(ManagedApi)
DEFAULT_MANAGED_APIS: tuple[ManagedApi, ...] = ("bedrock",)

ScalingStrategy = Literal["fixed", "autoscaled", "scale-to-zero"]
"""How a fleet follows the traffic: sized for the peak all day, scaled hour by hour, or to zero when idle."""

MetricsServer = Literal["vllm", "tgi", "sglang", "trtllm"]
"""Serving stacks whose Prometheus metrics the operator reads."""

# Why a node pool was not recommended, ordered by how far a candidate got: an instance type is
# reported with the furthest reason any of its options reached.
Reason = Literal[
    "EXCLUDED_BY_CONSTRAINTS",
    "MODEL_NOT_OFFERED",
    "MODEL_UNSUPPORTED_ON_NEURON",
    "MIGRATION_EXCEEDS_LIMIT",
    "NO_PERFORMANCE_DATA",
    "DOES_NOT_FIT",
    "SLO_TTFT_UNMET",
    "SLO_E2E_UNMET",
    "SLO_TPOT_UNMET",
    "NO_PRICE",
    "HIGHER_COST",
]
REASONS: tuple[Reason, ...] = get_args(Reason)

ConfidenceLevel = Literal["high", "medium", "low"]
# A move to a recommended placement: waiting for its settling period, then confirmed or missed against the
# promise, or inconclusive (no metrics, too little traffic) with the reason.
VerificationState = Literal["Pending", "Settling", "Confirmed", "Missed", "Inconclusive"]
CONFIDENCE_LEVELS: tuple[ConfidenceLevel, ...] = get_args(ConfidenceLevel)

ConditionType = Literal["Ready", "MetricsAvailable", "Calibrated", "PricesCurrent", "Approved"]

APPROVAL_ANNOTATION = "inferplace.io/approved-recommendation"
"""Set to a recommendation's `id` to approve it: `inferplace render --approved` renders only those,
and the operator's `Approved` condition says whether the approved one is still the current one."""

# A Prometheus label name a selector may use: PromQL's rule, without the reserved `__*` names
# (`__name__` would replace the metric every query names).
LABEL_NAME_PATTERN = r"^([a-zA-Z][a-zA-Z0-9_]*|_([a-zA-Z0-9][a-zA-Z0-9_]*)?)$"

DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DURATION_PATTERN = r"^[1-9][0-9]*(s|m|h|d)$"
"""A whole number of seconds, minutes, hours or days: 30s, 5m, 1h, 7d (as PromQL writes them)."""
_DURATION = re.compile(r"([1-9][0-9]*)(s|m|h|d)")


def duration_seconds(text: str) -> int:
    """Seconds in a duration such as 30s, 5m, 1h or 7d; ValueError naming the allowed forms otherwise."""
    m = _DURATION.fullmatch(text)
    if m is None:
        raise ValueError(f"{text[:40]!r} is not a duration; write a whole number with s, m, h or d, e.g. 30s, 5m, 1h")
    return int(m.group(1)) * DURATION_UNITS[m.group(2)]


__all__ = [
    "APPROVAL_ANNOTATION",
    "BOUNDS",
    "BYTES_PER_ELEMENT",
    "CAPACITY_TYPES",
    "CONFIDENCE_LEVELS",
    "DEFAULT_MANAGED_APIS",
    "DURATION_PATTERN",
    "LABEL_NAME_PATTERN",
    "LIMITS",
    "MANAGED_APIS",
    "PRECISIONS",
    "PRICE_PROVIDERS",
    "REASONS",
    "Bound",
    "CapacityType",
    "ConditionType",
    "ConfidenceLevel",
    "Limit",
    "ManagedApi",
    "MetricsServer",
    "NeuronSupport",
    "Platform",
    "Precision",
    "PriceProvider",
    "Reason",
    "ScalingStrategy",
    "VerificationState",
    "duration_seconds",
]
