"""Writing to the Kubernetes API from worker threads: the status subresource and Events.

The official client is synchronous, so it runs in the operator's worker threads, never on the event
loop, and every request carries a timeout. Status is replaced whole with one JSON-Patch `add` on
`/status` (a merge patch would leave behind nested fields the new status no longer has).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from inferplace.api import GROUP, KIND, PLURAL, VERSION
from inferplace.api.clock import Clock, system_clock

log = logging.getLogger("inferplace.kube")


def load_configuration() -> Any:
    """In-cluster service account, else the kubeconfig (KUBECONFIG or ~/.kube/config)."""
    import kubernetes  # noqa: PLC0415

    conf = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=conf)  # type: ignore[no-untyped-call]
    except kubernetes.config.ConfigException:
        # The client reads $KUBECONFIG once, at import; read it at call time instead.
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG") or None, client_configuration=conf)
    return conf


def connection_info(conf: Any) -> Any:
    """kopf's credentials from the same configuration the status writer uses (as kopf's
    login_via_client does, but honouring $KUBECONFIG at call time)."""
    import kopf  # noqa: PLC0415

    header = conf.get_api_key_with_prefix("BearerToken") or conf.get_api_key_with_prefix("authorization")
    parts = header.split(" ", 1) if header else []
    scheme, token = (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    return kopf.ConnectionInfo(
        server=conf.host, ca_path=conf.ssl_ca_cert, insecure=not conf.verify_ssl,
        username=conf.username or None, password=conf.password or None, scheme=scheme, token=token,
        certificate_path=conf.cert_file, private_key_path=conf.key_file,
    )


class Gone(Exception):  # noqa: N818 - the object was deleted meanwhile
    pass


class Superseded(Exception):  # noqa: N818 - the spec changed while it was evaluated
    """The object's generation moved on: a status for the old one is not written; the new one follows."""


class ApiUnavailable(Exception):  # noqa: N818 - a state: the API server did not answer
    """The API server is down, overloaded or unreachable: nothing to do with the workload."""


UNAVAILABLE_STATUS = (0, 429, 500, 502, 503, 504)  # 0: the client's own code for "no HTTP answer"


def _unavailable(exc: BaseException) -> ApiUnavailable | None:
    """ApiUnavailable for a fault of the connection or the server, None for an answer about the object."""
    import kubernetes  # noqa: PLC0415
    import urllib3  # noqa: PLC0415

    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return ApiUnavailable(f"{type(exc).__name__}")
    if isinstance(exc, kubernetes.client.ApiException) and (exc.status or 0) in UNAVAILABLE_STATUS:
        return ApiUnavailable(f"HTTP {exc.status or 'no answer'} {exc.reason or ''}".strip())
    return None


