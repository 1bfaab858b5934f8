"""`-o table` (the default): per workload, today's placement and cost, the recommendation with its
savings, confidence and reasons, the best of the other node pools, and why the rest lost.

Columns are as wide as their widest cell plus a gap, so figures of any magnitude stay apart; prose
is wrapped at 100 characters.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterator, Sequence

from inferplace.api.errors import terminal_safe
from inferplace.api.status import Placement
from inferplace.cli.formatters.base import Answer, Options

WIDTH = 100
GAP = 2
HEADER = ("", "instance", "capacity", "weights", "replicas", "inst", "$/1M", "$/month", "TTFT95", "TPOT95")
RIGHT = (False, False, False, False, True, True, True, True, True, True)


def _grid(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    # Columns one space apart where two would pass the table's width (the longest instance and capacity names).
    gap = GAP if 2 + sum(widths) + GAP * (len(widths) - 1) <= WIDTH else 1
    out = []
    for r in rows:
        cells = [c.rjust(w) if right else c.ljust(w) for c, w, right in zip(r, widths, RIGHT, strict=True)]
        out.append(("  " + (" " * gap).join(cells)).rstrip())
    return out


def _dollars(text: str | None) -> str:
    return f"{float(text):,.0f}" if text is not None else "-"


def _money(text: str | None) -> str:
    return f"{float(text):,.2f}" if text is not None else "-"


SCALING = {"fixed": "", "autoscaled": "/auto", "scale-to-zero": "/zero"}


def _placement_cells(label: str, p: Placement) -> tuple[str, ...]:
    per_m, month = f"{float(p.cost_per_million_output_tokens):,.3f}", _dollars(p.monthly_cost)
    if p.managed_api is not None:
        api = p.managed_api
        bought = "per-token" if api.mode == "on-demand" else f"per-token/{api.mode}"
        ttft = f"{float(api.measured_ttft_p95_ms):.0f}" if api.measured_ttft_p95_ms else "?"
        tpot = f"{float(api.measured_tpot_p95_ms):.1f}" if api.measured_tpot_p95_ms else "?"
        return (label, f"{api.provider} API", bought, "-", "-", "-", per_m, month, ttft, tpot)
    weights = (p.weight_precision or "-") + ("+sd" if p.speculative_decoding else "")
    scaling = SCALING[p.scaling.strategy] if p.scaling else ""
    ttft = f"{float(p.projected.ttft_p95_ms):.0f}" if p.projected else "-"
    tpot = f"{float(p.projected.tpot_p95_ms):.1f}" if p.projected else "-"
    shape = f"{p.replicas}x{p.chips_per_replica}"
    return (label, p.instance_type or "-", f"{p.capacity_type}{scaling}", weights, shape,
            str(p.instances), per_m, month, ttft, tpot)


# A source reference in the table: GitHub addresses as repo@commit:path and commits by their first 7 digits
# (GitHub resolves both; `-o json` keeps the full address), so that a source fits a line, never split.
_BLOB = re.compile(r"https://github\.com/([\w.-]+/[\w.-]+)/blob/([0-9a-f]{7})[0-9a-f]{33}/(\S+)")
_COMMIT = re.compile(r"@([0-9a-f]{7})[0-9a-f]{33}\b")


def _short_sources(text: str) -> str:
    return _COMMIT.sub(r"@\1", _BLOB.sub(r"\1@\2:\3", text))


def _wrap(text: str, indent: str) -> list[str]:
    """Prose at 100 columns, never splitting a word, an address or a hyphenated name."""
    return textwrap.wrap(_short_sources(text), WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_long_words=False, break_on_hyphens=False)


def one(answer: Answer, top: int) -> str:
    s, spec, name = answer.report.status, answer.workload.spec, answer.report.name
    t = spec.traffic
    lines = [f"{name}: {spec.model.name or 'custom ' + str(spec.model.family)} ({spec.model.weight_precision})"]
    peak = (f"peak x{float(s.traffic.peak_to_mean):g} ({s.traffic.hours}-hour profile)" if s.traffic is not None
            else f"peak x{t.peak_to_mean_ratio}")
    lines += _wrap(f"traffic {t.requests_per_second} req/s mean, {peak}; prompt "
                   f"{t.prompt_tokens.mean} (p95 {t.prompt_tokens.p95 or t.prompt_tokens.mean}), output "
                   f"{t.output_tokens.mean} (p95 {t.output_tokens.p95 or t.output_tokens.mean}) tokens; SLO TTFT p95 "
                   f"{spec.slo.ttft_p95_ms} ms, TPOT p95 {spec.slo.tpot_p95_ms} ms"
                   + (f", e2e p95 {spec.slo.e2e_p95_ms} ms" if spec.slo.e2e_p95_ms else ""), "  ")
    grid: list[tuple[str, ...]] = [HEADER]
    cur = s.current
    if cur is not None:
        per_m = cur.cost_per_million_output_tokens
        grid.append(("now", cur.instance_type, cur.capacity_type, spec.model.weight_precision,
                     f"{cur.replicas}x{cur.chips_per_replica}", str(cur.instances),
                     f"{float(per_m):,.3f}" if per_m else "-", _dollars(cur.monthly_cost),
                     f"{float(cur.projected.ttft_p95_ms):.0f}" if cur.projected else "-",
                     f"{float(cur.projected.tpot_p95_ms):.1f}" if cur.projected else "-"))
    rec = s.recommendation
    if rec is not None:
        grid.append(_placement_cells("recommended", rec))
    alternatives = s.alternatives[:top] if top > 0 else []
    grid += [_placement_cells("", a) for a in alternatives]
    rendered = _grid(grid)
    lines += rendered[:2 if cur is not None else 1]
    if cur is not None and cur.meets_slo is False:
        lines += _wrap(f"today: {'; '.join(cur.notes) or 'misses the SLOs at peak'}", " " * 14)
    elif cur is not None and cur.notes:  # not modelled, no price, a stale price: said where it is read
        lines += _wrap(f"today: {'; '.join(cur.notes)}", " " * 14)
    if rec is None:
        lines.append("  no priced placement meets the SLOs")
    else:
        lines.append(rendered[len(rendered) - len(alternatives) - 1])
        conf = rec.confidence
        if rec.savings_monthly is not None:
            rng = conf.savings_percent_range
            spread = f", {rng.low}% to {rng.high}%" if rng else ""
            payback = f"{rec.payback_months} months" if rec.payback_months else "none"
            saved = float(rec.savings_monthly)
            what = (f"saves ${_money(rec.savings_monthly)}/month" if saved >= 0
                    else f"costs ${-saved:,.2f}/month more than today")
            lines += _wrap(f"{what} ({rec.savings_percent}%; confidence "
                           f"{conf.level}{spread}), payback {payback}, migration {rec.migration_weeks} "
                           "engineer-weeks", "  ")
        else:
            lines += _wrap(f"confidence {conf.level}; no current cost to compare with", "  ")
        for why in rec.rationale[1:]:
            lines += _wrap(f"- {why}", "    ")
    if alternatives:
        lines.append("  alternatives (best of each node pool first):")
        lines += rendered[len(rendered) - len(alternatives):]
        if any(a.managed_api is not None and a.managed_api.measured_ttft_p95_ms is None for a in alternatives):
            lines += _wrap("? = latency unknown: an API is recommended only where a measured figure "
                           "(spec.measuredApiLatency) meets the SLOs", "  ")
        evens = [f"{r.what_it_takes.instance_type} ${float(r.what_it_takes.break_even_usd_per_hour):,.2f}"
                 for r in s.rejected if r.reason == "HIGHER_COST" and r.what_it_takes is not None
                 and r.what_it_takes.break_even_usd_per_hour is not None]
        if evens:
            lines += _wrap("would win at or below (per instance-hour, all else as priced): " + ", ".join(evens), "  ")
    if s.break_even is not None:
        lines += _wrap(f"break-even: {s.break_even.message}", "  ")
    if s.traffic is not None:
        lines += _wrap(f"traffic shape: {s.traffic.source}, peak {s.traffic.peak_to_mean}x the mean, "
                       f"{s.traffic.idle_hours} idle hours; /auto = autoscaled, /zero = scaled to zero when idle", "  ")
    losers = [r for r in s.rejected if r.reason != "HIGHER_COST"]
    if losers:
        lines.append("  not chosen:")
        for r in losers:
            lines += _wrap(f"{r.node_pool} {r.reason}: {r.message}", "    ")
    if s.assumptions:
        lines += _wrap("assumed: " + "; ".join(s.assumptions), "  ")
    return "\n".join(lines)


def table(answers: Iterator[Answer], options: Options) -> Iterator[str]:
    # JSON and YAML carry the time as status.lastEvaluationTime; the table says it once, with its source.
    if options.as_of:
        yield f"{options.as_of.describe()}: price ages and staleness count to this time\n\n"
    for i, a in enumerate(answers):
        # Text from files (a rate's source, a model name) reaches a terminal here: escaped, never acted on.
        yield ("\n" if i else "") + terminal_safe(one(a, options.top)) + "\n"
