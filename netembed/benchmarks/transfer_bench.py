"""The transfer benchmark: what netembed's NAS-Bench-101 models are worth on a task of one's own.

It reads a labelled set written by ``netembed label`` (random cells trained for real, several
seeds each) and gives every row the same splits: a fixed test set (the labelled cells outside a
pool of ``pool_size``) and, per (size, seed), training cells drawn from the pool.

- Accuracy predictors (``run_transfer(labelled, "accuracy")``) learn the mean accuracy over the training
  seeds: cold (``netembed``), and warm from the label-free ``encoder-nb101`` and ``prior-nb101``
  and from ``surrogate-nb101/accuracy`` (its whole members, fine-tuned), against the structure-
  feature ``forest`` and gradient-boosted trees (``gbt``); Kendall tau and Spearman.
- Training-time estimators of this machine (``run_transfer(labelled, "time")``) learn the mean measured
  seconds: cold, and warm from ``surrogate-nb101/time``, against seconds ~ parameters
  (``params``) and ``gbt``; Kendall tau and MdAPE.
- Searches on the task (``run_transfer_search``): every query is a real training of the task (the
  mean accuracy of its training seeds), a cell of the set or of an earlier search being reused,
  any other trained at once and logged for the searches after it: cold netembed, netembed
  warm from ``surrogate-nb101/accuracy``, regularized evolution and random search, same seeds;
  ``summarise_search`` gives the best accuracy found at each budget and its rank in the set.

What the warm starts have seen: ``surrogate-nb101`` CIFAR-10 labels and the table's accelerator
times; ``encoder-nb101`` and ``prior-nb101`` no label at all. None has seen this task's labels
or this machine's times. Each measurement is saved under ``runs_dir`` and reused by a later call
with the same settings (a killed benchmark resumes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from netembed._io import parse_json, read_text
from netembed.benchmarks.compare import _with_interval
from netembed.benchmarks.predictor_bench import (
    BenchError,
    CellRows,
    PredictorScore,
    _fit_gbt,
    _fit_time_gbt,
    _fit_time_params,
    _measure,
    _saved,
    format_rows,
    summarise,
    write_bench,
)
from netembed.models.predictors import AccuracyPredictor, PredictorConfig, TimeEstimator
from netembed.spaces.nb101 import space
from netembed.spaces.nb101.cell import Cell
from netembed.train.labels import whole_training

if TYPE_CHECKING:
    from netembed.search.evaluators import Measurement
    from netembed.train.spec import TrainingSpec

__all__ = [
    "DEFAULT_SEARCHES",
    "PARTS",
    "PREDICTORS",
    "SEARCHERS",
    "SEARCH_BUDGETS",
    "SEEN",
    "TIMERS",
    "LabelledSet",
    "TaskEvaluator",
    "bench_transfer",
    "check_search",
    "format_search",
    "run_transfer",
    "run_transfer_search",
    "summarise_search",
    "write_search",
]

#: What every transfer figure must say beside it.
SEEN = (
    "(warm starts: surrogate-nb101 has seen CIFAR-10 labels and the table's accelerator times, encoder-nb101 and "
    "prior-nb101 no label; none has seen this task's labels or this machine's times)"
)


class LabelledSet:
    """A ``labels.json`` of ``netembed label``: its cells as rows of the space, their mean
    accuracy, mean training seconds and parameter counts (of the network actually trained)."""

    def __init__(self, path: str | Path):
        rule = "a labelled set must be the labels.json that `netembed label` writes"
        try:
            document = parse_json(read_text(path, rule), path)
            cells = [Cell(r["matrix"], r["ops"]) for r in document["cells"]]
            self.accuracy = np.array([r["value"] for r in document["cells"]], dtype=np.float64)
            self.seconds = np.array([np.mean(r["seconds"]) for r in document["cells"]], dtype=np.float64)
            self.params = np.array([r["params"] for r in document["cells"]], dtype=np.float64)
            self.sha256 = document["sha256"]
            self.hashes = [c.hash for c in cells]
            self.path = Path(path)
            self._documents = document["cells"]
            self._trainings: dict | None = None
        except (ValueError, KeyError, TypeError) as exc:
            raise BenchError(f"{rule}, got {path} ({type(exc).__name__}: {exc})") from None
        for name, values, ok in [
            ("values (mean accuracies)", self.accuracy, (self.accuracy >= 0) & (self.accuracy <= 1)),
            ("seconds", self.seconds, self.seconds > 0),
            ("params", self.params, self.params > 0),
        ]:
            bad = np.flatnonzero(~(np.isfinite(values) & ok))
            if len(bad):
                raise BenchError(
                    f"{rule}: its {name} must be finite and in range, got {values[bad[0]]} at cell {bad[0]}"
                )
        self.rows = np.array([space.index_of(c) for c in cells])
        self.settings = document.get("settings", {})

    def split(self, pool_size: int, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions in the set of the training pool and of the fixed test set."""
        if not 0 < pool_size < len(self.rows):
            raise BenchError(
                f"pool size must be in [1, {len(self.rows) - 1}] (the set minus a test set), got {pool_size}"
            )
        order = np.random.default_rng(split_seed).permutation(len(self.rows))
        return order[:pool_size], np.sort(order[pool_size:])

    def cells(self, positions: np.ndarray) -> CellRows:
        return CellRows(self.rows[positions], self.params[positions])

    def training(self) -> TrainingSpec:
        """The task's training settings, which a search on it trains new cells with."""
        from netembed.train.spec import TrainingSpec

        try:
            return TrainingSpec(**self.settings["training"])
        except (KeyError, TypeError) as exc:
            raise BenchError(
                f"a search on the task needs the training settings `netembed label` writes in labels.json, got "
                f"settings {self.settings!r} ({type(exc).__name__}: {exc})"
            ) from None

    def trainings(self) -> dict[tuple[str, int], dict]:
        """Every training of the set by (cell hash, training seed), as ``netembed label`` logs them
        (checked and built once per set: a search's checks and its worker share them)."""
        if self._trainings is not None:
            return self._trainings
        seeds, done = self.settings.get("seeds"), {}
        for position, (cell_hash, row) in enumerate(zip(self.hashes, self._documents)):
            accuracy, seconds = row.get("accuracy"), row.get("seconds")
            runs = [] if not isinstance(accuracy, list) or not isinstance(seconds, list) else zip(accuracy, seconds)
            for seed, (a, t) in enumerate(runs):
                done[cell_hash, seed] = {"hash": cell_hash, "seed": seed, "accuracy": a, "seconds": t}
                done[cell_hash, seed]["params"] = row["params"]
            if not isinstance(seeds, int) or any(not whole_training(done.get((cell_hash, s))) for s in range(seeds)):
                raise BenchError(
                    f"a labelled set must hold each cell's {seeds} trainings (accuracy in [0, 1], seconds, params), "
                    f"got cell {position} ({cell_hash}): accuracy {accuracy!r}, seconds {seconds!r}"
                )
        self._trainings = done
        return done


