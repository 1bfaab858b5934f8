"""Every example's `inferplace recommend -o json` is exactly its golden file (timestamps masked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .golden import EXAMPLES, golden_path, recommend_json

pytestmark = pytest.mark.unit


def test_every_example_has_a_golden_file() -> None:
    assert EXAMPLES, "no examples found"
    missing = [e.name for e in EXAMPLES if not golden_path(e).is_file()]
    assert not missing, f"run `python -m tests.golden.golden --update` for: {missing}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_recommend_json_matches_the_golden_file(example: Path) -> None:
    expected = json.loads(golden_path(example).read_text())
    code, doc = recommend_json(example)
    assert code == expected["exitCode"]
    assert doc == expected["output"]
