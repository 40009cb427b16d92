"""One search run end to end: a frozen spec in, a report out.

``SearchSpec`` describes a search completely (method, evaluator, objective and reward, budget,
seed, models, storage, workers); ``run(spec, out)`` builds what it names, runs it in one process
(its query log in ``out`` makes it resumable) or as workers sharing an Optuna study, and returns
a ``SearchReport``: the queries, the best cells (with true table values when the table is
present), the front of the queried cells, the plot and ``result.json``.

Beside it, the package's modules run the other jobs and keep runs whole: ``querylog`` (a
one-process run resumable), ``study`` (workers sharing an Optuna study), ``surrogate``
(``netembed train-predictor``) and ``pretrain`` (``netembed pretrain``).

>>> from netembed.search import Budget
>>> spec = SearchSpec(method="random", evaluator="table", budget=Budget(queries=20), seed=1)
>>> spec.to_dict()["budget"], spec.shared
({'queries': 20, 'seconds': None}, False)
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from netembed import spaces
from netembed._fields import documented
from netembed._io import atomic_write, folder_lock, save_figure
from netembed.errors import warn
from netembed.search import Budget, Evaluation, Method, SearchError, SearchResult, progress_figures
from netembed.search.evaluators import EVALUATORS
from netembed.search.objective import Objective, Reward, as_objective, pareto_front

if TYPE_CHECKING:
    from netembed.models.predictors import AccuracyPredictor
    from netembed.search.evaluators import Evaluator
    from netembed.spaces.nb101.table import Benchmark
    from netembed.train.spec import TrainingSpec

__all__ = ["METHODS", "SearchReport", "SearchSpec", "best_rows", "build_method", "check_method", "run"]

#: Every method the harness can run, baselines first; "netembed+pretrained" starts from the label-free
#: ``encoder-<space>``; "netembed+warm" from the space's accuracy surrogate (``surrogate-<space>/accuracy``,
#: which has seen labels: on another data set it is a transfer), querying the cells it ranks best first.
METHODS = ("random", "regularized_evolution", "local_search", "tpe", "netembed", "netembed+pretrained", "netembed+warm")
#: The methods whose weights have seen no label (``compare``'s default).
COLD_METHODS = METHODS[:-1]
#: Methods with a "pareto" objective (random search is the same either way).
PARETO_METHODS = ("random", "netembed", "netembed+pretrained")

#: Worker processes one command starts (``--workers``): more machines join with their own ``--worker``.
MAX_WORKERS = 64


def check_method(name: str, objective: Objective | str = "reward", warm_start: str | None = None) -> Objective:
    """Refuse an unknown method, one without ``objective``, or a warm start for a method with no
    surrogate to start; returns the objective."""
    objective = as_objective(objective)
    if name not in METHODS:
        raise SearchError(f"method must be one of {', '.join(METHODS)}, got {name!r}")
    if warm_start is not None and (not name.startswith("netembed") or name == "netembed+warm"):
        raise SearchError(
            f"--warm-start is for the netembed methods, got method {name!r}"
            + (" (it starts from its space's surrogate)" if name == "netembed+warm" else "")
        )
    if objective.kind != "reward" and name not in PARETO_METHODS:
        raise SearchError(f"{name} has no {objective.kind} objective; use random, netembed or netembed+pretrained")
    return objective


def build_method(
    name: str, seed: int, objective: Objective | str = "reward", warm_start: str | None = None, space=None
) -> Method:
    """A fresh method seeded with ``seed`` (its settings are the defaults the README measures).

    A "pareto" objective (netembed and random only) searches for the front of accuracy
    against parameters instead of the best reward; random search is the same either way.
    ``warm_start``: a pretrained predictor (e.g. ``surrogate-nb101/accuracy``) the netembed
    controller's online surrogate starts from, then fine-tunes on the run's own labels; the
    initial cells are those it ranks best (``NetembedSearch.prior_first``).
    ``space``: the search space (``netembed.spaces``; None: NAS-Bench-101), whose label-free
    ``encoder-<space>`` netembed+pretrained loads.
    """
    from netembed import spaces
    from netembed.search.baselines import BASELINES
    from netembed.search.controller import NetembedSearch

    objective = check_method(name, objective, warm_start)
    space = spaces.get(space)
    rng = np.random.default_rng(seed)
    if name in BASELINES:
        return BASELINES[name](rng, space=space)
    init = f"encoder-{space.name}" if name == "netembed+pretrained" else None
    warm_start = f"surrogate-{space.name}/accuracy" if name == "netembed+warm" else warm_start
    return NetembedSearch(
        rng, init=init, objective=objective, prior=warm_start, space=space, prior_first=warm_start is not None
    )


# -- the spec ------------------------------------------------------------------------------------


def _whole(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise SearchError(f"{name} must be an integer >= {low}, got {value!r}")


@dataclass(frozen=True)
class SearchSpec:
    """One search, fully described (validated at construction; see the module docstring): what
    each field means is its help. ``objective``: the reward each cell earns and what the search is
    for; ``budget``: queries and/or seconds; ``training``: real training's settings (the train
    evaluator); ``data``: the table's folder or ``.npz`` (None: ``$NETEMBED_DATA`` or
    ``$NETEMBED_NB201_DATA``, else the default place); ``space``, ``dataset``: the search space
    and, for NAS-Bench-201, the data set whose validation accuracy is searched (None: the table's
    first, or the surrogate's own)."""

    method: str = documented("netembed", ", ".join(METHODS))
    evaluator: str = documented(
        "surrogate", "surrogate: pretrained predictors, no table needed; table: the space's table; train: real "
        "training of each cell's network (NAS-Bench-101; see the real training options)",
    )  # fmt: skip
    objective: Objective = Objective()
    budget: Budget = Budget(queries=100)
    seed: int = documented(0, "the method's seed (worker k: seed + 10,000 k)")
    accuracy_model: str | None = documented(None, "pretrained name or directory (default: surrogate-SPACE/accuracy)")
    time_model: str | None = documented(None, "pretrained name or directory (default: surrogate-SPACE/time)")
    training: TrainingSpec | None = None
    data: str | None = None
    workers: int = documented(
        1, "worker processes sharing one Optuna study (in --storage, else OUT/study.db); rerunning the same command "
        "rejoins the study. 1 (the default) without --storage: one process, a query log, no study",
    )  # fmt: skip
    worker: int = documented(
        0, "this process's worker index (its method is seeded --seed + 10,000 * index); with --workers N, the first "
        "of N; give each machine its own",
    )  # fmt: skip
    storage: str | None = documented(
        None, "an Optuna RDB storage URL shared by workers on any machines, e.g. postgresql+psycopg://user@host/db "
        "(each machine runs the same command); default $NETEMBED_STORAGE, which keeps a password out of ps",
    )  # fmt: skip
    study: str = documented("netembed", "the study's name in --storage")
    warm_start: str | None = documented(
        None, "a pretrained predictor whose best-ranked cells are queried first, then the netembed surrogate starts "
        "from it and fine-tunes on the run's labels (surrogate-nb101/accuracy: it has seen CIFAR-10 labels; for a "
        "task of your own, not the table)",
    )  # fmt: skip
    space: str = "nb101"
    dataset: str | None = None
    latency_model: str | None = documented(
        None, "nb201: a device's latency model (train-predictor --label latency:DEVICE, e.g. adapted from 10 "
        "timings) whose predictions a latency:DEVICE cost reads instead of the table's column",
    )  # fmt: skip
    latency_quantile: float = documented(
        0.95, "the quantile of --latency-model's predictive spread the cost reads (0.95: a constraint the device "
        "meets with probability 0.95 under the model; 0.5: its median)",
    )  # fmt: skip

    def __post_init__(self) -> None:
        if not isinstance(self.objective, Objective):
            raise SearchError(f"SearchSpec.objective must be an Objective, got {self.objective!r}")
        if not isinstance(self.budget, Budget):
            raise SearchError(f"SearchSpec.budget must be a Budget, got {self.budget!r}")
        check_method(self.method, self.objective, self.warm_start)
        if self.evaluator not in EVALUATORS:
            raise SearchError(f"evaluator must be one of {', '.join(EVALUATORS)}, got {self.evaluator!r}")
        _whole("seed", self.seed, 0)
        for value in (self.workers, self.worker):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise SearchError(f"workers and worker must be integers, got {value!r}")
        if self.workers < 1 or self.worker < 0:
            raise SearchError(f"--workers must be >= 1 and --worker >= 0, got {self.workers} and {self.worker}")
        if self.workers > MAX_WORKERS:
            raise SearchError(
                f"--workers must be at most {MAX_WORKERS} (processes on one machine; more machines join the study "
                f"with the same command and their own --worker), got {self.workers}"
            )
        if self.training is not None and self.evaluator != "train":
            self._drop_training()
        self._check_space()

    def _drop_training(self) -> None:
        """Real training's settings are read by the train evaluator only: warn of those set, keep none."""
        from netembed.train.spec import TrainingSpec

        default = TrainingSpec()
        given = [name for name, value in vars(self.training).items() if value != getattr(default, name)]
        if given:
            options = ", ".join("--" + name.replace("_", "-") for name in given)
            warn(f"{options}: real training's options, ignored by the {self.evaluator} evaluator")
        object.__setattr__(self, "training", None)  # frozen: set once, while it is being built

    def _check_space(self) -> None:
        """NAS-Bench-101 searches with every evaluator, its costs seconds or parameters;
        NAS-Bench-201 its table or a surrogate, its costs parameters or a device's latency."""
        from netembed import spaces

        spaces.get(self.space)  # an unknown one is refused, naming the known ones
        reward = self.objective.reward
        if self.space == "nb101":
            if self.dataset is not None:
                raise SearchError(f"--dataset is for nb201 (NAS-Bench-101 has CIFAR-10 only), got {self.dataset!r}")
            if reward.measure == "latency":
                raise SearchError(
                    f"NAS-Bench-101 has no latencies: --cost must be seconds or params, got {reward.cost!r}"
                )
            return
        if self.evaluator not in ("table", "surrogate"):
            raise SearchError(
                f"a {self.space} search reads its table or a surrogate: evaluator must be 'table' or 'surrogate', "
                f"got {self.evaluator!r}"
            )
        if reward.mode != "accuracy" and reward.measure == "seconds":
            raise SearchError(
                f"{self.space} has no training times: a reward's cost must be params or latency:DEVICE, got 'seconds'"
            )
        if self.latency_model is not None and reward.measure != "latency":
            raise SearchError(f"--latency-model predicts a latency:DEVICE cost, got --cost {reward.cost!r}")
        if isinstance(self.latency_quantile, bool) or not (
            isinstance(self.latency_quantile, (int, float)) and 0 < self.latency_quantile < 1
        ):
            raise SearchError(f"--latency-quantile must be in (0, 1), got {self.latency_quantile!r}")
        if reward.measure == "latency" and self.evaluator != "table" and self.latency_model is None:
            raise SearchError(
                "a latency cost is read from the table (evaluator 'table') or predicted by --latency-model, "
                f"got evaluator {self.evaluator!r} and no latency model"
            )

    @property
    def models(self) -> tuple[str, str]:
        """The accuracy and time models' names or directories (None: the space's shipped surrogates)."""
        return (
            self.accuracy_model or f"surrogate-{self.space}/accuracy",
            self.time_model or f"surrogate-{self.space}/time",
        )

    @property
    def shared(self) -> bool:
        """Whether the search runs as workers sharing an Optuna study."""
        return self.storage is not None or self.workers != 1

    def to_dict(self) -> dict:
        """JSON-ready, the storage URL without its password."""
        from netembed.runs.study import safe_url

        spec = {f: getattr(self, f) for f in self.__dataclass_fields__}
        return spec | {
            "objective": {"kind": self.objective.kind, **asdict(self.objective.reward)},
            "budget": asdict(self.budget),
            "training": None if self.training is None else self.training.to_dict(),
            "storage": None if self.storage is None else safe_url(self.storage),
        }


# -- running it ----------------------------------------------------------------------------------


@dataclass
class SearchReport:
    """What a search found: ``payload`` is ``result.json``; ``rows`` the best cells by reward."""

    spec: SearchSpec
    result: SearchResult
    payload: dict
    rows: list[dict]
    table_present: bool
    out: Path
    sharing: dict | None = None  # storage, study, workers and wall seconds of a shared search
    overhead: float | None = None  # search seconds per query (one process; None when shared)
    resumed: dict | None = None  # a resumed run: its logged queries, restored or replayed

    def __iter__(self):
        """Unpacks as every job's result does: ``payload, text = run(spec)``."""
        return iter((self.payload, self.text()))

    def done(self) -> str:
        """How the run went: its search overhead per query, or its workers and wall time."""
        if self.sharing is None:
            return (
                f"search overhead {self.overhead:.3f} s/query (evaluator {self.result.evaluator_seconds:.1f} s in all)"
            )
        if self.overhead is not None:
            return f"search overhead {self.overhead:.3f} s/query"
        return f"{self.sharing['workers']} workers, {self.sharing['wall_seconds']:.1f} s wall time"

    def text(self) -> str:
        """The report as a person reads it: the best cells, where the figures come from, the files."""
        payload, result = self.payload, self.result
        if self.spec.space != "nb101":
            return "\n".join(_table_text(self))
        done = self.done()
        sources = {
            "surrogate": "(pred: the pretrained surrogates the search used; true: the table, unseen by the search):",
            "table": "(pred acc: the pretrained surrogate; true: the table):",
            "train": f"(reward and seconds: measured by training on {payload['settings'].get('training', {}).get('data')}; "
            "pred acc: the pretrained surrogate; true: the table's CIFAR-10 figures):",
        }
        lines = [
            f"\n{len(result.evaluations)} queries, {done}. Best cells by reward " + sources[self.spec.evaluator],
            (
                f"{'#':>2} {'hash':<33}{'reward':>7}{'pred acc':>9}{'true acc':>9}{'rank':>8}{'seconds':>8}"
                f"{'true s':>7}{'params':>11}  ops"
            ),
        ]
        lines += [_best_row_text(i, r) for i, r in enumerate(self.rows, 1)]
        reward = self.spec.objective.reward
        if reward.mode == "soft":
            lines.append(
                f"(reward = {reward.describe()}: it weighs accuracy against {reward.cost}, so the best cells by reward "
                "are not the most accurate ones; --reward accuracy ranks by accuracy alone)"
            )
        best = [] if not self.rows else [f"best cell: {json.dumps({k: self.rows[0][k] for k in ('matrix', 'ops')})}"]
        return "\n".join(lines + self.closing("set NETEMBED_DATA", best))

    def closing(self, how_to_find: str, middle: list[str]) -> list[str]:
        """The lines after the best cells: the most accurate within a hard budget, ``middle``, the
        front's size, ``how_to_find`` the table when it was not found, and the files written."""
        payload, lines = self.payload, []
        if "within_budget" in payload:
            lines.append(_within_budget_text(payload["within_budget"], self.spec.evaluator))
        lines += middle
        if "pareto_front" in payload:
            lines.append(
                f"Pareto front (accuracy vs {self.spec.objective.cost}) of the queried cells: "
                f"{len(payload['pareto_front'])} cells (in {self.out / 'result.json'})"
            )
        if not self.table_present:
            lines.append(f"(no table found: true accuracies not shown; {how_to_find} to see them)")
        return [*lines, f"wrote {self.out / 'result.json'} and {payload['plot']}"]


def _best_row_text(i: int, r: dict) -> str:
    def show(value, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    seconds = show(r["seconds"], ".0f" if (r["seconds"] or 0) >= 100 else ".2f")
    return (
        f"{i:>2} {r['hash']:<33}{r['reward']:>7.4f}{show(r['predicted_accuracy'], '.4f'):>9}"
        f"{show(r.get('true_accuracy'), '.4f'):>9}{show(r.get('true_rank'), ','):>8}"
        f"{seconds:>8}{show(r.get('true_seconds'), '.0f'):>7}{r['params']:>11,}  "
        + " ".join(o.replace("-bn-relu", "") for o in r["ops"][1:-1])
    )


@dataclass
class _Parts:
    """What every process of a search builds from the spec."""

    bench: Benchmark | None
    predictor: AccuracyPredictor | None
    evaluator: Evaluator
    settings: dict


def _load_models(spec: SearchSpec):
    """The pretrained accuracy predictor and time estimator, and the accuracy predictor's card
    (``meta``: what it was trained on). Either may be absent unless required (None), but one that
    is there must load and be of the run's space: a broken model is an error, never dropped."""
    from netembed.errors import DataError
    from netembed.models import hub
    from netembed.models.predictors import AccuracyPredictor, PredictorConfig, TimeEstimator

    models, card = [], {}
    for cls, name, required in (
        (AccuracyPredictor, spec.models[0], spec.evaluator == "surrogate"),
        (TimeEstimator, spec.models[1], False),
    ):
        try:
            directory = hub.resolve(name)
        except DataError:  # no such directory or name
            if required:
                raise
            models.append(None)
            continue
        model, meta = hub.load_pretrained(cls, directory, PredictorConfig)
        if model.config.space != spec.space:
            raise spaces.SpaceError(
                f"a {spec.space} search needs models of its space: {directory} is a {model.config.space} model"
            )
        models.append(model)
        card = card or meta
    return *models, card


def _parts(spec: SearchSpec, out: Path) -> _Parts:
    """The table (if any), the pretrained models, the evaluator, and the run's settings (which a
    resumed or shared run must match)."""
    from netembed.search.evaluators import SurrogateEvaluator, TableEvaluator

    if spec.space != "nb101":
        return _parts_elsewhere(spec)
    bench = spaces.get(spec.space).find_table(spec.data, required=spec.evaluator == "table")
    reward = spec.objective.reward
    predictor, timer, _ = _load_models(spec)
    if reward.mode != "accuracy" and reward.cost == "seconds" and timer is None:  # table times cover 20k cells only
        raise SearchError(f"a {reward.mode} reward on seconds needs a time estimator, none found at {spec.models[1]}")
    if spec.evaluator == "table":
        evaluator = TableEvaluator(bench, time_estimator=timer)
    elif spec.evaluator == "train":
        from netembed.search.evaluators import RealTrainingEvaluator
        from netembed.train.spec import TrainingSpec

        training = spec.training or TrainingSpec()
        data, network, config, device = training.build(spec.seed)
        evaluator = RealTrainingEvaluator(
            data, network, config, device, checkpoint_root=out / "networks", inherit=training.inherit
        )
    else:
        evaluator = SurrogateEvaluator(predictor, timer)
    settings = _settings(spec) | {
        "accuracy_model": spec.models[0] if spec.evaluator == "surrogate" else None,
        "time_model": spec.models[1] if timer is not None else None,
        "budget": {"queries": spec.budget.queries, "seconds": spec.budget.seconds},
    }
    if spec.evaluator == "train":
        settings["training"] = evaluator.describe()
    if spec.warm_start is not None:  # only then: logs written before the option still resume
        settings["warm_start"] = spec.warm_start
    return _Parts(bench, predictor, evaluator, settings)


def _settings(spec: SearchSpec) -> dict:
    """What every run's settings begin with (a resumed or shared run must match them all)."""
    reward = spec.objective.reward
    return {
        "method": spec.method,
        "objective": spec.objective.kind,
        "seed": spec.seed,
        "evaluator": spec.evaluator,
        "reward": reward.describe(),
        "cost": reward.cost,
    }


def _parts_elsewhere(spec: SearchSpec) -> _Parts:
    """NAS-Bench-201: the table's validation accuracies of the data set label the queries (its
    latencies on the cost's device the cost), or the space's surrogate predicts them."""
    from netembed.search.evaluators import NB201TableEvaluator, SurrogateEvaluator

    space, reward = spaces.get(spec.space), spec.objective.reward
    table = space.find_table(spec.data, required=spec.evaluator == "table")
    latency, timings = _latency_model(spec)
    if spec.evaluator == "table":
        evaluator = NB201TableEvaluator(table, spec.dataset or table.datasets[0], reward.device, latency)
        predictor, dataset = None, evaluator.dataset
    else:
        predictor, _, card = _load_models(spec)
        dataset = _surrogate_dataset(spec, card)
        if table is not None:
            table.check_dataset(dataset)
        evaluator = SurrogateEvaluator(predictor, space=space, latency_model=latency)
    settings = _settings(spec) | {
        "budget": {"queries": spec.budget.queries, "seconds": spec.budget.seconds},
        "space": spec.space,
        "dataset": dataset,
    }
    if spec.evaluator == "surrogate":
        settings["accuracy_model"] = spec.models[0]
    if latency is not None:  # only then: earlier logs still resume
        settings["latency_model"] = {"model": spec.latency_model, "timings": timings, "quantile": latency.quantile}
    return _Parts(table, predictor, evaluator, settings)


def _latency_model(spec: SearchSpec):
    """The ``PredictedLatency`` a latency cost reads (None: the table's column) and the number of
    timings it was adapted from (its card's: measurements made beside the search's queries)."""
    if spec.latency_model is None:
        return None, None
    from netembed.models import hub
    from netembed.models.latency import DeviceConfig, DeviceLatency
    from netembed.search.evaluators import PredictedLatency

    model, meta = hub.load_pretrained(DeviceLatency, hub.resolve(spec.latency_model), DeviceConfig)
    device = spec.objective.reward.device
    if model.config.space != spec.space or model.config.device != device:
        raise SearchError(
            f"--latency-model must predict {spec.space} latencies on {device} (--cost latency:{device}), got "
            f"{model.config.space} latencies on {model.config.device} in {spec.latency_model}"
        )
    return PredictedLatency(model, spec.latency_quantile), meta.get("timings")


def _surrogate_dataset(spec: SearchSpec, card: dict) -> str:
    """The data set a surrogate predicts (its card's ``target``, ``{dataset}_val``): ``--dataset``
    must name it, for a surrogate's labels are those of the data set it was trained on."""
    target = str(card.get("target", ""))
    trained = target.removesuffix("_val") if target.endswith("_val") else None
    if spec.dataset is not None and trained is not None and spec.dataset != trained:
        raise SearchError(
            f"the surrogate {spec.models[0]} predicts {trained} validation accuracy (its card), got --dataset "
            f"{spec.dataset}: train one on {spec.dataset} (netembed train-predictor --space {spec.space} "
            f"--dataset {spec.dataset}) and pass it as --accuracy-model, or search with --evaluator table"
        )
    return spec.dataset or trained or "unknown"


def run(
    spec: SearchSpec, out="results/search", resume: bool = False, top: int = 5, progress: bool = False, announce=None
) -> SearchReport:
    """Run ``spec``, writing the query log (or study), ``result.json`` and the plot in ``out``.

    A shared study is rejoined by running the same spec again. ``announce(line)`` hears what the
    run is about to do (e.g. ``print``), before the progress bar starts.

    Args:
        out: folder for the query log, result and plot
        resume: continue the one-process run logged in --out
        top: best cells to print
    """
    out = Path(out)
    announce = announce or (lambda line: None)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise SearchError(f"--top must be a positive integer, got {top!r}")
    if spec.shared and resume:
        raise SearchError("--resume is for one-process runs; a shared study is rejoined by rerunning the same command")
    parts = _parts(spec, out)  # reads the table and the models, writes nothing: bad input leaves no folder
    spaces.get(spec.space).prepare(announce)
    with folder_lock(out):  # one process owns a run folder (its log, study file, result)
        if spec.shared:
            result, sharing, overhead = _run_shared(spec, out, parts, progress, announce)
            resumed = None
        else:
            result, resumed = _run_local(spec, out, parts, resume, progress, announce)
            asked = len(result.evaluations) - (resumed["restored"] if resumed else 0)  # restored ones cost nothing
            sharing, overhead = None, result.search_seconds / max(1, asked)
        return _report(spec, out, parts, result, top, sharing, overhead, resumed)


def _run_local(spec: SearchSpec, out: Path, parts: _Parts, resume: bool, progress: bool, announce):
    from netembed.runs.querylog import QueryLog
    from netembed.search import run_search

    method = _method(spec, spec.seed)  # a bad one writes nothing
    log_path = out / "queries.jsonl"
    log = QueryLog.resume(log_path, parts.settings) if resume else QueryLog.start(log_path, parts.settings)
    logged, known, where, resumed = len(log.evaluations), [], "", None
    if resume:
        method, known, why = _restore(method, spec, log)
        resumed = {"logged": logged, "restored": len(known), "replayed": logged - len(known), "checkpoint": why}
        where = (
            f"{logged} logged queries: {len(known)} restored from the checkpoint, {logged - len(known)} replayed; "
            if known
            else f"{logged} logged queries replayed ({why}); "
        )
    announce(
        f"{method.name} search, seed {spec.seed}, {parts.evaluator.name} evaluator, reward "
        f"{spec.objective.reward.describe()}; {where}log {log_path}"
    )
    try:
        result = run_search(
            method,
            parts.evaluator,
            spec.objective,
            spec.budget,
            seed=spec.seed,
            replay=log.evaluations[len(known) :],
            on_query=log.append,
            progress=progress,
            known=known,
            on_state=log.save_state,
        )
    except KeyboardInterrupt:
        raise SearchError(
            f"interrupted after {len(log.evaluations)} queries, all logged in {log_path}; "
            "continue with the same command and --resume"
        ) from None
    return result, resumed


def _method(spec: SearchSpec, seed: int) -> Method:
    return build_method(spec.method, seed, spec.objective, spec.warm_start, spec.space)


def _restore(method: Method, spec: SearchSpec, log) -> tuple[Method, list[Evaluation], str]:
    """The method restored from the log's checkpoint and the labels it had seen then; or, without
    a usable checkpoint, the fresh method, no labels, and why (the whole log is then replayed)."""
    state, queries, why = log.saved_state()
    if state is None:
        return method, [], why
    known = log.evaluations[:queries]
    try:
        method.restore(state, known)
    except (SearchError, KeyError, RuntimeError, TypeError, ValueError, NotImplementedError) as exc:
        # an edited or foreign state: the replay asks the same cells, only slower
        return _method(spec, spec.seed), [], f"checkpoint set aside: {exc}"
    return method, known, "restored"


def _study(spec: SearchSpec, out: Path, settings: dict, worker: int, joining: bool = False):
    """A worker's connection to the study (``spec.storage``, else an SQLite file in ``out``: one
    machine, many processes) and its own method, seeded from the spec's seed and its index.
    ``joining``: a worker process, whose parent has reached the storage already."""
    from netembed.runs.study import SharedStudy, worker_seed

    storage = spec.storage
    if storage is None:
        out.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{(out / 'study.db').resolve()}"
    shared = SharedStudy(storage, spec.study, settings, joining=joining, space=spec.space)
    return shared, _method(spec, worker_seed(spec.seed, worker))


def _worker_process(spec: SearchSpec, out: Path, worker: int) -> None:
    """One spawned process of a shared search: its own evaluator and method, the shared study."""
    from netembed.runs.study import interrupt_on_sigterm

    interrupt_on_sigterm()  # first: SIGTERM (the parent passes its own on) stops this worker as Ctrl-C does
    import torch

    from netembed import threads
    from netembed.errors import NetembedError
    from netembed.runs.study import STORAGE_LOST, StorageLostError, run_worker, scrub

    torch.set_num_threads(max(1, threads.choose() // spec.workers))
    try:
        parts = _parts(spec, out)
        shared, method = _study(spec, out, parts.settings, worker, joining=True)
        run_worker(method, parts.evaluator, spec.objective, spec.budget, shared, worker)
    except StorageLostError:
        sys.exit(STORAGE_LOST)  # the parent says it, once for every worker, on its own line
    except NetembedError as exc:
        # one write, newline included: the workers share stderr, and print's two writes (the text,
        # then the newline) can interleave with another worker's line when stderr is unbuffered
        message = scrub(str(exc), spec.storage)  # no secret of the URL
        sys.stderr.write(f"netembed search: worker {worker}: error: {message}\n")
        sys.stderr.flush()
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def _run_shared(spec: SearchSpec, out: Path, parts: _Parts, progress: bool, announce):
    """Workers sharing one Optuna study (``netembed.runs.study``): this process runs worker
    ``spec.worker`` itself when it is the only one, else spawns ``spec.workers`` processes and
    shows the study's progress."""
    import multiprocessing

    from tqdm.auto import tqdm

    from netembed.runs.study import STORAGE_LOST, WorkerProcesses, run_worker

    shared, method = _study(spec, out, parts.settings, spec.worker)  # a bad storage: nothing runs
    with shared.connection():
        there = len(shared.labels())
    announce(
        f"{method.name} search, {spec.workers} worker(s) sharing study {spec.study!r} in {shared.safe_url}, "
        f"seed {spec.seed}, {parts.evaluator.name} evaluator, reward {spec.objective.reward.describe()}"
        + (f"; {there} queries already there" if there else "")
    )
    started = time.perf_counter()
    if spec.workers == 1:
        mine = run_worker(method, parts.evaluator, spec.objective, spec.budget, shared, spec.worker, progress=progress)
        overhead = mine.search_seconds / max(1, len(mine.evaluations))
    else:
        context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch or DB state
        workers = WorkerProcesses(
            context.Process(target=_worker_process, args=(spec, out, spec.worker + k)) for k in range(spec.workers)
        )
        bar = tqdm(
            total=spec.budget.queries,
            desc=f"{method.name} x{spec.workers}",
            unit="query",
            disable=not progress,
            dynamic_ncols=True,
        )
        with workers:  # SIGTERM stops the workers as Ctrl-C does; this process, and the folder lock, after them
            try:
                workers.start()
                with shared.connection():
                    while workers.alive():
                        labels = shared.labels()
                        bar.n = len(labels)
                        if labels:
                            bar.set_postfix(progress_figures(labels.values()), refresh=False)
                        bar.refresh()
                        time.sleep(1.0)
            except KeyboardInterrupt:
                why = "stopped by SIGTERM" if workers.terminated else "interrupted"
                raise SearchError(
                    f"{why}; every finished query is in study {spec.study!r}: rerun the same command to continue"
                ) from None
            finally:  # interrupted or the storage lost: the workers say so themselves, then this process
                bar.close()
                workers.join()
        failed = [(spec.worker + k, p.exitcode) for k, p in enumerate(workers.processes) if p.exitcode != 0]
        if any(code == STORAGE_LOST for _, code in failed):
            with shared.connection():  # the storage's own reason when it is still gone
                shared.labels()
            raise shared.lost(f"worker(s) {', '.join(str(w) for w, c in failed if c == STORAGE_LOST)} lost it")
        if failed:
            raise SearchError(
                f"worker(s) {', '.join(f'{w} (exit code {c})' for w, c in failed)} stopped early; every "
                f"finished query is in study {spec.study!r}: rerun the same command to continue"
            )
        overhead = None  # spread over processes; the wall time says what a user waits
    with shared.connection():
        result = shared.result(method.name, spec.seed)
    sharing = {
        "storage": shared.safe_url,
        "study": spec.study,
        "workers": spec.workers,
        "wall_seconds": time.perf_counter() - started,
    }
    return result, sharing, overhead


def _report(spec, out, parts, result, top, sharing, overhead, resumed) -> SearchReport:
    objective = spec.objective
    if spec.space != "nb101":
        rows = table_rows(result.evaluations, top, parts.bench, parts.settings["dataset"])
    else:
        rows = best_rows(result.evaluations, top, bench=parts.bench, predictor=parts.predictor)
    payload = {
        "spec": spec.to_dict(),
        "settings": parts.settings,
        "queries": len(result.evaluations),
        "search_seconds_per_query": overhead,
        "best": rows,
    }
    if resumed is not None:
        payload["resumed"] = resumed
    if sharing is not None:
        payload["shared"] = sharing
    else:
        payload["evaluator_seconds"] = result.evaluator_seconds
    if objective.multi:  # cost matters: keep the front of what was queried
        payload["pareto_front"] = front_rows(result.evaluations, objective.cost, spec.space)
    if objective.reward.mode == "hard":  # a cost budget: the most accurate cell that fits it
        truth = truth_of(parts.bench, objective.reward, spec.space, parts.settings.get("dataset"))
        payload["within_budget"] = within_budget(result.evaluations, objective.reward, truth, spec.space)
    if getattr(parts.evaluator, "inherit", False) and not (sharing and sharing["workers"] > 1):
        # which cells started from a parent's weights (this process's; worker processes keep their own)
        payload["inherited_from"] = parts.evaluator.parents
    payload["plot"] = str(plot_search(result, parts.bench if spec.space == "nb101" else None, out / "best_so_far.png"))
    atomic_write(out / "result.json", lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2)))
    return SearchReport(spec, result, payload, rows, parts.bench is not None, out, sharing, overhead, resumed)


def within_budget(evaluations: list[Evaluation], reward: Reward, truth: tuple | None = None, space=None) -> dict:
    """The most accurate queried cell whose cost (the evaluator's) is within the hard reward's
    target; with ``truth`` (the table's true accuracies and costs by row, and a cell's row or
    None), its true accuracy and rank among the table's cells that fit, and the best of those.
    ``space``: the cells' (None: NAS-Bench-101)."""
    cost, target = reward.measure, reward.target
    fits = [e for e in evaluations if getattr(e, cost) is not None and getattr(e, cost) <= target]
    row = {"cost": cost, "target": target, "queried_within": len(fits), "best": None}
    if not fits:
        return row
    best = max(fits, key=lambda e: (e.accuracy, -e.query))
    row["best"] = {"hash": best.cell.hash, **spaces.get(space).to_json(best.cell)} | {
        "query": best.query,
        "accuracy": best.accuracy,
        cost: getattr(best, cost),
    }
    accuracies, costs, row_of = truth if truth is not None else (None, None, None)
    index = None if truth is None else row_of(best.cell)
    if index is not None:
        true = float(accuracies[index])
        known = ~np.isnan(costs.astype(float))
        fit = known & (costs <= target)
        row["best"].update(
            true_accuracy=true,
            true_cost=float(costs[index]),
            true_rank_within=1 + int(np.count_nonzero(accuracies[fit] > true)),
            table_best_within=float(accuracies[fit].max()) if fit.any() else None,
            table_cells_within=int(fit.sum()),
            table_cells_costed=int(known.sum()),
            table_rows=len(costs),
        )
    return row


def truth_of(table, reward: Reward, space=None, dataset: str | None = None) -> tuple | None:
    """What ``within_budget`` checks a pick against in ``table`` (None: nothing): the true
    accuracies (NAS-Bench-101's test accuracy; another space's test accuracy of ``dataset``),
    the costs the reward reads, and a cell's row (None where the table lacks it)."""
    if table is None:
        return None
    space = spaces.get(space)
    if space.name == "nb101":
        costs = table.params if reward.measure == "params" else table.train_time_108
        return table.test_acc_108, costs, lambda cell: table.row_of(cell) if cell in table else None
    if reward.measure == "latency":
        if reward.device not in table.devices:  # a device of one's own: nothing to check the pick against
            return None
        costs = table.latency[reward.device]
    else:
        costs = np.array([space.count_params(table.arch_at(i)) for i in range(len(table))])
    accuracies = table.test[dataset] if table.test[dataset] is not None else table.val[dataset]
    return accuracies, costs, table.row_of


#: How a cost's values read.
_UNITS = {"params": "parameters", "seconds": "s", "latency": "ms"}


def _within_budget_text(row: dict, evaluator: str) -> str:
    unit = _UNITS[row["cost"]]
    digits = ".2f" if row["cost"] == "latency" else ",.0f"
    limit, best = f"{row['target']:{digits}} {unit}", row["best"]
    if best is None:
        return f"none of the queried cells is within {limit} (by the {evaluator} evaluator)"
    line = (
        f"within {limit} (by the {evaluator} evaluator; {row['queried_within']} queried cells fit), the most "
        f"accurate: query {best['query']}, accuracy {best['accuracy']:.4f} at {best[row['cost']]:{digits}} {unit}"
    )
    if "true_accuracy" in best:
        costed, rows = best["table_cells_costed"], best["table_rows"]
        line += (
            f"; true accuracy {best['true_accuracy']:.4f}, rank {best['true_rank_within']:,} of the "
            f"{best['table_cells_within']:,} table cells within {limit}"
            + ("" if costed == rows else f" (the table times {costed:,} of its {rows:,} cells)")
            + ("" if best["table_best_within"] is None else f", whose best is {best['table_best_within']:.4f}")
        )
    return line


def front_rows(evaluations: list[Evaluation], cost: str, space=None) -> list[dict]:
    """The queried cells on the front of accuracy against ``cost`` (cells without it are left out);
    ``space``: the cells' (None: NAS-Bench-101)."""
    space = spaces.get(space)
    values = np.array([getattr(e, cost) or np.nan for e in evaluations], dtype=float)
    known = np.flatnonzero(np.isfinite(values))
    front = known[pareto_front(np.array([evaluations[i].accuracy for i in known]), values[known])]
    return [
        {"hash": evaluations[i].cell.hash, **space.to_json(evaluations[i].cell)}
        | {"accuracy": evaluations[i].accuracy, cost: float(values[i])}
        for i in front
    ]


def plot_search(result: SearchResult, bench: Benchmark | None, path: Path) -> Path:
    """Best reward and accuracy so far against queries; with the table, the true accuracy of the
    best-reward cell so far (the table is not used by the search)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    queries = np.arange(1, len(result.evaluations) + 1)
    ax.plot(queries, result.best_so_far("reward"), label="best reward so far")
    ax.plot(queries, result.best_so_far("accuracy"), label="best evaluator accuracy so far", ls="--")
    if bench is not None:
        best, truth = None, []
        for e in result.evaluations:
            if best is None or e.reward > best.reward:
                best = e
            truth.append(bench.query(best.cell).test_acc_108 if best.cell in bench else np.nan)
        ax.plot(queries, truth, label="true test accuracy of that cell", ls=":")
    ax.set(xlabel="queries", ylabel="best so far: reward, accuracy", title=f"{result.method} (seed {result.seed})")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def table_rows(evaluations: list[Evaluation], k: int, table, dataset: str) -> list[dict]:
    """NAS-Bench-201: the ``k`` best architectures by reward, each with what the evaluator said
    (``accuracy``: the validation accuracy it read, or a surrogate's prediction of it) and, with
    the table, its index, true validation and test accuracy (what the benchmark's users report)
    and rank among the table's architectures by validation accuracy. 12-epoch figures."""
    best = sorted(evaluations, key=lambda e: (-e.reward, e.query))[:k]
    rows = []
    for e in best:
        row = {
            "query": e.query,
            "hash": e.cell.hash,
            "arch": e.cell.hash,
            "reward": e.reward,
            "accuracy": e.accuracy,
            "params": e.params,
            "latency": e.latency,
            "index": None,
            "val_accuracy": None,
            "test_accuracy": None,
            "val_rank": None,
        }
        if table is not None:
            index = row["index"] = table.row_of(e.cell)
            val, test = table.val[dataset], table.test[dataset]
            row["val_accuracy"] = float(val[index])
            row["test_accuracy"] = None if test is None else float(test[index])
            row["val_rank"] = 1 + int(np.count_nonzero(val > val[index]))
        rows.append(row)
    return rows


def _table_text(report: SearchReport) -> list[str]:
    """The lines of a NAS-Bench-201 report."""
    dataset, result = report.payload["settings"]["dataset"], report.result

    def show(value, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    surrogate = report.spec.evaluator == "surrogate"
    read = (
        f"a surrogate's prediction of {dataset}'s validation accuracy"
        if surrogate
        else (f"{dataset}'s validation accuracy")
    )
    latency = report.spec.objective.reward.device
    lines = [
        (
            f"\n{len(result.evaluations)} queries of {read} (12 epochs), {report.done()}. "
            "Best architectures by reward (true val and test: the table's, unseen by the search):"
        ),
        f"{'#':>2} {'index':>6}{'reward':>8}{'pred val' if surrogate else 'val acc':>9}"
        + (f"{'true val':>9}" if surrogate else "")
        + f"{'test acc':>9}{'val rank':>9}{'params':>11}"
        + (f"{'ms':>8}" if latency else "")
        + "  arch",
    ]
    for i, r in enumerate(report.rows, 1):
        lines.append(
            f"{i:>2} {show(r['index'], '>6')}{r['reward']:>8.4f}{r['accuracy']:>9.4f}"
            + (f"{show(r['val_accuracy'], '.4f'):>9}" if surrogate else "")
            + f"{show(r['test_accuracy'], '.4f'):>9}{show(r['val_rank'], ','):>9}{r['params']:>11,}"
            + (f"{show(r['latency'], '.2f'):>8}" if latency else "")
            + f"  {r['arch']}"
        )
    model, predicted = report.payload["settings"].get("latency_model"), []
    if model is not None:
        predicted.append(
            f"latency on {latency}: predicted by {model['model']} at its {model.get('quantile', 0.5):g} quantile, "
            f"adapted from {model['timings']} timings of the device (measurements beside the "
            f"{len(result.evaluations)} queries)"
        )
    return lines + report.closing("pass --data or set NETEMBED_NB201_DATA", predicted)


def best_rows(
    evaluations: list[Evaluation], k: int, bench: Benchmark | None = None, predictor: AccuracyPredictor | None = None
) -> list[dict]:
    """The ``k`` best cells by reward, with predicted accuracy (``predictor``) and true table values (``bench``)."""
    best = sorted(evaluations, key=lambda e: (-e.reward, e.query))[:k]
    predicted = predictor.predict([e.cell for e in best])[0] if predictor is not None and best else [None] * len(best)
    rows = []
    for e, guess in zip(best, predicted):
        row = {
            "query": e.query,
            "hash": e.cell.hash,
            "matrix": e.cell.matrix.tolist(),
            "ops": list(e.cell.ops),
            "reward": e.reward,
            "accuracy": e.accuracy,
            "seconds": e.seconds,
            "params": e.params,
            "predicted_accuracy": None if guess is None else float(guess),
        }
        if bench is not None and e.cell in bench:
            record = bench.query(e.cell)
            row.update(
                true_accuracy=float(record.test_acc_108),
                true_rank=bench.rank(record.test_acc_108),
                true_seconds=record.train_time_108,
            )
        rows.append(row)
    return rows
