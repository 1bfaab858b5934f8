"""Leader election and shard ownership on `coordination.k8s.io/v1` Leases, the way client-go's
leaderelection does it: a holder renews its Lease every retry period; another process takes a Lease
only after it has seen the same record, unchanged, for a whole lease duration by its own clock (no
clock agreement between machines is needed); a holder stops acting on a Lease once its last
successful renewal is older than the renew deadline, which is shorter than the lease duration, so
it has stopped writing before anyone else may start.

With `--shards N` there is one Lease per shard and one per live process (its membership, so every
process knows how many share the work); each process holds its fair share (sharding.moves). With
`--leader-elect` alone there is one shard. Runs in a thread of its own: the event loop never waits
for the API server.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from inferplace.api.clock import Clock, system_clock
from inferplace.controller.sharding import LeaseView, live, moves

log = logging.getLogger("inferplace.leases")

ELECTION_LABEL = "inferplace.io/election"
ROLE_LABEL = "inferplace.io/lease-role"
FORGET_MEMBERS_AFTER = 20  # lease durations after which a dead process's membership Lease is deleted


def identity() -> str:
    """This process among its peers: the pod's name (the hostname in a pod) and a random suffix, so a
    restarted container never mistakes its predecessor's Leases for its own."""
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname().lower())[:40].strip("-")
    return f"{host or 'inferplace'}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class LeaseSettings:
    namespace: str
    election: str  # the election's name: Lease names start with it
    shards: int = 1
    duration_s: float = 15.0  # client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry period
    renew_deadline_s: float = 10.0
    retry_s: float = 2.0
    timeout_s: float = 5.0  # each Lease request

    def shard_lease(self, k: int) -> str:
        return self.election if self.shards == 1 else f"{self.election}-shard-{k}-of-{self.shards}"

    def member_lease(self, me: str) -> str:
        return f"{self.election}-member-{me}"


