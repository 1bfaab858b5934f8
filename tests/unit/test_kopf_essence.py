"""kopf's essence of a workload (what it compares between watch events), made without copying the status."""

from __future__ import annotations

import copy
from typing import Any

import kopf
import pytest

from inferplace.controller.handlers import StatuslessDiffBase

pytestmark = pytest.mark.unit


class Uncopyable:
    def __deepcopy__(self, memo: Any) -> Any:
        raise AssertionError("the status was deep-copied")


def _body(status: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload",
        "metadata": {"name": "w", "namespace": "team", "uid": "u1", "generation": 3, "resourceVersion": "9",
                     "labels": {"team": "chat", "inferplace.io/shard": "2"},
                     "annotations": {"inferplace.io/approved-recommendation": "abc",
                                     "kubectl.kubernetes.io/last-applied-configuration": "{}",
                                     "kopf.zalando.org/last-handled-configuration": "{}"}},
        "spec": {"model": {"id": "meta-llama/Llama-3.1-8B-Instruct"}, "traffic": {"requestsPerSecond": 5}},
    }
    if status is not None:
        body["status"] = status
    return body


@pytest.mark.parametrize("status", [None, {}, {"observedGeneration": 3, "conditions": [{"type": "Ready"}]}])
def test_the_essence_is_kopfs_own(status: Any) -> None:
    for extra in (None, [], ["status.observedGeneration"], [("status", "conditions")]):
        ours = StatuslessDiffBase().build(body=kopf.Body(copy.deepcopy(_body(status))), extra_fields=extra)
        kopfs = kopf.AnnotationsDiffBaseStorage().build(body=kopf.Body(copy.deepcopy(_body(status))),
                                                        extra_fields=extra)
        assert ours == kopfs


def test_the_status_is_not_copied_unless_a_handler_names_part_of_it() -> None:
    body = kopf.Body(_body({"recommendation": Uncopyable()}))
    assert "status" not in StatuslessDiffBase().build(body=body)
    with pytest.raises(AssertionError, match="deep-copied"):
        kopf.AnnotationsDiffBaseStorage().build(body=body)
