"""``netembed compare``: every search method side by side on the NAS-Bench-101 table.

Same seeds, same budget, same evaluator (the table: each new cell is one query, repeats are
free) and the same reward (test accuracy) for every method, as the benchmarking rules in
docs/design.md ask. Each finished run is written to ``OUT/runs/`` at once, so a killed comparison reruns only
the runs it had not finished. Runs can go in parallel processes (``jobs``), one torch thread each.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from netembed._io import atomic_write, save_figure
from netembed.objective import HV_REFERENCE, Objective, hypervolume_ratio, pareto_front
from netembed.search import SearchError

__all__ = [
    "CHECKPOINTS",
    "TOP_THRESHOLD",
    "Run",
    "format_summary",
    "median_hypervolume_ratio",
    "plot_runs",
    "run_compare",
    "summarise",
    "true_front",
]

#: Test accuracy of the 42nd best cell: reaching it means finding a top-0.01% cell.
TOP_THRESHOLD = 0.9423077
CHECKPOINTS = (50, 100, 150, 300)


@dataclass
class Run:
    """One method, one seed: the true test accuracy and parameters of every query, in order."""

    method: str
    seed: int
    budget: int
    accuracy: list[float]
    params: list[int]
    search_seconds: float
    evaluator_seconds: float

    def best_so_far(self) -> np.ndarray:
        return np.maximum.accumulate(np.asarray(self.accuracy))


def _run_path(out: Path, label: str, seed: int) -> Path:
    return out / "runs" / f"{label}-seed{seed}.json"


def run_label(method: str, objective: str) -> str:
    """The name a run is reported under: netembed searching for a front is ``netembed...+pareto``."""
    return f"{method}+pareto" if objective == "pareto" and method.startswith("netembed") else method


_BENCH = None  # each worker process loads the table once


def _worker_init(data: str | None, threads: int) -> None:
    global _BENCH
    import torch

    from netembed.bench import Benchmark

    torch.set_num_threads(threads)
    _BENCH = Benchmark.load(data)


def _one_run(task: tuple[str, str, int, int, str]) -> Run:
    from netembed.evaluators import TableEvaluator
    from netembed.runs import build_method
    from netembed.search import Budget, run_search

    method_name, objective, seed, budget, out = task
    result = run_search(
        build_method(method_name, seed, objective),
        TableEvaluator(_BENCH),
        Objective(objective),  # the accuracy reward: the figures are test accuracies
        Budget(queries=budget),
        seed=seed,
    )
    label = run_label(method_name, objective)
    run = Run(
        label,
        seed,
        budget,
        [e.accuracy for e in result.evaluations],
        [e.params for e in result.evaluations],
        result.search_seconds,
        result.evaluator_seconds,
    )
    path = _run_path(Path(out), label, seed)
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(asdict(run))))
    return run


def _load_run(path: Path, budget: int) -> Run | None:
    try:
        run = Run(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None  # unreadable: run it again
    return run if run.budget == budget and len(run.accuracy) == budget else None


def check_methods(methods: list[str], objective: str) -> None:
    """Refuse, before any work, an unknown method or one without ``objective``."""
    from netembed.runs import METHODS, build_method

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SearchError(f"methods must be among {', '.join(METHODS)}, got {unknown}")
    for method in methods:
        build_method(method, 0, objective)


def run_compare(
    methods: list[str],
    seeds: list[int],
    budget: int,
    out: str | os.PathLike,
    data: str | None = None,
    jobs: int = 1,
    progress: bool = True,
    objective: str = "reward",
) -> list[Run]:
    """Every (method, seed) run, reusing finished runs found under ``out/runs``.

    ``objective="pareto"``: the methods search for the (accuracy, parameters) front (netembed
    and random only); the figure that matters is then the hypervolume ratio.
    """
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    check_methods(methods, objective)
    if not isinstance(budget, int) or budget < 1:
        raise SearchError(f"budget must be a positive number of queries, got {budget!r}")
    if not isinstance(jobs, int) or jobs < 1:
        raise SearchError(f"jobs must be a positive integer, got {jobs!r}")
    out = Path(out)
    done = {(m, s): _load_run(_run_path(out, run_label(m, objective), s), budget) for m in methods for s in seeds}
    todo = [(m, objective, s, budget, str(out)) for (m, s), run in done.items() if run is None]
    bar = tqdm(total=len(done), initial=len(done) - len(todo), desc="compare", unit="run", disable=not progress)
    if todo:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        if jobs == 1:
            _worker_init(data, threads)
            results = map(_one_run, todo)
        else:  # spawn: a fresh interpreter per worker, no forked torch state
            pool = get_context("spawn").Pool(jobs, initializer=_worker_init, initargs=(data, threads))
            results = pool.imap_unordered(_one_run, todo)
        method_of = {run_label(m, objective): m for m in methods}
        for run in results:
            done[method_of[run.method], run.seed] = run
            bar.set_postfix(last=f"{run.method} seed {run.seed}", refresh=False)
            bar.update()
        if jobs > 1:
            pool.close()
            pool.join()
    bar.close()
    return [done[m, s] for m in methods for s in seeds]


def _median_or_none(values: list[float]) -> float | None:
    value = float(np.median(values))
    return value if np.isfinite(value) else None


def true_front(bench) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and parameters of the table's (accuracy, parameters) Pareto front."""
    front = pareto_front(bench.test_acc_108, bench.params.astype(float))
    return bench.test_acc_108[front], bench.params[front].astype(float)


