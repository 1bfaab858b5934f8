"""The InferenceWorkload API (inferplace.io/v1alpha1): pydantic models are the single source of truth
for the CLI's input and output, the operator's status and the generated CRD."""

from inferplace.api.errors import describe, field_path
from inferplace.api.resource import (
    API_VERSION,
    GROUP,
    KIND,
    PLURAL,
    VERSION,
    InferenceWorkload,
    ObjectMeta,
)
from inferplace.api.spec import InferenceWorkloadSpec
from inferplace.api.status import InferenceWorkloadStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "InferenceWorkload",
    "InferenceWorkloadSpec",
    "InferenceWorkloadStatus",
    "ObjectMeta",
    "describe",
    "field_path",
]
