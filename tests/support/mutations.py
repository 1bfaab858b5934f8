"""Generated values and structural mutations of a manifest (hypothesis strategies), shared by the
property suite (tests/properties) and the CLI/API-server parity test (tests/e2e)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40), st.text(alphabet="0123456789._ -e+", max_size=30),
    st.sampled_from(["0.85", "  60  ", "1_000", "00060", "0x10", "1e3", ".nan", ".inf", "yes", "no", "~",
                     "2026-13-45", "2026-01-01", "0.000000000000000000000000001", "9" * 400, "__name__",
                     'chat"} or vector(1)', "x{w}", "p5.48xlarge", "bf16", "fp8", "on-demand", "spot"]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                      max_leaves=12)


def paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += paths(v, (*prefix, i))
    return out


def set_at(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = obj
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return obj


def drop_at(obj: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return obj
    node = obj
    for p in path[:-1]:
        node = node[p]
    del node[path[-1]]
    return obj


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    doc = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(paths(doc)))
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "replace":
            doc = set_at(doc, path, draw(VALUES))
        elif action == "drop" and path:
            doc = drop_at(doc, path)
        else:
            target = doc
            for p in path:
                target = target[p]
            if isinstance(target, dict):
                target[draw(st.text(max_size=10))] = draw(VALUES)
            elif isinstance(target, list):
                target.append(draw(VALUES))
    return doc
