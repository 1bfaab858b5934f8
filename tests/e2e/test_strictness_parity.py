"""One strictness for the CLI and the API server (issue 15): the same manifests, generated and mutated,
go through the CLI's reader and models and through a dry-run create with strict field validation on
the real API server (the generated CRD's structural schema, formats and CEL rules), and each must be accepted by
both or refused by both. A disagreement is a manifest that works with `inferplace recommend` and not
with `kubectl apply`, or the other way round.

Every leaf of two full-featured manifests (one by model name, one by architecture) is replaced by each
value of a list of boundary values (the quoted and padded numbers, booleans, bounds and their
neighbours that the issue found misread), and a derandomized hypothesis sample adds structural
mutations. """

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from inferplace.cli.inputs import manifests

from ..support.mutations import mutated, paths, set_at
from .conftest import Cluster

pytestmark = pytest.mark.e2e

BY_NAME: dict[str, Any] = {
    "apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload", "metadata": {"name": "x"},
    "spec": {
        "model": {"name": "meta-llama/Llama-3.1-8B-Instruct", "weightPrecision": "fp8", "kvCachePrecision": "fp8",
                  "neuronSupport": "supported"},
        "traffic": {"requestsPerSecond": "12.5", "promptTokens": {"mean": 1000, "p95": 2000},
                    "outputTokens": {"mean": 200, "p95": 400}, "peakToMeanRatio": 2, "profile": ["1"] * 24},
        "slo": {"ttftP95Ms": 2000, "tpotP95Ms": "60", "e2eP95Ms": 30000},
        "current": {"instanceType": "g6e.xlarge", "replicas": 2, "chipsPerReplica": 1, "capacityType": "on-demand"},
        "constraints": {"instanceFamilies": ["p5", "trn2"], "capacityTypes": ["on-demand", "spot"],
                        "weightPrecisions": ["fp8", "bf16"], "region": "us-east-1", "minReplicas": 1,
                        "maxMigrationWeeks": "6", "managedApis": ["bedrock"]},
        "economics": {"engineerWeekCost": "5000", "amortizationMonths": 12,
                      "migrationWeeks": [{"target": "trn2", "weeks": "4.5"}],
                      "overheadRates": {"host": "0.05", "network": "0.02", "storage": "0.01", "power": 0,
                                        "orchestration": "0.03"},
                      "retryRate": "0.01", "targetUtilization": "0.7"},
        "speculativeDecoding": {"draftModel": "meta-llama/Llama-3.2-1B", "acceptanceRate": "0.7",
                                "numSpeculativeTokens": 4},
        "scaling": {"autoscale": True, "scaleToZero": False, "scaleUpLeadTime": "10m"},
        "metrics": {"server": "vllm", "selector": {"namespace": "chat", "model_name": "llama"}, "window": "1h",
                    "shapeWindow": "7d", "prometheusUrl": "http://prometheus.monitoring:9090"},
        "serving": {"deployment": "chat-vllm", "container": "vllm"},
    },
}
BY_ARCHITECTURE: dict[str, Any] = json.loads(json.dumps(BY_NAME))
BY_ARCHITECTURE["spec"]["model"] = {
    "family": "mixtral", "weightPrecision": "bf16",
    "architecture": {"layers": 32, "hiddenSize": 4096, "heads": 32, "kvHeads": 8, "headDim": 128,
                     "intermediateSize": 14336, "vocabSize": 32000, "maxContext": 32768, "tiedEmbeddings": False,
                     "moe": {"experts": 8, "topK": 2, "expertIntermediateSize": 14336, "sharedExperts": 0,
                             "denseLayers": 0},
                     "slidingWindow": {"window": 4096, "localLayerFraction": "0.5"}},
}

# Values at and around the bounds, and the spellings the issue found read differently by the two.
BOUNDARY: list[Any] = [
    0, 1, -1, 2, 63, 64, 65, 128, 512, 513, 10000, 10001, 10**15 - 1, 10**15, 2**63 - 1, 0.5, 1.0, 1e-301, 1e300,
    True, False, None, "", " ", "8", "0", "1_000", "00060", "  60  ", "60 ", "1e3", "0x10", "+1", "-1", ".5", "5.",
    "0.85", "0.000000001", "0.0000000001", "123456789012345", "1234567890123456", "1.123456789",
    "1.1234567890", "nan", "inf", "yes", "on-demand", "bf16", "fp4", "trn2", "us-east-1", "US-EAST-1", "5m",
    "0m", "5M", "x" * 64, "x" * 65, "a" * 253, "a" * 254, "__name__", "namespace", "http://x", "ftp://x",
    "chat-vllm", "Chat", "a.b", [], ["1"] * 24, ["1"] * 25, ["0"] * 24, [0] * 23 + ["0.000000001"], [{}], {},
    {"a": "b"},
]
BATCH = 400  # manifests per file the CLI reads (its reader stops at 16 MiB)
WORKERS = 8


