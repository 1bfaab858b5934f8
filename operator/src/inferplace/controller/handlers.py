"""kopf registrations only; the work is in runtime.py (loop) and reconcile.py (one evaluation).

Run with `inferplace operator`, or `kopf run -m inferplace.controller.handlers` with settings from
`INFERPLACE_*` environment variables.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import kopf

from inferplace.api import GROUP, PLURAL, VERSION
from inferplace.api.clock import Clock, system_clock
from inferplace.catalog import Catalog, load_catalog
from inferplace.catalog.declared import DeclaredError, read_declared
from inferplace.controller import config as configuration
from inferplace.controller.backends import metrics_backends
from inferplace.controller.corrections_store import ConfigMapCorrections
from inferplace.controller.fleet_checks import CorrectionsStore, FleetChecks, MemoryCorrections
from inferplace.controller.kube import KubeWriter, connection_info, load_configuration
from inferplace.controller.leases import LeaseSettings, ShardLeases
from inferplace.controller.ownership import ShardedWork
from inferplace.controller.prices import OperatorPrices
from inferplace.controller.runtime import Runtime
from inferplace.controller.sharding import unassigned_selector
from inferplace.controller.telemetry import Telemetry
from inferplace.placement import RegionDefault
from inferplace.placement.settings import DEFAULTS, PricingSettings, ReportSettings
from inferplace.pricing import bundled, read_overrides
from inferplace.pricing.aws import Fetched

log = logging.getLogger("inferplace.operator")


def _prices(cfg: configuration.OperatorConfig, cat: Catalog, runtime_telemetry: Telemetry,
            clock: Clock) -> OperatorPrices:
    overrides = None
    if cfg.prices_file:
        with open(cfg.prices_file, encoding="utf-8") as fh:
            overrides = read_overrides(fh.read(), cat.instances, clock().date())
    snapshot = bundled()
    fetcher = None
    if cfg.live_prices:
        from inferplace.pricing.aws import botocore_clients, fetch  # noqa: PLC0415 - optional extra

        clients = botocore_clients(cfg.api_timeout_s)

        def fetcher(types: Sequence[str], regions: Sequence[str]) -> Fetched:
            return fetch(clients, types, regions, clock())

    def counted(got: Fetched) -> None:
        runtime_telemetry.price_refresh_errors.inc(len(got.problems))

    regions = {cfg.region or snapshot.default_region}
    return OperatorPrices(overrides, snapshot, fetcher, sorted(cat.instances), regions, cfg.price_refresh_interval_s,
                          clock=clock, on_refresh=counted)


class StatuslessDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf's essence of an object (what it compares between events), made without first deep-copying the
    status it then drops: a status is ~27 KB, and kopf copies the body at every event (8% of one busy
    operator's CPU, by py-spy). The essence is the same: kopf keeps no part of the status unless a
    handler names one (extra fields), and then its own way is taken."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        fields = list(extra_fields or ())
        if fields or "status" not in body:
            return super().build(body=body, extra_fields=fields)
        return super().build(body=kopf.Body(cast("kopf.RawBody", {k: v for k, v in body.items() if k != "status"})))


async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    cfg = memo.get("config") or configuration.from_env()
    memo["config"] = cfg
    # Watches are re-opened at least this often: a silently dead stream cannot stall the operator
    # (kopf issues #585, #957).
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = cfg.api_timeout_s
    settings.networking.request_timeout = cfg.api_timeout_s
    settings.networking.connect_timeout = min(cfg.api_timeout_s, 10.0)
    settings.posting.level = logging.WARNING  # kopf's own Events: only problems
    settings.execution.max_workers = cfg.workers
    # Watching named namespaces, the chart grants Roles there only: no cluster-wide list of namespaces or
    # CRDs to scan, so kopf serves what it finds at startup instead of retrying 403s and warning.
    settings.scanning.disabled = not cfg.all_namespaces
    # kopf keeps one worker per object alive this long after its last event, holding that event's body
    # (a status is ~35 KB of JSON): with a thousand objects the idle workers, not the operator's own
    # state, set the peak memory. `seen` only records the body, so a short idle time costs nothing.
    settings.queueing.idle_timeout = 0.5
    settings.persistence.diffbase_storage = StatuslessDiffBase()
    if cfg.shards > 1:
        # Sharded, `inferplace operator` runs kopf without a watch (registry()); under `kopf run -m` the watch
        # has nothing to do: make it see as little as possible (ShardedWork watches the unassigned ones).
        settings.watching.label_selectors[GROUP, PLURAL] = unassigned_selector(cfg.shards)
    telemetry = Telemetry()
    clock = system_clock  # the operator's one clock: every status, Event, price age and Prometheus window
    try:
        kube = KubeWriter.connect(cfg.api_timeout_s, cfg.workers, clock)
        catalog = _catalog(cfg)
        prices = _prices(cfg, catalog, telemetry, clock)
        backends = metrics_backends(cfg, clock)
    except Exception as exc:
        # Retrying cannot fix a missing kubeconfig, a bad price file or missing AWS support: stop with the reason.
        raise kopf.PermanentError(f"cannot start: {exc}") from exc
    region = RegionDefault(cfg.region, "the operator's --region") if cfg.region else RegionDefault(
        prices.snapshot.default_region, "the price snapshot's default region")
    tuning = DEFAULTS.model_copy(update={"pricing": PricingSettings(max_age_days=cfg.max_price_age_days),
                                         "report": ReportSettings(max_alternatives=cfg.alternatives)})
    store: CorrectionsStore = MemoryCorrections()
    if cfg.corrections_configmap is not None:
        ns, name = cfg.corrections_configmap
        store = ConfigMapCorrections(kube.api_client, ns, name, cfg.api_timeout_s, clock)
    else:
        log.info("no --corrections-configmap: verification checks are kept in memory and lost on restart")
    runtime = Runtime(cfg, catalog, kube, backends, prices, region, tuning, telemetry=telemetry, clock=clock,
                      fleet_checks=FleetChecks(store), shards=cfg.shards)
    telemetry.price_age.set_function(prices.age_seconds)
    prices.start()
    runtime.start()
    memo["runtime"] = runtime
    if cfg.leases:
        assert cfg.leader_election_namespace is not None  # config.from_args requires it with leases
        work = ShardedWork(runtime, kube, asyncio.get_running_loop(),
                           None if cfg.all_namespaces else list(cfg.namespaces), cfg.shards, cfg.api_timeout_s)
        leases = ShardLeases(kube.api_client, LeaseSettings(cfg.leader_election_namespace, cfg.leader_election_id,
                                                            cfg.shards), work.gained, work.lost)
        runtime.ownership = leases
        telemetry.shards_held.set_function(lambda: len(leases.held()))
        memo["leases"], memo["sharded"] = leases, work
        work.start()
        leases.start()
        log.info("holding Leases %s/%s%s as %s; evaluating only what they give", cfg.leader_election_namespace,
                 cfg.leader_election_id, f"-shard-K-of-{cfg.shards}" if cfg.shards > 1 else "", leases.me)
    memo["prices"] = prices
    hp = cfg.metrics_host_port
    if hp is not None:
        from prometheus_client import start_http_server  # noqa: PLC0415

        server, _thread = start_http_server(hp[1], hp[0], registry=runtime.telemetry.registry)
        memo["metrics_server"] = server
    log.info("inferplace operator started: %s, interval %gs, Prometheus %s",
             "all namespaces" if cfg.all_namespaces else ", ".join(cfg.namespaces), cfg.interval_s,
             cfg.prometheus_url or "(per workload only)")


def login(**_: Any) -> kopf.ConnectionInfo:
    try:
        info: kopf.ConnectionInfo = connection_info(load_configuration())
    except Exception as exc:
        raise kopf.LoginError(f"no in-cluster service account and no usable kubeconfig: {exc}") from exc
    return info


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    leases: ShardLeases | None = memo.get("leases")
    if leases is not None:  # stop writing and hand the Leases back first: a standby takes over in seconds
        await asyncio.get_running_loop().run_in_executor(None, leases.stop)
        memo["sharded"].stop()
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        await runtime.stop()
    prices: OperatorPrices | None = memo.get("prices")
    if prices is not None:
        prices.stop()
    server = memo.get("metrics_server")
    if server is not None:
        server.shutdown()
        server.server_close()


async def seen(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    work: ShardedWork | None = memo.get("sharded")
    if work is not None and work.shards > 1:
        return  # each held shard has its own watch, and ShardedWork watches the unassigned workloads
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        runtime.seen(type, dict(body))


def probe(memo: kopf.Memo, **_: Any) -> dict[str, float]:
    runtime: Runtime | None = memo.get("runtime")
    why = "the operator has not started" if runtime is None else runtime.health()
    if runtime is None or why is not None:
        raise RuntimeError(why)  # kopf answers /healthz with 500: the kubelet restarts the pod
    leases: ShardLeases | None = memo.get("leases")
    held = {"shardsHeld": len(leases.held())} if leases is not None else {}
    return {"workloads": len(runtime.entries), "queued": runtime.queue.qsize(), **held}


def registry(sharded: bool, reg: kopf.OperatorRegistry | None = None) -> kopf.OperatorRegistry:
    """The handlers registered in `reg` (default: a new registry): sharded, without kopf's watch of the
    workloads (each held shard has its own watch, and the unassigned ones another: ShardedWork)."""
    reg = reg if reg is not None else kopf.OperatorRegistry()
    kopf.on.startup(registry=reg)(startup)
    kopf.on.login(registry=reg)(login)
    kopf.on.cleanup(registry=reg)(cleanup)
    kopf.on.probe(id="evaluations", registry=reg)(probe)
    if not sharded:
        kopf.on.event(GROUP, VERSION, PLURAL, registry=reg)(seen)
    return reg


def _catalog(cfg: configuration.OperatorConfig) -> Catalog:
    """The packaged catalog, with the instance types the team declares (--instances) added."""
    cat = load_catalog()
    if cfg.instances_file is None:
        return cat
    try:
        return read_declared(Path(cfg.instances_file).read_bytes(), cat)
    except DeclaredError as exc:
        raise configuration.ConfigError(f"--instances {cfg.instances_file}: " + "; ".join(exc.problems)) from None


# `kopf run -m inferplace.controller.handlers` (and the kmock tests) use kopf's default registry.
registry(sharded=False, reg=kopf.get_default_registry())
