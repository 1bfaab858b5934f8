"""Figures read through a real Prometheus that scrapes a live vLLM-like exporter, against the truth
the exporter was given; a second namespace with other traffic must not leak into the selector."""

from __future__ import annotations

import pytest

from inferplace.metrics import ObserveRequest
from inferplace.metrics.prometheus import PrometheusBackend

from ..support.live import WINDOW, Live


def _observe(url: str, selector: dict[str, str]) -> dict[str, float | None]:
    return PrometheusBackend(url, timeout_s=5).observe(ObserveRequest("vllm", selector, WINDOW)).figures()

pytestmark = pytest.mark.prometheus


def test_observed_figures_match_the_injected_truth(live_prometheus: Live) -> None:
    obs = _observe(live_prometheus.url, {"namespace": "chat", "model_name": "llama-8b"})
    expected = live_prometheus.truth.expected()
    for name, want in expected.items():
        got = obs[name]
        assert got is not None, name
        # Counters grow linearly, so rate() is exact up to scrape timing.
        assert got == pytest.approx(want, rel=0.03), name


def test_percentiles_fall_in_the_right_buckets(live_prometheus: Live) -> None:
    obs = _observe(live_prometheus.url, {"namespace": "chat"})
    # 80% of TTFTs are 0.08 s, 20% are 0.4 s: p50 lies in (0.06, 0.08], p95 in (0.25, 0.5].
    ttft50, ttft95 = obs["ttft_p50_s"], obs["ttft_p95_s"]
    assert ttft50 is not None and 0.06 < ttft50 <= 0.08
    assert ttft95 is not None and 0.25 < ttft95 <= 0.5
    tpot95 = obs["tpot_p95_s"]
    assert tpot95 is not None and 0.025 < tpot95 <= 0.05


def test_other_namespace_is_read_on_its_own(live_prometheus: Live) -> None:
    obs = _observe(live_prometheus.url, {"namespace": "other"})
    assert obs["requests_per_second"] == pytest.approx(live_prometheus.other.expected()["requests_per_second"],
                                                           rel=0.03)
    assert obs["running_batch"] == pytest.approx(99.0)
