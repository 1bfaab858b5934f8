"""What a process does with the shards its Leases give it (controller.leases): with one shard (plain
leader election) the watch keeps every workload and a standby only starts evaluating when it takes
the Lease; with N shards each held shard is watched on its own (controller.informer, by its label),
a lost one is dropped, and every process labels the workloads no shard has yet (kopf's watch, whose
server-side selector is sharding.unassigned_selector, delivers only those).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from inferplace.controller.informer import Informer
from inferplace.controller.kube import ApiUnavailable, Gone, KubeWriter
from inferplace.controller.runtime import Runtime
from inferplace.controller.sharding import SHARD_LABEL, label_value, labelled_shard, shard_of, shard_selector

log = logging.getLogger("inferplace.shards")
RETRY_LABEL_S = 10.0


@dataclass
class ShardedWork:
    runtime: Runtime
    kube: KubeWriter
    loop: asyncio.AbstractEventLoop
    namespaces: Sequence[str] | None  # None: every namespace
    shards: int
    timeout_s: float = 30.0
    informers: dict[int, list[Informer]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._labeller = ThreadPoolExecutor(2, thread_name_prefix="inferplace-label")
        self.labelled = 0

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

    def lost(self, shard: int) -> None:
        with self._lock:
            watches = self.informers.pop(shard, [])
        for w in watches:
            w.stop()
        self.loop.call_soon_threadsafe(self.runtime.shard_lost, shard, self.shards > 1)

    def stop(self) -> None:
        with self._lock:
            watches = [w for ws in self.informers.values() for w in ws]
            self.informers.clear()
        for w in watches:
            w.stop()
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

    # ---- from kopf's watch of unassigned workloads -------------------------------------------------

    async def assign(self, event_type: str | None, body: dict[str, Any]) -> None:
        """Label a workload with its shard, once it has none of this count."""
        meta = body.get("metadata") or {}
        if event_type == "DELETED" or labelled_shard(meta.get("labels"), self.shards) is not None:
            return
        ns, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        value = label_value(shard_of(ns, name, self.shards), self.shards)
        try:
            await self.loop.run_in_executor(self._labeller, self.kube.label, ns, name, meta.get("uid"), SHARD_LABEL,
                                            value)
        except Gone:
            return
        except Exception as exc:  # the API server is away or refused: try again, the watch may not repeat it
            why = str(exc) if isinstance(exc, ApiUnavailable) else " ".join(str(exc).split())[:200]
            log.warning("%s/%s not labelled %s=%s yet (%s): trying again in %.0f s", ns, name, SHARD_LABEL, value,
                        why, RETRY_LABEL_S)
            self.loop.call_later(RETRY_LABEL_S, lambda: self.loop.create_task(self.assign(event_type, body)))
            return
        self.labelled += 1
