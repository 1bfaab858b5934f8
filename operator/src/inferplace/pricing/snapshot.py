"""The price snapshot bundled with inferplace: one sourced, dated figure per instance type x region x
capacity type, generated from the project's sourced price table by `scripts/generate_prices.py`.

`generate()` is the generator's pure core: it keeps the newest figure of each key and refuses, with a
reason kept in the file, every row without a source, an as-of date or a region, a capacity type the
API does not know, a price that is not a positive number, and a row its own notes mark UNVERIFIED
(a figure that is not what its capacity type says).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inferplace.api.data_files import load_data_yaml
from inferplace.api.vocabulary import CAPACITY_TYPES, CapacityType, PriceProvider
from inferplace.pricing.model import MAX_USD_PER_HOUR, Price

SCHEMA_VERSION = 1
FILE = "snapshot.yaml"
DEFAULT_REGION = "us-east-1"  # where the sourced table has the most figures


class SnapshotError(ValueError):
    pass


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    instance_type: str = Field(alias="instanceType", min_length=3, max_length=64)
    region: str = Field(min_length=4, max_length=32)
    capacity_type: CapacityType = Field(alias="capacityType")
    usd_per_hour: str = Field(alias="usdPerHour", pattern=r"^[0-9]+(\.[0-9]+)?$")
    as_of: date = Field(alias="asOf")
    source: str = Field(min_length=8)
    note: str = ""


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    schema_version: int = Field(alias="schemaVersion")
    generated_from: str = Field(alias="generatedFrom")
    as_of: date = Field(alias="asOf", description="the newest as-of date of any figure kept")
    default_region: str = Field(alias="defaultRegion")
    prices: list[_Row]
    refused: list[dict[str, str]] = []


@dataclass(frozen=True)
class Snapshot:
    """A PriceSource over the bundled (or a refreshed) snapshot file."""

    by_key: Mapping[tuple[str, str, CapacityType], Price]
    as_of: date
    default_region: str
    generated_from: str
    provider: PriceProvider = "snapshot"

    def get(self, instance_type: str, region: str, capacity_type: CapacityType) -> Price | None:
        return self.by_key.get((instance_type, region, capacity_type))

    def prices(self) -> Iterable[Price]:
        return self.by_key.values()


def parse(raw: Any, provider: PriceProvider = "snapshot") -> Snapshot:
    """A snapshot from its parsed YAML (the bundled file, or one `inferplace prices refresh` wrote)."""
    try:
        f = _File.model_validate(raw)
    except ValidationError as exc:
        raise SnapshotError(f"price snapshot: {exc}") from None
    if f.schema_version != SCHEMA_VERSION:
        raise SnapshotError(f"price snapshot: schemaVersion {f.schema_version}, this inferplace reads {SCHEMA_VERSION}")
    by_key: dict[tuple[str, str, CapacityType], Price] = {}
    for r in f.prices:
        usd = float(r.usd_per_hour)
        if not 0 < usd <= MAX_USD_PER_HOUR:
            raise SnapshotError(f"price snapshot: {r.instance_type} {r.region} {r.capacity_type}: {usd} USD/h is "
                                f"outside (0, {MAX_USD_PER_HOUR:g}]")
        key = (r.instance_type, r.region, r.capacity_type)
        if key in by_key:
            raise SnapshotError(f"price snapshot: {' '.join(key)} listed twice")
        by_key[key] = Price(r.instance_type, r.region, r.capacity_type, usd, r.as_of, r.source, provider, r.note)
    return Snapshot(by_key, f.as_of, f.default_region, f.generated_from, provider)


@lru_cache(maxsize=1)
def bundled() -> Snapshot:
    """The snapshot shipped in the package, validated once per process."""
    text = resources.files("inferplace.pricing").joinpath("data", FILE).read_text("utf-8")
    return parse(load_data_yaml(text))


# ---- the generator's core (scripts/generate_prices.py) -------------------------------------------

def _refusal(row: Mapping[str, str]) -> str | None:
    if not (row.get("source") or "").strip():
        return "no source"
    if not (row.get("as_of_date") or "").strip():
        return "no as-of date"
    try:
        date.fromisoformat(row["as_of_date"].strip())
    except ValueError:
        return f"as-of date {row['as_of_date']!r} is not a date"
    if not (row.get("region") or "").strip():
        return "no region (a price is never used for a region it was not read for)"
    if row.get("capacity_type", "").strip() not in CAPACITY_TYPES:
        return f"capacity type {row.get('capacity_type')!r} is not one of {', '.join(CAPACITY_TYPES)}"
    if "UNVERIFIED" in (row.get("notes") or ""):
        return "its notes mark it UNVERIFIED: not used as what its capacity type says"
    try:
        usd = float(row.get("usd_per_hour") or "")
    except ValueError:
        return f"price {row.get('usd_per_hour')!r} is not a number"
    if not 0 < usd <= MAX_USD_PER_HOUR:
        return f"price {usd} is outside (0, {MAX_USD_PER_HOUR:g}] USD/h"
    return None


def generate(rows: Iterable[Mapping[str, str]], generated_from: str) -> dict[str, Any]:
    """The snapshot document for sourced price rows (columns instance_type, region, capacity_type,
    usd_per_hour, as_of_date, source, notes): the newest figure of each key, and what was refused."""
    newest: dict[tuple[str, str, str], Mapping[str, str]] = {}
    refused: list[dict[str, str]] = []
    for row in rows:
        why = _refusal(row)
        label = " ".join(row.get(k, "").strip() or "-" for k in ("instance_type", "region", "capacity_type"))
        if why is not None:
            refused.append({"row": f"{label} {row.get('usd_per_hour', '')} {row.get('as_of_date', '')}".strip(),
                            "reason": why})
            continue
        key = (row["instance_type"].strip(), row["region"].strip(), row["capacity_type"].strip())
        old = newest.get(key)
        if old is None or row["as_of_date"].strip() > old["as_of_date"].strip():
            newest[key] = row
        elif row["as_of_date"].strip() == old["as_of_date"].strip() and float(row["usd_per_hour"]) != float(
                old["usd_per_hour"]):
            raise SnapshotError(f"{' '.join(key)}: two figures for {old['as_of_date']} "
                                f"({old['usd_per_hour']} and {row['usd_per_hour']}); resolve it in the source table")
    prices = [{"instanceType": k[0], "region": k[1], "capacityType": k[2],
               "usdPerHour": newest[k]["usd_per_hour"].strip(), "asOf": newest[k]["as_of_date"].strip(),
               "source": newest[k]["source"].strip(), "note": (newest[k].get("notes") or "").strip()}
              for k in sorted(newest)]
    return {"schemaVersion": SCHEMA_VERSION, "generatedFrom": generated_from,
            "asOf": max(p["asOf"] for p in prices), "defaultRegion": DEFAULT_REGION,
            "prices": prices, "refused": refused}


def render(doc: Mapping[str, Any]) -> str:
    header = ("# GENERATED by scripts/generate_prices.py from the sourced price table; do not edit.\n"
              "# One figure per instance type x region x capacity type: the newest sourced one.\n")
    return header + yaml.safe_dump(dict(doc), sort_keys=False, width=120, allow_unicode=True)
