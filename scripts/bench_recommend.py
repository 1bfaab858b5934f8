"""Time the placement search and print the figures; with --baseline, old and new in one run.

    python scripts/bench_recommend.py [--workloads 1000] [--repeat 200] [--rounds 3] [--baseline DIR]
    python scripts/bench_recommend.py --phases [--workloads 1000] [--rounds 3]

1. One workload's full search (resolve, enumerate, engine, TCO, confidence, report) in process,
   repeated: the median and p90 in milliseconds, process start and imports excluded.
2. N workloads in one multi-document YAML file through the real CLI
   (`inferplace recommend -f FILE -o json`), whole process wall time, start-up included.
Each tree's bytecode is compiled once before the timed runs, as an installed package's is.
The workloads are varied from the examples: model, traffic, token mix, SLOs and current placement.

`--phases`: this tree only, in process, where the time of N workloads goes, phase by phase, in
milliseconds a workload: resolving the specs, the search (engine, costing, ranking, what-it-takes),
the confidence bounds and break-even, the status; searched in the command's chunks, with the
command's garbage-collector thresholds (the YAML reading, imports and output are not in it).

`--baseline DIR` names another checkout of this repository (e.g. `git worktree add /tmp/base
<commit>`): both trees are measured in alternating child processes, round after round, so a machine
whose speed drifts slows both alike; the report gives each tree's median over the rounds and the
new/old ratio of each round's pair.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.3-70B-Instruct", "mistralai/Mixtral-8x7B-v0.1",
          "Qwen/Qwen3-30B-A3B", "Qwen/Qwen2.5-72B", "google/gemma-3-27b-it", "mistralai/Mistral-7B-Instruct-v0.3",
          "Qwen/Qwen3-8B"]
CURRENT = [("p5.48xlarge", 1), ("p5en.48xlarge", 2), ("g6e.48xlarge", 4), ("p4de.24xlarge", 4),
           ("inf2.48xlarge", 12)]


def workloads(n: int, seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        prompt = rng.choice([300, 800, 1500, 4000, 8000])
        output = rng.choice([100, 250, 500, 1000])
        inst, chips = rng.choice(CURRENT)
        out.append({
            "apiVersion": "inferplace.io/v1alpha1", "kind": "InferenceWorkload",
            "metadata": {"name": f"w{i:05d}"},
            "spec": {
                "model": {"name": rng.choice(MODELS)},
                "traffic": {"requestsPerSecond": str(rng.choice([0.5, 2, 5, 20, 60])),
                            "promptTokens": {"mean": prompt, "p95": prompt * 2},
                            "outputTokens": {"mean": output, "p95": output * 2},
                            "peakToMeanRatio": str(rng.choice([1, 1.5, 2, 4]))},
                "slo": {"ttftP95Ms": rng.choice([500, 1000, 2000, 5000]), "tpotP95Ms": rng.choice([25, 40, 60, 100])},
                "current": {"instanceType": inst, "replicas": rng.choice([1, 2, 4]), "chipsPerReplica": chips},
                "constraints": {"capacityTypes": ["on-demand", "spot"]},
            },
        })
    return out


def one_workload_ms(repeat: int) -> list[float]:
    """In this process: the full search of examples/01, `repeat` times (the tree on sys.path decides the code)."""
    from inferplace import placement  # noqa: PLC0415
    from inferplace.api import InferenceWorkload  # noqa: PLC0415 - imported from the tree under test
    from inferplace.catalog import load_catalog  # noqa: PLC0415

    cat = load_catalog()
    docs = yaml.safe_load_all((ROOT / "examples/01-steady-chat-llama-3.1-8b/workload.yaml").read_text())
    example = next(d for d in docs if d.get("kind") == "InferenceWorkload")  # the file also creates its namespace
    iw = InferenceWorkload.model_validate(example)
    items = [(iw.metadata.name, iw.spec)]
    if hasattr(placement, "recommend"):
        import inspect  # noqa: PLC0415
        from datetime import UTC, datetime  # noqa: PLC0415

        now = datetime.now(UTC)
        if "book" in inspect.signature(placement.recommend).parameters:  # trees with a price book argument
            from inferplace.pricing import PriceBook, bundled  # noqa: PLC0415

            snapshot = bundled()
            book = PriceBook([snapshot], snapshot.default_region)

            def run() -> object:
                return placement.recommend(items, cat, book, now)  # type: ignore[call-arg]
        else:
            def run() -> object:
                return placement.recommend(items, cat, now)  # type: ignore[call-arg]
    else:  # trees from before the layering refactor (placement.plan, no clock)
        def run() -> object:
            return placement.plan(items, cat)  # type: ignore[attr-defined]
    run()  # warm caches (catalog, numpy) once
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def phases_ms(n: int, rounds: int) -> dict[str, list[float]]:
    """Per phase, ms a workload for the benchmark's `n` workloads, one figure per round (this tree)."""
    import gc  # noqa: PLC0415
    from datetime import UTC, datetime  # noqa: PLC0415

    from inferplace.api import InferenceWorkload  # noqa: PLC0415 - imported from the tree under test
    from inferplace.catalog import load_catalog  # noqa: PLC0415
    from inferplace.cli.main import COLLECTOR_THRESHOLDS  # noqa: PLC0415
    from inferplace.cli.recommend import CHUNK, reporting  # noqa: PLC0415
    from inferplace.placement import assess_outcomes  # noqa: PLC0415
    from inferplace.placement.search import search  # noqa: PLC0415
    from inferplace.placement.workload import RegionDefault, resolve  # noqa: PLC0415
    from inferplace.pricing import PriceBook, bundled  # noqa: PLC0415

    gc.set_threshold(*COLLECTOR_THRESHOLDS)  # as the command runs
    cat = load_catalog()
    snapshot = bundled()
    book = PriceBook([snapshot], snapshot.default_region)
    region = RegionDefault(book.default_region, "the price snapshot's default region")
    settings = reporting(5)  # the command's default --top
    now = datetime(2026, 12, 1, tzinfo=UTC)
    specs = [InferenceWorkload.model_validate(w) for w in workloads(n)]
    out: dict[str, list[float]] = {"resolve": [], "search": [], "confidence and break-even": [], "status": []}
    for _ in range(rounds):
        spent = dict.fromkeys(out, 0.0)
        for start in range(0, n, CHUNK):
            t0 = time.perf_counter()
            resolved = [resolve(iw.metadata.name, iw.spec, cat, region, settings) for iw in specs[start:start + CHUNK]]
            t1 = time.perf_counter()
            outcomes = search(resolved, cat, book)
            t2 = time.perf_counter()
            assessed = assess_outcomes([(o, o.alternatives(settings.report.max_alternatives)) for o in outcomes],
                                       cat, now, settings)
            t3 = time.perf_counter()
            for a in assessed:
                a.report(cat, now, settings=settings)
            t4 = time.perf_counter()
            for name, took in zip(out, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                spent[name] += took
        for name, figures in out.items():
            figures.append(spent[name] / n * 1e3)
    return out


def _env(tree: Path, cache: Path) -> dict[str, str]:
    """The environment a child of `tree` runs in: its sources first on the path, and its bytecode kept in
    `cache`, compiled by the first run (`warm`) as `pip install` compiles it, not again by every run where
    the environment sets PYTHONDONTWRITEBYTECODE (this machine's does: each run compiled every module)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(tree / "operator/src"), "PYTHONPYCACHEPREFIX": str(cache)}


def _warm(tree: Path, cache: Path) -> None:
    subprocess.run([sys.executable, "-m", "inferplace", "--help"], env=_env(tree, cache), stdout=subprocess.DEVNULL,
                   check=True, timeout=120)


def _child(tree: Path, cache: Path, repeat: int) -> list[float]:
    env = _env(tree, cache)
    out = subprocess.run([sys.executable, __file__, "--inner", str(repeat)], env=env, capture_output=True,
                         text=True, check=True, timeout=600)
    times: list[float] = json.loads(out.stdout)
    return times


def _cli_s(tree: Path, cache: Path, path: Path) -> float:
    env = _env(tree, cache)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "inferplace", "recommend", "-f", str(path), "-o", "json"], env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=600)
    return time.perf_counter() - t0


def _p90(xs: list[float]) -> float:
    return sorted(xs)[int(0.9 * len(xs))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workloads", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3,
                    help="with --baseline: alternating rounds; with --phases: repeats (default 3)")
    ap.add_argument("--baseline", type=Path, metavar="DIR", help="another checkout to measure against")
    ap.add_argument("--phases", action="store_true", help="this tree only: ms a workload, phase by phase")
    ap.add_argument("--inner", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.inner is not None:
        print(json.dumps(one_workload_ms(args.inner)))
        return 0
    if args.phases:
        figures = phases_ms(args.workloads, args.rounds)
        total = [sum(r) for r in zip(*figures.values(), strict=True)]
        print(f"{args.workloads} workloads in process, ms a workload, median of {args.rounds} rounds: "
              + ", ".join(f"{name} {statistics.median(v):.3f}" for name, v in figures.items())
              + f"; together {statistics.median(total):.3f}")
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workloads.yaml"
        path.write_text(yaml.safe_dump_all(workloads(args.workloads), sort_keys=False))
        if args.baseline is None:
            cache = Path(tmp) / "pycache"
            _warm(ROOT, cache)
            times = _child(ROOT, cache, args.repeat)
            print(f"one workload (examples/01), full search, {args.repeat} runs: median "
                  f"{statistics.median(times):.2f} ms, p90 {_p90(times):.2f} ms")
            print(f"{args.workloads} workloads in one file, `inferplace recommend -o json`, whole process: "
                  f"{_cli_s(ROOT, cache, path):.2f} s")
            return 0
        trees = {"new": ROOT, "old": args.baseline.resolve()}
        caches = {name: Path(tmp) / f"pycache-{name}" for name in trees}
        for name, tree in trees.items():
            _warm(tree, caches[name])
        one: dict[str, list[float]] = {"new": [], "old": []}
        cli: dict[str, list[float]] = {"new": [], "old": []}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                one[name].append(statistics.median(_child(tree, caches[name], args.repeat)))
                cli[name].append(_cli_s(tree, caches[name], path))
        for label, figures, unit in (("one workload (examples/01), full search, in process", one, "ms"),
                                     (f"{args.workloads} workloads, `inferplace recommend -o json`, whole process",
                                      cli, "s")):
            ratios = [n / o for n, o in zip(figures["new"], figures["old"], strict=True)]
            print(f"{label}: new median {statistics.median(figures['new']):.2f} {unit}, old median "
                  f"{statistics.median(figures['old']):.2f} {unit} ({args.rounds} alternating rounds); "
                  f"new/old {statistics.median(ratios):.2f} (per round: {', '.join(f'{r:.2f}' for r in ratios)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
