"""Operator settings: command-line flags, each with an `INFERPLACE_*` environment variable as its
default, so the same image runs from a Helm chart (env) or a terminal (flags).

Bad values stop the operator at start with the flag, the variable and what is allowed.
"""

from __future__ import annotations

import argparse
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from inferplace.api.status import MAX_ALTERNATIVES
from inferplace.api.vocabulary import duration_seconds
from inferplace.controller.sharding import MAX_SHARDS
from inferplace.metrics.urls import AllowList, UrlError
from inferplace.metrics.urls import check as check_url
from inferplace.placement.settings import DEFAULT_ALTERNATIVES


class ConfigError(ValueError):
    """A setting is unusable; the message names the flag and the environment variable."""


@dataclass(frozen=True)
class OperatorConfig:
    namespaces: tuple[str, ...] = ()
    all_namespaces: bool = False
    prometheus_url: str | None = None
    prometheus_timeout_s: float = 10.0
    allowed_prometheus_urls: AllowList = field(default_factory=AllowList)  # where spec.metrics.prometheusUrl may point
    max_answer_bytes: int = 4 * 1024 * 1024  # one Prometheus answer, read as it streams
    evaluation_timeout_s: float = 30.0  # all of one evaluation's Prometheus reads together
    unhealthy_after_s: float = 300.0  # /healthz fails when evaluations or the API server stop this long
    bearer_token_file: str | None = None
    basic_auth_username: str | None = None
    basic_auth_password_file: str | None = None
    ca_bundle: str | None = None
    sigv4_region: str | None = None  # Amazon Managed Service for Prometheus
    interval_s: float = 300.0
    jitter: float = 0.1
    window: str = "1h"
    workers: int = 4
    api_timeout_s: float = 30.0
    metrics_address: str = "0.0.0.0:8081"
    liveness_url: str | None = "http://0.0.0.0:8080/healthz"
    log_format: str = "json"
    log_level: str = "INFO"
    prices_file: str | None = None
    instances_file: str | None = None  # instance types the team declares (catalog.declared)
    region: str | None = None  # where workloads without spec.constraints.region are priced
    live_prices: bool = False  # refresh prices from the AWS price APIs
    price_refresh_interval_s: float = 12 * 3600.0
    max_price_age_days: int = 180
    corrections_configmap: tuple[str, str] | None = None  # (namespace, name) of the fleet's verification checks
    leader_elect: bool = False  # hold a Lease before evaluating (implied by shards > 1)
    leader_election_namespace: str | None = None
    leader_election_id: str = "inferplace"
    shards: int = 1
    status_tolerance: float = 0.02  # relative change of a live figure below which the status is not rewritten
    alternatives: int = DEFAULT_ALTERNATIVES  # alternatives written into each status

    @property
    def leases(self) -> bool:
        return self.leader_elect or self.shards > 1

    @property
    def metrics_host_port(self) -> tuple[str, int] | None:
        if not self.metrics_address or self.metrics_address == "off":
            return None
        host, _, port = self.metrics_address.rpartition(":")
        return host or "0.0.0.0", int(port)


# (flag, env, help); every flag is documented in `inferplace operator --help` and the chart values.
_ENV = "INFERPLACE_"


def _env(name: str, env: Mapping[str, str], default: str | None = None) -> str | None:
    return env.get(_ENV + name, default)


