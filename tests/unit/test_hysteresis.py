"""A status is rewritten when text or counts change, or a figure moves beyond the tolerance."""

from __future__ import annotations

import random
import re

import pytest

from inferplace.controller.hysteresis import FIGURE_IN_TEXT, shape, within

pytestmark = pytest.mark.unit


def status(rps: str, replicas: int, message: str, when: str = "2026-12-03T10:00:00Z") -> dict[str, object]:
    return {"lastEvaluationTime": when, "observed": {"time": when, "requestsPerSecond": rps},
            "recommendation": {"replicas": replicas, "monthlyCost": 1234.5},
            "conditions": [{"type": "Ready", "message": message}]}


def test_times_that_change_every_evaluation_are_not_a_change() -> None:
    a = shape(status("10.0", 3, "saves $1,234.56 a month", "2026-12-03T10:00:00Z"))
    b = shape(status("10.0", 3, "saves $1,234.56 a month", "2026-12-03T10:05:00Z"))
    assert a[0] == b[0] and list(a[1]) == list(b[1])


def test_figures_in_fields_and_in_text_move_within_the_tolerance() -> None:
    a = shape(status("10.0", 3, "saves $1,234.56 a month at 5.69 req/s"))
    b = shape(status("10.1", 3, "saves $1,240.00 a month at 5.70 req/s"))
    assert a[0] == b[0]
    assert within(a[1], b[1], 0.02) and not within(a[1], b[1], 0.001)
    c = shape(status("11.0", 3, "saves $1,234.56 a month at 5.69 req/s"))
    assert not within(a[1], c[1], 0.02)


def test_counts_and_text_compare_exactly_and_numbers_in_text_as_figures() -> None:
    base, figures = shape(status("10.0", 100, "3 x p5.48xlarge"))
    assert shape(status("10.0", 101, "3 x p5.48xlarge"))[0] != base  # one replica more is news
    assert shape(status("10.0", 100, "3 x p5e.48xlarge"))[0] != base
    assert shape(status("10.0", 100, "3 x p5.48xlarge", "x"))[0] == base
    same, more = shape(status("10.0", 100, "4 x p5.48xlarge"))
    assert same == base and not within(figures, more, 0.02)  # 3 -> 4 in text: a 25% move


def test_round_numbers_printed_without_decimals_keep_the_skeleton() -> None:
    a = shape(status("10.0", 3, "peak of 20.00 req/s (10 mean x 2)"))
    b = shape(status("10.0", 3, "peak of 20.10 req/s (10.05 mean x 2)"))
    assert a[0] == b[0] and within(a[1], b[1], 0.02)


def test_the_alternatives_flipping_on_a_near_tie_are_not_a_change() -> None:
    a = {**status("10.0", 3, "m"), "alternatives": [{"replicas": 4, "chipsPerReplica": 2}]}
    b = {**status("10.0", 3, "m"), "alternatives": [{"replicas": 2, "chipsPerReplica": 8}]}
    assert shape(a)[0] == shape(b)[0]


def test_a_sign_change_from_zero_is_a_change() -> None:
    assert not within([0.0], [0.01], 0.5)
    assert within([0.0], [0.0], 0.0)


def test_figures_in_text_are_found_as_by_the_plain_pattern() -> None:
    # The pattern takes its first digit out of its alternatives (so the regex engine can skip to digits);
    # it must find exactly what "1,234.5 or 1234.5" written plainly finds.
    plain = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?")
    rnd = random.Random(11)
    texts = ["".join(rnd.choice("0123456789,,..  $a-") for _ in range(rnd.randint(0, 24))) for _ in range(20000)]
    texts += ["$1,234.56 a month", "1,000,000", "12,34", "1234,567", "0.5.6", "9,999.", ",123", "1,2345"]
    for t in texts:
        assert [m.span() for m in FIGURE_IN_TEXT.finditer(t)] == [m.span() for m in plain.finditer(t)], t
