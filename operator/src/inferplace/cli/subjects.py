"""The workloads `render` and `plan` work on: manifests answered here (as `recommend` answers them), or
the statuses the operator wrote in a cluster (`--from-cluster`, with the operator's kubeconfig handling)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from inferplace.api.clock import AsOf
from inferplace.api.spec import K8S_NAME
from inferplace.catalog import Catalog
from inferplace.cli.as_of import ENV, add_as_of_argument
from inferplace.cli.inputs import InputError
from inferplace.cli.instances import add_instances_argument
from inferplace.cli.pricing import add_price_arguments
from inferplace.cli.recommend import Tally, answers
from inferplace.rollout import Subject
from inferplace.rollout.subject import approval


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("-f", "--filename", type=Path, metavar="FILE.yaml", action="append",
                     help="InferenceWorkload manifests (file, directory or '-'; repeatable), answered here")
    src.add_argument("--from-cluster", action="store_true",
                     help="read the statuses the operator wrote (in-cluster service account, else KUBECONFIG)")
    p.add_argument("-n", "--namespace", action="append", metavar="NS",
                   help="with --from-cluster: only this namespace (repeatable; default: all you can list)")
    add_price_arguments(p)
    add_instances_argument(p)
    add_as_of_argument(p)


def subjects(args: argparse.Namespace, cat: Catalog, clock: AsOf, alternatives: int = 0) -> tuple[list[Subject],
                                                                                                  list[str]]:
    """The workloads to work on: manifests answered as of `clock`, or the operator's answers. Of each
    manifest's answer, the recommendation and the first `alternatives` alternatives are kept."""
    if args.from_cluster:
        if clock.fixed:
            raise InputError(f"{clock.source}: an as-of applies to manifests answered here; --from-cluster uses "
                             f"the operator's answers, each as of its status.lastEvaluationTime (unset {ENV})")
        if getattr(args, "managed_apis", None) is not None:
            raise InputError("--managed-apis applies to manifests answered here; --from-cluster shows the operator's "
                             "answers (set spec.constraints.managedApis in the workloads)")
        from inferplace.cli.cluster import read_workloads  # noqa: PLC0415 - needs the operator extra

        for ns in args.namespace or []:
            if len(ns) > 63 or not re.match(K8S_NAME, ns):
                raise InputError(f"-n/--namespace {ns[:80]!r} is not a namespace (lowercase letters, digits and '-', "
                                 "at most 63)")

        return read_workloads(args.namespace or [])
    if args.namespace:
        raise InputError("-n/--namespace goes with --from-cluster (manifests carry their namespace)")
    tally = Tally()
    out = []
    for a in answers(args, cat, clock, tally, alternatives):
        meta = a.workload.metadata
        # What plan and render read of a status; the rest (why each node pool lost, assumptions) is dropped
        # as each chunk is answered, so a fleet of thousands holds its choices, not its explanations.
        status = a.report.status
        slim = status.model_copy(update={"rejected": [], "assumptions": [], "break_even": None,
                                         "alternatives": status.alternatives[:alternatives]})
        out.append(Subject(meta.namespace or "default", meta.name, a.workload.spec, slim, approval(a.document)))
    return out, tally.problems
