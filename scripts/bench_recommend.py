"""Time the placement search and print the figures.

    python scripts/bench_recommend.py [--workloads 1000] [--repeat 200]

1. One workload's full search (resolve, enumerate, engine, TCO, report) in process, repeated:
   the median and p90 in milliseconds, process start and imports excluded.
2. N workloads in one multi-document YAML file through the real CLI
   (`inferplace recommend -f FILE -o json`), whole process wall time, start-up included.
The workloads are varied from the examples: model, traffic, token mix, SLOs and current placement.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from inferplace.api import InferenceWorkload
from inferplace.catalog import load_catalog
from inferplace.placement import recommend

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workloads", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()

    cat = load_catalog()
    example = yaml.safe_load((ROOT / "examples/01-steady-chat-llama-3.1-8b/workload.yaml").read_text())
    iw = InferenceWorkload.model_validate(example)
    items = [(iw.metadata.name, iw.spec)]
    now = datetime.now(UTC)
    recommend(items, cat, now)  # warm caches (catalog, numpy) once
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        recommend(items, cat, now)
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    print(f"one workload (examples/01), full search, {args.repeat} runs: median {statistics.median(times):.2f} ms, "
          f"p90 {times[int(0.9 * len(times))]:.2f} ms")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "workloads.yaml"
        path.write_text(yaml.safe_dump_all(workloads(args.workloads), sort_keys=False))
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "inferplace", "recommend", "-f", str(path), "-o", "json"],
                           capture_output=True, text=True, check=False, timeout=600)
        wall = time.perf_counter() - t0
    if r.returncode not in (0, 3):
        print(r.stderr[-2000:], file=sys.stderr)
        return 1
    answered = r.stdout.count('"recommendation"')
    print(f"{args.workloads} workloads in one multi-document file, `inferplace recommend -o json`, whole process: "
          f"{wall:.2f} s (exit {r.returncode}; {answered} with a recommendation)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
