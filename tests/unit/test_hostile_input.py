"""Every class of hostile input (issue 15) gets a bounded, clear answer: exit 2 with one line per problem
naming the field and the line, the valid workloads in the same input still answered, never a
traceback, a hang or a silent misreading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferplace.api.documents import MAX_BYTES, MAX_DEPTH, documents
from inferplace.metrics.profiles import VLLM, expression
from inferplace.metrics.promql import SelectorError, check_label_name, selector, window

from ..support.cli import run_cli
from ..support.manifests import workload_doc

GOOD = yaml.safe_dump(workload_doc(name="good")).encode()


def _file(tmp_path: Path, data: bytes, name: str = "w.yaml") -> Path:
    f = tmp_path / name
    f.write_bytes(data)
    return f


def _with_bad(tmp_path: Path, bad: bytes) -> subprocess.CompletedProcess[str]:
    """The good workload, then a bad document: the good one must still be answered."""
    return run_cli("recommend", "-f", str(_file(tmp_path, GOOD + b"---\n" + bad)), "-o", "json")


def _answered_good(r: subprocess.CompletedProcess[str]) -> None:
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    assert json.loads(r.stdout)["metadata"]["name"] == "good"


def _doc(**metadata: str) -> bytes:
    head = "".join(f"  {k}: {v}\n" for k, v in metadata.items())
    body = yaml.safe_dump(workload_doc(name="bad")["spec"], default_flow_style=True)
    text = f"apiVersion: inferplace.io/v1alpha1\nkind: InferenceWorkload\nmetadata:\n  name: bad\n{head}spec: {body}"
    return text.encode()


@pytest.mark.parametrize(("value", "says"), [
    ("{count: 12}", "metadata.labels.count: must be a string"),  # Kubernetes labels are strings
    ("{n: " + "9" * 5000 + "}", "(key 'false') is not a label value"),  # kubectl: `n` is false, 5000 digits text
    ("{f: !!float abc}", "metadata.labels.f: cannot be read: cannot decode !!str `abc` as a !!float"),
    ("{i: !!int 0b102}", "metadata.labels.i: cannot be read"),
    ("{t: !!timestamp xyz}", "metadata.labels.t: cannot be read"),
    ("{b: !!binary aGVsbG8}", "metadata.labels.b: cannot be read: !!binary value contains invalid base64"),
    ("{d: !!timestamp 2001-02-29}", "metadata.labels.d: cannot be read: cannot decode !!str `2001-02-29` as"),
    ("{s: !!set {a, b}}", "metadata.labels.s: must be a string"),  # a mapping to kubectl: {a: null, b: null}
    ("{m: !!map [1]}", "metadata.labels.m: must be a string"),  # a list to kubectl: tags on collections ignored
], ids=["number-label", "5000-digit-label", "float-abc", "int-0b102", "timestamp-xyz", "binary-not-base64",
        "timestamp-no-such-day", "set", "map-tag-on-a-list"])
def test_values_the_loader_cannot_build_are_reported_with_path_and_line(tmp_path: Path, value: str,
                                                                        says: str) -> None:
    r = _with_bad(tmp_path, _doc(labels=value))
    _answered_good(r)
    assert says in r.stderr, r.stderr
    assert "(line " in r.stderr or "must be a string" in r.stderr or "not a label value" in r.stderr


def test_a_date_stays_a_string_as_kubernetes_stores_it(tmp_path: Path) -> None:
    r = run_cli("recommend", "-f", str(_file(tmp_path, _doc(labels="{day: 2001-13-45, ok: 2026-01-01}"))),
                "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["metadata"]["labels"] == {"day": "2001-13-45", "ok": "2026-01-01"}


def test_deep_nesting_and_alias_bombs_are_refused_before_anything_is_built(tmp_path: Path) -> None:
    deep = b"a: " + b"[" * 500 + b"]" * 500 + b"\n"
    r = _with_bad(tmp_path, deep)
    _answered_good(r)
    assert f"nested deeper than {MAX_DEPTH} levels" in r.stderr
    laughs = b"a: &a [x,x,x,x,x,x,x,x,x]\n" + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n".encode() for i in range(8))
    for where in (laughs, b"apiVersion: inferplace.io/v1alpha1\nkind: &k [" + b"x," * 9 + b"]\n" + laughs):
        r = _with_bad(tmp_path, where)
        _answered_good(r)
        assert "expands to more than" in r.stderr and "(aliases)" in r.stderr
    r = _with_bad(tmp_path, b"a: &a [*a]\n")
    _answered_good(r)
    assert "an alias contains itself" in r.stderr


def test_an_alias_bomb_as_a_decimal_value_is_refused_not_printed(tmp_path: Path) -> None:
    bomb = b"x: &a [l,l,l,l,l,l,l,l,l]\n" + b"".join(
        f"y{i}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n".encode() for i in range(8))
    r = _with_bad(tmp_path, bomb + b"spec: {traffic: {requestsPerSecond: *i}}\n")
    _answered_good(r)
    assert len(r.stderr) < 2000


def test_input_size_is_bounded_while_reading() -> None:
    r = run_cli("recommend", "-f", "/dev/zero")
    assert r.returncode == 2 and f"larger than {MAX_BYTES // (1024 * 1024)} MiB" in r.stderr


def test_duplicate_keys_are_refused_with_both_lines(tmp_path: Path) -> None:
    doc = workload_doc(name="dup")
    text = yaml.safe_dump(doc, sort_keys=False).replace("requestsPerSecond: 10",
                                                        "requestsPerSecond: 60\n    requestsPerSecond: 6000")
    r = _with_bad(tmp_path, text.encode())
    _answered_good(r)
    assert "spec.traffic.requestsPerSecond: duplicate key 'requestsPerSecond' (lines" in r.stderr


@pytest.mark.parametrize(("data", "says"), [
    (b"a: 1\nb: \x00\n", "column 4: a NUL byte"),
    (b"a: 1\nb: \xff\xfe\n", "column 4: not UTF-8"),
    (b"a: [1\n", "not valid YAML"),
    (b"kind: x\n? {}\n: 1\n", "a key must be a plain value (a string)"),  # found by the property suite
    (b"kind: x\n<<: 5\n", "a merge (`<<`) needs a mapping or a list of mappings"),
], ids=["nul", "not-utf8", "syntax", "mapping-as-key", "merge-of-a-scalar"])
def test_one_broken_document_does_not_sink_the_rest(tmp_path: Path, data: bytes, says: str) -> None:
    r = _with_bad(tmp_path, data)
    _answered_good(r)
    assert "document 2:" in r.stderr and says in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_one_broken_file_of_a_directory_does_not_sink_the_others(tmp_path: Path) -> None:
    _file(tmp_path, GOOD, "a.yaml")
    _file(tmp_path, b"\xff\xfe not yaml", "b.yaml")
    r = run_cli("recommend", "-f", str(tmp_path), "-o", "json")
    _answered_good(r)
    assert "b.yaml" in r.stderr


@pytest.mark.parametrize(("field", "value", "says"), [
    ("replicas", True, "spec.current.replicas: must be an integer"),
    ("replicas", "8", "spec.current.replicas: must be an integer"),
    ("replicas", "1_000", "spec.current.replicas: must be an integer"),
    ("rps", "  60  ", "spec.traffic.requestsPerSecond:"),
    ("rps", "00060.5000000000001", "spec.traffic.requestsPerSecond:"),
    ("rps", "0.000000000000000000000000001", "spec.traffic.requestsPerSecond:"),
    ("util", "1e-301", "spec.economics.targetUtilization:"),
    ("autoscale", "yes", "spec.scaling.autoscale:"),
])
def test_the_cli_refuses_what_the_crd_refuses(tmp_path: Path, field: str, value: object, says: str) -> None:
    doc = workload_doc(name="strict", current={"instanceType": "p5.48xlarge", "replicas": 2, "chipsPerReplica": 1})
    if field == "replicas":
        doc["spec"]["current"]["replicas"] = value
    elif field == "rps":
        doc["spec"]["traffic"]["requestsPerSecond"] = value
    elif field == "util":
        doc["spec"]["economics"] = {"targetUtilization": value}
    else:
        doc["spec"]["scaling"] = {"autoscale": value}
    r = _with_bad(tmp_path, yaml.safe_dump(doc).encode())
    _answered_good(r)
    assert says in r.stderr, r.stderr


def test_extreme_but_valid_decimals_get_an_answer(tmp_path: Path) -> None:
    for spec in ({"traffic": {"requestsPerSecond": "0.000000001", "promptTokens": {"mean": 1000},
                              "outputTokens": {"mean": 200}}},
                 {"economics": {"targetUtilization": "0.000000001"}},
                 {"traffic": {"requestsPerSecond": 1000000, "promptTokens": {"mean": 100000},
                              "outputTokens": {"mean": 31072}}}):
        doc = workload_doc(name="edge")
        doc["spec"].update(spec)
        r = run_cli("recommend", "-f", str(_file(tmp_path, yaml.safe_dump(doc).encode())), "-o", "json")
        assert r.returncode in (0, 3), r.stderr  # a recommendation, or the reasons there is none
        assert "Traceback" not in r.stderr and json.loads(r.stdout)["status"]["conditions"]


def test_a_request_longer_than_the_models_context_is_refused_naming_the_fields(tmp_path: Path) -> None:
    doc = workload_doc(name="long")
    doc["spec"]["traffic"] = {"requestsPerSecond": 1, "promptTokens": {"mean": 1000, "p95": 10_000_000},
                              "outputTokens": {"mean": 200}}
    r = run_cli("recommend", "-f", str(_file(tmp_path, yaml.safe_dump(doc).encode())))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert ("spec.traffic.promptTokens + spec.traffic.outputTokens: 10,000,000 + 200 tokens (each its p95, else its "
            "mean) exceed the 131,072-token context of meta-llama/Llama-3.1-8B") in r.stderr


@pytest.mark.parametrize(("moe", "context", "says"), [
    ({"experts": 8, "topK": 2, "expertIntermediateSize": 14336, "denseLayers": 32}, 32768,
     "moe.denseLayers (32) must be fewer than layers (32)"),
    (None, 128, "spec.model.architecture.maxContext: must be >= 1024"),
])
def test_an_architecture_that_cannot_exist_is_refused(tmp_path: Path, moe: Any, context: int, says: str) -> None:
    arch: dict[str, Any] = {"layers": 32, "hiddenSize": 4096, "heads": 32, "kvHeads": 8, "intermediateSize": 14336,
                            "vocabSize": 32000, "maxContext": context}
    if moe:
        arch["moe"] = moe
    doc = workload_doc(name="arch")
    doc["spec"]["model"] = {"architecture": arch, "family": "mixtral", "weightPrecision": "bf16"}
    doc["spec"]["traffic"] = {"requestsPerSecond": 1, "promptTokens": {"mean": 100}, "outputTokens": {"mean": 20}}
    r = run_cli("recommend", "-f", str(_file(tmp_path, yaml.safe_dump(doc).encode())))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert says in r.stderr, r.stderr


def test_nan_and_inf_are_told_apart_from_quoting_advice(tmp_path: Path) -> None:
    r = _with_bad(tmp_path, _doc().replace(b"requestsPerSecond: 10", b"requestsPerSecond: .nan"))
    _answered_good(r)
    assert "is not a number Kubernetes can store" in r.stderr and 'e.g. "nan"' not in r.stderr


def test_long_values_are_cut_in_messages(tmp_path: Path) -> None:
    doc = workload_doc(name="long")
    doc["spec"]["model"]["weightPrecision"] = "x" * 100_000
    r = _with_bad(tmp_path, yaml.safe_dump(doc).encode())
    _answered_good(r)
    assert len(r.stderr) < 3000


def test_price_files_are_read_by_the_same_reader(tmp_path: Path) -> None:
    base = ["recommend", "-f", str(_file(tmp_path, GOOD)), "--prices"]
    for text, says in (
        ("prices:\n- {instanceType: p5.48xlarge, capacityType: on-demand, usdPerHour: '5000', source: quote q,"
         " date: 2026-11-01}\n", None),  # within the documented range of both models
        ("prices:\n- {instanceType: p5.48xlarge, capacityType: on-demand, usdPerHour: '1', source: quote,"
         " date: 2026-13-45}\n", "prices[0].date:"),
        ("prices: []\nprices: []\n", "duplicate key 'prices'"),
        ("prices: !!binary aGVsbG8\n", "!!binary value contains invalid base64 data"),
    ):
        rates = _file(tmp_path, text.encode(), "rates.yaml")
        r = run_cli(*base, str(rates), "-o", "json")
        assert "Traceback" not in r.stderr
        if says is None:
            assert r.returncode == 0, r.stderr
        else:
            assert r.returncode == 2 and says in r.stderr, r.stderr


def test_csv_cells_over_the_limit_and_nul_bytes_are_reported(tmp_path: Path) -> None:
    head = "scenario_id,model,accelerator,output_tokens,load\n"
    big = _file(tmp_path, (head + "1,a,h100,10,offline\n2," + "x" * 150_000 + ",h100,10,offline\n").encode(), "s.csv")
    r = run_cli("estimate", "--scenarios", str(big))
    assert r.returncode == 2 and "line 3: field larger than field limit" in r.stderr
    nul = _file(tmp_path, (head + "1,a\x00,h100,10,offline\n").encode(), "n.csv")
    r = run_cli("estimate", "--scenarios", str(nul))
    assert r.returncode == 2 and "line 2: a NUL byte" in r.stderr


def test_a_scenario_id_with_a_carriage_return_keeps_its_row(tmp_path: Path) -> None:
    """Found by the property suite: Python 3.11's csv left a lone CR unquoted, splitting the row in two."""
    import csv  # noqa: PLC0415

    head = "scenario_id,model,accelerator,output_tokens,load\n"
    f = _file(tmp_path, (head + '"a\rb",nope,h100,10,offline\n').encode(), "s.csv")
    out = tmp_path / "out.csv"
    r = run_cli("estimate", "--scenarios", str(f), "--out", str(out))
    assert r.returncode == 3 and "'a\\rb': unknown model" in r.stderr, r.stderr
    rows = list(csv.DictReader(out.open(newline="")))
    assert [row["scenario_id"] for row in rows] == ["a\rb"]


