"""Reading the project's own YAML data files (catalog, price snapshot, managed-API prices), which every
start of the CLI and the operator reads: with libyaml's safe loader where PyYAML has it (several times
faster than the pure-Python one, the same values). Users' manifests go through api.construction."""

from __future__ import annotations

from typing import Any

import yaml

LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_data_yaml(text: str) -> Any:
    return yaml.load(text, Loader=LOADER)