def add_arguments(p: argparse.ArgumentParser, env: Mapping[str, str] | None = None) -> None:
    e = os.environ if env is None else env
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", dest="namespaces", metavar="NS",
                       help="watch this namespace (repeatable; glob patterns allowed) [INFERPLACE_NAMESPACES, "
                            "comma-separated]")
    scope.add_argument("-A", "--all-namespaces", action="store_true", default=None,
                       help="watch every namespace [INFERPLACE_ALL_NAMESPACES=true]")
    p.add_argument("--prometheus-url", default=_env("PROMETHEUS_URL", e),
                   help="Prometheus (or Amazon Managed Prometheus workspace) query URL [INFERPLACE_PROMETHEUS_URL]")
    p.add_argument("--prometheus-timeout", default=_env("PROMETHEUS_TIMEOUT", e, "10s"), metavar="DURATION",
                   help="timeout of each Prometheus query (default 10s) [INFERPLACE_PROMETHEUS_TIMEOUT]")
    p.add_argument("--allowed-prometheus-url", action="append", dest="allowed_prometheus_urls", metavar="URL",
                   help="a Prometheus base URL that spec.metrics.prometheusUrl may name: its server, and paths under "
                        "its path (repeatable; none by default: a per-workload URL is refused before any request) "
                        "[INFERPLACE_ALLOWED_PROMETHEUS_URLS, comma-separated]")
    p.add_argument("--max-answer-size", default=_env("MAX_ANSWER_SIZE", e, "4Mi"), metavar="BYTES",
                   help="largest Prometheus answer read, enforced as it streams (default 4Mi; Ki/Mi suffixes) "
                        "[INFERPLACE_MAX_ANSWER_SIZE]")
    p.add_argument("--evaluation-timeout", default=_env("EVALUATION_TIMEOUT", e, "30s"), metavar="DURATION",
                   help="all of one evaluation's Prometheus reads together end by then, whatever the server does "
                        "(default 30s) [INFERPLACE_EVALUATION_TIMEOUT]")
    p.add_argument("--unhealthy-after", default=_env("UNHEALTHY_AFTER", e, "5m"), metavar="DURATION",
                   help="/healthz fails when queued evaluations make no progress, or the Kubernetes API does not "
                        "answer, for this long (default 5m) [INFERPLACE_UNHEALTHY_AFTER]")
    p.add_argument("--bearer-token-file", default=_env("BEARER_TOKEN_FILE", e),
                   help="send this file's token to Prometheus (re-read on every query) "
                        "[INFERPLACE_BEARER_TOKEN_FILE]")
    p.add_argument("--basic-auth-username", default=_env("BASIC_AUTH_USERNAME", e),
                   help="basic auth user for Prometheus [INFERPLACE_BASIC_AUTH_USERNAME]")
    p.add_argument("--basic-auth-password-file", default=_env("BASIC_AUTH_PASSWORD_FILE", e),
                   help="file holding the basic auth password [INFERPLACE_BASIC_AUTH_PASSWORD_FILE]")
    p.add_argument("--ca-bundle", default=_env("CA_BUNDLE", e),
                   help="CA bundle to verify Prometheus' TLS certificate [INFERPLACE_CA_BUNDLE]")
    p.add_argument("--sigv4-region", default=_env("SIGV4_REGION", e),
                   help="sign queries with AWS SigV4 for Amazon Managed Prometheus in this region (needs the "
                        "'aws' extra; credentials from IRSA or EKS Pod Identity) [INFERPLACE_SIGV4_REGION]")
    p.add_argument("--interval", default=_env("INTERVAL", e, "5m"), metavar="DURATION",
                   help="re-evaluate every workload this often (default 5m) [INFERPLACE_INTERVAL]")
    p.add_argument("--jitter", default=_env("JITTER", e, "0.1"),
                   help="spread re-evaluations by +/- this fraction of the interval (default 0.1) "
                        "[INFERPLACE_JITTER]")
    p.add_argument("--metrics-window", default=_env("METRICS_WINDOW", e, "1h"), metavar="DURATION",
                   help="rate/average window when spec.metrics.window is not set (default 1h) "
                        "[INFERPLACE_METRICS_WINDOW]")
    p.add_argument("--workers", default=_env("WORKERS", e, "4"),
                   help="evaluations run in parallel (default 4) [INFERPLACE_WORKERS]")
    p.add_argument("--api-timeout", default=_env("API_TIMEOUT", e, "30s"), metavar="DURATION",
                   help="timeout of Kubernetes API requests and watch reconnects (default 30s) "
                        "[INFERPLACE_API_TIMEOUT]")
    p.add_argument("--metrics-address", default=_env("METRICS_ADDRESS", e, "0.0.0.0:8081"),
                   help="serve the operator's own /metrics here, or 'off' (default 0.0.0.0:8081) "
                        "[INFERPLACE_METRICS_ADDRESS]")
    p.add_argument("--liveness", default=_env("LIVENESS", e, "http://0.0.0.0:8080/healthz"),
                   help="liveness endpoint URL, or 'off' [INFERPLACE_LIVENESS]")
    p.add_argument("--log-format", default=_env("LOG_FORMAT", e, "json"), choices=("json", "plain", "full"),
                   help="log records as JSON lines (default) or text [INFERPLACE_LOG_FORMAT]")
    p.add_argument("--log-level", default=_env("LOG_LEVEL", e, "INFO"),
                   choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="[INFERPLACE_LOG_LEVEL]")
    p.add_argument("--prices", dest="prices_file", default=_env("PRICES_FILE", e),
                   help="YAML file of your sourced, dated rates, laid over every other price (the chart mounts a "
                        "ConfigMap here) [INFERPLACE_PRICES_FILE]")
    p.add_argument("--instances", dest="instances_file", default=_env("INSTANCES_FILE", e),
                   help="YAML file of instance types (and chips) the catalog lacks, as `inferplace recommend "
                        "--instances` reads it (the chart mounts a ConfigMap here) [INFERPLACE_INSTANCES_FILE]")
    p.add_argument("--region", default=_env("REGION", e),
                   help="AWS region to price workloads in when their spec.constraints.region is not set (default: "
                        "the price snapshot's, us-east-1) [INFERPLACE_REGION]")
    p.add_argument("--live-prices", action="store_true", default=None,
                   help="refresh prices from the AWS Price List Query API and EC2 spot price history (needs the "
                        "'aws' extra and pricing:GetProducts + ec2:DescribeSpotPriceHistory) "
                        "[INFERPLACE_LIVE_PRICES=true]")
    p.add_argument("--price-refresh-interval", default=_env("PRICE_REFRESH_INTERVAL", e, "12h"), metavar="DURATION",
                   help="how often live prices are refreshed (default 12h) [INFERPLACE_PRICE_REFRESH_INTERVAL]")
    p.add_argument("--max-price-age", default=_env("MAX_PRICE_AGE", e, "180d"), metavar="DURATION",
                   help="a price older than this lowers the confidence and says so (default 180d) "
                        "[INFERPLACE_MAX_PRICE_AGE]")
    p.add_argument("--corrections-configmap", default=_env("CORRECTIONS_CONFIGMAP", e), metavar="NAMESPACE/NAME",
                   help="keep the fleet's verification checks (and the corrections they give) in this ConfigMap, "
                        "so they survive restarts and are shared by replicas; without it they live in memory "
                        "[INFERPLACE_CORRECTIONS_CONFIGMAP]")
    p.add_argument("--leader-elect", action="store_true", default=None,
                   help="evaluate and write only while holding a coordination.k8s.io Lease, so that replicas stand "
                        "by and one takes over within the lease duration (15 s) when the holder dies "
                        "[INFERPLACE_LEADER_ELECT=true]")
    p.add_argument("--leader-election-namespace", default=_env("LEADER_ELECTION_NAMESPACE", e), metavar="NS",
                   help="where the Leases live (default: the pod's namespace; needed out of cluster) "
                        "[INFERPLACE_LEADER_ELECTION_NAMESPACE]")
    p.add_argument("--leader-election-id", default=_env("LEADER_ELECTION_ID", e, "inferplace"), metavar="NAME",
                   help="the Leases' name (and prefix, with shards): processes with the same id share the work "
                        "(default inferplace) [INFERPLACE_LEADER_ELECTION_ID]")
    p.add_argument("--shards", default=_env("SHARDS", e, "1"), metavar="N",
                   help="split the workloads into N shards by a stable hash of namespace and name, each held by a "
                        "Lease; any number of processes with the same N share them and each watches only what it "
                        "holds (implies --leader-elect; writes the label inferplace.io/shard=K-of-N on each "
                        f"workload; 1 to {MAX_SHARDS}, default 1) [INFERPLACE_SHARDS]")
    p.add_argument("--status-tolerance", default=_env("STATUS_TOLERANCE", e, "0.02"), metavar="FRACTION",
                   help="rewrite a status only when something in it changes: text, a count, or a figure by more than "
                        "this fraction of its last written value (default 0.02, i.e. 2%%; 0: any change) "
                        "[INFERPLACE_STATUS_TOLERANCE]")
    p.add_argument("--alternatives", default=_env("ALTERNATIVES", e, str(DEFAULT_ALTERNATIVES)), metavar="N",
                   help="alternatives written into each status besides the recommendation (the best of each other "
                        "node pool first; every node pool stays in status.rejected with its best option and cost; "
                        f"0 to {MAX_ALTERNATIVES}, default {DEFAULT_ALTERNATIVES}, as `inferplace recommend --top`) "
                        "[INFERPLACE_ALTERNATIVES]")