# -- fit(train CellRows, labels, seed) -> predict(CellRows): labels' units (accuracy) or log-seconds


def _fit_predictor(init: str | None):
    def fit(train: CellRows, y: np.ndarray, seed: int, **training) -> Callable[[CellRows], np.ndarray]:
        shape = {} if init is None else AccuracyPredictor.shape_of(init)  # to start from all of it
        config = PredictorConfig.for_accuracy(**shape, **training, seed=seed)
        model = AccuracyPredictor(config).fit(train.cells, y, init=init)
        return lambda test: model.predict_rows(test.rows)[0]

    return fit


def _fit_forest(train: CellRows, y: np.ndarray, seed: int) -> Callable[[CellRows], np.ndarray]:
    from netembed.spaces.nb101.features import FeatureView, inputs, raw_features

    view = FeatureView.fit(train.cells, y, seed, parts="forest")
    return lambda test: view.predict(inputs(raw_features(test.cells)))


PREDICTOR_INITS = {
    "netembed": None,
    "netembed+pretrained": "encoder-nb101",
    "netembed+prior": "prior-nb101",
    "netembed+surrogate": "surrogate-nb101/accuracy",
}
PREDICTORS: dict[str, Callable] = {
    **{name: _fit_predictor(init) for name, init in PREDICTOR_INITS.items()},
    "forest": _fit_forest,
    "gbt": _fit_gbt,
}


