"""One workload through the whole placement pipeline, as `inferplace recommend` runs it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from inferplace.api import InferenceWorkload
from inferplace.api.vocabulary import CapacityType
from inferplace.catalog import Catalog, load_catalog
from inferplace.placement import Report, recommend
from inferplace.pricing import Price, PriceBook, Snapshot, default_book
from inferplace.pricing.managed import ApiPrices

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def book_of(prices: Iterable[tuple[str, str, CapacityType, float]], as_of: date = date(2026, 11, 1)) -> PriceBook:
    """A price book holding exactly these (instance type, region, capacity type, USD/h)."""
    by_key = {(t, r, k): Price(t, r, k, usd, as_of, "test price", "snapshot") for t, r, k, usd in prices}
    return PriceBook([Snapshot(by_key, as_of, "us-east-1", "test")], "us-east-1", apis=ApiPrices({}))


def plan_one(doc: dict[str, Any], cat: Catalog | None = None, book: PriceBook | None = None) -> Report:
    iw = InferenceWorkload.model_validate(doc)
    (rep,) = recommend([(iw.metadata.name, iw.spec)], cat or load_catalog(), book or default_book(), NOW)
    assert isinstance(rep, Report), rep
    return rep
