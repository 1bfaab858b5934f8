"""One clock: every "now" in an answer comes from `inferplace.api.clock`, and `--as-of` fixes it.

- No module of the product reads the time of day itself (a source scan that fails on a new call).
- The same command with the same `--as-of` prints the same bytes whatever the machine's date, time
  zone or locale (the CLI under libfaketime, days and years ahead; skipped without `faketime`
  unless INFERPLACE_REQUIRE_FAKETIME is set, as in CI).
- Moving the as-of itself moves only the ages, and staleness follows its documented threshold.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from inferplace.api.clock import AsOf, AsOfError, parse_as_of
from inferplace.catalog import load_catalog
from inferplace.cli.as_of import as_of
from inferplace.cli.inputs import InputError, manifests
from inferplace.cli.main import build_parser
from inferplace.cli.subjects import subjects
from inferplace.controller.config import ConfigError, from_env
from inferplace.placement import Report, recommend
from inferplace.placement.settings import DEFAULTS, PricingSettings
from inferplace.pricing import default_book

from ..golden.golden import AS_OF

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "src" / "inferplace"
CAT = load_catalog()

# Reading the time of day: only api/clock.py may. Monotonic and perf counters measure durations and stay.
_WALL_CLOCK = re.compile(r"\b(datetime\.now|datetime\.utcnow|datetime\.today|date\.today|time\.time|time\.localtime|"
                         r"time\.gmtime|time\.ctime|time\.asctime|fromtimestamp\(\s*time)\s*\(")


def test_no_module_but_the_clock_reads_the_time_of_day() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "api" / "clock.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if _WALL_CLOCK.search(line) and not line.lstrip().startswith("#"):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "read the time from a Clock (inferplace.api.clock):\n" + "\n".join(found)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
    (" 2026-12-01 ", datetime(2026, 12, 1, tzinfo=UTC)),
    ("2026-12-01T12:30:00Z", datetime(2026, 12, 1, 12, 30, tzinfo=UTC)),
    ("2026-12-01t12:30:00z", datetime(2026, 12, 1, 12, 30, tzinfo=UTC)),
    ("2026-12-01T12:30:00.123456789Z", datetime(2026, 12, 1, 12, 30, 0, 123456, tzinfo=UTC)),
    ("2026-12-01T01:00:00+02:00", datetime(2026, 11, 30, 23, 0, tzinfo=UTC)),
    ("2026-12-01T23:00:00-05:30", datetime(2026, 12, 2, 4, 30, tzinfo=UTC)),
])
def test_as_of_reads_a_date_or_a_zoned_time(text: str, expected: datetime) -> None:
    assert parse_as_of(text) == expected


@pytest.mark.parametrize("text", ["2026-12-01T12:00:00", "yesterday", "2026-13-01", "2026-02-30", "1969-12-31",
                                  "2026-12-01T25:00:00Z", "2026-12-01T12:00:00+24:00", "", "1764547200",
                                  "10000-01-01", "2026-12-1"])
def test_a_bad_as_of_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(AsOfError, match=r"date|zone|outside"):
        parse_as_of(text)


def test_the_flag_wins_over_the_environment_and_a_bad_value_names_its_source() -> None:
    args = build_parser().parse_args(["recommend", "-f", "x.yaml", "--as-of", "2026-12-01"])
    assert as_of(args, {"INFERPLACE_AS_OF": "2020-01-01"}).describe() == \
        "as of 2026-12-01T00:00:00Z (--as-of 2026-12-01)"
    bare = build_parser().parse_args(["recommend", "-f", "x.yaml"])
    assert as_of(bare, {"INFERPLACE_AS_OF": "2020-01-01"}).source == "INFERPLACE_AS_OF=2020-01-01"
    fixed = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert as_of(bare, {}, clock=lambda: fixed) == AsOf(fixed, "the system clock")
    with pytest.raises(InputError, match=r"^INFERPLACE_AS_OF: 'soon' is not a date"):
        as_of(bare, {"INFERPLACE_AS_OF": "soon"})


def test_the_operator_refuses_a_fixed_clock() -> None:
    with pytest.raises(ConfigError, match="the operator always uses the system clock"):
        from_env({"INFERPLACE_ALL_NAMESPACES": "true", "INFERPLACE_AS_OF": "2026-12-01"})


# ---- the same bytes on any day -------------------------------------------------------------------------------

def _faketime() -> str:
    path = shutil.which("faketime")
    if path is None:
        if os.environ.get("INFERPLACE_REQUIRE_FAKETIME"):
            pytest.fail("INFERPLACE_REQUIRE_FAKETIME is set but faketime (Debian package faketime) is not installed")
        pytest.skip("faketime is not installed (apt-get install faketime)")
    return path


COMMANDS = {
    "recommend-json": ["recommend", "-f", "examples", "-o", "json"],
    "recommend-table": ["recommend", "-f", "examples"],
    "recommend-yaml": ["recommend", "-f", "examples/05-spiky-low-volume-mistral-7b", "-o", "yaml"],
    "plan": ["plan", "-f", "examples", "-o", "json", "--budget-weeks", "12"],
    "plan-table": ["plan", "-f", "examples"],
    "render": ["render", "-f", "examples/01-steady-chat-llama-3.1-8b/workload.yaml"],
    "prices": ["prices", "--region", "us-east-2", "-o", "json"],
    "prices-table": ["prices", "--instance-type", "p5.48xlarge"],
}


def _run(args: list[str], shift: str | None, env: dict[str, str]) -> tuple[int, str]:
    cmd = [sys.executable, "-m", "inferplace", *args, "--as-of", AS_OF]
    if shift is not None:
        cmd = [_faketime(), "-f", shift, *cmd]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                       env={**os.environ, **env})
    return r.returncode, r.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_same_as_of_prints_the_same_bytes_on_any_day_zone_and_locale(command: str) -> None:
    _faketime()
    here = _run(COMMANDS[command], None, {"TZ": "UTC"})
    assert here[1], f"{command} printed nothing"
    for shift, env in (("+400d", {"TZ": "Pacific/Kiritimati", "LC_ALL": "C.UTF-8"}),
                       ("+3650d", {"TZ": "America/Los_Angeles", "LANG": "de_DE.UTF-8"}),
                       ("-30d", {"TZ": "Asia/Kolkata"})):
        assert _run(COMMANDS[command], shift, env) == here, f"{command} differs with the clock at {shift}, {env}"


# ---- moving the as-of moves the ages and nothing else ---------------------------------------------------------

def _answers(at: datetime, max_age_days: int) -> list[dict[str, Any]]:
    found, problems = manifests([ROOT / "examples"])
    assert not problems
    settings = DEFAULTS.model_copy(update={"pricing": PricingSettings(max_age_days=max_age_days)})
    out = []
    for rep in recommend([(m.workload.metadata.name, m.workload.spec) for m in found], CAT, default_book(), at,
                         settings=settings):
        assert isinstance(rep, Report)
        out.append(rep.status.model_dump(by_alias=True, exclude_none=True, mode="json"))
    return out


_AGE_TEXT = re.compile(r"\b\d+ days old\b")


def _without_ages(node: Any, at: datetime) -> Any:
    """`node` with every age (ageDays, 'N days old') and every time of the evaluation masked."""
    if isinstance(node, dict):
        return {k: "<age>" if k == "ageDays" else _without_ages(v, at) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_ages(v, at) for v in node]
    if isinstance(node, str):
        return _AGE_TEXT.sub("<N> days old", node.replace(at.strftime("%Y-%m-%dT%H:%M:%SZ"), "<as-of>"))
    return node


def _ages(node: Any) -> list[int]:
    if isinstance(node, dict):
        return [a for k, v in node.items() for a in ([v] if k == "ageDays" else _ages(v))]
    if isinstance(node, list):
        return [a for v in node for a in _ages(v)]
    return []


def test_far_in_the_future_only_the_ages_move() -> None:
    start = parse_as_of(AS_OF)
    later = start + timedelta(days=3000)
    never_stale = 3650  # the longest allowed: no threshold crossed, so any difference but an age is a leak
    now, then = _answers(start, never_stale), _answers(later, never_stale)
    assert [_without_ages(s, start) for s in now] == [_without_ages(s, later) for s in then]
    assert all(b - a == 3000 for s, t in zip(now, then, strict=True) for a, b in zip(_ages(s), _ages(t), strict=True))
    assert _ages(now), "no price age to compare"


@pytest.mark.parametrize("days_ahead", [0, 400, 4000])
def test_staleness_follows_its_threshold_at_any_as_of(days_ahead: int) -> None:
    at = parse_as_of(AS_OF) + timedelta(days=days_ahead)
    limit = DEFAULTS.pricing.max_age_days
    for status in _answers(at, limit):
        for p in [status.get("recommendation"), *status.get("alternatives", [])]:
            if not p:
                continue
            price = p["costBreakdown"].get("price") or p.get("managedApi")
            age = price["ageDays"]
            old = f"{age} days old (over {limit})"
            assert (old in p["confidence"]["basis"]) == (age > limit), (days_ahead, p["summary"], age)
            if age > limit:
                assert p["confidence"]["level"] != "high"
                assert any(f"{age} days old" in r and f"older than {limit} days" in r for r in p["rationale"])
            assert price["ageDays"] == (at.date() - datetime.fromisoformat(price["asOf"]).date()).days


def test_from_cluster_refuses_an_as_of_it_cannot_apply() -> None:
    args = build_parser().parse_args(["plan", "--from-cluster", "--as-of", "2026-12-01"])
    with pytest.raises(InputError, match="--from-cluster uses the operator's answers"):
        subjects(args, CAT, as_of(args, {}))

