"""Predictions for rows of a scenario CSV: each row resolved (evidence.rows), all predicted by the
engine in one vectorized pass, with a one-line reason for every row that cannot be estimated."""

from __future__ import annotations

import math

import numpy as np

from inferplace.catalog import Catalog, load_catalog
from inferplace.engine import predict
from inferplace.engine.roofline import kv_capacity, weight_footprint
from inferplace.evidence.rows import resolve_row
from inferplace.placement.scenarios import Scenario, ScenarioError, to_arrays

OUTPUT_COLUMNS = ("scenario_id", "output_tok_s_total", "ttft_ms_mean", "tpot_ms_mean", "ttft_ms_p50", "tpot_ms_p50",
                  "ttft_ms_p99", "tpot_ms_p99", "bound", "error")


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
            "ttft_ms_mean": float(res.ttft_mean[j]) * 1e3,
            "tpot_ms_mean": float(res.tpot_mean[j]) * 1e3,
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