@dataclass
class KubeWriter:
    api_client: Any  # kubernetes.client.ApiClient
    timeout_s: float
    clock: Clock = system_clock  # Event times

    @classmethod
    def connect(cls, timeout_s: float, pool: int, clock: Clock = system_clock) -> KubeWriter:
        import kubernetes  # noqa: PLC0415 - heavy; only the operator needs it

        conf = load_configuration()
        conf.connection_pool_maxsize = max(pool, 4)
        return cls(kubernetes.client.ApiClient(conf), timeout_s, clock)

    @property
    def _timeout(self) -> tuple[float, float]:
        return (min(self.timeout_s, 10.0), self.timeout_s)

    def write_status(self, namespace: str, name: str, uid: str | None, status: dict[str, Any],
                     generation: int | None = None) -> None:
        import kubernetes  # noqa: PLC0415

        patch: list[dict[str, Any]] = []
        if uid:
            # Never write onto a different object that reused the name.
            patch.append({"op": "test", "path": "/metadata/uid", "value": uid})
        if generation is not None:
            # Never write a status for a spec the user has since changed (the API server checks it
            # atomically with the write, so a racing edit cannot be overwritten by an older answer).
            patch.append({"op": "test", "path": "/metadata/generation", "value": generation})
        patch.append({"op": "add", "path": "/status", "value": status})
        api = kubernetes.client.CustomObjectsApi(self.api_client)
        try:
            _drain(api.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, PLURAL, name, patch, _content_type="application/json-patch+json",
                _request_timeout=self._timeout, _preload_content=False))
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                raise Gone(f"{namespace}/{name}") from exc
            if exc.status == 422 and len(patch) > 1:
                # A failed `test` is a bare 422 "Invalid" that does not say which one failed: look.
                self._refused(api, namespace, name, uid, generation)
            raise _unavailable(exc) or exc from exc
        except Exception as exc:
            down = _unavailable(exc)
            if down is not None:
                raise down from exc
            raise

    def _refused(self, api: Any, namespace: str, name: str, uid: str | None, generation: int | None) -> None:
        """Raise Gone (another object has the name) or Superseded (the spec changed); return if neither."""
        import kubernetes  # noqa: PLC0415

        try:
            now = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name,
                                                   _request_timeout=self._timeout)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                raise Gone(f"{namespace}/{name}") from exc
            raise
        meta = now.get("metadata") or {}
        if uid and meta.get("uid") != uid:
            raise Gone(f"{namespace}/{name}")
        if generation is not None and meta.get("generation") != generation:
            raise Superseded(f"{namespace}/{name}: generation {generation} -> {meta.get('generation')}")

    def label(self, namespace: str, name: str, uid: str | None, key: str, value: str) -> None:
        """Set one label of ours on a workload (a merge patch: the user's labels stay; the uid in the body is
        a precondition, so a new object with the name is not labelled by mistake)."""
        import kubernetes  # noqa: PLC0415

        meta: dict[str, Any] = {"labels": {key: value}}
        if uid:
            meta["uid"] = uid
        api = kubernetes.client.CustomObjectsApi(self.api_client)
        try:
            _drain(api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {"metadata": meta},
                                                      _content_type="application/merge-patch+json",
                                                      _request_timeout=self._timeout, _preload_content=False))
        except kubernetes.client.ApiException as exc:
            if exc.status in (404, 409):
                raise Gone(f"{namespace}/{name}") from exc
            raise _unavailable(exc) or exc from exc

    def ping(self) -> None:
        """Raise unless the API server answers (GET /version: allowed to every client, tiny)."""
        import kubernetes  # noqa: PLC0415

        kubernetes.client.VersionApi(self.api_client).get_code(_request_timeout=self._timeout)

    def post_event(self, namespace: str, name: str, uid: str | None, kind_type: str, reason: str,
                   message: str) -> None:
        import kubernetes  # noqa: PLC0415

        now = self.clock()
        event = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(generate_name=f"{name}.", namespace=namespace),
            involved_object=kubernetes.client.V1ObjectReference(
                api_version=f"{GROUP}/{VERSION}", kind=KIND, name=name, namespace=namespace, uid=uid),
            reason=reason[:128], message=message[:1024], type=kind_type, count=1,
            first_timestamp=now, last_timestamp=now,
            source=kubernetes.client.V1EventSource(component="inferplace"),
            reporting_component="inferplace.io/operator", reporting_instance="inferplace",
        )
        try:
            _drain(kubernetes.client.CoreV1Api(self.api_client).create_namespaced_event(
                namespace, event, _request_timeout=self._timeout, _preload_content=False))
        except kubernetes.client.ApiException as exc:
            # Events are best effort (RBAC may forbid them, or the namespace may be terminating).
            log.warning("event %s for %s/%s not posted: HTTP %s", reason, namespace, name, exc.status)
        except Exception as exc:
            if _unavailable(exc) is None:
                raise
            log.debug("event %s for %s/%s not posted: the API server did not answer", reason, namespace, name)

    def close(self) -> None:
        self.api_client.close()


def _drain(response: Any) -> None:
    """Read a write's answer without decoding it (the whole object, ~27 KB of JSON for a status, that
    nothing here reads: the watch brings it) and give the connection back to the pool."""
    response.read()
    response.release_conn()
