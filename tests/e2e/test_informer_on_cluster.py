"""The operator's own list and watch (controller.informer) against a real API server: the shard
processes' sweep of unlabelled workloads reads the API server's watch cache, metadata only, with the
label selector applied there."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import yaml

from inferplace.controller.informer import Informer
from inferplace.controller.sharding import SHARD_LABEL, label_value, unassigned_selector

from .conftest import Cluster

pytestmark = pytest.mark.e2e

SPEC = {"model": {"name": "meta-llama/Llama-3.1-8B-Instruct"},
        "traffic": {"requestsPerSecond": 1, "promptTokens": {"mean": 500}, "outputTokens": {"mean": 100}},
        "slo": {"ttftP95Ms": 2000, "tpotP95Ms": 60},
        "current": {"instanceType": "g6e.xlarge", "replicas": 1, "chipsPerReplica": 1}}


def api_client(kubeconfig: str) -> Any:
    import kubernetes  # noqa: PLC0415

    conf = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=conf)  # type: ignore[no-untyped-call]
    return kubernetes.client.ApiClient(conf)


def until_names(informer: Informer, names: set[str], timeout: float = 30) -> list[dict[str, Any]]:
    """The cached list once it names exactly `names` (the cache is at most a moment behind the writes)."""
    deadline = time.monotonic() + timeout
    while True:
        items = informer.cached_metadata()
        if {i["metadata"]["name"] for i in items} == names:
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.2)


def test_the_sweep_reads_unlabelled_workloads_metadata_from_the_watch_cache(cluster: Cluster) -> None:
    with cluster.scratch_namespace(f"informer-{uuid.uuid4().hex[:6]}") as ns:
        docs = []
        for name, labels in (("a", {}), ("b", {"team": "x"}), ("c", {SHARD_LABEL: label_value(0, 2)})):
            docs.append({"apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload",
                         "metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": SPEC})
        cluster.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(docs))
        informer = Informer(api_client(cluster.kubeconfig), ns, unassigned_selector(2), lambda *_: None)
        items = until_names(informer, {"a", "b"})
        for item in items:
            assert item["kind"] == "PartialObjectMetadata" and "spec" not in item, item
            assert item["metadata"]["namespace"] == ns and item["metadata"]["uid"]
        # A workload that gets its label leaves the list.
        cluster.kubectl("label", "iw", "a", "-n", ns, f"{SHARD_LABEL}={label_value(1, 2)}")
        until_names(informer, {"b"})
