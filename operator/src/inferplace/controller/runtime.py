"""The operator's work loop, level-based.

kopf's watch feeds `seen()` with every InferenceWorkload as it is now. An object is evaluated when
its spec generation differs from `status.observedGeneration` (new, changed, or status lost), when it
is first seen after a start (resume), and every interval after its last evaluation (with jitter, so
a thousand objects do not all fall due together). Evaluations run in a thread pool: Prometheus
queries, the engine and the status write never block the event loop. A worker takes what waits in
the queue a few at a time (`BATCH`) and evaluates them together (`reconcile.reconcile_all`).

No finalizers or annotations are added to users' objects: nothing here needs to run on deletion,
and the level check above replaces kopf's stored diff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeVar

from inferplace.api import InferenceWorkloadSpec
from inferplace.api.clock import Clock, system_clock
from inferplace.api.vocabulary import APPROVAL_ANNOTATION, Platform
from inferplace.catalog import Catalog
from inferplace.controller.config import OperatorConfig
from inferplace.controller.fleet_checks import FleetChecks
from inferplace.controller.hysteresis import shape, within
from inferplace.controller.kube import ApiUnavailable, Gone, Superseded
from inferplace.controller.reconcile import (
    SNAPSHOT_ONLY,
    Context,
    Evaluation,
    InvalidSpec,
    PricesState,
    Subject,
    parse_spec,
    reconcile_all,
)
from inferplace.controller.sharding import shard_of
from inferplace.controller.telemetry import Telemetry
from inferplace.feedback.corrections import Check
from inferplace.feedback.verify import pending_move
from inferplace.metrics import MetricsBackend, MetricsUnavailable, Observation, ObserveRequest, SelectorError
from inferplace.metrics.plausible import checked
from inferplace.placement import RegionDefault
from inferplace.placement.calibration import FleetCorrections
from inferplace.placement.settings import DEFAULTS, Settings
from inferplace.pricing import PriceBook

log = logging.getLogger("inferplace.operator")
T = TypeVar("T")

ERROR_BACKOFF_S = 30.0  # first retry after an unexpected failure; doubles up to the interval
HEARTBEAT_INTERVALS = 12  # an unchanged status is still rewritten this many intervals after the last write
RELIST_AFTER_S = 30.0  # a re-listed workload evaluated longer ago than this is evaluated again
API_PROBE_S = 10.0  # how often the API server is asked whether it is there (GET /version)
RETAIN_EVERY_S = 60.0  # how often per-URL metrics backends no workload names are dropped
URGENT, PERIODIC = 0, 1  # queue priorities: a spec change or an approval goes ahead of periodic re-evaluations
DIGEST = "_digest"  # key of the kept status's fingerprint (never written to the API)
FIGURES = "_figures"  # and of its figures (hysteresis.shape)
# A worker evaluates up to this many queued workloads together: one engine pass for all of them (most of
# one evaluation alone is a pass's fixed cost); more would hold more search results in memory at once.
BATCH = 4
PLACEMENT_KEPT = ("kind", "summary", "instanceType", "capacityType", "replicas", "chipsPerReplica", "instances",
                  "weightPrecision", "speculativeDecoding")


def kept(status: dict[str, Any] | None, shaped: tuple[str, Any] | None = None) -> dict[str, Any] | None:
    """What the loop keeps of a status between evaluations: what reconcile reads back (conditions for
    their transition times, the placements' shapes and prices for Events), and the skeleton's digest
    and the figures of the rest to tell an unchanged result. A whole status is ~35 KB of JSON and ~50 KB
    as Python objects: a thousand of them would be most of the operator's memory. `shaped`: the status's
    `hysteresis.shape`, when already computed."""
    if status is None:
        return None
    # promises and verification: what a move is checked against (small, and read back by the next evaluation)
    out: dict[str, Any] = {k: status[k] for k in ("observedGeneration", "lastEvaluationTime", "conditions",
                                                  "promises", "verification") if k in status}
    for key in ("current", "recommendation"):
        p = status.get(key)
        if isinstance(p, dict):
            price = (p.get("costBreakdown") or {}).get("price")
            out[key] = {k: p[k] for k in PLACEMENT_KEPT if k in p} | (
                {"costBreakdown": {"price": price}} if price else {})
    out[DIGEST], out[FIGURES] = shaped or shape(status)
    return out


@dataclass(frozen=True, slots=True)
class Packed:
    """A JSON document held between evaluations as compressed compact JSON. One process holds thousands:
    packed, a spec takes ~0.3 KB (~8 KB parsed) and a kept status ~2 KB (~23 KB as Python objects). The
    worker thread that evaluates it unpacks it (~0.1 ms, against ~10 ms for the evaluation)."""

    data: bytes

    @classmethod
    def of(cls, doc: Any) -> Packed:
        # default=list: the kept figures are an array('d'); floats come back from JSON exactly as they were.
        return cls(zlib.compress(json.dumps(doc, separators=(",", ":"), default=list).encode(), 1))

    def doc(self) -> Any:
        return json.loads(zlib.decompress(self.data))


@dataclass(frozen=True, slots=True)
class KeptStatus:
    """`kept(status)` packed, with the fields the event loop reads without unpacking it."""

    observed_generation: Any
    evaluated_at: Any  # lastEvaluationTime
    packed: Packed

    @classmethod
    def of(cls, status: dict[str, Any] | None) -> KeptStatus | None:
        if status is None:
            return None
        return cls(status.get("observedGeneration"), status.get("lastEvaluationTime"), Packed.of(status))

    def written_as(self, status: dict[str, Any]) -> bool:
        """Whether `status` (from the watch) is the one kept: the same generation and evaluation time. Our
        own write comes back so once per write; shaping its ~27 KB again on the event loop would tell
        nothing new. (A hand edit of the status that keeps both times is seen at the next write.)"""
        return (self.evaluated_at is not None and status.get("lastEvaluationTime") == self.evaluated_at
                and status.get("observedGeneration") == self.observed_generation)

    def unpacked(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.packed.doc()
        return doc


def prometheus_url(spec: Any) -> str | None:
    """`spec.metrics.prometheusUrl` as written (the backend factory's key), read without parsing the spec."""
    metrics = spec.get("metrics") if isinstance(spec, dict) else None
    url = metrics.get("prometheusUrl") if isinstance(metrics, dict) else None
    return url if isinstance(url, str) else None


def fingerprint(status: dict[str, Any]) -> str:
    """The status without its figures and volatile times (hysteresis.shape)."""
    return shape(status)[0]


class StatusWriter(Protocol):
    """Where evaluations go: the API server (kube.KubeWriter), or a fake in tests."""

    def write_status(self, namespace: str, name: str, uid: str | None, status: dict[str, Any],
                     generation: int | None = None) -> None: ...

    def post_event(self, namespace: str, name: str, uid: str | None, kind_type: str, reason: str,
                   message: str) -> None: ...

    def ping(self) -> None:
        """Raise unless the API server answers."""

    def close(self) -> None: ...


class Ownership(Protocol):
    """Which shards this process may evaluate and write now (controller.leases.ShardLeases)."""

    def holds(self, shard: int) -> bool: ...


class NotHeld(Exception):  # noqa: N818 - a state: another process owns the workload now
    """The workload's shard is not (or no longer) this process's: its status is not written."""


class Prices(Protocol):
    """The operator's prices (controller.prices.OperatorPrices, or a fixed book in tests)."""

    def book(self) -> PriceBook: ...

    def state(self) -> PricesState: ...

    def want(self, regions: Iterable[str]) -> None: ...


@dataclass(frozen=True)
class FixedPrices:
    """A price book that never changes (the CLI's view, tests)."""

    fixed: PriceBook

    def book(self) -> PriceBook:
        return self.fixed

    def state(self) -> PricesState:
        return SNAPSHOT_ONLY

    def want(self, regions: Iterable[str]) -> None:
        pass


class BackendFactory(Protocol):
    """The metrics backend for a workload's `spec.metrics.prometheusUrl` (None: the operator's own)."""

    def __call__(self, url: str | None) -> MetricsBackend | None:
        """Raises MetricsUnavailable when the URL may not be asked (before any request)."""

    def retain(self, urls: Iterable[str | None]) -> int:
        """Drop what is kept for URLs no workload names any more."""


@dataclass
class Entry:
    namespace: str
    name: str
    uid: str | None
    generation: int | None
    spec: Packed  # as the watch delivered it; parsed by the evaluation
    status: KeptStatus | None
    prometheus_url: str | None = None  # spec.metrics.prometheusUrl (which metrics backends to keep)
    due: float = 0.0  # monotonic time of the next periodic evaluation
    queued: bool = False
    urgent: bool = False  # queued ahead of periodic re-evaluations
    running: bool = False
    dirty: bool = False  # changed while running: evaluate again when done
    recheck: bool = False  # the fleet's corrections changed while it ran: evaluate again when done
    failures: int = 0
    evaluated_generation: int | None = None
    evaluated_at: float | None = None  # monotonic time of the last evaluation that reached the API
    approved: str | None = None  # the inferplace.io/approved-recommendation annotation

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    def stale(self) -> bool:
        observed = self.status.observed_generation if self.status is not None else None
        return self.generation is not None and observed != self.generation


class Snapshot(NamedTuple):
    """What an Entry holds when its evaluation starts (the worker thread reads only this)."""

    namespace: str
    name: str
    uid: str | None
    generation: int | None
    spec: Packed
    status: KeptStatus | None
    approved: str | None


class _Item(NamedTuple):
    """One evaluation's input: a Snapshot with its spec parsed and its status unpacked."""

    namespace: str
    name: str
    uid: str | None
    generation: int | None
    spec: InferenceWorkloadSpec | InvalidSpec
    previous: dict[str, Any] | None
    approved: str | None


def _answers(subjects: Sequence[Subject], ctx: Context) -> Iterator[Evaluation | Exception]:
    """Each subject's evaluation, in order, from one batched pass (`reconcile_all`); from where that pass
    fails, each alone, so only the subject at fault gets the exception."""
    done = 0
    try:
        batch = reconcile_all(subjects, ctx)
        for _ in subjects:
            answer = next(batch)
            done += 1
            yield answer
    except Exception:
        for subject in subjects[done:]:
            try:
                yield next(reconcile_all([subject], ctx))
            except Exception as exc:
                yield exc


@dataclass
class Runtime:
    config: OperatorConfig
    catalog: Catalog
    kube: StatusWriter
    backends: BackendFactory
    prices: Prices
    region: RegionDefault
    settings: Settings = DEFAULTS
    telemetry: Telemetry = field(default_factory=Telemetry)
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    clock: Clock = system_clock  # wall time for status timestamps, price ages, Prometheus windows
    fleet_checks: FleetChecks = field(default_factory=FleetChecks)
    monotonic: Callable[[], float] = time.monotonic  # scheduling
    tick_s: float = 1.0  # how often the scheduler looks for workloads that fell due
    probe_s: float = API_PROBE_S
    ownership: Ownership | None = None  # None: one process owns every workload (no leader election)
    shards: int = 1

    def __post_init__(self) -> None:
        # (priority, order, key): spec changes and approvals before periodic re-evaluations, each in turn.
        self.queue: asyncio.PriorityQueue[tuple[int, int, tuple[str, str]]] = asyncio.PriorityQueue()
        self._order = 0
        self.pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="inferplace-eval")
        self.probe_pool = ThreadPoolExecutor(1, thread_name_prefix="inferplace-api-probe")
        self.tasks: list[asyncio.Task[None]] = []
        self.checks_reading: asyncio.Future[None] | None = None  # the fleet's checks being read again
        self.api_down_since: float | None = None
        self.api_up: asyncio.Event | None = None  # made on the loop by start(): set while the API answers
        self.progress_at = self.monotonic()  # the last time an evaluation ended, or nothing was waiting
        self.retained_at = self.monotonic()
        self.loop: asyncio.AbstractEventLoop | None = None  # start()'s: where Entries are changed
        # (observedGeneration, lastEvaluationTime) of each status a worker is writing, until its result is
        # settled: the watch often brings the write back first, and it is no news to keep.
        self.writing: dict[tuple[str, str], tuple[Any, Any]] = {}

    # ---- ownership (leader election and shards) ----------------------------------------------------

    def owns(self, key: tuple[str, str]) -> bool:
        return self.ownership is None or self.ownership.holds(shard_of(key[0], key[1], self.shards))

    def shard_gained(self, shard: int) -> None:
        """Evaluate what the shard's previous holder may have left undone: changed specs now, the rest
        as soon as the queue allows (on the event loop)."""
        now = self.monotonic()
        for entry in self.entries.values():
            if shard_of(entry.namespace, entry.name, self.shards) == shard:
                entry.due = now
                if entry.stale() and not entry.running:
                    self._enqueue(entry, urgent=True)

    def shard_lost(self, shard: int, forget: bool) -> None:
        """Stop evaluating a shard; `forget`: drop its workloads too (a sharded process watches only what
        it holds; a standby of one shard keeps them for a quick takeover)."""
        for key, entry in list(self.entries.items()):
            if shard_of(entry.namespace, entry.name, self.shards) == shard:
                entry.queued = False
                if forget:
                    self.entries.pop(key, None)
                    self.telemetry.forget(*key)
        self.telemetry.workloads.set(len(self.entries))

    # ---- inputs from the watch ------------------------------------------------------------------

    def seen(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if event_type == "DELETED":
            self.entries.pop(key, None)
            self.telemetry.forget(*key)
            self.telemetry.workloads.set(len(self.entries))
            return
        annotations = meta.get("annotations")
        raw = annotations.get(APPROVAL_ANNOTATION) if isinstance(annotations, dict) else None
        approved = str(raw) if raw is not None else None
        entry = self.entries.get(key)
        body_status = body.get("status")
        status = None
        in_flight = False  # the status a worker is writing for this very generation
        if isinstance(body_status, dict):
            ours = entry is not None and entry.uid == meta.get("uid")
            held = entry.status if ours and entry is not None else None
            if held is not None and held.written_as(body_status):
                status = held
            elif ours and self.writing.get(key) == (body_status.get("observedGeneration"),
                                                    body_status.get("lastEvaluationTime")):
                # Being written: the evaluation's result (settled next) is what it keeps.
                in_flight = body_status.get("observedGeneration") == meta.get("generation")
            else:
                status = KeptStatus.of(kept(body_status))
        if entry is None or entry.uid != meta.get("uid"):
            # First sight (create, resume after a restart, a shard taken over): evaluate now; one whose
            # status already answers its spec waits behind those that do not (spec changes go first).
            entry = Entry(key[0], key[1], meta.get("uid"), meta.get("generation"), Packed.of(body.get("spec")),
                          status, prometheus_url(body.get("spec")), approved=approved, due=self.monotonic())
            self.entries[key] = entry
            self.telemetry.workloads.set(len(self.entries))
            self._enqueue(entry, urgent=entry.stale() or entry.generation is None)
            return
        if event_type is None and not entry.queued and not entry.running and (
                entry.evaluated_at is None or self.monotonic() - entry.evaluated_at > RELIST_AFTER_S):
            # A re-list: the watch stream was restarted (the API server or etcd came back, or the resource
            # version expired). Whatever was missed meanwhile, evaluate again instead of trusting it.
            entry.due = self.monotonic()
        if approved != entry.approved:
            # An approval does not bump the generation: the Approved condition must follow it at once.
            entry.approved = approved
            if entry.running:
                entry.dirty = True
            else:
                self._enqueue(entry, urgent=True)
        if meta.get("generation") != entry.generation:
            entry.spec, entry.prometheus_url = Packed.of(body.get("spec")), prometheus_url(body.get("spec"))
        entry.generation = meta.get("generation")
        if status is not None or entry.status is None:
            entry.status = status
        if entry.stale() and entry.evaluated_generation != entry.generation and not in_flight:
            if entry.running:
                entry.dirty = True
            else:
                self._enqueue(entry, urgent=True)

    def _enqueue(self, entry: Entry, urgent: bool = False) -> None:
        """Queue `entry` once; an urgent request for one already queued as periodic goes ahead (the
        older queue item is skipped when it comes up)."""
        if entry.queued and (entry.urgent or not urgent):
            return
        if not self.owns(entry.key):
            return  # another process's (or nobody's yet): shard_gained queues it when it becomes ours
        entry.queued, entry.urgent = True, urgent
        self._order += 1
        self.queue.put_nowait((URGENT if urgent else PERIODIC, self._order, entry.key))
        self.telemetry.queue.set(self.queue.qsize())

    # ---- the loops ------------------------------------------------------------------------------

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.api_up = asyncio.Event()
        self.api_up.set()
        self.tasks.append(asyncio.create_task(self._scheduler(), name="inferplace-scheduler"))
        self.tasks.append(asyncio.create_task(self._api_probe(), name="inferplace-api-probe"))
        for i in range(self.config.workers):
            self.tasks.append(asyncio.create_task(self._worker(), name=f"inferplace-worker-{i}"))

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.probe_pool.shutdown(wait=False, cancel_futures=True)
        self.kube.close()

    def healthy(self) -> bool:
        return self.health() is None

    def health(self) -> str | None:
        """Why the operator is not doing its work (None: it is): a loop ended, the API server has not
        answered, or queued evaluations have not progressed, for longer than --unhealthy-after."""
        if not self.tasks or any(t.done() for t in self.tasks):
            return "the evaluation loop is not running"
        now, limit = self.monotonic(), self.config.unhealthy_after_s
        if self.api_down_since is not None and now - self.api_down_since > limit:
            return f"the Kubernetes API has not answered for {now - self.api_down_since:.0f} s"
        if self.api_down_since is None and self.queue.qsize() and now - self.progress_at > limit:
            return f"no evaluation has ended for {now - self.progress_at:.0f} s with {self.queue.qsize()} queued"
        return None

    def enqueue_due(self) -> int:
        """Queue every workload whose periodic evaluation fell due; how many were queued."""
        now = self.monotonic()
        due = [e for e in self.entries.values() if not e.queued and not e.running and e.due and e.due <= now]
        for entry in due:
            self._enqueue(entry)
        if self.queue.qsize() == 0:
            self.progress_at = now
        if now - self.retained_at >= RETAIN_EVERY_S:
            self.retained_at = now
            self.retain_backends()
        return len(due)

    def retain_backends(self) -> int:
        """Drop the per-URL metrics backends of URLs no workload names any more."""
        return self.backends.retain({e.prometheus_url for e in self.entries.values()})

    async def _scheduler(self) -> None:
        while True:
            self.enqueue_due()
            self.read_checks_when_due()
            await asyncio.sleep(self.tick_s)

    def read_checks_when_due(self) -> None:
        """Read the fleet's checks again when due, whether or not anything is evaluated: a process with
        nothing due for a long interval still learns of the other processes' checks within a minute."""
        if (self.checks_reading is not None and not self.checks_reading.done()) or self.api_down_since is not None \
                or not self.fleet_checks.due(self.monotonic()):
            return  # (while the API server is away, one line says so: not a failed read a minute)
        self.checks_reading = asyncio.get_running_loop().run_in_executor(self.probe_pool, self._read_checks)

    def _read_checks(self) -> None:
        try:
            self._refresh_checks(set())
        except Exception:  # a bug: said, and tried again a minute later
            log.exception("reading the fleet's checks failed")

    async def _api_probe(self) -> None:
        """Notice the API server going and coming back. kopf resumes its watch from the last resource
        version, so nothing else says that writes were missed: on its return, evaluate everything."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.probe_s)
            try:
                await loop.run_in_executor(self.probe_pool, self.kube.ping)
            except Exception as exc:
                self.api_went_away(f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            if self.api_down_since is not None:
                away = self.monotonic() - self.api_down_since
                self.api_down_since = None
                if self.api_up is not None:
                    self.api_up.set()
                self.api_returned()
                log.warning("Kubernetes API back after %.0f s: evaluating all %d workloads again", away,
                            len(self.entries))

    def api_went_away(self, why: str) -> None:
        """Stop evaluating until the API server answers again; one log line per outage, not one per workload."""
        if self.api_down_since is None:
            self.api_down_since = self.monotonic()
            if self.api_up is not None:
                self.api_up.clear()
            log.warning("Kubernetes API unreachable (%s): evaluations wait for it", why)

    def api_returned(self) -> None:
        now = self.monotonic()
        for entry in self.entries.values():
            entry.due = now

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self.api_up is not None:
                await self.api_up.wait()  # while the API server is away, evaluations wait instead of failing
            taken = [await self.queue.get()]
            while len(taken) < BATCH and not self.queue.empty():
                taken.append(self.queue.get_nowait())
            self.telemetry.queue.set(self.queue.qsize())
            batch: list[tuple[Entry, Snapshot]] = []
            for priority, _, key in taken:
                entry = self.entries.get(key)
                if entry is None or not entry.queued or (priority == PERIODIC and entry.urgent):
                    continue  # deleted, or this item was overtaken by an urgent one
                entry.queued, entry.urgent, entry.running, entry.dirty = False, False, True, False
                if not self.owns(key):
                    entry.running = False
                    continue
                batch.append((entry, Snapshot(entry.namespace, entry.name, entry.uid, entry.generation, entry.spec,
                                              entry.status, entry.approved)))
            if not batch:
                continue
            results = await loop.run_in_executor(self.pool, self.evaluate_entries, [s for _, s in batch])
            for (entry, snapshot), result in zip(batch, results, strict=True):
                self._settle(entry, snapshot, result)

    def _settle(self, entry: Entry, snapshot: Snapshot, result: KeptStatus | Exception | None) -> None:
        """Take an evaluation's result into its Entry (on the event loop)."""
        key = entry.key
        entry.running = False
        self.writing.pop(key, None)
        recheck, entry.recheck = entry.recheck, False
        self.progress_at = self.monotonic()
        if isinstance(result, NotHeld):
            return
        if isinstance(result, Gone):
            self.entries.pop(key, None)
            self.telemetry.forget(*key)
            return
        if isinstance(result, Superseded):
            # The spec changed under the evaluation: the watch brings the new generation; evaluate it.
            self._enqueue(entry, urgent=True)
            return
        if isinstance(result, ApiUnavailable):
            # Not this workload's fault: wait for the API server (one line, no traceback) and try again.
            self.api_went_away(str(result)[:200])
            self._enqueue(entry, urgent=True)
            return
        if isinstance(result, Exception):
            log.error("evaluation of %s/%s failed", *key, exc_info=result)
            self.telemetry.evaluations.labels("error").inc()
            entry.failures += 1
            entry.due = self.monotonic() + min(ERROR_BACKOFF_S * 2 ** (entry.failures - 1), self.config.interval_s)
        else:
            entry.failures = 0
            entry.status = result
            entry.evaluated_generation = snapshot.generation
            entry.evaluated_at = self.monotonic()
            # Corrections that came during the evaluation (a check of this batch's or another's) were not in it.
            entry.due = self.monotonic() + (0.0 if recheck else self._interval())
        if entry.dirty and (entry.stale() or entry.approved != snapshot.approved):
            self._enqueue(entry, urgent=True)

    def _interval(self) -> float:
        j = self.config.jitter
        return self.config.interval_s * random.uniform(1.0 - j, 1.0 + j)

    # ---- one evaluation (worker thread) ---------------------------------------------------------

    def evaluate_and_write(self, namespace: str, name: str, uid: str | None, generation: int | None,
                           spec: InferenceWorkloadSpec | InvalidSpec,
                           previous: dict[str, Any] | None, approved: str | None = None) -> dict[str, Any]:
        """The status the object has after the evaluation (written, or the previous one kept)."""
        item = _Item(namespace, name, uid, generation, spec, previous, approved)
        (done,) = self._evaluate_all([item], lambda _, status, __: status)
        self.writing.pop((namespace, name), None)  # no loop settles it
        if isinstance(done, Exception):
            raise done
        return done

    def evaluate_entries(self, snapshots: Sequence[Snapshot]) -> list[KeptStatus | Exception | None]:
        """The loop's evaluation of what Entries hold, together: for each, what it keeps of the status the
        object has after it, or what went wrong (one workload's failure is not the others')."""
        try:
            items = [_Item(s.namespace, s.name, s.uid, s.generation, parse_spec(s.spec.doc()),
                           None if s.status is None else s.status.unpacked(), s.approved) for s in snapshots]

            def keep(i: int, _: dict[str, Any], kept_now: dict[str, Any] | None) -> KeptStatus | None:
                # The object still has the status kept before: keep that (no packing again).
                return snapshots[i].status if kept_now is items[i].previous else KeptStatus.of(kept_now)

            return self._evaluate_all(items, keep)
        except Exception as exc:  # a bug before any workload's own part: each is told
            return [exc] * len(snapshots)

    def _evaluate_all(self, items: Sequence[_Item],
                      take: Callable[[int, dict[str, Any], dict[str, Any] | None], T]) -> list[T | Exception]:
        """Observe each workload, evaluate them together (`reconcile_all`), and write each as its answer
        comes: per workload `take(its index, the status it has now, what to keep of it)`, or the exception that
        stopped it. Statuses are made and written one at a time, so a batch holds one at once."""
        started = time.perf_counter()
        now = self.clock()
        subjects: list[Subject | Exception] = []
        for item in items:
            try:
                subjects.append(self._subject(item, now))
            except Exception as exc:  # a bug met by one workload: reported as its failure
                subjects.append(exc)
        ctx = Context(self.catalog, self.prices.book(), self.region, now, self.settings, self.prices.state(),
                      self._corrections(now, {(i.namespace, i.name) for i in items}))
        answers = _answers([s for s in subjects if isinstance(s, Subject)], ctx)
        away: ApiUnavailable | None = None  # the API server stopped answering: the rest wait for it too
        out: list[T | Exception] = []
        for i, (item, subject) in enumerate(zip(items, subjects, strict=True)):
            result = away if away is not None else subject if isinstance(subject, Exception) else next(answers)
            if isinstance(result, Exception):
                out.append(result)
                continue
            try:
                written, keep = self._conclude(item, result)
                out.append(take(i, written, keep))
            except ApiUnavailable as exc:
                away = exc
                out.append(exc)
            except Exception as exc:
                out.append(exc)
        # Its batch's wall time shared among its workloads (the engine pass is one for all of them).
        share = (time.perf_counter() - started) / max(len(items), 1)
        for _ in items:
            self.telemetry.duration.observe(share)
        return out

    def _subject(self, item: _Item, now: datetime) -> Subject:
        """What Prometheus says of one workload (and, for a move starting, of the window before it)."""
        spec, previous = item.spec, item.previous
        obs, fault = self._observe(spec) if isinstance(spec, InferenceWorkloadSpec) else (None, None)
        before = None
        if isinstance(spec, InferenceWorkloadSpec):
            if spec.constraints.region:
                self.prices.want([spec.constraints.region])
            move = pending_move(spec, previous, now)
            if move is not None:  # a move to a promised placement starts: what Prometheus saw before it
                before, _ = self._observe(spec, at=min(move.moved_at, now).timestamp())
        return Subject(item.name, spec, item.generation, previous, obs, fault, item.approved, before)

    def _conclude(self, item: _Item, result: Evaluation) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Write one evaluation's status (unless the object's is close enough), its Events and telemetry."""
        namespace, name, uid, generation, previous = item.namespace, item.name, item.uid, item.generation, item.previous
        written = result.status
        shaped = shape(result.status)  # once: to compare with the previous status, and to keep
        skipped = self._skip(previous, shaped)
        if skipped is not None and previous is not None:
            self.telemetry.api_writes.labels("status_unchanged").inc()
            self.telemetry.status_skipped.labels(skipped).inc()
            # What the object still has: the next evaluation compares with it, so slow drift adds up to a write.
            written = previous
        else:
            if not self.owns((namespace, name)):
                raise NotHeld(f"{namespace}/{name}")  # the Lease lapsed during the evaluation: write nothing
            self.writing[namespace, name] = (written.get("observedGeneration"), written.get("lastEvaluationTime"))
            try:
                self.kube.write_status(namespace, name, uid, result.status, generation)
            except (Gone, Superseded):
                raise
            except Exception:
                self.telemetry.api_errors.labels("status").inc()
                raise
            self.telemetry.api_writes.labels("status").inc()
        for ev in (result.event, result.verification_event):
            if ev is not None:
                kind, reason, message = ev
                log.info("%s/%s: %s: %s", namespace, name, reason, message)
                self.kube.post_event(namespace, name, uid, kind, reason, message)
                self.telemetry.api_writes.labels("event").inc()
        if result.check is not None:
            self._add_check(replace(result.check, workload=f"{namespace}/{name}"))
        self.telemetry.verification(namespace, name, result.ratios, result.node_pool, result.realized_savings)
        self.telemetry.record(namespace, name, result.ready, result.monthly_savings, result.cost_per_million_now,
                              result.cost_per_million_recommended)
        self.telemetry.evaluations.labels("ready" if result.ready else "not_ready").inc()
        return written, (previous if written is previous else kept(written, shaped))

    def _skip(self, previous: dict[str, Any] | None, shaped: tuple[str, Any]) -> str | None:
        """Why the status on the object can stay ("unchanged": only the evaluation time differs;
        "within_tolerance": live figures moved by less than --status-tolerance), provided it was written
        recently enough; None: write (a thousand steady workloads cost no API traffic)."""
        if not previous or DIGEST not in previous:
            return None
        digest, figures = shaped
        old = previous.get(FIGURES)
        if previous[DIGEST] != digest or old is None or len(old) != len(figures):
            return None
        if list(old) == list(figures):
            why = "unchanged"
        elif within(old, figures, self.config.status_tolerance):
            why = "within_tolerance"
        else:
            return None
        last = previous.get("lastEvaluationTime")
        try:
            age = (self.clock() - datetime.fromisoformat(str(last).replace("Z", "+00:00"))).total_seconds()
        except (ValueError, TypeError):
            return None
        # A time in the future (an edited status) is not trusted over the clock: write.
        return why if 0 <= age < HEARTBEAT_INTERVALS * self.config.interval_s else None

    def _corrections(self, now: datetime, evaluating: set[tuple[str, str]]) -> FleetCorrections:
        """The fleet's corrections per scope; when the store was read again and had checks not held before,
        every workload but those `evaluating` with them now falls due."""
        self._refresh_checks(evaluating)
        return self.fleet_checks.corrections(now)

    def _refresh_checks(self, evaluating: set[tuple[str, str]]) -> None:
        """Read the store again when due; a check not held before makes every workload but those
        `evaluating` with it now fall due."""
        if self.fleet_checks.refresh(self.monotonic()):
            log.info("fleet checks changed in the store: evaluating every workload with them")
            self._corrections_changed(evaluating)

    def _add_check(self, check: Check) -> None:
        """Keep a verdict, and let every other workload be evaluated with the correction soon."""
        self.fleet_checks.add(check)
        log.info("fleet check of %s from %s: throughput x%.2f", check.scope, check.workload, check.ratio)
        namespace, _, name = check.workload.partition("/")
        self._corrections_changed({(namespace, name)})

    def _corrections_changed(self, keep: set[tuple[str, str]]) -> None:
        """From a worker thread: have the event loop make every workload not in `keep` fall due."""
        if self.loop is None:
            self._fall_due(keep)  # no loop (one evaluation called directly): nothing else changes Entries
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed (stopping): nothing is evaluated any more
            self.loop.call_soon_threadsafe(self._fall_due, keep)

    def _fall_due(self, keep: set[tuple[str, str]]) -> None:
        """Every workload not in `keep` is evaluated soon: now if idle, right after its evaluation if running
        (that one began with the corrections before the change)."""
        now = self.monotonic()
        for key, entry in self.entries.items():
            if key in keep:
                continue
            if entry.running:
                entry.recheck = True
            else:
                entry.due = min(entry.due or now, now)

    def _observe(self, spec: InferenceWorkloadSpec,
                 at: float | None = None) -> tuple[Observation | None, MetricsUnavailable | None]:
        m = spec.metrics
        if m is None:
            return None, None
        try:
            backend = self.backends(m.prometheus_url)
        except MetricsUnavailable as exc:
            self.telemetry.prometheus_errors.labels(exc.reason).inc()
            return None, exc
        if backend is None:
            fault = MetricsUnavailable("NoPrometheus", "no Prometheus to ask: set spec.metrics.prometheusUrl or the "
                                       "operator's --prometheus-url (INFERPLACE_PROMETHEUS_URL)")
            return None, fault
        request = ObserveRequest(m.server, dict(m.selector), m.window or self.config.window, self._platform(spec),
                                 at=at, shape_window=m.shape_window if at is None else None)
        try:
            obs = backend.observe(request)
        except MetricsUnavailable as exc:
            self.telemetry.prometheus_errors.labels(exc.reason).inc()
            return None, exc
        except SelectorError as exc:  # a selector the schema let through but PromQL cannot take
            self.telemetry.prometheus_errors.labels("BadSelector").inc()
            return None, MetricsUnavailable("BadSelector", f"spec.metrics.selector: {exc}")
        bad = sum(1 for p in obs.problems.values() if p.startswith("bad answer"))
        if bad:
            self.telemetry.prometheus_errors.labels("BadAnswer").inc(bad)
        return checked(obs), None

    def _platform(self, spec: InferenceWorkloadSpec) -> Platform | None:
        inst = self.catalog.instances.get(spec.current.instance_type.lower()) if spec.current else None
        return None if inst is None else self.catalog.accelerators[inst.accelerator].platform
