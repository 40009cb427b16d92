"""The search harness: methods propose cells, an evaluator labels them, the loop counts queries.

Every method (the project's controller and each baseline) is a ``Method``: ``ask()`` proposes
one cell, ``tell(evaluation)`` hands back its result. One loop (``run_loop``) owns the
evaluator (``netembed.search.evaluators``) and the query accounting, so every method is measured the
same way, and a ``Store`` holds the run's labels: ``LocalStore`` for one process (``run_search``;
replay of a logged run, a callback per query) or a shared Optuna study for many workers
(``netembed.runs.study.run_worker``):

- a query is one new cell labelled by the evaluator; a cell already labelled in this run is
  answered from the run's own history and is not counted again (deduplication by hash);
- budgets are a number of queries and/or seconds of wall time;
- everything random comes from the ``np.random.Generator`` the method was built with.

The package's modules: ``objective`` (what a cell earns), ``evaluators`` (what labels it),
``baselines`` and ``controller`` (the methods).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from netembed._fields import Int, Number, documented
from netembed.errors import SearchError
from netembed.spaces.nb101.cell import Cell

if TYPE_CHECKING:
    from netembed.search.evaluators import Evaluator, Measurement

__all__ = [
    "MAX_REPEATS",
    "Budget",
    "Evaluation",
    "LocalStore",
    "Method",
    "SearchError",
    "SearchResult",
    "Store",
    "evaluation_from_record",
    "progress_figures",
    "run_loop",
    "run_search",
]


@dataclass(frozen=True)
class Evaluation:
    """What the evaluator said about one cell, and the reward the run's objective gives it."""

    cell: Cell  # an architecture of the run's space (a Cell in NAS-Bench-101)
    accuracy: float
    seconds: float | None  # training seconds (table, estimator or measured); None when unknown
    params: int
    reward: float
    query: int  # 1-based number of the query that first labelled this cell
    latency: float | None = None  # inference milliseconds on the run's device (a latency cost); None when unmeasured

    @classmethod
    def of(cls, cell, measured: Measurement, reward: float, query: int) -> Evaluation:
        """The evaluation of ``cell`` from its evaluator's measurement and the reward it earned."""
        return cls(cell, measured.accuracy, measured.seconds, measured.params, reward, query, measured.latency)

    def record(self) -> dict:
        """The measurement as stored (logs, study trials): ``latency`` only when measured, so that
        the records of runs without a latency cost stay as they always were."""
        measured = {"accuracy": self.accuracy, "seconds": self.seconds, "params": self.params}
        return measured if self.latency is None else measured | {"latency": self.latency}


def evaluation_from_record(
    record: dict, reward: float, query: int, claimed: str, source: str, witness: str, space=None
) -> Evaluation:
    """An ``Evaluation`` from its stored form (a log line, a study trial's attributes). The cell
    rebuilt from its JSON form in ``space`` (``netembed.spaces``; None: NAS-Bench-101's ``matrix``
    and ``ops``) must hash to ``claimed``, the hash ``witness`` stored beside it; ``source`` names
    the record in the error."""
    from netembed import spaces

    cell = spaces.get(space).from_json(record)
    if cell.hash != claimed:
        raise SearchError(f"{source}: its cell hashes to {cell.hash}, {witness} says {claimed}")
    values = {name: record.get(name) for name in ("accuracy", "seconds", "params", "latency")} | {"reward": reward}
    for name, value in values.items():
        rule, wording = _RECORD[name]
        if not (name in ("seconds", "latency") and value is None) and not rule.accepts(value):
            raise SearchError(f"{source}: its {name} must be {wording}, got {value!r}")
    seconds, latency = (None if values[k] is None else float(values[k]) for k in ("seconds", "latency"))
    return Evaluation(cell, float(values["accuracy"]), seconds, values["params"], float(reward), int(query), latency)


#: What a stored evaluation's numbers must be (``netembed._fields`` rules), in its errors' words.
_RECORD = {
    "accuracy": (Number(0, 1), "a number in [0, 1]"),
    "seconds": (Number(0, math.inf), "a non-negative number or null"),
    "params": (Int(1, 2**63 - 1), "a positive integer"),
    "reward": (Number(-math.inf, math.inf), "a finite number"),
    "latency": (Number(0, math.inf, open_low=True), "a positive number of milliseconds or absent"),
}


