"""The traffic's shape read from a real Prometheus: a backfilled week (and a day) of request counters
whose hourly rates are known, folded onto the hours of a week or a day, and carried into the status."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from inferplace.api.spec import InferenceWorkloadSpec
from inferplace.catalog import load_catalog
from inferplace.controller.reconcile import parse_spec, reconcile
from inferplace.metrics import ObserveRequest
from inferplace.metrics.prometheus import PrometheusBackend
from inferplace.placement.workload import RegionDefault
from inferplace.pricing import default_book

from ..support.manifests import SELF_HOSTED, workload_doc
from ..support.prom import binaries, running

pytestmark = pytest.mark.prometheus
STEP_S = 60
DAYS = 8


def weekly_rate(hour_start: float) -> float:
    """Requests/s of one pod in the hour starting at `hour_start`: office hours on weekdays, a trickle
    on weekday nights, nothing at weekends."""
    d = datetime.fromtimestamp(hour_start, UTC)
    if d.weekday() >= 5:
        return 0.0
    return 3.0 if 8 <= d.hour < 18 else 0.5


def daily_rate(hour_start: float) -> float:
    return 1.0 + datetime.fromtimestamp(hour_start, UTC).hour / 23  # 1 at midnight up to 2 at 23:00


@dataclass(frozen=True)
class Shaped:
    url: str
    end: float


def _counter(out: list[str], labels: str, start: int, end: int, rate: object) -> None:
    value = 0.0
    for t in range(start, end + 1, STEP_S):
        out.append(f"vllm:request_success_total{{{labels}}} {value:.3f} {t}")
        value += rate(t - t % 3600) * STEP_S  # type: ignore[operator]


@pytest.fixture(scope="module")
def shaped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shaped]:
    _binary, promtool = binaries()
    root = tmp_path_factory.mktemp("shape")
    end = (int(time.time()) // 3600) * 3600 - 3600
    out = ["# TYPE vllm:request_success counter"]
    for pod in ("a", "b"):  # two pods: the shape is of their sum
        _counter(out, f'namespace="office",pod="{pod}"', end - DAYS * 86400, end, weekly_rate)
    # Two days only: not enough for a week, enough for a day.
    _counter(out, 'namespace="young",pod="c"', end - 2 * 86400, end, daily_rate)
    out.append("# EOF")
    (root / "data.om").write_text("\n".join(out) + "\n")
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(root / "data.om"),
                    str(root / "tsdb")], check=True, capture_output=True, timeout=120)
    with running(root, "global: {scrape_interval: 15s}\nscrape_configs: []\n", root / "tsdb") as url:
        yield Shaped(url, float(end))


def _expected_week() -> list[float]:
    monday = datetime(2026, 11, 30, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
    return [2 * weekly_rate(monday + h * 3600) for h in range(168)]


def test_a_backfilled_week_is_folded_onto_the_hours_of_a_week(shaped: Shaped) -> None:
    obs = PrometheusBackend(shaped.url, timeout_s=5).observe(
        ObserveRequest("vllm", {"namespace": "office"}, "1h", at=shaped.end, shape_window="7d"))
    hourly = obs.hourly_requests_per_second
    assert hourly is not None and len(hourly) == 168, obs.problems
    assert list(hourly) == pytest.approx(_expected_week(), abs=1e-6)
    assert hourly[0] == pytest.approx(1.0) and hourly[9] == pytest.approx(6.0)  # Monday 00:00 and 09:00
    assert all(v == 0 for v in hourly[5 * 24:])  # the weekend
    assert obs.hourly_source.startswith("Prometheus: hourly requests per second, 168 hours up to ")
    assert "hourly_requests_per_second" not in obs.problems


def test_too_short_a_history_falls_back_to_a_day_and_says_so(shaped: Shaped) -> None:
    obs = PrometheusBackend(shaped.url, timeout_s=5).observe(
        ObserveRequest("vllm", {"namespace": "young"}, "1h", at=shaped.end, shape_window="7d"))
    hourly = obs.hourly_requests_per_second
    assert hourly is not None and len(hourly) == 24
    assert list(hourly) == pytest.approx([1.0 + h / 23 for h in range(24)], abs=1e-6)
    assert "have no sample" in obs.problems["hourly_requests_per_second"]
    assert "folded onto a day instead" in obs.problems["hourly_requests_per_second"]


def test_a_window_under_a_day_reads_no_shape(shaped: Shaped) -> None:
    obs = PrometheusBackend(shaped.url, timeout_s=5).observe(
        ObserveRequest("vllm", {"namespace": "office"}, "1h", at=shaped.end, shape_window="6h"))
    assert obs.hourly_requests_per_second is None
    assert "under a day" in obs.problems["hourly_requests_per_second"]


def test_the_observed_shape_sizes_the_fleet_and_the_status_says_where_it_came_from(shaped: Shaped) -> None:
    doc = workload_doc(constraints={**SELF_HOSTED, "instanceFamilies": ["g6e"]}, scaling={"scaleToZero": True},
                       # A week's mean rate: the last hour's is zero whenever the test runs at a weekend
                       # (the office is closed), and then the declared traffic is used instead.
                       metrics={"server": "vllm", "selector": {"namespace": "office"}, "window": "7d"})
    spec = InferenceWorkloadSpec.model_validate(doc["spec"])
    assert spec.metrics is not None and spec.metrics.shape_window == "7d"  # the default
    obs = PrometheusBackend(shaped.url, timeout_s=5).observe(
        ObserveRequest("vllm", {"namespace": "office"}, "7d", at=shaped.end, shape_window=spec.metrics.shape_window))
    now = datetime.fromtimestamp(shaped.end, UTC)
    r = reconcile("w", parse_spec(doc["spec"]), 1, None, obs, None, load_catalog(), default_book(),
                  RegionDefault("us-east-1", "test"), now)
    traffic = r.status["traffic"]
    assert traffic["source"].startswith("Prometheus: hourly requests per second")
    assert traffic["hours"] == 168 and traffic["idleHours"] == 48
    mean = sum(_expected_week()) / 168
    assert float(traffic["peakToMean"]) == pytest.approx(6.0 / mean, rel=1e-3)
    rec = r.status["recommendation"]
    assert rec["scaling"]["strategy"] == "scale-to-zero"  # the weekends are idle and the spec allows it
    assert any("the traffic's shape is Prometheus" in a for a in r.status["assumptions"])
