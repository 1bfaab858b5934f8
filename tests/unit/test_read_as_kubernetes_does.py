"""What a manifest means is what it means to kubectl and the API server (issue 15): YAML scalars as
go-yaml v2 resolves them, the API server's null pruning and integer encoding, and decimal bounds the
CRD enforces as the models do. The expected values below were read with kubectl's own reader
(tests/e2e/test_yaml_reading_parity.py compares thousands more against it) and the real API server
(tests/e2e/test_strictness_parity.py)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from inferplace.api.crd import build_crd
from inferplace.api.documents import documents
from inferplace.api.scalars import key_text
from inferplace.api.stored import as_stored
from inferplace.cli.inputs import manifests

from ..support.manifests import workload_doc

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("text", "value"), [
    ("09", 9.0), ("1e3", 1000.0), ("y", True), ("n", False), ("On", True), ("yEs", "yEs"), ("0o17", 15),
    ("00060", 48), ("1_000", 1000), ("0b101", 5), ("-0b101", -5), ("0b102", "0b102"), ("1e400", "1e400"),
    ("1e-400", 0.0), (".5", 0.5), ("._5", "._5"), (".1_0", 0.1), ("18446744073709551615", 2**64 - 1),
    ("18446744073709551616", 1.8446744073709552e19), ("=", "="), ("2001-12-14", "2001-12-14"), ("0x", "0x"),
    ("0x1F", 31), ("+1", 1), ("1.", 1.0), ("1e-301", 1e-301), ("~", None), ("12:30", "12:30"), ("'09'", "09"),
])
def test_plain_scalars_are_read_as_kubectl_reads_them(text: str, value: Any) -> None:
    (doc,) = documents(f"a: {text}\n".encode())
    assert doc.problem is None
    assert doc.value == {"a": value} and type(doc.value["a"]) is type(value)


def test_keys_become_the_strings_kubectl_makes_of_them() -> None:
    (doc,) = documents(b"{1: a, yes: b, 1.5: c, 1e6: d, 0.00001: e, 123456.789: f, 2001-12-14: g}")
    assert doc.value == {"1": "a", "true": "b", "1.5": "c", "1e+06": "d", "1e-05": "e", "123456.79": "f",
                         "2001-12-14": "g"}
    assert [key_text(k) for k in (3.4e39, -2.5e-7, 100000.0, 16777217.0)] == [
        ".inf", "-2.5e-07", "100000", "1.6777216e+07"]  # float32 'g', as sigs.k8s.io/yaml writes them


def test_keys_kubectl_holds_apart_are_kept_apart() -> None:
    (doc,) = documents(b"0: a\n-0.0: b\n.inf: c\n.nan: d")  # an int zero is not a float zero to Go
    assert doc.problem is None and doc.value == {"0": "a", "-0": "b", ".inf": "c", ".nan": "d"}


@pytest.mark.parametrize(("text", "says"), [
    ("~: x", "a key cannot be null"),
    ("9223372036854775808: x", "cannot be a JSON key"),
    ("true: a\nyes: b", "duplicate key 'true' (lines 1 and 2)"),  # one key to kubectl: refused, not last-wins
    ("0.0: a\n-0.0: b", "duplicate key '-0' (lines 1 and 2)"),  # equal Go floats: one map key to go-yaml
    ("&k x: a\n*k : b", "duplicate key 'x' (lines 1 and 2)"),  # the alias's line, not its anchor's
    ("-0.0: a\n'-0': b", "duplicate key '-0' (lines 1 and 2)"),  # one JSON text
    ("a: !!int abc", "cannot decode !!str `abc` as a !!int"),
])
def test_what_kubectl_cannot_read_or_would_read_silently_is_refused(text: str, says: str) -> None:
    (doc,) = documents(text.encode())
    assert doc.problem is not None and says in doc.problem, doc.problem


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    f = tmp_path / "w.yaml"
    f.write_text(yaml.safe_dump(doc))
    return f


def _spec() -> dict[str, Any]:
    return copy.deepcopy(workload_doc(name="w"))


def test_explicit_nulls_are_dropped_where_the_schema_has_the_field_as_the_api_server_does() -> None:
    doc = _spec()
    doc["spec"]["slo"]["e2eP95Ms"] = None
    doc["spec"]["constraints"] = None
    written = copy.deepcopy(doc)
    stored = as_stored(doc)
    assert "e2eP95Ms" not in stored["spec"]["slo"] and "constraints" not in stored["spec"]
    assert doc == written  # the document as written is kept


def test_a_null_under_an_unknown_key_is_kept_and_refused(tmp_path: Path) -> None:
    doc = _spec()
    doc["spec"]["slo"]["e2eP95"] = None
    assert as_stored(doc)["spec"]["slo"] == doc["spec"]["slo"]
    found, problems = manifests([_write(tmp_path, doc)])
    assert not found and "spec.slo.e2eP95" in problems[0], problems


def test_integral_floats_are_integers_as_kubectl_sends_them_and_others_stay_floats() -> None:
    doc = _spec()
    doc["spec"]["traffic"]["promptTokens"] = {"mean": 1000.0, "p95": 2e3}
    doc["spec"]["traffic"]["requestsPerSecond"] = 0.5
    stored = as_stored(doc)["spec"]["traffic"]
    assert stored["promptTokens"] == {"mean": 1000, "p95": 2000}
    assert all(type(v) is int for v in stored["promptTokens"].values())
    assert stored["requestsPerSecond"] == 0.5


def test_the_cli_accepts_what_kubectl_applies(tmp_path: Path) -> None:
    doc = _spec()
    doc["spec"]["slo"]["e2eP95Ms"] = None
    doc["spec"]["traffic"]["promptTokens"] = {"mean": 1000.0, "p95": 2e3}
    found, problems = manifests([_write(tmp_path, doc)])
    assert problems == []
    assert found[0].workload.spec.traffic.prompt_tokens.mean == 1000
    assert found[0].workload.spec.slo.e2e_p95_ms is None


def _decimal_nodes(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if node.get("x-kubernetes-int-or-string"):
            out.append((path, node))
        for key in ("properties",):
            for name, child in node.get(key, {}).items():
                out += _decimal_nodes(child, f"{path}.{name}")
        if "items" in node:
            out += _decimal_nodes(node["items"], f"{path}[]")
    return out


def test_every_bounded_decimal_in_the_crd_carries_its_bounds_on_both_forms() -> None:
    spec = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    nodes = dict(_decimal_nodes(spec))
    rps = nodes[".traffic.requestsPerSecond"]
    assert (rps["minimum"], rps["exclusiveMinimum"], rps["maximum"]) == (0, True, 1_000_000)
    assert rps["x-kubernetes-validations"][0]["message"] == "must be greater than 0 and at most 1000000"
    assert "quantity(self).compareTo(quantity('1000000')) <= 0" in rps["x-kubernetes-validations"][0]["rule"]
    retry = nodes[".economics.retryRate"]
    assert retry["exclusiveMaximum"] is True and retry["maximum"] == 1
    assert nodes[".traffic.profile[]"]["maximum"] == 10**15 - 1
    assert "x-kubernetes-validations" not in nodes[".traffic.profile[]"]  # 0..MAX: the pattern says it all
    bounded = [p for p, n in nodes.items() if n.get("minimum", 0) != 0 or n.get("maximum") != 10**15 - 1
               or n.get("exclusiveMinimum") or n.get("exclusiveMaximum")]
    assert len(bounded) >= 15
    assert all("x-kubernetes-validations" in nodes[p] for p in bounded), bounded


@pytest.mark.parametrize(("value", "accepted"), [
    ("0", False), ("0.000000001", True), ("1000000", True), ("1000000.000000001", False), (1000001, False),
    (1_000_000, True), (0, False), (1e3, True), (0.5, False),
])
def test_the_cli_applies_the_bounds_the_crd_applies(tmp_path: Path, value: Any, accepted: bool) -> None:
    doc = _spec()
    doc["spec"]["traffic"]["requestsPerSecond"] = value
    f = tmp_path / "w.json"
    f.write_text(json.dumps(doc))
    found, problems = manifests([f])
    assert bool(found) is accepted, problems
    if not accepted:
        assert "spec.traffic.requestsPerSecond" in problems[0]


def test_a_word_kubectl_reads_as_a_boolean_gets_advice_to_quote_it(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text(yaml.safe_dump(_spec()).replace("name: w", "name: n"))  # PyYAML writes `n` unquoted
    found, problems = manifests([f])
    assert not found
    assert "metadata.name: must be a string (unquoted y/n/yes/no/on/off/true/false are booleans" in problems[0]


@pytest.mark.parametrize(("text", "value"), [
    ("a: !!map [1]", {"a": [1]}),  # go-yaml ignores tags on collections (PyYAML raised here: a traceback)
    ("a: !!seq x", {"a": "x"}),
    ("a: !!set {x, y}", {"a": {"x": None, "true": None}}),
    ("a: !!omap [{x: 1}]", {"a": [{"x": 1}]}),
    ("a: !foo 12", {"a": "12"}),  # an unknown tag leaves the text
    ("a: ! 12", {"a": "12"}),  # so does the bare `!` (PyYAML would resolve 12)
    ("a: !!merge x", {"a": "x"}),
    ("a: !!timestamp 2001-12-14 21:59:43.10", {"a": "2001-12-14 21:59:43.10"}),  # the text, not a datetime
    ("a: !!timestamp 2000-02-29", {"a": "2000-02-29"}),
    ("a: !!binary aGVsbG8=", {"a": "hello"}),
    ("a: !!binary /w==", {"a": "\ufffd"}),  # a byte that is not UTF-8, as Go's JSON writes it
    ("!!binary aGVsbG8=: v", {"hello": "v"}),
    ("x: {p: &m {a: 1}}\ny: {<<: *m, b: 2}", {"x": {"p": {"a": 1}}, "true": {"a": 1, "b": 2}}),
    ("y: {<<: [{a: 1}, {a: 2}]}", {"true": {"a": 1}}),  # a list of merges: the first wins
    ("y: {<<: {a: 1}, a: 2}", {"true": {"a": 2}}),  # the mapping's own key after the merge wins
], ids=lambda v: v if isinstance(v, str) else "")
def test_tags_and_merges_are_read_as_kubectl_reads_them(text: str, value: Any) -> None:
    (doc,) = documents(text.encode())
    assert doc.problem is None and doc.value == value, doc.problem


@pytest.mark.parametrize(("text", "says"), [
    ("a: !!timestamp 2001-02-29", "cannot decode !!str `2001-02-29` as a !!timestamp"),  # no such day
    ("a: !!timestamp 2001-12-14T21:59:43", "cannot decode !!str"),  # a `T` needs a zone in go-yaml's layouts
    ("a: !!timestamp 1", "cannot decode !!int `1` as a !!timestamp"),
    ("a: !!binary aGVsbG8", "!!binary value contains invalid base64 data"),
    ("a: !!float 18446744073709551615", "cannot decode !!int"),  # a uint64 to go-yaml: not made a float
    ("y: {a: 1, <<: {a: 2}}", "key 'a' (line 1) is replaced by the merge on line 1"),  # kubectl keeps 2
    ("y: {<<: {0: 1}, 0.0: 2}", "duplicate key '0' (lines 1 and 1): one key to kubectl, which keeps either"),
    ("y: {<<: 5}", "a merge (`<<`) needs a mapping or a list of mappings"),
])
def test_tags_and_merges_kubectl_refuses_or_reads_silently_are_refused(text: str, says: str) -> None:
    (doc,) = documents(text.encode())
    assert doc.problem is not None and says in doc.problem, doc.problem


@pytest.mark.parametrize(("text", "values", "says"), [
    ("a: 1\n--- x\nb: 2\n", [{"a": 1}, None], "'--- x': kubectl reads a line starting with `---` as a document"),
    ("--- |\n  text\n", [None], "invalid Yaml document separator"),  # YAML allows it, kubectl does not
    ("a: 1\n----\n", [{"a": 1}, None], "invalid Yaml document separator"),  # `a` answered on its own
    ("a: 1\n--- # fine\nb: 2\n", [{"a": 1}, {"b": 2}], None),
    ("a: 1\r\n---\r\r\nb: 2\r\n", [{"a": 1}, {"b": 2}], None),  # kubectl trims the line: still a separator
    ("a: 1\n...\nb: 2\n", [{"a": 1}, None], "text after the end of the document: kubectl reads one document"),
    ("'s'\n ---\nb: 2\n", ["s", None], "text after the end of the document"),  # kubectl drops `b` silently
    ("i: |\n  j", [{"i": "j\n"}], None),  # kubectl's line reader ends the last line too
])
def test_files_are_split_as_kubectl_apply_splits_them(text: str, values: list[Any], says: str | None) -> None:
    docs = documents(text.encode())
    assert [d.value for d in docs] == values
    problems = [d.problem for d in docs if d.problem]
    assert (says is None and not problems) or (says is not None and any(says in p for p in problems)), problems
