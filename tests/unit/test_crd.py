"""The generated CRD: committed copy up to date, structural (what the API server demands), bounded,
with the printer columns and CEL rules the issue asks for."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from inferplace.api.crd import FILE_NAME, build_crd

ROOT = Path(__file__).resolve().parents[2]


def _walk(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = []
    if isinstance(node, dict):
        if "type" in node or "x-kubernetes-int-or-string" in node or "anyOf" in node:
            out.append((path, node))
        for k, v in node.get("properties", {}).items():
            out += _walk(v, f"{path}.{k}")
        if isinstance(node.get("items"), dict):
            out += _walk(node["items"], f"{path}[]")
        if isinstance(node.get("additionalProperties"), dict):
            out += _walk(node["additionalProperties"], f"{path}{{}}")
    return out


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def test_committed_crd_matches_the_models() -> None:
    r = subprocess.run([sys.executable, "-m", "inferplace", "crd", "--check", str(ROOT / "crds")],
                       capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load((ROOT / "crds" / FILE_NAME).read_text()) == build_crd()


def test_drift_is_detected(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text((ROOT / "crds" / FILE_NAME).read_text().replace("maxLength: 253", "maxLength: 9"))
    r = subprocess.run([sys.executable, "-m", "inferplace", "crd", "--check", str(tmp_path)],
                       capture_output=True, text=True, check=False, timeout=60)
    assert r.returncode == 1 and "differs from the models" in r.stderr


def test_structural_schema() -> None:
    text = yaml.safe_dump(_schema())
    for forbidden in ("$ref", "$defs", "title:", "type: 'null'", "type: null", "patternProperties", "propertyNames",
                      "default:"):
        assert forbidden not in text, forbidden
    for path, node in _walk(_schema()):
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            assert "type" not in node, path
            continue
        assert "type" in node, path
        assert "anyOf" not in node, path
        if node["type"] == "string" and "enum" not in node:
            assert "maxLength" in node, path
        if node["type"] == "array":
            assert "maxItems" in node, path
        for key in ("exclusiveMinimum", "exclusiveMaximum"):
            assert isinstance(node.get(key, True), bool), path


def _resolve(path: str) -> dict[str, Any] | None:
    node: dict[str, Any] = _schema()
    for segment in path.strip(".").split("."):
        name = segment.split("[")[0]
        if node.get("type") == "array":
            node = node["items"]
        props = node.get("properties", {})
        if name not in props:
            return None
        node = props[name]
    return node


def test_printer_columns_point_at_real_fields() -> None:
    version = build_crd()["spec"]["versions"][0]
    cols = {c["name"]: c for c in version["additionalPrinterColumns"]}
    for name in ("Model", "Current", "Recommended", "Savings/mo", "Savings %", "Confidence", "Ready", "Age"):
        assert name in cols and "priority" not in cols[name]
    for name in ("$/1M now", "$/1M rec", "TTFT p95", "TPOT p95"):
        assert cols[name]["priority"] == 1
    for c in cols.values():
        if c["jsonPath"].startswith(".metadata"):
            continue
        assert _resolve(c["jsonPath"].replace('[?(@.type=="Ready")]', "")) is not None, c


def test_names_subresource_and_validation_rules() -> None:
    crd = build_crd()
    names = crd["spec"]["names"]
    assert names["shortNames"] == ["iw"] and names["categories"] == ["inferplace"]
    assert crd["spec"]["versions"][0]["subresources"] == {"status": {}}
    spec = _schema()["properties"]["spec"]
    assert set(spec["required"]) == {"model", "traffic", "slo"}
    model_rules = {r["rule"] for r in spec["properties"]["model"]["x-kubernetes-validations"]}
    assert "has(self.name) != has(self.architecture)" in model_rules
    tokens = spec["properties"]["traffic"]["properties"]["promptTokens"]
    assert tokens["x-kubernetes-validations"][0]["rule"] == "!has(self.p95) || self.p95 >= self.mean"
    current = spec["properties"]["current"]["properties"]
    assert current["replicas"]["minimum"] == 1 and current["chipsPerReplica"]["minimum"] == 1
    assert spec["properties"]["constraints"]["properties"]["instanceFamilies"]["minItems"] == 1
    conds = _schema()["properties"]["status"]["properties"]["conditions"]
    assert conds["x-kubernetes-list-type"] == "map" and conds["x-kubernetes-list-map-keys"] == ["type"]
    assert _schema()["properties"]["spec"]["description"]
