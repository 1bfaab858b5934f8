"""What the layering promises, checked in a fresh interpreter (import-linter checks the imports)."""

from __future__ import annotations

import json
import subprocess
import sys

OPERATOR_ONLY = ("kopf", "kubernetes", "requests", "urllib3", "prometheus_api_client", "prometheus_client")


def _loaded_after(statement: str, names: tuple[str, ...]) -> list[str]:
    code = f"import sys, json; {statement}; print(json.dumps([n for n in {list(names)!r} if n in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    loaded: list[str] = json.loads(out.stdout)
    return loaded


def test_the_engine_loads_neither_pydantic_nor_yaml_nor_the_catalog() -> None:
    assert _loaded_after("import inferplace.engine", ("pydantic", "yaml", "inferplace.catalog", "inferplace.api")) == []


def test_the_cli_loads_no_operator_dependency() -> None:
    # `pip install inferplace` (no extras) must be enough for recommend, estimate and crd.
    assert _loaded_after("import inferplace.cli.main", OPERATOR_ONLY) == []


def test_one_evaluation_can_be_imported_without_a_metrics_client() -> None:
    assert _loaded_after("import inferplace.controller.reconcile", OPERATOR_ONLY) == []
