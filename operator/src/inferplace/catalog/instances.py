"""EC2 instance types: which accelerator, how many chips, host resources (prices: inferplace.pricing)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from inferplace.catalog._files import CatalogError, read_yaml


class InstanceType(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(pattern=r"^[a-z0-9-]+\.[0-9a-z]+$")
    family: str
    accelerator: str
    chips: int | None = Field(default=None, ge=1, le=256)  # a 144-chip UltraServer declared by a team
    vcpu: int | None = Field(default=None, ge=1)
    ram_gib: float | None = Field(default=None, gt=0)
    network_gbps: float | None = Field(default=None, gt=0)
    spec_source: str | None = None
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
