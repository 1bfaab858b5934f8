"""Whether a new status differs from the last one written in anything a user reads: its text and
counts exactly, its figures beyond a relative tolerance. Live figures (observed rates, projected
latency, costs) move a little at every evaluation; rewriting the status for that costs etcd writes
and watch traffic for every client and tells nobody anything.

A status is reduced to a skeleton (every key and text, with each figure replaced by a marker) and
the figures in order. Figures are floats, decimal strings ("12.5"), whole numbers from 1,000 up
(tokens a month), and every number inside text ("$1,234.56", "5.69 req/s", "10 mean x 2"); whole
numbers below 1,000 in their own fields (replicas, chips, ages in days, generations) stay in the
skeleton and compare exactly.

The alternatives, the rejected candidates and the promises are not compared: near-ties among them
flip with the smallest change of traffic (two shapes within a cent of each other), which tells a user
nothing. They are rewritten with any other change, and at least every heartbeat (runtime).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from array import array
from collections.abc import Iterable
from typing import Any

# Change at every evaluation although nothing else did: never a reason to write.
VOLATILE: frozenset[tuple[str, ...]] = frozenset({("lastEvaluationTime",), ("observed", "time")})
LAGGING: frozenset[tuple[str, ...]] = frozenset({("alternatives",), ("rejected",), ("promises",)})
_DECIMAL = re.compile(r"-?[0-9]+\.[0-9]+")
# "1,234.5" or "1234.5": the first digit taken out of the alternatives, so the engine skips to digits.
FIGURE_IN_TEXT = re.compile(r"[0-9](?:[0-9]{0,2}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]*(?:\.[0-9]+)?)")
LARGE = 1000  # whole numbers from here on are figures
_HAS_DIGIT = re.compile(r"[0-9]")
MARK = "\u2058"  # stands for a figure in the skeleton (a character no status text uses)


def shape(status: dict[str, Any]) -> tuple[str, array[float]]:
    """(digest of the skeleton, the figures in order)."""
    figures: array[float] = array("d")
    add = figures.append

    def text(node: str) -> str:
        if not _HAS_DIGIT.search(node):
            return node
        if _DECIMAL.fullmatch(node):
            add(float(node))
            return MARK
        return FIGURE_IN_TEXT.sub(mark, node)

    def mark(m: re.Match[str]) -> str:
        add(float(m[0].replace(",", "")))
        return MARK

    def leaf(node: Any) -> Any:
        if isinstance(node, str):
            return text(node)
        if isinstance(node, float) or (isinstance(node, int) and not isinstance(node, bool) and abs(node) >= LARGE):
            add(float(node))
            return MARK
        return node

    def walk(node: Any, path: tuple[str, ...]) -> Any:
        if path in VOLATILE or path in LAGGING:
            return None
        if isinstance(node, dict):
            return {k: walk(node[k], (*path, k)) for k in sorted(node)}
        if isinstance(node, list):
            return [walk(x, path) for x in node]
        return leaf(node)

    # The keys are sorted as the skeleton is built.
    skeleton = json.dumps(walk(status, ()), separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(skeleton.encode(), digest_size=16).hexdigest(), figures


def within(old: Iterable[float], new: Iterable[float], tolerance: float) -> bool:
    """Every figure within `tolerance` of its old value, relative to the larger of the two."""
    for a, b in zip(old, new, strict=True):
        if a != b and not (math.isfinite(a) and math.isfinite(b) and abs(b - a) <= tolerance * max(abs(a), abs(b))):
            return False
    return True
