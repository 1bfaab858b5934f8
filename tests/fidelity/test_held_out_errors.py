"""The accuracy gate: every group refitted from the committed fit on the committed data, held out one
configuration and one model at a time, must not be more than 2 points worse than the errors committed in
efficiency.yaml (the way AIConfigurator gates its accuracy). A change to the engine, a group or the data
that makes predictions worse on measurements the fit never saw fails here; a better one is committed by
rerunning `python scripts/fit_efficiency.py`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from inferplace.catalog import load_catalog
from inferplace.evidence.fitting import fit_all, read_data
from inferplace.evidence.groups import GROUPS

pytestmark = pytest.mark.fidelity

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE_POINTS = 2.0


@pytest.fixture(scope="module")
def refitted() -> dict[str, Any]:
    scenarios, truth, sources = read_data(ROOT / "tests" / "data")
    return fit_all(scenarios, truth, load_catalog(), date(2026, 12, 3), sources)["groups"]


@pytest.mark.parametrize("group", [g.key for g in GROUPS])
def test_no_group_got_worse_on_data_it_never_saw(refitted: dict[str, Any], group: str) -> None:
    committed = load_catalog().efficiency.groups[group]
    assert committed.held_out, f"{group} has no committed held-out errors: run scripts/fit_efficiency.py"
    worse = []
    for how, families in committed.held_out.items():
        for family, err in families.items():
            now = refitted[group]["held_out"][how][family]
            if now["median_pct"] > err.median_pct + TOLERANCE_POINTS:
                worse.append(f"{how}/{family} median {err.median_pct} -> {now['median_pct']}")
            if now["p90_pct"] > err.p90_pct + TOLERANCE_POINTS:
                worse.append(f"{how}/{family} p90 {err.p90_pct} -> {now['p90_pct']}")
    assert not worse, f"{group} got worse than committed: {'; '.join(worse)}"


@pytest.mark.parametrize(("group", "configurations"), [("neuron-v2/nxdi", 30), ("neuron-v3/nxdi", 12)])
def test_the_vllm_on_neuron_groups_meet_their_target(group: str, configurations: int) -> None:
    # Issue 21: vLLM/NxD Inference on Inferentia2/Trainium1 and on Trainium2, held out one configuration
    # at a time.
    err = load_catalog().efficiency.groups[group].held_out["configuration"]["throughput"]
    assert err.median_pct <= 20.0 and err.values >= configurations


def test_every_group_a_recommendation_can_use_rests_on_measured_or_stated_evidence() -> None:
    for key, g in load_catalog().efficiency.groups.items():
        if g.inherits:
            src = load_catalog().efficiency.groups[g.inherits]
            assert src.error_p90_pct is not None and g.how.startswith(f"inherits the {g.inherits} fit"), key
        else:
            assert g.error_p90_pct is not None and g.error_values > 0 and g.held_out, key
