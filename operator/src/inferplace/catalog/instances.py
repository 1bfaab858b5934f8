"""EC2 instance types: which accelerator, how many chips, host resources, and dated prices."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inferplace.api.vocabulary import CapacityType
from inferplace.catalog._files import CatalogError, read_yaml

# A capacity type, or a reserved rate whose term the source does not state (never used as either term).
PriceKind = CapacityType | Literal["reserved-unknown-term"]


class Price(BaseModel):
    model_config = ConfigDict(extra="forbid")
    usd_per_hour: float = Field(gt=0, lt=1000)
    region: str
    date: str = Field(min_length=4)
    source: str = Field(min_length=8)
    stale: bool = False
    note: str = ""


class InstanceType(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(pattern=r"^[a-z0-9-]+\.[0-9a-z]+$")
    family: str
    accelerator: str
    chips: int | None = Field(default=None, ge=1, le=64)
    vcpu: int | None = Field(default=None, ge=1)
    ram_gib: float | None = Field(default=None, gt=0)
    network_gbps: float | None = Field(default=None, gt=0)
    spec_source: str | None = None
    prices: dict[PriceKind, Price] = {}
    notes: str = ""
    missing: list[str] = []


class _InstanceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1]
    instances: list[InstanceType]


def load_instances(path: Path | None = None) -> dict[str, InstanceType]:
    raw = read_yaml("instances.yaml", path)
    try:
        parsed = _InstanceFile.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(f"instances catalog: {exc}") from exc
    out: dict[str, InstanceType] = {}
    for inst in parsed.instances:
        if inst.type in out:
            raise CatalogError(f"instance type {inst.type} listed twice")
        if not inst.spec_source and inst.chips is not None:
            raise CatalogError(f"instance type {inst.type}: chip count without a source")
        out[inst.type] = inst
    return out
