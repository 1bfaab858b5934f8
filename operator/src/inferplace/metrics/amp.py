"""Amazon Managed Service for Prometheus: the Prometheus query API of a workspace, every request
signed with AWS SigV4 for the `aps` service (credentials from the default chain: IRSA or EKS Pod
Identity in a cluster). Needs botocore (`pip install 'inferplace[aws]'`)."""

from __future__ import annotations

from dataclasses import dataclass

from inferplace.metrics.auth import SigV4
from inferplace.metrics.prometheus import DEFAULT_TIMEOUT_S, PrometheusBackend


@dataclass
class ManagedPrometheusBackend(PrometheusBackend):
    """`url`: the workspace query URL, https://aps-workspaces.REGION.amazonaws.com/workspaces/ID."""

    region: str = ""

    @classmethod
    def connect(cls, url: str, region: str, timeout_s: float = DEFAULT_TIMEOUT_S,
                ca_bundle: str | None = None) -> ManagedPrometheusBackend:
        return cls(url, timeout_s=timeout_s, auth=SigV4(region), ca_bundle=ca_bundle, region=region)
