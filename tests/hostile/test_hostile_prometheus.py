"""A tenant's or a broken Prometheus cannot stall, exhaust or aim the operator: each class of bad
answer, served by a hostile server on 127.0.0.1, goes through the operator's real evaluation path
(`Runtime.evaluate_and_write` with the real metrics backends and Prometheus client), and the time it
took, the memory it used and the status it wrote are asserted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from inferplace.api import InferenceWorkloadSpec
from inferplace.catalog import load_catalog
from inferplace.controller.backends import MetricsBackends
from inferplace.controller.config import OperatorConfig
from inferplace.controller.reconcile import parse_spec
from inferplace.controller.runtime import FixedPrices, Runtime
from inferplace.metrics import MetricsUnavailable, ObserveRequest
from inferplace.metrics.deadline import Deadline
from inferplace.metrics.prometheus import PrometheusBackend
from inferplace.metrics.transport import BoundedSession, TransportFault
from inferplace.metrics.urls import AllowList
from inferplace.placement import RegionDefault
from inferplace.pricing import default_book

from ..support.fakes import FakeWriter
from ..support.hostile import Hostile, serving
from ..support.manifests import CURRENT, workload_doc
from ..support.plan import NOW

pytestmark = pytest.mark.hostile

ROOT = Path(__file__).resolve().parents[2]
CAT = load_catalog()
QUERY_S, BUDGET_S = 1.0, 2.0  # one request; all of one evaluation's reads


def _runtime(allowed: list[str], **cfg: Any) -> tuple[Runtime, FakeWriter]:
    config = OperatorConfig(all_namespaces=True, prometheus_timeout_s=QUERY_S, evaluation_timeout_s=BUDGET_S,
                            allowed_prometheus_urls=AllowList.of(allowed), jitter=0.0, workers=1, **cfg)
    writer = FakeWriter()
    rt = Runtime(config, CAT, writer, MetricsBackends(config, clock=lambda: NOW), FixedPrices(default_book()),
                 RegionDefault("us-east-1", "the test's default"), clock=lambda: NOW)
    return rt, writer


def _spec(url: str, **metrics: Any) -> InferenceWorkloadSpec:
    doc = workload_doc(current=CURRENT, metrics={"server": "vllm", "selector": {"namespace": "chat"},
                                                 "prometheusUrl": url, "window": "1h", "shapeWindow": "1h",
                                                 **metrics})
    spec = parse_spec(doc["spec"])
    assert isinstance(spec, InferenceWorkloadSpec), spec
    return spec


def _evaluate(rt: Runtime, spec: InferenceWorkloadSpec, name: str = "w") -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    status = rt.evaluate_and_write("chat", name, "uid", 1, spec, None)
    return status, time.monotonic() - started


def _metrics(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "MetricsAvailable")


def _ready(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Ready")


@pytest.mark.parametrize("mode", ["drip", "hang"])
def test_a_dripping_or_hanging_server_is_a_fault_within_the_budget(mode: str) -> None:
    with serving(Hostile(mode, every_s=0.3)) as h:
        rt, _ = _runtime([h.url])
        status, took = _evaluate(rt, _spec(h.url))
        asked = len(h.requests)
    m = _metrics(status)
    assert (m["status"], m["reason"]) == ("False", "DeadlineExceeded"), m
    assert took < BUDGET_S + 1.5, f"{mode}: {took:.1f} s"  # the whole budget, not a timeout per figure
    assert asked <= 2  # the first query that ran out of time ended the observation
    assert _ready(status)["status"] == "True"  # the declared traffic still gives an answer
    print(f"{mode}: MetricsAvailable=False after {took:.2f} s ({asked} request(s); budget {BUDGET_S} s)")


def test_the_fault_is_kept_so_other_workloads_do_not_resend_it() -> None:
    with serving(Hostile("hang")) as h:
        rt, _ = _runtime([h.url], interval_s=300.0)
        _evaluate(rt, _spec(h.url), "a")
        asked = len(h.requests)
        status, took = _evaluate(rt, _spec(h.url), "b")
        assert len(h.requests) == asked and took < 0.5
    assert _metrics(status)["reason"] == "DeadlineExceeded"


def test_a_fault_is_kept_30_seconds_not_a_whole_interval() -> None:
    """A server that failed is asked again half a minute later, however long answers are shared: a Prometheus
    back up is read at the next evaluation, not an interval later."""
    clock = [1000.0]
    with serving(Hostile("ok", status=503)) as h:
        backend = PrometheusBackend(h.url, timeout_s=2, share_s=1800, monotonic=lambda: clock[0])
        request = ObserveRequest("vllm", {"namespace": "chat"}, "1h")
        with pytest.raises(MetricsUnavailable):
            backend.observe(request)
        asked = len(h.requests)
        clock[0] += 29
        with pytest.raises(MetricsUnavailable):
            backend.observe(request)
        assert len(h.requests) == asked  # kept
        h.status = 200
        clock[0] += 2
        obs = backend.observe(request)
        assert len(h.requests) > asked and obs.requests_per_second is not None
        asked = len(h.requests)
        clock[0] += 600
        backend.observe(request)
        assert len(h.requests) == asked  # an answer is kept for the interval


_RSS_SCRIPT = textwrap.dedent("""
    import json, resource, sys, time
    from inferplace.catalog import load_catalog
    from inferplace.controller.backends import MetricsBackends
    from inferplace.controller.config import OperatorConfig
    from inferplace.controller.reconcile import parse_spec
    from inferplace.controller.runtime import FixedPrices, Runtime
    from inferplace.metrics.urls import AllowList
    from inferplace.placement import RegionDefault
    from inferplace.pricing import default_book
    sys.path.insert(0, {root!r})
    from tests.support.fakes import FakeWriter
    from tests.support.manifests import CURRENT, workload_doc
    url = sys.argv[1]
    cfg = OperatorConfig(all_namespaces=True, prometheus_timeout_s=20, evaluation_timeout_s=30,
                         allowed_prometheus_urls=AllowList.of([url]), workers=1)
    rt = Runtime(cfg, load_catalog(), FakeWriter(), MetricsBackends(cfg), FixedPrices(default_book()),
                 RegionDefault("us-east-1", "test"))
    def spec(path):
        return parse_spec(workload_doc(current=CURRENT, metrics={{"server": "vllm", "selector": {{"namespace": "chat"}},
                                                                 "prometheusUrl": url + path}})["spec"])
    rt.evaluate_and_write("chat", "w", "u", 1, spec("/warm"), None)  # imports, catalog, engine, one answer cut
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.monotonic()
    # Another path: another backend, so nothing kept from the first answers.
    status = rt.evaluate_and_write("chat", "w2", "u2", 1, spec("/measured"), None)
    took = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    m = next(c for c in status["conditions"] if c["type"] == "MetricsAvailable")
    print(json.dumps({{"before_mb": before, "peak_mb": peak, "took_s": took, "reason": m["reason"],
                      "status": json.dumps(status)}}))
