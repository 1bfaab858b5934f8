"""The whole fit: every group fitted, held out two ways, its coverage recorded, the inherited groups
derived; the document `scripts/fit_efficiency.py` writes as catalog/data/efficiency.yaml.

Deterministic for the same code and data, so a test can redo it and compare the held-out errors
with the committed ones (a change to the engine that makes a group worse shows up as a failure).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from inferplace.catalog import Catalog
from inferplace.catalog.efficiency import EfficiencyParams, EfficiencyTable
from inferplace.evidence.crossval import FAMILIES, coverage, held_out, summarize
from inferplace.evidence.fit import Evaluator, fit_group, targets
from inferplace.evidence.groups import GROUPS, INHERITED, rows_of

DATA_FILES = (("calibration-scenarios.csv", "calibration-truth.csv"),
              ("neuron-2026-scenarios.csv", "neuron-2026-truth.csv"))
METHOD = ("robust least squares (soft L1) on log(predicted/measured), weak priors; held out one configuration "
          "and one model at a time")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_data(folder: Path) -> tuple[list[dict[str, str]], list[dict[str, str]], list[str]]:
    """Every scenario and truth row of the data files, and the files' names."""
    scenarios: list[dict[str, str]] = []
    truth: list[dict[str, str]] = []
    names: list[str] = []
    for scen, tru in DATA_FILES:
        if (folder / scen).is_file():
            scenarios += _read(folder / scen)
            truth += _read(folder / tru)
            names += [f"tests/data/{scen}", f"tests/data/{tru}"]
    return scenarios, truth, names


def _summary(values: Sequence[Any]) -> dict[str, dict[str, float | int]]:
    return {f: {"median_pct": s.median_pct, "p90_pct": s.p90_pct, "values": s.values}
            for f, s in sorted(summarize(values).items()) if f in FAMILIES}


def fit_all(scenarios: Sequence[Mapping[str, str]], truth: Sequence[Mapping[str, str]], cat: Catalog, when: date,
            sources: Sequence[str], log: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """The efficiency document: each group's parameters, how they were fitted, their held-out errors and
    coverage; variants and inherited groups after the groups they come from. Each group's fit starts from
    `cat`'s (the committed one), so refitting unchanged data reproduces it."""
    tgts = targets(scenarios, truth)
    groups: dict[str, EfficiencyParams] = dict(cat.efficiency.groups)
    out: dict[str, dict[str, Any]] = {}
    for g in GROUPS:
        ev = Evaluator(g, rows_of(g, scenarios), replace(cat, efficiency=EfficiencyTable(groups, {})))
        # From the committed fit: the same data then lands on the same optimum.
        fits = fit_group(ev, tgts, cat.efficiency.groups)
        params = fits[g.key]
        n_values = sum(1 for t in tgts if t.scenario_id in set(ev.ids))
        by_config = held_out(ev, tgts, fits, "configuration")
        by_model = held_out(ev, tgts, fits, "model") if len(set(ev.models.values())) > 1 else []
        config, model = _summary(by_config), _summary(by_model)
        tput = config.get("throughput", {})
        cover = {acc: {"configurations": c.configurations, "models": c.models,
                       "max_concurrency_per_replica": c.max_concurrency_per_replica,
                       "max_prompt_tokens": c.max_prompt_tokens} for acc, c in coverage(ev).items()}
        unresolved = f"; {len(ev.unresolved)} configurations not estimable" if ev.unresolved else ""
        how = (f"fitted {when.isoformat()} by scripts/fit_efficiency.py on {len(ev.ids)} configurations "
               f"({n_values} published values) of {len({ev.models[i] for i in ev.ids})} models{unresolved}")
        entry = params.model_copy(update={
            "how": how, "stack": g.stack, "error_median_pct": tput.get("median_pct"),
            "error_p90_pct": tput.get("p90_pct"), "error_values": int(tput.get("values", 0)),
        }).model_dump(exclude_none=True) | {"held_out": {"configuration": config, "model": model},
                                            "coverage": cover}
        groups[g.key] = EfficiencyParams.model_validate(entry)
        out[g.key] = entry
        log(f"{g.key}: {len(ev.ids)} configurations; held out by configuration {config}; by model {model}")
        for key, constants in g.variants.items():
            own = {n: getattr(fits[key], n) for n in g.variant_fit}
            out[key] = entry | dict(constants) | own | {"same_fit_as": g.key}
            groups[key] = EfficiencyParams.model_validate(out[key])
    for inh in INHERITED:
        src = out[inh.source]
        out[inh.key] = {k: v for k, v in src.items() if k not in ("held_out", "coverage", "same_fit_as")} | dict(
            inh.constants) | {"how": f"inherits the {inh.source} fit: {inh.why}", "inherits": inh.source,
                              "error_median_pct": None, "error_p90_pct": None, "error_values": 0}
        out[inh.key] = {k: v for k, v in out[inh.key].items() if v is not None}
    return {"schema_version": 1,
            "fit": {"method": METHOD, "script": "scripts/fit_efficiency.py", "date": when.isoformat(),
                    "data": " + ".join(sources)},
            "groups": out}


__all__ = ["DATA_FILES", "fit_all", "read_data"]
