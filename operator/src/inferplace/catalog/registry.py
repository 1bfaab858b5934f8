"""The whole catalog in one object, with name resolution that tells the user what it knows."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cached_property, lru_cache

from inferplace.catalog._files import CatalogError
from inferplace.catalog.accelerators import Accelerator, load_accelerators
from inferplace.catalog.efficiency import EfficiencyTable, load_efficiency
from inferplace.catalog.instances import InstanceType, load_instances
from inferplace.catalog.migration import MigrationTable, load_migration
from inferplace.catalog.models import ModelArch, load_models

__all__ = ["Catalog", "CatalogError", "load_catalog"]


def _hint(name: str, known: dict[str, str]) -> str:
    """Close matches of `name` (compared lower-cased), each spelled as the catalog spells it."""
    close = difflib.get_close_matches(name.strip().lower(), list(known), n=3, cutoff=0.6)
    return f" (did you mean: {', '.join(known[c] for c in close)}?)" if close else ""


@dataclass(frozen=True)
class Catalog:
    accelerators: dict[str, Accelerator]
    instances: dict[str, InstanceType]
    models: dict[str, ModelArch]
    efficiency: EfficiencyTable
    migration: MigrationTable

    @cached_property
    def instance_types_by_family(self) -> dict[str, list[str]]:
        """Instance types of each node pool (instance family), in catalog order."""
        out: dict[str, list[str]] = {}
        for inst in self.instances.values():
            out.setdefault(inst.family, []).append(inst.type)
        return out

    @cached_property
    def model_names(self) -> dict[str, str]:
        """Every model id and alias, lower-cased, to its spelling in the catalog (Hugging Face's)."""
        return {key.lower(): key for arch in self.models.values() for key in (arch.id, *arch.aliases)}

    def model(self, name: str) -> ModelArch:
        arch = self.models.get(name.strip().lower())
        if arch is None:
            raise CatalogError(f"unknown model {name!r}{_hint(name, self.model_names)}")
        return arch

    def canonical_model_name(self, name: str) -> str:
        """`name` as the catalog spells it (ids and aliases match whatever the case); unknown: as written."""
        return self.model_names.get(name.strip().lower(), name.strip())

    def accelerator(self, name: str) -> Accelerator:
        key = name.strip().lower()
        for acc in self.accelerators.values():
            if key == acc.id or key in (a.lower() for a in acc.aliases):
                return acc
        known = sorted(self.accelerators)
        raise CatalogError(f"unknown accelerator {name!r}; known: {', '.join(known)}")

    def instance(self, name: str) -> InstanceType:
        inst = self.instances.get(name.strip().lower())
        if inst is None:
            raise CatalogError(f"unknown instance type {name!r}{_hint(name, {t: t for t in self.instances})}")
        return inst

    def check_references(self) -> None:
        for inst in self.instances.values():
            if inst.accelerator not in self.accelerators and not inst.missing:
                raise CatalogError(f"instance {inst.type} names unknown accelerator {inst.accelerator} and does not "
                                   "say why under `missing`")

    def accelerator_of(self, inst: InstanceType) -> Accelerator | None:
        """The instance's chip, or None when the catalog has no sourced figures for it (see inst.missing)."""
        return self.accelerators.get(inst.accelerator)


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """The packaged catalog, validated once per process."""
    cat = Catalog(load_accelerators(), load_instances(), load_models(), load_efficiency(), load_migration())
    cat.check_references()
    return cat
