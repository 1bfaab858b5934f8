"""Scale benchmark of the operator on a real API server, with a real Prometheus behind it.

    KUBECONFIG=~/.kube/config python scripts/bench_operator.py [--workloads 1000] [--timeout 300]

Applies crds/, creates a fresh namespace, starts a Prometheus on 127.0.0.1 scraping a vLLM-like
exporter, starts `inferplace operator` out of cluster for that namespace, creates N
InferenceWorkloads (varied models, traffic and current placements; every one reads live metrics),
and prints:
  - seconds from the first create until every workload is Ready=True for its generation
    (target: under 120 s for 1,000), and
  - the operator's peak resident memory, sampled from /proc every 0.5 s (target: under 250 MB).
Then deletes the namespace and stops everything it started. Needs Debian's `prometheus` and kubectl.
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
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.live import WINDOW, live_stack  # noqa: E402
from tests.support.prom import free_port  # noqa: E402

MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
          "mistralai/Mistral-7B-Instruct-v0.3", "Qwen/Qwen2.5-7B-Instruct"]
CURRENT = [("p5.48xlarge", 1), ("g6e.12xlarge", 1), ("p4d.24xlarge", 1), ("inf2.48xlarge", 2)]


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True,
                          text=True, timeout=300, check=False)
    if check and proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def workload(i: int, namespace: str, prometheus: str, rng: random.Random) -> dict[str, Any]:
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
                        "promptTokens": {"mean": rng.choice([200, 800, 2000])},
                        "outputTokens": {"mean": rng.choice([100, 300])}, "peakToMeanRatio": "1.5"},
            "slo": {"ttftP95Ms": rng.choice([1000, 2000, 5000]), "tpotP95Ms": rng.choice([50, 80, 120])},
            "current": {"instanceType": inst, "replicas": 2, "chipsPerReplica": chips, "capacityType": "on-demand"},
            "metrics": {"server": "vllm", "selector": {"namespace": "chat"}, "window": WINDOW,
                        "prometheusUrl": prometheus},
        },
    }


def ready_count(kubeconfig: str, namespace: str) -> int:
    items = json.loads(kubectl(kubeconfig, "get", "iw", "-n", namespace, "-o", "json"))["items"]
    n = 0
    for obj in items:
        st = obj.get("status", {})
        ready: dict[str, Any] = next((c for c in st.get("conditions", []) if c.get("type") == "Ready"), {})
        n += ready.get("status") == "True" and st.get("observedGeneration") == obj["metadata"]["generation"]
    return n


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=300)
    a = p.parse_args()
    kubeconfig = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if not kubeconfig or not Path(kubeconfig).expanduser().is_file():
        raise SystemExit("set KUBECONFIG to the cluster to benchmark against")
    namespace = f"inferplace-bench-{uuid.uuid4().hex[:6]}"
    kubectl(kubeconfig, "apply", "--server-side", "-f", str(ROOT / "crds"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "crd/inferenceworkloads.inferplace.io")
    kubectl(kubeconfig, "create", "namespace", namespace)
    with tempfile.TemporaryDirectory() as tmp, live_stack(Path(tmp) / "prom") as live:
        log = Path(tmp) / "operator.log"
        cmd = [sys.executable, "-m", "inferplace", "operator", "--namespace", namespace,
               "--prometheus-url", live.url, "--log-format", "plain", "--log-level", "WARNING",
               "--metrics-address", f"127.0.0.1:{free_port()}", "--liveness", f"http://127.0.0.1:{free_port()}/healthz"]
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    env=os.environ | {"KUBECONFIG": kubeconfig})
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set() and proc.poll() is None:
                peak[0] = max(peak[0], rss_mb(proc.pid))
                time.sleep(0.5)

        threading.Thread(target=sample, daemon=True).start()
        try:
            time.sleep(3)  # the operator is watching before the objects arrive
            rng = random.Random(7)
            docs = [workload(i, namespace, live.url, rng) for i in range(a.workloads)]
            started = time.monotonic()
            for k in range(0, len(docs), 100):
                kubectl(kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all(docs[k:k + 100]))
            applied = time.monotonic() - started
            n = 0
            while time.monotonic() - started < a.timeout:
                n = ready_count(kubeconfig, namespace)
                if n >= a.workloads:
                    break
                time.sleep(2)
            elapsed = time.monotonic() - started
            time.sleep(5)  # memory after the burst, while the interval timer runs
        finally:
            done.set()
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
            kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)
        print(f"workloads: {a.workloads} (kubectl apply took {applied:.1f} s)")
        print(f"ready: {n}/{a.workloads} after {elapsed:.1f} s (target: all within 120 s)")
        print(f"operator peak RSS: {peak[0]:.0f} MB (target: under 250 MB)")
        if n < a.workloads:
            print(f"operator log tail:\n{log.read_text()[-3000:]}")
            raise SystemExit(1)


if __name__ == "__main__":
    main()
