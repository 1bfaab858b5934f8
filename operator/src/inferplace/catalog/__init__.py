"""Sourced data the engine and the recommender stand on: chips, instances, models, fitted efficiencies.

Everything is loaded from YAML files inside the package and validated at load; a figure without a
source, or with an implausible unit, fails loudly at start instead of skewing a recommendation.
"""

from inferplace.catalog.accelerators import Accelerator, load_accelerators
from inferplace.catalog.efficiency import EfficiencyTable, load_efficiency
from inferplace.catalog.instances import InstanceType, load_instances
from inferplace.catalog.models import ModelArch, load_models
from inferplace.catalog.registry import Catalog, CatalogError, load_catalog

__all__ = [
    "Accelerator",
    "Catalog",
    "CatalogError",
    "EfficiencyTable",
    "InstanceType",
    "ModelArch",
    "load_accelerators",
    "load_catalog",
    "load_efficiency",
    "load_instances",
    "load_models",
]
