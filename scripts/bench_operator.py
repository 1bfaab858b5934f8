"""Scale benchmark of the operator on a real control plane, with a real Prometheus holding live
traffic for every workload. Prints its figures; it asserts nothing about time.

    python scripts/bench_operator.py [--workloads 1000] [--interval 60s] [--timeout 300]

Starts the control plane of tests/support/controlplane.py (build it first:
`python -m tests.support.controlplane build`; or give --kubeconfig for any cluster), a vLLM-like
exporter with one model per workload (its own `model_name` label, its own traffic), a Prometheus
scraping it every 5 s, and `inferplace operator` out of cluster. Then creates N InferenceWorkloads
(varied models, traffic and placements; each reads its own live series) and reports:
  - seconds from the last apply until every workload is Ready for its generation (target: 60 s);
  - the operator's peak resident memory, sampled from /proc every 0.2 s (target: 150 MB);
  - Prometheus queries in the first evaluation of all N and in one full periodic re-evaluation
    cycle, counted by Prometheus itself (`prometheus_http_requests_total`; target: 30 a cycle);
  - API writes in each (status written, status unchanged and skipped, Events), from the operator's
    own counters.
Stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.controlplane import ControlPlane, built  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.prom import running, scrape_config, wait_http  # noqa: E402

from inferplace.api.vocabulary import duration_seconds  # noqa: E402
from inferplace.testing.exporter import Exporter, Truth  # noqa: E402

MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
          "mistralai/Mistral-7B-Instruct-v0.3", "Qwen/Qwen2.5-7B-Instruct"]
CURRENT = [("p5.48xlarge", 1), ("g6e.12xlarge", 1), ("p4d.24xlarge", 1), ("inf2.48xlarge", 2)]
NAMESPACE_LABEL = "bench"
WINDOW = "1m"
SCRAPE_S = 5


class ManyModels:
    """One /metrics page with one vLLM-like model per workload (exporter.Exporter's series each)."""

    def __init__(self, truths: list[Truth]) -> None:
        self.exporters = [Exporter(t) for t in truths]

    def render(self) -> str:
        now = time.time()
        seen: set[str] = set()
        out = []
        for e in self.exporters:
            for line in e.render(now).splitlines():
                if line.startswith("#"):
                    if line in seen:
                        continue
                    seen.add(line)
                out.append(line)
        return "\n".join(out) + "\n"

    def serve(self) -> ThreadingHTTPServer:
        many = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = many.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True,
                          text=True, timeout=300, check=False)
    if check and proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def truth(i: int, rng: random.Random) -> Truth:
    return Truth(rps=rng.choice([0.5, 1.0, 2.0, 5.0]), prompt_mean=rng.choice([300.0, 800.0, 2000.0]),
                 output_mean=rng.choice([100.0, 250.0]), pods=("vllm-0",), namespace=NAMESPACE_LABEL,
                 model_name=f"m{i:05d}")


def workload(i: int, namespace: str, t: Truth, rng: random.Random) -> dict[str, Any]:
    model = MODELS[i % len(MODELS)]
    inst, chips = CURRENT[i % len(CURRENT)]
    if "70B" in model:
        inst, chips = "p5.48xlarge", 4
    return {
        "apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload",
        "metadata": {"name": f"w{i:05d}", "namespace": namespace},
        "spec": {
            "model": {"name": model},
            "traffic": {"requestsPerSecond": rng.choice([1, 2, 5, 10, 20]),
                        "promptTokens": {"mean": int(t.prompt_mean)}, "outputTokens": {"mean": int(t.output_mean)},
                        "peakToMeanRatio": "1.5"},
            "slo": {"ttftP95Ms": rng.choice([1000, 2000, 5000]), "tpotP95Ms": rng.choice([50, 80, 120])},
            "current": {"instanceType": inst, "replicas": 2, "chipsPerReplica": chips, "capacityType": "on-demand"},
            "metrics": {"server": "vllm", "selector": {"namespace": NAMESPACE_LABEL, "model_name": t.model_name},
                        "window": WINDOW},
        },
    }


def ready_count(kubeconfig: str, namespace: str) -> int:
    items = json.loads(kubectl(kubeconfig, "get", "iw", "-n", namespace, "-o", "json"))["items"]
    n = 0
    for obj in items:
        st = obj.get("status", {})
        ready: dict[str, Any] = next((c for c in st.get("conditions", []) if c.get("type") == "Ready"), {})
        live = next((c for c in st.get("conditions", []) if c.get("type") == "MetricsAvailable"), {})
        n += (ready.get("status") == "True" and live.get("status") == "True"
              and st.get("observedGeneration") == obj["metadata"]["generation"])
    return n