def _switch(flag: bool | None, name: str, env: Mapping[str, str]) -> bool:
    """An on/off setting: the flag when given, else INFERPLACE_<name> (1, true or yes)."""
    if flag is not None:
        return bool(flag)
    return (_env(name, env) or "").lower() in ("1", "true", "yes")


def duration_s(text: str, what: str) -> float:
    try:
        return float(duration_seconds(text.strip()))
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _number(text: str, what: str, lo: float, hi: float) -> float:
    try:
        x = float(text)
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not a number; allowed: {lo:g} to {hi:g}") from None
    if not lo <= x <= hi:
        raise ConfigError(f"{what}: {x:g} is out of range; allowed: {lo:g} to {hi:g}")
    return x


def _count(text: str, what: str, lo: int, hi: int) -> int:
    x = _number(text, what, lo, hi)
    if x != int(x):
        raise ConfigError(f"{what}: {text!r} is not a whole number; allowed: {lo} to {hi}")
    return int(x)


def _readable(path: str | None, what: str) -> str | None:
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"{what}: no such file {path!r}")
    return path


def _region(text: str | None) -> str | None:
    if text and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-[0-9]", text):
        raise ConfigError(f"--region / INFERPLACE_REGION: {text[:40]!r} is not an AWS region such as us-east-1")
    return text or None


