"""`inferplace recommend`: outputs, the examples, and every bad-input path (exit 2, field path, no traceback)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferplace.api.status import InferenceWorkloadStatus
from inferplace.catalog import load_catalog

from ..support.cli import run_cli, write_yaml
from ..support.manifests import workload_doc

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/workload.yaml"))
TERMS = ("accelerators", "host", "network", "storage", "power", "orchestration", "softwareEngineering",
         "failedRequestsAndRetries", "idleCapacity")


def test_at_least_six_examples_each_with_a_readme() -> None:
    assert len(EXAMPLES) >= 6
    for ex in EXAMPLES:
        assert (ex.parent / "README.md").is_file(), ex.parent


def _workload_doc(example: Path) -> dict[str, Any]:
    """The example's InferenceWorkload (a file may create its Namespace first)."""
    return next(d for d in yaml.safe_load_all(example.read_text()) if d and d.get("kind") == "InferenceWorkload")


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.parent.name for e in EXAMPLES])
def test_example_recommendation_meets_slos_and_costs_add_up(example: Path) -> None:
    r = run_cli("recommend", "-f", str(example), "-o", "json")
    assert r.returncode == 0, r.stderr
    obj = json.loads(r.stdout)
    manifest = _workload_doc(example)
    # Nothing the user wrote is lost or rewritten.
    assert {k: v for k, v in obj.items() if k != "status"} == manifest
    status = InferenceWorkloadStatus.model_validate(obj["status"])  # the output's schema
    slo = manifest["spec"]["slo"]
    rec = obj["status"]["recommendation"]
    for p in [rec, *obj["status"]["alternatives"]]:
        if p["kind"] == "managed-api":  # no latency figure to hold to the SLOs: the output must say so
            assert "projected" not in p and any(r.startswith("latency unknown") for r in p["rationale"])
            assert p is not rec  # an API of unknown latency is never the recommendation
        else:
            assert float(p["projected"]["ttftP95Ms"]) <= float(slo["ttftP95Ms"])
            assert float(p["projected"]["tpotP95Ms"]) <= float(slo["tpotP95Ms"])
            if "e2eP95Ms" in slo:
                assert float(p["projected"]["e2eP95Ms"]) <= float(slo["e2eP95Ms"])
        b = p["costBreakdown"]
        assert set(TERMS) <= set(b)
        assert sum(float(b[t]) for t in TERMS) == pytest.approx(float(b["total"]), abs=0.06)
        assert float(p["monthlyCost"]) == pytest.approx(float(b["total"]), abs=0.01)
        tokens = float(b["acceptedOutputTokensPerMonth"])
        assert float(p["costPerMillionOutputTokens"]) == pytest.approx(float(b["total"]) / tokens * 1e6, rel=1e-3)
    cur = obj["status"]["current"]
    assert float(rec["savingsMonthly"]) == pytest.approx(float(cur["monthlyCost"]) - float(rec["monthlyCost"]),
                                                         abs=0.01)
    # Every node pool not chosen is explained.
    apis = manifest["spec"].get("constraints", {}).get("managedApis", ["bedrock"])
    pools = {i.family for i in load_catalog().instances.values()} | set(apis)
    explained = {x["nodePool"] for x in obj["status"]["rejected"]}
    assert explained == pools - {rec["nodePool"]}
    assert status.conditions[0].type == "Ready" and status.conditions[0].status == "True"


def test_table_fits_100_columns_and_names_the_parts() -> None:
    r = run_cli("recommend", "-f", str(EXAMPLES[0]))
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) <= 100
    for part in ("now", "recommended", "saves $", "alternatives", "not chosen", "NO_PRICE"):
        assert part in r.stdout


def test_multi_document_yaml_output_and_top(tmp_path: Path) -> None:
    f = write_yaml(tmp_path, workload_doc(name="a"), workload_doc(name="b", model="Qwen/Qwen3-8B"))
    r = run_cli("recommend", "-f", str(f), "-o", "yaml", "--top", "2")
    assert r.returncode == 0, r.stderr
    docs = list(yaml.safe_load_all(r.stdout))
    assert [d["metadata"]["name"] for d in docs] == ["a", "b"]
    assert all(len(d["status"]["alternatives"]) <= 2 for d in docs)
    r = run_cli("recommend", "-f", str(f), "-o", "json")
    body = json.loads(r.stdout)
    assert body["kind"] == "List" and len(body["items"]) == 2


