"""Accelerator chips: peak compute per data type, memory, bandwidth, interconnect, native types."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inferplace.api.vocabulary import Platform, Precision
from inferplace.catalog._files import CatalogError, read_yaml

_UNIT_TO_SI: dict[str, float] = {
    "TFLOPS": 1e12,
    "TOPS": 1e12,
    "GB": 1e9,
    "GiB": 2.0**30,
    "TB/s": 1e12,
    "GB/s": 1e9,
    "GiB/s": 2.0**30,
}


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8)
    date: str = Field(min_length=4)
    kind: str = ""


class Figure(BaseModel):
    """One published number with its unit and the source it was read in."""

    model_config = ConfigDict(extra="forbid")
    value: float = Field(gt=0)
    unit: str
    source: str
    note: str = ""
    derived: str = ""
    bidirectional: bool | None = None

    @property
    def si(self) -> float:
        return self.value * _UNIT_TO_SI[self.unit]

    @model_validator(mode="after")
    def _known_unit(self) -> Figure:
        if self.unit not in _UNIT_TO_SI:
            raise ValueError(f"unknown unit {self.unit!r}; allowed: {sorted(_UNIT_TO_SI)}")
        return self


class Accelerator(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    vendor: Literal["nvidia", "amd", "aws"]
    generation: str
    aliases: list[str] = []
    peak_tflops: dict[Precision, Figure]
    memory: Figure
    memory_bandwidth: Figure
    interconnect: Figure | None = None
    # How the chips of one server reach each other: "switched" (NVSwitch, NeuronSwitch, a PCIe switch: any
    # chip reaches any other in one hop) or "torus" (NeuronLink rings and 2D tori: an all-to-all crosses
    # several links). It decides what expert parallelism's all-to-all costs.
    topology: Literal["switched", "torus"] = "switched"
    cores_per_chip: int | None = None
    # Neuron shards a model over NeuronCores, not chips: TP24 on 12 Inferentia2 chips.
    tensor_parallel_ranks_per_chip: int = Field(default=1, ge=1, le=16)
    weight_dtypes: list[Precision]
    kv_dtypes: list[Precision]
    missing: dict[str, str] = {}

    @property
    def platform(self) -> Platform:
        return "neuron" if self.vendor == "aws" else "gpu"

    @property
    def memory_bytes(self) -> float:
        return self.memory.si

    @property
    def bandwidth_bytes_s(self) -> float:
        return self.memory_bandwidth.si

    @property
    def link_bytes_s(self) -> float:
        """Per-direction chip-to-chip bandwidth; 0 when no figure was found."""
        if self.interconnect is None:
            return 0.0
        both = 2.0 if self.interconnect.bidirectional else 1.0
        return self.interconnect.si / both

    def peak_flops(self, dtype: Precision) -> float | None:
        fig = self.peak_tflops.get(dtype)
        return None if fig is None else fig.si

    def figures(self) -> dict[str, Figure]:
        out = {f"peak_{k}": v for k, v in self.peak_tflops.items()}
        out["memory"] = self.memory
        out["memory_bandwidth"] = self.memory_bandwidth
        if self.interconnect is not None:
            out["interconnect"] = self.interconnect
        return out


class _AcceleratorFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schema_version: Literal[1]
    sources: dict[str, Source]
    accelerators: list[Accelerator]


# Plausibility bounds in SI units; a typo of a factor of 1000 fails at load.
_BOUNDS = {"memory": (4e9, 1e12), "memory_bandwidth": (1e11, 3e13), "interconnect": (1e9, 1e13)}


def load_accelerators(path: Path | None = None) -> dict[str, Accelerator]:
    raw = read_yaml("accelerators.yaml", path)
    try:
        parsed = _AcceleratorFile.model_validate(raw)
    except ValidationError as exc:
        raise CatalogError(f"accelerators catalog: {exc}") from exc
    out: dict[str, Accelerator] = {}
    for acc in parsed.accelerators:
        for name, fig in acc.figures().items():
            if fig.source not in parsed.sources:
                raise CatalogError(f"accelerator {acc.id}: {name} cites unknown source {fig.source!r}")
            lo, hi = _BOUNDS.get(name, (1e12, 2e16))
            if not lo <= fig.si <= hi:
                raise CatalogError(f"accelerator {acc.id}: {name}={fig.value} {fig.unit} is implausible")
        if "bf16" not in acc.peak_tflops and "bf16" not in acc.missing:
            raise CatalogError(f"accelerator {acc.id}: bf16 peak is neither given nor listed as missing")
        if acc.id in out:
            raise CatalogError(f"accelerator {acc.id} listed twice")
        out[acc.id] = acc
    return out
