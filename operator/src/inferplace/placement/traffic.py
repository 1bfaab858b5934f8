"""The traffic a workload is sized for: what the spec declares, or what Prometheus observed.

Observed figures arrive checked (metrics.plausible: finite, bounded, over a covered window). Here they
meet the workload: token means beyond the model's context are not used, and an observed rate more
than `CalibrationBands.max_disagreement` times off the declared one is reported, not acted on (a
wrong selector, a young series or an exporter bug must not resize a fleet silently).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from inferplace.metrics.observation import Observation
from inferplace.metrics.plausible import RATES, coverage_note
from inferplace.placement.settings import DEFAULTS, CalibrationBands
from inferplace.placement.workload import Workload, normalised_profile


@dataclass(frozen=True)
class TrafficUse:
    """The workload as it will be sized, and what became of the observed traffic."""

    workload: Workload
    note: str
    replaced: bool
    reason: str  # Observed, TooLittleTraffic, WindowNotCovered or TrafficDisagrees (CamelCase, for a condition)


def observed_traffic(w: Workload, obs: Observation, bands: CalibrationBands = DEFAULTS.calibration,
                     disagreed: bool = False) -> TrafficUse:
    """The workload with its traffic replaced by the observed one where it was read and is believable.

    `disagreed`: the previous evaluation of this spec reported the observed rate as too far off the
    declared one; it stays reported until the rate is within `bands.agree_again` of the limit.

    The declared p95 lengths keep their ratio to the mean (the length histograms have 1-2-5 buckets,
    too coarse for a p95). The traffic's shape is the observed one where Prometheus held a complete
    day or week of hourly rates (its peak is then the peak-to-mean ratio); otherwise as declared.
    """
    w, shaped = _observed_shape(w, obs)
    rps = obs.requests_per_second
    out_mean = _within_context(obs.output_tokens_mean, w)
    in_mean = _within_context(obs.prompt_tokens_mean, w)
    if rps is None and out_mean and obs.output_tokens_per_second is not None:
        rps = obs.output_tokens_per_second / out_mean
    covered = coverage_note(obs)
    if rps is None and covered and any(obs.problems.get(r, "").startswith("dropped: the window") for r in RATES):
        return TrafficUse(w, f"declared traffic used: {covered}, too little for a rate over {obs.window}{shaped}",
                          False, "WindowNotCovered")
    if rps is None or rps < bands.min_requests_per_second:
        return TrafficUse(w, f"declared traffic used: {rps or 0:.3g} requests/s observed in {obs.window}, too little "
                             f"to replace it{shaped}", False, "TooLittleTraffic")
    factor = max(rps / w.rps, w.rps / rps)
    again = bands.max_disagreement * bands.agree_again
    if factor > (again if disagreed else bands.max_disagreement):
        return TrafficUse(w, f"declared traffic used: {rps:.3g} req/s observed in {obs.window} is "
                             f"{rps / w.rps:.3g}x the declared {w.rps:g} req/s (more than {bands.max_disagreement:g}x "
                             f"apart; used again once within {again:g}x): check spec.metrics.selector, or update "
                             f"spec.traffic if the traffic changed{shaped}", False, "TrafficDisagrees")
    used = [f"{rps:.3g} req/s"]
    prompt = (w.prompt_mean, w.prompt_p95)
    output = (w.output_mean, w.output_p95)
    if in_mean and in_mean >= 1:
        prompt = (in_mean, max(w.prompt_p95 * in_mean / w.prompt_mean, in_mean))
        used.append(f"{in_mean:.0f} prompt tokens")
    if out_mean and out_mean >= 1:
        output = (out_mean, max(w.output_p95 * out_mean / w.output_mean, out_mean))
        used.append(f"{out_mean:.0f} output tokens")
    peak = "" if shaped else f"peak-to-mean {w.peak_to_mean:g} and "
    note = (f"traffic observed over {obs.window} ({', '.join(used)} mean) replaces spec.traffic; "
            f"{peak}p95/mean length ratios as declared{shaped}")
    return TrafficUse(replace(w, rps=rps, prompt_mean=prompt[0], prompt_p95=prompt[1], output_mean=output[0],
                              output_p95=output[1], assumptions=(*w.assumptions, note)), note, True, "Observed")


def _within_context(mean: float | None, w: Workload) -> float | None:
    """An observed token mean the model can serve; None beyond its context (not a length of this model)."""
    return mean if mean is not None and mean <= w.model.max_context else None


def _observed_shape(w: Workload, obs: Observation) -> tuple[Workload, str]:
    """The workload with the observed hourly shape, and the note's tail that says so ("" if not used)."""
    hourly = obs.hourly_requests_per_second
    if hourly is None:
        return w, ""
    notes: list[str] = []
    profile, peak, source = normalised_profile(list(hourly), obs.hourly_source, notes)
    replaced = " (replacing spec.traffic.profile)" if w.profile is not None else ""
    tail = f"; the traffic's shape is {source}{replaced}, peak {peak:.3g}x the mean"
    kept = tuple(a for a in w.assumptions if not a.startswith("no traffic shape"))
    return replace(w, profile=profile, peak_to_mean=peak, profile_source=source, assumptions=kept), tail
