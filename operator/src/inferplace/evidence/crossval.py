"""How right a group's fit is on data it never saw.

Leave-one-configuration-out: each configuration (a model, chips, lengths and load) is held out, the
group refitted on the rest, and the held-out configuration's published values predicted. Leave-one-
model-out does the same with every configuration of one model at once, which is what a new model a
team brings looks like. The errors are absolute percentage errors, summarised per metric family
(throughput, TTFT, TPOT) as median and 90th percentile, with how many values they rest on.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from inferplace.evidence.fit import Evaluator, Fitted, Target, fit_group

HoldOut = Literal["configuration", "model"]
FAMILIES = ("throughput", "ttft", "tpot")
REFIT_EVALUATIONS = 80  # a refit starts from the full fit: it converges in far fewer evaluations


@dataclass(frozen=True)
class HeldOut:
    scenario_id: str
    accelerator: str
    model: str
    family: str
    ape: float  # |predicted - measured| / measured, in percent


def held_out(ev: Evaluator, tgts: Sequence[Target], fitted: Fitted, by: HoldOut) -> list[HeldOut]:
    """Every target of the group predicted by a fit that did not see its configuration (or model)."""
    folds: dict[str, set[str]] = defaultdict(set)
    for sid in ev.ids:
        folds[sid if by == "configuration" else ev.models[sid]].add(sid)
    acc = {sid: s.accelerator.id for sid, s in zip(ev.ids, ev.scenarios, strict=True)}
    out = []
    for fold in folds.values():
        train = set(ev.ids) - fold
        if not train:
            continue
        refit = fit_group(ev, tgts, fitted, exclude=fold, max_nfev=REFIT_EVALUATIONS)
        preds = ev.predict(refit, fold)
        for t in tgts:
            if t.scenario_id not in fold or t.family not in FAMILIES:
                continue
            p = preds.get(t.scenario_id, {}).get(t.column, math.nan)
            if math.isfinite(p):
                out.append(HeldOut(t.scenario_id, acc[t.scenario_id], ev.models[t.scenario_id], t.family,
                                   abs(p - t.value) / t.value * 100))
    return out


@dataclass(frozen=True)
class Summary:
    median_pct: float
    p90_pct: float
    values: int


def summarize(values: Sequence[HeldOut]) -> dict[str, Summary]:
    """Per metric family: median and 90th-percentile error, and how many values."""
    by: dict[str, list[float]] = defaultdict(list)
    for v in values:
        by[v.family].append(v.ape)
    return {f: Summary(round(float(np.median(a)), 1), round(float(np.percentile(a, 90)), 1), len(a))
            for f, a in by.items() if a}


@dataclass(frozen=True)
class Coverage:
    """What a group's measurements span on one chip: beyond it, a prediction is an extrapolation."""

    configurations: int
    models: int
    max_concurrency_per_replica: float  # clients or static batch per replica
    max_prompt_tokens: float


def coverage(ev: Evaluator) -> dict[str, Coverage]:
    by: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(ev.scenarios):
        by[s.accelerator.id].append(i)
    out = {}
    for acc, idx in sorted(by.items()):
        ss = [ev.scenarios[i] for i in idx]
        # Offline and server loads run whatever batch the runtime reaches: its limit.
        limit = float(ev.group.base.get("runtime_max_batch", 1.0))
        conc = [(s.batch / max(s.replicas, 1)) if math.isfinite(s.batch) else limit for s in ss]
        out[acc] = Coverage(len(ss), len({s.model.id for s in ss}), float(max(conc)),
                            float(max(s.input_tokens for s in ss)))
    return out


__all__ = ["FAMILIES", "Coverage", "HeldOut", "HoldOut", "Summary", "coverage", "held_out", "summarize"]