def test_promql_placeholders_reserved_names_and_anchors() -> None:
    q = VLLM["requests_per_second"]
    # A selector value holding a placeholder stays as written (one pass, no re-substitution).
    expr = expression(q, selector({"namespace": "x{w}"}), "5m", ("namespace",))
    assert 'namespace="x{w}"' in expr and "[5m]" in expr
    for name in ("__name__", "__meta_x"):
        with pytest.raises(SelectorError, match="reserved"):
            check_label_name(name)
    with pytest.raises(SelectorError):
        check_label_name("namespace\n")
    with pytest.raises(SelectorError):
        window("5m\n")


def test_documents_are_split_and_located_like_kubectl_does() -> None:
    docs = documents(b"# comment\n---\na: 1\n--- # second\nb: 2\n---\n\n")
    assert [(d.line, d.value) for d in docs] == [(3, {"a": 1}), (5, {"b": 2})]


def test_the_documented_loader_is_the_only_one_the_product_uses() -> None:
    src = Path(__file__).resolve().parents[2] / "operator" / "src" / "inferplace"
    users = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.py")
                   if "load_all(" in p.read_text() or "CSafeLoader" in p.read_text() or "SafeLoader" in p.read_text())
    # construction's loaders read users' manifests (used by api/documents.py alone); data_files' reads the
    # package's own data files (dates and all), never anything a user wrote
    assert users == ["api/construction.py", "api/data_files.py"], users
    users = sorted(p.relative_to(src).as_posix() for p in src.rglob("*.py") if "loader_for(" in p.read_text())
    assert users == ["api/construction.py", "api/documents.py"], users
    assert sys.version_info >= (3, 11)