def _leaf_variants() -> list[dict[str, Any]]:
    out = []
    for base in (BY_NAME, BY_ARCHITECTURE):
        for path in paths(base["spec"]):
            if not path:
                continue
            for value in BOUNDARY:
                doc = json.loads(json.dumps(base))
                set_at(doc["spec"], path, json.loads(json.dumps(value)))
                out.append(doc)
    return out


def _verdicts_cli(docs: list[dict[str, Any]], tmp: Path) -> dict[str, str]:
    """name -> "" when the CLI's reader and models accept it, else its first problem."""
    out: dict[str, str] = {}
    for start in range(0, len(docs), BATCH):  # JSON documents are YAML: read by the CLI's own reader
        f = tmp / f"parity-{start}.json"
        f.write_text("\n---\n".join(json.dumps(d, allow_nan=False) for d in docs[start:start + BATCH]))
        found, problems = manifests([f])
        out |= {m.workload.metadata.name: "" for m in found}
        for line in problems:
            m = re.match(r"document \d+ \((p\d+)\): (.*)", line)
            assert m, line  # every refusal names its document and field
            out.setdefault(m.group(1), m.group(2))
    return out


def _go_number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() and abs(value) < 1e21 else value


def as_kubectl_sends(doc: dict[str, Any]) -> dict[str, Any]:
    """The JSON kubectl sends for a manifest: Go's encoder writes an integral float as an integer
    (`1.0` -> `1`; test_kubectl_sends_integral_floats_as_integers checks it with the real kubectl)."""
    sent: dict[str, Any] = json.loads(json.dumps(doc), parse_float=_go_number)
    return sent


def _verdicts_server(cluster: Cluster, docs: list[dict[str, Any]]) -> dict[str, str]:
    """name -> "" when the API server would create it, else its error: a dry-run create with strict
    field validation (what `kubectl create --validate=strict` asks for) of what kubectl would send, one
    request per manifest, so each gets its own verdict (kubectl stops a whole List at its client-side check)."""
    config = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=cluster.kubeconfig, client_configuration=config)
    config.connection_pool_maxsize = WORKERS
    with kubernetes.client.ApiClient(config) as client:
        api = kubernetes.client.CustomObjectsApi(client)

        def verdict(doc: dict[str, Any]) -> tuple[str, str]:
            try:
                api.create_namespaced_custom_object("inferplace.io", "v1alpha1", cluster.namespace,
                                                    "inferenceworkloads", as_kubectl_sends(doc), dry_run="All",
                                                    field_validation="Strict", _request_timeout=30)
            except kubernetes.client.ApiException as exc:
                if exc.status not in (400, 422):  # refused as invalid, nothing else
                    raise
                return doc["metadata"]["name"], json.loads(exc.body).get("message", "refused")
            return doc["metadata"]["name"], ""

        with ThreadPoolExecutor(WORKERS) as pool:
            return dict(pool.map(verdict, docs))


def _json_can_hold(doc: Any) -> bool:
    try:
        json.dumps(doc, allow_nan=False)
    except ValueError:  # NaN or infinity: JSON has none (the reader refusing them is tested in tests/unit)
        return False
    return True


def _compare(cluster: Cluster, docs: list[dict[str, Any]], tmp: Path, metadata: list[dict[str, Any]] | None = None
             ) -> None:
    for i, d in enumerate(docs):
        d["metadata"] = {**(metadata[i] if metadata else {}), "name": f"p{i}"}
    cli, server = _verdicts_cli(docs, tmp), _verdicts_server(cluster, docs)
    unanswered = [f"p{i}" for i in range(len(docs)) if f"p{i}" not in server]
    assert not unanswered, f"the API server gave no verdict for {unanswered[:5]} (kubectl output changed?)"
    disagree = []
    for i, d in enumerate(docs):
        name = f"p{i}"
        if (cli[name] == "") != (server[name] == ""):
            disagree.append(f"{json.dumps(d['spec'])[:400]}\n    cli: {cli[name] or 'accepted'}\n"
                            f"    api server: {server[name][:300] or 'accepted'}")
    assert not disagree, f"{len(disagree)} of {len(docs)} manifests told apart:\n" + "\n".join(disagree[:15])


