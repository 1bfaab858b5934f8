"""A real Prometheus (Debian's `prometheus` package) on 127.0.0.1, fed by `promtool tsdb
create-blocks-from openmetrics` with vLLM-like series whose true figures are known."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ..support.prom import binaries, running

STEP_S = 15
HOURS = 1
# Truth per pod (two pods in namespace "chat"; a third pod elsewhere must not be counted).
REQ_RATE = 2.0
GEN_RATE = 500.0
PROMPT_RATE = 2000.0
PROMPT_MEAN = 1000.0
OUTPUT_MEAN = 250.0
TTFT_BUCKETS = [(0.1, 0.2), (0.25, 0.7), (0.5, 0.96), (1.0, 1.0)]  # (le, cumulative fraction)
ITL_BUCKETS = [(0.01, 0.1), (0.025, 0.6), (0.05, 0.97), (0.1, 1.0)]
RUNNING = {"p0": 20.0, "p1": 30.0}
KV_OLD_NAME = {"p0": 0.4, "p1": 0.6}
POD_NODE = {"p0": "n1", "p1": "n1", "q0": "n2"}
NODE_INSTANCE = {"n1": "i-0aaa", "n2": "i-0bbb", "n3": "i-0ccc"}
NEURON_CORES = {"i-0aaa": [0.6, 0.8], "i-0bbb": [0.1], "i-0ccc": [1e308]}  # chat's node: 0.7 on average


def hist_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """What Prometheus' histogram_quantile returns for these cumulative fractions (linear interpolation)."""
    lo_le, lo_f = 0.0, 0.0
    for le, f in buckets:
        if f >= q:
            return lo_le + (q - lo_f) / (f - lo_f) * (le - lo_le)
        lo_le, lo_f = le, f
    raise AssertionError


@dataclass(frozen=True)
class Prom:
    url: str
    end: float  # last sample time (unix s)


def _openmetrics(end: int) -> str:
    start = end - HOURS * 3600
    times = list(range(start, end + 1, STEP_S))
    out: list[str] = []

    def counter(name: str, labels: str, rate: float) -> None:
        out.append(f"# TYPE {name} counter")
        for t in times:
            out.append(f"{name}_total{{{labels}}} {rate * (t - start):.3f} {t}")

    def gauge(name: str, labels: str, value: float) -> None:
        out.append(f"# TYPE {name} gauge")
        for t in times:
            out.append(f"{name}{{{labels}}} {value} {t}")

    def histogram(name: str, labels: str, obs_rate: float, mean: float, buckets: list[tuple[float, float]]) -> None:
        out.append(f"# TYPE {name} histogram")
        for t in times:
            n = obs_rate * (t - start)
            for le, f in buckets:
                out.append(f'{name}_bucket{{{labels},le="{le}"}} {n * f:.3f} {t}')
            out.append(f'{name}_bucket{{{labels},le="+Inf"}} {n:.3f} {t}')
            out.append(f"{name}_count{{{labels}}} {n:.3f} {t}")
            out.append(f"{name}_sum{{{labels}}} {n * mean:.3f} {t}")

    pods = [("p0", "chat"), ("p1", "chat"), ("q0", "other")]
    for pod, ns in pods:
        lab = f'model_name="llama-8b",engine="0",namespace="{ns}",pod="{pod}"'
        counter("vllm:request_success", lab, REQ_RATE)
        # Stored with underscores, as when a client answers with underscore escaping.
        counter("vllm_generation_tokens", lab, GEN_RATE)
        counter("vllm:prompt_tokens", lab, PROMPT_RATE)
        histogram("vllm:request_prompt_tokens", lab, REQ_RATE, PROMPT_MEAN, [(1024.0, 0.6), (2048.0, 1.0)])
        histogram("vllm:request_generation_tokens", lab, REQ_RATE, OUTPUT_MEAN, [(256.0, 0.5), (512.0, 1.0)])
        histogram("vllm:time_to_first_token_seconds", lab, REQ_RATE, 0.2, TTFT_BUCKETS)
        # The pre-0.11 name only: the profile must fall back to it.
        histogram("vllm:time_per_output_token_seconds", lab, GEN_RATE, 0.03, ITL_BUCKETS)
        gauge("vllm:num_requests_running", lab, RUNNING.get(pod, 99.0))
        gauge("vllm:gpu_cache_usage_perc", lab, KV_OLD_NAME.get(pod, 0.99))
        gauge("DCGM_FI_DEV_GPU_UTIL", f'gpu="0",namespace="{ns}",pod="{pod}"', 70.0 if ns == "chat" else 5.0)
    # Neuron: kube-state-metrics maps pods to nodes and nodes to EC2 instances; neuron-monitor reports per
    # instance and core, without pod labels. A third node runs none of these pods and reports nonsense.
    families: dict[str, list[tuple[str, float]]] = {"kube_pod_info": [], "kube_node_info": [],
                                                    "neuroncore_utilization_ratio": []}
    for pod, ns in pods:
        families["kube_pod_info"].append((f'namespace="{ns}",pod="{pod}",node="{POD_NODE[pod]}"', 1.0))
    for node, instance in NODE_INSTANCE.items():
        families["kube_node_info"].append((f'node="{node}",provider_id="aws:///us-east-2a/{instance}"', 1.0))
        for core, value in enumerate(NEURON_CORES[instance]):
            families["neuroncore_utilization_ratio"].append((f'instance_id="{instance}",neuroncore="{core}"', value))
    for name, series in families.items():
        out.append(f"# TYPE {name} gauge")
        for t in times:
            out += [f"{name}{{{labels}}} {value} {t}" for labels, value in series]
    out.append("# EOF")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prom]:
    _binary, promtool = binaries()
    root = tmp_path_factory.mktemp("prom")
    end = (int(time.time()) // STEP_S) * STEP_S - 120
    (root / "data.om").write_text(_openmetrics(end))
    data = root / "tsdb"
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(root / "data.om"), str(data)],
                   check=True, capture_output=True, timeout=120)
    with running(root, "global: {scrape_interval: 15s}\nscrape_configs: []\n", data) as url:
        yield Prom(url, float(end))
