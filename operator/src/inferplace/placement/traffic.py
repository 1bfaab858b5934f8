"""The traffic a workload is sized for: what the spec declares, or what Prometheus observed."""

from __future__ import annotations

from dataclasses import replace

from inferplace.metrics.observation import Observation
from inferplace.placement.settings import DEFAULTS, CalibrationBands
from inferplace.placement.workload import Workload, normalised_profile


def observed_traffic(w: Workload, obs: Observation,
                     bands: CalibrationBands = DEFAULTS.calibration) -> tuple[Workload, str, bool]:
    """The workload with its traffic replaced by the observed one where it was read, the note that
    says so, and whether it was replaced.

    The declared p95 lengths keep their ratio to the mean (the length histograms have 1-2-5 buckets,
    too coarse for a p95). The traffic's shape is the observed one where Prometheus held a complete
    day or week of hourly rates (its peak is then the peak-to-mean ratio); otherwise as declared.
    """
    w, shaped = _observed_shape(w, obs)
    rps = obs.requests_per_second
    out_mean = obs.output_tokens_mean
    in_mean = obs.prompt_tokens_mean
    if rps is None and out_mean and obs.output_tokens_per_second is not None:
        rps = obs.output_tokens_per_second / out_mean
    if rps is None or rps < bands.min_requests_per_second:
        return w, (f"declared traffic used: {rps or 0:.3g} requests/s observed in {obs.window}, too little to "
                   f"replace it{shaped}"), False
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
    return replace(w, rps=rps, prompt_mean=prompt[0], prompt_p95=prompt[1], output_mean=output[0],
                   output_p95=output[1], assumptions=(*w.assumptions, note)), note, True


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
