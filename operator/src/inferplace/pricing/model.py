"""A price, where it came from, and the interface every price source answers to.

Prices are kept apart from the instance catalog (as Karpenter keeps its pricing provider apart from
scheduling): the catalog says what an instance type is; a price source says what an hour of it costs
in one region, bought one way, according to whom, as of when.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from inferplace.api.vocabulary import CapacityType, PriceProvider

MAX_USD_PER_HOUR = 10_000.0
"""The largest hourly price any source may state (the biggest instance is about 150 USD/h)."""

# What each way of buying an hour commits the buyer to. Spot: "a warning that is issued two minutes
# before Amazon EC2 stops or terminates your Spot Instance"
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html).
# Capacity Blocks: "duration in 1-day increments up 14 days, and in 7-day increments up to 182 days"
# (EC2 DescribeCapacityBlockOfferings, capacityDurationHours) and "When a Capacity Block expires, all
# instances in the Capacity Block are terminated" (EC2 API reference, CapacityBlock.endDate).
TERMS: dict[CapacityType, str] = {
    "on-demand": "no commitment, billed per second",
    "spot": "spare capacity at a market price; EC2 may reclaim an instance with two minutes' notice",
    "reserved-1y": "1-year Standard Reserved Instance, no upfront: billed every hour of the year, used or not",
    "reserved-3y": "3-year Standard Reserved Instance, no upfront: billed every hour of the term, used or not",
    "savings-plan-1y": "1-year Savings Plan: an hourly spend commitment for the year",
    "savings-plan-3y": "3-year Savings Plan: an hourly spend commitment for three years",
    "capacity-block": ("Capacity Block for ML: booked ahead for 1-14 days (1-day steps) or up to 182 days "
                       "(7-day steps); its instances are terminated when the block ends"),
}


@dataclass(frozen=True)
class Price:
    """One hourly price of one instance type, in one region, bought one way."""

    instance_type: str
    region: str
    capacity_type: CapacityType
    usd_per_hour: float
    as_of: date
    source: str  # where the figure was read (an address, a file at a commit, a contract)
    provider: PriceProvider
    note: str = ""

    def age_days(self, today: date) -> int:
        return max((today - self.as_of).days, 0)

    def cite(self) -> str:
        return f"{self.source} ({self.region}, {self.capacity_type}, as of {self.as_of.isoformat()})"


@dataclass(frozen=True)
class NoPrice:
    """No source has a price for this key; `elsewhere` lists what exists for the instance type."""

    instance_type: str
    region: str
    capacity_type: CapacityType
    elsewhere: tuple[Price, ...]

    def explain(self) -> str:
        text = f"no {self.capacity_type} price for {self.instance_type} in {self.region}"
        if not self.elsewhere:
            return text + " (no source has any price for it)"
        here = sorted({p.capacity_type for p in self.elsewhere if p.region == self.region})
        there = sorted({f"{p.region} ({p.capacity_type})" for p in self.elsewhere if p.region != self.region})
        parts = []
        if here:
            parts.append(f"in {self.region} only as {', '.join(here)}")
        if there:
            parts.append(f"elsewhere: {', '.join(there[:6])}{' ...' if len(there) > 6 else ''}")
        return f"{text}; it is priced {'; '.join(parts)}"


class PriceSource(Protocol):
    """One layer of prices: the user's, the live provider's, the snapshot's."""

    @property
    def provider(self) -> PriceProvider: ...

    def get(self, instance_type: str, region: str, capacity_type: CapacityType) -> Price | None: ...

    def prices(self) -> Iterable[Price]: ...
