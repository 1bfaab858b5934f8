"""Scale benchmark of the operator on a real control plane, with a real Prometheus holding live
traffic for every workload. Prints its figures; it asserts nothing about time.

    python scripts/bench_operator.py [--workloads 1000] [--models N] [--interval 60s] [--timeout 300]
                                     [--replicas R] [--shards N] [--kill-leader] [--no-cycle]

Starts the control plane of tests/support/controlplane.py (build it first:
`python -m tests.support.controlplane build`; or give --kubeconfig for any cluster), a vLLM-like
exporter with one model per workload (its own `model_name` label, its own traffic; with --models,
that many series sets shared round-robin), a Prometheus scraping it every 5 s, and R `inferplace
operator` processes out of cluster (--replicas; with R > 1 or --shards N > 1 they share the work
through Leases: --leader-elect for one shard, --shards N otherwise). Then creates the
InferenceWorkloads (varied models, traffic and placements; each reads live series) and reports:
  - seconds from the last apply until every workload is Ready for its generation (targets: 60 s
    for 1,000 in one process, 120 s for 10,000 over 4 shard processes), seen through one list and
    watch of the namespace (`Readiness`), not by polling every status;
  - the mean size of a status as JSON (what the API server decodes, validates and sends per write);
  - each process's peak resident memory, sampled from /proc every 0.2 s (target: 150 MB);
  - Prometheus queries in the first evaluation of all and in one full periodic re-evaluation
    cycle, counted by Prometheus itself (`prometheus_http_requests_total`), per process (target: 30);
  - API writes in each (status written, status unchanged and skipped, Events), from the operators'
    own counters;
  - CPU seconds each part of the system spent from the first create until all were Ready (the
    API server, etcd, the controller manager, Prometheus, each operator and this benchmark's own
    client), from /proc, beside what the machine's cores could give in that time: on a machine
    shared by all of them, what sets the time to Ready;
  - with --kill-leader: SIGKILL of the process holding shard 0 (the leader), then a spec change to
    every workload, and the seconds until all are answered for their new generation.
The operators inherit the environment, so `INFERPLACE_ALTERNATIVES=3 python scripts/bench_operator.py ...`
benchmarks a setting. Stops everything it started.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.controlplane import ControlPlane, built  # noqa: E402
from tests.support.crds import wait_established  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.prom import running, scrape_config, wait_http  # noqa: E402

from inferplace.api.vocabulary import duration_seconds  # noqa: E402
from inferplace.controller.informer import Informer  # noqa: E402
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


@dataclass
class Proc:
    proc: subprocess.Popen[bytes]
    metrics_url: str
    live_url: str
    log: Path
    peak_mb: float = 0.0


def truth(i: int, rng: random.Random) -> Truth:
    return Truth(rps=rng.choice([0.5, 1.0, 2.0, 5.0]), prompt_mean=rng.choice([300.0, 800.0, 2000.0]),
                 output_mean=rng.choice([100.0, 250.0]), pods=("vllm-0",), namespace=NAMESPACE_LABEL,
                 model_name=f"m{i:05d}")


def workload(i: int, namespace: str, t: Truth, rng: random.Random, peak: str = "1.5") -> dict[str, Any]:
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
                        "peakToMeanRatio": peak},
            "slo": {"ttftP95Ms": rng.choice([1000, 2000, 5000]), "tpotP95Ms": rng.choice([50, 80, 120])},
            "current": {"instanceType": inst, "replicas": 2, "chipsPerReplica": chips, "capacityType": "on-demand"},
            "metrics": {"server": "vllm", "selector": {"namespace": NAMESPACE_LABEL, "model_name": t.model_name},
                        "window": WINDOW},
        },
    }


def send(kubeconfig: str, docs: list[dict[str, Any]], create: bool) -> None:
    """Create the workloads (or merge-patch their specs) from 16 threads: kubectl apply takes minutes for
    10,000 objects, longer than what is measured."""
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    import kubernetes  # noqa: PLC0415

    conf = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=conf)  # type: ignore[no-untyped-call]
    conf.connection_pool_maxsize = 16
    with kubernetes.client.ApiClient(conf) as client:
        api = kubernetes.client.CustomObjectsApi(client)

        def one(d: dict[str, Any]) -> None:
            ns, name = d["metadata"]["namespace"], d["metadata"]["name"]
            if create:
                api.create_namespaced_custom_object("inferplace.io", "v1alpha1", ns, "inferenceworkloads", d,
                                                    _request_timeout=30)
            else:
                api.patch_namespaced_custom_object("inferplace.io", "v1alpha1", ns, "inferenceworkloads", name,
                                                   {"spec": d["spec"]}, _request_timeout=30)

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(one, docs))


def _state(obj: dict[str, Any]) -> tuple[bool, bool]:
    """(Ready for its generation, and with live metrics) of one workload."""
    st = obj.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in st.get("conditions", [])}
    ready = conds.get("Ready") == "True" and st.get("observedGeneration") == obj["metadata"]["generation"]
    return ready, ready and conds.get("MetricsAvailable") == "True"


class Readiness:
    """Which workloads of a namespace are Ready, kept by the operator's own Informer (one paged list, then
    a watch from its version; a client as a dashboard would be): polling `kubectl get -o json` of 10,000
    statuses (27-40 KB each) every second made the API server serialize and the benchmark parse
    hundreds of MB a poll on the same cores the operators run on. Keeps two booleans and the size of
    the first status per workload, not the objects."""

    def __init__(self, kubeconfig: str, namespace: str) -> None:
        import kubernetes  # noqa: PLC0415

        conf = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=kubeconfig,  # type: ignore[no-untyped-call]
                                           client_configuration=conf)
        self.client = kubernetes.client.ApiClient(conf)
        self.states: dict[str, tuple[bool, bool]] = {}
        self.status_bytes: dict[str, int] = {}  # each workload's status as JSON, the API server's unit of work
        self.lock = threading.Lock()
        self.informer = Informer(self.client, namespace, "", self._seen, timeout_s=60.0, name="bench-readiness")
        self.informer.start()

    def _seen(self, event_type: str | None, body: dict[str, Any]) -> None:
        name = str((body.get("metadata") or {}).get("name") or "")
        with self.lock:
            if event_type == "DELETED":
                self.states.pop(name, None)
                self.status_bytes.pop(name, None)
            else:
                self.states[name] = _state(body)
                if body.get("status") and name not in self.status_bytes:  # its first: one encoding a workload
                    self.status_bytes[name] = len(json.dumps(body["status"], separators=(",", ":")))

    def count(self, live_too: bool = True) -> int:
        with self.lock:
            return sum(1 for ready, live in self.states.values() if (live if live_too else ready))

    def mean_status_kb(self) -> float:
        with self.lock:
            sizes = list(self.status_bytes.values())
        return sum(sizes) / len(sizes) / 1024 if sizes else 0.0

    def close(self) -> None:
        self.informer.stop()
        self.client.close()  # type: ignore[no-untyped-call]


def wait_ready(readiness: Readiness, want: int, timeout: float, live_too: bool = True) -> tuple[int, float]:
    started = last = time.monotonic()
    n = 0
    while time.monotonic() - started < timeout:
        n = readiness.count(live_too)
        if n >= want:
            break
        if time.monotonic() - last >= 10:  # progress on stderr; the figures go to stdout at the end
            last = time.monotonic()
            print(f"  {n}/{want} Ready after {last - started:.0f} s", file=sys.stderr, flush=True)
        time.sleep(0.2)
    return n, time.monotonic() - started


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


def operator_counts(procs: list[Proc]) -> dict[str, float]:
    """The operators' own counters, summed over the live processes."""
    out = {"evaluations": 0.0, "status": 0.0, "status_unchanged": 0.0, "event": 0.0}
    for p in procs:
        if p.proc.poll() is not None:
            continue
        s = samples(p.metrics_url)
        out["evaluations"] += sum(v for k, v in s.items() if k.startswith("inferplace_evaluations_total{"))
        for kind in ("status", "status_unchanged", "event"):
            out[kind] += s.get(f'inferplace_kubernetes_api_writes_total{{kind="{kind}"}}', 0.0)
    return out


