"""A young Prometheus (one minute of data) under a one-hour window: `rate()` divides by the whole
window, so it reads a sixtieth of the traffic. Through the operator's real evaluation path, the
window's coverage is measured and the rates are not used: the status says "the window covers 1 of
60 minutes" and the recommendation is the one the declared traffic gives."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from inferplace.api import InferenceWorkloadSpec
from inferplace.catalog import load_catalog
from inferplace.controller.backends import MetricsBackends
from inferplace.controller.config import OperatorConfig
from inferplace.controller.reconcile import parse_spec
from inferplace.controller.runtime import FixedPrices, Runtime
from inferplace.placement import RegionDefault
from inferplace.pricing import default_book

from ..support.fakes import FakeWriter
from ..support.manifests import CURRENT, workload_doc
from ..support.prom import binaries, running

pytestmark = pytest.mark.prometheus

RATE = 60.0  # requests a second, the truth
STEP_S = 15


def _one_minute(end: int) -> str:
    lab = 'model_name="llama-8b",namespace="chat",pod="p0"'
    out = ["# TYPE vllm:request_success counter"]
    times = range(end - 60, end + 1, STEP_S)
    out += [f"vllm:request_success_total{{{lab}}} {RATE * (t - end + 60):.1f} {t}" for t in times]
    out += ["# TYPE vllm:generation_tokens counter"]
    out += [f"vllm:generation_tokens_total{{{lab}}} {RATE * 200 * (t - end + 60):.1f} {t}" for t in times]
    out += ["# TYPE vllm:num_requests_running gauge"]
    out += [f"vllm:num_requests_running{{{lab}}} 30 {t}" for t in times]
    return "\n".join([*out, "# EOF"]) + "\n"


def _spec() -> InferenceWorkloadSpec:
    doc = workload_doc(current=CURRENT, metrics={"server": "vllm", "selector": {"namespace": "chat"},
                                                 "window": "1h", "shapeWindow": "1h"})
    doc["spec"]["traffic"]["requestsPerSecond"] = int(RATE)
    spec = parse_spec(doc["spec"])
    assert isinstance(spec, InferenceWorkloadSpec)
    return spec


def test_a_young_prometheus_says_how_little_of_the_window_it_covers(tmp_path: Path) -> None:
    _, promtool = binaries()
    end = int(time.time()) - 5
    (tmp_path / "young.om").write_text(_one_minute(end))
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "young.om"),
                    str(tmp_path / "tsdb")], check=True, capture_output=True, timeout=120)
    with running(tmp_path, "global: {scrape_interval: 15s}\nscrape_configs: []\n", tmp_path / "tsdb") as url:
        config = OperatorConfig(all_namespaces=True, prometheus_url=url, workers=1)
        writer = FakeWriter()
        rt = Runtime(config, load_catalog(), writer, MetricsBackends(config), FixedPrices(default_book()),
                     RegionDefault("us-east-1", "test"))
        status = rt.evaluate_and_write("chat", "young", "u", 1, _spec(), None)
    metrics = next(c for c in status["conditions"] if c["type"] == "MetricsAvailable")
    assert (metrics["status"], metrics["reason"]) == ("False", "WindowNotCovered"), metrics
    assert "the window covers 1 of 60 minutes" in metrics["message"], metrics["message"]
    assert "requestsPerSecond" not in status["observed"]
    assert float(status["observed"]["windowCoverage"]) < 0.05
    # The same recommendation as with no Prometheus at all: the declared 60 req/s sizes the fleet.
    declared = Runtime(OperatorConfig(all_namespaces=True, workers=1), load_catalog(), FakeWriter(),
                       MetricsBackends(OperatorConfig(all_namespaces=True)), FixedPrices(default_book()),
                       RegionDefault("us-east-1", "test"))
    spec = _spec().model_copy(update={"metrics": None})
    alone = declared.evaluate_and_write("chat", "young", "u", 1, spec, None)
    assert status["recommendation"]["summary"] == alone["recommendation"]["summary"]
    assert status["recommendation"]["kind"] == "self-hosted"
    print(f"young Prometheus: {metrics['reason']}: {metrics['message']}")
