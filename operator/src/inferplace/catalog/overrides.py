"""A team's own prices (negotiated rates, private pricing, prices the catalog lacks), laid over the
catalog. Each carries its source and date like every catalog figure; the CLI reads them from
`--prices FILE`, the operator from its price-override ConfigMap.

    prices:
    - instanceType: trn2.48xlarge
      capacityType: on-demand
      usdPerHour: "40.00"          # a decimal string, as everywhere in the API
      source: "EDP contract 2026-10"
      date: "2026-10-01"
      region: us-east-1            # optional
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from inferplace.api.errors import describe
from inferplace.api.types import WIRE, Dec
from inferplace.api.vocabulary import CapacityType
from inferplace.catalog._files import CatalogError
from inferplace.catalog.instances import Price
from inferplace.catalog.registry import Catalog


class PriceOverride(BaseModel):
    model_config = WIRE
    instance_type: str = Field(min_length=3, max_length=64)
    capacity_type: CapacityType
    usd_per_hour: Dec = Field(gt=0, lt=10_000)
    source: str = Field(min_length=3, max_length=512)
    """Where the figure comes from (contract, quote, pricing page)."""
    date: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}(-[0-9]{2})?$")
    region: str = Field(default="not stated", max_length=64)


class PriceOverrides(BaseModel):
    model_config = WIRE
    prices: list[PriceOverride] = Field(max_length=1000)


class OverrideError(CatalogError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def apply_price_overrides(cat: Catalog, raw: Any) -> Catalog:
    """A copy of `cat` with the prices in `raw` (the parsed YAML) replacing or adding catalog prices."""
    try:
        parsed = PriceOverrides.model_validate(raw)
    except ValidationError as exc:
        raise OverrideError(describe(exc, PriceOverrides)) from None
    instances = dict(cat.instances)
    problems = []
    for i, p in enumerate(parsed.prices):
        inst = instances.get(p.instance_type.lower())
        if inst is None:
            problems.append(f"prices[{i}].instanceType: unknown instance type {p.instance_type!r}; "
                            f"known: {', '.join(sorted(instances))}")
            continue
        price = Price(usd_per_hour=float(p.usd_per_hour), region=p.region, date=p.date,
                      source=f"price override: {p.source}", note="supplied by the user")
        instances[inst.type] = inst.model_copy(update={"prices": {**inst.prices, p.capacity_type: price}})
    if problems:
        raise OverrideError(problems)
    return dataclasses.replace(cat, instances=instances)


__all__ = ["OverrideError", "PriceOverride", "PriceOverrides", "apply_price_overrides"]