def _fit_timer(init: str | None):
    def fit(train: CellRows, log_seconds: np.ndarray, seed: int, **training) -> Callable[[CellRows], np.ndarray]:
        shape = {} if init is None else TimeEstimator.shape_of(init)
        config = PredictorConfig.for_time(**shape, **training, seed=seed)
        model = TimeEstimator(config).fit(train.cells, np.exp(log_seconds), init=init)
        return lambda test: np.log(model.predict_rows(test.rows)[0])

    return fit


TIMER_INITS = {"netembed": None, "netembed+surrogate": "surrogate-nb101/time"}
TIMERS: dict[str, Callable] = {
    **{name: _fit_timer(init) for name, init in TIMER_INITS.items()},
    "params": _fit_time_params,
    "gbt": _fit_time_gbt,
}


@dataclass(frozen=True)
class _Part:
    """One half of the benchmark: what its rows learn (in their own units: accuracy, or
    log-seconds mapped back by ``from_prediction``), its methods, their warm starts, its sizes;
    and its report: the files' name, the columns printed, the title."""

    labels: Callable[[LabelledSet], np.ndarray]
    methods: dict[str, Callable]
    inits: dict[str, str | None]
    role: Callable
    train_sizes: tuple[int, ...]
    name: str
    columns: tuple[str, ...]
    title: str
    from_prediction: Callable | None = None


PARTS = {
    "accuracy": _Part(
        lambda s: s.accuracy, PREDICTORS, PREDICTOR_INITS, PredictorConfig.for_accuracy, (20, 50, 100, 200),
        "predictors", ("spearman",), "Accuracy predictors on your task",
    ),
    "time": _Part(
        lambda s: np.log(s.seconds), TIMERS, TIMER_INITS, PredictorConfig.for_time, (10, 20, 50, 200),
        "time", ("mdape_percent",), "Training-time estimators of this machine", np.exp,
    ),
}  # fmt: skip


def run_transfer(
    labelled: LabelledSet,
    part: str,
    train_sizes: Sequence[int] | None = None,
    seeds: Sequence[int] = range(5),
    methods: Sequence[str] | None = None,
    pool_size: int = 500,
    split_seed: int = 0,
    runs_dir=None,
    progress: bool = True,
    steps: int | None = None,
) -> list[PredictorScore]:
    """One part of the benchmark (``PARTS``: "accuracy" predictors or "time" estimators), every
    chosen method (None: all) on the same splits; ``train_sizes`` None: the part's; ``steps``: the
    netembed rows' training steps, exactly (None: their role's)."""
    from tqdm.auto import tqdm

    from netembed.models import hub

    if part not in PARTS:
        raise BenchError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    spec = PARTS[part]
    inits, from_prediction, labels = spec.inits, spec.from_prediction, spec.labels(labelled)
    chosen = tuple(spec.methods) if methods is None else methods
    train_sizes = spec.train_sizes if train_sizes is None else train_sizes
    _check_transfer(spec, chosen, train_sizes, seeds, steps)
    pool, test_positions = labelled.split(pool_size, split_seed)
    if max(train_sizes) > len(pool):
        raise BenchError(f"train sizes must be at most the pool of {len(pool)} cells, got {max(train_sizes)}")
    test = labelled.cells(test_positions)
    truth = labels[test_positions] if from_prediction is None else from_prediction(labels[test_positions])
    starts = {  # the weights a warm row starts from: other weights measure again
        m: hub.read_config(hub.resolve(inits[m]))["weights_sha256"] for m in chosen if inits.get(m) is not None
    }
    results, grid = [], [(n, s, m) for n in train_sizes for s in seeds for m in chosen]
    for size, seed, method in tqdm(grid, desc=f"transfer {part}", disable=not progress):
        positions = np.sort(np.random.default_rng(1000 + seed).choice(pool, size, replace=False))
        training = {} if steps is None or method not in inits else {"steps": steps, "epochs": 0}
        fit = partial(spec.methods[method], labelled.cells(positions), labels[positions], seed, **training)
        settings = {
            "benchmark": f"transfer-{part}",
            "labels": labelled.sha256,
            "pool_size": pool_size,
            "split_seed": split_seed,
            "init_sha256": starts.get(method),
        }
        if method in inits:  # a netembed row: its whole training config
            settings["config"] = asdict(spec.role(**training))
        measure = partial(_measure, method, size, seed, fit, test, truth, from_prediction=from_prediction)
        results.append(_saved(runs_dir, method, size, seed, settings, measure))
    return results