def test_the_cli_and_the_api_server_agree_on_every_boundary_value(cluster: Cluster, tmp_path: Path) -> None:
    docs = _leaf_variants()
    assert len(docs) > 5000  # every leaf of both manifests times every boundary value
    _compare(cluster, docs, tmp_path)


@settings(max_examples=1, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(docs=st.lists(st.one_of(mutated(BY_NAME), mutated(BY_ARCHITECTURE)), min_size=300, max_size=300))
def test_the_cli_and_the_api_server_agree_on_generated_mutations(cluster: Cluster, tmp_path_factory:
                                                                 pytest.TempPathFactory,
                                                                 docs: list[Any]) -> None:
    docs = [d for d in docs if isinstance(d, dict) and isinstance(d.get("spec"), dict)
            and d.get("kind") == "InferenceWorkload" and d.get("apiVersion") == "inferplace.io/v1alpha1"
            and _json_can_hold(d)]
    _compare(cluster, docs, tmp_path_factory.mktemp("parity"))


@pytest.mark.parametrize("suffix", ["yaml", "json"])
def test_kubectl_sends_integral_floats_as_integers(cluster: Cluster, tmp_path: Path, suffix: str) -> None:
    """What as_kubectl_sends assumes, seen with the real kubectl: `replicas: 2.0` and `requestsPerSecond:
    12.0` are created as 2 and 12 (a raw JSON 2.0 sent by another client fails the CRD's CEL rules), and the
    CLI accepts the same file."""
    doc = json.loads(json.dumps(BY_NAME))
    doc["metadata"] = {"name": "floats", "namespace": cluster.namespace}
    doc["spec"]["current"]["replicas"] = 2.0
    doc["spec"]["traffic"]["requestsPerSecond"] = 12.0
    doc["spec"]["traffic"]["promptTokens"] = {"mean": 1000.0, "p95": 2e3}
    f = tmp_path / f"floats.{suffix}"
    f.write_text(json.dumps(doc) if suffix == "json" else yaml.safe_dump(doc))
    assert ("2.0" in f.read_text()) and ("12.0" in f.read_text())
    r = cluster.kubectl("create", "--dry-run=server", "--validate=strict", "-o", "json", "-f", str(f))
    created = json.loads(r.stdout)["spec"]
    assert created["current"]["replicas"] == 2 and isinstance(created["current"]["replicas"], int)
    assert created["traffic"]["requestsPerSecond"] == 12
    assert created["traffic"]["promptTokens"] == {"mean": 1000, "p95": 2000}
    assert created == as_kubectl_sends(doc)["spec"]
    found, problems = manifests([f])
    assert problems == [] and found[0].workload.spec.current is not None
    assert found[0].workload.spec.current.replicas == 2


LABEL_KEYS = ["a", "A", "a.b", "a_b", "-a", "a-", "x" * 63, "x" * 64, "example.com/a", "Example.com/a", "a/b/c",
              "/a", "a/", "e" * 253 + "/a", "e" * 254 + "/a", "a b", "ä", "1"]
LABEL_VALUES = ["", "a", "a.b-c_d", "-a", "a-", "x" * 63, "x" * 64, "a b", "ä", "1.5"]


def test_the_cli_and_the_api_server_agree_on_labels_and_annotations(cluster: Cluster, tmp_path: Path) -> None:
    metadata = ([{"labels": {k: "v"}} for k in LABEL_KEYS] + [{"labels": {"k": v}} for v in LABEL_VALUES]
                + [{"annotations": {k: "any text, even with spaces"}} for k in LABEL_KEYS]
                + [{"annotations": {"a": "x" * (256 * 1024 - 1)}}, {"annotations": {"a": "x" * (256 * 1024)}}])
    docs = [json.loads(json.dumps(BY_NAME)) for _ in metadata]
    _compare(cluster, docs, tmp_path, metadata)
