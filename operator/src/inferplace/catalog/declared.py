"""Instance types a team declares itself: new families, private offers, UltraServers, chips the catalog lacks.

The CLI reads them from `--instances FILE`, the operator from the chart's instances ConfigMap. Each is
checked like every input (one `path: problem` line per mistake, allowed values named) and joins the
catalog for that run only; prices come through the existing overrides (`--prices`, the price ConfigMap).

    instanceTypes:
    - type: trn3-server.16chip          # family.size, as EC2 names them; not a catalog type
      accelerator: trainium3             # a catalog chip, or one declared under `accelerators`
      chips: 16
      vcpu: 192                          # optional host figures
      hostMemoryGiB: 2048
      acceleratorMemoryGiB: "144"        # optional: per chip, where it differs from the chip's
      interconnect: {gbPerSecond: "2560", topology: switched}   # optional: per chip, each way
      source: "Neuron docs trn3-arch (16-chip Trn3 server)"
    accelerators:                        # optional: a chip with its own figures
    - id: my-chip
      name: My accelerator
      vendor: nvidia                     # nvidia | amd | aws
      generation: hopper                 # picks the fitted efficiencies (allowed values in the error)
      peakTflops: {bf16: "989", fp8: "1979"}
      memoryGiB: "141"
      memoryBandwidthTBs: "4.8"
      interconnect: {gbPerSecond: "450", topology: switched}
      weightDtypes: [bf16, fp8]
      source: "vendor datasheet, 2026-05"
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from inferplace.api.documents import MAX_BYTES, documents
from inferplace.api.errors import describe
from inferplace.api.types import PLAIN_TEXT, WIRE, Dec
from inferplace.api.vocabulary import Precision
from inferplace.catalog.accelerators import Accelerator, Figure
from inferplace.catalog.instances import InstanceType
from inferplace.catalog.registry import Catalog, CatalogError

DECLARED = "declared by the user"  # how a declared instance type's spec_source begins
Topology = Literal["switched", "torus"]


class DeclaredLink(BaseModel):
    model_config = WIRE
    gb_per_second: Dec = Field(gt=0, le=100_000)
    """Chip-to-chip bandwidth per chip, each way, in GB/s."""
    topology: Topology
    """switched: any chip reaches any other in one hop (NVSwitch, NeuronSwitch, PCIe switch); torus: rings."""


class DeclaredAccelerator(BaseModel):
    model_config = WIRE
    id: str = Field(min_length=2, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=2, max_length=80, pattern=PLAIN_TEXT)
    vendor: Literal["nvidia", "amd", "aws"]
    generation: str = Field(min_length=2, max_length=40)
    peak_tflops: dict[Precision, Dec] = Field(min_length=1)
    """Dense peak TFLOPS (TOPS for int8) per data type; bf16 is required."""
    memory_gi_b: Dec = Field(gt=0, le=4096, alias="memoryGiB")
    memory_bandwidth_t_bs: Dec = Field(gt=0, le=100, alias="memoryBandwidthTBs")
    interconnect: DeclaredLink | None = None
    weight_dtypes: list[Precision] = Field(default=["bf16", "fp16"], min_length=1)
    kv_dtypes: list[Precision] = Field(default=["bf16", "fp16"], min_length=1)
    source: str = Field(min_length=3, max_length=512, pattern=PLAIN_TEXT)


class DeclaredInstance(BaseModel):
    model_config = WIRE
    type: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9-]+\.[0-9a-z]+$")
    accelerator: str = Field(min_length=2, max_length=40)
    chips: int = Field(ge=1, le=256)
    vcpu: int | None = Field(default=None, ge=1, le=100_000)
    host_memory_gi_b: Dec | None = Field(default=None, gt=0, le=1_000_000, alias="hostMemoryGiB")
    accelerator_memory_gi_b: Dec | None = Field(default=None, gt=0, le=4096, alias="acceleratorMemoryGiB")
    interconnect: DeclaredLink | None = None
    source: str = Field(min_length=3, max_length=512, pattern=PLAIN_TEXT)


class DeclaredFile(BaseModel):
    model_config = WIRE
    instance_types: list[DeclaredInstance] = Field(min_length=1, max_length=200)
    accelerators: list[DeclaredAccelerator] = Field(default=[], max_length=50)


class DeclaredError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def read_declared(data: bytes, cat: Catalog) -> Catalog:
    """The catalog with the file's instance types (and chips) added; DeclaredError names every mistake."""
    if len(data) > MAX_BYTES:
        raise DeclaredError([f"larger than {MAX_BYTES // (1024 * 1024)} MiB"])
    docs = documents(data)
    bad = [str(d.problem) for d in docs if d.problem]
    if bad:
        raise DeclaredError(bad)
    if len(docs) != 1:
        raise DeclaredError([f"expected one YAML document with an `instanceTypes` list, found {len(docs)}"])
    return declare(docs[0].value, cat)