def _check_transfer(
    spec: _Part, chosen: Sequence[str], train_sizes: Sequence[int], seeds: Sequence[int], steps: int | None
) -> None:
    """Refuse, before any work, rows ``run_transfer`` cannot run (the pool's size is checked once split)."""
    unknown = [m for m in chosen if m not in spec.methods]
    if unknown:
        raise BenchError(f"methods must be among {list(spec.methods)}, got {unknown}")
    if not train_sizes or min(train_sizes) < 2:
        raise BenchError(f"train sizes must be at least 2 cells, got {list(train_sizes)}")
    if not len(seeds) or steps is not None and steps < 1:
        raise BenchError(f"seeds must be at least one and steps positive, got {len(seeds)} seeds and steps {steps}")


# -- searches on the task: every query a real training ----------------------------------------------

#: Search rows: (method, warm start of its surrogate, the method's own settings). Regularized
#: evolution's default population (100) makes its first 100 queries random ones, so a row with a
#: population sized for budgets of 25-100 runs beside it; a warm netembed may need fewer random
#: cells before its surrogate leads (5, one round, instead of 10). "netembed+surrogate" starts
#: from random cells, as measured before ``--warm-start`` queried its source's best cells first
#: ("netembed+surrogate_first", what ``netembed search --warm-start`` does now).
SEARCHERS = {
    "netembed": ("netembed", None, {}),
    "netembed+surrogate": ("netembed", "surrogate-nb101/accuracy", {"prior_first": False}),
    "netembed+surrogate_first": ("netembed", "surrogate-nb101/accuracy", {}),
    "netembed+surrogate_initial5": ("netembed", "surrogate-nb101/accuracy", {"initial": 5}),
    "regularized_evolution": ("regularized_evolution", None, {}),
    "regularized_evolution_p20": ("regularized_evolution", None, {"population_size": 20, "tournament_size": 5}),
    "random": ("random", None, {}),
}
#: The rows a benchmark runs unless told (the warm row with 5 random cells is an ablation: slower).
DEFAULT_SEARCHES = ("netembed", "netembed+surrogate", "regularized_evolution", "regularized_evolution_p20", "random")
#: Where the search rows are read (those within the run's budget, and the budget itself).
SEARCH_BUDGETS = (25, 50, 100)
#: The row every other is compared with, seed by seed, and the row whose median best at the
#: budget the others race to.
SEARCH_REFERENCE, SEARCH_GOAL = "regularized_evolution", "netembed"
TRAININGS = "trainings"  # the folder of the searches' own training logs, one per run


class TaskEvaluator:
    """Labels a cell by the task's real training: the mean over training seeds ``0 .. seeds - 1``
    of its test accuracy (and of its seconds). A training in ``known`` (the labelled set, earlier
    searches) is reused; any other runs now (after ``labels.start_trainer``) and is appended to
    the open ``log`` before the next starts."""

    name = "task"

    def __init__(self, known: dict[tuple[str, int], dict], seeds: int, log):
        self.known, self.seeds, self.log, self.trained = known, seeds, log, 0

    def __call__(self, cell: Cell) -> Measurement:
        from netembed.search.evaluators import Measurement
        from netembed.train.labels import append_training, train

        runs = []
        for seed in range(self.seeds):
            if (cell.hash, seed) not in self.known:
                row = {"hash": cell.hash, **train(cell.to_dict(), seed)}
                append_training(self.log, row)
                self.known[cell.hash, seed] = row
                self.trained += 1
            runs.append(self.known[cell.hash, seed])
        accuracy, seconds = (float(np.mean([r[k] for r in runs])) for k in ("accuracy", "seconds"))
        return Measurement(accuracy, seconds, int(runs[0]["params"]))


_TASK: dict = {}  # per worker process: the labelled set and its trainings, read once


