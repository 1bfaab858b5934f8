"""Fitting a group's fractions of peak to the measurements of its chips and serving stack.

Robust least squares (soft L1) on log(predicted / measured) over every value a configuration
publishes, with weak priors that keep what the data cannot see at physical values. A configuration
whose quality is `ok` weighs 1, one flagged `check:` 0.3; a throughput the source itself shows to be
inconsistent with batch / TPOT is left out. The rows are resolved once; each trial set of parameters
costs one vectorized engine pass. scipy is needed here only (`pip install 'inferplace[fit]'`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from inferplace.catalog import Catalog
from inferplace.catalog.efficiency import EfficiencyParams, EfficiencyTable
from inferplace.engine import predict
from inferplace.evidence.compare import FAMILY, METRIC_TO_PREDICTION
from inferplace.evidence.groups import PARAMS, UNFITTED, GroupSpec
from inferplace.evidence.rows import resolve_row
from inferplace.placement.scenarios import Scenario, ScenarioError, to_arrays

CHECK_WEIGHT = 0.3  # a configuration whose source needs a caveat counts this much


@dataclass(frozen=True)
class Target:
    scenario_id: str
    column: str  # the prediction it is compared with
    value: float
    weight: float
    family: str  # throughput, ttft, tpot


def targets(scenarios: Sequence[Mapping[str, str]], truth: Sequence[Mapping[str, str]]) -> list[Target]:
    """What each configuration published, as targets for the fit and the held-out check."""
    quality = {r["scenario_id"]: r.get("quality", "") for r in scenarios}
    out = []
    for t in truth:
        sid, metric = t["scenario_id"], t["metric"]
        if sid not in quality:
            continue
        q = quality[sid]
        if metric == "output_tok_s_total" and "batch/TPOT_p50" in q:
            continue  # the published throughput disagrees with its own batch / TPOT: trust the latencies
        col = METRIC_TO_PREDICTION.get(metric)
        if metric == "output_tok_s_total" and "decode only" in q:
            col = "decode_tok_s_total"  # the source's formula: batch x 1000 / mean decode step ms, no prefill
        try:
            value = float(t["value"])
        except (TypeError, ValueError):
            continue
        if col is None or not math.isfinite(value) or value <= 0:
            continue
        out.append(Target(sid, col, value, 1.0 if q == "ok" else CHECK_WEIGHT, FAMILY.get(metric, metric)))
    return out


# Efficiencies per lookup key: the group's and each of its variants' (`GroupSpec.variants`).
Fitted = Mapping[str, EfficiencyParams]


class Evaluator:
    """A group's rows resolved once, predicted under any trial efficiencies."""

    def __init__(self, group: GroupSpec, rows: Sequence[Mapping[str, str]], cat: Catalog):
        self.group = group
        self.cat = cat
        self.ids: list[str] = []
        self.scenarios: list[Scenario] = []
        self.models: dict[str, str] = {}
        self.unresolved: dict[str, str] = {}
        for r in rows:
            sid = r["scenario_id"]
            try:
                s = resolve_row(dict(r), cat)
            except ScenarioError as exc:
                self.unresolved[sid] = str(exc)
                continue
            self.ids.append(sid)
            self.scenarios.append(s)
            self.models[sid] = s.model.id

    def predict(self, fitted: Fitted, only: set[str] | None = None) -> dict[str, dict[str, float]]:
        """Every prediction a target may be compared with, for the rows in `only` (all: None), under the
        efficiencies `fitted` gives the group and its variants."""
        keep = [i for i, sid in enumerate(self.ids) if only is None or sid in only]
        if not keep:
            return {}
        table = EfficiencyTable(dict(self.cat.efficiency.groups) | dict(fitted), {})
        arrays = to_arrays([self.scenarios[i] for i in keep], replace(self.cat, efficiency=table))
        res = predict(arrays)
        out: dict[str, dict[str, float]] = {}
        for j, i in enumerate(keep):
            vals = {"output_tok_s_total": res.output_tok_s_total[j], "ttft_ms_mean": res.ttft_mean[j] * 1e3,
                    "tpot_ms_mean": res.tpot_mean[j] * 1e3, "ttft_ms_p50": res.ttft_p50[j] * 1e3,
                    "tpot_ms_p50": res.tpot_p50[j] * 1e3, "ttft_ms_p99": res.ttft_p99[j] * 1e3,
                    "tpot_ms_p99": res.tpot_p99[j] * 1e3}
            s = self.scenarios[i]
            vals["decode_tok_s_total"] = float(res.batch[j] * s.replicas / res.tpot_mean[j])
            vals["e2e_latency_s_p50"] = (vals["ttft_ms_p50"] + (s.output_tokens - 1) * vals["tpot_ms_p50"]) / 1e3
            out[self.ids[i]] = {k: float(v) for k, v in vals.items()}
        return out


