"""What to query for each serving stack. Each figure lists alternative series, newest name first:
vLLM renamed metrics between releases (`vllm:time_per_output_token_seconds` became
`vllm:inter_token_latency_seconds`, `gpu_cache_usage_perc` became `kv_cache_usage_perc`), and a
Prometheus that ingests them with underscore escaping stores `vllm:x` as `vllm_x`. Alternatives are
joined with `or`, so whichever exists answers.

Templates use {m} for the metric name, {sel} for the label matchers, {w} for the window, {by} for the
grouping labels (the selector's label names) and {le} for the same with `le` first; they are filled
in one pass, so a selector value that happens to contain `{w}` stays as written. A template without
{by} is one value shared by every workload (neuron-monitor's series carry no pod labels).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from inferplace.api.vocabulary import MetricsServer
from inferplace.metrics.observation import FIGURES


@dataclass(frozen=True)
class Query:
    """How to read one figure: a PromQL template and the metric names to try in it."""

    template: str
    names: tuple[str, ...]  # alternative metric names (substituted for {m}, or for {m1}/{m2} pairs)
    scale: float = 1.0  # multiply the answer by this (e.g. percent -> fraction)

    @property
    def grouped(self) -> bool:
        """Answered per combination of the selector's label values (else one value for all)."""
        return "{by}" in self.template or "{le}" in self.template or "{byc}" in self.template


def _colon_variants(*names: str) -> tuple[str, ...]:
    out: list[str] = []
    for n in names:
        out += [n, n.replace(":", "_")] if ":" in n else [n]
    return tuple(out)


RATE = "sum by ({by}) (rate({m}{sel}[{w}]))"
MEAN = "sum by ({by}) (rate({m}_sum{sel}[{w}])) / sum by ({by}) (rate({m}_count{sel}[{w}]))"
QUANTILE = "histogram_quantile({q}, sum by ({le}) (rate({m}_bucket{sel}[{w}])))"
AVG_GAUGE = "avg by ({by}) (avg_over_time({m}{sel}[{w}]))"


def _quantile(q: float) -> str:
    return QUANTILE.replace("{q}", str(q))


VLLM: dict[str, Query] = {
    "requests_per_second": Query(RATE, _colon_variants("vllm:request_success_total")),
    "output_tokens_per_second": Query(RATE, _colon_variants("vllm:generation_tokens_total")),
    "prompt_tokens_per_second": Query(RATE, _colon_variants("vllm:prompt_tokens_total")),
    "prompt_tokens_mean": Query(MEAN, _colon_variants("vllm:request_prompt_tokens")),
    "output_tokens_mean": Query(MEAN, _colon_variants("vllm:request_generation_tokens")),
    "ttft_mean_s": Query(MEAN, _colon_variants("vllm:time_to_first_token_seconds")),
    "ttft_p50_s": Query(_quantile(0.5), _colon_variants("vllm:time_to_first_token_seconds")),
    "ttft_p95_s": Query(_quantile(0.95), _colon_variants("vllm:time_to_first_token_seconds")),
    "tpot_mean_s": Query(MEAN, _colon_variants("vllm:inter_token_latency_seconds",
                                                "vllm:time_per_output_token_seconds")),
    "tpot_p50_s": Query(_quantile(0.5), _colon_variants("vllm:inter_token_latency_seconds",
                                                         "vllm:time_per_output_token_seconds")),
    "tpot_p95_s": Query(_quantile(0.95), _colon_variants("vllm:inter_token_latency_seconds",
                                                          "vllm:time_per_output_token_seconds")),
    "running_batch": Query(AVG_GAUGE, _colon_variants("vllm:num_requests_running")),
    "kv_cache_usage": Query(AVG_GAUGE, _colon_variants("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")),
}

SGLANG: dict[str, Query] = {
    "output_tokens_per_second": Query(RATE, _colon_variants("sglang:generation_tokens_total")),
    "prompt_tokens_per_second": Query(RATE, _colon_variants("sglang:prompt_tokens_total")),
    "ttft_mean_s": Query(MEAN, _colon_variants("sglang:time_to_first_token_seconds")),
    "ttft_p50_s": Query(_quantile(0.5), _colon_variants("sglang:time_to_first_token_seconds")),
    "ttft_p95_s": Query(_quantile(0.95), _colon_variants("sglang:time_to_first_token_seconds")),
    "tpot_mean_s": Query(MEAN, _colon_variants("sglang:inter_token_latency_seconds",
                                                "sglang:time_per_output_token_seconds")),
    "tpot_p50_s": Query(_quantile(0.5), _colon_variants("sglang:inter_token_latency_seconds",
                                                         "sglang:time_per_output_token_seconds")),
    "tpot_p95_s": Query(_quantile(0.95), _colon_variants("sglang:inter_token_latency_seconds",
                                                          "sglang:time_per_output_token_seconds")),
    "running_batch": Query(AVG_GAUGE, _colon_variants("sglang:num_running_reqs")),
    "kv_cache_usage": Query(AVG_GAUGE, _colon_variants("sglang:token_usage")),
}