def test_odd_keys_are_quoted_in_paths_and_every_problem_names_its_document(tmp_path: Path) -> None:
    """Found by the property suite: a key holding a newline split its message in two; an unknown model
    was reported as `bad: ...` where parse problems said `document 2 (bad): ...`."""
    doc = workload_doc(name="bad")
    doc["spec"]["traffic"]["a\nb"] = 1
    r = _with_bad(tmp_path, yaml.safe_dump(doc).encode())
    _answered_good(r)
    assert r.stderr.strip().splitlines() == [
        "error: document 2 (bad): spec.traffic['a\\nb']: unknown field; allowed: outputTokens, peakToMeanRatio, "
        "profile, promptTokens, requestsPerSecond"]
    unknown = workload_doc(name="bad", model="no/such-model")
    r = _with_bad(tmp_path, yaml.safe_dump(unknown).encode())
    _answered_good(r)
    assert r.stderr.startswith("error: document 2 (bad): spec.model.name: unknown model 'no/such-model'")


@pytest.mark.parametrize(("flags", "says"), [
    (["--deployment", "UPPER"], "--deployment 'UPPER' is not a Deployment name"),
    (["--container", ""], "--container '' is not a container name"),  # not the default, silently
    (["--node-role", ""], "--node-role '' is not an IAM role name"),
    (["--cluster-name", "bad name!"], "--cluster-name 'bad name!' is not an EKS cluster name"),
    (["--cluster-name", "a" * 60], "the default 'KarpenterNodeRole-aaaa"),
    (["--from-cluster", "-n", "Bad_NS"], "-n/--namespace 'Bad_NS' is not a namespace"),
])
def test_render_names_are_checked_before_anything_is_written(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            flags: list[str], says: str) -> None:
    from inferplace.cli.main import main  # noqa: PLC0415

    source = [] if "--from-cluster" in flags else ["-f", str(_file(tmp_path, GOOD))]
    assert main(["render", *source, "--out", str(tmp_path / "out"), *flags]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_render_keeps_envsubst_placeholders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from inferplace.cli.main import main  # noqa: PLC0415

    example = Path(__file__).parents[2] / "examples" / "01-steady-chat-llama-3.1-8b" / "workload.yaml"
    assert main(["render", "-f", str(example), "--cluster-name", "${CLUSTER}", "--node-role", "Nodes-${CLUSTER}"]) == 0
    assert "role: Nodes-${CLUSTER}" in capsys.readouterr().out
