"""Total cost of ownership per candidate, as one system (pure numpy, one entry per candidate).

cost per 1M accepted output tokens =
    (accelerators + host + network + storage + power + orchestration + software engineering
     + failed requests and retries + idle capacity) / accepted output tokens

The instance bill is split three ways so nothing is counted twice: the share doing accepted work
(`accelerators`), the share spent on failed requests and their retries, and the idle share
(headroom for the peak, the target utilization, partly filled instances). Overheads are fractions of
the instance bill; software engineering spreads migration engineer-weeks over the amortization
months.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]
HOURS_PER_MONTH = 730.0
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600.0


@dataclass(frozen=True)
class Demand:
    """Requests/s a fleet must carry, retries included: the one demand formula of the project."""

    mean_rps: float  # requests/s the clients send, on average
    peak_to_mean: float
    retry_rate: float  # fraction of requests that fail and are sent again

    @property
    def peak(self) -> float:
        return self.mean_rps * self.peak_to_mean * (1.0 + self.retry_rate)

    @property
    def mean(self) -> float:
        return self.mean_rps * (1.0 + self.retry_rate)


@dataclass(frozen=True)
class Sizing:
    replicas: F64
    instances: F64
    replicas_per_instance: F64
    capacity_tok_s: F64  # output tokens/s within the SLOs on every paid slot
    utilization: F64  # mean demand incl. retries over that capacity (1 where there is no capacity)


def replicas_for(rate_per_replica: F64, demand_peak: F64 | float, target_utilization: F64 | float,
                 min_replicas: F64 | float) -> F64:
    """Replicas carrying `demand_peak` requests/s at the target utilization (NaN rate: NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out: F64 = np.maximum(np.ceil(demand_peak / (rate_per_replica * target_utilization) - 1e-9), min_replicas)
    return out


def size(
    rate_per_replica: F64,  # requests/s one replica serves within the SLOs (NaN: none)
    demand: Demand,
    target_utilization: float,
    min_replicas: int,
    chips_per_replica: F64,
    chips_per_instance: F64,
    output_tokens: float,
    replicas: F64 | None = None,  # a fleet of given size (today's placement) instead of one sized for the peak
) -> Sizing:
    """Replicas for the peak (retries included) at the target utilization, packed into whole instances."""
    if replicas is None:
        replicas = replicas_for(rate_per_replica, demand.peak, target_utilization, float(min_replicas))
    per_instance = np.maximum(np.floor(chips_per_instance / chips_per_replica), 1.0)
    instances = np.ceil(replicas / per_instance)
    capacity_rps = instances * per_instance * rate_per_replica
    served = np.isfinite(capacity_rps) & (capacity_rps > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        utilization = np.where(served, np.minimum(demand.mean / capacity_rps, 1.0), 1.0)
    capacity_tok_s = np.where(served, capacity_rps * output_tokens, 0.0)
    return Sizing(replicas, instances, per_instance, capacity_tok_s, utilization)


@dataclass(frozen=True)
class Overheads:
    host: float
    network: float
    storage: float
    power: float
    orchestration: float


@dataclass(frozen=True)
class CostTerms:
    """US dollars per month, per candidate."""

    accelerators: F64
    host: F64
    network: F64
    storage: F64
    power: F64
    orchestration: F64
    software_engineering: F64
    failed_requests_and_retries: F64
    idle_capacity: F64
    instance_bill: F64
    total: F64
    accepted_tokens_per_month: float
    per_million_tokens: F64

    TERMS = ("accelerators", "host", "network", "storage", "power", "orchestration",
             "software_engineering", "failed_requests_and_retries", "idle_capacity")


def monthly_cost(
    usd_per_instance_hour: F64,
    sizing: Sizing,
    overheads: Overheads,
    retry_rate: float,
    migration_weeks: F64,
    engineer_week_cost: float,
    amortization_months: float,
    accepted_tok_s: float,
) -> CostTerms:
    bill = usd_per_instance_hour * sizing.instances * HOURS_PER_MONTH
    busy = bill * sizing.utilization
    accepted_share = 1.0 / (1.0 + retry_rate)
    software = migration_weeks * engineer_week_cost / amortization_months
    terms = {
        "accelerators": busy * accepted_share,
        "failed_requests_and_retries": busy * (1.0 - accepted_share),
        "idle_capacity": bill - busy,
        "host": bill * overheads.host,
        "network": bill * overheads.network,
        "storage": bill * overheads.storage,
        "power": bill * overheads.power,
        "orchestration": bill * overheads.orchestration,
        "software_engineering": software + 0.0 * bill,
    }
    total = np.sum(np.stack([terms[k] for k in CostTerms.TERMS]), axis=0)
    tokens = accepted_tok_s * SECONDS_PER_MONTH
    return CostTerms(
        instance_bill=bill, total=total, accepted_tokens_per_month=tokens,
        per_million_tokens=total / (tokens / 1e6), **terms,
    )
