"""The search harness: methods propose cells, an evaluator labels them, the loop counts queries.

Every method (the project's controller and each baseline) is a ``Method``: ``ask()`` proposes
one cell, ``tell(evaluation)`` hands back its result. The loop owns the evaluator and the
query accounting, so every method is measured the same way:

- a query is one new cell labelled by the evaluator; a cell already labelled in this run is
  answered from the run's own history and is not counted again (deduplication by hash);
- budgets are a number of queries and/or seconds of wall time;
- everything random comes from the ``np.random.Generator`` the method was built with.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from netembed.cell import Cell
from netembed.errors import NetembedError

__all__ = [
    "Budget",
    "Evaluation",
    "Measurement",
    "Method",
    "SearchError",
    "SearchResult",
    "SurrogateEvaluator",
    "TableEvaluator",
    "run_search",
]


class SearchError(NetembedError, ValueError):
    """Search settings that cannot run (unknown method, empty budget, a method stuck on duplicates)."""


@dataclass(frozen=True)
class Evaluation:
    """What the evaluator said about one cell, and the reward the run's objective gives it."""

    cell: Cell
    accuracy: float
    seconds: float | None  # training seconds (table, estimator or measured); None when unknown
    params: int
    reward: float
    query: int  # 1-based number of the query that first labelled this cell


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
        """A label this method did not ask for (another worker's query, ``netembed.study``).
        Ignored by default: the method then stays an independent search."""


# -- evaluators -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """An evaluator's answer for one cell."""

    accuracy: float
    seconds: float | None
    params: int


class TableEvaluator:
    """Labels from the NAS-Bench-101 table: each new cell is one query.

    Accuracy is the table's ``test_acc_108``; seconds come from the training-time file where it
    covers the cell, else from ``time_estimator`` when given (else None).
    """

    name = "table"

    def __init__(self, bench, time_estimator=None):
        self.bench, self.time_estimator = bench, time_estimator

    def __call__(self, cell: Cell) -> Measurement:
        row = self.bench.row_of(cell)
        seconds = None
        if self.bench.train_time_108 is not None and np.isfinite(self.bench.train_time_108[row]):
            seconds = float(self.bench.train_time_108[row])
        elif self.time_estimator is not None:
            seconds = float(self.time_estimator.predict([cell])[0][0])
        return Measurement(float(self.bench.test_acc_108[row]), seconds, int(self.bench.params[row]))


class SurrogateEvaluator:
    """Labels from surrogate models (no table needed): predicted accuracy and training seconds."""

    name = "surrogate"

    def __init__(self, accuracy_predictor, time_estimator=None):
        self.accuracy_predictor, self.time_estimator = accuracy_predictor, time_estimator

    def __call__(self, cell: Cell) -> Measurement:
        from netembed import space

        accuracy = float(np.clip(self.accuracy_predictor.predict([cell])[0][0], 0.0, 1.0))
        seconds = None if self.time_estimator is None else float(self.time_estimator.predict([cell])[0][0])
        return Measurement(accuracy, seconds, space.count_params(cell))


# -- the loop ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    """When a search stops: after ``queries`` new labels and/or ``seconds`` of wall time."""

    queries: int | None = None
    seconds: float | None = None

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


def run_search(
    method: Method,
    evaluator,
    reward,
    budget: Budget,
    seed: int = 0,
    replay: list[Evaluation] | None = None,
    on_query=None,
    progress: bool = False,
) -> SearchResult:
    """Ask/evaluate/tell until the budget is spent.

    ``replay`` feeds earlier evaluations of the same run (same method, seed and settings) back
    without calling the evaluator, which is how a killed run resumes: the method re-asks the
    same cells and is told the logged results. ``on_query(evaluation)`` sees each new query
    (e.g. to append it to a log) as soon as it exists.
    """
    import time

    from tqdm.auto import tqdm

    seen: dict[str, Evaluation] = {}
    result = SearchResult(method.name, seed, [])
    replay = list(replay or [])
    started, repeats = time.perf_counter(), 0
    bar = tqdm(
        total=budget.queries,
        desc=f"{method.name} (seed {seed})",
        unit="query",
        disable=not progress,
        dynamic_ncols=True,
    )
    best = -np.inf
    while budget.queries is None or len(result.evaluations) < budget.queries:
        if budget.seconds is not None and time.perf_counter() - started >= budget.seconds:
            break
        cell = method.ask()
        if cell.hash in seen:
            repeats += 1
            if repeats > MAX_REPEATS:
                raise SearchError(f"{method.name} proposed {MAX_REPEATS} already-evaluated cells in a row")
            method.tell(seen[cell.hash])
            continue
        repeats = 0
        if replay:
            evaluation = replay.pop(0)
            if evaluation.cell != cell:
                raise SearchError(
                    f"cannot resume: query {evaluation.query} of the log was {evaluation.cell.hash}, "
                    f"but {method.name} now proposes {cell.hash} (different settings or code?)"
                )
        else:
            tick = time.perf_counter()
            measured = evaluator(cell)
            value = reward(measured.accuracy, seconds=measured.seconds, params=measured.params)
            result.evaluator_seconds += time.perf_counter() - tick
            evaluation = Evaluation(
                cell, measured.accuracy, measured.seconds, measured.params, value, len(result.evaluations) + 1
            )
            if on_query is not None:
                on_query(evaluation)
        seen[cell.hash] = evaluation
        result.evaluations.append(evaluation)
        best = max(best, evaluation.reward)
        bar.update()
        bar.set_postfix(best=f"{best:.4f}", refresh=False)
        method.tell(evaluation)
    bar.close()
    result.search_seconds = time.perf_counter() - started - result.evaluator_seconds
    return result
