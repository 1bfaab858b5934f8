"""The fleet's verification checks as one operator process holds them.

Every verified move adds a check (`feedback.corrections.Check`); every evaluation predicts with the
corrections the checks give. They live in a store (`corrections_store.ConfigMapCorrections`, shared by
the replicas, or memory). A process reads the store on first use and again every READ_EVERY_S: other
processes (shards, a previous leader) add to it. Worker threads call this: a lock guards what is held,
the store is read and written outside it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from inferplace.feedback.corrections import Check, corrections, merged
from inferplace.placement.calibration import FleetCorrections

log = logging.getLogger("inferplace.corrections")

READ_EVERY_S = 60.0  # how often the store is read again


class CorrectionsStore(Protocol):
    """Where the fleet's verification checks are kept (a ConfigMap the operator owns, or memory)."""

    def load(self) -> list[Check]: ...

    def add(self, check: Check) -> list[Check]:
        """Store `check` (replacing the same workload's check of the same promise); every check after."""


@dataclass
class MemoryCorrections:
    """Checks kept in the process only (no ConfigMap configured: they do not survive a restart)."""

    checks: list[Check] = field(default_factory=list)

    def load(self) -> list[Check]:
        return list(self.checks)

    def add(self, check: Check) -> list[Check]:
        self.checks = merged(self.checks, check)
        return list(self.checks)


@dataclass
class FleetChecks:
    """The checks one process predicts with: what it read from the store, and what it added since."""

    store: CorrectionsStore = field(default_factory=MemoryCorrections)
    held: list[Check] | None = None  # None until the store is first read
    read_at: float = 0.0  # monotonic time of the last read
    added: int = 0  # checks added here (a read begun before one is not kept over it)
    unstored: list[Check] = field(default_factory=list)  # checks the store refused: kept over every read

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def due(self, at: float) -> bool:
        """Whether the store is to be read again at `at` (monotonic time)."""
        return self.held is None or at - self.read_at >= READ_EVERY_S

    def refresh(self, at: float) -> bool:
        """Read the store again if due at `at` (monotonic time); whether that brought checks not held before."""
        with self._lock:
            if not self.due(at):
                return False
            self.read_at, added = at, self.added  # one thread reads at a time
        try:
            loaded = self.store.load()
        except Exception as exc:  # the store is an aid: predict with what is held, read again later
            with self._lock:
                self.held = self.held or []
                n = len(self.held)
            log.warning("fleet corrections not read (%s): predicting with the %d checks held until the next "
                        "read in %.0f s", str(exc)[:200], n, READ_EVERY_S)
            return False
        with self._lock:
            for check in self.unstored:
                loaded = merged(loaded, check)
            # A check added while reading is in the store but maybe not in what was read: keep what is held.
            if self.added != added:
                return False
            changed = self.held is not None and set(loaded) != set(self.held)
            self.held = loaded
        return changed

    def corrections(self, now: datetime) -> FleetCorrections:
        """The corrections per scope the held checks give as of `now`."""
        with self._lock:
            checks = list(self.held or [])
        return corrections(checks, now)

    def add(self, check: Check) -> None:
        """Keep a verdict: in the store, else (the store refused it) in memory."""
        try:
            stored = self.store.add(check)
        except Exception as exc:
            log.warning("verification check of %s not stored (%s): kept in memory", check.workload, str(exc)[:200])
            with self._lock:
                self.unstored = merged(self.unstored, check)
                stored = merged(self.held or [], check)
        with self._lock:
            self.held = stored
            self.added += 1


__all__ = ["READ_EVERY_S", "CorrectionsStore", "FleetChecks", "MemoryCorrections"]