def declare(raw: Any, cat: Catalog) -> Catalog:
    try:
        parsed = DeclaredFile.model_validate(raw)
    except ValidationError as exc:
        raise DeclaredError(describe(exc, DeclaredFile)) from None
    problems: list[str] = []
    generations = sorted({a.generation for a in cat.accelerators.values()})
    chips: dict[str, Accelerator] = dict(cat.accelerators)
    for i, a in enumerate(parsed.accelerators):
        where = f"accelerators[{i}]"
        if a.id in chips:
            problems.append(f"{where}.id: {a.id!r} is a catalog chip; declare another id (or use it as it is)")
            continue
        if a.generation not in generations:
            problems.append(f"{where}.generation: {a.generation!r} is not one the efficiencies were fitted for; "
                            f"allowed: {', '.join(generations)}")
            continue
        if "bf16" not in a.peak_tflops:
            problems.append(f"{where}.peakTflops: bf16 is required (the engine's reference data type)")
            continue
        chips[a.id] = _accelerator(a)
    instances: dict[str, InstanceType] = dict(cat.instances)
    for i, d in enumerate(parsed.instance_types):
        where = f"instanceTypes[{i}]"
        if d.type in instances:
            problems.append(f"{where}.type: {d.type!r} is already in the catalog; declare another name")
            continue
        try:
            acc = replace(cat, accelerators=chips).accelerator(d.accelerator)  # by id or alias, any case
        except CatalogError:
            acc = None
        if acc is None:
            problems.append(f"{where}.accelerator: unknown chip {d.accelerator!r}; allowed: the catalog's "
                            f"{', '.join(sorted(cat.accelerators))} or one declared under accelerators")
            continue
        if d.chips > 1 and d.interconnect is None and acc.link_bytes_s <= 0:
            problems.append(f"{where}.interconnect: {d.chips} x {acc.id} need a chip-to-chip bandwidth (the chip "
                            "has none): give gbPerSecond and topology")
            continue
        own = _own_chip(acc, d)
        if own is not acc:
            chips[own.id] = own
        instances[d.type] = InstanceType(
            type=d.type, family=d.type.split(".")[0], accelerator=own.id, chips=d.chips, vcpu=d.vcpu,
            ram_gib=float(d.host_memory_gi_b) if d.host_memory_gi_b is not None else None,
            spec_source=f"{DECLARED}: {d.source}",
            notes="declared with --instances or the instances ConfigMap")
    if problems:
        raise DeclaredError(problems)
    return replace(cat, accelerators=chips, instances=instances)


def _figure(value: float, unit: str, source: str) -> Figure:
    return Figure(value=value, unit=unit, source=source)


def _accelerator(d: DeclaredAccelerator) -> Accelerator:
    src = f"declared by the user: {d.source}"
    link = d.interconnect
    return Accelerator(
        id=d.id, name=d.name, vendor=d.vendor, generation=d.generation,
        peak_tflops={k: _figure(float(v), "TOPS" if k == "int8" else "TFLOPS", src) for k, v in d.peak_tflops.items()},
        memory=_figure(float(d.memory_gi_b), "GiB", src),
        memory_bandwidth=_figure(float(d.memory_bandwidth_t_bs), "TB/s", src),
        interconnect=None if link is None else Figure(value=float(link.gb_per_second), unit="GB/s", source=src,
                                                      bidirectional=False),
        topology=link.topology if link is not None else "switched",
        weight_dtypes=d.weight_dtypes, kv_dtypes=d.kv_dtypes,
    )


def _own_chip(acc: Accelerator, d: DeclaredInstance) -> Accelerator:
    """The chip as this instance type has it: its own memory or interconnect where declared (a chip of its
    own id, so engine rows are not shared with the catalog chip's)."""
    if d.accelerator_memory_gi_b is None and d.interconnect is None:
        return acc
    src = f"declared by the user for {d.type}: {d.source}"
    update: dict[str, Any] = {"id": f"{acc.id}@{d.type}", "aliases": []}
    if d.accelerator_memory_gi_b is not None:
        update["memory"] = _figure(float(d.accelerator_memory_gi_b), "GiB", src)
    if d.interconnect is not None:
        update["interconnect"] = Figure(value=float(d.interconnect.gb_per_second), unit="GB/s", source=src,
                                        bidirectional=False)
        update["topology"] = d.interconnect.topology
    return acc.model_copy(update=update)