def test_top_assesses_only_what_it_shows_and_shows_the_same(tmp_path: Path) -> None:
    """`--top N` has the search report N alternatives (not 10 then cut): the same N, the same figures."""
    f = write_yaml(tmp_path, workload_doc(name="a"))

    def alternatives(top: str) -> list[dict[str, Any]]:
        r = run_cli("recommend", "-f", str(f), "-o", "json", "--top", top, "--as-of", "2026-12-01")
        assert r.returncode == 0, r.stderr
        out: list[dict[str, Any]] = json.loads(r.stdout)["status"]["alternatives"]
        return out

    ten = alternatives("10")
    assert len(ten) == 10
    assert alternatives("3") == ten[:3]
    assert alternatives("0") == []
    assert alternatives("50") == ten  # at most the search's 10, as before


def test_stdin_is_accepted() -> None:
    r = run_cli("recommend", "-f", "-", "-o", "json", stdin=yaml.safe_dump(workload_doc()))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"]["recommendation"]


def _bad(tmp_path: Path, doc: Any) -> subprocess.CompletedProcess[str]:
    r = run_cli("recommend", "-f", str(write_yaml(tmp_path, doc)))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    assert "Traceback" not in r.stderr
    return r


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d["spec"]["slo"].update(tpotP95Ms=0), "spec.slo.tpotP95Ms: must be > 0"),
    (lambda d: d["spec"]["model"].update(name="no-such-model"), "spec.model.name: unknown model 'no-such-model'"),
    (lambda d: d["spec"]["model"].update(weightPrecision="bf17"),
     "spec.model.weightPrecision: must be one of: bf16, fp16, fp8, int8, fp4"),
    (lambda d: d["spec"]["traffic"].update(requestsPerSecond=0.5),
     'spec.traffic.requestsPerSecond: write decimals as quoted strings, e.g. "0.5"'),
    (lambda d: d["spec"].update(slo={"ttftP95Ms": 100}), "spec.slo.tpotP95Ms: required"),
    (lambda d: d["spec"]["slo"].update(tpotMs=3), "spec.slo.tpotMs: unknown field; allowed: e2eP95Ms"),
    (lambda d: d["spec"].update(current={"instanceType": "p9.huge", "replicas": 1, "chipsPerReplica": 1}),
     "spec.current.instanceType: unknown instance type 'p9.huge'"),
    (lambda d: d["spec"].update(current={"instanceType": "g6e.xlarge", "replicas": 1, "chipsPerReplica": 4}),
     "spec.current.chipsPerReplica: 4 exceeds the 1 chips of g6e.xlarge"),
    (lambda d: d["spec"].update(constraints={"instanceFamilies": ["p7"]}),
     "spec.constraints.instanceFamilies[0]: unknown instance family 'p7'; known:"),
    (lambda d: d["spec"].update(constraints={"capacityTypes": ["cheap"]}),
     "spec.constraints.capacityTypes[0]: must be one of: on-demand, spot"),
    (lambda d: d["spec"]["traffic"].update(outputTokens={"mean": 500, "p95": 100}),
     "spec.traffic.outputTokens: p95 (100) cannot be below mean (500)"),
    (lambda d: d["spec"].update(speculativeDecoding={"draftModel": "tiny", "acceptanceRate": "1.5",
                                                     "numSpeculativeTokens": 4}),
     "spec.speculativeDecoding.acceptanceRate: must be < 1"),
    (lambda d: d["spec"]["model"].update(architecture={"layers": 2}),
     "spec.model.architecture.hiddenSize: required"),
    (lambda d: d.update(kind="Deployment"), "kind/apiVersion must be InferenceWorkload / inferplace.io/v1alpha1"),
    (lambda d: d["spec"].update(metrics={"selector": {"bad-label": "x"}}),
     "spec.metrics.selector.bad-label.[key]: must match the pattern"),
])
def test_bad_input_names_the_field(tmp_path: Path, mutate: Any, expected: str) -> None:
    doc = workload_doc()
    mutate(doc)
    r = _bad(tmp_path, doc)
    assert expected in r.stderr, r.stderr


