"""The operator's level-based loop (controller.runtime) with a fake status writer, a fake metrics
backend and a clock the test moves by hand: what is evaluated when, what is written, what backs off."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from inferplace.catalog import load_catalog
from inferplace.controller import runtime as runtime_module
from inferplace.controller.config import OperatorConfig
from inferplace.controller.fleet_checks import READ_EVERY_S, MemoryCorrections
from inferplace.controller.kube import ApiUnavailable, Gone
from inferplace.controller.reconcile import parse_spec
from inferplace.controller.runtime import (
    BATCH,
    DIGEST,
    ERROR_BACKOFF_S,
    FixedPrices,
    KeptStatus,
    Runtime,
    fingerprint,
    kept,
)
from inferplace.feedback.corrections import Check
from inferplace.metrics import MetricsBackend, MetricsUnavailable, Observation, ObserveRequest
from inferplace.placement import RegionDefault
from inferplace.pricing import default_book

from ..support.fakes import FakeWriter
from ..support.manifests import CURRENT, workload_doc
from ..support.plan import NOW

CAT = load_catalog()


@dataclass
class FakeBackend:
    url: str = "http://127.0.0.1:9"
    answer: Observation | MetricsUnavailable | None = None
    requests: list[ObserveRequest] = field(default_factory=list)

    def observe(self, request: ObserveRequest) -> Observation:
        self.requests.append(request)
        if isinstance(self.answer, MetricsUnavailable):
            raise self.answer
        assert self.answer is not None
        return self.answer


@dataclass
class FakeBackends:
    """One backend for every URL, and what the runtime asked to keep."""

    backend: MetricsBackend | None
    retained: list[set[str | None]] = field(default_factory=list)

    def __call__(self, url: str | None) -> MetricsBackend | None:
        return self.backend

    def retain(self, urls: Any) -> int:
        self.retained.append(set(urls))
        return 0


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _runtime(backend: MetricsBackend | None = None, interval_s: float = 300.0) -> tuple[Runtime, FakeWriter, Clock]:
    writer, clock = FakeWriter(), Clock()
    cfg = OperatorConfig(all_namespaces=True, interval_s=interval_s, jitter=0.0, workers=1)
    rt = Runtime(cfg, CAT, writer, FakeBackends(backend), FixedPrices(default_book()),
                 RegionDefault("us-east-1", "the test's default"), clock=lambda: NOW, monotonic=clock, tick_s=0.01)
    return rt, writer, clock


def _body(name: str = "w", generation: int = 1, uid: str = "u1", status: dict[str, Any] | None = None,
          **spec: Any) -> dict[str, Any]:
    doc = workload_doc(current=CURRENT, name=name, **spec)
    doc["metadata"] |= {"namespace": "team", "uid": uid, "generation": generation}
    if status is not None:
        doc["status"] = status
    return doc


def test_first_sight_queues_once_and_a_status_already_current_does_not_requeue() -> None:
    rt, _, _ = _runtime()
    rt.seen("ADDED", _body())
    rt.seen("MODIFIED", _body())  # the same object again: already queued
    assert rt.queue.qsize() == 1
    entry = rt.entries["team", "w"]
    # Our own status write comes back as a MODIFIED event with observedGeneration == generation.
    entry.queued = False
    rt.seen("MODIFIED", _body(status={"observedGeneration": 1}))
    assert rt.queue.qsize() == 1 and not entry.queued


def test_our_own_write_coming_back_is_not_kept_again_but_another_status_is() -> None:
    rt, writer, _ = _runtime()
    rt.seen("ADDED", _body())
    entry = rt.entries["team", "w"]
    _drive(rt, lambda: entry.evaluated_at is not None and not entry.running)
    held = entry.status
    written = writer.statuses[-1][2]
    rt.seen("MODIFIED", _body(status=written))  # the watch brings the status just written
    assert entry.status is held
    edited = {**written, "lastEvaluationTime": "2026-12-01T12:05:00Z", "conditions": []}
    rt.seen("MODIFIED", _body(status=edited))  # any other evaluation's status: kept as the object has it
    assert entry.status is not held and entry.status is not None
    assert entry.status.evaluated_at == "2026-12-01T12:05:00Z" and entry.status.unpacked()["conditions"] == []


class EchoingWriter(FakeWriter):
    """The watch brings each status back to the event loop before the write returns to its worker (what
    a busy operator sees: its evaluation's result is settled after the event)."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self.rt = rt
        self.echoed = threading.Event()

    def write_status(self, namespace: str, name: str, uid: str | None, status: dict[str, Any],
                     generation: int | None = None) -> None:
        super().write_status(namespace, name, uid, status, generation)
        assert self.rt.loop is not None
        self.echoed.clear()

        def echo() -> None:
            self.rt.seen("MODIFIED", _body(status=status))
            self.echoed.set()

        self.rt.loop.call_soon_threadsafe(echo)
        assert self.echoed.wait(10)


def test_our_write_coming_back_before_its_evaluation_is_settled_is_not_kept_twice(
        monkeypatch: pytest.MonkeyPatch) -> None:
    rt, _, _ = _runtime()
    writer = EchoingWriter(rt)
    rt.kube = writer
    shaped_on_the_loop: list[dict[str, Any]] = []
    real_kept = runtime_module.kept

    def counting_kept(status: dict[str, Any] | None, shaped: Any = None) -> dict[str, Any] | None:
        if shaped is None:  # the loop's path (a worker passes the shape it made)
            shaped_on_the_loop.append(status or {})
        return real_kept(status, shaped)

    monkeypatch.setattr(runtime_module, "kept", counting_kept)
    rt.seen("ADDED", _body())
    entry = rt.entries["team", "w"]
    _drive(rt, lambda: entry.evaluated_at is not None and not entry.running)
    (_, _, written), = writer.statuses
    assert writer.echoed.is_set() and shaped_on_the_loop == []
    assert entry.status is not None and entry.status.written_as(written) and rt.writing == {}
    assert rt.queue.qsize() == 0 and not entry.queued and not entry.dirty
    # Any other status the object gets meanwhile is still taken as the object has it.
    rt.writing[entry.key] = (written["observedGeneration"], written["lastEvaluationTime"])
    edited = {**written, "lastEvaluationTime": "2026-12-01T12:05:00Z"}
    rt.seen("MODIFIED", _body(status=edited))
    assert len(shaped_on_the_loop) == 1 and entry.status.evaluated_at == "2026-12-01T12:05:00Z"


def test_a_spec_change_is_taken_once_and_evaluated_at_once() -> None:
    rt, _, _ = _runtime()
    rt.seen("ADDED", _body(status={"observedGeneration": 1}))
    entry = rt.entries["team", "w"]
    entry.queued, entry.evaluated_generation = False, 1
    first = entry.spec
    rt.seen("MODIFIED", _body(status={"observedGeneration": 1}))  # status-only change: the spec kept stays
    assert entry.spec is first and not entry.queued
    rt.seen("MODIFIED", _body(generation=2, status={"observedGeneration": 1},
                              slo={"ttftP95Ms": 1000, "tpotP95Ms": 50}))
    assert entry.spec is not first and entry.queued


def test_a_change_during_an_evaluation_is_evaluated_again_afterwards() -> None:
    rt, _, _ = _runtime()
    rt.seen("ADDED", _body())
    entry = rt.entries["team", "w"]
    entry.queued, entry.running = False, True
    rt.seen("MODIFIED", _body(generation=2))
    assert entry.dirty and not entry.queued


def test_periodic_evaluations_fall_due_on_the_monotonic_clock() -> None:
    rt, _, clock = _runtime(interval_s=300.0)
    rt.seen("ADDED", _body())
    entry = rt.entries["team", "w"]
    entry.queued, entry.due = False, clock.t + 300.0
    assert rt.enqueue_due() == 0
    clock.t += 299.0
    assert rt.enqueue_due() == 0
    clock.t += 1.0
    assert rt.enqueue_due() == 1 and entry.queued
    assert rt.enqueue_due() == 0  # already queued


def test_a_uid_change_is_a_new_object() -> None:
    rt, _, _ = _runtime()
    rt.seen("ADDED", _body(uid="u1"))
    rt.entries["team", "w"].queued = False
    rt.seen("ADDED", _body(uid="u2"))  # deleted and recreated under the same name
    assert rt.entries["team", "w"].uid == "u2" and rt.entries["team", "w"].queued


def test_deleted_objects_are_forgotten() -> None:
    rt, _, _ = _runtime()
    rt.seen("ADDED", _body())
    rt.seen("DELETED", _body())
    assert rt.entries == {}


def _drive(rt: Runtime, until: Any, steps: int = 6000) -> None:  # up to a minute: a slow machine only waits
    async def go() -> None:
        rt.start()
        try:
            for _ in range(steps):
                if until():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("the runtime never got there")
        finally:
            await rt.stop()

    asyncio.run(go())


def test_the_workers_evaluate_write_the_status_and_post_the_event() -> None:
    rt, writer, clock = _runtime()
    rt.seen("ADDED", _body())
    entry = rt.entries["team", "w"]
    # Wait for the whole evaluation, not its first write: the event is posted after the status (CI once
    # looked between the two).
    _drive(rt, lambda: entry.evaluated_at is not None and not entry.running)
    (ns, name, status) = writer.statuses[0]
    assert (ns, name) == ("team", "w")
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["lastTransitionTime"] == "2026-12-01T12:00:00Z"
    assert writer.events == [("w", "Normal", "RecommendationChanged")]
    # What is kept is what the next evaluation reads back, and the fingerprint of the rest.
    assert entry.status == KeptStatus.of(kept(status)) and entry.evaluated_generation == 1
    assert entry.status is not None and entry.status.observed_generation == 1
    held = entry.status.unpacked()
    assert held["conditions"] == status["conditions"] and held[DIGEST] == fingerprint(status)
    assert entry.due == pytest.approx(clock.t + 300.0)  # jitter 0
    assert writer.closed


def test_observations_come_from_the_backend_the_factory_gives() -> None:
    obs = Observation("1h", NOW.timestamp(), requests_per_second=2.5, prompt_tokens_mean=500.0,
                      output_tokens_mean=100.0)
    backend = FakeBackend(answer=obs)
    rt, writer, _ = _runtime(backend)
    rt.seen("ADDED", _body(metrics={"server": "vllm", "selector": {"namespace": "chat"}}))
    _drive(rt, lambda: writer.statuses)
    (request,) = backend.requests
    assert (request.server, dict(request.selector), request.window, request.platform) == (
        "vllm", {"namespace": "chat"}, "1h", "gpu")
    assert writer.statuses[0][2]["observed"]["requestsPerSecond"] == "2.5000"


def test_a_metrics_fault_is_a_condition_not_a_failure() -> None:
    backend = FakeBackend(answer=MetricsUnavailable("PrometheusUnreachable", "http://127.0.0.1:9: refused"))
    rt, writer, _ = _runtime(backend)
    rt.seen("ADDED", _body(metrics={"server": "vllm"}))
    _drive(rt, lambda: writer.statuses)
    conds = {c["type"]: c for c in writer.statuses[0][2]["conditions"]}
    assert conds["MetricsAvailable"]["reason"] == "PrometheusUnreachable"
    assert conds["Ready"]["status"] == "True"


def test_a_failed_write_backs_off_and_doubles() -> None:
    rt, writer, clock = _runtime(interval_s=3600.0)
    writer.fail_with = RuntimeError("API server said 500")
    rt.seen("ADDED", _body())
    entry = rt.entries["team", "w"]
    _drive(rt, lambda: entry.failures == 1)
    assert entry.due == pytest.approx(clock.t + ERROR_BACKOFF_S)
    assert rt.telemetry.api_errors.labels("status")._value.get() == 1


def test_an_object_gone_while_evaluated_is_dropped() -> None:
    rt, writer, _ = _runtime()
    writer.fail_with = Gone("team/w")
    rt.seen("ADDED", _body())
    _drive(rt, lambda: not rt.entries)
    assert writer.statuses == []


def test_an_approval_is_evaluated_at_once_though_the_generation_stays() -> None:
    rt, _, _ = _runtime()
    rt.seen("ADDED", _body(status={"observedGeneration": 1}))
    entry = rt.entries["team", "w"]
    entry.queued, entry.evaluated_generation = False, 1
    body = _body(status={"observedGeneration": 1})
    body["metadata"]["annotations"] = {"inferplace.io/approved-recommendation": "0123456789ab"}
    rt.seen("MODIFIED", body)
    assert entry.queued and entry.approved == "0123456789ab"


def test_a_spec_change_goes_ahead_of_periodic_re_evaluations() -> None:
    rt, _, clock = _runtime()
    for i in range(5):
        rt.seen("ADDED", _body(name=f"p{i}", uid=f"u{i}", status={"observedGeneration": 1}))
    while rt.queue.qsize():
        rt.queue.get_nowait()
    for e in rt.entries.values():
        e.queued, e.urgent, e.evaluated_generation, e.due = False, False, 1, clock.t
    clock.t += 1
    assert rt.enqueue_due() == 5  # five periodic re-evaluations waiting
    rt.seen("MODIFIED", _body(name="p3", uid="u3", generation=2, status={"observedGeneration": 1}))
    first = rt.queue.get_nowait()
    assert first[0] == 0 and first[2] == ("team", "p3")  # the edited one first
    keys = [rt.queue.get_nowait()[2] for _ in range(rt.queue.qsize())]
    assert ("team", "p3") in keys  # its periodic item is still there, and skipped by the worker
    assert rt.entries["team", "p3"].urgent


def test_the_worker_skips_a_periodic_item_an_urgent_one_overtook() -> None:
    rt, writer, clock = _runtime()
    rt.seen("ADDED", _body(status={"observedGeneration": 1}))
    entry = rt.entries["team", "w"]
    while rt.queue.qsize():
        rt.queue.get_nowait()
    entry.queued, entry.urgent, entry.evaluated_generation, entry.due = False, False, 1, clock.t
    clock.t += 1
    rt.enqueue_due()
    rt.seen("MODIFIED", _body(generation=2, status={"observedGeneration": 1}))
    _drive(rt, lambda: entry.evaluated_at is not None and not entry.running and rt.queue.qsize() == 0)
    assert len(writer.statuses) == 1  # evaluated once, for the urgent item


def test_while_the_api_server_is_away_evaluations_wait_with_one_log_line(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    rt, writer, _ = _runtime()
    writer.fail_with = ApiUnavailable("MaxRetryError")
    attempts: list[str] = []
    failing = writer.write_status

    def counted(namespace: str, name: str, *args: Any) -> None:
        attempts.append(name)
        failing(namespace, name, *args)

    monkeypatch.setattr(writer, "write_status", counted)
    for i in range(20):
        rt.seen("ADDED", _body(name=f"w{i}", uid=f"u{i}"))

    async def go() -> None:
        rt.start()
        try:
            for _ in range(100):
                await asyncio.sleep(0.01)
            assert rt.api_down_since is not None and rt.api_up is not None and not rt.api_up.is_set()
            assert all(e.queued for e in rt.entries.values())  # waiting, not failed
        finally:
            await rt.stop()

    with caplog.at_level("WARNING", logger="inferplace.operator"):
        asyncio.run(go())
    assert [r.getMessage()[:30] for r in caplog.records] == ["Kubernetes API unreachable (Ma"]
    assert not any(r.exc_info for r in caplog.records)
    assert all(e.failures == 0 for e in rt.entries.values())
    assert attempts == ["w0"]  # the rest of its batch waits too, instead of each trying (and timing out)


def test_health_says_why_when_evaluations_or_the_api_server_stop() -> None:
    rt, _, clock = _runtime()
    loop = asyncio.new_event_loop()
    rt.tasks = [loop.create_future()]  # type: ignore[list-item]  # a loop task still running
    loop.close()
    assert rt.health() is None
    rt.seen("ADDED", _body())
    clock.t += rt.config.unhealthy_after_s + 1
    assert rt.health() == f"no evaluation has ended for {rt.config.unhealthy_after_s + 1:.0f} s with 1 queued"
    rt.progress_at = clock.t
    rt.api_down_since = clock.t - rt.config.unhealthy_after_s - 5
    assert rt.health() == f"the Kubernetes API has not answered for {rt.config.unhealthy_after_s + 5:.0f} s"


def test_a_future_evaluation_time_in_an_edited_status_does_not_stop_the_heartbeat() -> None:
    rt, writer, _ = _runtime()
    first = rt.evaluate_and_write("team", "w", "u1", 1, _spec_of(_body()), None)
    edited = dict(kept(first) or {})
    edited["lastEvaluationTime"] = "2999-01-01T00:00:00Z"
    writes = len(writer.statuses)
    rt.evaluate_and_write("team", "w", "u1", 1, _spec_of(_body()), edited)
    assert len(writer.statuses) == writes + 1  # written again, not trusted as "written recently"
    assert writer.statuses[-1][2]["lastEvaluationTime"] == "2026-12-01T12:00:00Z"


def _spec_of(body: dict[str, Any]) -> Any:
    return parse_spec(body["spec"])


# ---- after a move: the fleet's checks -------------------------------------------------------------

MOVED_FROM = NOW.replace(hour=10)  # two hours before NOW


def _traffic(tokens: float, ttft_s: float, tpot_s: float) -> Observation:
    return Observation("1h", NOW.timestamp(), requests_per_second=2.0, prompt_tokens_mean=500.0,
                       output_tokens_mean=200.0, output_tokens_per_second=tokens, ttft_p95_s=ttft_s,
                       tpot_p95_s=tpot_s)


class BrokenStore:
    def load(self) -> list[Check]:
        return []

    def add(self, check: Check) -> list[Check]:
        raise RuntimeError("ConfigMap team/c: HTTP 403 Forbidden")


def _moved(status: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    p = status["promises"][0]
    body = _body(metrics={"server": "vllm", "selector": {"namespace": "chat"}}, verification={"settle": "1m"})
    body["spec"]["current"] = {"instanceType": p["instanceType"], "replicas": p["replicas"],
                               "chipsPerReplica": p["chipsPerReplica"], "recommendationId": p["id"],
                               "since": MOVED_FROM.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return body, p


def test_a_miss_is_kept_as_a_fleet_check_and_every_other_workload_falls_due(
        caplog: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend(answer=_traffic(400.0, 0.1, 0.02))
    rt, writer, clock = _runtime(backend)
    rt.seen("ADDED", _body(name="other", uid="u2"))
    rt.entries["team", "other"].due = clock.t + 300
    metrics = {"server": "vllm", "selector": {"namespace": "chat"}}
    before = rt.evaluate_and_write("team", "w", "u1", 1, parse_spec(_body(metrics=metrics)["spec"]), None)
    body, promise = _moved(before)
    # Every replica serves 0.6 of what was promised per replica (the fleet: the promised replicas).
    backend.answer = _traffic(float(promise["outputTokensPerSecondPerReplica"]) * promise["replicas"] * 0.6,
                              float(promise["ttftP95Ms"]) * 2 / 1e3, float(promise["tpotP95Ms"]) / 1e3)
    after = rt.evaluate_and_write("team", "w", "u1", 2, parse_spec(body["spec"]), before)
    assert after["verification"]["state"] == "Missed"
    assert ("w", "Warning", "PredictionMissed") in writer.events
    (check,) = rt.fleet_checks.store.load()
    assert (check.workload, check.scope, check.promise) == ("team/w", promise["scope"], promise["id"])
    assert check.ratio == pytest.approx(0.6, abs=1e-3)
    assert rt.entries["team", "other"].due <= clock.t  # evaluated with the correction at once
    # the baseline was read at the move, the check over the window ending now
    assert [r.at for r in backend.requests] == [None, None, MOVED_FROM.timestamp()]
    sample = rt.telemetry.registry.get_sample_value(
        "inferplace_prediction_ratio", {"namespace": "team", "workload": "w", "metric": "throughputPerReplica",
                                        "node_pool": promise["nodePool"]})
    assert sample == pytest.approx(0.6, abs=1e-3)
    saved = rt.telemetry.registry.get_sample_value("inferplace_realized_savings_dollars",
                                                   {"namespace": "team", "workload": "w"})
    assert saved == float(after["verification"]["realized"]["monthlySavings"])
    # the next evaluation: the verdict stands, no second check, the gauges stay
    again = rt.evaluate_and_write("team", "w", "u1", 2, parse_spec(body["spec"]), after)
    assert again["verification"] == after["verification"] and len(rt.fleet_checks.store.load()) == 1
    rt.seen("DELETED", _body())  # a deleted workload's series go
    assert rt.telemetry.registry.get_sample_value(
        "inferplace_prediction_ratio", {"namespace": "team", "workload": "w", "metric": "throughputPerReplica",
                                        "node_pool": promise["nodePool"]}) is None


def test_a_store_that_cannot_write_keeps_the_check_in_memory(caplog: pytest.LogCaptureFixture) -> None:
    backend = FakeBackend(answer=_traffic(400.0, 0.1, 0.02))
    rt, _, clock = _runtime(backend)
    rt.fleet_checks.store = BrokenStore()
    metrics = {"server": "vllm", "selector": {"namespace": "chat"}}
    before = rt.evaluate_and_write("team", "w", "u1", 1, parse_spec(_body(metrics=metrics)["spec"]), None)
    body, promise = _moved(before)
    backend.answer = _traffic(float(promise["outputTokensPerSecondPerReplica"]) * 0.6,
                              float(promise["ttftP95Ms"]) * 2 / 1e3, float(promise["tpotP95Ms"]) / 1e3)
    rt.evaluate_and_write("team", "w", "u1", 2, parse_spec(body["spec"]), before)
    assert rt.fleet_checks.held is not None and [c.workload for c in rt.fleet_checks.held] == ["team/w"]
    assert "not stored (ConfigMap team/c: HTTP 403 Forbidden): kept in memory" in caplog.text
    # and the next evaluation of another workload on the scope is corrected from memory
    other = rt.evaluate_and_write("team", "x", "u3", 1, parse_spec(_body(name="x")["spec"]), None)
    lines = [x for p in [other["recommendation"], *other["alternatives"]] if p.get("nodePool") == promise["nodePool"]
             for x in p["rationale"]]
    assert any(f"corrected by 1 live check of {promise['scope']}" in x for x in lines), lines
    # The store is read again a minute later (it has no checks): the one it refused is still held.
    clock.t += READ_EVERY_S
    rt.seen("ADDED", _body(name="y", uid="u9"))
    rt.entries["team", "y"].due = clock.t + 300
    rt.evaluate_and_write("team", "x", "u3", 1, parse_spec(_body(name="x")["spec"]), None)
    assert [c.workload for c in rt.fleet_checks.held] == ["team/w"]
    assert rt.entries["team", "y"].due == clock.t + 300  # nothing new: nothing falls due


def _corrected(status: dict[str, Any] | None, scope: str) -> bool:
    return status is not None and any(
        f"corrected by 1 live check of {scope}" in line
        for p in [status["recommendation"], *status["alternatives"]] for line in p.get("rationale", []))


def test_a_check_made_while_another_workload_is_evaluated_has_that_one_evaluated_again_at_once() -> None:
    """A miss found in a batch corrects the batch's other workloads too: they began with the corrections before
    it, so they are evaluated again when done, not an interval later (CI once waited for that)."""
    backend = FakeBackend(answer=_traffic(400.0, 0.1, 0.02))
    rt, writer, clock = _runtime(backend)
    metrics = {"server": "vllm", "selector": {"namespace": "chat"}}
    before = rt.evaluate_and_write("team", "w", "u1", 1, parse_spec(_body(metrics=metrics)["spec"]), None)
    body, promise = _moved(before)
    backend.answer = _traffic(float(promise["outputTokensPerSecondPerReplica"]) * promise["replicas"] * 0.6,
                              float(promise["ttftP95Ms"]) * 2 / 1e3, float(promise["tpotP95Ms"]) / 1e3)
    body["metadata"] = {**_body()["metadata"], "generation": 2}
    body["status"] = before
    rt.seen("ADDED", _body(name="other", uid="u2"))  # queued first: in w's batch, evaluated before w's check
    rt.seen("ADDED", body)
    other = rt.entries["team", "other"]
    _drive(rt, lambda: _corrected(next((s for _, n, s in reversed(writer.statuses) if n == "other"), None),
                                  promise["scope"]) and not other.running)
    assert ("w", "Warning", "PredictionMissed") in writer.events
    first, *_, last = [s for _, n, s in writer.statuses if n == "other"]
    assert not _corrected(first, promise["scope"]) and _corrected(last, promise["scope"])
    assert other.due == pytest.approx(clock.t + rt.config.interval_s)  # and then the interval again


def test_checks_another_process_adds_are_read_again_and_every_workload_falls_due() -> None:
    """Shard processes share one store: a process reads it again every READ_EVERY_S, and a check it did
    not hold makes its workloads fall due, to be evaluated with the correction."""
    store = MemoryCorrections()
    backend = FakeBackend(answer=_traffic(400.0, 0.1, 0.02))
    rt_a, _, _ = _runtime(backend)
    rt_b, _, clock_b = _runtime()
    rt_a.fleet_checks.store = rt_b.fleet_checks.store = store
    rt_b.seen("ADDED", _body(name="x", uid="u3"))
    x = rt_b.entries["team", "x"]
    x.due = clock_b.t + 300
    held = rt_b.evaluate_and_write("team", "y", "u4", 1, parse_spec(_body(name="y")["spec"]), None)  # reads: none
    metrics = {"server": "vllm", "selector": {"namespace": "chat"}}
    before = rt_a.evaluate_and_write("team", "w", "u1", 1, parse_spec(_body(metrics=metrics)["spec"]), None)
    body, promise = _moved(before)
    backend.answer = _traffic(float(promise["outputTokensPerSecondPerReplica"]) * promise["replicas"] * 0.6,
                              float(promise["ttftP95Ms"]) * 2 / 1e3, float(promise["tpotP95Ms"]) / 1e3)
    rt_a.evaluate_and_write("team", "w", "u1", 2, parse_spec(body["spec"]), before)
    assert len(store.load()) == 1 and not _corrected(held, promise["scope"])
    # Before the read interval: b predicts with what it holds, x stays where it was.
    again = rt_b.evaluate_and_write("team", "y", "u4", 1, parse_spec(_body(name="y")["spec"]), held)
    assert not _corrected(again, promise["scope"]) and x.due == clock_b.t + 300
    clock_b.t += READ_EVERY_S
    read = rt_b.evaluate_and_write("team", "y", "u4", 1, parse_spec(_body(name="y")["spec"]), again)
    assert _corrected(read, promise["scope"])
    assert x.due <= clock_b.t  # evaluated with the check at once


def test_a_process_with_nothing_due_still_reads_the_checks_each_minute_and_evaluates_with_a_new_one() -> None:
    """The store is read again on the scheduler's clock, not only when something is evaluated: with a long
    interval, a shard process would otherwise not learn of another's check until its next evaluation."""
    store = MemoryCorrections()
    rt, writer, clock = _runtime()
    rt.fleet_checks.store = store
    rt.seen("ADDED", _body(name="x", uid="u3"))
    x = rt.entries["team", "x"]
    scope: list[str] = []

    def step() -> bool:
        if not scope:
            if x.evaluated_at is None or x.running:
                return False
            first = writer.statuses[-1][2]
            scope.append(first["recommendation"]["confidence"]["scope"])
            assert not _corrected(first, scope[0]) and x.due == clock.t + rt.config.interval_s
            # Another process's check: in the store, not in this process
            store.add(Check(scope[0], 0.6, "2026-12-01T11:00:00Z", "other/w", "p1"))
            clock.t += READ_EVERY_S
            return False
        return len(writer.statuses) > 1 and _corrected(writer.statuses[-1][2], scope[0]) and not x.running

    _drive(rt, step)
    assert [n for _, n, _ in writer.statuses] == ["x", "x"]


def test_a_store_that_cannot_be_read_is_read_again_a_minute_later(
        caplog: pytest.LogCaptureFixture) -> None:
    rt, _, clock = _runtime()
    store = MemoryCorrections([Check("s", 0.5, "2026-12-01T11:00:00Z", "team/z", "p1")])
    failing = True

    class Flaky:
        def load(self) -> list[Check]:
            if failing:
                raise RuntimeError("ConfigMap team/c: HTTP 503 Service Unavailable")
            return store.load()

        def add(self, check: Check) -> list[Check]:
            return store.add(check)

    rt.fleet_checks.store = Flaky()
    rt.evaluate_and_write("team", "y", "u4", 1, parse_spec(_body(name="y")["spec"]), None)
    assert "fleet corrections not read (ConfigMap team/c: HTTP 503 Service Unavailable)" in caplog.text
    assert rt.fleet_checks.held == []
    failing = False
    rt.evaluate_and_write("team", "y", "u4", 1, parse_spec(_body(name="y")["spec"]), None)
    assert rt.fleet_checks.held == []  # not read again before the interval (a warning a minute, not a batch)
    clock.t += READ_EVERY_S
    rt.evaluate_and_write("team", "y", "u4", 1, parse_spec(_body(name="y")["spec"]), None)
    assert rt.fleet_checks.held == store.checks


# ---- hysteresis and ownership ---------------------------------------------------------------------

def _live(rps: float) -> Observation:
    return Observation("1h", NOW.timestamp(), requests_per_second=rps, prompt_tokens_mean=1000.0,
                       output_tokens_mean=200.0, output_tokens_per_second=rps * 200.0)


def test_live_figures_moving_within_the_tolerance_are_not_written_but_drift_adds_up() -> None:
    backend = FakeBackend(answer=_live(10.0))
    rt, writer, _ = _runtime(backend)
    body = _body(metrics={"server": "vllm", "selector": {"namespace": "chat"}})
    first = kept(rt.evaluate_and_write("team", "w", "u1", 1, _spec_of(body), None))
    assert len(writer.statuses) == 1
    backend.answer = _live(10.05)  # 0.5%: within the default 2%
    second = rt.evaluate_and_write("team", "w", "u1", 1, _spec_of(body), first)
    assert len(writer.statuses) == 1 and second is first  # the object keeps the status it has
    assert rt.telemetry.status_skipped.labels("within_tolerance")._value.get() == 1
    backend.answer = _live(10.1)  # 1% from the last evaluation, but compared with what was written
    rt.evaluate_and_write("team", "w", "u1", 1, _spec_of(body), second)
    backend.answer = _live(10.3)  # 3% from the written 10.0: written
    rt.evaluate_and_write("team", "w", "u1", 1, _spec_of(body), second)
    assert len(writer.statuses) == 2
    assert writer.statuses[-1][2]["observed"]["requestsPerSecond"] == "10.3000"


class Holds:
    def __init__(self, *shards: int) -> None:
        self.shards = set(shards)

    def holds(self, shard: int) -> bool:
        return shard in self.shards


def test_a_process_evaluates_and_writes_only_the_shards_it_holds() -> None:
    from inferplace.controller.runtime import NotHeld  # noqa: PLC0415
    from inferplace.controller.sharding import shard_of  # noqa: PLC0415

    rt, writer, _ = _runtime()
    rt.shards, rt.ownership = 2, Holds()
    names = [f"w{i}" for i in range(8)]
    for i, n in enumerate(names):
        rt.seen("ADDED", _body(name=n, uid=f"u{i}"))
    assert rt.queue.qsize() == 0  # a standby queues nothing
    rt.ownership = Holds(0)
    rt.shard_gained(0)
    mine = {n for n in names if shard_of("team", n, 2) == 0}
    assert 0 < rt.queue.qsize() == len(mine) < len(names)
    # the Lease lapses during an evaluation: nothing is written
    rt.ownership = Holds()
    with pytest.raises(NotHeld):
        rt.evaluate_and_write("team", sorted(mine)[0], "u", 1, _spec_of(_body()), None)
    assert writer.statuses == []
    rt.shard_lost(0, forget=True)
    assert {n for _, n in rt.entries} == set(names) - mine


def test_queued_workloads_are_evaluated_together_and_one_failure_is_not_the_others(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """What waits in the queue is taken BATCH at a time by a worker (one engine pass); a workload whose
    evaluation fails, or whose write fails, fails alone."""
    rt, writer, clock = _runtime()
    sizes: list[int] = []
    together = rt.evaluate_entries

    def recorded(snapshots: Any) -> Any:
        sizes.append(len(snapshots))
        return together(snapshots)

    monkeypatch.setattr(rt, "evaluate_entries", recorded)
    whole = runtime_module.reconcile_all

    def refusing(subjects: Any, ctx: Any) -> Any:  # a bug met by one workload only
        if any(s.name == "w3" for s in subjects):
            raise ValueError("w3 broke the engine")
        return whole(subjects, ctx)

    monkeypatch.setattr(runtime_module, "reconcile_all", refusing)
    real_write = writer.write_status

    def write(namespace: str, name: str, uid: str | None, status: dict[str, Any],
              generation: int | None = None) -> None:
        if name == "w5":
            raise RuntimeError("API server said 500")
        real_write(namespace, name, uid, status, generation)

    monkeypatch.setattr(writer, "write_status", write)
    names = [f"w{i}" for i in range(BATCH + 2)]
    for i, name in enumerate(names):
        rt.seen("ADDED", _body(name=name, uid=f"u{i}"))
    entries = [rt.entries["team", n] for n in names]
    _drive(rt, lambda: all(e.evaluated_at is not None or e.failures for e in entries) and
           not any(e.running for e in entries))
    assert sizes == [BATCH, 2]  # one worker: the queue's first BATCH, then the rest
    assert sorted(n for _, n, _ in writer.statuses) == sorted(set(names) - {"w3", "w5"})
    assert [n for n in names if rt.entries["team", n].failures] == ["w3", "w5"]
    assert rt.entries["team", "w3"].due == pytest.approx(clock.t + ERROR_BACKOFF_S)
    assert "evaluation of team/w3 failed" in caplog.text and "w3 broke the engine" in caplog.text
    # Each status is the one its workload gets alone.
    alone = Runtime(rt.config, CAT, FakeWriter(), FakeBackends(None), FixedPrices(default_book()), rt.region,
                    clock=lambda: NOW)
    status = alone.evaluate_and_write("team", "w0", "u0", 1, _spec_of(_body(name="w0", uid="u0")), None)
    assert next(s for _, n, s in writer.statuses if n == "w0") == status
