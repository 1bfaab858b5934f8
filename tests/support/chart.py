"""The Helm chart rendered by the real Helm engine (helm-python-sdk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parents[2] / "charts" / "inferplace"
VALUES = sorted((CHART / "ci").glob("*-values.yaml"))


def values_of(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def render(values: dict[str, Any], name: str = "inferplace", namespace: str = "inferplace") -> list[dict[str, Any]]:
    """Every manifest `helm install` would apply (NOTES.txt left out, the crds/ directory apart)."""
    out = helm.Chart.load(CHART).render(values, name=name, namespace=namespace, is_install=True)
    docs = []
    for file, text in sorted(out.items()):
        if file.endswith("NOTES.txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs
