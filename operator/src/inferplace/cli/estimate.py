"""`inferplace estimate`: predict throughput and latency for every row of a scenario CSV."""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from inferplace.api.errors import shown
from inferplace.catalog import Catalog, CatalogError, load_catalog
from inferplace.cli.fidelity import compare, format_report
from inferplace.cli.inputs import InputError, csv_rows
from inferplace.cli.scenario_csv import REQUIRED_COLUMNS, resolve_row
from inferplace.engine import predict
from inferplace.engine.roofline import kv_capacity, weight_footprint
from inferplace.placement.scenarios import Scenario, ScenarioError, to_arrays

OUTPUT_COLUMNS = ("scenario_id", "output_tok_s_total", "ttft_ms_p50", "tpot_ms_p50", "ttft_ms_p99",
                  "tpot_ms_p99", "bound", "error")
EXIT_OK, EXIT_USAGE, EXIT_PARTIAL = 0, 2, 3


def register(sub: Any) -> None:
    p = sub.add_parser("estimate", help="predict throughput, TTFT and TPOT for a scenario CSV",
                       description=__doc__)
    p.add_argument("--scenarios", required=True, type=Path, metavar="FILE.csv",
                   help="scenarios, one per row (columns in the README, 'inferplace estimate'); '-' for stdin")
    p.add_argument("--out", type=Path, metavar="FILE.csv", help="write results here (default: stdout)")
    p.add_argument("--truth", type=Path, metavar="FILE.csv",
                   help="also print the error against published values (scenario_id,metric,value,unit)")
    p.add_argument("--quality", choices=("all", "ok"), default="all",
                   help="with --truth: score only rows whose `quality` column is 'ok'")
    p.set_defaults(run=run)


def _fmt(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:.6g}"


def _not_fit_reason(s: Scenario, weights: float, capacity: float) -> str:
    per_chip = weights / s.chips_per_replica / 1e9
    have = s.accelerator.memory_bytes / 1e9
    if capacity <= 0:
        return (f"does not fit: {s.model.id} weights need {per_chip:.1f} GB per chip on "
                f"{s.chips_per_replica} x {s.accelerator.id} ({have:.0f} GB each, less runtime reserve)")
    need = s.input_tokens + s.output_tokens
    return (f"does not fit: the KV cache for batch {s.batch:.0f} x {need:.0f} tokens exceeds the "
            f"{capacity / 1e9:.1f} GB left after weights")


def estimate_rows(
    rows: list[dict[str, str]], catalog: Catalog | None = None
) -> tuple[list[dict[str, str]], dict[str, dict[str, float]]]:
    """Results rows (in input order) and numeric predictions keyed by scenario id."""
    cat = catalog or load_catalog()
    resolved: list[tuple[int, Scenario]] = []
    out: list[dict[str, str]] = []
    for i, row in enumerate(rows):
        out.append(dict.fromkeys(OUTPUT_COLUMNS, "") | {"scenario_id": row.get("scenario_id", "")})
        try:
            resolved.append((i, resolve_row(row, cat)))
        except ScenarioError as exc:
            out[i]["error"] = str(exc)
    preds: dict[str, dict[str, float]] = {}
    if not resolved:
        return out, preds
    arrays = to_arrays([s for _, s in resolved], cat)
    res = predict(arrays)
    weights = weight_footprint(arrays.shape, arrays.weight_bytes)
    capacity = kv_capacity(arrays.shape, arrays.hardware())
    bounds = res.bound_names()
    for j, (i, s) in enumerate(resolved):
        if not res.fits[j]:
            out[i]["error"] = _not_fit_reason(s, float(weights[j]), float(capacity[j]))
            continue
        if not res.slo_reachable[j]:
            out[i]["error"] = (
                f"no arrival rate meets ttft_slo_ms={s.ttft_slo_s * 1e3:g} and "
                f"tpot_slo_ms={s.tpot_slo_s * 1e3:g} on this placement (one request alone takes "
                f"{res.ttft_p99[j] * 1e3:.0f} ms to first token at p99)"
            )
            continue
        vals = {
            "output_tok_s_total": float(res.output_tok_s_total[j]),
            "ttft_ms_p50": float(res.ttft_p50[j]) * 1e3,
            "tpot_ms_p50": float(res.tpot_p50[j]) * 1e3,
            "ttft_ms_p99": float(res.ttft_p99[j]) * 1e3,
            "tpot_ms_p99": float(res.tpot_p99[j]) * 1e3,
        }
        if not all(np.isfinite(list(vals.values()))):
            out[i]["error"] = "the engine produced no finite estimate (check lengths and batch)"
            continue
        vals["e2e_latency_s_p50"] = (vals["ttft_ms_p50"] + (s.output_tokens - 1) * vals["tpot_ms_p50"]) / 1e3
        out[i].update({k: _fmt(v) for k, v in vals.items() if k in OUTPUT_COLUMNS})
        out[i]["bound"] = bounds[j]
        preds[out[i]["scenario_id"]] = vals
    return out, preds


def _write(rows: list[dict[str, str]], stream: TextIO) -> None:
    w = csv.DictWriter(stream, fieldnames=list(OUTPUT_COLUMNS), lineterminator="\n")
    # Python 3.11's csv leaves a lone carriage return unquoted when the line ends in "\n", so a
    # scenario id holding one would split its row: such rows are written fully quoted.
    quoted = csv.DictWriter(stream, fieldnames=list(OUTPUT_COLUMNS), lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writeheader()
    for row in rows:
        (quoted if any("\r" in v for v in row.values()) else w).writerow(row)


def run(args: argparse.Namespace) -> int:
    try:
        rows = csv_rows(args.scenarios, REQUIRED_COLUMNS)
        truth = csv_rows(args.truth, ("scenario_id", "metric", "value")) if args.truth else None
        results, preds = estimate_rows(rows)
    except InputError as exc:
        print(f"inferplace estimate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CatalogError as exc:
        print(f"inferplace estimate: catalog error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.out:
        try:
            with args.out.open("w", encoding="utf-8", newline="") as fh:
                _write(results, fh)
        except OSError as exc:
            print(f"inferplace estimate: cannot write {args.out}: {exc}", file=sys.stderr)
            return EXIT_USAGE
    else:
        _write(results, sys.stdout)
    failed = [r for r in results if r["error"]]
    for r in failed:
        sid = r["scenario_id"]
        print(f"inferplace estimate: {shown(sid if sid.isprintable() else repr(sid))}: {r['error']}", file=sys.stderr)
    if truth is not None:
        keep = {r["scenario_id"] for r in rows if args.quality == "all" or r.get("quality") == "ok"}
        acc_of = {r["scenario_id"]: r.get("accelerator", "") for r in rows}
        errors = compare({k: v for k, v in preds.items() if k in keep}, truth, acc_of)
        report = format_report(errors) if errors else "no truth value matched an estimated scenario"
        print(report, file=sys.stdout if args.out else sys.stderr)
    return EXIT_PARTIAL if failed else EXIT_OK
