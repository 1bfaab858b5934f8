"""`--plot FILE.svg|FILE.png`, one row per workload (needs matplotlib: `pip install 'inferplace[plot]'`):
cost per 1M output tokens against projected TPOT p95 for every placement meeting the SLOs, and the
monthly cost against the mean request rate of each node pool's best option and each managed API,
with today's traffic marked (where the curves cross is the break-even)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from inferplace.cli.formatters.base import Answer, Options

SUFFIXES = (".svg", ".png")


class PlotError(RuntimeError):
    """The plot cannot be drawn (matplotlib missing, a file suffix it cannot write)."""


def plot(answers: Sequence[Answer], _options: Options, suffix: str) -> bytes:
    try:
        import matplotlib as mpl  # noqa: PLC0415 - optional, only for --plot

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise PlotError("--plot needs matplotlib: pip install 'inferplace[plot]'") from None
    if suffix.lower() not in SUFFIXES:
        raise PlotError(f"the plot's file name must end in {' or '.join(SUFFIXES)}")
    reports = [a.report for a in answers]
    fig, axes = plt.subplots(len(reports), 2, figsize=(16, 4.8 * len(reports)), squeeze=False)
    try:
        for ax, rep in zip(axes[:, 1], reports, strict=True):
            for c in rep.curves():
                style = "--" if c.managed else "-"
                ax.plot(c.requests_per_second, c.monthly_usd, style, linewidth=2.5 if c.chosen else 1.2,
                        label=f"{c.label}{' (recommended)' if c.chosen else ''}", drawstyle="default")
            ax.axvline(rep.today_rps, color="black", linestyle=":", label=f"today: {rep.today_rps:g} req/s")
            be = rep.status.break_even
            if be is not None and be.requests_per_second is not None:
                ax.axvline(float(be.requests_per_second), color="red", linestyle="--",
                           label=f"break-even: {float(be.requests_per_second):.3g} req/s")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("mean requests/s (today's token mix and traffic shape)")
            ax.set_ylabel("USD per month")
            ax.set_title(f"{rep.name}: monthly cost by traffic (dashed: per-token APIs)")
            ax.legend(fontsize=7, loc="best")
        for ax, rep in zip(axes[:, 0], reports, strict=True):
            points = rep.points()
            for pool in sorted({p.node_pool for p in points}):
                pts = [p for p in points if p.node_pool == pool]
                ax.scatter([p.tpot_p95_ms for p in pts], [p.cost_per_million for p in pts], s=18, label=pool,
                           alpha=0.8)
            for p in points:
                if p.chosen:
                    ax.scatter([p.tpot_p95_ms], [p.cost_per_million], s=160, facecolors="none", edgecolors="black",
                               linewidths=2, label=f"recommended: {p.label}")
            ax.axvline(rep.tpot_slo_ms, color="red", linestyle="--", label=f"TPOT p95 SLO {rep.tpot_slo_ms:g} ms")
            ax.set_xlabel("projected TPOT p95 at peak (ms)")
            ax.set_ylabel("USD per 1M accepted output tokens")
            ax.set_yscale("log")
            ax.set_title(f"{rep.name}: placements meeting the SLOs")
            ax.legend(fontsize=7, loc="best")
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format=suffix.lower().lstrip("."))
        return out.getvalue()
    finally:
        plt.close(fig)
