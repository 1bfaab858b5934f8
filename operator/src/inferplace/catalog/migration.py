"""The Neuron software tax: model-family support on Neuron and default migration engineer-weeks."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inferplace.api.vocabulary import NeuronSupport, Platform
from inferplace.catalog._files import CatalogError, read_yaml


class Source(BaseModel):
    """Where a figure or rule was read: an address, or a title where no address was recorded."""

    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, min_length=8)
    title: str = ""
    date: str = Field(min_length=4)
    note: str = ""

    @model_validator(mode="after")
    def _cited(self) -> Source:
        if self.url is None and not (self.title and self.note):
            raise ValueError("a source without a url needs a title and a note saying why there is no address")
        return self

    def cite(self) -> str:
        return self.url or f'"{self.title}" (no address recorded)'


class FamilySupport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: NeuronSupport
    source: str
    note: str = ""


class PlatformRisk(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    risk: str = Field(min_length=8)


class GpuToNeuron(BaseModel):
    model_config = ConfigDict(extra="forbid")
    supported: float = Field(ge=0, le=520)
    beta: float = Field(ge=0, le=520)
    unsupported: float = Field(ge=0, le=520)


class MigrationWeeks(BaseModel):
    model_config = ConfigDict(extra="forbid")
    same_instance_family: float = Field(ge=0, le=520)
    gpu_to_other_gpu_family: float = Field(ge=0, le=520)
    neuron_to_other_neuron: float = Field(ge=0, le=520)
    neuron_to_gpu: float = Field(ge=0, le=520)
    to_managed_api: float = Field(ge=0, le=520)
    gpu_to_neuron: GpuToNeuron


class MigrationTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1]
    sources: dict[str, Source]
    neuron_support: dict[str, FamilySupport]
    platform_risks: dict[str, PlatformRisk] = {}
    migration_weeks: MigrationWeeks

    def support(self, family: str) -> tuple[NeuronSupport, str]:
        """Tier and a one-line reason with its source, for a model family."""
        entry = self.neuron_support.get(family.lower())
        if entry is None:
            return "unsupported", f"family {family!r} is not in the Neuron support matrix"
        src = self.sources[entry.source]
        why = f"{entry.note}; " if entry.note else ""
        return entry.tier, f"{why}source: {src.cite()} ({src.date})"

    def default_weeks(self, current_platform: Platform | None, current_family: str | None,
                      target_platform: Platform, target_family: str, tier: NeuronSupport) -> float:
        mw = self.migration_weeks
        if current_family is not None and current_family == target_family:
            return mw.same_instance_family
        if target_platform == "neuron":
            if current_platform == "neuron":
                return mw.neuron_to_other_neuron
            return float(getattr(mw.gpu_to_neuron, tier))
        if current_platform == "neuron":
            return mw.neuron_to_gpu
        return 0.0 if current_platform is None else mw.gpu_to_other_gpu_family


def load_migration(path: Path | None = None) -> MigrationTable:
    raw = read_yaml("migration.yaml", path)
    try:
        table = MigrationTable.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(f"migration table: {exc}") from exc
    for fam, entry in table.neuron_support.items():
        if entry.source not in table.sources:
            raise CatalogError(f"neuron_support.{fam}: unknown source {entry.source!r}")
    for fam, risk in table.platform_risks.items():
        if risk.source not in table.sources:
            raise CatalogError(f"platform_risks.{fam}: unknown source {risk.source!r}")
    return table
