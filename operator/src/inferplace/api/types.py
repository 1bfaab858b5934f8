"""Wire types shared by spec and status.

Decimals travel as strings. Kubernetes API conventions keep floating point out of spec ("never use
them in spec") because a float does not survive a round trip through every client unchanged
(0.1 + 0.2, YAML's 1e3, JSON numbers above 2**53). So every non-integer in this API is a decimal
string such as "0.85" or "12.5", and integers may be written bare (`12`), the way resource.Quantity
accepts both. A bare float (`0.85` unquoted) is refused with a message saying how to write it,
both here and by the API server, so a manifest that works with the CLI also applies to a cluster.
Money in status is a string with 2 decimals (US dollars; a month is 730 hours).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, GetJsonSchemaHandler, PlainSerializer
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# The input bound of every decimal: up to 15 digits before the point and 9 after (a 1e-9 request rate, a
# billion-dollar bill); beyond it nothing the model computes is meaningful, and the CRD refuses it too.
DECIMAL_PATTERN = r"^[0-9]{1,15}(\.[0-9]{1,9})?$"
MAX_INTEGER = 10**15 - 1
# Text a user writes that reaches a table, a status or a log: C0/C1 controls and bidirectional overrides (which a
# terminal would act on) are refused. The bidirectional marks are the characters themselves, not \u escapes: the
# pattern also goes into the CRD, and the API server's regular expressions (RE2) know no \u.
PLAIN_TEXT = "^[^\\x00-\\x1f\\x7f-\\x9f\u202a-\u202e\u2066-\u2069]*$"
_DECIMAL_RE = re.compile(DECIMAL_PATTERN)


def _parse_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("must be a number, not true/false")
    if isinstance(value, (int, Decimal)) and 0 <= value <= MAX_INTEGER and Decimal(value).is_finite():
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a number; give a decimal such as \"0.85\" or \"12\"")
        raise ValueError(
            f'write decimals as quoted strings, e.g. "{value}" (floats are not allowed in a '
            "Kubernetes spec)"
        )
    if isinstance(value, str) and _DECIMAL_RE.fullmatch(value):
        try:
            return Decimal(value)
        except InvalidOperation:
            pass
    text = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."
    raise ValueError(f'{text} is not a non-negative decimal such as "0.85" or "12" (at most 15 digits before '
                     "the point and 9 after; no spaces)")


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


BOUND_KEYWORDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}
"""pydantic's constraint names and JSON Schema's for the same bound."""


class _DecimalJsonSchema:
    """int-or-string on the wire, with the field's bounds (`Field(gt=0, le=100)`) on the integer form in
    JSON Schema's own words; the CRD generator checks the string form against the same bounds (CEL)."""

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        inner: Any = core_schema.get("schema", {})  # the decimal schema the field's constraints went to
        bounds: dict[str, Any] = {"minimum": 0, "maximum": MAX_INTEGER}
        for key, keyword in BOUND_KEYWORDS.items():
            if key in inner:
                number = Decimal(inner[key])
                bounds[keyword] = int(number) if number == number.to_integral_value() else float(number)
        if "exclusiveMinimum" in bounds and bounds["exclusiveMinimum"] >= bounds["minimum"]:
            del bounds["minimum"]
        if "exclusiveMaximum" in bounds and bounds["exclusiveMaximum"] <= bounds["maximum"]:
            del bounds["maximum"]
        return {
            "x-kubernetes-int-or-string": True,
            "anyOf": [{"type": "integer", **bounds},
                      {"type": "string", "pattern": DECIMAL_PATTERN, "maxLength": 25}],
        }


Dec = Annotated[
    Decimal,
    BeforeValidator(_parse_decimal),
    PlainSerializer(_decimal_text, return_type=str),
    _DecimalJsonSchema(),
]
"""A non-negative decimal: an integer or a decimal string on the wire."""


WIRE = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid",
                  use_attribute_docstrings=True, strict=True)
"""camelCase on the wire, snake_case in Python; unknown fields are errors, never dropped. Strict: what the
generated CRD refuses is refused here too (`true` or "8" in an integer field, "yes" in a boolean), so a
manifest the CLI accepts also applies to a cluster."""


def wire_with_rules(*rules: tuple[str, str]) -> ConfigDict:
    """WIRE plus CEL validation rules (rule, message) the API server checks at admission."""
    cfg = ConfigDict(**WIRE)
    cfg["json_schema_extra"] = {"x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]}
    return cfg


def money(usd: float) -> str:
    return f"{usd:.2f}"


def fixed(value: float, places: int = 1) -> str:
    return f"{value:.{places}f}"
