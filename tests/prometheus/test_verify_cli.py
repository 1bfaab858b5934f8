"""`inferplace verify` against a real Prometheus holding backfilled traffic before and after a move
(promtool): one move that kept its promise, one that served 40% less with latency above the range,
one still settling; realized cost and savings from the served tokens, worked out by hand."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inferplace.api.clock import rfc3339
from inferplace.catalog import load_catalog
from inferplace.controller.reconcile import parse_spec
from inferplace.feedback.promises import promise_for
from inferplace.placement import RegionDefault, resolve
from inferplace.placement.search import search
from inferplace.pricing import default_book

from ..support.cli import run_cli, write_yaml
from ..support.manifests import ONE_REPLICA, SELF_HOSTED, workload_doc
from ..support.moves import STEP_S, Serving, backfill
from ..support.prom import running

pytestmark = pytest.mark.prometheus

HOUR = 3600
OLD = {"instanceType": "p5.48xlarge", "replicas": 2, "chipsPerReplica": 1, "capacityType": "on-demand"}
TRAFFIC = {"requestsPerSecond": 2, "promptTokens": {"mean": 500}, "outputTokens": {"mean": 200}}


def _doc(name: str, current: dict[str, Any]) -> dict[str, Any]:
    doc = workload_doc(current=current, constraints=SELF_HOSTED | ONE_REPLICA, name=name)  # by hand: one replica
    doc["spec"]["traffic"] = TRAFFIC
    doc["spec"]["metrics"] = {"server": "vllm", "selector": {"namespace": "team", "service": name}, "window": "1h"}
    return doc


def _promise(name: str) -> dict[str, Any]:
    """What inferplace promises for the placement it recommends at the declared traffic."""
    cat = load_catalog()
    spec = parse_spec(_doc(name, OLD)["spec"])
    w = resolve(name, spec, cat, RegionDefault("us-east-1", "test"))  # type: ignore[arg-type]
    (o,) = search([w], cat, default_book())
    assert o.chosen is not None
    c = o.cs.candidates[o.chosen.candidate]  # type: ignore[union-attr]
    moved = spec.model_copy(update={"current": spec.current.model_copy(  # type: ignore[union-attr]
        update={"instance_type": c.instance.type, "replicas": o.chosen.replicas,  # type: ignore[union-attr]
                "chips_per_replica": o.cs.keys[c.row].chips})})
    p = promise_for(moved, o, cat, datetime.now(UTC))
    assert p is not None
    return p.model_dump(by_alias=True)


@dataclass(frozen=True)
class Moves:
    url: str
    moved: int  # unix s
    end: int
    promise: dict[str, Any]


@pytest.fixture(scope="module")
def moves(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moves]:
    p = _promise("ok")
    end = (int(time.time()) // STEP_S) * STEP_S
    moved = end - 2 * HOUR
    rps = 2.0  # TRAFFIC's
    before: dict[str, float] = {"requests_per_s": rps / 2, "prompt_mean": 500.0, "output_mean": 200.0,
                                "ttft_p95_s": 0.4, "tpot_p95_s": 0.02}
    ttft, tpot = float(p["ttftP95Ms"]) / 1e3, float(p["tpotP95Ms"]) / 1e3
    servings = []
    for name in ("ok", "miss"):
        lab = {"namespace": "team", "service": name}
        # today's two replicas share the traffic
        servings += [Serving(lab | {"pod": f"{name}-old-{i}"}, end - 4 * HOUR, moved, **before) for i in (0, 1)]
    # kept: the promised load at 0.7x the promised TTFT and 0.8x its TPOT
    servings.append(Serving({"namespace": "team", "service": "ok", "pod": "ok-new-0"}, moved, end, rps, 500.0, 200.0,
                            ttft * 0.7, tpot * 0.8))
    # missed: 40% fewer tokens served (requests finishing slower) at twice the promised TTFT
    servings.append(Serving({"namespace": "team", "service": "miss", "pod": "miss-new-0"}, moved, end, rps * 0.6,
                            500.0, 200.0, ttft * 2, tpot * 1.5))
    root = tmp_path_factory.mktemp("verify")
    data = backfill(servings, root)
    with running(root, "global: {scrape_interval: 15s}\nscrape_configs: []\n", data) as url:
        yield Moves(url, moved, end, p)


def _after(tmp_path: Path, name: str, m: Moves, **extra: Any) -> Path:
    cur = {"instanceType": m.promise["instanceType"], "replicas": m.promise["replicas"],
           "chipsPerReplica": m.promise["chipsPerReplica"], "capacityType": "on-demand"} | extra
    return write_yaml(tmp_path, _doc(name, cur), name=f"{name}.yaml")


def _verify(path: Path, m: Moves, *args: str) -> tuple[int, dict[str, Any]]:
    r = run_cli("verify", "-f", str(path), "--prometheus-url", m.url, "--settle", "1m", "-o", "json", *args)
    assert r.returncode in (0, 3, 4), r.stderr
    return r.returncode, json.loads(r.stdout)


def _moved_at(m: Moves) -> str:
    return rfc3339(datetime.fromtimestamp(m.moved, UTC))


def test_verify_confirms_a_kept_promise_with_realized_cost_by_hand(moves: Moves, tmp_path: Path) -> None:
    code, doc = _verify(_after(tmp_path, "ok", moves), moves, "--moved-at", _moved_at(moves),
                        "--baseline", "p5.48xlarge=1")
    v = doc["verification"]
    assert code == 0 and v["state"] == "Confirmed", v["message"]
    assert doc["promiseFrom"].startswith("made by inferplace")
    assert v["promise"]["instanceType"] == moves.promise["instanceType"] == "g6e.xlarge"
    rows = {r["metric"]: r for r in v["rows"]}
    assert float(rows["throughputPerReplica"]["ratio"]) == pytest.approx(1.0, abs=0.02)
    assert float(rows["ttftP95"]["ratio"]) == pytest.approx(0.7, abs=0.02)
    assert float(rows["tpotP95"]["ratio"]) == pytest.approx(0.8, abs=0.02)
    served = float(rows["throughputPerReplica"]["observed"])  # one replica: the fleet's tokens/s
    assert served == pytest.approx(400, rel=0.02)
    # By hand: 1 g6e.xlarge at 1.861 $/h over `served` tokens/s; baseline 1 p5.48xlarge at 55.04 $/h
    r = v["realized"]
    assert float(r["costPerMillionOutputTokens"]) == pytest.approx(1.861 / (served * 3600) * 1e6, abs=1e-4)
    assert r["monthlyInstanceCost"] == "1358.53"  # 1.861 x 730
    assert r["baselineMonthlyInstanceCost"] == "40179.20"  # 55.04 x 730
    assert r["monthlySavings"] == "38820.67"
    b = v["baseline"]
    assert float(b["outputTokensPerSecond"]) == pytest.approx(2 * 200, rel=0.02)
    assert b["ttftP95Ms"] == "400.0" and b["windowEnd"] == _moved_at(moves)
    assert v["movedAt"] == _moved_at(moves) and doc["movedAtFrom"] == "--moved-at"


def test_verify_reports_a_miss_when_the_fleet_serves_40_percent_less(moves: Moves, tmp_path: Path) -> None:
    code, doc = _verify(_after(tmp_path, "miss", moves, since=_moved_at(moves)), moves)  # moved at from `since`
    v = doc["verification"]
    assert code == 3 and v["state"] == "Missed" and v["reason"] == "LatencyAbovePromise", v["message"]
    rows = {r["metric"]: r for r in v["rows"]}
    assert float(rows["throughputPerReplica"]["ratio"]) == pytest.approx(0.6, abs=0.02)
    assert rows["throughputPerReplica"]["within"] is False and rows["ttftP95"]["within"] is False
    assert doc["movedAtFrom"] == "spec.current.since"
    table = run_cli("verify", "-f", str(_after(tmp_path, "miss", moves)), "--prometheus-url", moves.url,
                    "--moved-at", _moved_at(moves), "--settle", "1m")
    assert table.returncode == 3
    assert "miss: Missed (LatencyAbovePromise)" in table.stdout and "throughputPerReplica" in table.stdout


def test_verify_before_the_window_after_settling_has_passed_is_settling(moves: Moves, tmp_path: Path) -> None:
    early = rfc3339(datetime.fromtimestamp(moves.moved + 1800, UTC))
    code, doc = _verify(_after(tmp_path, "ok", moves), moves, "--moved-at", _moved_at(moves), "--as-of", early)
    assert code == 4 and doc["verification"]["state"] == "Settling" and not doc["verification"]["rows"]


def test_verify_uses_the_promise_a_cluster_kept(moves: Moves, tmp_path: Path) -> None:
    doc = _doc("ok", {"instanceType": "g6e.xlarge", "replicas": 1, "chipsPerReplica": 1,
                      "recommendationId": moves.promise["id"]})
    kept = dict(moves.promise) | {"madeAt": "2026-11-01T00:00:00Z", "ttftP95Ms": "10.0"}
    doc["status"] = {"promises": [kept]}
    path = write_yaml(tmp_path, doc, name="exported.yaml")
    code, out = _verify(path, moves, "--moved-at", _moved_at(moves))
    assert out["promiseFrom"] == "the file's status.promises (made 2026-11-01T00:00:00Z)"
    # that promise said 10 ms TTFT: the observed p95 is far above it
    assert code == 3 and out["verification"]["state"] == "Missed"


@pytest.mark.parametrize(("args", "named"), [
    (("--moved-at", "last tuesday"), "--moved-at"),
    (("--moved-at", "2026-11-20T09:00:00Z", "--settle", "10s"), "--settle"),
    (("--moved-at", "2026-11-20T09:00:00Z", "--baseline", "p5.48xlarge"), "--baseline"),
    (("--moved-at", "2026-11-20T09:00:00Z", "--prometheus-url", "http://u:p@127.0.0.1:1"), "--prometheus-url"),
    ((), "--moved-at"),
])
def test_verify_bad_input_names_the_flag(tmp_path: Path, args: tuple[str, ...], named: str) -> None:
    path = write_yaml(tmp_path, _doc("ok", {"instanceType": "g6e.xlarge", "replicas": 1, "chipsPerReplica": 1}))
    r = run_cli("verify", "-f", str(path), "--prometheus-url", "http://127.0.0.1:1", *args)
    assert r.returncode == 2 and named in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_verify_without_spec_metrics_says_what_it_needs(tmp_path: Path) -> None:
    doc = _doc("ok", {"instanceType": "g6e.xlarge", "replicas": 1, "chipsPerReplica": 1})
    del doc["spec"]["metrics"]
    r = run_cli("verify", "-f", str(write_yaml(tmp_path, doc)), "--prometheus-url", "http://127.0.0.1:1",
                "--moved-at", "2026-11-20T09:00:00Z")
    assert r.returncode == 2 and "spec.metrics" in r.stderr, r.stderr