def _start_search_worker(labels: str) -> None:
    from netembed.train.labels import start_trainer

    labelled = LabelledSet(labels)
    start_trainer(labelled.training())
    _TASK.update(labelled=labelled, trainings=labelled.trainings())


def _search_settings(labelled: LabelledSet, name: str) -> dict:
    from netembed._io import as_saved
    from netembed.models import hub

    _, init, options = SEARCHERS[name]
    settings = {
        "benchmark": "transfer-search",
        "labels": labelled.sha256,
        "warm_start": init,
        "init_sha256": None if init is None else hub.read_config(hub.resolve(init))["weights_sha256"],
        "searcher": as_saved(_build_searcher(name, 0).settings()),  # a run of an older default is run again
    }
    return settings | ({"options": options} if options else {})


def _build_searcher(name: str, seed: int):
    """The row's method, seeded ``seed`` like every other row (``runs.build_method``)."""
    from netembed.runs import build_method
    from netembed.search.baselines import BASELINES
    from netembed.search.controller import ControllerConfig, NetembedSearch

    method, warm_start, options = SEARCHERS[name]
    if not options:
        return build_method(method, seed, "reward", warm_start=warm_start)
    rng = np.random.default_rng(seed)
    if method == "netembed":
        config = {k: v for k, v in options.items() if k != "prior_first"}
        return NetembedSearch(
            rng, ControllerConfig(**config), prior=warm_start, prior_first=options.get("prior_first", False)
        )
    return BASELINES[method](rng, **options)


def _search_run(task: tuple[str, int, int, str]) -> dict:
    """One search of the task (in a worker after ``_start_search_worker``), saved as it ends."""
    from netembed._io import atomic_write
    from netembed.search import Budget, run_search
    from netembed.search.objective import Objective
    from netembed.train.labels import open_trainings, read_trainings

    name, seed, budget, out = task
    labelled, out = _TASK["labelled"], Path(out)
    settings = {k: v for k, v in labelled.settings.items() if k != "size"}  # the task, as `netembed label` logs it
    own, known = out / TRAININGS / f"{name}-seed{seed}.jsonl", dict(_TASK["trainings"])
    for path in sorted((out / TRAININGS).glob("*.jsonl")):  # the other searches' trainings so far
        if path != own:
            known |= read_trainings(path, settings)  # read only: that search may be writing now
    known |= open_trainings(own, settings)
    with open(own, "a") as log:
        evaluator = TaskEvaluator(known, labelled.settings["seeds"], log)
        result = run_search(
            _build_searcher(name, seed), evaluator, Objective("reward"), Budget(queries=budget), seed=seed
        )
    run = {
        "method": name,
        "seed": seed,
        "budget": budget,
        "settings": _search_settings(labelled, name),
        "accuracy": [e.accuracy for e in result.evaluations],
        "hashes": [e.cell.hash for e in result.evaluations],
        "trained": evaluator.trained,
        "search_seconds": result.search_seconds,
        "evaluator_seconds": result.evaluator_seconds,
    }
    atomic_write(out / "runs" / f"search-{name}-seed{seed}.json", lambda tmp: Path(tmp).write_text(json.dumps(run)))
    return run


