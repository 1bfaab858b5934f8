"""Time the engine on many scenarios and print the figures.

    python scripts/bench_engine.py [--n 10000] [--repeat 5]

Builds N random but valid scenarios (models x chips x loads x lengths x batches from the packaged
catalog), then times separately: resolving rows against the catalog, stacking them into arrays, and
the vectorized evaluation. Prints medians over the repeats.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from inferplace.catalog import load_catalog
from inferplace.engine import LOADS, predict
from inferplace.evidence.rows import resolve_row
from inferplace.placement.scenarios import ScenarioError, to_arrays

MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
          "mistralai/Mixtral-8x7B-Instruct-v0.1", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen2.5-72B-Instruct",
          "google/gemma-3-27b-it", "openai/gpt-oss-120b", "meta-llama/Llama-3.1-405B-Instruct"]
CHIPS = {"h100-sxm": 8, "h200-sxm": 8, "b200": 8, "l40s": 8, "inferentia2": 12, "trainium2": 16,
         "a100-80gb": 8}


def make_rows(n: int, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    cat = load_catalog()
    rows: list[dict[str, str]] = []
    while len(rows) < n:
        chip = rng.choice(list(CHIPS))
        tp = rng.choice([c for c in (1, 2, 4, 8, 16) if c <= CHIPS[chip]])
        wdt = rng.choice(cat.accelerator(chip).weight_dtypes)
        load = rng.choice(LOADS)
        row = {"scenario_id": str(len(rows)), "model": rng.choice(MODELS), "accelerator": chip,
               "chips_per_replica": str(tp), "replicas": "1", "weight_dtype": wdt, "kv_dtype": "bf16",
               "input_tokens": str(rng.choice([128, 512, 2000, 8000])),
               "output_tokens": str(rng.choice([128, 500, 2000])),
               "batch": str(rng.choice([1, 4, 16, 64])), "load": load,
               "ttft_slo_ms": "2000", "tpot_slo_ms": "100"}
        try:
            resolve_row(row, cat)
        except ScenarioError:
            continue
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cat = load_catalog()
    rows = make_rows(args.n)
    t_resolve, t_stack, t_eval = [], [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        scen = [resolve_row(r, cat) for r in rows]
        t1 = time.perf_counter()
        arrays = to_arrays(scen, cat)
        t2 = time.perf_counter()
        res = predict(arrays)
        t3 = time.perf_counter()
        t_resolve.append(t1 - t0)
        t_stack.append(t2 - t1)
        t_eval.append(t3 - t2)
    fits = int(res.fits.sum())
    med = statistics.median
    print(f"scenarios: {args.n} ({fits} fit), repeats: {args.repeat}")
    print(f"resolve rows against the catalog: {med(t_resolve) * 1e3:8.1f} ms")
    print(f"stack into arrays:                {med(t_stack) * 1e3:8.1f} ms")
    print(f"vectorized evaluation:            {med(t_eval) * 1e3:8.1f} ms")
    total = med(t_resolve) + med(t_stack) + med(t_eval)
    print(f"total:                            {total * 1e3:8.1f} ms "
          f"({args.n / total:,.0f} scenarios/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