class Method(ABC):
    """A search method: ``ask`` for a cell, ``tell`` it how that cell scored (higher reward is better)."""

    name: str = "method"

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    @abstractmethod
    def ask(self) -> Cell:
        """The next cell to evaluate (may repeat a cell already told; repeats cost no query)."""

    @abstractmethod
    def tell(self, evaluation: Evaluation) -> None:
        """The result for the cell of the last ``ask``."""

    def observe(self, evaluation: Evaluation) -> None:
        """A label this method did not ask for (another worker's query, ``netembed.runs.study``).
        Ignored by default: the method then stays an independent search."""

    def settings(self) -> dict:
        """Everything besides the seed that decides this method's choices, as JSON values: a saved
        run (``netembed compare``, the transfer benchmark) is reused only by a method whose settings
        are equal, so a run of an older default is run again, never mixed in. Default: the name."""
        return {"method": self.name}

    def state(self) -> dict | None:
        """The method's whole state when it is at a point a resumed run can start from, else None
        (the default: never; a resumed run then replays its log from the first query, which costs
        a baseline milliseconds). Tensors, numbers, strings, lists, tuples and dicts only: it is
        saved with ``torch.save`` and read back with ``weights_only=True``."""
        return None

    def restore(self, state: dict, told: list[Evaluation]) -> None:
        """Continue from ``state()`` of a method built with the same settings and seed, which had
        been told ``told`` (in order) when it was taken."""
        raise NotImplementedError(f"{self.name} keeps no state to restore")


# -- the loop ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """When a search stops: after ``queries`` new labels and/or ``seconds`` of wall time."""

    queries: int | None = documented(None, "queries (new cells labelled)")
    seconds: float | None = documented(None, "and/or a wall-time budget")

    def __post_init__(self) -> None:
        if self.queries is None and self.seconds is None:
            raise SearchError("a budget needs queries or seconds, got neither")
        if self.queries is not None and (not isinstance(self.queries, (int, np.integer)) or self.queries < 1):
            raise SearchError(f"budget queries must be a positive integer, got {self.queries!r}")
        if self.seconds is not None and not (np.isfinite(self.seconds) and self.seconds > 0):
            raise SearchError(f"budget seconds must be positive, got {self.seconds!r}")


@dataclass
class SearchResult:
    """Every query of one run, in order, with the time split between evaluator and search."""

    method: str
    seed: int
    evaluations: list[Evaluation]
    evaluator_seconds: float = 0.0
    search_seconds: float = 0.0  # everything except the evaluator: the method's own overhead

    def best(self, k: int = 1) -> list[Evaluation]:
        """The k highest-reward cells queried (ties: the earlier query first)."""
        return sorted(self.evaluations, key=lambda e: (-e.reward, e.query))[:k]

    def best_so_far(self, field: str = "reward") -> np.ndarray:
        """Running maximum of ``field`` over queries (element i: after query i + 1)."""
        return np.maximum.accumulate(np.array([getattr(e, field) for e in self.evaluations], dtype=float))


#: How many repeated proposals in a row a method may make before the run gives up on it.
MAX_REPEATS = 10_000


#: ``measure(cell)``: the evaluator's measurement of a cell and the reward it earns.
Measure = Callable[[Cell], tuple["Measurement", float]]


class RewardFunction(Protocol):
    """What a cell earns from its measurement: a ``Reward`` or an ``Objective``."""

    def __call__(
        self, accuracy: float, seconds: float | None = None, params: float | None = None, latency: float | None = None
    ) -> float: ...


class Store(Protocol):
    """Where a run's labels live: the loop asks it for labels it did not make, whether the budget
    is spent, and to label a new cell (``measure`` runs the evaluator)."""

    def news(self) -> dict[str, Evaluation]:
        """Every label in the store by cell hash (the loop hands the ones it has not seen to
        ``Method.observe``)."""

    def spent(self, queries: int | None) -> bool:
        """Whether a budget of ``queries`` labels is spent."""

    def label(self, cell: Cell, measure: Measure) -> tuple[Evaluation, bool] | None:
        """The label of a cell no label is known for, and whether this loop paid for it; None
        when the budget was spent meanwhile."""


class LocalStore:
    """The labels of a one-process run. ``replay``: earlier evaluations of the same run (same
    method, seed and settings), handed back without calling the evaluator, which is how a
    killed run resumes (the method re-asks the same cells and is told the logged results).
    ``on_query(evaluation)`` sees each new query (e.g. to log it) as soon as it exists;
    ``count``: labels the run had before this loop (a method restored from a checkpoint)."""

    def __init__(self, method_name: str, replay: list[Evaluation] | None = None, on_query=None, count: int = 0):
        self.method_name, self.replay, self.on_query, self.count = method_name, list(replay or []), on_query, count

    def news(self) -> dict[str, Evaluation]:
        return {}  # one process: every label is the loop's own

    def spent(self, queries: int | None) -> bool:
        return queries is not None and self.count >= queries

    def label(self, cell: Cell, measure: Measure) -> tuple[Evaluation, bool]:
        if self.replay:
            evaluation = self.replay.pop(0)
            if evaluation.cell != cell:
                raise SearchError(
                    f"cannot resume: query {evaluation.query} of the log was {evaluation.cell.hash}, "
                    f"but {self.method_name} now proposes {cell.hash} (different settings or code?)"
                )
        else:
            measured, value = measure(cell)
            evaluation = Evaluation.of(cell, measured, value, self.count + 1)
            if self.on_query is not None:
                self.on_query(evaluation)
        self.count += 1
        return evaluation, True


