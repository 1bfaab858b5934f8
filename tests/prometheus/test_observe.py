"""Observed figures from a real Prometheus against the injected truth, and every fault path."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from inferplace.metrics import MetricsUnavailable, ObserveRequest, SelectorError, selector
from inferplace.metrics.profiles import PROFILES
from inferplace.metrics.prometheus import PrometheusBackend

from ..support.ports import free_port
from .conftest import (
    GEN_RATE,
    ITL_BUCKETS,
    OUTPUT_MEAN,
    PROMPT_MEAN,
    PROMPT_RATE,
    REQ_RATE,
    TTFT_BUCKETS,
    Prom,
    hist_quantile,
)

pytestmark = pytest.mark.prometheus
CHAT = {"namespace": "chat"}


def test_observed_figures_match_the_injected_truth(prometheus: Prom) -> None:
    src = PrometheusBackend(prometheus.url, timeout_s=5)
    obs = src.observe(ObserveRequest("vllm", CHAT, "30m", at=prometheus.end, platform="gpu"))
    v = obs.figures()
    assert v["requests_per_second"] == pytest.approx(2 * REQ_RATE, rel=0.01)
    assert v["output_tokens_per_second"] == pytest.approx(2 * GEN_RATE, rel=0.01)  # underscore-escaped name
    assert v["prompt_tokens_per_second"] == pytest.approx(2 * PROMPT_RATE, rel=0.01)
    assert v["prompt_tokens_mean"] == pytest.approx(PROMPT_MEAN, rel=0.01)
    assert v["output_tokens_mean"] == pytest.approx(OUTPUT_MEAN, rel=0.01)
    assert v["ttft_p50_s"] == pytest.approx(hist_quantile(TTFT_BUCKETS, 0.5), rel=0.01)
    assert v["ttft_p95_s"] == pytest.approx(hist_quantile(TTFT_BUCKETS, 0.95), rel=0.01)
    # Only the pre-0.11 TPOT name exists in this data: the fallback answers.
    assert v["tpot_p95_s"] == pytest.approx(hist_quantile(ITL_BUCKETS, 0.95), rel=0.01)
    assert v["running_batch"] == pytest.approx(25.0)
    assert v["kv_cache_usage"] == pytest.approx(0.5)  # old gpu_cache_usage_perc name
    assert v["accelerator_utilization"] == pytest.approx(0.70)
    assert obs.problems == {}


def test_selector_with_no_match_is_no_series(prometheus: Prom) -> None:
    src = PrometheusBackend(prometheus.url, timeout_s=5)
    with pytest.raises(MetricsUnavailable) as err:
        src.observe(ObserveRequest("vllm", {"namespace": "nope"}, "30m", at=prometheus.end))
    assert err.value.reason == "NoSeries"


def test_label_values_cannot_inject_promql(prometheus: Prom) -> None:
    src = PrometheusBackend(prometheus.url, timeout_s=5)
    evil = 'chat"} or vector(1) or {__name__="x'
    with pytest.raises(MetricsUnavailable) as err:
        src.observe(ObserveRequest("vllm", {"namespace": evil}, "30m", at=prometheus.end))
    assert err.value.reason == "NoSeries"
    assert selector({"namespace": evil}) == '{namespace="chat\\"} or vector(1) or {__name__=\\"x"}'
    with pytest.raises(SelectorError):
        selector({'namespace="x"} or vector(1) #': "y"})


class FakeUrl(str):
    """The fake's URL, with the number of queries it received so far."""

    queries: list[str]


