"""A manifest as the API server will hold it, before the models check it, so the CLI and a cluster
accept the same manifests.

Two things happen to a manifest between `kubectl apply` and validation, and the CLI does both:
- numbers travel as JSON: an integral float (`1.0`, YAML's `1e3`) is written by Go's encoder as an
  integer (`1`, `1000`), so it is one;
- the API server drops an explicit `null` wherever the CRD's structural schema has a field for it and
  no `nullable` (apiextensions-apiserver's PruneNonNullableNullsWithoutDefaults): `e2eP95Ms: null` is
  as if it were not written. A null where the schema has no field (an unknown key) is kept, and refused.
The document itself is never changed: the result is a copy, or the document itself when it holds no
null and no float (most do not; the CRD's schema is then not even built).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from inferplace.api.crd import build_crd

_GO_INTEGER_TEXT = 1e21  # Go's encoder writes floats below this without an exponent


def as_stored(document: dict[str, Any]) -> dict[str, Any]:
    if not _holds_null_or_float(document):
        return document
    stored: dict[str, Any] = _stored(document, _root_schema())
    return stored


def _holds_null_or_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_null_or_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_null_or_float(v) for v in value)
    return value is None or isinstance(value, float)


@cache
def _root_schema() -> dict[str, Any]:
    schema: dict[str, Any] = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _field_schema(schema: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    if schema is None:
        return None
    if key in schema.get("properties", {}):
        field: dict[str, Any] = schema["properties"][key]
        return field
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _stored(value: Any, schema: dict[str, Any] | None) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            field = _field_schema(schema, key)
            if item is None and field is not None and not field.get("nullable"):
                continue
            out[key] = _stored(item, field)
        return out
    if isinstance(value, list):
        items = schema.get("items") if schema is not None else None
        return [_stored(item, items) for item in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < _GO_INTEGER_TEXT:
        return int(value)
    return value
