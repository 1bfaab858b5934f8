"""Reading InferenceWorkloads and their statuses from a cluster, for `render` and `plan --from-cluster`
(needs `pip install 'inferplace[operator]'`; the in-cluster service account, else KUBECONFIG)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from inferplace.api import GROUP, PLURAL, VERSION, InferenceWorkload
from inferplace.cli.inputs import InputError
from inferplace.rollout import Subject
from inferplace.rollout.subject import approval

TIMEOUT_S = 30.0


def read_workloads(namespaces: Sequence[str]) -> tuple[list[Subject], list[str]]:
    try:
        import kubernetes  # noqa: PLC0415

        from inferplace.controller.kube import load_configuration  # noqa: PLC0415
    except ImportError:
        raise InputError("--from-cluster needs the Kubernetes client: pip install 'inferplace[operator]'") from None
    try:
        client = kubernetes.client.ApiClient(load_configuration())
    except Exception as exc:
        raise InputError(f"--from-cluster: no usable kubeconfig: {' '.join(str(exc).split())[:300]}") from None
    api = kubernetes.client.CustomObjectsApi(client)
    items: list[dict[str, Any]] = []
    try:
        if namespaces:
            for ns in namespaces:
                got: Any = api.list_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, _request_timeout=TIMEOUT_S)
                items += got.get("items", [])
        else:
            every: Any = api.list_cluster_custom_object(GROUP, VERSION, PLURAL, _request_timeout=TIMEOUT_S)
            items = every.get("items", [])
    except kubernetes.client.ApiException as exc:
        raise InputError(f"--from-cluster: listing InferenceWorkloads failed: HTTP {exc.status} {exc.reason}") from None
    except OSError as exc:
        raise InputError(f"--from-cluster: the API server did not answer: {str(exc)[:300]}") from None
    finally:
        client.close()  # type: ignore[no-untyped-call]
    if not items:
        where = f"namespace(s) {', '.join(namespaces)}" if namespaces else "any namespace you can list"
        raise InputError(f"--from-cluster: no InferenceWorkloads in {where} (check -n/--namespace)")
    subjects: list[Subject] = []
    problems: list[str] = []
    for obj in items:
        got_one = subject_of(obj)
        (subjects.append(got_one) if isinstance(got_one, Subject) else problems.append(got_one))
    return subjects, problems


def subject_of(obj: dict[str, Any]) -> Subject | str:
    """A Subject from a listed object, or why it cannot be one (no status yet, an outdated status)."""
    meta = obj.get("metadata") or {}
    key = f"{meta.get('namespace')}/{meta.get('name')}"
    if not obj.get("status"):
        return f"{key}: no status yet (is the operator running?)"
    try:
        iw = InferenceWorkload.model_validate(obj)
    except ValueError as exc:
        return f"{key}: cannot be read: {str(exc)[:300]}"
    if iw.status is None:
        return f"{key}: no status yet"
    if iw.status.observed_generation != iw.metadata.generation:
        return f"{key}: its status answers generation {iw.status.observed_generation}, not {iw.metadata.generation}"
    return Subject(iw.metadata.namespace or "default", iw.metadata.name, iw.spec, iw.status, approval(obj))
