"""Everything that moves one workload to one of its options, with what the reviewer must know."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from inferplace.api.vocabulary import APPROVAL_ANNOTATION, MetricsServer
from inferplace.catalog import Catalog
from inferplace.rollout.karpenter import (
    RESOURCE,
    Cluster,
    dns_name,
    node_class,
    node_overlay,
    node_pool,
)
from inferplace.rollout.serving import Target, deployment_patch
from inferplace.rollout.subject import Subject

DEFAULT_SERVER: MetricsServer = "vllm"  # what the engine models when spec.metrics.server is not set


class RenderError(ValueError):
    """This workload cannot be rendered; the message says why and what to do."""


@dataclass(frozen=True)
class RenderSettings:
    cluster: Cluster = field(default_factory=Cluster)
    option: int = 0  # 0: the recommendation; N: the Nth alternative
    approved_only: bool = False  # only workloads whose approval names this option's id
    deployment: str | None = None  # overrides spec.serving.deployment
    container: str | None = None  # overrides spec.serving.container
    image: str | None = None  # the serving image to run (default: today's on the same platform, else documented)


@dataclass(frozen=True)
class Rendered:
    subject: Subject
    option_id: str
    summary: str
    objects: list[dict[str, Any]]  # NodePool (and NodeOverlay): apply as they are
    node_class: dict[str, Any]  # shared by every workload on the same platform
    patch: dict[str, Any]  # strategic-merge patch of the serving Deployment
    notes: list[str] = field(default_factory=list)


def render(s: Subject, cat: Catalog, settings: RenderSettings = RenderSettings(),
           deployments: Mapping[tuple[str, str], Mapping[str, Any]] | None = None) -> Rendered:
    """The objects for `s`'s chosen option. `deployments`: today's Deployments by (namespace, name), whose
    container args the patch keeps (only the tensor-parallel flag is changed)."""
    p = s.option(settings.option)
    which = "recommendation" if settings.option == 0 else f"alternative {settings.option}"
    if p is None:
        raise RenderError(f"{s.key}: no {which} to render (Ready: {_ready(s)})")
    assert p.id is not None
    if settings.approved_only and s.approved != p.id:
        got = f"{APPROVAL_ANNOTATION}={s.approved}" if s.approved else f"no {APPROVAL_ANNOTATION} annotation"
        raise RenderError(f"{s.key}: not approved: {got}, the {which} is {p.id} ({p.summary}); annotate it "
                          f"with {APPROVAL_ANNOTATION}={p.id} after review")
    if p.kind == "managed-api" or p.instance_type is None:
        raise RenderError(f"{s.key}: the {which} is {p.summary}: a per-token API needs no nodes or Deployment "
                          "(point the clients at the API instead)")
    inst = cat.instances.get(p.instance_type)
    if inst is None:
        raise RenderError(f"{s.key}: instance type {p.instance_type} is not in this catalog")
    acc = cat.accelerators[inst.accelerator]
    platform = acc.platform
    chips = p.chips_per_replica or 1
    pool = dns_name("inferplace", s.namespace, s.name)
    workload = f"{s.namespace}.{s.name}"
    nc = node_class(platform, settings.cluster, p.capacity_type == "capacity-block")
    objects = [node_pool(pool, workload, p, platform, inst.chips or 1, nc["metadata"]["name"])]
    overlay = node_overlay(p)
    notes: list[str] = []
    if overlay is not None:
        objects.append(overlay)
        notes.append(f"NodeOverlay {overlay['metadata']['name']}: your rate of ${overlay['spec']['price']}/h for "
                     f"{p.instance_type}, so Karpenter's cost choices use it too")
    if p.capacity_type == "capacity-block":
        notes.append("capacity block: buy it first and tag the reservation inferplace.io/capacity-block="
                     f"{settings.cluster.name}; the NodePool launches only into it")
    if p.capacity_type and p.capacity_type.startswith(("reserved", "savings-plan")):
        notes.append(f"priced as {p.capacity_type}: buy the commitment for {p.instances} x {p.instance_type}; "
                     "Karpenter launches on-demand capacity that it then covers")
    serving = s.spec.serving
    deployment = settings.deployment or (serving.deployment if serving else None)
    container = settings.container or (serving.container if serving else None)
    if deployment is None or container is None:
        deployment, container = deployment or s.name, container or s.name
        notes.append(f"serving Deployment assumed to be {deployment} with container {container} "
                     "(set spec.serving or --deployment/--container)")
    server: MetricsServer = s.spec.metrics.server if s.spec.metrics else DEFAULT_SERVER
    strategy = p.scaling.strategy if p.scaling else "fixed"
    current = (deployments or {}).get((s.namespace, deployment))
    tp = chips * (acc.tensor_parallel_ranks_per_chip if platform == "neuron" else 1)
    sd = s.spec.speculative_decoding
    target = Target(platform, acc.generation, RESOURCE[platform], chips, tp, p.weight_precision or "bf16",
                    sd.draft_model if sd is not None and p.speculative_decoding else None,
                    sd.num_speculative_tokens if sd is not None and p.speculative_decoding else 0, settings.image)
    patched = deployment_patch(s.namespace, deployment, container, pool, p.instance_type, target,
                               p.replicas if strategy == "fixed" else None, server, p.id, current)
    notes += patched.notes
    if platform == "neuron":
        notes.append(f"Neuron: the device plugin must advertise {RESOURCE[platform]}; tensor parallel {tp} = "
                     f"{chips} devices x {acc.tensor_parallel_ranks_per_chip} NeuronCore ranks each")
    return Rendered(s, p.id, p.summary, objects, nc, patched.patch, notes)


def _ready(s: Subject) -> str:
    c = next((c for c in s.status.conditions if c.type == "Ready"), None)
    return f"{c.status} {c.reason}: {c.message}" if c else "unknown"
