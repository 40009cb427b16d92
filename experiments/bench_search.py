"""The search's own overhead (everything but the evaluator) per query, at the issue's 150
queries, one run at a time on the table (no other work on the machine).

    python experiments/bench_search.py [--methods netembed tpe] [--seeds 3] [--budget 150] [--format json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from netembed.errors import DataError
from netembed.runs import METHODS, build_method
from netembed.search import Budget, run_search
from netembed.search.evaluators import TableEvaluator
from netembed.search.objective import Reward
from netembed.spaces.nb101.table import Benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    try:
        evaluator = TableEvaluator(Benchmark.load())
    except DataError as error:  # a fresh clone without the table: nothing to measure against
        print(f"bench_search skipped: {error}")
        return
    rows = []
    for name in args.methods:
        overhead = []
        for seed in range(args.seeds):
            result = run_search(build_method(name, seed), evaluator, Reward(), Budget(queries=args.budget), seed=seed)
            overhead.append(result.search_seconds / len(result.evaluations))
        rows.append(
            {
                "method": name,
                "budget": args.budget,
                "seeds": args.seeds,
                "mean_search_seconds_per_query": float(np.mean(overhead)),
                "max_search_seconds_per_query": float(np.max(overhead)),
            }
        )
        if args.format == "text":
            print(
                f"{name:<24} {rows[-1]['mean_search_seconds_per_query']:.3f} s/query mean over {args.seeds} seeds "
                f"(max {rows[-1]['max_search_seconds_per_query']:.3f}) at {args.budget} queries",
                flush=True,
            )
    if args.format == "json":
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
