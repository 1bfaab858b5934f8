"""The InferenceWorkload resource: names the API server and kubectl know it by, and the object."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from inferplace.api.errors import shown
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

    # The API server's own checks of both maps (apimachinery's ValidateLabels / ValidateAnnotations).
    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: dict[str, str] | None) -> dict[str, str] | None:
        for key, value in (labels or {}).items():
            _qualified_name(key)
            if len(value) > 63 or not _LABEL_VALUE.fullmatch(value):
                raise ValueError(f"{shown(value)!r} (key {shown(key)!r}) is not a label value: at most 63 "
                                 "letters, digits, '-', '_' or '.', starting and ending with a letter or digit")
        return labels

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, annotations: dict[str, str] | None) -> dict[str, str] | None:
        for key in annotations or {}:
            _qualified_name(key, lowered=True)  # the API server checks annotation keys lowercased
        size = sum(len(k.encode()) + len(v.encode()) for k, v in (annotations or {}).items())
        if size > ANNOTATIONS_MAX_BYTES:
            raise ValueError(f"{size:,} bytes in all; the API server allows {ANNOTATIONS_MAX_BYTES:,}")
        return annotations


ANNOTATIONS_MAX_BYTES = 256 * 1024
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_QUALIFIED = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _qualified_name(written: str, lowered: bool = False) -> None:
    """`[prefix/]name`: prefix a DNS subdomain of at most 253 characters, name at most 63."""
    key = written.lower() if lowered else written
    prefix, _, name = key.rpartition("/") if "/" in key else ("", "", key)
    if (key.count("/") > 1 or len(name) > 63 or not _QUALIFIED.fullmatch(name)
            or ("/" in key and (len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)))):
        raise ValueError(f"{shown(written)!r} is not a valid key: [prefix/]name, the name at most 63 letters, digits, "
                         "'-', '_' or '.' starting and ending with a letter or digit, the prefix a DNS subdomain")


class InferenceWorkload(BaseModel):
    """An LLM inference workload whose placement inferplace recommends."""

    model_config = WIRE
    api_version: Literal["inferplace.io/v1alpha1"]
    kind: Literal["InferenceWorkload"]
    metadata: ObjectMeta
    spec: InferenceWorkloadSpec
    status: InferenceWorkloadStatus | None = None
