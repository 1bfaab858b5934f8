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

    mean_rps: F64 | float  # requests/s the clients send, on average (one value per option, or shared)
    peak_to_mean: F64 | float
    retry_rate: F64 | float  # fraction of requests that fail and are sent again

    @property
    def peak(self) -> F64 | float:
        return self.mean_rps * self.peak_to_mean * (1.0 + self.retry_rate)

    @property
    def mean(self) -> F64 | float:
        return self.mean_rps * (1.0 + self.retry_rate)

    def hourly(self, profile: F64) -> F64:
        """Requests/s to carry in each hour of a profile of multipliers with mean 1 (per option: (n, H))."""
        rps = np.asarray(self.mean_rps, dtype=np.float64)
        out: F64 = (rps[..., None] if rps.ndim else rps) * profile * (1.0 + self.retry_rate)
        return out


@dataclass(frozen=True)
class Sizing:
    replicas: F64  # at the peak
    instances: F64  # at the peak
    replicas_per_instance: F64
    capacity_tok_s: F64  # output tokens/s within the SLOs on every paid slot (the month's mean)
    utilization: F64  # mean demand incl. retries over that capacity (1 where there is no capacity)
    instance_hours: F64  # instance-hours paid per month
    cold_start_share: F64 | None = None  # requests that arrive while a fleet is starting from zero


