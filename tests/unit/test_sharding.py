"""Shards by a stable hash, and the fair-share rule every process applies to the shard Leases."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter

import pytest

from inferplace.controller import config
from inferplace.controller.sharding import LeaseView, label_value, labelled_shard, moves, shard_of, unassigned_selector

pytestmark = pytest.mark.unit


def test_the_shard_of_a_workload_is_the_same_in_every_process() -> None:
    # Python's hash() is salted per process; the shard must not be.
    code = "from inferplace.controller.sharding import shard_of; print(shard_of('chat', 'llama', 7))"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(3)}
    assert runs == {f"{shard_of('chat', 'llama', 7)}\n"}


def test_shards_are_even_and_namespace_matters() -> None:
    counts = Counter(shard_of("ns", f"w{i}", 4) for i in range(4000))
    assert set(counts) == {0, 1, 2, 3} and min(counts.values()) > 900
    assert [shard_of("a", f"w{i}", 8) for i in range(50)] != [shard_of("b", f"w{i}", 8) for i in range(50)]
    assert shard_of("a", "b", 1) == 0


def test_labels_of_another_count_are_unassigned() -> None:
    assert labelled_shard({"inferplace.io/shard": label_value(1, 2)}, 2) == 1
    assert labelled_shard({"inferplace.io/shard": label_value(1, 2)}, 4) is None
    assert labelled_shard(None, 2) is None
    assert unassigned_selector(2) == "inferplace.io/shard notin (0-of-2,1-of-2)"


def held(me: str, *ks: int) -> dict[int, LeaseView]:
    return {k: LeaseView(me, False) for k in ks}


def test_a_lone_process_takes_every_shard() -> None:
    assert moves("a", {}, 1, 4).acquire == (0, 1, 2, 3)


def test_a_joining_process_gets_shards_given_back_to_it() -> None:
    # a holds all four; b joined: a gives back the two highest, b takes what is free.
    assert moves("a", held("a", 0, 1, 2, 3), 2, 4).release == (3, 2)
    after = held("a", 0, 1) | {2: LeaseView(None, True), 3: LeaseView(None, True)}
    assert moves("b", after, 2, 4).acquire == (2, 3)


def test_expired_shards_of_a_dead_process_are_taken_and_live_ones_are_not() -> None:
    views = held("a", 0) | {1: LeaseView("dead", True)}
    assert moves("a", views, 1, 2).acquire == (1,)
    views = held("a", 0) | {1: LeaseView("b", False)}
    assert moves("a", views, 2, 2) == moves("a", views, 2, 2).__class__((), ())


def test_leader_election_flags_are_checked() -> None:
    def cfg(*args: str) -> config.OperatorConfig:
        p = argparse.ArgumentParser()
        config.add_arguments(p, {})
        return config.from_args(p.parse_args(["-n", "chat", *args]), {})

    assert not cfg().leases
    c = cfg("--shards", "3", "--leader-election-namespace", "ops")
    assert c.leases and c.shards == 3 and c.leader_election_namespace == "ops"
    with pytest.raises(config.ConfigError, match="--leader-election-namespace"):
        cfg("--leader-elect")
    with pytest.raises(config.ConfigError, match=r"--shards.*allowed: 1 to 256"):
        cfg("--shards", "0", "--leader-election-namespace", "ops")
    with pytest.raises(config.ConfigError, match=r"--shards.*whole number"):
        cfg("--shards", "1.5", "--leader-election-namespace", "ops")
    with pytest.raises(config.ConfigError, match="--leader-election-id"):
        cfg("--leader-elect", "--leader-election-namespace", "ops", "--leader-election-id", "Bad_Id")
    p = argparse.ArgumentParser()
    config.add_arguments(p, {})
    with pytest.raises(config.ConfigError, match="no patterns"):
        config.from_args(p.parse_args(["-n", "team-*", "--shards", "2", "--leader-election-namespace", "ops"]), {})


class _Owner:
    def owns(self, key: tuple[str, str]) -> bool:
        return True


class _Kube:
    """KubeWriter's label(): refuses while `down`."""

    api_client = None

    def __init__(self) -> None:
        self.down = False
        self.labels: list[tuple[str, str]] = []

    def label(self, namespace: str, name: str, uid: str | None, key: str, value: str) -> None:
        if self.down:
            raise RuntimeError("HTTP 503")
        self.labels.append((namespace, name))


def test_unassigned_workloads_are_swept_soon_after_a_label_fails_and_seldom_otherwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The rule the sweeping thread applies every SWEEP_S, called directly: no thread waits on a timeout
    # (which never returns under faketime: the one-clock run).
    import asyncio  # noqa: PLC0415
    import time  # noqa: PLC0415

    from inferplace.controller import ownership  # noqa: PLC0415

    kube = _Kube()
    work = ownership.ShardedWork(_Owner(), kube, asyncio.new_event_loop(), ["ns"], 2)  # type: ignore[arg-type]
    sweeps: list[float] = []
    broken = False

    def sweep() -> int:
        sweeps.append(time.monotonic())
        if broken:
            raise RuntimeError("HTTP 503")
        return 0

    monkeypatch.setattr(work, "sweep", sweep)
    try:
        now = time.monotonic()
        work._patch("ns", "a", None, label_value(0, 2))  # labelled: nothing to sweep for
        assert work.sweep_if_due(now) == now and sweeps == [] and kube.labels == [("ns", "a")]
        kube.down = True
        work._patch("ns", "b", None, label_value(1, 2))  # refused: swept at the next tick
        swept = work.sweep_if_due(now)
        assert len(sweeps) == 1 and swept > now
        assert work.sweep_if_due(swept) == swept and len(sweeps) == 1  # once per failure, not every tick
        # Otherwise once every SWEEP_IDLE_S; a sweep that fails is tried again at the next tick.
        broken = True
        swept = work.sweep_if_due(swept - ownership.SWEEP_IDLE_S)
        assert len(sweeps) == 2
        work.sweep_if_due(swept)
        assert len(sweeps) == 3
    finally:
        work.stop()