""")


@pytest.mark.parametrize("status_code", [200, 500])
def test_a_300_mib_answer_costs_a_few_mib_of_memory(tmp_path: Path, status_code: int) -> None:
    script = tmp_path / "rss.py"
    script.write_text(_RSS_SCRIPT.format(root=str(ROOT)))
    with serving(Hostile("huge", status=status_code, size=300 * 1024 * 1024)) as h:
        r = subprocess.run([sys.executable, str(script), h.url], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    grew = got["peak_mb"] - got["before_mb"]
    print(f"300 MiB answer, HTTP {status_code}: peak RSS {got['peak_mb']:.0f} MB ({grew:+.0f} MB over the warm "
          f"process), {got['took_s']:.2f} s, reason {got['reason']}")
    assert got["reason"] == "AnswerTooLarge"
    assert grew < 40, got  # the 4 MiB cap, parsing nothing it cut off; was 964 MB (200) and 8.76 GB (500)
    assert "pad" not in got["status"] and "xxxx" not in got["status"]


@pytest.mark.parametrize(("hostile", "reason", "says"), [
    (Hostile("deep", size=200_000), "BadAnswer", "nested too deeply"),
    (Hostile("wrong"), "BadAnswer", "not a list of series"),
    (Hostile("values", status=500, value="SECRET-BODY-TEXT"), "PrometheusError", "HTTP 500"),
    (Hostile("values", status=503, value="\x1b]0;pwned\x07"), "PrometheusError", "HTTP 503"),
    (Hostile("values", value="NaN"), "NoSeries", "no vllm series"),
])
def test_a_malformed_answer_is_a_short_reason_that_quotes_nothing(hostile: Hostile, reason: str, says: str) -> None:
    with serving(hostile) as h:
        rt, writer = _runtime([h.url])
        status, _ = _evaluate(rt, _spec(h.url))
    m = _metrics(status)
    assert (m["status"], m["reason"]) == ("False", reason), m
    assert says in m["message"], m["message"]
    written = json.dumps(writer.statuses)
    assert "SECRET" not in written and "pwned" not in written and "\\u001b" not in written


@pytest.mark.parametrize(("value", "why"), [
    ("1e308", "dropped: 1e+308 is outside 0..1e+06 a second"),
    ("1e12", "dropped: 1e+12 is outside 0..1e+06 a second"),
    ("-5", "dropped: -5 is outside 0..1e+06 a second"),
])
def test_an_absurd_figure_is_dropped_named_and_never_sizes_the_fleet(value: str, why: str) -> None:
    with serving(Hostile("values", value=value)) as h:
        rt, _ = _runtime([h.url])
        status, _ = _evaluate(rt, _spec(h.url))
    observed = status["observed"]
    assert "requestsPerSecond" not in observed
    assert any(line.startswith(f"requests_per_second: {why}") for line in observed["missing"]), observed["missing"]
    assert _ready(status)["status"] == "True"
    rec = status["recommendation"]
    # Sized for the declared 10 req/s: nothing near the thousands of instances an absurd rate would ask for.
    assert rec["kind"] == "managed-api" or rec["instances"] < 50


def test_a_redirect_to_another_host_is_refused_and_that_host_never_asked() -> None:
    with serving(Hostile("ok")) as elsewhere, serving(Hostile("redirect", location=elsewhere.url)) as h:
        rt, _ = _runtime([h.url])
        status, _ = _evaluate(rt, _spec(h.url))
        assert elsewhere.requests == []
    assert _metrics(status)["reason"] == "RedirectRefused"


def test_a_url_outside_the_allow_list_is_refused_before_any_request() -> None:
    with serving(Hostile("ok")) as h:
        rt, _ = _runtime(["http://prometheus.monitoring:9090"])
        status, took = _evaluate(rt, _spec(h.url))
        assert h.requests == []
    m = _metrics(status)
    assert (m["status"], m["reason"]) == ("False", "PrometheusUrlNotAllowed") and took < 1.0
    assert "prometheus.allowedUrls" in m["message"]


def test_with_no_allow_list_every_tenant_url_is_refused() -> None:
    with serving(Hostile("ok")) as h:
        rt, _ = _runtime([])
        status, _ = _evaluate(rt, _spec(h.url))
        assert h.requests == []
    assert _metrics(status)["reason"] == "PrometheusUrlNotAllowed"


@pytest.mark.parametrize("url", ["http://user:pass@127.0.0.1:9090", "http://127.0.0.1:9090/?target=x",
                                 "http://127.0.0.1:9090/#frag", "http://127.0.0.1:9090/a?b"])
def test_the_crd_refuses_credentials_queries_and_fragments_in_a_tenant_url(url: str) -> None:
    doc = workload_doc(metrics={"server": "vllm", "prometheusUrl": url})
    parsed = parse_spec(doc["spec"])
    assert not isinstance(parsed, InferenceWorkloadSpec)
    assert any("spec.metrics.prometheusUrl" in p for p in parsed.problems)


def test_per_url_backends_are_dropped_with_the_last_workload_that_named_them() -> None:
    rt, _ = _runtime(["http://127.0.0.1:1"])
    for i in range(50):
        rt.seen("ADDED", {"metadata": {"namespace": "t", "name": f"w{i}", "uid": f"u{i}", "generation": 1},
                          "spec": workload_doc(metrics={"prometheusUrl": f"http://127.0.0.1:1/p{i}"})["spec"]})
        rt.backends(f"http://127.0.0.1:1/p{i}")
    backends = rt.backends
    assert isinstance(backends, MetricsBackends) and len(backends.others) == 50
    for i in range(50):
        rt.seen("DELETED", {"metadata": {"namespace": "t", "name": f"w{i}"}})
    assert rt.retain_backends() == 50 and backends.others == {}


def test_each_request_ends_at_its_deadline_not_at_a_fresh_timeout_per_byte() -> None:
    with serving(Hostile("drip", every_s=0.3)) as h:
        session = BoundedSession(lambda: Deadline(1.0))
        started = time.monotonic()
        with pytest.raises(TransportFault) as err:
            session.request("GET", f"{h.url}/api/v1/query", params={"query": "up"})
        took = time.monotonic() - started
    assert err.value.reason == "DeadlineExceeded"
    assert 0.9 < took < 1.3, took  # the socket wait is cut to what is left, not one more drip interval


def test_a_same_host_redirect_is_followed_and_another_host_refused() -> None:
    with serving(Hostile("redirect")) as h:
        resp = BoundedSession(lambda: Deadline(5.0)).request("GET", f"{h.url}/api/v1/query", params={"query": "up"})
        assert resp.status_code == 200 and json.loads(resp.content)["status"] == "success"
        assert [p.split("?")[0] for p in h.requests] == ["/api/v1/query", "/moved/api/v1/query"]
    with serving(Hostile("ok")) as elsewhere, serving(Hostile("redirect", location=elsewhere.url)) as h:
        with pytest.raises(TransportFault, match="redirect to another host"):
            BoundedSession(lambda: Deadline(5.0)).request("GET", f"{h.url}/api/v1/query", params={"query": "up"})
        assert elsewhere.requests == []