@contextmanager
def fake_prometheus(body: bytes, status: int = 200, delay_s: float = 0.0) -> Iterator[FakeUrl]:
    queries: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            queries.append(self.path)
            time.sleep(delay_s)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            with suppress(OSError):
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = FakeUrl(f"http://127.0.0.1:{server.server_address[1]}")
    url.queries = queries
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_is_a_reason_not_a_crash() -> None:
    src = PrometheusBackend(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(MetricsUnavailable) as err:
        src.observe(ObserveRequest("vllm", CHAT, "30m"))
    assert err.value.reason == "PrometheusUnreachable"


def test_slow_server_times_out_once() -> None:
    with fake_prometheus(b"{}", delay_s=3) as url:
        with pytest.raises(MetricsUnavailable) as err:
            PrometheusBackend(url, timeout_s=0.5).observe(ObserveRequest("vllm", CHAT, "30m"))
        asked = len(url.queries)
    assert err.value.reason == "DeadlineExceeded" and "each query 0.5 s" in err.value.message
    assert asked == 1  # one timeout, not one per figure: the first transport fault ends the observation


@pytest.mark.parametrize(("body", "status", "reason", "says"), [
    (b'{"status":"error","error":"boom"}', 503, "PrometheusError", "HTTP 503"),
    (b"<html>not json</html>", 200, "BadAnswer", "not JSON"),
    (json.dumps({"status": "success", "data": {"result": "nope"}}).encode(), 200, "BadAnswer", "not a list"),
    (json.dumps({"status": "success", "data": {"result": [{"value": [1, "x", 3]}]}}).encode(), 200, "BadAnswer",
     "not a [time, value] pair"),
])
def test_bad_answers_are_prometheus_errors(body: bytes, status: int, reason: str, says: str) -> None:
    with fake_prometheus(body, status) as url, pytest.raises(MetricsUnavailable) as err:
        PrometheusBackend(url, timeout_s=2).observe(ObserveRequest("vllm", CHAT, "30m"))
    assert err.value.reason == reason and says in err.value.message, err.value.message
    assert "boom" not in err.value.message and "html" not in err.value.message  # nothing of the body
    # A bad answer is one figure's problem: every figure of the profile was still asked for, once.
    assert len(url.queries) == len(PROFILES["vllm"])


def test_nan_is_no_value() -> None:
    body = json.dumps({"status": "success", "data": {"resultType": "vector",
                                                     "result": [{"metric": {}, "value": [1, "NaN"]}]}}).encode()
    with fake_prometheus(body) as url, pytest.raises(MetricsUnavailable) as err:
        PrometheusBackend(url, timeout_s=2).observe(ObserveRequest("vllm", CHAT, "30m"))
    assert err.value.reason == "NoSeries"


def test_shared_answers_serve_every_selector_from_one_query_per_figure(prometheus: Prom) -> None:
    # The operator's mode: one grouped query per figure for all workloads whose selectors use the same
    # label names; each still gets its own figures. The backfilled data ends two minutes ago, so "now"
    # (what sharing asks for) still sees it within the 30 m window.
    src = PrometheusBackend(prometheus.url, timeout_s=5, share_s=300)
    chat = src.observe(ObserveRequest("vllm", CHAT, "30m", platform="gpu"))
    sent = src.queries_sent
    assert sent == len(PROFILES["vllm"]) + 2  # every vLLM figure, the GPU utilization and the coverage, once
    assert chat.coverage == pytest.approx(1.0)
    other = src.observe(ObserveRequest("vllm", {"namespace": "other"}, "30m", platform="gpu"))
    assert src.queries_sent == sent  # answered from the same queries
    # "Now" is past the last sample, so rate() extrapolates less than the window: compare with the
    # per-workload query at the same moment, and the two namespaces with each other (2 pods vs 1).
    alone = PrometheusBackend(prometheus.url, timeout_s=5).observe(
        ObserveRequest("vllm", CHAT, "30m", at=chat.time, platform="gpu"))
    assert chat.requests_per_second == pytest.approx(alone.requests_per_second, rel=0.01)
    assert chat.ttft_p95_s == pytest.approx(alone.ttft_p95_s, rel=1e-6)
    assert chat.requests_per_second == pytest.approx(2 * (other.requests_per_second or 0), rel=1e-3)
    assert chat.running_batch == pytest.approx(25.0) and other.running_batch == pytest.approx(99.0)
    assert chat.accelerator_utilization == pytest.approx(0.70) and other.accelerator_utilization == pytest.approx(0.05)
    with pytest.raises(MetricsUnavailable) as err:
        src.observe(ObserveRequest("vllm", {"namespace": "nope"}, "30m"))
    assert err.value.reason == "NoSeries" and src.queries_sent == sent  # no matching group: no new query
    src.observe(ObserveRequest("vllm", {"namespace": "chat", "pod": "p0"}, "30m"))
    assert src.queries_sent == sent + len(PROFILES["vllm"]) + 1  # other label names: another grouping (+ coverage)


def test_neuron_utilization_is_the_workloads_own_nodes_not_the_clusters(prometheus: Prom) -> None:
    # neuron-monitor has no pod labels: the workload's pods -> their nodes -> EC2 instance ids -> the cores.
    # The node running none of them reports 1e308 and must not reach either workload.
    src = PrometheusBackend(prometheus.url, timeout_s=5)
    chat = src.observe(ObserveRequest("vllm", CHAT, "30m", at=prometheus.end, platform="neuron"))
    other = src.observe(ObserveRequest("vllm", {"namespace": "other"}, "30m", at=prometheus.end, platform="neuron"))
    assert chat.accelerator_utilization == pytest.approx(0.7)
    assert other.accelerator_utilization == pytest.approx(0.1)
    shared = PrometheusBackend(prometheus.url, timeout_s=5, share_s=300)
    assert shared.observe(ObserveRequest("vllm", CHAT, "30m", platform="neuron")).accelerator_utilization == \
        pytest.approx(0.7)
