"""What a process does with the shards its Leases give it (controller.leases): with one shard (plain
leader election) the watch keeps every workload and a standby only starts evaluating when it takes
the Lease; with N shards each held shard is watched on its own (controller.informer, by its label),
a lost one is dropped, and every process labels the workloads no shard has yet (a watch of its own
whose server-side selector, sharding.unassigned_selector, delivers only those).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from inferplace.controller.informer import Informer
from inferplace.controller.kube import ApiUnavailable, Gone, KubeWriter
from inferplace.controller.runtime import Runtime
from inferplace.controller.sharding import (
    SHARD_LABEL,
    label_value,
    labelled_shard,
    shard_of,
    shard_selector,
    unassigned_selector,
)

log = logging.getLogger("inferplace.shards")
SWEEP_S = 30.0  # how soon the unassigned workloads are listed again after a label failed
# and otherwise: the watch of unassigned workloads and each gained shard's own sweep leave none behind, so
# this is a safety net (each list is every unassigned workload's metadata, in every process).
SWEEP_IDLE_S = 600.0


def _nowhere(kind: str | None, body: dict[str, Any]) -> None:
    """A list read once (Informer.cached_metadata) delivers nothing."""


@dataclass
class ShardedWork:
    runtime: Runtime
    kube: KubeWriter
    loop: asyncio.AbstractEventLoop
    namespaces: Sequence[str] | None  # None: every namespace
    shards: int
    timeout_s: float = 30.0
    informers: dict[int, list[Informer]] = field(default_factory=dict)
    unassigned: list[Informer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._labeller = ThreadPoolExecutor(2, thread_name_prefix="inferplace-label")
        self._pending: set[tuple[str, str]] = set()  # sent to be labelled, not yet answered
        self._stopped = threading.Event()
        self._failed = threading.Event()  # a label failed since the last sweep
        self.labelled = 0

    def start(self) -> None:
        """With shards: watch the workloads no shard has yet, and sweep them every SWEEP_S. In threads, not
        kopf's watch: kopf's work per event (every new workload reaches every process twice: created,
        then labelled away) was a third of a process's CPU while thousands of workloads were created."""
        if self.shards <= 1:
            return
        self.unassigned = [Informer(self.kube.api_client, ns, unassigned_selector(self.shards), self.assign,
                                    self.timeout_s, name=f"unassigned-{ns or 'all'}")
                           for ns in (self.namespaces if self.namespaces is not None else [None])]
        for w in self.unassigned:
            w.start()
        threading.Thread(target=self._sweep, name="inferplace-label-sweep", daemon=True).start()

    # ---- from the Lease thread -----------------------------------------------------------------

    def gained(self, shard: int) -> None:
        if self.shards > 1:
            watches = [Informer(self.kube.api_client, ns, shard_selector(shard, self.shards), self._deliver,
                                self.timeout_s, name=f"shard-{shard}-{ns or 'all'}")
                       for ns in (self.namespaces if self.namespaces is not None else [None])]
            with self._lock:
                old = self.informers.pop(shard, [])
                self.informers[shard] = watches
            for w in old:
                w.stop()
            for w in watches:
                w.start()
        self.loop.call_soon_threadsafe(self.runtime.shard_gained, shard)
        if self.shards > 1:
            self._labeller.submit(self.sweep)  # its workloads that came while nobody held it

    def lost(self, shard: int) -> None:
        with self._lock:
            watches = self.informers.pop(shard, [])
        for w in watches:
            w.stop()
        self.loop.call_soon_threadsafe(self.runtime.shard_lost, shard, self.shards > 1)

    def stop(self) -> None:
        with self._lock:
            watches = [w for ws in self.informers.values() for w in ws] + self.unassigned
            self.informers.clear()
        for w in watches:
            w.stop()
        self._stopped.set()
        self._labeller.shutdown(wait=False, cancel_futures=True)

    # ---- from the informer threads --------------------------------------------------------------

    def _deliver(self, kind: str | None, body: dict[str, Any]) -> None:
        """Hand one event to the runtime on the event loop and wait until it is taken (a long list
        cannot pile up in memory ahead of the loop)."""
        done = asyncio.run_coroutine_threadsafe(self._seen(kind, body), self.loop)
        done.result(timeout=self.timeout_s)

    async def _seen(self, kind: str | None, body: dict[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if kind != "DELETED" and not self.runtime.owns(key):
            return  # delivered just after the shard was given up
        self.runtime.seen(kind, body)

    # ---- labelling: each workload by the process that holds (or will hold) its shard ------------------

    def assign(self, event_type: str | None, body: dict[str, Any]) -> None:
        """The watch of unassigned workloads (its thread): label one whose shard this process holds; the
        holder of another shard labels it (at once, or in its sweep when it takes the shard). Returns at
        once: the patch runs in the labelling threads, holding three strings, not the body."""
        meta = body.get("metadata") or {}
        if event_type == "DELETED" or labelled_shard(meta.get("labels"), self.shards) is not None:
            return
        self._label(str(meta.get("namespace") or ""), str(meta.get("name") or ""), meta.get("uid"))

    def _label(self, ns: str, name: str, uid: str | None) -> None:
        shard = shard_of(ns, name, self.shards)
        if not self.runtime.owns((ns, name)):
            return
        with self._lock:
            if (ns, name) in self._pending:
                return
            self._pending.add((ns, name))
        self._labeller.submit(self._patch, ns, name, uid, label_value(shard, self.shards))

    def _patch(self, ns: str, name: str, uid: str | None, value: str) -> None:
        try:
            self.kube.label(ns, name, uid, SHARD_LABEL, value)
            self.labelled += 1
        except Gone:
            pass
        except Exception as exc:  # the API server is away or refused: the next sweep tries again
            self._failed.set()
            why = str(exc) if isinstance(exc, ApiUnavailable) else " ".join(str(exc).split())[:200]
            log.warning("%s/%s not labelled %s=%s yet (%s): trying again within %.0f s", ns, name, SHARD_LABEL,
                        value, why, SWEEP_S)
        finally:
            with self._lock:
                self._pending.discard((ns, name))

    def _sweep(self) -> None:
        """Label the unassigned workloads of the shards held that a label patch failed for (within SWEEP_S),
        and any other the watch left behind (every SWEEP_IDLE_S)."""
        swept = time.monotonic()
        while not self._stopped.wait(SWEEP_S):
            swept = self.sweep_if_due(swept)

    def sweep_if_due(self, swept: float) -> float:
        """Sweep if a label failed since the last sweep (at `swept`, monotonic) or SWEEP_IDLE_S have passed;
        when the last sweep was."""
        now = time.monotonic()
        if not self._failed.is_set() and now - swept < SWEEP_IDLE_S:
            return swept
        self._failed.clear()
        try:
            self.sweep()
        except Exception as exc:
            self._failed.set()
            log.warning("sweep of unlabelled workloads failed: %s", " ".join(str(exc).split())[:200])
        return now

    def sweep(self) -> int:
        """One pass, over the API server's watch cache (metadata only); how many workloads were sent to be
        labelled. A workload created since is the watch's."""
        seen = 0
        for ns in (self.namespaces if self.namespaces is not None else [None]):
            watch = Informer(self.kube.api_client, ns, unassigned_selector(self.shards), _nowhere,
                             self.timeout_s)
            for item in watch.cached_metadata():
                meta = item.get("metadata") or {}
                key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
                if self.runtime.owns(key):
                    self._label(key[0], key[1], meta.get("uid"))
                    seen += 1
        return seen
