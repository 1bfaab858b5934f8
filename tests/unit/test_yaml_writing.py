"""What inferplace writes as YAML, kubectl reads back as written: strings go-yaml would take for numbers,
booleans or null are quoted (PyYAML alone wrote `211e01` plain; kubectl read the number 2110 and refused the
label)."""

from __future__ import annotations

import pytest
import yaml

from inferplace.api.documents import documents
from inferplace.api.writing import dump_all

pytestmark = pytest.mark.unit

LOOK_LIKE_SOMETHING_ELSE = ["211e01", "1e5", "12345e67", "0o17", "0x1F", "0b101", "+12", "-1_000", ".5",
                            "1.5e-3", "true", "False", "yes", "off", "~", "null", "Null", "012345", "-.inf", ".NaN"]
# 123456e78901 overflows a float64: go-yaml keeps it a string.
PLAIN = ["4f243a618f01", "123456e78901", "abc", "1.2.3", "v1", "e5", "p4d.24xlarge", "2026-12-01"]


@pytest.mark.parametrize("text", LOOK_LIKE_SOMETHING_ELSE + PLAIN)
def test_a_string_comes_back_a_string_as_kubectl_reads_it(text: str) -> None:
    doc = {"metadata": {"labels": {"inferplace.io/recommendation": text}}, "spec": {"values": [text]}}
    [read] = documents(dump_all([doc]).encode())
    assert read.problem is None and read.value == doc


@pytest.mark.parametrize("text", LOOK_LIKE_SOMETHING_ELSE)
def test_pyyaml_alone_would_have_lost_some_of_them(text: str) -> None:
    # Why the writer exists: what PyYAML writes plain, go-yaml may read as a number (the e2e run id 211e01).
    written = yaml.safe_dump({"v": text})
    if written.strip() == f"v: {text}":
        [read] = documents(written.encode())
        assert read.value["v"] != text
    assert dump_all([{"v": text}]).strip() == f"v: '{text}'"


def test_other_values_and_plain_strings_are_written_as_pyyaml_writes_them() -> None:
    doc = {"a": 1, "b": 0.5, "c": True, "d": None, "e": PLAIN, "f": "two\nlines"}
    assert dump_all([doc], default_flow_style=False) == yaml.dump_all([doc], Dumper=yaml.SafeDumper,
                                                                       sort_keys=False, default_flow_style=False)
