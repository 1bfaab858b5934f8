"""`inferplace verify`: did a move to a recommended placement deliver what was promised? From Prometheus
history, for teams without the operator (the operator writes the same report into status.verification).

The workload file describes the placement as it runs now (spec.current, after the move). The promise
is the one in the file's status.promises (a resource exported from a cluster), else the one inferplace
makes for spec.current's placement at the traffic Prometheus saw over the window before --moved-at.
After the settling period (--settle, else spec.verification.settle) and one whole window, observed
throughput per replica and TTFT/TPOT p95 are compared with the promise and its stated range; realized
cost per million output tokens is instance hours at the promise's price over the tokens served.

Exit status: 0 Confirmed; 3 Missed; 4 not decided yet or inconclusive (Pending, Settling, Inconclusive);
2 bad input (the message names the flag or field).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from inferplace import __version__
from inferplace.api.clock import AsOfError, parse_as_of, rfc3339
from inferplace.api.errors import terminal_safe
from inferplace.api.spec import InferenceWorkloadSpec, VerificationSpec
from inferplace.api.status import Baseline, Promise, Verification
from inferplace.api.vocabulary import CapacityType, duration_seconds
from inferplace.catalog import Catalog, CatalogError, load_catalog
from inferplace.cli.as_of import add_as_of_argument, as_of
from inferplace.cli.inputs import InputError, manifests
from inferplace.cli.pricing import add_price_arguments, price_book, region_default
from inferplace.feedback.promises import matches, promise_for
from inferplace.feedback.verify import baseline, verify
from inferplace.metrics import MetricsBackend, MetricsUnavailable, Observation, ObserveRequest, SelectorError
from inferplace.metrics.plausible import checked
from inferplace.metrics.urls import UrlError
from inferplace.metrics.urls import check as check_url
from inferplace.placement import WorkloadError, resolve
from inferplace.placement.search import search
from inferplace.placement.traffic import observed_traffic
from inferplace.pricing import NoPrice, PriceBook

EXIT_CONFIRMED, EXIT_USAGE, EXIT_MISSED, EXIT_UNDECIDED = 0, 2, 3, 4
EXIT_OF = {"Confirmed": EXIT_CONFIRMED, "Missed": EXIT_MISSED}
BASELINE = re.compile(r"([a-z0-9][a-z0-9-]*\.[a-z0-9-]+)=([1-9][0-9]{0,4})")


def register(sub: Any) -> None:
    p = sub.add_parser("verify", help="check a move to a recommended placement against what was promised",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-f", "--filename", required=True, type=Path, metavar="WORKLOAD.yaml",
                   help="one InferenceWorkload as it runs after the move (spec.current is the new placement)")
    p.add_argument("--prometheus-url", metavar="URL",
                   help="Prometheus holding the workload's history (default: the file's spec.metrics.prometheusUrl)")
    p.add_argument("--moved-at", metavar="TIMESTAMP",
                   help="when the new placement took the traffic, e.g. 2026-11-20T09:00:00Z (default: "
                        "spec.current.since)")
    p.add_argument("--settle", metavar="DURATION",
                   help="time after the move that never counts, at least 1m (default: spec.verification.settle, 24h)")
    p.add_argument("--baseline", metavar="INSTANCE_TYPE=INSTANCES",
                   help="what ran before the move, e.g. p5.48xlarge=2, for the realized monthly savings")
    p.add_argument("--timeout", default="10s", metavar="DURATION",
                   help="timeout of each Prometheus query (default 10s); the whole check gets 6 times it")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    add_price_arguments(p)
    add_as_of_argument(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (InputError, CatalogError) as exc:
        print(f"inferplace verify: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _duration(text: str, flag: str, low_s: float, high_s: float) -> float:
    try:
        s = float(duration_seconds(text.strip()))
    except ValueError as exc:
        raise InputError(f"{flag}: {exc}") from None
    if not low_s <= s <= high_s:
        raise InputError(f"{flag} {text.strip()}: allowed {low_s:g}s to {high_s:g}s")
    return s


def _spec(args: argparse.Namespace) -> tuple[str, InferenceWorkloadSpec, list[Promise]]:
    found, problems = manifests([args.filename])
    if problems:
        raise InputError("; ".join(problems))
    if len(found) != 1:
        raise InputError(f"{args.filename}: {len(found)} InferenceWorkloads; verify checks one at a time")
    w = found[0].workload
    spec = w.spec
    if spec.current is None:
        raise InputError("spec.current: not set; verify checks the placement the workload runs on after the move")
    if spec.metrics is None:
        raise InputError("spec.metrics: not set; verify reads the workload's series from Prometheus (server and "
                         "selector)")
    if args.settle is not None:
        try:
            spec = spec.model_copy(update={"verification": VerificationSpec(settle=args.settle.strip())})
        except ValueError as exc:
            raise InputError(f"--settle {args.settle.strip()[:20]!r}: {_first(exc)}") from None
    kept = list(w.status.promises or []) if w.status is not None else []
    return w.metadata.name, spec, kept


def _first(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(str(e.get("msg", "")) for e in errors())[:200]
    return str(exc)[:200]


def _moved_at(args: argparse.Namespace, spec: InferenceWorkloadSpec) -> tuple[datetime, str]:
    text, where = (args.moved_at, "--moved-at") if args.moved_at else (
        spec.current.since if spec.current else None, "spec.current.since")
    if not text:
        raise InputError("--moved-at: when did the new placement take the traffic? e.g. --moved-at "
                         "2026-11-20T09:00:00Z (or set spec.current.since)")
    try:
        return parse_as_of(text), where
    except AsOfError as exc:
        raise InputError(f"{where}: {exc}") from None


def _backend(args: argparse.Namespace, spec: InferenceWorkloadSpec, timeout_s: float) -> MetricsBackend:
    url = args.prometheus_url or (spec.metrics.prometheus_url if spec.metrics else None)
    if not url:
        raise InputError("--prometheus-url: which Prometheus holds the workload's history? (or set "
                         "spec.metrics.prometheusUrl)")
    try:
        url = check_url(url)
    except UrlError as exc:
        raise InputError(f"--prometheus-url: {exc}") from None
    try:
        from inferplace.metrics.prometheus import PrometheusBackend  # noqa: PLC0415 - the operator extra
    except ImportError as exc:
        raise InputError(f"verify reads Prometheus and needs the operator extra ({exc.name} is missing): "
                         "pip install 'inferplace[operator]'") from None
    # The user's own server, from their terminal: proxies from the environment apply.
    return PrometheusBackend(url, timeout_s=timeout_s, budget_s=timeout_s * 6, trust_env=True)


def _observe(backend: MetricsBackend, spec: InferenceWorkloadSpec, cat: Catalog,
             at: datetime) -> tuple[Observation | None, str | None]:
    m = spec.metrics
    assert m is not None
    inst = cat.instances.get(spec.current.instance_type.lower()) if spec.current else None
    platform = cat.accelerators[inst.accelerator].platform if inst else None
    request = ObserveRequest(m.server, dict(m.selector), m.window or "1h", platform, at=at.timestamp())
    try:
        return checked(backend.observe(request)), None
    except MetricsUnavailable as exc:
        return None, f"{exc.reason}: {exc.message}"
    except SelectorError as exc:
        raise InputError(f"spec.metrics.selector: {exc}") from None


def _run(args: argparse.Namespace) -> int:
    name, spec, kept = _spec(args)
    moved_at, moved_from = _moved_at(args, spec)
    timeout_s = _duration(args.timeout, "--timeout", 0.1, 300)
    clock = as_of(args)
    now = clock()
    cat = load_catalog()
    book = price_book(args, cat, now.date())
    region = region_default(args, book)
    backend = _backend(args, spec, timeout_s)
    assert spec.metrics is not None
    assert spec.current is not None
    window = spec.metrics.window or "1h"
    notes: list[str] = []
    try:
        w = resolve(name, spec, cat, region)
    except WorkloadError as exc:
        raise InputError("; ".join(exc.problems)) from None

    before, fault = _observe(backend, spec, cat, moved_at)
    if before is not None:
        use = observed_traffic(w, before)
        w = use.workload
        notes.append(f"traffic before the move ({window} to {rfc3339(moved_at)}): {use.note}")
    else:
        notes.append(f"no traffic read before the move ({fault}); the promise uses the declared spec.traffic")

    promise = next((p for p in kept if matches(spec, p.model_dump(by_alias=True))), None)
    (outcome,) = search([w], cat, book)
    if promise is not None:
        source = f"the file's status.promises (made {promise.made_at})"
    else:
        promise = promise_for(spec, outcome, cat, moved_at)
        source = f"made by inferplace {__version__} for spec.current at the traffic before the move"
        if promise is None:
            why = outcome.failures.get(spec.current.instance_type.lower())
            raise InputError(f"spec.current: inferplace promises nothing for {spec.current.instance_type} with "
                             f"{spec.current.chips_per_replica} chips per replica ({spec.current.capacity_type}, "
                             f"{spec.model.weight_precision})" + (f": {why.message}" if why else ""))
    base = None
    if args.baseline is not None:
        base = _baseline(args.baseline, book, w.region, spec.current.capacity_type, before, notes)
    instances = outcome.current.instances if outcome.current is not None else promise.instances
    ready_at = moved_at + timedelta(seconds=duration_seconds(spec.verification.settle) + duration_seconds(window))
    after, fault = (None, None)
    if now >= ready_at:
        after, fault = _observe(backend, spec, cat, now)
    v = verify(spec, promise, moved_at, base, after, fault, instances, window, now).verification
    doc = {"workload": name, "asOf": rfc3339(now), "movedAtFrom": moved_from, "promiseFrom": source,
           "notes": notes, "verification": v.model_dump(mode="json", by_alias=True, exclude_none=True)}
    if args.output == "json":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        sys.stdout.write(terminal_safe(_table(name, v, source, notes)))
    return EXIT_OF.get(v.state, EXIT_UNDECIDED)


def _baseline(text: str, book: PriceBook, region: str, capacity: CapacityType, before: Observation | None,
              notes: list[str]) -> Baseline:
    m = BASELINE.fullmatch(text.strip())
    if m is None:
        raise InputError(f"--baseline {text.strip()[:60]!r}: write INSTANCE_TYPE=INSTANCES, e.g. p5.48xlarge=2")
    itype, count = m.group(1), int(m.group(2))
    price = book.price(itype, region, capacity)
    if isinstance(price, NoPrice):
        notes.append(f"baseline {itype}: no {capacity} price in {region} ({price.explain()}); savings not counted")
        return baseline(itype, count, None, before)
    notes.append(f"baseline {count} x {itype} at ${price.usd_per_hour:g}/h ({price.source}, {price.as_of})")
    return baseline(itype, count, price.usd_per_hour, before)


def _table(name: str, v: Verification, source: str, notes: list[str]) -> str:
    p = v.promise
    lines = [f"{name}: {v.state} ({v.reason})",
             f"  promise   {p.summary} on {p.node_pool} ({p.id}), {source}",
             f"            rests on {p.group} (scope {p.scope}): goodput error p90 {p.error_p90_pct}%",
             f"  moved     {v.moved_at}; settled {v.settled_at}"
             + (f"; checked {v.checked_at}" if v.checked_at else "")]
    if v.rows:
        rows = [("METRIC", "PROMISED", "OBSERVED", "RATIO", "RANGE", "WITHIN")]
        rows += [(r.metric, r.promised, r.observed or "-", r.ratio or "-", r.acceptable,
                  "-" if r.within is None else "yes" if r.within else "no") for r in v.rows]
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        lines += ["    " + "  ".join(c.ljust(wd) for c, wd in zip(r, widths, strict=True)).rstrip() for r in rows]
    if v.realized is not None:
        r = v.realized
        lines.append(f"  realized  ${r.cost_per_million_output_tokens or '-'}/1M output tokens in instance hours "
                     f"(promised ${r.promised_cost_per_million_output_tokens or '-'}; "
                     f"${p.cost_per_million_output_tokens} with every TCO term); "
                     f"instances ${r.monthly_instance_cost}/month"
                     + (f", baseline ${r.baseline_monthly_instance_cost}, saved ${r.monthly_savings}/month"
                        if r.monthly_savings is not None else ""))
    lines.append(f"  {v.message}")
    lines += [f"  note: {n}" for n in notes]
    return "\n".join(lines) + "\n"


__all__ = ["register", "run"]
