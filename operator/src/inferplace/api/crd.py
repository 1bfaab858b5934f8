"""The CustomResourceDefinition, generated from the pydantic models (the single source of truth).

pydantic emits JSON Schema 2020-12; the API server wants a *structural* OpenAPI v3.0 schema. The
rewriter inlines `$ref`s, collapses `X | None` (no `type: null`), drops `title`/`default`, turns
numeric `exclusiveMinimum` into the v3.0 boolean form, replaces `patternProperties` and
`propertyNames` (not allowed) with `additionalProperties` plus a CEL rule on the keys, and bounds
every string and list so CEL cost estimates stay finite. Defaults are left to the operator, which
reports each one it uses in `status.assumptions`; the API server never rewrites what a user wrote.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import yaml

from inferplace.api.resource import CATEGORIES, GROUP, KIND, PLURAL, SHORT_NAMES, SINGULAR, VERSION
from inferplace.api.spec import InferenceWorkloadSpec
from inferplace.api.status import InferenceWorkloadStatus
from inferplace.api.types import BOUND_KEYWORDS, MAX_INTEGER

DEFAULT_MAX_LENGTH = 4096
DEFAULT_MAX_ITEMS = 256
FILE_NAME = f"{GROUP}_{PLURAL}.yaml"

_DROP = {"title", "default", "additionalProperties", "gt", "ge", "lt", "le", "propertyNames", "examples"}

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.name"},
    {"name": "Current", "type": "string", "jsonPath": ".spec.current.instanceType"},
    # The summary reads for every kind of placement: "6 x p5.4xlarge (on-demand)", "bedrock API (on-demand)".
    {"name": "Recommended", "type": "string", "jsonPath": ".status.recommendation.summary"},
    {"name": "Savings/mo", "type": "string", "jsonPath": ".status.recommendation.savingsMonthly"},
    {"name": "Savings %", "type": "string", "jsonPath": ".status.recommendation.savingsPercent"},
    {"name": "Confidence", "type": "string", "jsonPath": ".status.recommendation.confidence.level"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Verified", "type": "string", "jsonPath": ".status.verification.state"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {"name": "$/1M now", "type": "string", "priority": 1, "jsonPath": ".status.current.costPerMillionOutputTokens"},
    {"name": "$/1M rec", "type": "string", "priority": 1,
     "jsonPath": ".status.recommendation.costPerMillionOutputTokens"},
    {"name": "TTFT p95", "type": "string", "priority": 1, "jsonPath": ".status.recommendation.projected.ttftP95Ms"},
    {"name": "TPOT p95", "type": "string", "priority": 1, "jsonPath": ".status.recommendation.projected.tpotP95Ms"},
]


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = copy.deepcopy(defs[node["$ref"].split("/")[-1]])
            rest = {k: v for k, v in node.items() if k != "$ref"}
            return _inline({**target, **rest}, defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _collapse_nullable(node: dict[str, Any]) -> dict[str, Any]:
    """`anyOf: [X, {type: null}]` -> X (with the outer description kept)."""
    variants = node.get("anyOf")
    if isinstance(variants, list):
        real = [v for v in variants if v != {"type": "null"}]
        if len(real) < len(variants) and len(real) == 1:
            outer = {k: v for k, v in node.items() if k != "anyOf"}
            return {**real[0], **{k: v for k, v in outer.items() if k not in real[0] or k == "description"}}
    return node


_DEFAULT_DECIMAL_BOUNDS = {"minimum": 0, "maximum": MAX_INTEGER}


def _decimal_bounds(node: dict[str, Any]) -> dict[str, Any]:
    """The bounds of a decimal field in JSON Schema 2020-12 words: those pydantic put on the integer
    form, tightened by the raw `gt`/`ge`/`lt`/`le` pydantic leaves beside an optional field's schema."""
    integer = next(v for v in node["anyOf"] if v.get("type") == "integer")
    bounds = {k: integer[k] for k in BOUND_KEYWORDS.values() if k in integer}
    for raw, keyword in BOUND_KEYWORDS.items():
        if raw in node:
            bounds[keyword] = node[raw]
    for lower, upper in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if lower in bounds and upper in bounds:  # the exclusive bound, when given, is the tighter one here
            del bounds[lower]
    return bounds


def _int_or_string(node: dict[str, Any], bounds: dict[str, Any]) -> dict[str, Any]:
    string = next(v for v in node["anyOf"] if v.get("type") == "string")
    # maxLength (the pattern's own bound, said outright) keeps the CEL rule's cost estimate small.
    out: dict[str, Any] = {"anyOf": [{"type": "integer"}, {"type": "string"}], "pattern": string["pattern"],
                           "maxLength": string["maxLength"]}
    for keyword, value in bounds.items():  # OpenAPI v3.0: an exclusive bound is a flag on minimum/maximum
        if keyword.startswith("exclusive"):
            out["minimum" if keyword == "exclusiveMinimum" else "maximum"] = value
            out[keyword] = True
        else:
            out[keyword] = value
    out.setdefault("maximum", MAX_INTEGER)
    return out


