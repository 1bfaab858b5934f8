"""Prices, kept apart from the instance catalog: a typed Price with its source, region, capacity type
and as-of date; sources in layers (the user's overrides, the live AWS provider, the bundled
snapshot); a NoPrice that says where a price does exist. The live provider (`pricing.aws`) needs
botocore; importing this package does not load it."""

from inferplace.pricing.book import PriceBook
from inferplace.pricing.model import TERMS, NoPrice, Price, PriceSource
from inferplace.pricing.overrides import OverrideError, Overrides, parse_overrides, read_overrides
from inferplace.pricing.snapshot import Snapshot, SnapshotError, bundled

__all__ = ["TERMS", "NoPrice", "OverrideError", "Overrides", "Price", "PriceBook", "PriceSource", "Snapshot",
           "SnapshotError", "bundled", "default_book", "parse_overrides", "read_overrides"]


def default_book(overrides: Overrides | None = None) -> PriceBook:
    """The user's rates (if any) over the bundled snapshot, with the snapshot's default region."""
    snap = bundled()
    layers: list[PriceSource] = [snap] if overrides is None else [overrides, snap]
    return PriceBook(layers, snap.default_region)
