"""The InferenceWorkload resource: names the API server and kubectl know it by, and the object."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from inferplace.api.spec import InferenceWorkloadSpec
from inferplace.api.status import InferenceWorkloadStatus
from inferplace.api.types import WIRE

GROUP = "inferplace.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "InferenceWorkload"
PLURAL = "inferenceworkloads"
SINGULAR = "inferenceworkload"
SHORT_NAMES = ("iw",)
CATEGORIES = ("inferplace",)


NAME_PATTERN = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"  # a DNS subdomain, as Kubernetes names objects


class ObjectMeta(BaseModel):
    """The parts of metadata inferplace reads; the rest (labels, annotations, ...) is kept as is."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")
    name: str = Field(min_length=1, max_length=253, pattern=NAME_PATTERN)
    namespace: str | None = Field(default=None, max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    generation: int | None = None
    # Kubernetes stores both as string-to-string maps: a number or a list there is refused at admission.
    labels: dict[str, str] | None = Field(default=None, strict=True)
    annotations: dict[str, str] | None = Field(default=None, strict=True)


class InferenceWorkload(BaseModel):
    """An LLM inference workload whose placement inferplace recommends."""

    model_config = WIRE
    api_version: Literal["inferplace.io/v1alpha1"]
    kind: Literal["InferenceWorkload"]
    metadata: ObjectMeta
    spec: InferenceWorkloadSpec
    status: InferenceWorkloadStatus | None = None
