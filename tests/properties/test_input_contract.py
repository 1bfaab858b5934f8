"""Property-based: generated manifests, price files and scenario rows, mutated in type, size, depth,
encoding and structure, through the CLI's entry points, must keep the input contract:

- the exit code is one of the documented ones (0 answered, 2 bad input, 3 no placement);
- nothing escapes as a traceback (the entry point is called in process, so any exception fails);
- every problem is one bounded line on stderr, and valid documents next to a bad one are still answered;
- each case ends within `CASE_TIMEOUT_S` (a hang guard, not a speed test).

`INFERPLACE_PROPERTY_EXAMPLES` sets the examples per property (CI: a few hundred in all;
`python scripts/fuzz_inputs.py` runs a nightly-sized suite and reports the slowest case and the memory).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inferplace.cli.main import main

from ..support.manifests import workload_doc
from ..support.mutations import mutated

pytestmark = pytest.mark.properties
EXAMPLES = int(os.environ.get("INFERPLACE_PROPERTY_EXAMPLES", "60"))
CASE_TIMEOUT_S = 60
MAX_LINE = 4096
REPORT = os.environ.get("INFERPLACE_PROPERTY_REPORT")
STATS: dict[str, Any] = {"cases": 0, "slowest_s": 0.0, "slowest": "", "slowest_input": "", "exit_codes": {},
                         "rss_before_mb": 0.0, "max_rss_mb": 0.0, "max_rss_raised_by": ""}

COMMON = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("INFERPLACE_PROPERTY_RANDOM"),
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                         HealthCheck.data_too_large])


class _HangError(Exception):
    pass


@contextlib.contextmanager
def _guard(seconds: int) -> Iterator[None]:
    def fire(*_: Any) -> None:
        raise _HangError(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with _guard(CASE_TIMEOUT_S), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's own usage errors
            code = int(exc.code or 0)
    took = time.perf_counter() - started
    STATS["cases"] += 1
    STATS["exit_codes"][code] = STATS["exit_codes"].get(code, 0) + 1
    if STATS["cases"] == 1:  # the first case also loads the catalogs and the engine: reported on its own
        STATS["first_s"] = took
    elif took > STATS["slowest_s"]:
        STATS["slowest_s"], STATS["slowest"], STATS["slowest_input"] = took, " ".join(argv)[:200], _inputs(argv)
    # ru_maxrss only grows: the case that raised it holds the largest memory any case used so far.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not STATS["rss_before_mb"]:
        STATS["rss_before_mb"] = rss
    if rss > STATS["max_rss_mb"]:
        STATS["max_rss_mb"], STATS["max_rss_raised_by"] = rss, _inputs(argv)
    return code, out.getvalue(), err.getvalue()


def _inputs(argv: tuple[str, ...]) -> str:
    """The start of each input file a case read, for the report (the temporary files are gone by then)."""
    shown = [f"{a}: {Path(a).read_bytes()[:240]!r}" for a in argv if a.startswith("/") and Path(a).is_file()]
    return " | ".join(shown)


# `error: document 2 (bad): spec.traffic.requestsPerSecond: ...`, a quoted odd key, or the two whole-document
# problems (not a mapping; the wrong kind/apiVersion).
_LABEL = r"^error: document \d+(?: \((?:[a-z0-9.-]+|'.*?'|\".*?\")\))?: "
NAMES_A_FIELD = re.compile(_LABEL + r"(?:\(document\)|[\w./-]*(?:\[(?:\d+|'.*?'|\".*?\")\][\w./-]*|\.[\w./-]+)*): "
                           r"|" + _LABEL + r"(?:kind/apiVersion|expected an Inference)"
                           r"|" + _LABEL + r"line \d+: (?:'---.*'|\"---.*\"): kubectl reads a line starting with `---`")


def _contract(code: int, err: str, allowed: tuple[int, ...] = (0, 2, 3)) -> None:
    assert code in allowed, (code, err[-2000:])
    assert "Traceback" not in err
    for line in err.splitlines():
        assert len(line) <= MAX_LINE, line[:300]


# --- values and mutations -----------------------------------------------------------------------------

SPLICES = st.sampled_from([b"\x00", b"\xff\xfe", b"---\n", b"&a ", b"*a", b"!!binary ", b"!!set ", b"[" * 70,
                           b"!!seq ", b"!!map ", b"!!timestamp ", b"!!merge ", b"! ", b"!foo ", b"<<: ", b"<<: *a\n",
                           b"\t", b": :", b"'", b'"', b"\n  - ", b"\xef\xbb\xbf", b"%YAML 1.1\n", b"? "])


TAGS = st.sampled_from([b"!!str", b"!!int", b"!!float", b"!!bool", b"!!null", b"!!timestamp", b"!!binary", b"!!map",
                        b"!!seq", b"!!set", b"!!omap", b"!!merge", b"!", b"!foo", b"!<tag:example.com,2000:x>"])


@st.composite
def yaml_bytes(draw: st.DrawFn, docs: list[Any]) -> bytes:
    text = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True).encode()
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + draw(SPLICES) + text[at:]
    # A tag where a value starts (after `: ` or `- `), where a random splice seldom lands.
    starts = [m.end() for m in re.finditer(rb"(?::|^ *-) ", text, re.MULTILINE)]
    for _ in range(draw(st.integers(min_value=0, max_value=2)) if starts else 0):
        at = draw(st.sampled_from(starts))
        text = text[:at] + draw(TAGS) + b" " + text[at:]
        starts = [m.end() for m in re.finditer(rb"(?::|^ *-) ", text, re.MULTILINE)]
    if draw(st.booleans()):
        text = text[: draw(st.integers(min_value=0, max_value=len(text)))]
    return text


GOOD = workload_doc(name="good")


def _write(tmp: Path, name: str, data: bytes) -> str:
    p = tmp / name
    p.write_bytes(data)
    return str(p)


# --- the properties ---------------------------------------------------------------------------------------


@COMMON
@given(bad=mutated(workload_doc(name="bad", current={"instanceType": "p5.48xlarge", "replicas": 2,
                                                     "chipsPerReplica": 1})))
def test_a_mutated_manifest_never_breaks_the_contract(tmp_path: Path, bad: Any) -> None:
    f = _write(tmp_path, "w.yaml", yaml.safe_dump_all([GOOD, bad], sort_keys=False).encode())
    code, out, err = run("recommend", "-f", f, "-o", "json")
    _contract(code, err)
    for line in err.splitlines():  # YAML is valid here: every problem names its field
        assert NAMES_A_FIELD.match(line), line[:300]
    # The good manifest is answered whatever happened to the other.
    body = json.loads(out)
    items = body["items"] if body.get("kind") == "List" else [body]
    assert any(i["metadata"]["name"] == "good" for i in items)


@COMMON
@given(data=st.data())
def test_mutated_yaml_bytes_never_break_the_contract(tmp_path: Path, data: st.DataObject) -> None:
    bad = data.draw(mutated(workload_doc(name="bad")))
    raw = data.draw(yaml_bytes([bad]))
    f = _write(tmp_path, "w.yaml", yaml.safe_dump(GOOD).encode() + b"---\n" + raw)
    code, out, err = run("recommend", "-f", f, "-o", "json")
    _contract(code, err)
    body = json.loads(out)
    items = body["items"] if body.get("kind") == "List" else [body]
    assert any(i["metadata"]["name"] == "good" for i in items)


PRICES = {"prices": [{"instanceType": "p5.48xlarge", "capacityType": "on-demand", "usdPerHour": "40.00",
                      "source": "a negotiated quote", "date": "2026-11-01"}]}


@COMMON
@given(data=st.data())
def test_a_mutated_price_file_never_breaks_the_contract(tmp_path: Path, data: st.DataObject) -> None:
    rates = data.draw(mutated(PRICES))
    raw = data.draw(yaml_bytes([rates]))
    f = _write(tmp_path, "w.yaml", yaml.safe_dump(GOOD).encode())
    p = _write(tmp_path, "rates.yaml", raw)
    code, _, err = run("recommend", "-f", f, "--prices", p, "-o", "json")
    _contract(code, err)
    if code == 2:
        assert err.startswith(("inferplace recommend: --prices", "error:")), err[:300]


HEADER = ["scenario_id", "model", "accelerator", "instance_type", "num_chips", "replicas", "chips_per_replica",
          "weight_dtype", "kv_dtype", "input_tokens", "output_tokens", "batch", "load", "framework", "ttft_slo_ms",
          "tpot_slo_ms"]
ROW = ["s1", "meta-llama/Llama-3.1-8B-Instruct", "h100-sxm", "p5.48xlarge", "1", "1", "1", "fp8", "fp8", "1000",
       "300", "", "server-slo", "vllm", "500", "30"]
CELLS = st.one_of(st.text(max_size=20), st.sampled_from(["", "0", "-1", "1e9", "nan", "x" * 1000, "8", "bf16",
                                                         "trn9", "server-slo", "offline-max", "static-batch"]))


@COMMON
@given(rows=st.lists(st.lists(CELLS, min_size=len(ROW), max_size=len(ROW)), min_size=0, max_size=4))
def test_mutated_scenario_rows_never_break_the_contract(tmp_path: Path, rows: list[list[str]]) -> None:
    import csv  # noqa: PLC0415

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(HEADER)
    w.writerow(ROW)
    w.writerows(rows)
    f = _write(tmp_path, "s.csv", buf.getvalue().encode())
    out_csv = tmp_path / "out.csv"
    code, _, err = run("estimate", "--scenarios", f, "--out", str(out_csv))
    _contract(code, err, (0, 2, 3))  # 3: some rows have an error column (documented), never a traceback
    if code in (0, 3):
        got = list(csv.DictReader(out_csv.open()))
        assert len(got) == 1 + len(rows)  # every row answered, each with its own reason
        assert got[0]["error"] == "" and float(got[0]["output_tok_s_total"]) > 0


def teardown_module() -> None:
    if REPORT:
        Path(REPORT).write_text(json.dumps(STATS, indent=2))
