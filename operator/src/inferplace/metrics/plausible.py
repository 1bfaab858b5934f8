"""Observed figures are checked before anything uses them.

A figure must be finite, non-negative and within what a serving stack can do: rates at most
1,000,000 a second, latencies under an hour, fractions (KV-cache use, utilization) within 0..1. One
outside is dropped and named in `problems` with its reason, never passed on: an exporter bug or a
hostile series must not size a fleet. The rates also need the window to be covered: `rate()`
divides by the whole window, so a series that exists for one minute of an hour reads 1/60 of the
traffic. Below `MIN_COVERAGE` the rates are dropped ("window covers 1 of 60 minutes"); means and
latencies, ratios of two rates over the same span, are kept. The hourly shape is bounded the same way.
Token means are bounded here only by an absolute limit; the model's context bounds them where the
model is known (placement.traffic).
"""

from __future__ import annotations

import math

from inferplace.api.vocabulary import duration_seconds
from inferplace.metrics.observation import FIGURES, Observation

MAX_RATE = 1_000_000.0  # requests or tokens per second, for one workload
MAX_LATENCY_S = 3600.0
MAX_TOKENS = 10_000_000.0  # mean prompt or output tokens: beyond any model's context
MAX_BATCH = 100_000.0  # mean running requests per server
MIN_COVERAGE = 0.9  # of the window, for rates to be used

RATES = ("requests_per_second", "prompt_tokens_per_second", "output_tokens_per_second")
_LATENCIES = ("ttft_mean_s", "ttft_p50_s", "ttft_p95_s", "tpot_mean_s", "tpot_p50_s", "tpot_p95_s")
BOUNDS: dict[str, tuple[float, str]] = {
    **dict.fromkeys(RATES, (MAX_RATE, "a second")),
    "prompt_tokens_mean": (MAX_TOKENS, "tokens"),
    "output_tokens_mean": (MAX_TOKENS, "tokens"),
    **dict.fromkeys(_LATENCIES, (MAX_LATENCY_S, "s")),
    "running_batch": (MAX_BATCH, "requests"),
    "kv_cache_usage": (1.0, "(a fraction)"),
    "accelerator_utilization": (1.0, "(a fraction)"),
}
assert set(BOUNDS) == set(FIGURES), "every observed figure needs a bound"


def _bad(name: str, value: float) -> str | None:
    """Why `value` cannot be `name`, or None."""
    hi, unit = BOUNDS[name]
    if not math.isfinite(value):
        return f"dropped: {value} is not a number"
    if value < 0 or value > hi:
        return f"dropped: {value:.4g} is outside 0..{hi:g} {unit}"
    return None


def checked(obs: Observation, min_coverage: float = MIN_COVERAGE) -> Observation:
    """`obs` with every implausible figure (and rates over a window too little covered) dropped and named."""
    figures = obs.figures()
    problems = dict(obs.problems)
    for name, value in figures.items():
        why = None if value is None else _bad(name, value)
        if why is not None:
            figures[name], problems[name] = None, why
    if obs.coverage is not None and obs.coverage < min_coverage:
        span = duration_seconds(obs.window)
        minutes = span / 60
        why = (f"dropped: the window covers {obs.coverage * minutes:.0f} of {minutes:.0f} minutes (a rate needs "
               f"{min_coverage:.0%} of it: the series are younger than the window or have gaps)")
        for name in RATES:
            if figures.get(name) is not None:
                figures[name], problems[name] = None, why
    hourly = obs.hourly_requests_per_second
    if hourly is not None and not all(math.isfinite(v) and 0 <= v <= MAX_RATE for v in hourly):
        problems["hourly_requests_per_second"] = f"dropped: an hourly rate outside 0..{MAX_RATE:g} a second"
        hourly = None
    return Observation.of(obs.window, obs.time, figures, problems, hourly,
                          obs.hourly_source if hourly is not None else "", obs.coverage)


def coverage_note(obs: Observation) -> str | None:
    """'the window covers 1 of 60 minutes' when it covers less than all of it."""
    if obs.coverage is None or obs.coverage >= 1.0:
        return None
    minutes = duration_seconds(obs.window) / 60
    return f"the window covers {obs.coverage * minutes:.0f} of {minutes:.0f} minutes"


__all__ = ["BOUNDS", "MAX_RATE", "MIN_COVERAGE", "RATES", "checked", "coverage_note"]