def base_of(group: GroupSpec) -> dict[str, float]:
    return {n: PARAMS[n][2] for n in PARAMS} | UNFITTED | dict(group.base)


def _name(param: str, variant: str | None) -> str:
    return param if variant is None else f"{param}@{variant}"


def _start(start: Fitted, key: str, param: str) -> float:
    """From the committed fit (into the bounds); a parameter it did not fit (its value the unfitted
    default, or no committed entry) from the prior."""
    prior = PARAMS[param][2]
    have = start.get(key)
    if have is None:
        return prior
    value = float(getattr(have, param))
    return prior if param in UNFITTED and value == UNFITTED[param] else value


def fitted_from(group: GroupSpec, values: Mapping[str, float], how: str = "fitting") -> dict[str, EfficiencyParams]:
    """The group's efficiencies and its variants' from one vector of fitted values (`_name`s): a variant
    takes the group's, its own runtime constants and the values it fits on its own rows."""
    base = base_of(group) | {n: v for n, v in values.items() if "@" not in n}
    main = EfficiencyParams(**base, how=how)
    out = {group.key: main}
    for key, constants in group.variants.items():
        own = {n: values[_name(n, key)] for n in group.variant_fit}
        out[key] = main.model_copy(update=dict(constants) | own)
    return out


def fit_group(ev: Evaluator, tgts: Sequence[Target], start: Fitted | None = None,
              exclude: set[str] | None = None, max_nfev: int = 400) -> dict[str, EfficiencyParams]:
    """The group's (and its variants') parameters fitted to every target of its resolved rows but those
    of `exclude`. `start`: efficiencies per lookup key to start from (the committed ones)."""
    from scipy.optimize import least_squares  # type: ignore[import-untyped]  # noqa: PLC0415 - [fit] extra

    g = ev.group
    slots = [(n, None) for n in g.fit] + [(n, v) for v in g.variants for n in g.variant_fit]
    names = [_name(n, v) for n, v in slots]
    lo = np.array([PARAMS[n][0] for n, _ in slots])
    hi = np.array([PARAMS[n][1] for n, _ in slots])
    x0 = np.array([_start(start or {}, v or g.key, n) for n, v in slots])
    x0 = np.clip(x0, lo * 1.001, hi * 0.999)
    train = {sid for sid in ev.ids if not exclude or sid not in exclude}
    tg = [t for t in tgts if t.scenario_id in train]

    def residuals(x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        preds = ev.predict(fitted_from(g, dict(zip(names, x, strict=True))), train)
        res = []
        for t in tg:
            p = preds.get(t.scenario_id, {}).get(t.column, math.nan)
            res.append(t.weight * (math.log(p / t.value) if p > 0 and math.isfinite(p) else 3.0))
        prior = [0.15 * math.log(max(v, 1e-9) / PARAMS[n][2]) / PARAMS[n][3]
                 for (n, _), v in zip(slots, x, strict=True)]
        return np.array(res + prior)

    sol = least_squares(residuals, x0, bounds=(lo, hi), loss="soft_l1", f_scale=0.3, diff_step=1e-3,
                        max_nfev=max_nfev)
    return fitted_from(g, dict(zip(names, (float(v) for v in sol.x), strict=True)))


__all__ = ["CHECK_WEIGHT", "Evaluator", "Fitted", "Target", "base_of", "fit_group", "fitted_from", "targets"]
