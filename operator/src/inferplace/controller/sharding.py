"""Which process evaluates which workload: shards by a stable hash of namespace and name, each shard
held by a Lease, and what a process should take or give back to hold its fair share. Pure: the Lease
reads and writes are in controller/leases.py.

A workload's shard is written on it as the label `inferplace.io/shard: K-of-N`, so that a process
watches only the shards it holds (a label selector the API server applies) and its memory scales
with its share. The count is in the value: after a change of `--shards`, every label of the old
count is unassigned and relabelled.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

SHARD_LABEL = "inferplace.io/shard"
MAX_SHARDS = 256


def shard_of(namespace: str, name: str, shards: int) -> int:
    """Stable across processes, restarts and Python versions (not `hash()`, which is salted per process)."""
    if shards <= 1:
        return 0
    digest = hashlib.blake2b(f"{namespace}/{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def label_value(shard: int, shards: int) -> str:
    return f"{shard}-of-{shards}"


def shard_selector(shard: int, shards: int) -> str:
    """The workloads of one shard."""
    return f"{SHARD_LABEL}={label_value(shard, shards)}"


def unassigned_selector(shards: int) -> str:
    """Workloads without a label of this shard count (new ones, relabelled ones, and those of another
    count): `notin` also matches objects that lack the label."""
    return f"{SHARD_LABEL} notin ({','.join(label_value(k, shards) for k in range(shards))})"


def labelled_shard(labels: Mapping[str, str] | None, shards: int) -> int | None:
    """The shard a workload's label names for this count (None: no label, or one of another count)."""
    value = (labels or {}).get(SHARD_LABEL)
    for k in range(shards):
        if value == label_value(k, shards):
            return k
    return None


@dataclass(frozen=True)
class LeaseView:
    """A shard Lease as this process sees it."""

    holder: str | None  # holderIdentity; None or "" when released
    expired: bool  # unchanged for a whole lease duration of this process's clock (or released)


@dataclass(frozen=True)
class Moves:
    acquire: tuple[int, ...]  # shards to try to take, in this order
    release: tuple[int, ...]  # shards to give back (more than the fair share)


def fair_share(shards: int, live_members: int) -> int:
    return math.ceil(shards / max(live_members, 1))


def moves(me: str, shards: Mapping[int, LeaseView], live_members: int, count: int) -> Moves:
    """What `me` should do to hold its fair share of `count` shards among `live_members` processes
    (itself included): take free or expired shards up to ceil(count / members), give back the
    highest-numbered ones above it. Every process applies the same rule, so a joining process gets
    shards from the others and a dead one's shards are taken once its Leases expire."""
    held = sorted(k for k, v in shards.items() if v.holder == me and not v.expired)
    target = fair_share(count, live_members)
    if len(held) > target:
        return Moves((), tuple(held[target:][::-1]))
    free = [k for k in range(count) if k not in held and (shards.get(k) is None or shards[k].expired
                                                          or not shards[k].holder)]
    return Moves(tuple(free[:target - len(held)]), ())


def live(views: Iterable[LeaseView]) -> int:
    return sum(1 for v in views if not v.expired and v.holder)