def _decimal_text(value: float | int) -> str:
    return format(Decimal(str(value)).normalize(), "f")


_CEL_COMPARE = {"exclusiveMinimum": ("> 0", "greater than"), "minimum": (">= 0", "at least"),
                "exclusiveMaximum": ("< 0", "less than"), "maximum": ("<= 0", "at most")}


def _decimal_string_rule(found: dict[str, Any]) -> dict[str, str] | None:
    """A decimal written as a string ("0.85") checked against the field's bounds, exactly: CEL's
    quantity library compares decimals without rounding (Kubernetes 1.29 and later)."""
    bounds = {k: found[k] for k in _CEL_COMPARE if k in found and _DEFAULT_DECIMAL_BOUNDS.get(k) != found[k]}
    if not bounds:
        return None  # the pattern alone bounds the string to 0..MAX_INTEGER
    checks = [f"quantity(self).compareTo(quantity('{_decimal_text(v)}')) {_CEL_COMPARE[k][0]}"
              for k, v in bounds.items()]
    words = [f"{_CEL_COMPARE[k][1]} {_decimal_text(v)}" for k, v in bounds.items()]
    return {"rule": f"type(self) != string || !isQuantity(self) || ({' && '.join(checks)})",
            "message": f"must be {' and '.join(words)}"}


def _structural(node: Any) -> Any:
    if isinstance(node, list):
        return [_structural(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = _collapse_nullable(node)
    out: dict[str, Any] = {}
    rules: list[dict[str, str]] = list(node.get("x-kubernetes-validations", []))
    for key, value in node.items():
        if key in _DROP or key == "x-kubernetes-validations":
            continue
        if key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        elif key == "patternProperties":
            ((pattern, schema),) = value.items()
            out["additionalProperties"] = _structural(schema)
            names = node.get("propertyNames", {})
            limit = names.get("maxLength", 253)
            rules.append({"rule": f"self.all(k, k.matches('{pattern}') && size(k) <= {limit})",
                          "message": f"keys must match {pattern} and be at most {limit} characters"})
        elif key == "properties":
            out[key] = {k: _structural(v) for k, v in value.items()}
        else:
            out[key] = _structural(value)
    if node.get("x-kubernetes-int-or-string"):
        # The one anyOf the API server allows types in: [{type: integer}, {type: string}]. minimum and
        # maximum apply to the integer form only; the pattern, and a CEL rule on the same bounds, to the string.
        out.pop("anyOf", None)
        out.pop("type", None)
        bounds = _decimal_bounds(node)
        out.update(_int_or_string(node, bounds))
        rule = _decimal_string_rule(bounds)
        if rule:
            rules.append(rule)
    if out.get("type") == "string" and "maxLength" not in out and "enum" not in out:
        out["maxLength"] = DEFAULT_MAX_LENGTH
    if out.get("type") == "array" and "maxItems" not in out:
        out["maxItems"] = DEFAULT_MAX_ITEMS
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    if rules:
        out["x-kubernetes-validations"] = rules
    return out


def schema_of(model: type[Any]) -> dict[str, Any]:
    raw = model.model_json_schema(by_alias=True)
    defs = raw.pop("$defs", {})
    result: dict[str, Any] = _structural(_inline(raw, defs))
    return result


def build_crd() -> dict[str, Any]:
    spec = schema_of(InferenceWorkloadSpec)
    status = schema_of(InferenceWorkloadStatus)
    root = {
        "type": "object",
        "description": "An LLM inference workload whose placement inferplace recommends: where it should run "
                       "(trn2, inf2 or a GPU family), with how many replicas, at what cost per million accepted "
                       "output tokens, and what that saves against today's placement.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string", "maxLength": 253},
            "kind": {"type": "string", "maxLength": 63},
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{GROUP}", "labels": {"app.kubernetes.io/name": "inferplace"}},
        "spec": {
            "group": GROUP,
            "names": {"kind": KIND, "listKind": f"{KIND}List", "plural": PLURAL, "singular": SINGULAR,
                      "shortNames": list(SHORT_NAMES), "categories": list(CATEGORIES)},
            "scope": "Namespaced",
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": PRINTER_COLUMNS,
                "schema": {"openAPIV3Schema": root},
            }],
        },
    }


def render_crd() -> str:
    header = ("# GENERATED by `inferplace crd` from the pydantic models in inferplace.api; do not edit.\n"
              "# Regenerate: inferplace crd > crds/" + FILE_NAME + "\n")
    return header + yaml.safe_dump(build_crd(), sort_keys=False, width=120)
