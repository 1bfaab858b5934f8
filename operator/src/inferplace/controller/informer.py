"""List and watch the InferenceWorkloads of one label selector in one namespace (or all), in a thread
of its own: the shard watches of a sharded operator (kopf's watches take one label selector for the
process's whole life; a shard comes and goes with its Lease).

Lists in pages (memory stays at one page however many objects match), then watches from the list's
resource version; a watch that ends is resumed from the last version seen, one whose version is too
old (410) or that fails is replaced by a new list, and objects the new list no longer has are
delivered as deleted. Every request has a timeout; `stop()` ends the thread within one of them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from inferplace.api import GROUP, PLURAL, VERSION

log = logging.getLogger("inferplace.informer")

PAGE = 250  # objects per list request
# A list answered with each object's metadata only (PartialObjectMetadataList), about 1 KB an object.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
WATCH_S = 60  # server-side timeout of one watch request: a stopped informer ends within it
Deliver = Callable[[str | None, dict[str, Any]], None]  # (ADDED|MODIFIED|DELETED or None for listed, body)


@dataclass
class Informer:
    api_client: Any  # kubernetes.client.ApiClient
    namespace: str | None  # None: every namespace
    selector: str
    deliver: Deliver  # called from this thread; returns once the event is taken
    timeout_s: float = 30.0
    name: str = "informer"
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _keys: set[tuple[str, str]] = field(default_factory=set)  # what this informer has delivered and not deleted
    version: str = ""  # of the last list

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"inferplace-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """No event is delivered after this returns; the thread ends within one watch timeout."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                version: str | None = self._list()
                backoff = 1.0
                while not self._stop.is_set() and version is not None:
                    version = self._watch(version)
            except Exception as exc:
                if self._stop.is_set():
                    return
                log.warning("%s (%s): %s; listing again in %.0f s", self.name, self.selector,
                            " ".join(str(exc).split())[:300], backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _get(self, **params: Any) -> Any:
        import kubernetes  # noqa: PLC0415

        api = kubernetes.client.CustomObjectsApi(self.api_client)
        common = {"label_selector": self.selector, "_preload_content": False, **params}
        if self.namespace is None:
            return api.list_cluster_custom_object(GROUP, VERSION, PLURAL, **common)
        return api.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL, **common)

    def _emit(self, kind: str | None, body: dict[str, Any]) -> None:
        if self._stop.is_set():
            return
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if kind == "DELETED":
            self._keys.discard(key)
        else:
            self._keys.add(key)
        self.deliver(kind, body)

    def pages(self) -> Iterator[dict[str, Any]]:
        """Every object the selector matches now, read a page at a time (the last list's resource version
        is kept in `version`)."""
        token: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE, "_request_timeout": (min(self.timeout_s, 10.0), self.timeout_s)}
            if token:
                params["_continue"] = token
            resp = self._get(**params)
            page = json.loads(resp.data)
            del resp
            for item in page.get("items") or []:
                item.setdefault("apiVersion", f"{GROUP}/{VERSION}")
                yield item
            token = (page.get("metadata") or {}).get("continue")
            self.version = str((page.get("metadata") or {}).get("resourceVersion") or "")
            if not token:
                return

    def cached_metadata(self) -> list[dict[str, Any]]:
        """Every object the selector matches as the API server's watch cache holds it now (resourceVersion
        0, not older than: a second or so behind at most), each as a PartialObjectMetadata (its metadata
        only, about 1 KB). A list that must be current is read from etcd whenever the cache lags behind
        writes, and etcd's list decodes every object of the namespace, statuses and all, before the
        selector drops them: with thousands of workloads being written, each such list cost the API
        server a second or more of CPU. The cache does not page: one response."""
        resp = self._get(resource_version="0", resource_version_match="NotOlderThan",
                         _headers={"Accept": METADATA_ONLY},
                         _request_timeout=(min(self.timeout_s, 10.0), self.timeout_s))
        page = json.loads(resp.data)
        del resp
        items: list[dict[str, Any]] = page.get("items") or []
        return items

    def _list(self) -> str:
        """Deliver every object the selector matches now; the list's resource version."""
        listed: set[tuple[str, str]] = set()
        for item in self.pages():
            meta = item.get("metadata") or {}
            listed.add((str(meta.get("namespace") or ""), str(meta.get("name") or "")))
            self._emit(None, item)
        for ns, name in sorted(self._keys - listed):  # deleted while no watch was open
            self._emit("DELETED", {"metadata": {"namespace": ns, "name": name}})
        return self.version

    def _watch(self, version: str) -> str | None:
        """One watch request from `version`: the last version seen when it ends, None to list again."""
        resp = self._get(watch=True, resource_version=version, allow_watch_bookmarks=True, timeout_seconds=WATCH_S,
                         _request_timeout=(min(self.timeout_s, 10.0), WATCH_S + self.timeout_s))
        try:
            for line in resp:  # urllib3 yields the body line by line: one event per line
                if self._stop.is_set():
                    return None
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return None  # too old: list again
                    raise RuntimeError(f"watch error: {str(obj)[:300]}")
                version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                if kind in ("ADDED", "MODIFIED", "DELETED"):
                    self._emit(kind, obj)
        finally:
            resp.release_conn()
        return version
