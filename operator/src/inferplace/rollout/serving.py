"""The strategic-merge patch of the serving Deployment: where its pods run (the NodePool's nodes), what
they request (the recommended accelerators per replica), how many there are, and the serving server's
tensor-parallel size.

The patch only adds or replaces what the recommendation decides. A container's `args` is a list a
strategic merge replaces whole, so it is patched only when today's Deployment is known (then every
other argument is kept as it is); otherwise the tensor-parallel size is left to the reviewer, who is
told the exact flag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from inferplace.api.vocabulary import MetricsServer, Platform, Precision
from inferplace.rollout.images import default_image, image_platform

# The flag that sets the tensor-parallel size, per serving stack (TensorRT-LLM bakes it into its engine).
TP_FLAGS: dict[MetricsServer, tuple[str, ...]] = {
    "vllm": ("--tensor-parallel-size", "-tp"),
    "sglang": ("--tp-size", "--tensor-parallel-size"),
    "tgi": ("--num-shard",),
}
ANNOTATION_TP = "inferplace.io/tensor-parallel-size"
# Every accelerator resource a serving pod may request: the patch keeps only the target platform's.
ACCELERATOR_RESOURCES = ("nvidia.com/gpu", "aws.amazon.com/neuron", "aws.amazon.com/neuroncore",
                         "aws.amazon.com/neurondevice")


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


@dataclass(frozen=True)
class Target:
    """What the patched pods must run: the platform's accelerator resource and image, and the serving flags
    the chosen precision, parallelism and speculative decoding need."""

    platform: Platform
    generation: str
    resource: str  # the accelerator resource the pods request
    chips: int
    tp_size: int
    weight_dtype: Precision
    draft_model: str | None = None  # speculative decoding with this draft model
    speculative_tokens: int = 0
    image: str | None = None  # the team's own (render --image); None: today's on the same platform, else the default


def with_flag(args: Sequence[str], names: Sequence[str], value: str | None) -> list[str]:
    """`args` with the flag `names[0]` set to `value` (None: removed), any spelling in `names` replaced."""
    out: list[str] = []
    i = 0
    while i < len(args):
        name, eq, _ = args[i].partition("=")
        if name in names:
            i += 1 if eq else 2
            continue
        out.append(args[i])
        i += 1
    return out if value is None else [*out, names[0], value]


def serving_args(args: Sequence[str], server: MetricsServer, t: Target) -> tuple[list[str], list[str]]:
    """Today's args with the flags this placement needs (every other kept), and notes for what no flag sets."""
    notes: list[str] = []
    out = list(args)
    if server == "vllm":
        out = with_flag(out, ("--quantization", "-q"), "fp8" if t.weight_dtype == "fp8" else None)
        if t.weight_dtype in ("int8", "fp4"):
            notes.append(f"weights in {t.weight_dtype}: serve a checkpoint quantized to {t.weight_dtype} (--model); "
                         "vLLM reads its quantization from the checkpoint")
        spec = (None if t.draft_model is None else
                json.dumps({"model": t.draft_model, "num_speculative_tokens": t.speculative_tokens}, sort_keys=True))
        out = with_flag(out, ("--speculative-config",), spec)
    elif t.weight_dtype != "bf16" or t.draft_model is not None:
        notes.append(f"{server}: set weights in {t.weight_dtype}"
                     + (f" and speculative decoding with {t.draft_model}" if t.draft_model else "")
                     + " in its own configuration (no flag is patched for this server)")
    return out, notes


def deployment_patch(namespace: str, deployment: str, container: str, node_pool: str, instance_type: str,
                     target: Target, replicas: int | None, server: MetricsServer, recommendation: str,
                     current: Mapping[str, Any] | None) -> Patched:
    """`replicas` None: an autoscaler owns the count (the patch leaves it alone). The pods request only the
    target platform's accelerator (every other accelerator resource is removed) and run its image."""
    notes: list[str] = []
    resource, chips, tp_size = target.resource, target.chips, target.tp_size
    gone = {r: None for r in ACCELERATOR_RESOURCES if r != resource}  # a null removes the key in a strategic merge
    box: dict[str, Any] = {"name": container,
                           "resources": {"requests": {resource: str(chips), **gone},
                                         "limits": {resource: str(chips), **gone}}}
    flags = TP_FLAGS.get(server)
    live = _container(current, container) if current is not None else None
    if current is not None and live is None:
        notes.append(f"today's Deployment {namespace}/{deployment} has no container {container!r}: check "
                     "spec.serving.container (the patch would add a container)")
    box["image"], why = _image(target, live)
    notes += why
    if flags is None:
        notes.append(f"{server}: the tensor-parallel size ({tp_size}) is fixed when its engine is built; rebuild "
                     "it for this placement")
    elif live is not None and isinstance(live.get("args"), list):
        args = with_tensor_parallel([str(a) for a in live["args"]], flags, tp_size)
        box["args"], arg_notes = serving_args(args, server, target)
        notes += arg_notes
    else:
        wanted, _ = serving_args([], server, target)
        notes.append(f"set {flags[0]} {tp_size}{' ' + ' '.join(wanted) if wanted else ''} in the {container} "
                     "container's args (give today's Deployment with --deployments to have it patched, every other "
                     "argument kept)")
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


def _image(t: Target, live: Mapping[str, Any] | None) -> tuple[str, list[str]]:
    """The image the pods run, and why: the team's, today's on the same platform, else the platform's default."""
    if t.image is not None:
        return t.image, [f"image {t.image} (render --image)"]
    today = str(live.get("image")) if live is not None and live.get("image") else None
    if today is not None and image_platform(today) == t.platform:
        return today, []
    default = default_image(t.platform, t.generation)
    why = (f"image {default.image}: the {t.platform} default ({default.source}); "
           + (f"today's {today} is built for {image_platform(today)}" if today else "today's image is not known")
           + "; name your own with render --image")
    return default.image, [why]


def _container(deployment: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    containers = (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    return next((c for c in containers if isinstance(c, dict) and c.get("name") == name), None)