def median_hypervolume_ratio(runs, front: tuple[np.ndarray, np.ndarray], queries: int) -> float:
    """Median over ``runs`` (anything with ``accuracy`` and ``params`` lists) of the hypervolume of
    their first ``queries`` cells over that of ``front`` (``true_front``), at ``HV_REFERENCE``."""
    return float(
        np.median(
            [
                hypervolume_ratio(
                    np.asarray(r.accuracy[:queries]), np.asarray(r.params[:queries], float), *front, *HV_REFERENCE
                )
                for r in runs
            ]
        )
    )


def summarise(runs: list[Run], bench, checkpoints=CHECKPOINTS) -> list[dict]:
    """One row per method: medians over seeds at each checkpoint, queries to a top-0.01% cell,
    the method's own time per query, and the hypervolume of the (accuracy, parameters) front it queried."""
    best = float(bench.test_acc_108.max())
    front = true_front(bench)
    rows = []
    for method in dict.fromkeys(r.method for r in runs):
        mine = [r for r in runs if r.method == method]
        budget = min(r.budget for r in mine)
        curves = np.stack([r.best_so_far()[:budget] for r in mine])
        first = [int(np.argmax(c >= TOP_THRESHOLD)) + 1 if c[-1] >= TOP_THRESHOLD else np.inf for c in curves]
        by_budget = {}
        for point in [c for c in checkpoints if c <= budget] or [budget]:
            found = curves[:, point - 1]
            by_budget[str(point)] = {
                "median_accuracy": float(np.median(found)),
                "median_regret": float(np.median(best - found)),
                "median_rank": float(np.median([bench.rank(a) for a in found])),
                "median_hypervolume_ratio": median_hypervolume_ratio(mine, front, point),
            }
        rows.append(
            {
                "method": method,
                "seeds": len(mine),
                "budget": budget,
                "median_queries_to_top": _median_or_none(first),
                "reached_top": int(np.sum(np.isfinite(first))),
                "by_budget": by_budget,
                "search_seconds_per_query": float(np.mean([r.search_seconds / len(r.accuracy) for r in mine])),
                "median_hypervolume_ratio": median_hypervolume_ratio(mine, front, budget),
            }
        )
    return rows


def format_summary(rows: list[dict]) -> str:
    """The comparison as three plain-text tables: checkpoints, queries to the top, and the
    hypervolume ratio of the (accuracy, parameters) front queried by each checkpoint."""
    points = list(dict.fromkeys(p for r in rows for p in r["by_budget"]))
    lines = [f"{'method':<22}" + "".join(f"{'@' + p + ' acc / regret pp / rank':>34}" for p in points)]
    for r in rows:
        cells = [r["by_budget"].get(p) for p in points]
        lines.append(
            f"{r['method']:<22}"
            + "".join(
                f"{'-':>34}"
                if c is None
                else f"{c['median_accuracy']:>17.4f} / {100 * c['median_regret']:5.2f} / {c['median_rank']:>5.0f}"
                for c in cells
            )
        )
    reference = next((r for r in rows if r["method"] == "regularized_evolution"), None)
    lines += [
        "",
        (
            f"{'method':<22}{'seeds':>6}{'queries to top-0.01%':>22}{'reached':>9}{'vs RE':>8}"
            f"{'search s/query':>16}{'HV ratio':>10}"
        ),
    ]
    for r in rows:
        q = r["median_queries_to_top"]
        ratio = "-"
        if reference is not None and q and reference["median_queries_to_top"]:
            ratio = f"{reference['median_queries_to_top'] / q:.1f}x"
        lines.append(
            f"{r['method']:<22}{r['seeds']:>6}{'not reached' if q is None else f'{q:.1f}':>22}"
            f"{r['reached_top']:>6}/{r['seeds']:<2}{ratio:>8}{r['search_seconds_per_query']:>16.3f}"
            f"{r['median_hypervolume_ratio']:>10.3f}"
        )
    lines += ["", f"{'method':<22}" + "".join(f"{'HV ratio @' + p:>16}" for p in points)]
    for r in rows:
        cells = [r["by_budget"].get(p) for p in points]
        lines.append(
            f"{r['method']:<22}"
            + "".join(f"{'-':>16}" if c is None else f"{c['median_hypervolume_ratio']:>16.3f}" for c in cells)
        )
    return "\n".join(lines)


def write_runs_csv(runs: list[Run], path: str | os.PathLike) -> Path:
    """Long format: method, seed, query, accuracy of that query, best accuracy so far."""
    from netembed.analysis import write_csv

    return write_csv(
        (
            {"method": r.method, "seed": r.seed, "query": q + 1, "accuracy": a, "best_so_far": b}
            for r in runs
            for q, (a, b) in enumerate(zip(r.accuracy, r.best_so_far()))
        ),
        path,
    )


def plot_runs(runs: list[Run], path: str | os.PathLike, best: float) -> Path:
    """Median and interquartile band of the best true test accuracy found vs queries, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for method in dict.fromkeys(r.method for r in runs):
        mine = [r for r in runs if r.method == method]
        budget = min(r.budget for r in mine)
        curves = np.stack([r.best_so_far()[:budget] for r in mine])
        x = np.arange(1, budget + 1)
        low, mid, high = np.percentile(curves, [25, 50, 75], axis=0)
        (line,) = ax.plot(x, mid, label=f"{method} ({len(mine)} seeds)")
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.15)
    ax.axhline(TOP_THRESHOLD, color="gray", ls="--", lw=1, label="top 0.01%")
    ax.axhline(best, color="black", ls=":", lw=1, label="best in the table")
    ax.set(
        xscale="log",
        xlabel="queries (unique cells labelled)",
        ylabel="test accuracy of best cell found",
        ylim=(0.925, best + 0.002),
        title="NAS-Bench-101: median and interquartile range over seeds",
    )
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)
