"""Leader election and shards on a real API server: operator processes share the workloads through
coordination.k8s.io Leases; one is killed with SIGKILL (no goodbye, its Leases simply stop being
renewed) and the others must take its work over within the lease duration."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferplace.controller.sharding import SHARD_LABEL, label_value, shard_of

from ..support.manifests import workload_doc
from ..support.ports import free_port
from ..support.prom import stop, wait_http
from .conftest import Cluster

pytestmark = pytest.mark.e2e
TAKEOVER_S = 25.0  # the bound for one leader: a 15 s lease, a 2 s retry period, and an evaluation
SHARDED_S = 40.0


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    metrics_url: str
    log: Path

    def gauge(self, name: str) -> float:
        with urllib.request.urlopen(self.metrics_url, timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return 0.0


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A namespace of the test's own: the session's operator (conftest) watches the session namespace and
    would answer these workloads itself."""
    with cluster.scratch_namespace(f"{cluster.namespace}-{uuid.uuid4().hex[:4]}") as ns:
        yield ns


@contextmanager
def operators(cluster: Cluster, ns: str, tmp: Path, n: int, *flags: str) -> Iterator[list[Process]]:
    procs: list[Process] = []
    env = os.environ | {"KUBECONFIG": cluster.kubeconfig}
    try:
        for i in range(n):
            log = tmp / f"operator-{i}.log"
            metrics, live = free_port(), free_port()
            cmd = [sys.executable, "-m", "inferplace", "operator", "--namespace", ns, "--interval",
                   "10m", "--log-format", "plain", "--metrics-address", f"127.0.0.1:{metrics}", "--liveness",
                   f"http://127.0.0.1:{live}/healthz", "--leader-election-namespace", ns, *flags]
            with log.open("w") as out:
                proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
            procs.append(Process(proc, f"http://127.0.0.1:{metrics}/metrics", log))
            if not wait_http(f"http://127.0.0.1:{live}/healthz", 60, proc):
                raise AssertionError(f"operator {i} not live:\n{log.read_text()[-3000:]}")
        yield procs
    finally:
        for p in procs:
            if p.proc.poll() is None:
                stop(p.proc)


def docs(names: list[str], rps: int) -> str:
    out = []
    for name in names:
        d = workload_doc(name=name, current={"instanceType": "p5.48xlarge", "replicas": 2, "chipsPerReplica": 1,
                                             "capacityType": "on-demand"}, constraints={"managedApis": []})
        d["spec"]["traffic"]["requestsPerSecond"] = rps
        out.append(d)
    return yaml.safe_dump_all(out)


def answered(cluster: Cluster, ns: str, names: set[str]) -> set[str]:
    """Names whose status is for their current generation."""
    items = json.loads(cluster.kubectl("get", "iw", "-n", ns, "-o", "json").stdout)["items"]
    return {o["metadata"]["name"] for o in items if o["metadata"]["name"] in names
            and (o.get("status") or {}).get("observedGeneration") == o["metadata"]["generation"]}


def wait_answered(cluster: Cluster, ns: str, names: set[str], timeout: float, procs: list[Process]) -> float:
    started = time.monotonic()
    done: set[str] = set()
    while time.monotonic() - started < timeout:
        done = answered(cluster, ns, names)
        if done == names:
            return time.monotonic() - started
        time.sleep(0.5)
    logs = "\n".join(p.log.read_text()[-2500:] for p in procs)
    raise AssertionError(f"{len(names - done)} of {len(names)} not answered within {timeout:.0f} s, e.g. "
                         f"{sorted(names - done)[:5]}; logs:\n{logs}")


def leases(cluster: Cluster, ns: str, election: str) -> dict[str, dict[str, Any]]:
    items = json.loads(cluster.kubectl("get", "leases", "-n", ns, "-l",
                                       f"inferplace.io/election={election}", "-o", "json").stdout)["items"]
    return {i["metadata"]["name"]: i["spec"] for i in items}


def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


def test_a_standby_takes_over_within_the_lease_after_the_leader_is_killed(cluster: Cluster, namespace: str,
                                                                          tmp_path: Path) -> None:
    election = f"le-{uuid.uuid4().hex[:6]}"
    names = [f"le-{election}-{i}" for i in range(3)]
    with operators(cluster, namespace, tmp_path, 2, "--leader-elect", "--leader-election-id", election) as procs:
        until(lambda: sum(p.gauge("inferplace_shards_held") for p in procs) == 1, 30, "one leader")
        cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=docs(names, 10))
        wait_answered(cluster, namespace, set(names), 60, procs)
        leader = next(p for p in procs if p.gauge("inferplace_shards_held") == 1)
        standby = next(p for p in procs if p is not leader)
        before = leases(cluster, namespace, election)[election]["holderIdentity"]
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait(timeout=10)
        killed = time.monotonic()
        # a spec change nobody answers until the standby takes over
        cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=docs(names, 12))
        took = wait_answered(cluster, namespace, set(names), TAKEOVER_S, procs)
        assert time.monotonic() - killed <= TAKEOVER_S
        after = leases(cluster, namespace, election)[election]
        assert after["holderIdentity"] not in (before, None)
        assert standby.gauge("inferplace_shards_held") == 1
        print(f"spec change after SIGKILL of the leader answered in {took:.1f} s")


def test_two_shard_processes_split_the_workloads_and_survive_one_killed(cluster: Cluster, namespace: str,
                                                                        tmp_path: Path) -> None:
    election = f"sh-{uuid.uuid4().hex[:6]}"
    names = [f"{election}-{i:03d}" for i in range(40)]
    with operators(cluster, namespace, tmp_path, 2, "--shards", "2", "--leader-election-id", election) as procs:
        until(lambda: [p.gauge("inferplace_shards_held") for p in procs] == [1, 1], 40, "one shard each")
        cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=docs(names, 10))
        wait_answered(cluster, namespace, set(names), 90, procs)
        # Every workload carries its shard's label, by the stable hash; each process evaluated only its own.
        items = json.loads(cluster.kubectl("get", "iw", "-n", namespace, "-o", "json").stdout)["items"]
        labels = {o["metadata"]["name"]: o["metadata"].get("labels", {}).get(SHARD_LABEL) for o in items
                  if o["metadata"]["name"] in names}
        assert labels == {n: label_value(shard_of(namespace, n, 2), 2) for n in names}
        assert 0 < sum(1 for v in labels.values() if v == "0-of-2") < len(names)
        assert [p.gauge("inferplace_workloads") for p in procs] != [len(names), len(names)]
        assert sum(p.gauge("inferplace_workloads") for p in procs) >= len(names)
        victim, survivor = procs
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=10)
        killed = time.monotonic()
        cluster.kubectl("apply", "-n", namespace, "-f", "-", stdin=docs(names, 12))
        took = wait_answered(cluster, namespace, set(names), SHARDED_S, procs)
        assert time.monotonic() - killed <= SHARDED_S
        assert survivor.gauge("inferplace_shards_held") == 2
        print(f"spec changes of {len(names)} workloads after SIGKILL of one of 2 shard processes answered in "
              f"{took:.1f} s")
