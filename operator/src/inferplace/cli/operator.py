"""`inferplace operator`: run the Kubernetes operator (kopf) that keeps every InferenceWorkload's
status current from live Prometheus metrics. Uses the in-cluster service account, else the
kubeconfig. Every flag has an INFERPLACE_* environment variable as its default."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from inferplace.controller import config as configuration

EXIT_USAGE = 2


def register(sub: Any) -> None:
    p = sub.add_parser("operator", help="run the Kubernetes operator", description=__doc__)
    configuration.add_arguments(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        cfg = configuration.from_args(args)
    except configuration.ConfigError as exc:
        print(f"inferplace operator: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from inferplace.controller.kube import load_configuration  # noqa: PLC0415 - needs the kubernetes client

    try:
        load_configuration()
    except Exception as exc:  # said here in one line, not as kopf's startup traceback
        print("inferplace operator: error: no cluster to watch: not in a pod with a service account, and no usable "
              f"kubeconfig (KUBECONFIG or ~/.kube/config): {' '.join(str(exc).split())[:300]}", file=sys.stderr)
        return EXIT_USAGE
    import kopf  # noqa: PLC0415 - only this subcommand needs kopf

    from inferplace.controller import handlers  # noqa: PLC0415

    fmt = {"json": kopf.LogFormat.JSON, "plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL}[cfg.log_format]
    kopf.configure(log_format=fmt, verbose=cfg.log_level == "DEBUG", quiet=cfg.log_level in ("WARNING", "ERROR"))
    logging.getLogger().setLevel(cfg.log_level)
    kopf.run(
        standalone=True,  # one replica with strategy Recreate; no peering objects needed
        clusterwide=cfg.all_namespaces, namespaces=list(cfg.namespaces),
        liveness_endpoint=cfg.liveness_url, memo=kopf.Memo(config=cfg), registry=handlers.registry(cfg.shards > 1),
    )
    return 0
