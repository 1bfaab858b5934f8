"""Karpenter objects for a self-hosted placement (CRDs of aws/karpenter-provider-aws 1.14: NodePool
karpenter.sh/v1, EC2NodeClass karpenter.k8s.aws/v1, NodeOverlay karpenter.sh/v1alpha1).

- NodePool: exactly the recommended instance type and the Karpenter capacity type its price was for
  (commitments such as reserved or savings-plan instances are billing on on-demand capacity; a
  capacity block is `reserved` capacity), a NoSchedule taint for the accelerator so nothing else lands
  on these nodes, limits of the recommended accelerators plus `LIMIT_MARGIN` (room for a rolling
  update), and a disruption policy that never consolidates a serving node away while it carries
  pods: only empty nodes are removed, one node at a time.
- EC2NodeClass, one per accelerator platform: the AL2023 alias, from which Karpenter picks the EKS
  accelerated AMI variant (NVIDIA or Neuron) for the instance type; the cluster's role, subnets and
  security groups are parameters.
- NodeOverlay: the negotiated price the recommendation used, when it is not a public one, so that
  Karpenter's own cost-based choices agree with inferplace's.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from inferplace.api.status import Placement
from inferplace.api.vocabulary import CapacityType, Platform

LIMIT_MARGIN = 0.25  # extra accelerators the NodePool may launch beyond the recommendation (surge during a rollout)
CONSOLIDATE_AFTER = "10m"  # how long a node must be empty before it goes
EXPIRE_AFTER = "720h"  # nodes are replaced at least monthly (AMI and kernel updates), one at a time
TERMINATION_GRACE = "1h"  # a draining node waits this long for its serving pods to finish
ROOT_VOLUME = "200Gi"  # serving images and model weights are tens of GB

RESOURCE: dict[Platform, str] = {"gpu": "nvidia.com/gpu", "neuron": "aws.amazon.com/neuron"}
AMI_ALIAS = "al2023@latest"  # pin a version (al2023@vYYYYMMDD) once tested; latest follows EKS releases

# Karpenter's capacity types: what each capacity type inferplace prices runs on.
KARPENTER_CAPACITY: dict[CapacityType, str] = {
    "on-demand": "on-demand", "spot": "spot", "reserved-1y": "on-demand", "reserved-3y": "on-demand",
    "savings-plan-1y": "on-demand", "savings-plan-3y": "on-demand", "capacity-block": "reserved",
}
LABEL_WORKLOAD = "inferplace.io/workload"
LABEL_RECOMMENDATION = "inferplace.io/recommendation"


@dataclass(frozen=True)
class Cluster:
    """The cluster-specific parts, as parameters (placeholders unless given)."""

    name: str = "${CLUSTER_NAME}"
    node_role: str = "KarpenterNodeRole-${CLUSTER_NAME}"


def dns_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label from `parts`; cut with a short hash when too long, so distinct inputs stay distinct."""
    text = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{text[:limit - 9].rstrip('-')}-{digest}"


def label_value(text: str) -> str:
    """A label value (at most 63 of [A-Za-z0-9._-], alphanumeric at both ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    if len(value) <= 63:
        return value
    return f"{value[:54].rstrip('-._')}-{hashlib.sha256(value.encode()).hexdigest()[:8]}"


def node_class_name(platform: Platform) -> str:
    return f"inferplace-{'nvidia' if platform == 'gpu' else 'neuron'}"


def node_pool(name: str, workload: str, p: Placement, platform: Platform, chips_per_instance: int,
              node_class: str) -> dict[str, Any]:
    if not (p.instance_type and p.capacity_type and p.instances and p.id):
        raise ValueError(f"not a self-hosted placement with an id: {p.summary}")
    resource = RESOURCE[platform]
    limit = math.ceil(p.instances * chips_per_instance * (1 + LIMIT_MARGIN))
    labels = {LABEL_WORKLOAD: label_value(workload), LABEL_RECOMMENDATION: p.id}
    return {
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": name, "labels": {**labels, "app.kubernetes.io/managed-by": "inferplace"}},
        "spec": {
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                     "name": node_class},
                    "requirements": [
                        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [p.instance_type]},
                        {"key": "karpenter.sh/capacity-type", "operator": "In",
                         "values": [KARPENTER_CAPACITY[p.capacity_type]]},
                    ],
                    "taints": [{"key": resource, "value": "true", "effect": "NoSchedule"}],
                    "expireAfter": EXPIRE_AFTER,
                    "terminationGracePeriod": TERMINATION_GRACE,
                },
            },
            "limits": {resource: str(limit)},
            "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": CONSOLIDATE_AFTER,
                           "budgets": [{"nodes": "1"}]},
        },
    }


def node_class(platform: Platform, cluster: Cluster, capacity_block: bool = False) -> dict[str, Any]:
    discovery = [{"tags": {"karpenter.sh/discovery": cluster.name}}]
    spec: dict[str, Any] = {
        "amiSelectorTerms": [{"alias": AMI_ALIAS}],
        "role": cluster.node_role,
        "subnetSelectorTerms": discovery,
        "securityGroupSelectorTerms": discovery,
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "rootVolume": True,
                                 "ebs": {"volumeSize": ROOT_VOLUME, "volumeType": "gp3", "encrypted": True,
                                         "deleteOnTermination": True}}],
        "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
        "tags": {"app.kubernetes.io/managed-by": "inferplace"},
    }
    if capacity_block:
        # Capacity blocks are bought outside Karpenter: tag the reservation so this selects it.
        spec["capacityReservationSelectorTerms"] = [{"tags": {"inferplace.io/capacity-block": cluster.name}}]
    name = node_class_name(platform) + ("-capacity-block" if capacity_block else "")
    return {"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "inferplace"}}, "spec": spec}


def node_overlay(p: Placement) -> dict[str, Any] | None:
    """The price the recommendation used, when it is the team's own rate (not a public one)."""
    price = p.cost_breakdown.price
    if price is None or price.provider != "override" or not p.instance_type or not p.capacity_type:
        return None
    capacity = KARPENTER_CAPACITY[p.capacity_type]
    return {
        "apiVersion": "karpenter.sh/v1alpha1", "kind": "NodeOverlay",
        "metadata": {"name": dns_name("inferplace", p.instance_type, capacity),
                     "labels": {"app.kubernetes.io/managed-by": "inferplace"}},
        "spec": {
            "requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [p.instance_type]},
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [capacity]},
            ],
            "price": _price_text(price.usd_per_hour),
            "weight": 10,
        },
    }


def _price_text(usd: str) -> str:
    text = usd.strip()
    return text.rstrip("0").rstrip(".") if "." in text else text