def _micro(t: datetime) -> str:
    """MicroTime as the API server parses it (RFC 3339 with exactly six fractional digits)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class ShardLeases:
    """Takes, renews and gives back this process's Leases. `on_gain(k)` and `on_loss(k)` are called from
    its thread; `holds(k)` may be asked from any thread and turns False by itself at the renew deadline,
    whether or not the thread is still running."""

    api_client: Any  # kubernetes.client.ApiClient
    settings: LeaseSettings
    on_gain: Callable[[int], None]
    on_loss: Callable[[int], None]
    me: str = field(default_factory=identity)
    clock: Clock = system_clock
    monotonic: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._valid_until: dict[int, float] = {}  # shard -> monotonic time its last renewal stops covering
        self._seen: dict[str, tuple[str, float]] = {}  # lease name -> (resourceVersion, first seen, monotonic)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.transitions = 0  # shards gained, for the operator's metrics

    # ---- asked from any thread -------------------------------------------------------------------

    def holds(self, shard: int) -> bool:
        return self._valid_until.get(shard, 0.0) > self.monotonic()

    def held(self) -> frozenset[int]:
        now = self.monotonic()
        return frozenset(k for k, until in list(self._valid_until.items()) if until > now)

    # ---- the loop -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="inferplace-leases", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing and give every held Lease back at once (a graceful exit hands over in seconds,
        not a lease duration)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.timeout_s * 2)
        for k in sorted(self._valid_until):
            self._lose(k, "the operator stops")
            self._release(self.settings.shard_lease(k))
        self._release(self.settings.member_lease(self.me), delete=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as exc:  # the API server is away: held shards lapse at their deadline below
                log.warning("lease round failed: %s", " ".join(str(exc).split())[:300])
            self._lapse()
            self._stop.wait(self.settings.retry_s)

    def step(self) -> None:
        """One round: read the election's Leases, renew membership and held shards, take or give back
        shards toward the fair share."""
        s = self.settings
        started = self.monotonic()
        items = {i["metadata"]["name"]: i for i in self._list()}
        now = self.monotonic()
        for name, item in items.items():
            rv = str(item["metadata"].get("resourceVersion"))
            if self._seen.get(name, ("", 0.0))[0] != rv:
                self._seen[name] = (rv, now)
        self._renew_member(items.get(s.member_lease(self.me)))
        members = [self._view(i, now) for i in items.values()
                   if i["metadata"].get("labels", {}).get(ROLE_LABEL) == "member"
                   and i["metadata"]["name"] != s.member_lease(self.me)]
        views: dict[int, LeaseView] = {}
        for k in range(s.shards):
            found = items.get(s.shard_lease(k))
            if found is not None:
                views[k] = self._view(found, now)
        for k in sorted(self._valid_until):
            mine = items.get(s.shard_lease(k))
            holder = (mine or {}).get("spec", {}).get("holderIdentity")
            if mine is None or holder != self.me:
                self._lose(k, f"the Lease is now held by {holder or 'nobody'}")
                continue
            if self._write(mine, renew=True):
                with self._lock:
                    self._valid_until[k] = started + s.renew_deadline_s
                views[k] = LeaseView(self.me, False)
        plan = moves(self.me, views, live(members) + 1, s.shards)
        for k in plan.release:
            self._lose(k, "more than this process's fair share")
            self._release(s.shard_lease(k))
        for k in plan.acquire:
            if self._take(k, items.get(s.shard_lease(k)), started):
                self.transitions += 1
                log.info("took shard %d of %d (Lease %s/%s) as %s", k, s.shards, s.namespace, s.shard_lease(k),
                         self.me)
                self.on_gain(k)
        self._forget_dead_members(items, now)

    def _lapse(self) -> None:
        """Shards whose last renewal no longer covers now: stop acting on them."""
        now = self.monotonic()
        for k, until in list(self._valid_until.items()):
            if until <= now:
                self._lose(k, f"not renewed within {self.settings.renew_deadline_s:g} s")

    def _lose(self, k: int, why: str) -> None:
        with self._lock:
            had = self._valid_until.pop(k, None) is not None
        if had:
            log.warning("gave up shard %d of %d: %s", k, self.settings.shards, why)
            self.on_loss(k)

    def _view(self, item: dict[str, Any], now: float) -> LeaseView:
        spec = item.get("spec") or {}
        holder = spec.get("holderIdentity") or None
        duration = float(spec.get("leaseDurationSeconds") or self.settings.duration_s)
        first = self._seen.get(item["metadata"]["name"], ("", now))[1]
        return LeaseView(holder, holder is None or now - first >= duration)

    # ---- API calls (each with a timeout) ---------------------------------------------------------

    def _api(self) -> Any:
        import kubernetes  # noqa: PLC0415

        return kubernetes.client.CoordinationV1Api(self.api_client)

    @property
    def _timeout(self) -> tuple[float, float]:
        return (min(self.settings.timeout_s, 5.0), self.settings.timeout_s)

    def _list(self) -> list[dict[str, Any]]:
        resp = self._api().list_namespaced_lease(
            self.settings.namespace, label_selector=f"{ELECTION_LABEL}={self.settings.election}",
            _preload_content=False, _request_timeout=self._timeout)
        items: list[dict[str, Any]] = json.loads(resp.data).get("items") or []
        return items

    def _body(self, name: str, role: str, spec: dict[str, Any], rv: str | None = None) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "namespace": self.settings.namespace,
                                "labels": {ELECTION_LABEL: self.settings.election, ROLE_LABEL: role}}
        if rv is not None:
            meta["resourceVersion"] = rv  # optimistic concurrency: a racing writer makes this a 409
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}

    def _spec(self, holder: str | None, transitions: int, acquired: str | None) -> dict[str, Any]:
        now = _micro(self.clock())
        return {"holderIdentity": holder, "leaseDurationSeconds": int(self.settings.duration_s),
                "acquireTime": acquired or now, "renewTime": now, "leaseTransitions": transitions}

    def _put(self, item: dict[str, Any] | None, name: str, role: str, spec: dict[str, Any]) -> bool:
        """Create or replace (at the resourceVersion read); False when another process won the race."""
        import kubernetes  # noqa: PLC0415

        api = self._api()
        try:
            if item is None:
                api.create_namespaced_lease(self.settings.namespace, self._body(name, role, spec),
                                            _preload_content=False, _request_timeout=self._timeout)
            else:
                body = self._body(name, role, spec, str(item["metadata"]["resourceVersion"]))
                resp = api.replace_namespaced_lease(name, self.settings.namespace, body, _preload_content=False,
                                                    _request_timeout=self._timeout)
                self._seen[name] = (str(json.loads(resp.data)["metadata"]["resourceVersion"]), self.monotonic())
        except kubernetes.client.ApiException as exc:
            if exc.status in (409, 404):
                return False
            raise
        return True

    def _renew_member(self, item: dict[str, Any] | None) -> None:
        spec = self._spec(self.me, 0, (item or {}).get("spec", {}).get("acquireTime"))
        self._put(item, self.settings.member_lease(self.me), "member", spec)

    def _write(self, item: dict[str, Any], renew: bool) -> bool:
        spec = item.get("spec") or {}
        return self._put(item, item["metadata"]["name"], "shard",
                         self._spec(self.me, int(spec.get("leaseTransitions") or 0),
                                    spec.get("acquireTime") if renew else None))

    def _take(self, k: int, item: dict[str, Any] | None, started: float) -> bool:
        transitions = int(((item or {}).get("spec") or {}).get("leaseTransitions") or 0) + (item is not None)
        if not self._put(item, self.settings.shard_lease(k), "shard", self._spec(self.me, transitions, None)):
            return False
        with self._lock:
            self._valid_until[k] = started + self.settings.renew_deadline_s
        return True

    def _release(self, name: str, delete: bool = False) -> None:
        """Best effort: hand a Lease back (holder cleared) or delete a membership."""
        try:
            api = self._api()
            if delete:
                api.delete_namespaced_lease(name, self.settings.namespace, _request_timeout=self._timeout)
                return
            resp = api.read_namespaced_lease(name, self.settings.namespace, _preload_content=False,
                                             _request_timeout=self._timeout)
            item = json.loads(resp.data)
            if (item.get("spec") or {}).get("holderIdentity") == self.me:
                spec = {**item["spec"], "holderIdentity": None, "renewTime": _micro(self.clock())}
                self._put(item, name, "shard", spec)
        except Exception as exc:
            log.info("Lease %s not handed back (%s): it expires by itself", name, " ".join(str(exc).split())[:200])

    def _forget_dead_members(self, items: dict[str, dict[str, Any]], now: float) -> None:
        for name, item in items.items():
            if item["metadata"].get("labels", {}).get(ROLE_LABEL) != "member" or name == self.settings.member_lease(
                    self.me):
                continue
            first = self._seen.get(name, ("", now))[1]
            if now - first > FORGET_MEMBERS_AFTER * self.settings.duration_s:
                self._release(name, delete=True)