TGI: dict[str, Query] = {
    "requests_per_second": Query(RATE, ("tgi_request_success", "tgi_request_success_total")),
    "output_tokens_per_second": Query("sum by ({by}) (rate({m}_sum{sel}[{w}]))", ("tgi_request_generated_tokens",)),
    "prompt_tokens_mean": Query(MEAN, ("tgi_request_input_length",)),
    "output_tokens_mean": Query(MEAN, ("tgi_request_generated_tokens",)),
    "tpot_p50_s": Query(_quantile(0.5), ("tgi_request_mean_time_per_token_duration",)),
    "tpot_p95_s": Query(_quantile(0.95), ("tgi_request_mean_time_per_token_duration",)),
    "running_batch": Query(AVG_GAUGE, ("tgi_batch_current_size",)),
}

TRTLLM: dict[str, Query] = {
    "running_batch": Query(AVG_GAUGE, ("trtllm_num_requests_running",)),
    "kv_cache_usage": Query(AVG_GAUGE, ("trtllm_kv_cache_utilization",)),
}

PROFILES: dict[MetricsServer, dict[str, Query]] = {"vllm": VLLM, "sglang": SGLANG, "tgi": TGI, "trtllm": TRTLLM}
assert all(set(p) <= set(FIGURES) for p in PROFILES.values()), "a profile names a figure Observation lacks"

# Accelerator utilization: DCGM carries pod labels (with honorLabels).
GPU_UTILIZATION = Query(AVG_GAUGE, ("DCGM_FI_DEV_GPU_UTIL",), scale=0.01)

# neuron-monitor's series carry no pod labels (they are per node and core): the workload's own pods,
# found by its selector on a series each of them exports, are joined to their nodes (kube-state-metrics'
# kube_pod_info), the nodes to their EC2 instance ids (kube_node_info's provider_id), and those to
# neuron-monitor's instance_id. One bad series on another node cannot reach this workload.
NEURON_JOIN = (
    "avg by ({by}) (max by ({byc}instance_id) ("
    "max by ({byc}namespace, pod) (present_over_time({m}{sel}[{w}]))"
    " * on (namespace, pod) group_left(node) max by (namespace, pod, node) (kube_pod_info)"
    " * on (node) group_left(instance_id) max by (node, instance_id) "
    "(label_replace(kube_node_info, \"instance_id\", \"$1\", \"provider_id\", \".*/(i-[0-9a-f]+)$\")))"
    " * on (instance_id) group_left() avg by (instance_id) (avg_over_time(neuroncore_utilization_ratio[{w}])))"
)
# At each step where the workload's series exist, the time of the oldest of their latest samples.
PRESENCE = "min by ({by}) (timestamp({m}{sel}))"


def _pod_series(profile: dict[str, Query]) -> tuple[str, ...] | None:
    """Names of a series every serving pod of this stack exports: its request counter, else a gauge."""
    for figure in ("requests_per_second", "output_tokens_per_second", "running_batch"):
        q = profile.get(figure)
        if q is not None and q.template in (RATE, AVG_GAUGE):
            return q.names
    return None


def coverage_query(profile: dict[str, Query]) -> Query | None:
    """Where the workload's series exist over time (for how much of the window they cover)."""
    names = _pod_series(profile)
    return None if names is None else Query(PRESENCE, names)


def neuron_utilization(profile: dict[str, Query]) -> Query:
    """NeuronCore utilization on the nodes that run the workload's pods (0-1)."""
    names = _pod_series(profile) or ("vllm:num_requests_running",)
    return Query(NEURON_JOIN, names)


_PLACEHOLDER = re.compile(r"\{(m|sel|w|by|byc|le)\}")


def expression(query: Query, sel: str, win: str, by: tuple[str, ...] = ()) -> str:
    """One PromQL expression trying every alternative name, grouped by the label names `by` (validated
    label names, as `selector` checks them); placeholders filled in one pass."""
    def filled(name: str) -> str:
        values = {"m": name, "sel": sel, "w": win, "by": ", ".join(by), "le": ", ".join(("le", *by)),
                  "byc": "".join(f"{b}, " for b in by)}
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], query.template)

    parts = [filled(name) for name in query.names]
    return " or ".join(f"({p})" for p in parts) if len(parts) > 1 else parts[0]
