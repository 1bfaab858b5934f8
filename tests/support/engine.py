"""Engine predictions for scenario rows written as dicts (the CSV's columns), without a file."""

from __future__ import annotations

from typing import Any

from inferplace.catalog import load_catalog
from inferplace.engine import Results, predict
from inferplace.evidence.rows import resolve_row
from inferplace.placement.scenarios import to_arrays

BASE = {
    "scenario_id": "t",
    "model": "meta-llama/Llama-3.1-8B-Instruct",
    "accelerator": "h100-sxm",
    "num_chips": "1",
    "replicas": "1",
    "chips_per_replica": "1",
    "weight_dtype": "bf16",
    "kv_dtype": "bf16",
    "input_tokens": "512",
    "output_tokens": "256",
    "batch": "8",
    "load": "static-batch",
    "framework": "vllm",
}


def predict_rows(rows: list[dict[str, Any]]) -> Results:
    """Each row is BASE with its own columns changed."""
    cat = load_catalog()
    scen = [resolve_row(BASE | {k: str(v) for k, v in r.items()}, cat) for r in rows]
    return predict(to_arrays(scen, cat))
