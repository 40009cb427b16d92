"""NAS-Bench-201 search: queries to a top-10 architecture, side by side, on each data set's validation column.

Every method runs in the same harness (``netembed.search.run_search``) with the same seeds and
budget; a query is one new architecture index labelled with the data set's validation accuracy
(12 epochs), and each run reports the test accuracy of its best-by-validation pick. Runs are saved
one file each under ``--out`` and reused when their settings match, so a killed run loses only
the searches in flight. Printed: per method, the Kaplan-Meier median of queries to a top-10
architecture (by validation, of 15,625) with its bootstrap 95% interval, how many seeds reached
it, the ratio to regularized evolution paired by seed, and the mean test accuracy of the pick at
50 / 100 / 300 queries beside the data set's best.

    python experiments/nb201_search.py --dataset cifar10 --seeds 60 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

METHODS = ("random", "regularized_evolution", "local_search", "tpe", "netembed")
CHECKPOINTS = (50, 100, 300)


def one_run(task: tuple[str, int, int, str, str, str | None]) -> dict:
    """One seeded search, saved to ``path`` at once."""
    import torch

    from netembed.evaluators import NB201TableEvaluator
    from netembed.objective import Objective
    from netembed.runs import build_method
    from netembed.search import Budget, run_search
    from netembed.spaces.nb201 import Table

    torch.set_num_threads(1)
    method_name, seed, budget, dataset, path, data = task
    table = Table.load(data)
    method = build_method(method_name, seed, space="nb201")
    result = run_search(method, NB201TableEvaluator(table, dataset), Objective("reward"), Budget(queries=budget), seed=seed)
    rows = [table.row_of(e.cell) for e in result.evaluations]
    run = {
        "method": method_name,
        "seed": seed,
        "budget": budget,
        "dataset": dataset,
        "settings": method.settings(),
        "rows": rows,
        "search_seconds": result.search_seconds,
    }
    Path(path).write_text(json.dumps(run))
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data", default=None, help="the NAS-Bench-201 table (default: $NETEMBED_NB201_DATA or ../shared/data/nb201)")
    parser.add_argument("--out", type=Path, default=Path("results/nb201-search"))
    args = parser.parse_args()

    import numpy as np

    from netembed import stats
    from netembed.runs import build_method
    from netembed.spaces.nb201 import Table

    table = Table.load(args.data)
    table.check_dataset(args.dataset)
    folder = args.out / args.dataset
    folder.mkdir(parents=True, exist_ok=True)
    seeds = range(args.seed_offset, args.seed_offset + args.seeds)
    runs, todo = {}, []
    for method in args.methods:
        settings = build_method(method, 0, space="nb201").settings()
        for seed in seeds:
            path = folder / f"{method}-seed{seed}.json"
            saved = json.loads(path.read_text()) if path.exists() else None
            if saved and saved["settings"] == settings and saved["budget"] == args.budget:
                runs[(method, seed)] = saved
            else:
                todo.append((method, seed, args.budget, args.dataset, str(path), args.data))
    print(f"{len(runs)} saved runs reused, {len(todo)} to run", flush=True)
    with ProcessPoolExecutor(args.jobs) as pool:
        for done, run in enumerate(pool.map(one_run, todo), 1):
            runs[(run["method"], run["seed"])] = run
            if done % 10 == 0 or done == len(todo):
                print(f"  {done}/{len(todo)} runs", flush=True)

    val, test = table.val[args.dataset], table.test[args.dataset]
    goal = float(np.sort(val)[-10])
    print(
        f"\nNAS-Bench-201 {args.dataset}, 12-epoch accuracies, {len(seeds)} seeds ({seeds.start}-{seeds.stop - 1}), "
        f"{args.budget} queries; a top-10 architecture: validation >= {goal:.4f}; "
        f"best validation {val.max():.4f}, best test {test.max():.4f} (test of the best-by-validation: {test[np.argmax(val)]:.4f})"
    )
    header = "| method | queries to a top-10 architecture | reached | vs regularized evolution (same seed) | " + " | ".join(
        f"test acc of pick @{c}" for c in CHECKPOINTS
    ) + " |"
    print(header + "\n" + "|---" * (4 + len(CHECKPOINTS)) + "|")
    queries = {}
    for method in args.methods:
        per_seed = [runs[(method, s)] for s in seeds]
        queries[method] = [stats.queries_to_reach(val[r["rows"]], goal) for r in per_seed]
    for method in args.methods:
        median = stats.bootstrap_queries_median(queries[method], args.budget)
        reached = sum(q <= args.budget for q in queries[method])
        shown = "not reached" if median.estimate is None else f"{median.estimate:g} [{median.low:g}, {median.high:g}]"
        if median.estimate is not None and median.high is None:
            shown = f"{median.estimate:g} [{median.low:g}, >{args.budget}]"
        if method == "regularized_evolution" or "regularized_evolution" not in queries:
            ratio = "1x" if method == "regularized_evolution" else "-"
        else:
            paired = stats.paired_comparison(queries["regularized_evolution"], queries[method], args.budget)
            ratio = f"{paired.ratio.estimate:.2f}x [{paired.ratio.low:.2f}, {paired.ratio.high:.2f}]"
        picks = []
        for c in CHECKPOINTS:
            chosen = []
            for s in seeds:
                rows = np.array(runs[(method, s)]["rows"][:c])
                chosen.append(test[rows[np.argmax(val[rows])]])
            picks.append(f"{np.mean(chosen):.4f}")
        print(f"| {method} | {shown} | {reached}/{len(seeds)} | {ratio} | " + " | ".join(picks) + " |")
    overhead = {m: np.mean([runs[(m, s)]["search_seconds"] / args.budget for s in seeds]) for m in args.methods}
    print("search overhead, s/query: " + ", ".join(f"{m} {v:.3f}" for m, v in overhead.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