def replicas_for(rate_per_replica: F64, demand_peak: F64 | float, target_utilization: F64 | float,
                 min_replicas: F64 | float, spare: F64 | float = 0.0) -> F64:
    """Replicas carrying `demand_peak` requests/s at the target utilization, plus `spare` replicas so that
    losing that many still carries it (N+1), never fewer than `min_replicas` (NaN rate: NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.ceil(demand_peak / (rate_per_replica * target_utilization) - 1e-9) + spare
        out: F64 = np.maximum(need, min_replicas)
    return out


def spread_over(replicas: F64, per_instance: F64, spread: F64 | float) -> F64:
    """Whole instances for `replicas`: packed, but never fewer than min(replicas, spread), so that losing
    one node leaves replicas serving (NaN replicas stay NaN)."""
    return np.maximum(np.ceil(replicas / per_instance), np.minimum(replicas, np.asarray(spread, dtype=np.float64)))


def size(
    rate_per_replica: F64,  # requests/s one replica serves within the SLOs (NaN: none)
    demand: Demand,
    target_utilization: F64 | float,  # this and the other scalars: one value per option, or shared
    min_replicas: F64 | float,
    chips_per_replica: F64,
    chips_per_instance: F64,
    output_tokens: F64 | float,
    replicas: F64 | None = None,  # a fleet of given size (today's placement) instead of one sized for the peak
    spare: F64 | float = 0,  # replicas beyond what the peak needs (N+1 redundancy)
    spread: F64 | float = 1,  # the replicas run on at least this many instances (no single node to lose)
) -> Sizing:
    """Replicas for the peak (retries included) at the target utilization, packed into whole instances."""
    if replicas is None:
        replicas = replicas_for(rate_per_replica, demand.peak, target_utilization,
                                np.asarray(min_replicas, dtype=np.float64), np.asarray(spare, dtype=np.float64))
    per_instance = np.maximum(np.floor(chips_per_instance / chips_per_replica), 1.0)
    instances = spread_over(replicas, per_instance, spread)
    capacity_rps = instances * per_instance * rate_per_replica
    served = np.isfinite(capacity_rps) & (capacity_rps > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        utilization = np.where(served, np.minimum(demand.mean / capacity_rps, 1.0), 1.0)
    capacity_tok_s = np.where(served, capacity_rps * output_tokens, 0.0)
    return Sizing(replicas, instances, per_instance, capacity_tok_s, utilization, instances * HOURS_PER_MONTH)


def size_over_hours(
    rate_per_replica: F64,  # (n,) requests/s one replica serves within the SLOs
    demand: F64,  # (H,) or (n, H): requests/s to carry in each hour of the profile, retries included
    target_utilization: float,
    min_replicas: int,
    chips_per_replica: F64,  # (n,)
    chips_per_instance: F64,  # (n,)
    output_tokens: float,
    lead_s: F64,  # (n,) seconds from asking for a replica to its serving (node provisioning + model load)
    to_zero: bool,  # no replicas in hours without traffic
    spare: int = 0,  # replicas beyond what each hour needs (N+1 redundancy)
    spread: int = 1,  # each hour's replicas run on at least this many instances
) -> Sizing:
    """A fleet sized hour by hour: each hour's replicas for its demand (at least `min_replicas`, or 0 in
    idle hours when `to_zero`), packed into whole instances. A rise is met ahead: the next hour's fleet
    is already paid for the last `lead_s` of the hour before, except after an idle hour with `to_zero`,
    where nothing anticipates it and the first requests wait `lead_s` for a cold start."""
    rate = rate_per_replica[:, None]
    util = target_utilization
    demand = np.broadcast_to(demand, (rate_per_replica.size, demand.shape[-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.maximum(np.ceil(demand / (rate * util) - 1e-9) + spare, float(min_replicas))
    idle = demand <= 0
    if to_zero:
        need = np.where(idle, 0.0, need)
    per_instance = np.maximum(np.floor(chips_per_instance / chips_per_replica), 1.0)[:, None]
    nxt = np.roll(need, -1, axis=1)
    cold = np.roll(idle, 1, axis=1) & ~idle if to_zero else np.zeros_like(idle)  # an hour that starts from zero
    ahead = np.maximum(need, np.where(np.roll(cold, -1, axis=1), 0.0, nxt))  # reactive after an idle hour
    inst, inst_ahead = spread_over(need, per_instance, spread), spread_over(ahead, per_instance, spread)
    f = np.minimum(lead_s / 3600.0, 1.0)[:, None]
    paid = inst * (1.0 - f) + inst_ahead * f  # instance-hours in each hour
    hours = demand.shape[-1]
    capacity_rps = np.sum(paid, axis=1) * per_instance[:, 0] * rate_per_replica / hours
    mean_demand = np.mean(demand, axis=1)
    served = np.isfinite(capacity_rps) & (capacity_rps > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        utilization = np.where(served, np.minimum(mean_demand / capacity_rps, 1.0), 1.0)
        total = np.sum(demand, axis=1)
        cold_share = np.where(total > 0, np.sum(np.where(cold, demand, 0.0), axis=1) * np.minimum(lead_s, 3600.0)
                              / (total * 3600.0), 0.0)
    return Sizing(np.max(need, axis=1), np.max(inst_ahead, axis=1), per_instance[:, 0],
                  np.where(served, capacity_rps * output_tokens, 0.0), utilization,
                  np.sum(paid, axis=1) * HOURS_PER_MONTH / hours, cold_share)


@dataclass(frozen=True)
class Overheads:
    """Fractions of the instance bill (one value per option, or shared)."""

    host: F64 | float
    network: F64 | float
    storage: F64 | float
    power: F64 | float
    orchestration: F64 | float


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
    instance_bill: F64  # the bill the shares split: instance-hours, or a per-token API's usage
    total: F64
    accepted_tokens_per_month: F64 | float
    per_million_tokens: F64

    TERMS = ("accelerators", "host", "network", "storage", "power", "orchestration",
             "software_engineering", "failed_requests_and_retries", "idle_capacity")


def monthly_cost(
    usd_per_instance_hour: F64,
    sizing: Sizing,
    overheads: Overheads,
    retry_rate: F64 | float,
    migration_weeks: F64,
    engineer_week_cost: F64 | float,
    amortization_months: F64 | float,
    accepted_tok_s: F64 | float,
) -> CostTerms:
    """A fleet of instances: the bill is every instance-hour paid for; its busy share is the utilization."""
    return costs_of_bill(usd_per_instance_hour * sizing.instance_hours, sizing.utilization, overheads, retry_rate,
                         migration_weeks, engineer_week_cost, amortization_months, accepted_tok_s)


def per_token_cost(
    requests_per_s: F64 | float,  # retries included
    prompt_tokens: float,
    output_tokens: float,
    usd_per_1m_input: F64,
    usd_per_1m_output: F64,
    overheads: Overheads,
    retry_rate: F64 | float,
    migration_weeks: F64,
    engineer_week_cost: F64 | float,
    amortization_months: F64 | float,
    accepted_tok_s: F64 | float,
) -> CostTerms:
    """A per-token API: the bill is the tokens sent and received; nothing is idle."""
    per_request = prompt_tokens * usd_per_1m_input + output_tokens * usd_per_1m_output
    bill = requests_per_s * SECONDS_PER_MONTH * per_request / 1e6
    return costs_of_bill(bill, np.ones_like(bill), overheads, retry_rate, migration_weeks, engineer_week_cost,
                         amortization_months, accepted_tok_s)


def costs_of_bill(
    bill: F64,
    utilization: F64,
    overheads: Overheads,
    retry_rate: F64 | float,
    migration_weeks: F64,
    engineer_week_cost: F64 | float,
    amortization_months: F64 | float,
    accepted_tok_s: F64 | float,
) -> CostTerms:
    """The TCO terms of a monthly bill: the one cost formula behind every option."""
    busy = bill * utilization
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
