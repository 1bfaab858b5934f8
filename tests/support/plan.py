"""One workload through the whole placement pipeline, as `inferplace recommend` runs it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from inferplace.api import InferenceWorkload
from inferplace.catalog import Catalog, load_catalog
from inferplace.placement import Report, recommend

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def plan_one(doc: dict[str, Any], cat: Catalog | None = None) -> Report:
    iw = InferenceWorkload.model_validate(doc)
    (rep,) = recommend([(iw.metadata.name, iw.spec)], cat or load_catalog(), NOW)
    assert isinstance(rep, Report), rep
    return rep
