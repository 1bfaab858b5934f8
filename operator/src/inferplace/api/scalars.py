"""YAML scalars read the way kubectl reads them, so a manifest means the same to the CLI and to a cluster.

kubectl turns YAML into JSON with sigs.k8s.io/yaml, which reads it with go-yaml v2 (go.yaml.in/yaml/v2
v2.4.3, `resolve()` in resolve.go). That reader is neither YAML 1.1 (PyYAML) nor 1.2: `y`/`n` are
booleans, `09` and `1e3` are numbers, `1_000` is an integer, `0o17` is octal, a 5,000-digit integer or
`1e400` stays a string. This module is that resolution, written out, for plain (unquoted) scalars and
for explicit core tags (`!!int "12"`); quoted scalars are strings. Timestamps stay strings, as go-yaml
leaves them when decoding into an untyped value. Mapping keys become strings as sigs.k8s.io/yaml makes
them (`1` -> "1", `yes` -> "true", `1.5` -> "1.5"); a null key is an error there and here.
"""

from __future__ import annotations

import base64
import math
import re
import struct
from typing import Any

NULL_TAG = "tag:yaml.org,2002:null"
BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
BINARY_TAG = "tag:yaml.org,2002:binary"
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
# The tags go-yaml resolves (resolvableTag); with any other tag a scalar is its text (`!foo 1` is "1").
RESOLVED_TAGS = (NULL_TAG, BOOL_TAG, INT_TAG, FLOAT_TAG, TIMESTAMP_TAG)

_WORDS: dict[str, tuple[str, Any]] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), (BOOL_TAG, True)),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), (BOOL_TAG, False)),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), (NULL_TAG, None)),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), (FLOAT_TAG, math.nan)),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), (FLOAT_TAG, math.inf)),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), (FLOAT_TAG, -math.inf)),
}
_NUMBER_HINTS = frozenset("+-0123456789")
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
# What Go's ParseFloat takes of a text starting with ".": underscores only between digits.
_DOT_FLOAT = re.compile(r"\.[0-9]+(_[0-9]+)*([eE][-+]?[0-9]+(_[0-9]+)*)?")
_DIGITS = {2: frozenset("01"), 8: frozenset("01234567"), 10: frozenset("0123456789"),
           16: frozenset("0123456789abcdefABCDEF")}
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1


def _go_uint(text: str, base: int = 0) -> int | None:
    """strconv.ParseUint(text, base, 64): base 0 reads 0b/0o/0x prefixes and a leading 0 as octal."""
    if not text:
        return None
    if base == 0:
        base = 10
        if text[0] == "0":
            prefix = text[1:2].lower()
            if len(text) >= 3 and prefix in ("b", "o", "x"):
                base, text = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
            else:
                base, text = 8, text[1:]
    if len(text.lstrip("0")) > 64 or not set(text) <= _DIGITS[base]:
        return None
    value = int(text, base) if text else 0
    return value if value <= _UINT64_MAX else None


def _go_int(text: str, base: int = 0) -> int | None:
    """strconv.ParseInt(text, base, 64)."""
    negative = text[:1] == "-"
    magnitude = _go_uint(text[1:] if text[:1] in ("+", "-") else text, base)
    if magnitude is None or magnitude > _INT64_MAX + negative:
        return None
    return -magnitude if negative else magnitude


def _go_float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None  # Go's ParseFloat refuses what overflows


def resolve(text: str) -> tuple[str, Any]:
    """(tag, value) of a plain scalar, as go-yaml v2's resolve() with no tag."""
    if text in _WORDS:
        return _WORDS[text]
    hint = text[0]
    if hint == "." and _DOT_FLOAT.fullmatch(text) and (f := _go_float(text.replace("_", ""))) is not None:
        return FLOAT_TAG, f
    if hint in _NUMBER_HINTS:
        plain = text.replace("_", "")
        i = _go_int(plain)
        if i is None:
            i = _go_uint(plain)
        if i is not None:
            return INT_TAG, i
        if _YAML_STYLE_FLOAT.fullmatch(plain) and (f := _go_float(plain)) is not None:
            return FLOAT_TAG, f
        if plain.startswith("0b"):
            i = _go_int(plain[2:], 2)
            if i is None:
                i = _go_uint(plain[2:], 2)
        elif plain.startswith("-0b"):
            i = _go_int("-" + plain[3:], 2)
        if i is not None:
            return INT_TAG, i
    if text == "<<":
        return MERGE_TAG, text
    return STR_TAG, text


def resolve_tagged(tag: str, text: str) -> Any:
    """The value of `!!int`, `!!float`, `!!bool`, `!!null` or `!!timestamp` text: go-yaml resolves the
    text, then the tag must agree (an integer may stand for a float); ValueError as go-yaml's "cannot
    decode". A timestamp stays the text written, as go-yaml leaves it in an untyped value."""
    if tag == TIMESTAMP_TAG and is_timestamp(text):
        return text
    found, value = resolve(text)
    if found == tag:
        return value
    if tag == FLOAT_TAG and found == INT_TAG and value <= _INT64_MAX:  # go-yaml's int64, not its uint64
        return float(value)
    raise ValueError(f"cannot decode !!{found.rsplit(':', 1)[1]} `{text[:80]}` as a !!{tag.rsplit(':', 1)[1]}")


