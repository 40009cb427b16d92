"""Wall time of a search and of a predictor fit on a quiet and on a busy machine, by thread count.

The question: how many threads should torch get? Its default (one per core) is right on a quiet
machine and oversubscribes a busy one. Measured side by side in one run: ``netembed search``
(netembed, table evaluator, 30 queries) and ``netembed train-predictor`` (424 table cells, 2
members, 300 steps), each with ``--threads 1``, ``--threads N`` (N = the usable CPUs) and the
default (``netembed.threads.choose``: the usable CPUs minus the load average), first with no
other load, then beside ``--busy`` processes that spin on the CPU (started a minute early, so the
load average sees them). Needs the table; writes ``OUT/threads.csv``.

    python experiments/bench_threads.py --busy 6

``--controller`` asks what the netembed controller's fixed single thread
(``netembed.threads.SEARCH_THREADS``, which makes a seed's search the same at any thread count)
costs: the controller's own seconds (the search's time less the evaluator's) of one search
(table evaluator, ``--budget`` queries, ``--seed``) with the controller on one thread and on
every usable CPU, best of ``--repeats``, in this process, on the machine as it is (no spinners;
the load average is printed beside each figure), and whether the two asked the same cells.

    python experiments/bench_threads.py --controller --budget 60 --seed 1001 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netembed.benchmarks.analysis import write_csv
from netembed.errors import DataError
from netembed.spaces.nb101.table import load_table
from netembed.threads import usable_cpus

JOBS = {
    "search": ["search", "--method", "netembed", "--evaluator", "table", "--budget", "30", "--seed", "0"],
    "fit": ["train-predictor", "--train-size", "424", "--test-size", "1000", "--members", "2", "--steps", "300"],
}


def timed(job: str, threads: str | None, work: Path) -> float:
    out = work / f"{job}-{threads}-{time.monotonic_ns()}"
    argv = [sys.executable, "-m", "netembed.cli", *JOBS[job], "--out", str(out), "--format", "json"]
    argv += [] if threads is None else ["--threads", threads]
    env = {k: v for k, v in os.environ.items() if k not in ("NETEMBED_THREADS", "OMP_NUM_THREADS")}
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def controller(budget: int, seed: int, repeats: int) -> None:
    """The controller's seconds on one thread and on every usable CPU (see the module docstring)."""
    import torch

    from netembed import threads
    from netembed.runs import build_method
    from netembed.search import Budget, run_search
    from netembed.search.evaluators import TableEvaluator
    from netembed.search.objective import Reward
    from netembed.spaces.nb101.table import Benchmark

    evaluator, asked = TableEvaluator(Benchmark.load()), {}
    for count in dict.fromkeys((1, usable_cpus())):
        threads.SEARCH_THREADS = count  # what NetembedSearch runs its torch work on
        torch.set_num_threads(count)
        times = []
        for _ in range(repeats):
            result = run_search(build_method("netembed", seed), evaluator, Reward(), Budget(queries=budget), seed=seed)
            times.append(result.search_seconds)
            asked.setdefault(count, [e.cell.hash for e in result.evaluations])
            print(f"controller on {count} thread(s): {times[-1]:.1f} s (load {os.getloadavg()[0]:.2f})", flush=True)
        print(f"controller on {count} thread(s): best of {repeats} {min(times):.1f} s for {budget} queries", flush=True)
    runs = list(asked.values())
    print("same cells at every count" if all(r == runs[0] for r in runs) else "the counts asked different cells")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--busy", type=int, default=6, help="competing busy processes in the second half")
    parser.add_argument("--out", default="results/threads")
    parser.add_argument("--controller", action="store_true", help="time the controller on 1 thread and on all")
    parser.add_argument("--budget", type=int, default=60, help="--controller: queries of the search")
    parser.add_argument("--seed", type=int, default=1001, help="--controller: its seed")
    parser.add_argument("--repeats", type=int, default=3, help="--controller: runs per count (best kept)")
    args = parser.parse_args()
    try:
        load_table(required=True)
    except DataError as exc:
        sys.exit(f"bench_threads: {exc}")
    if args.controller:
        controller(args.budget, args.seed, args.repeats)
        return
    cpus = usable_cpus()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for busy in (0, args.busy):
            spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
            try:
                if busy:
                    time.sleep(65)  # the 1-minute load average catches up
                for job in JOBS:
                    for threads in ("1", str(cpus), None):
                        seconds = timed(job, threads, Path(work))
                        rows.append({"busy": busy, "job": job, "threads": threads or "default", "seconds": round(seconds, 1),
                                     "load": round(os.getloadavg()[0], 2)})  # fmt: skip
                        print(rows[-1], flush=True)
            finally:
                for spinner in spinners:
                    spinner.kill()
    print(f"\n{'busy':>4} {'job':<7}" + "".join(f"{t:>12}" for t in ("1", str(cpus), "default")))
    for busy in (0, args.busy):
        for job in JOBS:
            mine = {r["threads"]: r["seconds"] for r in rows if r["busy"] == busy and r["job"] == job}
            print(f"{busy:>4} {job:<7}" + "".join(f"{mine[t]:>11.1f}s" for t in ("1", str(cpus), "default")))
    print(f"wrote {write_csv(rows, Path(args.out) / 'threads.csv')}")


if __name__ == "__main__":
    main()
