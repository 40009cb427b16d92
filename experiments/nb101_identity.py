"""Does NAS-Bench-101 search still ask the same cells? Record, then check, every method's query sequence.

A refactor that should not change behaviour (the search-space protocol moved NAS-Bench-101 behind
``netembed.spaces``) is checked query by query: record the cell hashes each method asks on the
table, for a few seeds, before the change, and compare after it. One torch thread, so that the
thread count cannot be what differs.

    python experiments/nb101_identity.py --record results/nb101-sequences.json   # before
    python experiments/nb101_identity.py --check results/nb101-sequences.json    # after: identical?
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = os.environ["NETEMBED_THREADS"] = "1"

RUNS = [
    (method, "reward")
    for method in ("random", "regularized_evolution", "local_search", "tpe", "netembed", "netembed+pretrained")
]
RUNS.append(("netembed", "pareto"))


def sequences(seeds: int, budget: int) -> dict[str, dict[str, list[str]]]:
    import torch

    from netembed.runs import build_method
    from netembed.search import Budget, run_search
    from netembed.search.evaluators import TableEvaluator
    from netembed.search.objective import Objective
    from netembed.spaces.nb101.table import Benchmark

    torch.set_num_threads(1)
    bench = Benchmark.load()
    found: dict[str, dict[str, list[str]]] = {}
    for name, objective in RUNS:
        label = name if objective == "reward" else f"{name}+{objective}"
        for seed in range(seeds):
            method = build_method(name, seed, objective)
            result = run_search(method, TableEvaluator(bench), Objective(objective), Budget(queries=budget), seed=seed)
            found.setdefault(label, {})[str(seed)] = [e.cell.hash for e in result.evaluations]
            print(f"{label} seed {seed}: {len(result.evaluations)} queries", flush=True)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--record", type=Path, help="write the sequences here")
    action.add_argument("--check", type=Path, help="compare with the sequences recorded here")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=100)
    args = parser.parse_args()
    found = sequences(args.seeds, args.budget)
    if args.record:
        args.record.parent.mkdir(parents=True, exist_ok=True)
        args.record.write_text(json.dumps(found))
        print(f"recorded {sum(len(s) for s in found.values())} runs in {args.record}")
        return 0
    recorded, differ = json.loads(args.check.read_text()), 0
    for label, runs in recorded.items():
        for seed, hashes in runs.items():
            now = found.get(label, {}).get(seed)
            if now == hashes:
                print(f"{label} seed {seed}: identical ({len(hashes)} queries)")
                continue
            differ += 1
            first = next(
                (i for i, (a, b) in enumerate(zip(hashes, now or [])) if a != b), min(len(hashes), len(now or []))
            )
            print(f"{label} seed {seed}: DIFFERENT from query {first + 1}")
    print("all identical" if not differ else f"{differ} runs differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
