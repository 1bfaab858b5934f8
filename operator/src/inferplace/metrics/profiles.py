"""What to query for each serving stack. Each figure lists alternative series, newest name first:
vLLM renamed metrics between releases, and Prometheus may store `vllm:x` as `vllm_x` when a client
answers with underscore escaping (reference: shared/reference/metrics.md §0, §1, §5). Alternatives
are joined with `or`, so whichever exists answers.

Templates use {m} for the metric name, {sel} for the label matchers and {w} for the window.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    template: str
    names: tuple[str, ...]  # alternative metric names (substituted for {m}, or for {m1}/{m2} pairs)
    scale: float = 1.0  # multiply the answer by this (e.g. percent -> fraction)


def _colon_variants(*names: str) -> tuple[str, ...]:
    out: list[str] = []
    for n in names:
        out += [n, n.replace(":", "_")] if ":" in n else [n]
    return tuple(out)


RATE = "sum(rate({m}{sel}[{w}]))"
MEAN = "sum(rate({m}_sum{sel}[{w}])) / sum(rate({m}_count{sel}[{w}]))"
QUANTILE = "histogram_quantile({q}, sum by (le) (rate({m}_bucket{sel}[{w}])))"
AVG_GAUGE = "avg(avg_over_time({m}{sel}[{w}]))"


def _quantile(q: float) -> str:
    return QUANTILE.replace("{q}", str(q))


VLLM: dict[str, Figure] = {
    "requests_per_second": Figure(RATE, _colon_variants("vllm:request_success_total")),
    "output_tokens_per_second": Figure(RATE, _colon_variants("vllm:generation_tokens_total")),
    "prompt_tokens_per_second": Figure(RATE, _colon_variants("vllm:prompt_tokens_total")),
    "prompt_tokens_mean": Figure(MEAN, _colon_variants("vllm:request_prompt_tokens")),
    "output_tokens_mean": Figure(MEAN, _colon_variants("vllm:request_generation_tokens")),
    "ttft_mean_s": Figure(MEAN, _colon_variants("vllm:time_to_first_token_seconds")),
    "ttft_p50_s": Figure(_quantile(0.5), _colon_variants("vllm:time_to_first_token_seconds")),
    "ttft_p95_s": Figure(_quantile(0.95), _colon_variants("vllm:time_to_first_token_seconds")),
    "tpot_mean_s": Figure(MEAN, _colon_variants("vllm:inter_token_latency_seconds",
                                                "vllm:time_per_output_token_seconds")),
    "tpot_p50_s": Figure(_quantile(0.5), _colon_variants("vllm:inter_token_latency_seconds",
                                                         "vllm:time_per_output_token_seconds")),
    "tpot_p95_s": Figure(_quantile(0.95), _colon_variants("vllm:inter_token_latency_seconds",
                                                          "vllm:time_per_output_token_seconds")),
    "running_batch": Figure(AVG_GAUGE, _colon_variants("vllm:num_requests_running")),
    "kv_cache_usage": Figure(AVG_GAUGE, _colon_variants("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")),
}

SGLANG: dict[str, Figure] = {
    "output_tokens_per_second": Figure(RATE, _colon_variants("sglang:generation_tokens_total")),
    "prompt_tokens_per_second": Figure(RATE, _colon_variants("sglang:prompt_tokens_total")),
    "ttft_mean_s": Figure(MEAN, _colon_variants("sglang:time_to_first_token_seconds")),
    "ttft_p50_s": Figure(_quantile(0.5), _colon_variants("sglang:time_to_first_token_seconds")),
    "ttft_p95_s": Figure(_quantile(0.95), _colon_variants("sglang:time_to_first_token_seconds")),
    "tpot_mean_s": Figure(MEAN, _colon_variants("sglang:inter_token_latency_seconds",
                                                "sglang:time_per_output_token_seconds")),
    "tpot_p50_s": Figure(_quantile(0.5), _colon_variants("sglang:inter_token_latency_seconds",
                                                         "sglang:time_per_output_token_seconds")),
    "tpot_p95_s": Figure(_quantile(0.95), _colon_variants("sglang:inter_token_latency_seconds",
                                                          "sglang:time_per_output_token_seconds")),
    "running_batch": Figure(AVG_GAUGE, _colon_variants("sglang:num_running_reqs")),
    "kv_cache_usage": Figure(AVG_GAUGE, _colon_variants("sglang:token_usage")),
}

TGI: dict[str, Figure] = {
    "requests_per_second": Figure(RATE, ("tgi_request_success", "tgi_request_success_total")),
    "output_tokens_per_second": Figure("sum(rate({m}_sum{sel}[{w}]))", ("tgi_request_generated_tokens",)),
    "prompt_tokens_mean": Figure(MEAN, ("tgi_request_input_length",)),
    "output_tokens_mean": Figure(MEAN, ("tgi_request_generated_tokens",)),
    "tpot_p50_s": Figure(_quantile(0.5), ("tgi_request_mean_time_per_token_duration",)),
    "tpot_p95_s": Figure(_quantile(0.95), ("tgi_request_mean_time_per_token_duration",)),
    "running_batch": Figure(AVG_GAUGE, ("tgi_batch_current_size",)),
}

TRTLLM: dict[str, Figure] = {
    "running_batch": Figure(AVG_GAUGE, ("trtllm_num_requests_running",)),
    "kv_cache_usage": Figure(AVG_GAUGE, ("trtllm_kv_cache_utilization",)),
}

PROFILES: dict[str, dict[str, Figure]] = {"vllm": VLLM, "sglang": SGLANG, "tgi": TGI, "trtllm": TRTLLM}

# Accelerator utilization: DCGM carries pod labels (with honorLabels); neuron-monitor does not, so
# the workload's selector is not applied to it (shared/reference/metrics.md §0.4).
GPU_UTILIZATION = Figure(AVG_GAUGE, ("DCGM_FI_DEV_GPU_UTIL",), scale=0.01)
NEURON_UTILIZATION = Figure("avg(avg_over_time({m}[{w}]))", ("neuroncore_utilization_ratio",))


def expression(fig: Figure, sel: str, win: str) -> str:
    """One PromQL expression trying every alternative name."""
    parts = [fig.template.replace("{m}", name).replace("{sel}", sel).replace("{w}", win) for name in fig.names]
    return " or ".join(f"({p})" for p in parts) if len(parts) > 1 else parts[0]
