"""`inferplace recommend`: where each InferenceWorkload in a file should run and what it saves.

Exit status: 0 every workload got a recommendation; 3 some workload has no placement meeting its
SLOs (its reasons are printed); 2 bad input (each problem on stderr as `field.path: problem`; the
workloads that were valid are still answered).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from inferplace.api import API_VERSION, KIND, InferenceWorkload, describe
from inferplace.api.status import InferenceWorkloadStatus, Placement
from inferplace.catalog import CatalogError, load_catalog
from inferplace.catalog.overrides import OverrideError, apply_price_overrides
from inferplace.placement import Report, WorkloadError, plan

EXIT_OK, EXIT_USAGE, EXIT_NO_PLACEMENT = 0, 2, 3
WIDTH = 100


class InputError(Exception):
    """The input as a whole cannot be used."""


def register(sub: Any) -> None:
    p = sub.add_parser("recommend", help="recommend node pools for InferenceWorkload manifests",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-f", "--filename", required=True, type=Path, metavar="FILE.yaml", action="append",
                   help="InferenceWorkload manifests: a multi-document YAML file, a directory (every *.yaml "
                        "in it, recursively) or '-' for stdin; repeat to read several")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.add_argument("--top", type=int, default=5, metavar="N",
                   help="alternatives to show per workload (default 5)")
    p.add_argument("--plot", type=Path, metavar="FILE.svg|FILE.png",
                   help="draw cost per 1M output tokens against projected TPOT p95 (needs matplotlib)")
    p.add_argument("--prices", type=Path, metavar="FILE.yaml",
                   help="price overrides: negotiated rates or prices the catalog lacks (see README)")
    p.set_defaults(run=run)


def _read(path: Path) -> str:
    try:
        return sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None


def _documents(path: Path) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(_read(path)) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{path}:{where}: not valid YAML: {problem}") from None


def _expand(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                raise InputError(f"{path}: no *.yaml files in this directory")
            out += found
        else:
            out.append(path)
    return out


def _parse(doc: Any, index: int) -> tuple[InferenceWorkload | None, list[str]]:
    label = f"document {index + 1}"
    if not isinstance(doc, dict):
        return None, [f"{label}: expected an InferenceWorkload manifest (a mapping), got {type(doc).__name__}"]
    meta = doc.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("name"), str):
        label += f" ({meta['name']})"
    if doc.get("kind") != KIND or doc.get("apiVersion") != API_VERSION:
        return None, [f"{label}: kind/apiVersion must be {KIND} / {API_VERSION}, got "
                      f"{doc.get('kind')!r} / {doc.get('apiVersion')!r}"]
    try:
        return InferenceWorkload.model_validate(doc), []
    except ValidationError as exc:
        return None, describe(exc, InferenceWorkload, prefix=f"{label}: ")


def _trim(status: InferenceWorkloadStatus, top: int) -> InferenceWorkloadStatus:
    return status.model_copy(update={"alternatives": status.alternatives[:top]})


def _status_dict(status: InferenceWorkloadStatus) -> dict[str, Any]:
    out: dict[str, Any] = status.model_dump(by_alias=True, exclude_none=True, mode="json")
    return out


# ---- table ---------------------------------------------------------------------------------------

def _row(label: str, inst: str, cap: str, prec: str, repl: str, n: str, per_m: str, month: str,
         ttft: str, tpot: str) -> str:
    return (f"  {label:<12}{inst:<17}{cap:<16}{prec:<8}{repl:>8}{n:>5}{per_m:>9}{month:>9}"
            f"{ttft:>7}{tpot:>7}")


def _money(text: str | None) -> str:
    return f"{float(text):,.2f}" if text is not None else "-"


def _dollars(text: str | None) -> str:
    return f"{float(text):,.0f}" if text is not None else "-"


def _placement_row(label: str, p: Placement) -> str:
    weights = p.weight_precision + ("+sd" if p.speculative_decoding else "")
    return _row(label, p.instance_type, p.capacity_type, weights, f"{p.replicas}x{p.chips_per_replica}",
                str(p.instances), f"{float(p.cost_per_million_output_tokens):.3f}", _dollars(p.monthly_cost),
                f"{float(p.projected.ttft_p95_ms):.0f}", f"{float(p.projected.tpot_p95_ms):.1f}")


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def format_table(report: Report, iw: InferenceWorkload, top: int) -> str:
    s, spec = report.status, iw.spec
    t = spec.traffic
    lines = [f"{report.name}: {spec.model.name or 'custom ' + str(spec.model.family)} "
             f"({spec.model.weight_precision})"]
    lines += _wrap(f"traffic {t.requests_per_second} req/s mean, peak x{t.peak_to_mean_ratio}; prompt "
                   f"{t.prompt_tokens.mean} (p95 {t.prompt_tokens.p95 or t.prompt_tokens.mean}), output "
                   f"{t.output_tokens.mean} (p95 {t.output_tokens.p95 or t.output_tokens.mean}) tokens; SLO TTFT p95 "
                   f"{spec.slo.ttft_p95_ms} ms, TPOT p95 {spec.slo.tpot_p95_ms} ms"
                   + (f", e2e p95 {spec.slo.e2e_p95_ms} ms" if spec.slo.e2e_p95_ms else ""), "  ")
    lines.append(_row("", "instance", "capacity", "weights", "replxchp", "inst", "$/1Mtok", "$/month",
                      "TTFT95", "TPOT95"))
    cur = s.current
    if cur is not None:
        ttft = f"{float(cur.projected.ttft_p95_ms):.0f}" if cur.projected else "-"
        tpot = f"{float(cur.projected.tpot_p95_ms):.1f}" if cur.projected else "-"
        per_m = cur.cost_per_million_output_tokens
        lines.append(_row("now", cur.instance_type, cur.capacity_type, spec.model.weight_precision,
                          f"{cur.replicas}x{cur.chips_per_replica}", str(cur.instances),
                          f"{float(per_m):.3f}" if per_m else "-", _dollars(cur.monthly_cost), ttft, tpot))
        if cur.meets_slo is False:
            lines += _wrap(f"today: {'; '.join(cur.notes) or 'misses the SLOs at peak'}", " " * 14)
    rec = s.recommendation
    if rec is None:
        lines.append("  no priced placement meets the SLOs")
    else:
        lines.append(_placement_row("recommended", rec))
        conf = rec.confidence
        if rec.savings_monthly is not None:
            rng = conf.savings_percent_range
            spread = f", {rng.low}% to {rng.high}%" if rng else ""
            payback = f"{rec.payback_months} months" if rec.payback_months else "none"
            lines += _wrap(f"saves ${_money(rec.savings_monthly)}/month ({rec.savings_percent}%; confidence "
                           f"{conf.level}{spread}), payback {payback}, migration {rec.migration_weeks} "
                           "engineer-weeks", "  ")
        else:
            lines += _wrap(f"confidence {conf.level}; no current cost to compare with", "  ")
        for why in rec.rationale[1:]:
            lines += _wrap(f"- {why}", "    ")
    if s.alternatives and top > 0:
        lines.append("  alternatives (best of each node pool first):")
        lines += [_placement_row("", a) for a in s.alternatives[:top]]
    losers = [r for r in s.rejected if r.reason != "HIGHER_COST"]
    if losers:
        lines.append("  not chosen:")
        for r in losers:
            lines += _wrap(f"{r.node_pool} {r.reason}: {r.message}", "    ")
    if s.assumptions:
        lines += _wrap("assumed: " + "; ".join(s.assumptions), "  ")
    return "\n".join(lines)


# ---- plot ----------------------------------------------------------------------------------------

def plot(reports: list[Report], path: Path) -> None:
    try:
        import matplotlib as mpl  # noqa: PLC0415 - optional, only for --plot

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'inferplace[plot]'") from None
    if path.suffix.lower() not in (".svg", ".png"):
        raise InputError(f"--plot {path}: the file name must end in .svg or .png")
    fig, axes = plt.subplots(len(reports), 1, figsize=(9, 4.5 * len(reports)), squeeze=False)
    for ax, rep in zip(axes[:, 0], reports, strict=True):
        pools = sorted({p.node_pool for p in rep.points})
        for pool in pools:
            pts = [p for p in rep.points if p.node_pool == pool]
            ax.scatter([p.tpot_p95_ms for p in pts], [p.cost_per_million for p in pts], s=18, label=pool, alpha=0.8)
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
    try:
        fig.savefig(path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc}") from None
    finally:
        plt.close(fig)


# ---- run -----------------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (InputError, CatalogError) as exc:
        print(f"inferplace recommend: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise InputError(f"--top must be >= 0, got {args.top}")
    cat = load_catalog()
    if args.prices is not None:
        docs = _documents(args.prices)
        try:
            cat = apply_price_overrides(cat, docs[0] if len(docs) == 1 else None)
        except OverrideError as exc:
            raise InputError(f"--prices {args.prices}: " + "; ".join(exc.problems)) from None
    docs = [d for path in _expand(args.filename) for d in _documents(path)]
    if not docs:
        raise InputError(f"{', '.join(map(str, args.filename))}: no InferenceWorkload manifests found")
    problems: list[str] = []
    parsed: list[tuple[Any, InferenceWorkload]] = []
    for i, doc in enumerate(docs):
        iw, errs = _parse(doc, i)
        problems += errs
        if iw is not None:
            parsed.append((doc, iw))
    results = plan([(iw.metadata.name, iw.spec) for _, iw in parsed], cat) if parsed else []
    answered: list[tuple[Any, InferenceWorkload, Report]] = []
    for (doc, iw), res in zip(parsed, results, strict=True):
        if isinstance(res, WorkloadError):
            problems += [f"{iw.metadata.name}: {p}" for p in res.problems]
        else:
            answered.append((doc, iw, res))
    for line in problems:
        print(f"error: {line}", file=sys.stderr)
    if answered:
        _emit(args, answered)
    if args.plot is not None and answered:
        plot([r for _, _, r in answered], args.plot)
    if problems:
        return EXIT_USAGE
    return EXIT_OK if all(r.status.recommendation for _, _, r in answered) else EXIT_NO_PLACEMENT


def _emit(args: argparse.Namespace, answered: list[tuple[Any, InferenceWorkload, Report]]) -> None:
    if args.output == "table":
        print("\n\n".join(format_table(r, iw, args.top) for _, iw, r in answered))
        return
    # The manifest as the user wrote it (nothing dropped or rewritten), with the status added.
    objects = [{**doc, "status": _status_dict(_trim(r.status, args.top))} for doc, _, r in answered]
    if args.output == "json":
        body: Any = objects[0] if len(objects) == 1 else {"apiVersion": "v1", "kind": "List", "items": objects}
        print(json.dumps(body, indent=2))
    else:
        print(yaml.safe_dump_all(objects, sort_keys=False, width=120), end="")
