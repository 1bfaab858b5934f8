"""Prices in layers, first answer wins: the user's overrides, then the live AWS provider (when the
operator runs one), then the bundled snapshot. A price is only ever answered for the region asked:
where no layer has one, the answer says so and names the regions and capacity types that have one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from inferplace.api.vocabulary import CapacityType
from inferplace.pricing.managed import ApiPrices, bundled
from inferplace.pricing.model import NoPrice, Price, PriceSource


@dataclass
class PriceBook:
    layers: Sequence[PriceSource]
    default_region: str
    apis: ApiPrices = field(default_factory=bundled)  # per-token prices of managed model APIs
    _by_type: dict[str, list[Price]] | None = field(default=None, repr=False)
    # A book is one view of its layers (the operator builds a new one per evaluation): each answer is kept.
    _answers: dict[tuple[str, str, str], Price | NoPrice] = field(default_factory=dict, repr=False)

    def price(self, instance_type: str, region: str, capacity_type: CapacityType) -> Price | NoPrice:
        key = (instance_type, region, capacity_type)
        answer = self._answers.get(key)
        if answer is None:
            answer = next((p for layer in self.layers if (p := layer.get(instance_type, region, capacity_type))),
                          None) or NoPrice(instance_type, region, capacity_type, tuple(self.offers(instance_type)))
            self._answers[key] = answer
        return answer

    def offers(self, instance_type: str) -> list[Price]:
        """Every price any layer has for `instance_type`, the first layer's where two agree on a key."""
        if self._by_type is None:
            self._by_type = {}
            seen: set[tuple[str, str, str]] = set()
            for layer in self.layers:
                for p in layer.prices():
                    key = (p.instance_type, p.region, p.capacity_type)
                    if key not in seen:
                        seen.add(key)
                        self._by_type.setdefault(p.instance_type, []).append(p)
        return self._by_type.get(instance_type, [])

    def listing(self, region: str | None = None, instance_type: str | None = None) -> list[Price]:
        """The prices in effect (first layer wins), optionally for one region or instance type."""
        types = [instance_type] if instance_type else sorted({p.instance_type for layer in self.layers
                                                               for p in layer.prices()})
        out = [p for t in types for p in self.offers(t) if region is None or p.region in (region, "*")]
        return sorted(out, key=lambda p: (p.instance_type, p.region, p.capacity_type))