_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # a DNS-1123 label, as Kubernetes names them
_GLOB = re.compile(r"!?[-a-z0-9*?]{1,63}")  # kopf's globs (`team-*`) and exclusions (`!kube-*`)


def _namespace(ns: str) -> None:
    """A namespace, or kopf's pattern: globs joined by commas (`myapp-*,!*-pr-*`), the rightmost match wins."""
    globs = ns.split(",")
    if not all(_GLOB.fullmatch(g) and (any(c in g for c in "*?!") or _NAMESPACE.fullmatch(g)) for g in globs):
        raise ConfigError(f"--namespace / INFERPLACE_NAMESPACES: {ns[:70]!r} is not a namespace (lowercase letters, "
                          "digits and '-', at most 63, starting and ending with a letter or digit) nor a pattern "
                          "such as team-* or myapp-*,!*-pr-*")


def _bytes(text: str, what: str) -> int:
    m = re.fullmatch(r"\s*([0-9]+)\s*(Ki|Mi)?\s*", text)
    n = int(m.group(1)) * {None: 1, "Ki": 1024, "Mi": 1024**2}[m.group(2)] if m else -1
    if not 64 * 1024 <= n <= 256 * 1024**2:
        raise ConfigError(f"{what}: {text[:40]!r}; allowed: 64Ki to 256Mi (a number of bytes, or Ki/Mi)")
    return n


_CONFIGMAP_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")  # a DNS-1123 subdomain


def _configmap(text: str | None) -> tuple[str, str] | None:
    if not text:
        return None
    ns, _, name = text.partition("/")
    if not (_NAMESPACE.fullmatch(ns) and _CONFIGMAP_NAME.fullmatch(name)):
        raise ConfigError(f"--corrections-configmap / INFERPLACE_CORRECTIONS_CONFIGMAP: {text[:100]!r}; write "
                          "NAMESPACE/NAME, e.g. inferplace/inferplace-corrections")
    return ns, name


def _prometheus_url(url: str | None, what: str) -> str | None:
    """A Prometheus base URL without credentials, query or fragment (credentials go in their files)."""
    if url is None:
        return None
    try:
        return check_url(url)
    except UrlError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _http_url(url: str | None, what: str, port_needed: bool = False) -> str | None:
    """An http(s) URL with a host (and a port where one must be bound), checked as urllib reads it."""
    if url is None:
        return None
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # ValueError for a port that is no number or out of range
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and not re.search(r"\s", url)
    except ValueError:
        ok, port = False, None
    if not ok:
        raise ConfigError(f"{what}: {url[:100]!r} is not an http(s) URL such as http://prometheus:9090")
    if port_needed and port is None:
        raise ConfigError(f"{what}: {url[:100]!r} needs a port to listen on, e.g. http://0.0.0.0:8080/healthz")
    return url


SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_ELECTION_ID = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")


def _leases(a: argparse.Namespace, e: Mapping[str, str], namespaces: tuple[str, ...],
            all_ns: bool) -> tuple[bool, str | None, str, int]:
    """(leader_elect, lease namespace, election id, shards), checked."""
    elect = _switch(a.leader_elect, "LEADER_ELECT", e)
    shards = _count(str(a.shards), "--shards / INFERPLACE_SHARDS", 1, MAX_SHARDS)
    election = a.leader_election_id or "inferplace"
    if not _ELECTION_ID.fullmatch(election):
        raise ConfigError(f"--leader-election-id / INFERPLACE_LEADER_ELECTION_ID: {election[:60]!r}; allowed: "
                          "lowercase letters, digits and '-', at most 40, starting and ending with a letter or digit")
    if not (elect or shards > 1):
        return False, None, election, 1
    if shards > 1 and not all_ns and any(c in ns for ns in namespaces for c in "*?!,"):
        raise ConfigError("--shards: each shard is watched per namespace, so name the namespaces exactly (no "
                          "patterns) or use --all-namespaces")
    ns = a.leader_election_namespace
    if not ns and SERVICE_ACCOUNT_NAMESPACE.is_file():
        ns = SERVICE_ACCOUNT_NAMESPACE.read_text().strip()
    if not ns:
        raise ConfigError("--leader-election-namespace / INFERPLACE_LEADER_ELECTION_NAMESPACE: needed out of a pod "
                          "(in a pod it defaults to the pod's namespace): where the Leases are kept")
    if not _NAMESPACE.fullmatch(ns):
        raise ConfigError(f"--leader-election-namespace / INFERPLACE_LEADER_ELECTION_NAMESPACE: {ns[:70]!r} is not a "
                          "namespace")
    return True, ns, election, shards