def test_not_yaml_and_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "x.yaml"
    p.write_text("spec: [unclosed\n")
    r = run_cli("recommend", "-f", str(p))
    assert r.returncode == 2 and "not valid YAML" in r.stderr and "line" in r.stderr and r.stdout == ""
    p.write_text("")
    r = run_cli("recommend", "-f", str(p))
    assert r.returncode == 2 and "no InferenceWorkload manifests" in r.stderr
    r = run_cli("recommend", "-f", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_a_bad_workload_does_not_stop_the_others(tmp_path: Path) -> None:
    bad = workload_doc(name="bad")
    bad["spec"]["slo"]["ttftP95Ms"] = -1
    f = write_yaml(tmp_path, workload_doc(name="good"), bad)
    r = run_cli("recommend", "-f", str(f), "-o", "json")
    assert r.returncode == 2
    assert "document 2 (bad): spec.slo.ttftP95Ms:" in r.stderr
    assert json.loads(r.stdout)["metadata"]["name"] == "good"


def test_no_feasible_placement_exits_3_with_reasons(tmp_path: Path) -> None:
    doc = workload_doc(constraints={"managedApis": []})
    doc["spec"]["slo"]["tpotP95Ms"] = "0.2"
    r = run_cli("recommend", "-f", str(write_yaml(tmp_path, doc)))
    assert r.returncode == 3
    assert "no priced placement meets the SLOs" in r.stdout and "SLO_TPOT_UNMET" in r.stdout


def test_an_api_offered_when_no_chip_meets_the_slos_says_its_latency_is_unknown(tmp_path: Path) -> None:
    # No chip reaches a 0.2 ms TPOT; Bedrock serves the model but nobody measured its latency: nothing is
    # known to meet the SLOs, so exit 3, with Bedrock listed (latency unknown) but not recommended.
    doc = workload_doc(model="meta-llama/Llama-3.3-70B-Instruct")
    doc["spec"]["slo"]["tpotP95Ms"] = "0.2"
    r = run_cli("recommend", "-f", str(write_yaml(tmp_path, doc)), "-o", "json")
    assert r.returncode == 3, r.stderr
    st = json.loads(r.stdout)["status"]
    assert "recommendation" not in st
    (api,) = [a for a in st["alternatives"] if a["kind"] == "managed-api"]
    assert api["nodePool"] == "bedrock" and api["managedApi"]["latency"].startswith("unknown")
    table = run_cli("recommend", "-f", str(write_yaml(tmp_path, doc)))
    assert table.returncode == 3 and "? = latency unknown" in table.stdout
    # Measured by the team, above the objective: the API is rejected with the measured figure.
    doc["spec"]["measuredApiLatency"] = [{"provider": "bedrock", "ttftP95Ms": 600, "tpotP95Ms": "21.5",
                                          "source": "llmperf from us-east-1, 2026-11-20"}]
    st = json.loads(run_cli("recommend", "-f", str(write_yaml(tmp_path, doc)), "-o", "json").stdout)["status"]
    (rej,) = [x for x in st["rejected"] if x["nodePool"] == "bedrock"]
    assert rej["reason"] == "SLO_TPOT_UNMET" and "TPOT p95 21.5 ms as measured (llmperf" in rej["message"]
    # Within the objectives: recommendable, with the measured figures in the status.
    doc["spec"]["slo"]["tpotP95Ms"] = 60
    r = run_cli("recommend", "-f", str(write_yaml(tmp_path, doc)), "-o", "json")
    rec = json.loads(r.stdout)["status"]["recommendation"]
    assert r.returncode == 0 and rec["kind"] == "managed-api"
    assert (rec["managedApi"]["measuredTtftP95Ms"], rec["managedApi"]["measuredTpotP95Ms"]) == ("600.0", "21.50")


def test_an_impossible_ttft_exits_3_even_with_an_api_offered(tmp_path: Path) -> None:
    example = _workload_doc(ROOT / "examples" / "01-steady-chat-llama-3.1-8b" / "workload.yaml")
    example["spec"]["slo"]["ttftP95Ms"] = "0.8"
    r = run_cli("recommend", "-f", str(write_yaml(tmp_path, example)))
    assert r.returncode == 3 and "no priced placement meets the SLOs" in r.stdout
    assert "bedrock API" in r.stdout and "? = latency unknown" in r.stdout  # listed, not recommended


def test_managed_apis_flag_replaces_the_specs_list(tmp_path: Path) -> None:
    doc = workload_doc(model="meta-llama/Llama-3.3-70B-Instruct")
    f = write_yaml(tmp_path, doc)
    with_api = json.loads(run_cli("recommend", "-f", str(f), "-o", "json").stdout)["status"]
    assert any(a["kind"] == "managed-api" for a in with_api["alternatives"])
    r = run_cli("recommend", "-f", str(f), "-o", "json", "--managed-apis", "none")
    st = json.loads(r.stdout)["status"]
    assert r.returncode == 0 and not any(a["kind"] == "managed-api" for a in st["alternatives"])
    assert not any(x["nodePool"] == "bedrock" for x in st["rejected"])
    r = run_cli("recommend", "-f", str(f), "--managed-apis", "bedrock,openai")
    assert r.returncode == 2 and "--managed-apis: 'bedrock,openai': give none or a comma-separated list of" in r.stderr
    r = run_cli("plan", "--from-cluster", "--managed-apis", "none")
    assert r.returncode == 2 and "--managed-apis applies to manifests answered here" in r.stderr


def test_a_model_name_in_any_case_gives_the_same_answer(tmp_path: Path) -> None:
    example = ROOT / "examples" / "06-speculative-decoding-llama-3.3-70b" / "workload.yaml"
    lower = _workload_doc(example)
    lower["spec"]["model"]["name"] = lower["spec"]["model"]["name"].lower()
    a = json.loads(run_cli("recommend", "-f", str(example), "-o", "json", "--as-of", "2026-12-01").stdout)["status"]
    b = json.loads(run_cli("recommend", "-f", str(write_yaml(tmp_path, lower)), "-o", "json", "--as-of",
                           "2026-12-01").stdout)["status"]
    assert a == b
    typo = dict(lower, spec=dict(lower["spec"], model={"name": "meta-llama/llama-3.3-70b-instrct"}))
    r = run_cli("recommend", "-f", str(write_yaml(tmp_path, typo)))
    assert r.returncode == 2 and "did you mean: meta-llama/Llama-3.3-70B-Instruct" in r.stderr


def test_price_override_file_errors(tmp_path: Path) -> None:
    prices = tmp_path / "p.yaml"
    prices.write_text(yaml.safe_dump({"prices": [{"instanceType": "trn9.huge", "capacityType": "on-demand",
                                                  "usdPerHour": "1", "source": "x y z", "date": "2026-01-01"}]}))
    r = run_cli("recommend", "-f", str(write_yaml(tmp_path, workload_doc())), "--prices", str(prices))
    assert r.returncode == 2 and "prices[0].instanceType: unknown instance type 'trn9.huge'" in r.stderr
    prices.write_text(yaml.safe_dump({"prices": [{"instanceType": "trn2.48xlarge", "capacityType": "on-demand",
                                                  "usdPerHour": 0, "source": "x y z", "date": "2026-01-01"}]}))
    r = run_cli("recommend", "-f", str(write_yaml(tmp_path, workload_doc())), "--prices", str(prices))
    assert r.returncode == 2 and "prices[0].usdPerHour: must be > 0" in r.stderr


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_plot(tmp_path: Path, suffix: str) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / f"plot{suffix}"
    r = run_cli("recommend", "-f", str(EXAMPLES[0]), "--plot", str(out))
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data[:2000]
    assert len(data) > 5000


def test_plot_rejects_other_formats(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    r = run_cli("recommend", "-f", str(EXAMPLES[0]), "--plot", str(tmp_path / "x.jpg"))
    assert r.returncode == 2 and "must end in .svg or .png" in r.stderr
