"""The strategic-merge patch of the serving Deployment: where its pods run (the NodePool's nodes), what
they request (the recommended accelerators per replica), how many there are, and the serving server's
tensor-parallel size.

The patch only adds or replaces what the recommendation decides. A container's `args` is a list a
strategic merge replaces whole, so it is patched only when today's Deployment is known (then every
other argument is kept as it is); otherwise the tensor-parallel size is left to the reviewer, who is
told the exact flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inferplace.api.vocabulary import MetricsServer

# The flag that sets the tensor-parallel size, per serving stack (TensorRT-LLM bakes it into its engine).
TP_FLAGS: dict[MetricsServer, tuple[str, ...]] = {
    "vllm": ("--tensor-parallel-size", "-tp"),
    "sglang": ("--tp-size", "--tensor-parallel-size"),
    "tgi": ("--num-shard",),
}
ANNOTATION_TP = "inferplace.io/tensor-parallel-size"


@dataclass(frozen=True)
class Patched:
    patch: dict[str, Any]
    notes: list[str]


def with_tensor_parallel(args: Sequence[str], flags: Sequence[str], size: int) -> list[str]:
    """`args` with the tensor-parallel flag set to `size`: replaced where present (as `--f N` or
    `--f=N`, first spelling kept), appended otherwise; every other argument unchanged."""
    out: list[str] = []
    found = False
    i = 0
    while i < len(args):
        a = args[i]
        name, eq, _ = a.partition("=")
        if name in flags:
            if not found:
                out += [f"{name}={size}"] if eq else [name, str(size)]
                found = True
            i += 1 if eq else 2  # drop the old value (and any repeat of the flag)
            continue
        out.append(a)
        i += 1
    return out if found else [*out, flags[0], str(size)]


def deployment_patch(namespace: str, deployment: str, container: str, node_pool: str, instance_type: str,
                     resource: str, chips: int, replicas: int | None, tp_size: int, server: MetricsServer,
                     recommendation: str, current: Mapping[str, Any] | None) -> Patched:
    """`replicas` None: an autoscaler owns the count (the patch leaves it alone)."""
    notes: list[str] = []
    box: dict[str, Any] = {"name": container,
                           "resources": {"requests": {resource: str(chips)}, "limits": {resource: str(chips)}}}
    flags = TP_FLAGS.get(server)
    live = _container(current, container) if current is not None else None
    if current is not None and live is None:
        notes.append(f"today's Deployment {namespace}/{deployment} has no container {container!r}: check "
                     "spec.serving.container (the patch would add a container)")
    if flags is None:
        notes.append(f"{server}: the tensor-parallel size ({tp_size}) is fixed when its engine is built; rebuild "
                     "it for this placement")
    elif live is not None and isinstance(live.get("args"), list):
        box["args"] = with_tensor_parallel([str(a) for a in live["args"]], flags, tp_size)
    else:
        notes.append(f"set {flags[0]} {tp_size} in the {container} container's args (give today's Deployment "
                     "with --deployments to have it patched, every other argument kept)")
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"annotations": {"inferplace.io/recommendation": recommendation,
                                         ANNOTATION_TP: str(tp_size)}},
            "spec": {
                "nodeSelector": {"karpenter.sh/nodepool": node_pool, "node.kubernetes.io/instance-type": instance_type},
                "tolerations": [{"key": resource, "operator": "Exists", "effect": "NoSchedule"}],
                "containers": [box],
            },
        },
    }
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    else:
        notes.append("replicas are left to the autoscaler (the recommendation scales with the traffic)")
    patch = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": deployment, "namespace": namespace},
             "spec": spec}
    return Patched(patch, notes)


def _container(deployment: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return next((c for c in containers if isinstance(c, dict) and c.get("name") == name), None)