def samples(url: str) -> dict[str, float]:
    """name{labels} -> value from a /metrics page."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def prometheus_queries(url: str) -> float:
    s = samples(f"{url}/metrics")
    return sum(v for k, v in s.items() if k.startswith("prometheus_http_requests_total{")
               and ('handler="/api/v1/query"' in k or 'handler="/api/v1/query_range"' in k))


def operator_counts(url: str) -> dict[str, float]:
    s = samples(url)
    out = {"evaluations": sum(v for k, v in s.items() if k.startswith("inferplace_evaluations_total{"))}
    for kind in ("status", "status_unchanged", "event"):
        out[kind] = s.get(f'inferplace_kubernetes_api_writes_total{{kind="{kind}"}}', 0.0)
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run(kubeconfig: str, a: argparse.Namespace, tmp: Path) -> int:
    namespace = f"inferplace-bench-{uuid.uuid4().hex[:6]}"
    kubectl(kubeconfig, "apply", "--server-side", "-f", str(ROOT / "crds"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "crd/inferenceworkloads.inferplace.io")
    kubectl(kubeconfig, "create", "namespace", namespace)
    rng = random.Random(7)
    truths = [truth(i, rng) for i in range(a.workloads)]
    exporter = ManyModels(truths).serve()
    target = f"127.0.0.1:{exporter.server_address[1]}"
    with running(tmp / "prom", scrape_config([target], SCRAPE_S)) as prom:
        time.sleep(duration_seconds(WINDOW) + 2 * SCRAPE_S)  # a full rate window of samples
        log = tmp / "operator.log"
        metrics_url = f"http://127.0.0.1:{free_port()}"
        live = f"http://127.0.0.1:{free_port()}/healthz"
        cmd = [sys.executable, "-m", "inferplace", "operator", "--namespace", namespace, "--prometheus-url", prom,
               "--interval", a.interval, "--log-format", "plain", "--log-level", "WARNING",
               "--metrics-address", metrics_url.removeprefix("http://"), "--liveness", live]
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    env=os.environ | {"KUBECONFIG": kubeconfig})
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set() and proc.poll() is None:
                peak[0] = max(peak[0], rss_mb(proc.pid))
                time.sleep(0.2)

        threading.Thread(target=sample, daemon=True).start()
        metrics_url += "/metrics"
        try:
            if not wait_http(live, 60, proc):
                raise SystemExit(f"operator not live:\n{log.read_text()[-3000:]}")
            q0, c0 = prometheus_queries(prom), operator_counts(metrics_url)
            docs = [workload(i, namespace, t, rng) for i, t in enumerate(truths)]
            started = time.monotonic()
            for k in range(0, len(docs), 200):
                kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs[k:k + 200]))
            applied = time.monotonic()
            n = 0
            while time.monotonic() - applied < a.timeout:
                n = ready_count(kubeconfig, namespace)
                if n >= a.workloads:
                    break
                time.sleep(1)
            to_ready = time.monotonic() - applied
            q1, c1 = prometheus_queries(prom), operator_counts(metrics_url)
            # One periodic cycle: wait until every workload has been evaluated once more.
            cycle_started = time.monotonic()
            limit = 3 * duration_seconds(a.interval) + 60
            while operator_counts(metrics_url)["evaluations"] < c1["evaluations"] + a.workloads:
                if time.monotonic() - cycle_started > limit:
                    break
                time.sleep(1)
            cycle = time.monotonic() - cycle_started
            q2, c2 = prometheus_queries(prom), operator_counts(metrics_url)
            steady = rss_mb(proc.pid)
        finally:
            done.set()
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            exporter.shutdown()
            exporter.server_close()
            kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)

    def writes(after: dict[str, float], before: dict[str, float]) -> str:
        return (f"{after['status'] - before['status']:.0f} status written, "
                f"{after['status_unchanged'] - before['status_unchanged']:.0f} unchanged (not written), "
                f"{after['event'] - before['event']:.0f} Events")

    print(f"workloads: {a.workloads}, each with its own live series; interval {a.interval}")
    print(f"kubectl apply of all: {applied - started:.1f} s")
    print(f"Ready (with live metrics): {n}/{a.workloads}, {to_ready:.1f} s after the last apply (target: 60 s)")
    print(f"operator peak RSS: {peak[0]:.0f} MB (target: 150 MB); {steady:.0f} MB after the cycle")
    print(f"first evaluation of all: {c1['evaluations'] - c0['evaluations']:.0f} evaluations, "
          f"{q1 - q0:.0f} Prometheus queries, API writes: {writes(c1, c0)}")
    print(f"one periodic cycle ({c2['evaluations'] - c1['evaluations']:.0f} evaluations in {cycle:.0f} s): "
          f"{q2 - q1:.0f} Prometheus queries (target: 30), API writes: {writes(c2, c1)}")
    if n < a.workloads:
        print(f"operator log tail:\n{log.read_text()[-3000:]}")
        return 1
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", type=int, default=1000)
    p.add_argument("--interval", default="60s", help="the operator's re-evaluation interval")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--kubeconfig", help="benchmark this cluster instead of starting a control plane")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.kubeconfig:
            sys.exit(run(a.kubeconfig, a, Path(tmp)))
        if not built():
            raise SystemExit("build the control plane first: python -m tests.support.controlplane build")
        with ControlPlane(Path(tmp) / "k8s") as plane:
            os.environ["PATH"] = plane.env()["PATH"]
            started = time.monotonic()
            code = run(str(plane.kubeconfig), a, Path(tmp))
            print(f"(benchmark took {time.monotonic() - started:.0f} s)")
        sys.exit(code)


if __name__ == "__main__":
    main()