# go-yaml's allowedTimestampFormats as Go's time.Parse reads them: `1`, `2`, `15`, `4`, `5` take one or
# two digits, `.999999999` an optional fraction of any length (`.` or `,`), a layout space any run of
# spaces, `Z07:00` `Z` or `+hh:mm`/`-hh:mm` (hh at most 24, mm at most 60).
_TIMESTAMP_LAYOUTS = ("2006-1-2T15:4:5.999999999Z07:00", "2006-1-2t15:4:5.999999999Z07:00",
                      "2006-1-2 15:4:5.999999999", "2006-1-2")
_TWO_DIGITS = re.compile(r"[0-9]{1,2}")


def is_timestamp(text: str) -> bool:
    """go-yaml's parseTimestamp: YYYY- first, then one of its four layouts, with Go's range checks."""
    if not (len(text) > 4 and text[:4].isascii() and text[:4].isdigit() and text[4] == "-"):
        return False
    return any(_go_parses(layout, text) for layout in _TIMESTAMP_LAYOUTS)


def _go_parses(layout: str, value: str) -> bool:
    year = int(value[:4])
    rest = value[5:]
    fields: list[int] = []
    for part in re.split(r"(T|t| |:|\.999999999|Z07:00|-)", layout[5:]):
        if part in ("1", "2", "15", "4", "5"):
            m = _TWO_DIGITS.match(rest)
            if m is None:
                return False
            fields.append(int(m.group()))
            rest = rest[m.end():]
        elif part == " ":  # a layout space: one or more spaces (time.Parse's skip)
            if not rest.startswith(" "):
                return False
            rest = rest.lstrip(" ")
        elif part == ".999999999":  # optional; any number of digits
            if len(rest) >= 2 and rest[0] in ".," and "0" <= rest[1] <= "9":
                j = 1
                while j < len(rest) and "0" <= rest[j] <= "9":
                    j += 1
                rest = rest[j:]
        elif part == "Z07:00":
            if rest.startswith("Z"):
                rest = rest[1:]
            elif (len(rest) >= 6 and rest[0] in "+-" and rest[3] == ":" and rest[1:3].isdigit()
                  and rest[4:6].isdigit() and rest[1:3].isascii() and rest[4:6].isascii()
                  and int(rest[1:3]) <= 24 and int(rest[4:6]) <= 60):
                rest = rest[6:]
            else:
                return False
        elif part:
            if not rest.startswith(part):
                return False
            rest = rest[len(part):]
    if rest:
        return False  # extra text
    month, day, *clock = fields
    if not 1 <= month <= 12:
        return False
    if clock and not (clock[0] < 24 and clock[1] < 60 and clock[2] < 60):
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    return 1 <= day <= days


def binary_text(text: str) -> str:
    """A `!!binary` scalar as go-yaml reads it into an untyped value: base64 (Go's StdEncoding: padding
    required, line breaks ignored) decoded to bytes, which JSON then holds as a string, each byte that
    is not UTF-8 becoming U+FFFD (Go's encoding/json). ValueError for text that is not base64."""
    packed = text.replace("\r", "").replace("\n", "")
    if len(packed) % 4 or not _BASE64.fullmatch(packed):
        raise ValueError("!!binary value contains invalid base64 data")
    return go_utf8(base64.b64decode(packed))


_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def go_utf8(data: bytes) -> str:
    """bytes as Go's encoding/json writes a string holding them: each byte that does not start a valid
    UTF-8 sequence becomes U+FFFD on its own (Python's "replace" folds some runs into one)."""
    out: list[str] = []
    i = 0
    while i < len(data):
        for width in (1, 2, 3, 4):
            try:
                out.append(data[i:i + width].decode("utf-8"))
            except UnicodeDecodeError:
                continue
            i += width
            break
        else:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def key_text(key: Any) -> str:
    """A mapping key as sigs.k8s.io/yaml writes it into JSON; ValueError for a key it cannot write."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        if key > _INT64_MAX:  # go-yaml makes it a uint64, a key sigs.k8s.io/yaml cannot write
            raise ValueError(f"a number key above {_INT64_MAX} cannot be a JSON key; quote it")
        return str(key)
    if isinstance(key, float):
        return _float32_text(key)
    raise ValueError("a key must be a string, a number or true/false" if key is not None else
                     "a key cannot be null (`~`, `null` or empty)")


def _float32_text(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 32), with go-yaml's names for the non-finite."""
    if math.isnan(value):
        return ".nan"
    try:
        single = struct.unpack("f", struct.pack("f", value))[0]  # rounded to float32, as Go's float32(v)
    except OverflowError:  # rounds to infinity as a float32
        return ".inf" if value > 0 else "-.inf"
    if math.isinf(single):  # value itself was infinite
        return ".inf" if value > 0 else "-.inf"
    if single == 0:
        return "-0" if math.copysign(1, single) < 0 else "0"
    for digits in range(1, 10):  # the shortest decimal that reads back as the same float32
        text = f"{single:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    mantissa, exponent = text.split("e")
    sign = "-" if mantissa.startswith("-") else ""
    figures = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    exp = int(exponent)
    if exp < -4 or exp >= 6:  # %e, as Go's shortest 'g' decides it
        body = figures[0] + ("." + figures[1:] if len(figures) > 1 else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{figures}"
    whole = figures[:exp + 1].ljust(exp + 1, "0")
    rest = figures[exp + 1:]
    return f"{sign}{whole}{'.' + rest if rest else ''}"
