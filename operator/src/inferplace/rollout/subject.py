"""One workload as the rollout sees it: where it lives, what it asks, what was recommended, what was approved."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inferplace.api import InferenceWorkloadSpec
from inferplace.api.status import InferenceWorkloadStatus, Placement
from inferplace.api.vocabulary import APPROVAL_ANNOTATION


@dataclass(frozen=True)
class Subject:
    namespace: str
    name: str
    spec: InferenceWorkloadSpec
    status: InferenceWorkloadStatus
    approved: str | None = None  # the inferplace.io/approved-recommendation annotation

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def option(self, n: int) -> Placement | None:
        """0: the recommendation; N: the Nth alternative (as `kubectl describe` lists them)."""
        if n == 0:
            return self.status.recommendation
        alts = self.status.alternatives
        return alts[n - 1] if 0 < n <= len(alts) else None


def approval(obj: Mapping[str, Any]) -> str | None:
    """The object's inferplace.io/approved-recommendation annotation (as written), if any."""
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    value = annotations.get(APPROVAL_ANNOTATION) if isinstance(annotations, Mapping) else None
    return str(value) if value is not None else None
