"""`inferplace estimate` on good and bad input: exit codes, messages, never a traceback."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ..support.cli import run_cli, write_lines

HEADER = ("scenario_id,model,accelerator,instance_type,num_chips,replicas,chips_per_replica,"
          "weight_dtype,kv_dtype,input_tokens,output_tokens,batch,load,framework,ttft_slo_ms,"
          "tpot_slo_ms,quality")


def _write(tmp_path: Path, lines: list[str], header: str = HEADER) -> Path:
    return write_lines(tmp_path, [header, *lines], name="s.csv")


def test_estimates_every_row_and_exits_0(tmp_path: Path) -> None:
    f = _write(tmp_path, [
        "a,meta-llama/Llama-3.1-8B-Instruct,h100-sxm,,1,1,1,fp8,bf16,128,128,,offline-max,trtllm,,,ok",
        "b,meta-llama/Llama-2-7b-hf,inferentia2,inf2.48xlarge,12,1,12,bf16,bf16,128,512,4,"
        "static-batch,neuronx,,,ok",
    ])
    out = tmp_path / "o.csv"
    r = run_cli("estimate", "--scenarios", str(f), "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(out.open()))
    assert [x["scenario_id"] for x in rows] == ["a", "b"]
    assert list(rows[0]) == ["scenario_id", "output_tok_s_total", "ttft_ms_mean", "tpot_ms_mean", "ttft_ms_p50",
                             "tpot_ms_p50", "ttft_ms_p99", "tpot_ms_p99", "bound", "error"]
    for row in rows:
        assert float(row["output_tok_s_total"]) > 0 and row["bound"] and not row["error"]


def test_bad_rows_get_a_reason_and_the_others_are_still_estimated(tmp_path: Path) -> None:
    f = _write(tmp_path, [
        "good,meta-llama/Llama-3.1-8B-Instruct,h100-sxm,,1,1,1,fp8,bf16,128,128,,offline-max,,,,ok",
        "nomodel,acme/NoSuchModel-7B,h100-sxm,,1,1,1,bf16,bf16,128,128,1,static-batch,,,,ok",
        "nochip,meta-llama/Llama-3.1-8B-Instruct,tpu-v9,,1,1,1,bf16,bf16,128,128,1,static-batch,,,,ok",
        "nofit,meta-llama/Llama-3.1-405B-Instruct,h100-sxm,,1,1,1,fp8,bf16,128,128,1,static-batch,,,,ok",
        "badnum,meta-llama/Llama-3.1-8B-Instruct,h100-sxm,,1,1,1,bf16,bf16,many,128,1,static-batch,,,,ok",
        "badload,meta-llama/Llama-3.1-8B-Instruct,h100-sxm,,1,1,1,bf16,bf16,1,128,1,burst,,,,ok",
    ])
    r = run_cli("estimate", "--scenarios", str(f))
    assert r.returncode == 3
    assert "Traceback" not in r.stderr
    rows = {x["scenario_id"]: x for x in csv.DictReader(r.stdout.splitlines())}
    assert float(rows["good"]["output_tok_s_total"]) > 0
    assert "unknown model 'acme/NoSuchModel-7B'" in rows["nomodel"]["error"]
    assert "unknown accelerator 'tpu-v9'; known: a100-40gb" in rows["nochip"]["error"]
    assert rows["nofit"]["error"].startswith("does not fit")
    assert rows["nofit"]["output_tok_s_total"] == ""
    assert "input_tokens must be a number" in rows["badnum"]["error"]
    assert "allowed: static-batch, closed-loop, offline-max, server-slo" in rows["badload"]["error"]


def test_missing_required_column_exits_2_naming_it(tmp_path: Path) -> None:
    f = _write(tmp_path, ["a,meta-llama/Llama-3.1-8B-Instruct,h100-sxm,128"],
               header="scenario_id,model,accelerator,output_tokens")
    r = run_cli("estimate", "--scenarios", str(f))
    assert r.returncode == 2
    assert "missing required column(s): load" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("content", [None, "", "\x00\xff\xfe garbage"])
def test_unreadable_or_empty_input_exits_2(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "missing.csv"
    if content is not None:
        path.write_bytes(content.encode("latin-1"))
    r = run_cli("estimate", "--scenarios", str(path))
    assert r.returncode == 2
    assert "inferplace estimate:" in r.stderr and "Traceback" not in r.stderr


def test_unknown_flag_exits_2_without_traceback() -> None:
    r = run_cli("estimate", "--scenarios", "x.csv", "--frobnicate")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_blank_cells_allowed_where_the_format_allows_them(tmp_path: Path) -> None:
    # MLPerf-style rows: no prompt length, no batch, replicas and chips per replica left blank.
    f = _write(tmp_path, [
        "m,meta-llama/Llama-2-70b-chat-hf,mi300x,,8,,,fp8,bf16,,301,,server-slo,vllm,2000,200,check",
    ])
    r = run_cli("estimate", "--scenarios", str(f))
    assert r.returncode == 0, r.stdout + r.stderr
    row = next(csv.DictReader(r.stdout.splitlines()))
    assert float(row["tpot_ms_p99"]) <= 200 * 1.01


def test_truth_report_prints_median_and_p90_per_metric_and_accelerator(
        tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "o.csv"
    r = run_cli("estimate", "--scenarios", str(data_dir / "calibration-scenarios.csv"), "--out", str(out),
             "--truth", str(data_dir / "calibration-truth.csv"))
    assert r.returncode == 0, r.stderr
    assert "median APE %" in r.stdout and "p90 APE %" in r.stdout
    assert "output_tok_s_total   inferentia2" in r.stdout


def test_unreachable_latency_limit_is_an_error_not_a_zero(tmp_path: Path) -> None:
    f = _write(tmp_path, [
        "slow,meta-llama/Llama-3.3-70B-Instruct,h200-sxm,,1,1,1,fp8,bf16,20000,100,,server-slo,vllm,"
        "50,30,ok",
    ])
    r = run_cli("estimate", "--scenarios", str(f))
    assert r.returncode == 3
    row = next(csv.DictReader(r.stdout.splitlines()))
    assert row["output_tok_s_total"] == ""
    assert "no arrival rate meets ttft_slo_ms=50" in row["error"]
