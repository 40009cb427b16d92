"""``netembed compare``: every search method side by side on the NAS-Bench-101 table.

Same seeds, same budget, same evaluator (the table: each new cell is one query, repeats are
free) and the same reward (test accuracy) for every method, as the benchmarking rules in
docs/design.md ask. Each finished run is written to ``OUT/runs/`` at once, with the method's
settings, so a killed comparison reruns only the runs it had not finished, and a run of other
settings (an older default) is run again rather than mixed in. Runs can go in parallel processes
(``jobs``), one torch thread each.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from netembed._io import as_saved, atomic_write, check_writable, parse_json, save_figure
from netembed.benchmarks import stats
from netembed.runs import COLD_METHODS
from netembed.search import SearchError
from netembed.search.objective import HV_REFERENCE, Objective, hypervolume_ratio, pareto_front

if TYPE_CHECKING:
    from netembed.spaces.nb101.table import Benchmark

__all__ = [
    "CHECKPOINTS",
    "NB201_TOP",
    "REFERENCE",
    "TOP_THRESHOLD",
    "Run",
    "compare_methods",
    "format_summary",
    "format_summary_nb201",
    "hypervolume_ratios",
    "median_hypervolume_ratio",
    "plot_runs",
    "queries_to_top",
    "run_compare",
    "summarise",
    "summarise_nb201",
    "table_run",
    "true_front",
    "write_report",
]

#: Test accuracy of the 42nd best cell: reaching it means finding a top-0.01% cell.
TOP_THRESHOLD = 0.9423077
CHECKPOINTS = (50, 100, 150, 300)
#: The method every other is compared with, seed by seed.
REFERENCE = "regularized_evolution"


@dataclass
class Run:
    """One method, one seed: the true test accuracy and parameters of every query, in order, and
    the method's ``settings()`` (as JSON reads them back). NAS-Bench-201: ``accuracy`` is the
    validation accuracy the search read, ``test`` the test accuracy of each query."""

    method: str
    seed: int
    budget: int
    accuracy: list[float]
    params: list[int]
    search_seconds: float
    evaluator_seconds: float
    settings: dict = field(default_factory=dict)
    test: list[float] | None = None

    def best_so_far(self) -> np.ndarray:
        return np.maximum.accumulate(np.asarray(self.accuracy))


def _run_path(out: Path, label: str, seed: int) -> Path:
    return out / "runs" / f"{label}-seed{seed}.json"


def run_label(method: str, objective: str) -> str:
    """The name a run is reported under: netembed searching for a front is ``netembed...+pareto``."""
    return f"{method}+pareto" if objective == "pareto" and method.startswith("netembed") else method


_BENCH = None  # each worker process loads the table once


def _worker_init(data: str | None, threads: int, space: str = "nb101") -> None:
    global _BENCH
    import torch

    from netembed import spaces

    torch.set_num_threads(threads)
    _BENCH = spaces.get(space).load_table(data)


def table_run(
    method,
    label: str,
    seed: int,
    budget: int,
    bench: Benchmark,
    path: Path,
    objective: str = "reward",
    settings=None,
    dataset: str | None = None,
) -> Run:
    """``method`` (seeded ``seed``) for ``budget`` queries on the table, saved to ``path`` at once
    under ``label`` with ``settings`` (default: the method's own): compare's accounting, which
    variants measured elsewhere (experiments/) share. ``dataset``: a NAS-Bench-201 table's data
    set, whose validation accuracy the search reads (the test accuracy of each query is kept)."""
    from netembed.search import Budget, run_search
    from netembed.search.evaluators import NB201TableEvaluator, TableEvaluator

    evaluator = TableEvaluator(bench) if dataset is None else NB201TableEvaluator(bench, dataset)
    result = run_search(
        method,
        evaluator,
        Objective(objective),  # the accuracy reward: the figures are test (NB201: validation) accuracies
        Budget(queries=budget),
        seed=seed,
    )
    test = None if dataset is None else [float(bench.test[dataset][bench.row_of(e.cell)]) for e in result.evaluations]
    run = Run(
        label,
        seed,
        budget,
        [e.accuracy for e in result.evaluations],
        [e.params for e in result.evaluations],
        result.search_seconds,
        result.evaluator_seconds,
        as_saved(settings if settings is not None else method.settings()),
        test,
    )
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(asdict(run))))
    return run


def _one_run(task: tuple[str, str, int, int, str, str, str | None]) -> Run:
    from netembed.runs import build_method

    method_name, objective, seed, budget, out, space, dataset = task
    label = run_label(method_name, objective)
    method = build_method(method_name, seed, objective, space=space)
    path = _run_path(Path(out), label, seed)
    return table_run(method, label, seed, budget, _BENCH, path, objective, _saved(method, dataset), dataset)


def _saved(method, dataset: str | None) -> dict:
    """What a saved run must match: the method's settings, and a NAS-Bench-201 run's data set."""
    return as_saved(method.settings() | ({} if dataset is None else {"dataset": dataset}))


def _load_run(path: Path, budget: int, settings: dict) -> Run | None:
    """The saved run at ``path`` if it is whole and of a method with ``settings``, else None (run it)."""
    try:
        run = Run(**parse_json(path.read_text(), path))  # a DataError of parse_json is a ValueError
    except (OSError, ValueError, TypeError):
        return None  # unreadable: run it again
    return run if run.budget == budget and len(run.accuracy) == budget and run.settings == settings else None


def check_methods(
    methods: list[str], objective: str, space: str = "nb101", dataset: str | None = None
) -> dict[str, dict]:
    """Refuse, before any work, an unknown method or one without ``objective``; returns each
    method's settings in ``space`` (as a saved run holds them)."""
    from netembed.runs import METHODS, build_method

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise SearchError(f"methods must be among {', '.join(METHODS)}, got {unknown}")
    if len(set(methods)) < len(methods):
        raise SearchError(f"methods must each be named once, got {list(methods)}")
    if "netembed+warm" in methods and (space == "nb101" or dataset is not None):  # checked again once resolved
        from netembed.models import hub

        target = "accuracy" if space == "nb101" else f"{dataset}_val"
        hub.check_unseen(f"surrogate-{space}/accuracy", target, "netembed+warm's surrogate", SearchError)
    return {method: _saved(build_method(method, 0, objective, space=space), dataset) for method in methods}


def compare_methods(
    methods: Sequence[str] = COLD_METHODS, seeds: Sequence[int] = range(30), budget: int = 300, out="results/compare",
    data=None, jobs: int = 1, progress: bool = True,
    objective: str = "reward", space: str = "nb101", dataset: str | None = None, announce=None,
) -> tuple[list[dict], str]:  # fmt: skip
    """``netembed compare``: the methods checked before the table loads, ``run_compare`` on the
    space's table (NAS-Bench-201: ``dataset``, None the table's first), and ``write_report``'s
    rows and text.

    Args:
        seeds: number of seeds
        budget: queries per run
        jobs: parallel processes
        out: folder for runs/, CSV, JSON and PNG; rerun to resume
        objective: reward: best test accuracy; pareto: front of accuracy vs parameters (random, netembed)
    """
    from netembed import spaces

    check_methods(methods, objective, space, dataset)  # before the table loads
    table = spaces.get(space).load_table(data)
    dataset = None if space == "nb101" else table.check_dataset(dataset or table.datasets[0])
    runs = run_compare(
        methods, list(seeds), budget, out, data=data, jobs=jobs, progress=progress, objective=objective,
        announce=announce, space=space, dataset=dataset,
    )  # fmt: skip
    return write_report(runs, table, out, dataset)


def run_compare(
    methods: list[str],
    seeds: list[int],
    budget: int,
    out: str | os.PathLike,
    data: str | None = None,
    jobs: int = 1,
    progress: bool = True,
    objective: str = "reward",
    announce=None,
    space: str = "nb101",
    dataset: str | None = None,
) -> list[Run]:
    """Every (method, seed) run, reusing finished runs found under ``out/runs``.

    ``space``: the search space whose table labels the queries; NAS-Bench-201 needs its
    ``dataset`` (whose validation accuracy the searches read).

    ``objective="pareto"``: the methods search for the (accuracy, parameters) front (netembed
    and random only); the figure that matters is then the hypervolume ratio. ``announce(line)``
    hears the plan before any run starts. The runs go seed by seed (every method's first seed
    first), so the progress bar's estimate of the time left rests on a measured run of every
    method from early on.
    """
    settings = _check_compare(methods, budget, jobs, objective, space, dataset)
    out = check_writable(out)
    done = {
        (m, s): _load_run(_run_path(out, run_label(m, objective), s), budget, settings[m])
        for m in methods
        for s in seeds
    }
    todo = [(m, objective, s, budget, str(out), space, dataset) for s in seeds for m in methods if done[m, s] is None]
    if announce is not None:
        redo = sum(1 for m, _, s, *_ in todo if _run_path(out, run_label(m, objective), s).exists())
        announce(_plan(methods, seeds, budget, len(done) - len(todo), jobs, out, redo))
    _run_todo(todo, done, methods, objective, data, jobs, space, progress)
    return [done[m, s] for m in methods for s in seeds]


def _check_compare(
    methods: list[str], budget: int, jobs: int, objective: str, space: str, dataset: str | None
) -> dict[str, dict]:
    """Refuse a comparison that cannot run, before any work; returns each method's settings (``check_methods``)."""
    if (dataset is None) != (space == "nb101"):
        raise SearchError(f"a data set names a NAS-Bench-201 column: none for nb101, one for nb201, got {dataset!r}")
    if space != "nb101" and objective != "reward":
        raise SearchError(f"a {space} comparison searches for the best accuracy (objective reward), got {objective!r}")
    settings = check_methods(methods, objective, space, dataset)
    if not isinstance(budget, int) or budget < 1:
        raise SearchError(f"budget must be a positive number of queries, got {budget!r}")
    if not isinstance(jobs, int) or jobs < 1:
        raise SearchError(f"jobs must be a positive integer, got {jobs!r}")
    return settings


def _run_todo(
    todo: list[tuple],
    done: dict[tuple[str, int], Run | None],
    methods: list[str],
    objective: str,
    data: str | None,
    jobs: int,
    space: str,
    progress: bool,
) -> None:
    """Run ``todo`` into ``done`` under a progress bar whose estimate of the time left follows the finished runs."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(done), initial=len(done) - len(todo), desc="compare", unit="run", disable=not progress)
    method_of = {run_label(m, objective): m for m in methods}
    left = {m: sum(1 for t in todo if t[0] == m) for m in methods}
    measured: dict[str, list[float]] = {m: [] for m in methods}
    with bar:  # closed on an error too: the error gets a line of its own
        for run in _execute(todo, data, jobs, space):
            method = method_of[run.method]
            done[method, run.seed] = run
            left[method] -= 1
            measured[method].append(run.search_seconds + run.evaluator_seconds)
            bar.set_postfix(last=f"{run.method} seed {run.seed}", left=_time_left(left, measured, jobs), refresh=False)
            bar.update()


def _execute(todo: list[tuple], data: str | None, jobs: int, space: str = "nb101"):
    """The runs of ``todo`` as they finish, in this process or in ``jobs`` spawned ones (fresh
    interpreters: no forked torch state), the CPU threads shared between them."""
    from multiprocessing import get_context

    from netembed import threads as cpu

    if not todo:
        return
    threads = max(1, cpu.choose() // jobs)
    if jobs == 1:
        _worker_init(data, threads, space)
        yield from map(_one_run, todo)
        return
    with get_context("spawn").Pool(jobs, initializer=_worker_init, initargs=(data, threads, space)) as pool:
        yield from pool.imap_unordered(_one_run, todo)
        pool.close()
        pool.join()


def _plan(methods: list[str], seeds: list[int], budget: int, finished: int, jobs: int, out: Path, redo: int = 0) -> str:
    """The line announcing a comparison; ``redo``: saved runs that are run again (other settings,
    e.g. an older default, another budget, or unreadable)."""
    runs = len(methods) * len(seeds)
    slow = [m for m in methods if m.startswith("netembed")]
    cost = (
        f"; a {slow[0]} run refits its surrogate every round (minutes per run on 2 cores), the baselines take "
        "seconds, so expect hours: the bar's estimate of the time left follows the finished runs"
        if slow
        else ""
    )
    return (
        f"compare: {len(methods)} method(s) x {len(seeds)} seed(s) x {budget} queries = {runs} runs, "
        f"{finished} already in {out / 'runs'}, {runs - finished} to run in {jobs} process(es)"
        + (f" ({redo} saved with other settings or another budget, or unreadable: run again)" if redo else "")
        + cost
    )


def _time_left(left: dict[str, int], measured: dict[str, list[float]], jobs: int) -> str:
    """Time left: each method's runs still to go times its mean measured run, over the processes;
    "measuring" until every method with runs to go has finished one."""
    if any(left[m] and not measured[m] for m in left):
        return "measuring"
    seconds = sum(left[m] * float(np.mean(measured[m])) for m in left if left[m]) / jobs
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def true_front(bench: Benchmark) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and parameters of the table's (accuracy, parameters) Pareto front."""
    front = pareto_front(bench.test_acc_108, bench.params.astype(float))
    return bench.test_acc_108[front], bench.params[front].astype(float)


def hypervolume_ratios(runs: list[Run], front: tuple[np.ndarray, np.ndarray], queries: int) -> list[float]:
    """Per run in ``runs`` (anything with ``accuracy`` and ``params`` lists): the hypervolume of its
    first ``queries`` cells over that of ``front`` (``true_front``), at ``HV_REFERENCE``."""
    return [
        hypervolume_ratio(
            np.asarray(r.accuracy[:queries]), np.asarray(r.params[:queries], float), *front, *HV_REFERENCE
        )
        for r in runs
    ]


def median_hypervolume_ratio(runs: list[Run], front: tuple[np.ndarray, np.ndarray], queries: int) -> float:
    """Median over ``runs`` of ``hypervolume_ratios``."""
    return float(np.median(hypervolume_ratios(runs, front, queries)))


def queries_to_top(run: Run, budget: int | None = None, goal: float = TOP_THRESHOLD) -> float:
    """Queries until ``run`` first found a cell of at least ``goal`` (default: a top-0.01% one)
    within its first ``budget`` (default: all), infinity if it found none: censored at the budget."""
    return stats.queries_to_reach(run.accuracy[: run.budget if budget is None else budget], goal)


def _interval(prefix: str, interval: stats.Interval) -> dict:
    return {f"{prefix}_low": interval.low, f"{prefix}_high": interval.high}


def _paired(method: list[Run], reference: list[Run], seed: int, goal: float = TOP_THRESHOLD) -> dict:
    """The paired fields of ``method`` against ``reference`` over the seeds both ran ({} if none)."""
    theirs = {r.seed: r for r in reference}
    mine = [r for r in method if r.seed in theirs]
    if not mine:
        return {}
    budget = min(r.budget for r in [*method, *reference])  # both cut to the budget they share
    paired = stats.paired_comparison(
        [queries_to_top(theirs[r.seed], budget, goal) for r in mine],
        [queries_to_top(r, budget, goal) for r in mine],
        budget,
        seed=seed,
    )
    return {
        "paired_seeds": paired.pairs,
        "paired_budget": budget,
        "queries_ratio_vs_reference": paired.ratio.estimate,
        **_interval("queries_ratio_vs_reference", paired.ratio),
        "share_ahead_of_reference": paired.share_ahead.estimate,
        **_interval("share_ahead_of_reference", paired.share_ahead),
        "pairs_only_method_reached": paired.method_only,
        "pairs_only_reference_reached": paired.reference_only,
        "pairs_neither_reached": paired.neither,
    }


def summarise(
    runs: list[Run], bench: Benchmark, checkpoints=CHECKPOINTS, reference: str | None = REFERENCE, seed: int = 0
) -> list[dict]:
    """One row per method: medians over seeds at each checkpoint, queries to a top-0.01% cell,
    the method's own time per query, and the hypervolume of the (accuracy, parameters) front it queried.

    Every median comes with a percentile-bootstrap 95% interval over seeds (``stats``, seeded by
    ``seed``): ``NAME_low`` / ``NAME_high`` beside ``NAME`` at the top level, and for the
    checkpoints in ``by_budget_interval[point]`` (``by_budget`` itself keeps its four medians).
    Queries to the top: the Kaplan-Meier median (``stats.km_median``), a run that found no top
    cell being censored at the budget (kept, as "more than the budget"); ``None`` = not reached,
    i.e. at most half the seeds reached (the median then exceeds ``budget``); a ``None`` bound
    is open above the budget. ``reached_top`` counts the seeds that reached.

    When ``reference`` is among the methods, every other method's row also has the paired
    comparison with it over the seeds both ran, each cut to the budget they share
    (``stats.paired_comparison``: a run that did not reach counts the budget, a lower bound;
    pairs where neither reached are ties): ``reference``, ``paired_seeds``, ``paired_budget``,
    ``queries_ratio_vs_reference`` (median over seeds of the reference's queries / the
    method's: 2.0 = half as many) with ``_low`` / ``_high``, ``share_ahead_of_reference`` (share
    of seeds where the method needed fewer queries, ties half) with ``_low`` / ``_high``, and the
    counts ``pairs_only_method_reached``, ``pairs_only_reference_reached``, ``pairs_neither_reached``.
    The reference's own row has ``reference`` only."""
    front = true_front(bench)
    methods = list(dict.fromkeys(r.method for r in runs))
    by_method = {m: [r for r in runs if r.method == m] for m in methods}
    rows = []
    for method, mine in by_method.items():
        budget = min(r.budget for r in mine)
        curves = np.stack([r.best_so_far()[:budget] for r in mine])
        first = [queries_to_top(r, budget) for r in mine]
        reached = np.isfinite(first)
        queries = stats.bootstrap_queries_median(first, budget, seed=seed)
        points = [c for c in checkpoints if c <= budget] or [budget]
        by_budget, by_budget_interval = _at_checkpoints(mine, curves, points, bench, front, seed)
        hypervolume = stats.bootstrap_median(hypervolume_ratios(mine, front, budget), seed=seed)
        rows.append(
            {
                "method": method,
                "seeds": len(mine),
                "budget": budget,
                "median_queries_to_top": queries.estimate,
                "reached_top": int(reached.sum()),
                "by_budget": by_budget,
                "search_seconds_per_query": float(np.mean([r.search_seconds / len(r.accuracy) for r in mine])),
                "median_hypervolume_ratio": hypervolume.estimate,
                **_interval("median_queries_to_top", queries),
                **_interval("median_hypervolume_ratio", hypervolume),
                "by_budget_interval": by_budget_interval,
            }
        )
        if reference in by_method:
            rows[-1]["reference"] = reference
            if method != reference:
                rows[-1] |= _paired(mine, by_method[reference], seed)
    return rows


def _at_checkpoints(
    runs: list[Run],
    curves: np.ndarray,
    points: list[int],
    bench: Benchmark,
    front: tuple[np.ndarray, np.ndarray],
    seed: int,
):
    """Medians over seeds at each checkpoint (accuracy found, regret, rank, hypervolume ratio), and
    their bootstrap intervals as ``NAME_low`` / ``NAME_high``."""
    best = float(bench.test_acc_108.max())
    by_budget, by_budget_interval = {}, {}
    for point in points:
        found = curves[:, point - 1]
        figures = {
            "median_accuracy": found,
            "median_regret": best - found,
            "median_rank": [bench.rank(a) for a in found],
            "median_hypervolume_ratio": hypervolume_ratios(runs, front, point),
        }
        intervals = {name: stats.bootstrap_median(values, seed=seed) for name, values in figures.items()}
        by_budget[str(point)] = {name: i.estimate for name, i in intervals.items()}
        by_budget_interval[str(point)] = {k: v for name, i in intervals.items() for k, v in _interval(name, i).items()}
    return by_budget, by_budget_interval


def _number(value: float | None, budget: int) -> str:
    """``65.5``, ``52`` (no trailing zeros), or ``>300`` for a bound beyond the budget."""
    return f">{budget}" if value is None else f"{value:.1f}".rstrip("0").rstrip(".")


def _with_interval(value: float, low: float | None, high: float | None, fmt: str, scale: float = 1) -> str:
    """``value [low, high]`` in ``fmt`` (times ``scale``), or the value alone where the bounds are unknown."""
    if low is None or high is None:
        return format(scale * value, fmt)
    return f"{scale * value:{fmt}} [{scale * low:{fmt}}, {scale * high:{fmt}}]"


def _checkpoint_cell(row: dict, point: str, name: str, fmt: str, scale: float = 1) -> str:
    bounds = row.get("by_budget_interval", {}).get(point, {})
    value = row["by_budget"][point][name]
    return _with_interval(value, bounds.get(f"{name}_low"), bounds.get(f"{name}_high"), fmt, scale)


def _queries_cell(r: dict) -> str:
    """The median queries to a top cell, its interval and how many seeds reached one."""
    budget, q = r["budget"], r["median_queries_to_top"]
    seeds = f"({r['reached_top']}/{r['seeds']} seeds reached)"
    median = "median not reached" if q is None else _number(q, budget)
    if "median_queries_to_top_low" not in r or (q is None and r["median_queries_to_top_low"] is None):
        return f"{median} {seeds}"
    low, high = r["median_queries_to_top_low"], r["median_queries_to_top_high"]
    return f"{median} [{_number(low, budget)}, {_number(high, budget)}] {seeds}"


def _paired_cells(r: dict) -> tuple[str, str]:
    """The ratio to the reference's queries and the share of seeds ahead of it, with intervals."""
    if r.get("reference") == r["method"]:
        return "reference", ""
    if "queries_ratio_vs_reference" not in r:
        return "-", ""
    ratio = [r[f"queries_ratio_vs_reference{s}"] for s in ("", "_low", "_high")]
    ahead = [r[f"share_ahead_of_reference{s}"] for s in ("", "_low", "_high")]
    return f"{ratio[0]:.2f}x [{ratio[1]:.2f}, {ratio[2]:.2f}]", _with_interval(*ahead, ".0%")


def format_summary(rows: list[dict]) -> str:
    """The comparison as three plain-text tables: checkpoints, queries to the top, and the
    hypervolume ratio of the (accuracy, parameters) front queried by each checkpoint; each
    median with its bootstrap 95% interval over seeds, ``median [low, high]``, where the row has it."""
    points = list(dict.fromkeys(p for r in rows for p in r["by_budget"]))
    lines = [f"{'method':<22}{'queries':>7}  {'accuracy [95% CI]':<28}{'regret pp [95% CI]':<22}rank [95% CI]"]
    for r in rows:
        for p in r["by_budget"]:
            accuracy, regret = (
                _checkpoint_cell(r, p, "median_accuracy", ".4f"),
                _checkpoint_cell(r, p, "median_regret", ".2f", 100),
            )
            lines.append(
                f"{r['method']:<22}{p:>7}  {accuracy:<28}{regret:<22}{_checkpoint_cell(r, p, 'median_rank', '.0f')}"
            )
    reference = next((r["reference"] for r in rows if "reference" in r), None)
    versus = f"vs {reference} [95% CI]" if reference else "vs reference"
    lines += [
        "",
        (
            f"{'method':<22}{'seeds':>6}  {'median queries to top-0.01% [95% CI]':<56}{versus:<36}"
            f"{'ahead [95% CI]':<18}{'search s/query':>14}  HV ratio [95% CI]"
        ),
    ]
    for r in rows:
        ratio, ahead = _paired_cells(r)
        hypervolume = [r.get(f"median_hypervolume_ratio{s}") for s in ("", "_low", "_high")]
        lines.append(
            f"{r['method']:<22}{r['seeds']:>6}  {_queries_cell(r):<56}{ratio:<36}{ahead:<18}"
            f"{r['search_seconds_per_query']:>14.3f}  {_with_interval(*hypervolume, '.3f')}"
        )
    lines += ["", f"{'method':<22}" + "".join(f"{'HV ratio @' + p:>24}" for p in points)]
    for r in rows:
        cells = [
            _checkpoint_cell(r, p, "median_hypervolume_ratio", ".3f") if p in r["by_budget"] else "-" for p in points
        ]
        lines.append(f"{r['method']:<22}" + "".join(f"{c:>24}" for c in cells))
    lines += [
        "",
        "[low, high]: bootstrap 95% interval of the median over seeds. Queries to the top-0.01%: Kaplan-Meier",
        "median, a seed that found no top cell being censored at the budget N (>N: beyond the budget).",
    ]
    if reference:
        lines += [
            f"vs {reference}: median over seeds of its queries / the method's, same seed (a seed that",
            "found no top cell counts N queries, a bound); ahead: share of seeds where the method needed fewer",
            "queries (ties count half).",
        ]
    return "\n".join(lines)


#: NAS-Bench-201: a top architecture is one of the 10 best by the data set's validation accuracy.
NB201_TOP = 10
NB201_CHECKPOINTS = (50, 100, 300)


def nb201_goal(table, dataset: str) -> float:
    """The validation accuracy of the ``NB201_TOP``-th best architecture: reaching it is finding a top one."""
    return float(np.sort(table.val[dataset])[-NB201_TOP])


def summarise_nb201(
    runs: list[Run],
    table,
    dataset: str,
    checkpoints=NB201_CHECKPOINTS,
    reference: str | None = REFERENCE,
    seed: int = 0,
) -> list[dict]:
    """NAS-Bench-201, one row per method: queries to a top-10 architecture by validation accuracy
    (Kaplan-Meier median over seeds with its bootstrap 95% interval, censored at the budget), the
    seeds that reached one, the paired comparison with ``reference`` (as ``summarise``), and the
    mean over seeds of the test accuracy of the best-by-validation pick after each checkpoint, with
    its 95% interval (``test_of_pick``). 12-epoch accuracies."""
    goal = nb201_goal(table, dataset)
    methods = list(dict.fromkeys(r.method for r in runs))
    by_method = {m: [r for r in runs if r.method == m] for m in methods}
    rows = []
    for method, mine in by_method.items():
        budget = min(r.budget for r in mine)
        first = [queries_to_top(r, budget, goal) for r in mine]
        queries = stats.bootstrap_queries_median(first, budget, seed=seed)
        picks = {}
        for point in [c for c in checkpoints if c <= budget] or [budget]:
            tests = [r.test[int(np.argmax(r.accuracy[:point]))] for r in mine]
            picks[str(point)] = stats.bootstrap_mean(tests, seed=seed)
        rows.append(
            {
                "method": method,
                "seeds": len(mine),
                "budget": budget,
                "goal": goal,
                "median_queries_to_top": queries.estimate,
                **_interval("median_queries_to_top", queries),
                "reached_top": int(np.isfinite(first).sum()),
                "test_of_pick": {p: i.estimate for p, i in picks.items()},
                "test_of_pick_interval": {p: _interval("mean", i) for p, i in picks.items()},
                "search_seconds_per_query": float(np.mean([r.search_seconds / len(r.accuracy) for r in mine])),
            }
        )
        if reference in by_method:
            rows[-1]["reference"] = reference
            if method != reference:
                rows[-1] |= _paired(mine, by_method[reference], seed, goal)
    return rows


def format_summary_nb201(rows: list[dict], table, dataset: str) -> str:
    """The NAS-Bench-201 comparison as one plain-text table (see ``summarise_nb201``)."""
    val, test = table.val[dataset], table.test[dataset]
    points = list(dict.fromkeys(p for r in rows for p in r["test_of_pick"]))
    reference = next((r["reference"] for r in rows if "reference" in r), None)
    lines = [
        (
            f"NAS-Bench-201 {dataset} (12-epoch accuracies): a top-{NB201_TOP} architecture has validation accuracy "
            f">= {rows[0]['goal']:.4f}; the best validation {val.max():.4f}, the best test {np.nanmax(test):.4f}, "
            f"the test accuracy of the best by validation {test[int(np.argmax(val))]:.4f}"
        ),
        f"{'method':<22}{'queries to a top-10 [95% CI]':<44}{'vs ' + (reference or '-') + ' [95% CI]':<44}"
        + "".join(f"{'test of pick @' + p:>26}" for p in points),
    ]
    for r in rows:
        ratio, _ = _paired_cells(r)
        picks = [_with_interval(r["test_of_pick"][p], *r["test_of_pick_interval"][p].values(), ".4f") for p in points]
        lines.append(f"{r['method']:<22}{_queries_cell(r):<44}{ratio:<44}" + "".join(f"{c:>26}" for c in picks))
    lines += [
        "",
        "queries: Kaplan-Meier median over seeds, a seed without a top architecture censored at the budget N (>N);",
        "vs: median over seeds of the reference's queries / the method's, same seed; test of pick: mean over seeds",
        "of the test accuracy of the best architecture by validation after that many queries.",
    ]
    return "\n".join(lines)


def write_report(runs: list[Run], table, out: str | os.PathLike, dataset: str | None = None) -> tuple[list[dict], str]:
    """Summarise ``runs`` (NAS-Bench-101's table, or NAS-Bench-201's with its ``dataset``), write
    ``search_runs.csv``, ``search.json`` and ``search.png`` in ``out``; returns the rows and the text."""
    out = Path(out)
    if dataset is None:
        rows = summarise(runs, table)
        plot = plot_runs(runs, out / "search.png", float(table.test_acc_108.max()))
        text = format_summary(rows)
    else:
        rows = summarise_nb201(runs, table, dataset)
        val = table.val[dataset]
        plot = plot_runs(
            runs, out / "search.png", float(val.max()), lines={f"top {NB201_TOP}": nb201_goal(table, dataset)},
            floor=float(np.quantile(val, 0.9)), ylabel="validation accuracy of best architecture found",
            title=f"NAS-Bench-201 {dataset}, 12 epochs: median over seeds, band: its bootstrap 95% interval",
        )  # fmt: skip
        text = format_summary_nb201(rows, table, dataset)
    csv = write_runs_csv(runs, out / "search_runs.csv")
    atomic_write(out / "search.json", lambda tmp: Path(tmp).write_text(json.dumps(rows, indent=2)))
    return rows, text + f"\nwrote {csv}, {out / 'search.json'} and {plot}"


def write_runs_csv(runs: list[Run], path: str | os.PathLike) -> Path:
    """Long format: method, seed, query, accuracy of that query, best accuracy so far."""
    from netembed.benchmarks.analysis import write_csv

    return write_csv(
        (
            {"method": r.method, "seed": r.seed, "query": q + 1, "accuracy": a, "best_so_far": b}
            for r in runs
            for q, (a, b) in enumerate(zip(r.accuracy, r.best_so_far()))
        ),
        path,
    )


def _median_band(curves: np.ndarray, seed: int, points: int = 80, resamples: int = 2_000) -> tuple[np.ndarray, ...]:
    """Query counts (``points`` log-spaced, with the first and last) and the bootstrap 95% interval of
    the median over seeds (rows of ``curves``) at each."""
    x = np.unique(np.geomspace(1, curves.shape[1], points).round().astype(int))
    bounds = [stats.bootstrap_median(curves[:, q - 1], resamples=resamples, seed=seed) for q in x]
    return x, np.array([b.low for b in bounds]), np.array([b.high for b in bounds])


def plot_runs(
    runs: list[Run],
    path: str | os.PathLike,
    best: float,
    seed: int = 0,
    *,
    lines: dict[str, float] | None = None,
    best_label: str = "best in the table",
    floor: float = 0.925,
    title: str = "NAS-Bench-101: median over seeds, band: its bootstrap 95% interval",
    ylabel: str = "test accuracy of best cell found",
) -> Path:
    """Median over seeds of the best true test accuracy found vs queries, per method, with the
    bootstrap 95% interval of that median (seeded by ``seed``) as a band; ``lines``: dashed levels
    by label (None: the top-0.01% threshold), ``best`` dotted (``best_label``), the y axis from ``floor``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    top = best  # the axis shows the highest median too (a search may beat the best of a reference set)
    for method in dict.fromkeys(r.method for r in runs):
        mine = [r for r in runs if r.method == method]
        budget = min(r.budget for r in mine)
        curves = np.stack([r.best_so_far()[:budget] for r in mine])
        x = np.arange(1, budget + 1)
        (line,) = ax.plot(x, np.median(curves, axis=0), label=f"{method} ({len(mine)} seeds)")
        top = max(top, float(np.median(curves, axis=0)[-1]))
        ax.fill_between(*_median_band(curves, seed), color=line.get_color(), alpha=0.15, lw=0)
    for label, level in ({"top 0.01%": TOP_THRESHOLD} if lines is None else lines).items():
        ax.axhline(level, color="gray", ls="--", lw=1, label=label)
    ax.axhline(best, color="black", ls=":", lw=1, label=best_label)
    ax.set(
        xscale="log",
        xlabel="queries (unique cells labelled)",
        ylabel=ylabel,
        ylim=(floor, top + 0.002),
        title=title,
    )
    ax.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)
