"""The operator's work loop, level-based.

kopf's watch feeds `seen()` with every InferenceWorkload as it is now. An object is evaluated when
its spec generation differs from `status.observedGeneration` (new, changed, or status lost), when it
is first seen after a start (resume), and every interval after its last evaluation (with jitter, so
a thousand objects do not all fall due together). Evaluations run in a thread pool: Prometheus
queries, the engine and the status write never block the event loop.

No finalizers or annotations are added to users' objects: nothing here needs to run on deletion,
and the level check above replaces kopf's stored diff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from inferplace.catalog import Catalog
from inferplace.controller.config import OperatorConfig
from inferplace.controller.evaluate import evaluate
from inferplace.controller.kube import Gone, KubeWriter
from inferplace.controller.telemetry import Telemetry
from inferplace.metrics import MetricsUnavailable, Observation, PrometheusSource
from inferplace.metrics.auth import BearerTokenFile, SigV4, basic_auth

log = logging.getLogger("inferplace.operator")

ERROR_BACKOFF_S = 30.0  # first retry after an unexpected failure; doubles up to the interval


@dataclass
class Entry:
    namespace: str
    name: str
    uid: str | None
    generation: int | None
    spec: dict[str, Any]
    status: dict[str, Any] | None
    due: float = 0.0  # monotonic time of the next periodic evaluation
    queued: bool = False
    running: bool = False
    dirty: bool = False  # changed while running: evaluate again when done
    failures: int = 0
    evaluated_generation: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.namespace, self.name

    def stale(self) -> bool:
        observed = (self.status or {}).get("observedGeneration")
        return self.generation is not None and observed != self.generation


@dataclass
class Runtime:
    config: OperatorConfig
    catalog: Catalog
    kube: KubeWriter
    telemetry: Telemetry = field(default_factory=Telemetry)
    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.pool = ThreadPoolExecutor(self.config.workers, thread_name_prefix="inferplace-eval")
        self.tasks: list[asyncio.Task[None]] = []
        self.operator_source = self._operator_source()

    # ---- inputs from the watch ------------------------------------------------------------------

    def seen(self, event_type: str | None, body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if event_type == "DELETED":
            self.entries.pop(key, None)
            self.telemetry.forget(*key)
            self.telemetry.workloads.set(len(self.entries))
            return
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        status = body.get("status") if isinstance(body.get("status"), dict) else None
        entry = self.entries.get(key)
        if entry is None or entry.uid != meta.get("uid"):
            # First sight (create, or resume after a restart): evaluate now.
            entry = Entry(key[0], key[1], meta.get("uid"), meta.get("generation"), spec or {}, status)
            self.entries[key] = entry
            self.telemetry.workloads.set(len(self.entries))
            self._enqueue(entry)
            return
        entry.generation, entry.spec = meta.get("generation"), spec or {}
        if status is not None or entry.status is None:
            entry.status = status
        if entry.stale() and entry.evaluated_generation != entry.generation:
            if entry.running:
                entry.dirty = True
            else:
                self._enqueue(entry)

    def _enqueue(self, entry: Entry) -> None:
        if not entry.queued:
            entry.queued = True
            self.queue.put_nowait(entry.key)
            self.telemetry.queue.set(self.queue.qsize())

    # ---- the loops ------------------------------------------------------------------------------

    def start(self) -> None:
        self.tasks.append(asyncio.create_task(self._scheduler(), name="inferplace-scheduler"))
        for i in range(self.config.workers):
            self.tasks.append(asyncio.create_task(self._worker(), name=f"inferplace-worker-{i}"))

    async def stop(self) -> None:
        for t in self.tasks:
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.kube.close()

    def healthy(self) -> bool:
        return bool(self.tasks) and not any(t.done() for t in self.tasks)

    async def _scheduler(self) -> None:
        while True:
            now = time.monotonic()
            for entry in list(self.entries.values()):
                if not entry.queued and not entry.running and entry.due and entry.due <= now:
                    self._enqueue(entry)
            await asyncio.sleep(1.0)

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            key = await self.queue.get()
            self.telemetry.queue.set(self.queue.qsize())
            entry = self.entries.get(key)
            if entry is None:
                continue
            entry.queued, entry.running, entry.dirty = False, True, False
            snapshot = (entry.namespace, entry.name, entry.uid, entry.generation, dict(entry.spec), entry.status)
            try:
                status = await loop.run_in_executor(self.pool, self.evaluate_and_write, *snapshot)
            except Gone:
                self.entries.pop(key, None)
                self.telemetry.forget(*key)
                continue
            except Exception:
                log.exception("evaluation of %s/%s failed", *key)
                self.telemetry.evaluations.labels("error").inc()
                entry.failures += 1
                entry.due = time.monotonic() + min(ERROR_BACKOFF_S * 2 ** (entry.failures - 1),
                                                   self.config.interval_s)
                status = None
            else:
                entry.failures = 0
                entry.status = status
                entry.evaluated_generation = snapshot[3]
                entry.due = time.monotonic() + self._interval()
            finally:
                entry.running = False
            if entry.dirty and entry.stale():
                self._enqueue(entry)

    def _interval(self) -> float:
        j = self.config.jitter
        return self.config.interval_s * random.uniform(1.0 - j, 1.0 + j)

    # ---- one evaluation (worker thread) ---------------------------------------------------------

    def evaluate_and_write(self, namespace: str, name: str, uid: str | None, generation: int | None,
                           spec: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
        started = time.perf_counter()
        obs, fault = self._observe(spec)
        result = evaluate(name, spec, generation, previous, obs, fault, self.catalog,
                          metrics_configured=isinstance(spec.get("metrics"), dict))
        try:
            self.kube.write_status(namespace, name, uid, result.status)
        except Gone:
            raise
        except Exception:
            self.telemetry.api_errors.labels("status").inc()
            raise
        if result.event is not None:
            kind, reason, message = result.event
            log.info("%s/%s: %s: %s", namespace, name, reason, message)
            self.kube.post_event(namespace, name, uid, kind, reason, message)
        self.telemetry.record(namespace, name, result.ready, result.monthly_savings, result.cost_per_million_now,
                              result.cost_per_million_recommended)
        self.telemetry.evaluations.labels("ready" if result.ready else "not_ready").inc()
        self.telemetry.duration.observe(time.perf_counter() - started)
        return result.status

    def _operator_source(self) -> PrometheusSource | None:
        c = self.config
        if not c.prometheus_url:
            return None
        auth: Any = None
        if c.bearer_token_file:
            auth = BearerTokenFile(c.bearer_token_file)
        elif c.basic_auth_username and c.basic_auth_password_file:
            auth = basic_auth(c.basic_auth_username, c.basic_auth_password_file)
        elif c.sigv4_region:
            auth = SigV4(c.sigv4_region)
        return PrometheusSource(c.prometheus_url, timeout_s=c.prometheus_timeout_s, auth=auth, ca_bundle=c.ca_bundle)

    def _source(self, url: str | None) -> PrometheusSource | None:
        own = self.operator_source
        if url is None or (own is not None and url.rstrip("/") == own.url.rstrip("/")):
            return own
        # A workload's own Prometheus gets no credentials: a spec must not be able to collect them.
        return PrometheusSource(url, timeout_s=self.config.prometheus_timeout_s, ca_bundle=self.config.ca_bundle)

    def _observe(self, spec: dict[str, Any]) -> tuple[Observation | None, MetricsUnavailable | None]:
        m = spec.get("metrics")
        if not isinstance(m, dict):
            return None, None
        source = self._source(m.get("prometheusUrl") if isinstance(m.get("prometheusUrl"), str) else None)
        if source is None:
            fault = MetricsUnavailable("NoPrometheus", "no Prometheus to ask: set spec.metrics.prometheusUrl or the "
                                       "operator's --prometheus-url (INFERPLACE_PROMETHEUS_URL)")
            return None, fault
        try:
            obs = source.observe(str(m.get("server") or "vllm"), _labels(m.get("selector")),
                                 str(m.get("window") or self.config.window), platform=self._platform(spec))
        except MetricsUnavailable as exc:
            self.telemetry.prometheus_errors.labels(exc.reason).inc()
            return None, exc
        except ValueError as exc:  # a selector the schema let through but PromQL cannot take
            self.telemetry.prometheus_errors.labels("BadSelector").inc()
            return None, MetricsUnavailable("BadSelector", f"spec.metrics.selector: {exc}")
        bad = sum(1 for p in obs.problems.values() if p.startswith("bad answer"))
        if bad:
            self.telemetry.prometheus_errors.labels("BadAnswer").inc(bad)
        return obs, None

    def _platform(self, spec: dict[str, Any]) -> str | None:
        cur = spec.get("current")
        inst = self.catalog.instances.get(str(cur.get("instanceType"))) if isinstance(cur, dict) else None
        return None if inst is None else self.catalog.accelerators[inst.accelerator].platform


def _labels(raw: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
