"""How the operator authenticates to Prometheus: a bearer token file (re-read on every request, as
projected service-account tokens rotate), basic auth with the password in a file, or AWS SigV4
for Amazon Managed Service for Prometheus (botocore, the optional `aws` extra)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase, HTTPBasicAuth


class BearerTokenFile(AuthBase):
    def __init__(self, path: str):
        self.path = path

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {Path(self.path).read_text(encoding='utf-8').strip()}"
        return r


def basic_auth(username: str, password_file: str) -> HTTPBasicAuth:
    return HTTPBasicAuth(username, Path(password_file).read_text(encoding="utf-8").rstrip("\n"))


class SigV4(AuthBase):
    """Signs each request for the `aps` service with the default AWS credential chain (IRSA, Pod Identity)."""

    def __init__(self, region: str):
        try:
            import botocore.session  # type: ignore[import-untyped]  # noqa: PLC0415 - optional extra
        except ImportError as exc:
            raise RuntimeError("SigV4 signing needs botocore: pip install 'inferplace[aws]'") from exc
        self.region = region
        self._session = botocore.session.get_session()

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        from botocore.auth import SigV4Auth  # type: ignore[import-untyped]  # noqa: PLC0415
        from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]  # noqa: PLC0415

        creds = self._session.get_credentials()
        if creds is None:
            # A transport-level fault for the caller: the query cannot be sent, like an unreachable server.
            raise requests.ConnectionError("no AWS credentials for SigV4 signing (IRSA or EKS Pod Identity)")
        aws = AWSRequest(method=r.method, url=r.url, data=r.body, headers={"Host": urlsplit(r.url or "").netloc})
        SigV4Auth(creds.get_frozen_credentials(), "aps", self.region).add_auth(aws)
        r.headers.update(dict(aws.headers.items()))
        return r
