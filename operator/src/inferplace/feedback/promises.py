"""What a recommendation promised, kept so that a move to it can be checked (`feedback.verify`).

Each evaluation keeps what the recommendation and its self-hosted alternatives promised
(`promises_of`): the load each replica was sized to serve, TTFT and TPOT p95, cost, the price per
instance-hour, the error the promise stated and the scope it rests on. Without an operator's status,
`promise_for` makes the same promise for the placement a team runs, from a search at the traffic
before its move.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from inferplace.api.clock import rfc3339
from inferplace.api.spec import InferenceWorkloadSpec
from inferplace.api.status import InferenceWorkloadStatus, Placement, Promise
from inferplace.api.types import fixed
from inferplace.catalog import Catalog
from inferplace.engine.tco import HOURS_PER_MONTH
from inferplace.placement import report_with
from inferplace.placement.cost import Option
from inferplace.placement.search import Outcome
from inferplace.placement.settings import DEFAULTS, Settings

MAX_PROMISES = 8


def promise_of(p: Placement, made_at: str) -> Promise | None:
    """What a self-hosted placement in a status promises (None for an API or an incomplete placement)."""
    c = p.confidence
    cb = p.cost_breakdown
    price = cb.price if cb else None
    if (p.kind != "self-hosted" or p.id is None or p.projected is None or price is None or p.instance_type is None
            or p.replicas is None or p.instances is None or p.chips_per_replica is None or p.weight_precision is None
            or cb is None or c.group is None or c.scope is None or c.error_p90_pct is None):
        return None
    # the demand the placement was costed for (accepted output tokens), spread over its replicas
    served = float(cb.accepted_output_tokens_per_month) / (HOURS_PER_MONTH * 3600.0)
    return Promise(
        id=p.id, summary=p.summary, node_pool=p.node_pool, instance_type=p.instance_type,
        chips_per_replica=p.chips_per_replica, weight_precision=p.weight_precision, replicas=p.replicas,
        instances=p.instances, output_tokens_per_second_per_replica=fixed(served / p.replicas, 3),
        ttft_p95_ms=p.projected.ttft_p95_ms, tpot_p95_ms=p.projected.tpot_p95_ms,
        cost_per_million_output_tokens=p.cost_per_million_output_tokens, monthly_cost=p.monthly_cost,
        usd_per_instance_hour=price.usd_per_hour, savings_percent_range=c.savings_percent_range,
        error_p90_pct=c.error_p90_pct, group=c.group, scope=c.scope, made_at=made_at)


def promises_of(st: InferenceWorkloadStatus, made_at: str) -> list[Promise]:
    """The recommendation's and the self-hosted alternatives' promises, in that order."""
    placed = [st.recommendation, *st.alternatives] if st.recommendation else []
    out = [q for p in placed if p is not None and (q := promise_of(p, made_at)) is not None]
    return out[:MAX_PROMISES]


def dated(promises: list[Promise], previous: Any) -> list[Promise]:
    """`promises` with the time each was first made: one the previous status already held, figure for
    figure, keeps its madeAt (so that an evaluation that changes nothing writes nothing)."""
    before: dict[str, Any] = {}
    for raw in previous if isinstance(previous, list) else []:
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            before[raw["id"]] = raw
    out = []
    for p in promises:
        old = before.get(p.id)
        fresh = p.model_dump(mode="json", by_alias=True, exclude_none=True)
        same = old is not None and isinstance(old.get("madeAt"), str) and {**old, "madeAt": p.made_at} == fresh
        out.append(p.model_copy(update={"made_at": old["madeAt"]}) if same and old is not None else p)
    return out


def matches(spec: InferenceWorkloadSpec, promise: Mapping[str, Any]) -> bool:
    """Whether spec.current carries `promise` (a promise as the status holds it) out."""
    cur = spec.current
    if cur is None:
        return False
    if cur.recommendation_id is not None:
        return bool(promise.get("id") == cur.recommendation_id)
    return bool(promise.get("instanceType") == cur.instance_type.lower()
                and promise.get("chipsPerReplica") == cur.chips_per_replica
                and promise.get("weightPrecision") == spec.model.weight_precision)


def promise_for(spec: InferenceWorkloadSpec, o: Outcome, cat: Catalog, now: datetime,
                settings: Settings = DEFAULTS) -> Promise | None:
    """The promise the search `o` makes for the placement spec.current names (its cheapest option of that
    instance type, chips per replica, capacity type and precision); None where it has none."""
    cur = spec.current
    if cur is None:
        return None
    same = [opt for opt in o.options if _is(o, opt, cur.instance_type.lower(), cur.chips_per_replica,
                                               cur.capacity_type)]
    same.sort(key=lambda opt: opt.per_million)
    st = report_with(o, same[:MAX_PROMISES], cat, now, settings=settings).status
    for p in promises_of(st, rfc3339(now)):
        if p.instance_type == cur.instance_type.lower() and p.chips_per_replica == cur.chips_per_replica \
                and p.weight_precision == spec.model.weight_precision:
            return p
    return None


def _is(o: Outcome, opt: Option, instance_type: str, chips: int, capacity: str) -> bool:
    c = o.cs.candidates[opt.candidate]
    return c.instance.type == instance_type and o.cs.keys[c.row].chips == chips and opt.capacity_type == capacity


__all__ = ["MAX_PROMISES", "dated", "matches", "promise_for", "promise_of", "promises_of"]
