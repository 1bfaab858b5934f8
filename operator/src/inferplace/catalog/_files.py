"""Reading the YAML data files that ship inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from inferplace.api.data_files import load_data_yaml


class CatalogError(ValueError):
    """A catalog file is missing, unreadable or fails validation."""


def read_yaml(name: str, override: Path | None = None) -> dict[str, Any]:
    """Load `data/<name>` from the package, or `override` when given."""
    try:
        if override is not None:
            text = override.read_text(encoding="utf-8")
        else:
            text = resources.files("inferplace.catalog").joinpath("data", name).read_text("utf-8")
        data = load_data_yaml(text)
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"cannot read catalog file {override or name}: {exc}") from exc
    if not isinstance(data, dict):
        raise CatalogError(f"catalog file {override or name} must hold a mapping at the top level")
    return data
