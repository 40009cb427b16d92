"""A search shared by worker processes against the same search in one process (``netembed.runs.study``).

    python experiments/shared_search.py [--workers 1 4] [--seeds 8] [--seed-offset 0] [--budget 300]
                                        [--method netembed] [--out results/shared-search]

Each run is ``netembed search --workers W --storage sqlite:///... --evaluator table --seed S`` on its
own SQLite study (one worker: the one-process search, through the study);
its queries are numbered in the order they were answered. Prints ``netembed compare``'s tables
(medians over the seeds) with one row per worker count; their time column is the run's wall
seconds per query (on a 2-core machine W > 2 workers share the cores). Finished runs are kept
under ``--out`` and reused.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

from netembed._io import atomic_write
from netembed.benchmarks.compare import Run, format_summary, summarise
from netembed.cli import main as netembed
from netembed.errors import DataError
from netembed.runs.study import SharedStudy
from netembed.spaces.nb101.table import Benchmark


def one_run(method: str, workers: int, seed: int, budget: int, out: Path) -> Run:
    done, storage = out / "run.json", f"sqlite:///{(out / 'study.db').resolve()}"
    if not done.exists():
        out.mkdir(parents=True, exist_ok=True)
        argv = [
            "search",
            "--method",
            method,
            "--workers",
            str(workers),
            "--storage",
            storage,
            "--evaluator",
            "table",
            "--budget",
            str(budget),
            "--seed",
            str(seed),
            "--out",
            str(out),
            "--format",
            "json",
        ]
        started = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            if netembed(argv) != 0:
                raise SystemExit(f"failed: netembed {' '.join(argv)}")
        wall = time.perf_counter() - started
        settings = json.loads((out / "result.json").read_text())["settings"]
        study = SharedStudy(storage, "netembed", settings)
        evaluations = study.result(method, seed).evaluations
        text = json.dumps(
            {
                "accuracy": [e.accuracy for e in evaluations],
                "params": [e.params for e in evaluations],
                "wall_seconds": wall,
            }
        )
        atomic_write(done, lambda tmp: Path(tmp).write_text(text))
    saved = json.loads(done.read_text())
    label = f"{method} x{workers} workers" if workers > 1 else f"{method} (1 process)"
    return Run(label, seed, budget, saved["accuracy"], saved["params"], saved["wall_seconds"], 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--method", default="netembed")
    parser.add_argument("--out", default="results/shared-search")
    args = parser.parse_args()
    try:
        bench = Benchmark.load()
    except DataError as error:  # a fresh clone without the table: nothing to measure against
        print(f"shared_search skipped: {error}")
        return
    runs = [
        one_run(args.method, workers, seed, args.budget, Path(args.out) / f"{args.method}-w{workers}-seed{seed}")
        for seed in range(args.seed_offset, args.seed_offset + args.seeds)
        for workers in args.workers
    ]
    print(format_summary(summarise(runs, bench)).replace("search s/query", "  wall s/query"))


if __name__ == "__main__":
    main()
