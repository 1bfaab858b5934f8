"""Managed per-token APIs as node pools on the same axis as self-hosted placements.

cost per 1M accepted output tokens = (prompt tokens x input price + output tokens x output price)
per accepted output token, retries included, plus the network share of the bill and the migration
engineer-weeks, through the same TCO terms as every instance fleet. An API is offered only where the
price table has the workload's exact Hugging Face model id in its region (or as a global API).
Latency is not modelled: an API is recommended only where the team's measured latency (spec.measuredApiLatency)
meets the SLOs; without it the API is listed as an alternative with its latency unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from inferplace.api.vocabulary import ManagedApi
from inferplace.catalog import Catalog
from inferplace.engine.tco import Overheads, per_token_cost
from inferplace.placement.candidates import Failure
from inferplace.placement.cost import COST_FIELDS, cents
from inferplace.placement.workload import Workload
from inferplace.pricing.managed import ApiPrice, ApiPrices

# No provider or public benchmark in the project's data publishes these APIs' latency at a workload's lengths, so
# only the team's own measurement (spec.measuredApiLatency) makes an API recommendable.
LATENCY_UNKNOWN = ("unknown: no sourced or measured figure for this API; measure it and give "
                   "spec.measuredApiLatency (listed, never recommended, until then)")


@dataclass(frozen=True)
class ManagedOption:
    provider: ManagedApi
    price: ApiPrice
    cost: dict[str, float]  # monthly USD per term, plus instance_bill (the API usage) and total
    per_million: float
    migration_weeks: float
    migration_basis: str
    # (TTFT p95 s, TPOT p95 s, source) as the team measured it, within the SLOs; None: unknown.
    latency: tuple[float, float, str] | None = None

    @property
    def latency_known(self) -> bool:
        return self.latency is not None

    @cached_property
    def cost_cents(self) -> dict[str, float]:
        return cents(self.cost)

    @property
    def total_cents(self) -> float:
        return self.cost_cents["total"]


def api_overheads(w: Workload) -> Overheads:
    """Of the fleet overheads only the network applies to an API: no hosts, storage, power or cluster."""
    return Overheads(host=0.0, network=w.overheads.network, storage=0.0, power=0.0, orchestration=0.0)


def migration_to(w: Workload, cat: Catalog, provider: ManagedApi) -> tuple[float, str]:
    if provider in w.migration_overrides:
        return w.migration_overrides[provider], f"spec.economics.migrationWeeks[{provider}]"
    return cat.migration.migration_weeks.to_managed_api, "catalog default (migration.yaml)"


def priced(w: Workload, prices: list[ApiPrice], weeks: list[float],
           scale: float | np.ndarray = 1.0) -> tuple[np.ndarray, list[dict[str, float]], np.ndarray]:
    """(totals, terms, per-million) of `prices` at `scale` times the workload's traffic (one scale, or one
    per price)."""
    usd_in = np.array([p.usd_per_1m_input for p in prices])
    usd_out = np.array([p.usd_per_1m_output for p in prices])
    costs = per_token_cost(w.demand.mean * scale, w.prompt_mean, w.output_mean, usd_in, usd_out,
                           api_overheads(w), w.retry_rate, np.array(weeks), w.engineer_week_cost,
                           w.amortization_months, w.accepted_tok_s * scale)
    table = np.stack([getattr(costs, k) for k in COST_FIELDS], axis=1).tolist()
    return costs.total, [dict(zip(COST_FIELDS, row, strict=True)) for row in table], costs.per_million_tokens


def managed_options(w: Workload, apis: ApiPrices, cat: Catalog) -> tuple[list[ManagedOption], dict[str, Failure]]:
    """The allowed APIs that serve the workload's model in its region, cheapest first, and why the others do not."""
    offers: list[tuple[ManagedApi, ApiPrice, float, str]] = []
    failures: dict[str, Failure] = {}
    for provider in w.managed_apis:
        if not w.served_model:
            failures[provider] = Failure("MODEL_NOT_OFFERED", f"{provider} cannot serve a custom architecture "
                                         "(spec.model.architecture): an API serves named models only")
            continue
        offer = apis.offer(provider, w.served_model, w.region)
        if offer is None:
            where = apis.regions(provider, w.served_model)
            elsewhere = f"; it does in {', '.join(where)} (spec.constraints.region)" if where else ""
            failures[provider] = Failure("MODEL_NOT_OFFERED", f"{provider} has no on-demand price for "
                                         f"{w.served_model} in {w.region} in the price table{elsewhere}")
            continue
        measured = w.api_latency.get(provider)
        if measured is not None:
            ttft, tpot, source = measured
            if ttft > w.ttft_slo_s:
                failures[provider] = Failure("SLO_TTFT_UNMET", f"{provider}: TTFT p95 {ttft * 1e3:g} ms as measured "
                                             f"({source}), above the {w.ttft_slo_s * 1e3:g} ms objective")
                continue
            if tpot > w.tpot_slo_s:
                failures[provider] = Failure("SLO_TPOT_UNMET", f"{provider}: TPOT p95 {tpot * 1e3:g} ms as measured "
                                             f"({source}), above the {w.tpot_slo_s * 1e3:g} ms objective")
                continue
        weeks, basis = migration_to(w, cat, provider)
        offers.append((provider, offer, weeks, basis))
    if not offers:
        return [], failures
    _, terms, per_million = priced(w, [o[1] for o in offers], [o[2] for o in offers])
    options = [ManagedOption(p, price, t, float(pm), weeks, basis, w.api_latency.get(p))
               for (p, price, weeks, basis), t, pm in zip(offers, terms, per_million.tolist(), strict=True)]
    return sorted(options, key=lambda o: (round(o.cost["total"], 2), o.provider)), failures