def run_loop(
    method: Method,
    evaluator: Evaluator,
    reward: RewardFunction,
    budget: Budget,
    store: Store,
    desc: str,
    progress: bool = False,
    known: Sequence[Evaluation] = (),
    on_state: Callable[[dict, int], None] | None = None,
) -> SearchResult:
    """Ask/evaluate/tell until the budget is spent: the one loop of every search.

    ``evaluator(cell) -> Measurement``; ``reward(accuracy, seconds=, params=, latency=) -> float`` (a
    ``Reward`` or an ``Objective``). ``known``: the labels a restored method was told before
    this loop. ``on_state(state, labels)`` hears each ``Method.state()`` that is not None (to
    checkpoint it). Returns the known queries and those this loop paid for or replayed, in
    order, with the seconds spent in the evaluator and in the search itself.
    """
    import time

    from tqdm.auto import tqdm

    result = SearchResult(method.name, 0, list(known))
    told: dict[str, Evaluation] = {e.cell.hash: e for e in known}  # every label the method knows
    started, repeats = time.perf_counter(), 0
    bar = tqdm(total=budget.queries, desc=desc, unit="query", disable=not progress, dynamic_ncols=True)
    bar.update(len(told))

    def measure(cell: Cell):
        tick = time.perf_counter()
        measured = evaluator(cell)
        # latency only when measured: a reward function of accuracy, seconds and params still works
        latency = {} if measured.latency is None else {"latency": measured.latency}
        value = reward(measured.accuracy, seconds=measured.seconds, params=measured.params, **latency)
        result.evaluator_seconds += time.perf_counter() - tick
        return measured, value

    with bar:  # closed on an error too: the error then prints on a line of its own
        while budget.seconds is None or time.perf_counter() - started < budget.seconds:
            news = store.news()
            for key in news.keys() - told.keys():  # other workers' queries
                told[key] = news[key]
                method.observe(news[key])
            if store.spent(budget.queries):
                break
            cell = method.ask()
            if cell.hash in told:
                repeats += 1
                if repeats > MAX_REPEATS:
                    raise SearchError(f"{method.name} proposed {MAX_REPEATS} already-evaluated cells in a row")
            else:
                repeats = 0
                labelled = store.label(cell, measure)
                if labelled is None:  # budget spent meanwhile; the method's last ask goes unanswered
                    break
                evaluation, own = labelled
                told[cell.hash] = evaluation
                if own:
                    result.evaluations.append(evaluation)
                bar.set_postfix(progress_figures(told.values()), refresh=False)
                bar.update(len(told) - bar.n)  # other workers' labels count too
            method.tell(told[cell.hash])
            if on_state is not None and (state := method.state()) is not None:
                on_state(state, len(told))
    result.search_seconds = time.perf_counter() - started - result.evaluator_seconds
    return result


def progress_figures(evaluations) -> dict[str, str]:
    """A progress bar's figures: the best reward and the best accuracy so far, named apart (one
    figure when the reward is the accuracy)."""
    evaluations = list(evaluations)
    reward, accuracy = max(e.reward for e in evaluations), max(e.accuracy for e in evaluations)
    if all(e.reward == e.accuracy for e in evaluations):
        return {"best accuracy": f"{accuracy:.4f}"}
    return {"best reward": f"{reward:.4f}", "best accuracy": f"{accuracy:.4f}"}


def run_search(
    method: Method,
    evaluator: Evaluator,
    reward: RewardFunction,
    budget: Budget,
    seed: int = 0,
    replay: list[Evaluation] | None = None,
    on_query=None,
    progress: bool = False,
    known: Sequence[Evaluation] = (),
    on_state: Callable[[dict, int], None] | None = None,
) -> SearchResult:
    """One process's search: ``run_loop`` over a ``LocalStore`` (see there for ``replay`` and
    ``on_query``, and ``run_loop`` for ``known`` and ``on_state``); ``seed`` is the one the
    method was built with, for the report."""
    store = LocalStore(method.name, replay, on_query, count=len(known))
    desc = f"{method.name} (seed {seed})"
    result = run_loop(method, evaluator, reward, budget, store, desc, progress, known, on_state)
    result.seed = seed
    return result
