"""A team's own prices (negotiated rates, private pricing, savings plans, prices no public source
has), laid over every other source. Each carries its source and date like every figure; the CLI
reads them from `--prices FILE`, the operator from its price-override ConfigMap.

    prices:
    - instanceType: trn2.48xlarge
      capacityType: savings-plan-1y
      usdPerHour: "24.00"          # a decimal string, as everywhere in the API
      source: "EDP contract 2026-10"
      date: "2026-10-01"
      region: us-east-2            # optional: without it the rate applies in every region, and says so
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from inferplace.api.documents import MAX_BYTES, documents
from inferplace.api.errors import describe
from inferplace.api.types import PLAIN_TEXT, WIRE, Dec
from inferplace.api.vocabulary import CapacityType, PriceProvider
from inferplace.pricing.model import MAX_USD_PER_HOUR, Price

ANY_REGION = "*"
FUTURE_SLACK = datetime.timedelta(days=1)  # a rate dated "tomorrow" where the writer's day is ahead of UTC


class PriceOverride(BaseModel):
    model_config = WIRE
    instance_type: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9-]+\.[0-9a-z]+$")
    capacity_type: CapacityType
    usd_per_hour: Dec = Field(gt=0, le=MAX_USD_PER_HOUR)
    source: str = Field(min_length=3, max_length=512, pattern=PLAIN_TEXT)
    """Where the figure comes from (contract, quote, pricing page)."""
    date: datetime.date = Field(strict=False)  # YAML or JSON text: 'YYYY-MM-DD'
    """When the rate took effect or was quoted (YYYY-MM-DD)."""
    region: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$", max_length=32)
    """AWS region the rate is for; every region when omitted."""


class PriceOverrides(BaseModel):
    model_config = WIRE
    prices: list[PriceOverride] = Field(max_length=1000)


class OverrideError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Overrides:
    """A PriceSource over the user's rates; a rate without a region answers for every region."""

    by_key: dict[tuple[str, str, CapacityType], Price]
    provider: PriceProvider = "override"

    def get(self, instance_type: str, region: str, capacity_type: CapacityType) -> Price | None:
        p = self.by_key.get((instance_type, region, capacity_type))
        if p is None:
            anywhere = self.by_key.get((instance_type, ANY_REGION, capacity_type))
            if anywhere is not None:
                return Price(instance_type, region, capacity_type, anywhere.usd_per_hour, anywhere.as_of,
                             anywhere.source, "override", "supplied by the user for every region (no region given)")
        return p

    def prices(self) -> Iterable[Price]:
        return self.by_key.values()


def read_overrides(text: str | bytes, known_instance_types: Iterable[str] | None = None,
                   today: datetime.date | None = None) -> Overrides:
    """The user's rates from a price file (one YAML document with a `prices` list), read by the one
    hardened YAML reader (bounded, duplicate keys refused, dates kept as written); with `today`, a rate
    dated after it is refused (it would count as fresh for years)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) > MAX_BYTES:
        raise OverrideError([f"larger than {MAX_BYTES // (1024 * 1024)} MiB"])
    docs = documents(data)
    bad = [f"document {d.index + 1}: {d.problem}" if len(docs) > 1 else str(d.problem) for d in docs if d.problem]
    if bad:
        raise OverrideError(bad)
    if len(docs) != 1:
        raise OverrideError([f"expected one YAML document with a `prices` list, found {len(docs)}"])
    return parse_overrides(docs[0].value, known_instance_types, today)


def parse_overrides(raw: Any, known_instance_types: Iterable[str] | None = None,
                    today: datetime.date | None = None) -> Overrides:
    """The user's rates from the parsed YAML; OverrideError with one `prices[i].field: problem` line each."""
    try:
        parsed = PriceOverrides.model_validate(raw)
    except ValidationError as exc:
        raise OverrideError(describe(exc, PriceOverrides)) from None
    known = set(known_instance_types) if known_instance_types is not None else None
    problems: list[str] = []
    by_key: dict[tuple[str, str, CapacityType], Price] = {}
    for i, o in enumerate(parsed.prices):
        if today is not None and o.date > today + FUTURE_SLACK:
            problems.append(f"prices[{i}].date: {o.date.isoformat()} is after today ({today.isoformat()}): a rate "
                            "cannot be dated in the future (it would count as fresh)")
            continue
        if known is not None and o.instance_type not in known:
            problems.append(f"prices[{i}].instanceType: unknown instance type {o.instance_type!r}; known: "
                            f"{', '.join(sorted(known))}")
            continue
        key = (o.instance_type, o.region or ANY_REGION, o.capacity_type)
        if key in by_key:
            problems.append(f"prices[{i}]: a second {o.capacity_type} rate for {o.instance_type} in "
                            f"{o.region or 'every region'}")
            continue
        by_key[key] = Price(o.instance_type, o.region or ANY_REGION, o.capacity_type, float(o.usd_per_hour), o.date,
                            f"price override: {o.source}", "override", "supplied by the user")
    if problems:
        raise OverrideError(problems)
    return Overrides(by_key)
