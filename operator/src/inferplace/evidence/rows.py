"""Rows of a scenario CSV (`inferplace estimate --scenarios`) resolved into Scenarios.

Columns: `scenario_id, model, accelerator, instance_type, num_chips, replicas, chips_per_replica,
weight_dtype, kv_dtype, input_tokens, output_tokens, batch, load, framework, ttft_slo_ms,
tpot_slo_ms`, `max_batch` (the server's batch limit: vLLM's max_num_seqs, a Neuron graph's compiled batch,
TGI's MAX_BATCH_SIZE) and, for speculative decoding, `draft_model, acceptance_rate, num_speculative_tokens`.
Required: scenario_id, model, accelerator (or instance_type), output_tokens and load. Every problem
is one ScenarioError line naming the column and what it allows, so that row alone is refused.
"""

from __future__ import annotations

import math
import re

from inferplace.api.vocabulary import PRECISIONS, Precision
from inferplace.catalog import Catalog, CatalogError
from inferplace.catalog.efficiency import DEFAULT_FRAMEWORK
from inferplace.engine import LOADS
from inferplace.placement.scenarios import (
    Scenario,
    ScenarioError,
    check_dtypes,
    efficiency_for,
    smallest_fitting_tp,
)

# When a source gives output lengths but no prompt length (MLPerf datasets), assume this many prompt
# tokens. It is an assumption, not a reading; it affects TTFT and prefill-heavy throughput.
DEFAULT_PROMPT_TOKENS = 1024

REQUIRED_COLUMNS = ("scenario_id", "model", "accelerator", "output_tokens", "load")

# How the published data files record a server's batch limit in a row's quality note when they have no
# column for it: "compiled for max batch 16 per replica", "(max batch 32)", "compiled batch 4".
_NOTED_MAX_BATCH = re.compile(r"\b(?:max|compiled) batch (\d+)\b")


def _num(row: dict[str, str], key: str, *, integer: bool = False, positive: bool = True) -> float | None:
    raw = (row.get(key) or "").strip()
    if not raw:
        return None
    try:
        val = float(raw)
    except ValueError:
        raise ScenarioError(f"{key} must be a number, got {raw!r}") from None
    if not math.isfinite(val) or (positive and val <= 0):
        raise ScenarioError(f"{key} must be a positive number, got {raw!r}")
    if integer and val != int(val):
        raise ScenarioError(f"{key} must be a whole number, got {raw!r}")
    return val


def _precision(row: dict[str, str], key: str) -> Precision:
    raw = (row.get(key) or "").strip().lower() or "bf16"
    for p in PRECISIONS:
        if raw == p:
            return p
    raise ScenarioError(f"{key} {raw[:40]!r} unknown; allowed: {', '.join(PRECISIONS)}")


def resolve_row(row: dict[str, str], cat: Catalog) -> Scenario:
    """Turn one CSV row into a Scenario, or raise ScenarioError with a one-line reason."""
    try:
        model = cat.model((row.get("model") or "").strip() or "(blank)")
        acc_name = (row.get("accelerator") or "").strip()
        inst_name = (row.get("instance_type") or "").strip()
        if not acc_name and inst_name:
            acc_name = cat.instance(inst_name).accelerator
        acc = cat.accelerator(acc_name or "(blank)")
        draft_name = (row.get("draft_model") or "").strip()
        draft = cat.model(draft_name) if draft_name else None
    except CatalogError as exc:
        raise ScenarioError(str(exc)) from None
    load = (row.get("load") or "").strip()
    if load not in LOADS:
        raise ScenarioError(f"load {load!r} unknown; allowed: {', '.join(LOADS)}")
    wdt = _precision(row, "weight_dtype")
    kvd = _precision(row, "kv_dtype")
    check_dtypes(acc, wdt, kvd)
    framework = (row.get("framework") or "").strip().lower() or DEFAULT_FRAMEWORK[acc.platform]
    _, eff = efficiency_for(cat, acc, framework)

    osl = _num(row, "output_tokens")
    if osl is None:
        raise ScenarioError("output_tokens is blank; it is required")
    isl = _num(row, "input_tokens") or float(DEFAULT_PROMPT_TOKENS)
    batch = _num(row, "batch", integer=True)
    max_batch = _max_batch(row)
    if load in ("static-batch", "closed-loop") and batch is None:
        raise ScenarioError(f"batch is blank; it is required for load {load}")
    ttft_ms = _num(row, "ttft_slo_ms")
    tpot_ms = _num(row, "tpot_slo_ms")
    if load == "server-slo" and (ttft_ms is None or tpot_ms is None):
        raise ScenarioError("ttft_slo_ms and tpot_slo_ms are required for load server-slo")
    # Longer than the trained context is allowed (RoPE scaling does it; Neuron's tables run
    # Llama-2 at 8k): it costs KV memory, which the engine counts.

    num_chips = _num(row, "num_chips", integer=True)
    replicas = _num(row, "replicas", integer=True)
    cpr = _num(row, "chips_per_replica", integer=True)
    if cpr is None and replicas is not None and num_chips is not None:
        cpr = num_chips / replicas
        if cpr != int(cpr):
            raise ScenarioError(f"num_chips {num_chips:.0f} is not a multiple of replicas {replicas:.0f}")
    if cpr is None:
        available = num_chips
        if available is None and inst_name:
            available = float(cat.instance(inst_name).chips or 0) or None
        if available is None:
            raise ScenarioError("chips_per_replica, num_chips and instance_type are all blank")
        cpr = float(smallest_fitting_tp(model, acc, eff, wdt, int(available)))
        if replicas is None:
            replicas = float(int(available // cpr)) if num_chips is not None else 1.0
    if replicas is None:
        replicas = num_chips / cpr if num_chips is not None and num_chips >= cpr else 1.0
        replicas = float(max(int(replicas), 1))
    if cpr > 1 and acc.link_bytes_s <= 0:
        why = acc.missing.get("interconnect", "no chip-to-chip bandwidth figure in the catalog")
        raise ScenarioError(f"tensor parallel over {cpr:.0f} x {acc.id} needs an interconnect: {why}")

    alpha = _num(row, "acceptance_rate") or 0.0
    k = _num(row, "num_speculative_tokens", integer=True) or 0.0
    if (draft is None) != (k == 0):
        raise ScenarioError("draft_model and num_speculative_tokens go together")
    if draft is not None and not 0 < alpha < 1:
        raise ScenarioError("acceptance_rate must be between 0 and 1 with speculative decoding")

    return Scenario(
        model=model, accelerator=acc, chips_per_replica=int(cpr), replicas=int(replicas),
        weight_dtype=wdt, kv_dtype=kvd, input_tokens=isl, output_tokens=osl,
        batch=math.nan if batch is None else batch, load=load, framework=framework,
        ttft_slo_s=(ttft_ms or math.inf) / 1e3, tpot_slo_s=(tpot_ms or math.inf) / 1e3,
        draft_model=draft, acceptance_rate=alpha, speculative_tokens=int(k),
        max_batch=math.nan if max_batch is None else max_batch,
    )


def _max_batch(row: dict[str, str]) -> float | None:
    """The server's batch limit: the `max_batch` column, else the one the row's quality note states (one
    figure only: a note naming two limits is ambiguous and leaves it to the serving stack's default)."""
    given = _num(row, "max_batch", integer=True)
    if given is not None:
        return given
    noted = {int(m) for m in _NOTED_MAX_BATCH.findall(row.get("quality") or "")}
    return float(noted.pop()) if len(noted) == 1 else None