def shards_held(p: Proc) -> float:
    return samples(p.metrics_url).get("inferplace_shards_held", 0.0)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its threads so far (/proc/PID/stat fields 14 and 15)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # gone
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_named(name: str) -> list[int]:
    """Processes on this machine whose command name is `name` (the control plane's, Prometheus)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name[:15]:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


SYSTEM = ("kube-apiserver", "etcd", "kube-controller-manager", "prometheus")


def cpu_snapshot(procs: list[Proc]) -> dict[str, float]:
    """CPU seconds so far of each part of the system on this machine (see `SYSTEM`), of each operator
    and of this benchmark (its client threads)."""
    snap = {name: sum(cpu_seconds(pid) for pid in pids_named(name)) for name in SYSTEM}
    for i, p in enumerate(procs):
        snap[f"operator-{i}"] = cpu_seconds(p.proc.pid)
    snap["benchmark"] = cpu_seconds(os.getpid())
    return snap


def cpu_report(before: dict[str, float], after: dict[str, float], wall: float) -> str:
    spent = {k: after[k] - before[k] for k in after}
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in spent.items() if v > 0)
    cores = os.cpu_count() or 1
    return (f"CPU from the first create until all Ready: {parts}; {sum(spent.values()):.0f} s in all, of "
            f"{cores} cores x {wall:.0f} s = {cores * wall:.0f} s")


def start_operators(kubeconfig: str, a: argparse.Namespace, namespace: str, prom: str, tmp: Path) -> list[Proc]:
    election = f"bench-{uuid.uuid4().hex[:6]}"
    leases: list[str] = []
    if a.shards > 1:
        leases = ["--shards", str(a.shards)]
    elif a.replicas > 1:
        leases = ["--leader-elect"]
    if leases:
        leases += ["--leader-election-namespace", namespace, "--leader-election-id", election]
    procs = []
    for i in range(a.replicas):
        log = tmp / f"operator-{i}.log"
        metrics = f"127.0.0.1:{free_port()}"
        live = f"http://127.0.0.1:{free_port()}/healthz"
        cmd = [sys.executable, "-m", "inferplace", "operator", "--namespace", namespace, "--prometheus-url", prom,
               "--interval", a.interval, "--log-format", "plain", "--log-level", "WARNING",
               "--metrics-address", metrics, "--liveness", live, *leases]
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    env=os.environ | {"KUBECONFIG": kubeconfig})
        procs.append(Proc(proc, f"http://{metrics}/metrics", live, log))
    return procs


def run(kubeconfig: str, a: argparse.Namespace, tmp: Path) -> int:
    namespace = f"inferplace-bench-{uuid.uuid4().hex[:6]}"
    kubectl(kubeconfig, "apply", "--server-side", "-f", str(ROOT / "crds"))
    wait_established(kubeconfig, "inferenceworkloads.inferplace.io")
    kubectl(kubeconfig, "create", "namespace", namespace)
    rng = random.Random(7)
    models = a.models or a.workloads
    truths = [truth(i, rng) for i in range(models)]
    exporter = ManyModels(truths).serve()
    target = f"127.0.0.1:{exporter.server_address[1]}"
    kill_report = ""
    with running(tmp / "prom", scrape_config([target], SCRAPE_S)) as prom:
        time.sleep(duration_seconds(WINDOW) + 2 * SCRAPE_S)  # a full rate window of samples
        procs = start_operators(kubeconfig, a, namespace, prom, tmp)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                for p in procs:
                    if p.proc.poll() is None:
                        p.peak_mb = max(p.peak_mb, rss_mb(p.proc.pid))
                time.sleep(0.2)

        threading.Thread(target=sample, daemon=True).start()
        readiness = Readiness(kubeconfig, namespace)
        try:
            for p in procs:
                if not wait_http(p.live_url, 60, p.proc):
                    raise SystemExit(f"operator not live:\n{p.log.read_text()[-3000:]}")
            if a.replicas > 1 or a.shards > 1:  # every process holds its share before the workloads come
                deadline = time.monotonic() + 60
                while sum(shards_held(p) for p in procs) < a.shards and time.monotonic() < deadline:
                    time.sleep(0.5)
            q0, c0 = prometheus_queries(prom), operator_counts(procs)
            docs = [workload(i, namespace, truths[i % models], random.Random(i)) for i in range(a.workloads)]
            cpu0 = cpu_snapshot(procs)
            started = time.monotonic()
            send(kubeconfig, docs, create=True)
            applied = time.monotonic()
            n, to_ready = wait_ready(readiness, a.workloads, a.timeout)
            cpu = cpu_report(cpu0, cpu_snapshot(procs), time.monotonic() - started)
            q1, c1 = prometheus_queries(prom), operator_counts(procs)
            status_kb = readiness.mean_status_kb()
            # One periodic cycle: wait until every workload has been evaluated once more.
            cycle_started = time.monotonic()
            limit = 3 * duration_seconds(a.interval) + 60 if a.cycle else 0
            while operator_counts(procs)["evaluations"] < c1["evaluations"] + a.workloads:
                if time.monotonic() - cycle_started > limit:
                    break
                time.sleep(1)
            cycle = time.monotonic() - cycle_started
            q2, c2 = prometheus_queries(prom), operator_counts(procs)
            steady = [rss_mb(p.proc.pid) for p in procs]
            if a.kill_leader:
                victim = next((p for p in procs if shards_held(p) > 0), procs[0])
                held = shards_held(victim)
                victim.proc.send_signal(signal.SIGKILL)
                victim.proc.wait(timeout=10)
                killed = time.monotonic()
                changed = [workload(i, namespace, truths[i % models], random.Random(i), peak="1.6")
                           for i in range(a.workloads)]
                send(kubeconfig, changed, create=False)
                reapplied = time.monotonic() - killed
                m, _ = wait_ready(readiness, a.workloads, a.timeout, live_too=False)
                kill_report = (f"SIGKILL of a process holding {held:.0f} shard(s), then a spec change to all "
                               f"{a.workloads} (applied {reapplied:.1f} s after the kill): {m}/{a.workloads} answered "
                               f"{time.monotonic() - killed:.1f} s after the kill")
        finally:
            done.set()
            readiness.close()
            for p in procs:
                if p.proc.poll() is None:
                    p.proc.terminate()
            for p in procs:
                try:
                    p.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.proc.kill()
            exporter.shutdown()
            exporter.server_close()
            kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)

    def writes(after: dict[str, float], before: dict[str, float]) -> str:
        return (f"{after['status'] - before['status']:.0f} status written, "
                f"{after['status_unchanged'] - before['status_unchanged']:.0f} unchanged (not written), "
                f"{after['event'] - before['event']:.0f} Events")

    r = len(procs)
    print(f"workloads: {a.workloads} reading {models} live series sets; interval {a.interval}; {r} process(es), "
          f"{a.shards} shard(s){' (leader election)' if r > 1 and a.shards == 1 else ''}")
    print(f"creating all (16 client threads): {applied - started:.1f} s")
    print(f"Ready (with live metrics): {n}/{a.workloads}, {to_ready:.1f} s after the last apply; "
          f"mean status {status_kb:.1f} KB as JSON (each workload's first)")
    print(cpu)
    print("peak RSS per process: " + ", ".join(f"{p.peak_mb:.0f} MB" for p in procs) + " (target: 150 MB); "
          + ("after the cycle: " if a.cycle else "at the end: ") + ", ".join(f"{x:.0f} MB" for x in steady))
    print(f"first evaluation of all: {c1['evaluations'] - c0['evaluations']:.0f} evaluations, "
          f"{q1 - q0:.0f} Prometheus queries ({(q1 - q0) / r:.0f} per process), API writes: {writes(c1, c0)}")
    if a.cycle:
        print(f"one periodic cycle ({c2['evaluations'] - c1['evaluations']:.0f} evaluations in {cycle:.0f} s): "
              f"{q2 - q1:.0f} Prometheus queries ({(q2 - q1) / r:.0f} per process; target: 30), "
              f"API writes: {writes(c2, c1)}")
    if kill_report:
        print(kill_report)
    if n < a.workloads:
        for p in procs:
            print(f"operator log tail ({p.log.name}):\n{p.log.read_text()[-2000:]}")
        return 1
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", type=int, default=1000)
    p.add_argument("--models", type=int, default=0,
                   help="distinct live series sets, shared round-robin (default: one per workload)")
    p.add_argument("--replicas", type=int, default=1, help="operator processes")
    p.add_argument("--shards", type=int, default=1, help="--shards of each process (1: none, or leader election "
                   "when --replicas > 1)")
    p.add_argument("--kill-leader", action="store_true",
                   help="after the cycle, SIGKILL the process holding shard 0 and time a spec change to every workload")
    p.add_argument("--interval", default="60s", help="the operator's re-evaluation interval")
    p.add_argument("--cycle", action=argparse.BooleanOptionalAction, default=True,
                   help="after all are Ready, wait for and count one periodic re-evaluation of all (default: yes)")
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