def check_search(
    labelled: LabelledSet, methods: Sequence[str] | None, seeds: Sequence[int], budget: int, jobs: int
) -> tuple[str, ...]:
    """Refuse, before any work, searches ``run_transfer_search`` cannot run; returns the rows."""
    chosen = DEFAULT_SEARCHES if methods is None else tuple(methods)
    unknown = [m for m in chosen if m not in SEARCHERS]
    if unknown or len(set(chosen)) < len(chosen):
        raise BenchError(f"search rows must be among {list(SEARCHERS)}, each once, got {list(chosen)}")
    for name, value in (("budget", budget), ("jobs", jobs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BenchError(f"search {name} must be a positive integer, got {value!r}")
    if not len(seeds):
        raise BenchError(f"search seeds must be at least one, got {list(seeds)}")
    labelled.training(), labelled.trainings()  # a set a search cannot use
    return chosen


def run_transfer_search(
    labelled: LabelledSet,
    out,
    methods: Sequence[str] | None = None,
    seeds: Sequence[int] = range(10),
    budget: int = 100,
    jobs: int = 1,
    progress: bool = True,
) -> list[dict]:
    """Every (method, seed) search of the task (``SEARCHERS``; None: ``DEFAULT_SEARCHES``) for
    ``budget`` queries, ``jobs`` at a time (one thread each), reusing finished runs under
    ``out/runs``. Returns the runs: per query the mean accuracy over training seeds, and how many
    trainings each paid for."""
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    from netembed._io import check_writable

    chosen = check_search(labelled, methods, seeds, budget, jobs)
    out = check_writable(out)
    done = {}
    for name in chosen:
        settings = _search_settings(labelled, name)
        for seed in seeds:
            done[name, seed] = _saved_search(out / "runs" / f"search-{name}-seed{seed}.json", settings, budget)
    todo = [(m, s, budget, str(out)) for s in seeds for m in chosen if done[m, s] is None]
    bar = tqdm(total=len(done), initial=len(done) - len(todo), desc="transfer search", unit="run", disable=not progress)
    with bar, ExitStack() as stack:  # the workers stop on an error too
        if jobs == 1:
            _start_search_worker(str(labelled.path))
            finished = map(_search_run, todo)
        else:
            context = get_context("spawn")  # fresh interpreters: no forked torch state
            pool = stack.enter_context(context.Pool(jobs, _start_search_worker, (str(labelled.path),)))
            finished = pool.imap_unordered(_search_run, todo)
        for run in finished:
            done[run["method"], run["seed"]] = run
            bar.set_postfix(last=f"{run['method']} seed {run['seed']}", trained=run["trained"], refresh=False)
            bar.update()
    return [done[m, s] for m in chosen for s in seeds]


def _saved_search(path: Path, settings: dict, budget: int) -> dict | None:
    try:
        run = parse_json(path.read_text(), path)
    except (OSError, ValueError):  # a DataError of parse_json is a ValueError
        return None  # absent or unreadable: it runs again
    whole = isinstance(run, dict) and run.get("settings") == settings and run.get("budget") == budget
    return run if whole and len(run.get("accuracy", ())) == budget else None


def summarise_search(runs: list[dict], labelled: LabelledSet, seed: int = 0) -> list[dict]:
    """One row per method: at each of ``SEARCH_BUDGETS`` within the budget (and the budget), the
    median over seeds of the best accuracy found and of its rank among the labelled set's cells
    (1 + the cells more accurate), with bootstrap 95% intervals, and the share of seeds ahead of
    ``SEARCH_REFERENCE`` (same seed; ties count half); then the queries each method needed to reach
    ``SEARCH_GOAL``'s median best at the budget (Kaplan-Meier median, a run that never reached it
    censored at the budget), and the trainings it paid for."""
    by_method = {m: [r for r in runs if r["method"] == m] for m in dict.fromkeys(r["method"] for r in runs)}
    budget = min(r["budget"] for r in runs)
    points = [b for b in SEARCH_BUDGETS if b < budget] + [budget]
    curves = {m: np.stack([np.maximum.accumulate(r["accuracy"][:budget]) for r in rs]) for m, rs in by_method.items()}
    ordered = np.sort(labelled.accuracy)
    goal = float(np.median(curves[SEARCH_GOAL][:, -1])) if SEARCH_GOAL in curves else None
    reference = {r["seed"]: c for r, c in zip(by_method.get(SEARCH_REFERENCE, []), curves.get(SEARCH_REFERENCE, []))}
    rows = []
    for method, mine in by_method.items():
        row = {"method": method, "seeds": len(mine), "budget": budget, "by_budget": {}}
        for point in points:
            found = curves[method][:, point - 1]
            row["by_budget"][str(point)] = _search_figures(method, mine, found, ordered, reference, point, seed)
        if goal is not None:
            row |= _race_to_goal(curves[method], goal, budget, seed)
        row["trainings_per_run"] = float(np.mean([r["trained"] for r in mine]))
        row["search_seconds_per_query"] = float(np.mean([r["search_seconds"] / budget for r in mine]))
        rows.append(row)
    return rows


def _search_figures(
    method: str, mine: list[dict], found: np.ndarray, ordered: np.ndarray, reference: dict, point: int, seed: int
) -> dict:
    """``summarise_search``'s figures of ``method``'s runs ``mine`` after ``point`` queries, whose best
    accuracies are ``found``: each an estimate with its ``_low`` and ``_high`` bounds."""
    from netembed.benchmarks import stats

    rank = 1 + len(ordered) - np.searchsorted(ordered, found, side="right")
    figures = {
        "accuracy": stats.bootstrap_median(found, seed=seed),
        "rank": stats.bootstrap_median(rank, seed=seed),
    }
    theirs = [(f, reference[r["seed"]][point - 1]) for f, r in zip(found, mine) if r["seed"] in reference]
    if method != SEARCH_REFERENCE and theirs:
        ahead = [(a > b) + 0.5 * (a == b) for a, b in theirs]
        figures["share_ahead_of_reference"] = stats.bootstrap_mean(ahead, seed=seed)
    return {
        k: v
        for name, i in figures.items()
        for k, v in {name: i.estimate, f"{name}_low": i.low, f"{name}_high": i.high}.items()
    }


def _race_to_goal(curves: np.ndarray, goal: float, budget: int, seed: int) -> dict:
    """The queries a method's best-so-far ``curves`` (one per seed) needed to reach ``goal``:
    Kaplan-Meier median with its interval, a run that never reached it censored at ``budget``."""
    from netembed.benchmarks import stats

    first = np.array([stats.queries_to_reach(c, goal) for c in curves])
    reached = np.isfinite(first)
    queries = stats.bootstrap_queries_median(first, budget, seed=seed)
    return {"goal": goal, "queries_to_goal": queries.estimate, "queries_to_goal_low": queries.low,
            "queries_to_goal_high": queries.high, "reached_goal": int(np.sum(reached))}  # fmt: skip


def _median_cell(figures: dict, name: str, fmt: str) -> str:
    return _with_interval(figures[name], figures[f"{name}_low"], figures[f"{name}_high"], fmt)


def format_search(rows: list[dict], labelled: LabelledSet) -> str:
    """``summarise_search``'s rows as a person reads them: one line per method and budget, then the
    race to ``SEARCH_GOAL``'s median best."""
    cells = len(labelled.accuracy)
    header = f"{'method':<29}{'queries':>7}  {'best accuracy [95% CI]':<26}{f'rank of {cells:,} [95% CI]':<24}"
    lines = [f"{header}ahead of {SEARCH_REFERENCE} [95% CI]"]
    for row in rows:
        for point, figures in row["by_budget"].items():
            ahead = "reference" if row["method"] == SEARCH_REFERENCE else "-"
            if "share_ahead_of_reference" in figures:
                ahead = _median_cell(figures, "share_ahead_of_reference", ".0%")
            lines.append(
                f"{row['method']:<29}{point:>7}  {_median_cell(figures, 'accuracy', '.4f'):<26}"
                f"{_median_cell(figures, 'rank', '.0f'):<24}{ahead}"
            )
    if any("goal" in row for row in rows):
        budget = rows[0]["budget"]
        lines += [
            "",
            f"queries to reach {SEARCH_GOAL}'s median best at {budget} ({rows[0]['goal']:.4f}), Kaplan-Meier median:",
        ]
        for row in rows:
            median, low, high = (row[f"queries_to_goal{s}"] for s in ("", "_low", "_high"))
            text = ", ".join(f">{budget}" if v is None else f"{v:g}" for v in (median, low, high))
            median, bounds = text.split(", ", 1)
            lines.append(
                f"  {row['method']:<29}{median} [{bounds}] ({row['reached_goal']}/{row['seeds']} seeds reached; "
                f"{row['trainings_per_run']:.0f} trainings paid per run)"
            )
    lines.append(
        f"median over seeds, [low, high]: bootstrap 95% interval; rank: 1 + the set's cells more accurate; ahead: share "
        f"of seeds with a better best than {SEARCH_REFERENCE}, same seed (ties half); every query is a real training "
        "(the mean accuracy of the task's training seeds), cells already trained reused"
    )
    return "\n".join(lines)


def write_search(runs: list[dict], labelled: LabelledSet, out) -> tuple[Path, Path]:
    """``out/transfer_search_runs.csv`` (per run and query: the accuracy and the best so far) and
    ``out/transfer_search.png`` (the best accuracy found against queries: median over seeds, with
    its bootstrap band)."""
    from netembed.benchmarks.compare import Run, plot_runs, write_runs_csv

    curves = [Run(r["method"], r["seed"], r["budget"], r["accuracy"], [], r["search_seconds"], 0.0) for r in runs]
    first = float(np.median([r["accuracy"][0] for r in runs]))
    plot = plot_runs(
        curves, Path(out) / "transfer_search.png", float(labelled.accuracy.max()), lines={},
        best_label="best in the labelled set", floor=first - 0.01,
        title="Search on your task: median over seeds, band: its bootstrap 95% interval",
    )  # fmt: skip
    return write_runs_csv(curves, Path(out) / "transfer_search_runs.csv"), plot


# -- the command, end to end ---------------------------------------------------------------------


def bench_transfer(
    labels: str = "results/labels/labels.json",
    out: str | Path = "results/transfer",
    *,
    seeds: Sequence[int] = range(5),
    pool_size: int = 500,
    predictors: Sequence[str] = tuple(PREDICTORS),
    predictor_sizes: Sequence[int] = (20, 50, 100, 200),
    timers: Sequence[str] = tuple(TIMERS),
    time_sizes: Sequence[int] = (10, 20, 50, 200),
    searches: Sequence[str] = DEFAULT_SEARCHES,
    search_seeds: Sequence[int] = range(10),
    search_budget: int = 100,
    jobs: int = 1,
    steps: int | None = None,
    progress: bool = False,
) -> tuple[dict, str]:
    """The accuracy rows (``predictors`` at ``predictor_sizes`` training cells), the time rows
    (``timers`` at ``time_sizes``), each per seed of ``seeds`` on the same splits (the cells
    outside a pool of ``pool_size`` are the test set), then the ``searches`` (``search_seeds``,
    ``search_budget`` queries each, ``jobs`` at a time), of the labelled set at ``labels``;
    measurements reused from ``out/runs``, files written in ``out``.

    Args:
        labels: the labelled set netembed label wrote
        pool_size: cells training sets are drawn from; the rest test
        predictors: accuracy rows ('none': skip)
        time_sizes: timed cells
        timers: time-estimator rows ('none': skip)
        search_seeds: seeds of each search row
        search_budget: queries of each search
        jobs: searches at a time, one thread each
        steps: netembed rows' training steps, exactly (default: their role's)
    """
    labelled, out = LabelledSet(labels), Path(out)
    payload, text = {"labels": labels, "sha256": labelled.sha256, "cells": len(labelled.rows)}, []
    if list(searches) != ["none"]:  # refused before the predictor rows' work
        check_search(labelled, searches, search_seeds, search_budget, jobs)
    for part, methods, sizes in (("accuracy", predictors, predictor_sizes), ("time", timers, time_sizes)):
        if list(methods) == ["none"]:
            continue
        name, columns, title = PARTS[part].name, PARTS[part].columns, PARTS[part].title
        results = run_transfer(
            labelled, part, train_sizes=sizes, methods=methods, seeds=seeds, pool_size=pool_size,
            runs_dir=out / "runs", steps=steps, progress=progress,
        )  # fmt: skip
        payload[name] = rows = summarise(results)
        plot = write_bench(results, rows, out, f"transfer_{name}", title)
        text += [
            f"{title} ({len(labelled.rows) - pool_size:,} test cells):",
            format_rows(rows, columns),
            f"wrote {out / f'transfer_{name}.csv'} and {plot}",
        ]
    if list(searches) != ["none"]:
        runs = run_transfer_search(labelled, out, searches, search_seeds, search_budget, jobs, progress=progress)
        payload["search"] = rows = summarise_search(runs, labelled)
        csv, plot = write_search(runs, labelled, out)
        text += [
            f"Search on your task ({len(search_seeds)} seeds, {search_budget} queries):",
            format_search(rows, labelled),
            f"wrote {csv}, {plot} and the runs in {out / 'runs'}",
        ]
    text.append(SEEN)
    return payload, "\n".join(text)
