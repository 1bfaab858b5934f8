"""The operator's prices: its price-override file over the live AWS provider (when enabled) over the
bundled snapshot. The live layer is refreshed on an interval in a thread of its own, never on the
event loop; a failed refresh keeps the last good prices (the snapshot fills what they lack) and is
reported in every workload's PricesCurrent condition and in the operator's metrics.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time

from inferplace.api.clock import Clock, system_clock
from inferplace.api.vocabulary import CapacityType
from inferplace.controller.reconcile import PricesState
from inferplace.pricing import Overrides, Price, PriceBook, PriceSource, Snapshot
from inferplace.pricing.aws import Fetched

log = logging.getLogger("inferplace.prices")

Fetcher = Callable[[Sequence[str], Sequence[str]], Fetched]
"""(instance types, regions) -> what the live provider answered (pricing.aws.fetch with its clients)."""


@dataclass
class OperatorPrices:
    overrides: Overrides | None
    snapshot: Snapshot
    fetcher: Fetcher | None  # None: live prices off
    instance_types: Sequence[str]
    regions: set[str]
    interval_s: float = 12 * 3600.0
    clock: Clock = system_clock
    on_refresh: Callable[[Fetched], None] | None = None  # telemetry
    _live: dict[tuple[str, str, CapacityType], Price] = field(default_factory=dict)
    _refreshed_at: datetime | None = None
    _failed_at: datetime | None = None
    _problems: tuple[str, ...] = ()
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def book(self) -> PriceBook:
        layers: list[PriceSource] = [] if self.overrides is None else [self.overrides]
        if self.fetcher is not None:
            with self._lock:
                live = dict(self._live)
            layers.append(Snapshot(live, self.clock().date(), self.snapshot.default_region, "live", provider="aws"))
        layers.append(self.snapshot)
        return PriceBook(layers, self.snapshot.default_region)

    def state(self) -> PricesState:
        with self._lock:
            return PricesState(self.fetcher is not None, self._refreshed_at, self._failed_at, self._problems,
                               self.snapshot.as_of.isoformat())

    def age_seconds(self) -> float:
        """How old the prices in effect are: since the last good live refresh, else since the snapshot's date."""
        with self._lock:
            since = self._refreshed_at or datetime.combine(self.snapshot.as_of, time(), UTC)
        return max((self.clock() - since).total_seconds(), 0.0)

    def want(self, regions: Iterable[str]) -> None:
        """Regions workloads price in: the next refresh covers them too."""
        with self._lock:
            self.regions |= set(regions)

    def refresh(self) -> Fetched:
        """One refresh of the live layer (blocking: run it off the event loop)."""
        assert self.fetcher is not None
        with self._lock:
            regions = sorted(self.regions)
        got = self.fetcher(self.instance_types, regions)
        now = self.clock()
        with self._lock:
            # Keys this refresh did not answer keep their last good price.
            self._live.update({(p.instance_type, p.region, p.capacity_type): p for p in got.prices})
            if got.prices:
                self._refreshed_at = now
            self._failed_at = None if got.ok else now
            self._problems = tuple(got.problems[:8])
        if got.problems:
            log.warning("price refresh: %d problem(s), first: %s", len(got.problems), got.problems[0])
        if self.on_refresh is not None:
            self.on_refresh(got)
        return got

    def start(self) -> None:
        if self.fetcher is None or self._thread is not None:
            return

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.refresh()
                except Exception:  # a bug must not end the refresher: report and try at the next interval
                    log.exception("price refresh failed")
                self._stop.wait(self.interval_s)

        self._thread = threading.Thread(target=loop, name="inferplace-prices", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