def from_args(a: argparse.Namespace, env: Mapping[str, str] | None = None) -> OperatorConfig:
    e = os.environ if env is None else env
    if (_env("AS_OF", e) or "").strip():
        # A fixed clock would freeze price ages and stamp every status with one time: the CLI's, not ours.
        raise ConfigError("INFERPLACE_AS_OF fixes the CLI's clock for reproducible reports; the operator always "
                          "uses the system clock: unset it")
    namespaces = tuple(a.namespaces or [n.strip() for n in (_env("NAMESPACES", e) or "").split(",") if n.strip()])
    all_ns = _switch(a.all_namespaces, "ALL_NAMESPACES", e)
    if namespaces and all_ns:
        raise ConfigError("--namespace / INFERPLACE_NAMESPACES and --all-namespaces / INFERPLACE_ALL_NAMESPACES "
                          "exclude each other")
    if not namespaces and not all_ns:
        raise ConfigError("say what to watch: --namespace NS (repeatable) or --all-namespaces "
                          "(INFERPLACE_NAMESPACES=a,b or INFERPLACE_ALL_NAMESPACES=true)")
    for ns in namespaces:
        _namespace(ns)
    url = _prometheus_url(a.prometheus_url or None, "--prometheus-url / INFERPLACE_PROMETHEUS_URL")
    allowed_raw = a.allowed_prometheus_urls or (_env("ALLOWED_PROMETHEUS_URLS", e) or "").split(",")
    for u in allowed_raw:
        if u.strip():
            _prometheus_url(u.strip(), "--allowed-prometheus-url / INFERPLACE_ALLOWED_PROMETHEUS_URLS")
    if a.basic_auth_username and not a.basic_auth_password_file:
        raise ConfigError("--basic-auth-username needs --basic-auth-password-file "
                          "(INFERPLACE_BASIC_AUTH_PASSWORD_FILE)")
    if sum(bool(x) for x in (a.bearer_token_file, a.basic_auth_username, a.sigv4_region)) > 1:
        raise ConfigError("choose one Prometheus authentication: --bearer-token-file, --basic-auth-username or "
                          "--sigv4-region")
    window = a.metrics_window
    duration_s(window, "--metrics-window / INFERPLACE_METRICS_WINDOW")
    metrics_address = a.metrics_address
    if metrics_address != "off" and not re.fullmatch(r"[^\s:]*:[0-9]{1,5}", metrics_address):
        raise ConfigError(f"--metrics-address / INFERPLACE_METRICS_ADDRESS: {metrics_address!r}; write HOST:PORT "
                          "or off")
    elect, lease_ns, election, shards = _leases(a, e, namespaces, all_ns)
    return OperatorConfig(
        leader_elect=elect, leader_election_namespace=lease_ns, leader_election_id=election, shards=shards,
        status_tolerance=_number(a.status_tolerance, "--status-tolerance / INFERPLACE_STATUS_TOLERANCE", 0.0, 0.5),
        alternatives=_count(a.alternatives, "--alternatives / INFERPLACE_ALTERNATIVES", 0, MAX_ALTERNATIVES),
        namespaces=namespaces, all_namespaces=all_ns, prometheus_url=url,
        prometheus_timeout_s=duration_s(a.prometheus_timeout, "--prometheus-timeout / INFERPLACE_PROMETHEUS_TIMEOUT"),
        allowed_prometheus_urls=AllowList.of(allowed_raw),
        max_answer_bytes=_bytes(a.max_answer_size, "--max-answer-size / INFERPLACE_MAX_ANSWER_SIZE"),
        evaluation_timeout_s=duration_s(a.evaluation_timeout, "--evaluation-timeout / INFERPLACE_EVALUATION_TIMEOUT"),
        unhealthy_after_s=duration_s(a.unhealthy_after, "--unhealthy-after / INFERPLACE_UNHEALTHY_AFTER"),
        bearer_token_file=_readable(a.bearer_token_file, "--bearer-token-file / INFERPLACE_BEARER_TOKEN_FILE"),
        basic_auth_username=a.basic_auth_username or None,
        basic_auth_password_file=_readable(a.basic_auth_password_file,
                                           "--basic-auth-password-file / INFERPLACE_BASIC_AUTH_PASSWORD_FILE"),
        ca_bundle=_readable(a.ca_bundle, "--ca-bundle / INFERPLACE_CA_BUNDLE"),
        sigv4_region=a.sigv4_region or None,
        interval_s=duration_s(a.interval, "--interval / INFERPLACE_INTERVAL"),
        jitter=_number(a.jitter, "--jitter / INFERPLACE_JITTER", 0.0, 0.5),
        window=window,
        workers=_count(a.workers, "--workers / INFERPLACE_WORKERS", 1, 64),
        api_timeout_s=duration_s(a.api_timeout, "--api-timeout / INFERPLACE_API_TIMEOUT"),
        metrics_address=metrics_address,
        liveness_url=None if a.liveness == "off" else _http_url(a.liveness, "--liveness / INFERPLACE_LIVENESS",
                                                                 port_needed=True),
        log_format=a.log_format, log_level=a.log_level,
        prices_file=_readable(a.prices_file, "--prices / INFERPLACE_PRICES_FILE"),
        instances_file=_readable(a.instances_file, "--instances / INFERPLACE_INSTANCES_FILE"),
        region=_region(a.region),
        live_prices=_switch(a.live_prices, "LIVE_PRICES", e),
        price_refresh_interval_s=duration_s(a.price_refresh_interval,
                                            "--price-refresh-interval / INFERPLACE_PRICE_REFRESH_INTERVAL"),
        max_price_age_days=max(int(duration_s(a.max_price_age, "--max-price-age / INFERPLACE_MAX_PRICE_AGE") // 86400),
                               1),
        corrections_configmap=_configmap(a.corrections_configmap),
    )


def from_env(env: Mapping[str, str] | None = None) -> OperatorConfig:
    """Settings from the environment alone (when kopf itself loads the handlers module)."""
    p = argparse.ArgumentParser()
    add_arguments(p, env)
    return from_args(p.parse_args([]), env)
