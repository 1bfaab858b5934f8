"""`--plot FILE.svg|FILE.png`: cost per 1M output tokens against projected TPOT p95 for every
placement meeting the SLOs, one panel per workload (needs matplotlib: `pip install 'inferplace[plot]'`)."""

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
    fig, axes = plt.subplots(len(reports), 1, figsize=(9, 4.5 * len(reports)), squeeze=False)
    try:
        for ax, rep in zip(axes[:, 0], reports, strict=True):
            for pool in sorted({p.node_pool for p in rep.points}):
                pts = [p for p in rep.points if p.node_pool == pool]
                ax.scatter([p.tpot_p95_ms for p in pts], [p.cost_per_million for p in pts], s=18, label=pool,
                           alpha=0.8)
            for p in rep.points:
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
