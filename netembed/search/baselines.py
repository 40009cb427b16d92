"""Baseline search methods: random search, regularized evolution, local search and TPE.

Each is a :class:`~netembed.search.Method` built as ``Cls(rng, **settings)`` and registered in
``BASELINES`` by its ``name``. All randomness comes from the method's ``rng`` (TPE seeds
Optuna from it), so the same seed and the same rewards give the same cells.

Every baseline takes a ``space`` (``netembed.spaces``; NAS-Bench-101 by default) and asks it for
what it needs: ``sample`` (how the space's own benchmark code samples, with the genotype a
mutation acts on), ``mutate``, ``neighbors``, and Optuna's view for TPE. Evolution's population
defaults to the space's ``evolution`` settings (NAS-Bench-201's budgets are a few hundred queries:
population 10, tournament 3). On NAS-Bench-101, random search and evolution sample raw specs as
its own code does (coin-flip edges, uniform ops, rejected until valid: :func:`random_spec`, in
``netembed.spaces.nb101.sampling``), which favours small cells; ``space.random_cell`` is uniform.

>>> import numpy as np
>>> method = BASELINES["regularized_evolution"](np.random.default_rng(0), population_size=5, tournament_size=2)
>>> for query in range(1, 11):
...     cell = method.ask()
...     reward = cell.ops.count("conv3x3-bn-relu") / cell.num_vertices
...     method.tell(Evaluation(cell, accuracy=reward, seconds=None, params=0, reward=reward, query=query))
>>> len(method.population)
5
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from netembed import spaces
from netembed.search import Evaluation, Method, SearchError
from netembed.spaces.nb101.sampling import NUM_OP_SPOTS, random_spec

if TYPE_CHECKING:
    from optuna.trial import Trial

__all__ = [
    "BASELINES",
    "Individual",
    "LocalSearch",
    "RandomSearch",
    "RegularizedEvolution",
    "TPESearch",
    "random_spec",
]

# -- the common ask/tell bookkeeping --------------------------------------------------------------


class _Baseline(Method):
    """Checks that ``ask`` and ``tell`` alternate and that each tell is about the cell asked."""

    def __init__(self, rng: np.random.Generator, space: spaces.Space | str | None = None):
        super().__init__(rng)
        self.space = spaces.get(space)
        self._asked = None

    def settings(self) -> dict:
        return {"method": self.name, "space": self.space.name}

    def ask(self):
        if self._asked is not None:
            raise SearchError(
                f"{self.name}: ask and tell must alternate, got a second ask before the tell of {self._asked.hash}"
            )
        self._asked = self._propose()
        return self._asked

    def tell(self, evaluation: Evaluation) -> None:
        if self._asked is None:
            raise SearchError(
                f"{self.name}: tell must follow an ask, got a tell for {evaluation.cell.hash} with none asked"
            )
        if evaluation.cell != self._asked:
            raise SearchError(
                f"{self.name}: tell must be about the cell of the last ask ({self._asked.hash}), "
                f"got {evaluation.cell.hash}"
            )
        self._asked = None
        self._observe(evaluation)

    def _propose(self):
        raise NotImplementedError

    def _observe(self, evaluation: Evaluation) -> None:
        raise NotImplementedError


def _check_int(method: str, setting: str, value: object, low: int, high: float = math.inf) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        bound = f">= {low}" if high == math.inf else f"in [{low}, {high}]"
        raise SearchError(f"{method}: {setting} must be an integer {bound}, got {value!r}")
    return int(value)


# -- random search --------------------------------------------------------------------------------


class RandomSearch(_Baseline):
    """Random search as in NAS-Bench-101: every ask is a fresh :func:`random_spec` cell."""

    name = "random"

    def _propose(self):
        return self.space.sample(self.rng)[1]

    def _observe(self, evaluation: Evaluation) -> None:
        pass  # memoryless


# -- regularized evolution ------------------------------------------------------------------------


class Individual(NamedTuple):
    cell: object
    reward: float
    spec: object  # the genotype that produced the cell (NAS-Bench-101: the raw, unpruned spec); mutations act on it


class RegularizedEvolution(_Baseline):
    """Regularized (aging) evolution (Real et al. 2019) with NAS-Bench-101's settings.

    The first ``population_size`` asks are :func:`random_spec` cells. After that each ask
    samples ``tournament_size`` distinct members of the population, takes the one with the
    highest reward as parent and mutates its raw spec: each of the 21 edge bits flips with
    probability ``edge_mutation_prob`` (default 1/21: one expected flip) and each of the 5
    interior ops changes to another op with probability ``mutation_rate / 5``, resampling
    until the child is a valid cell. Every told cell, repeats included, joins the population
    and the oldest member leaves. (NAS-Bench-101's example code flips edges with
    ``mutation_rate / 7``, about three flips: pass ``edge_mutation_prob=1/7`` for that.)
    """

    name = "regularized_evolution"

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        space: spaces.Space | str | None = None,
        population_size: int | None = None,
        tournament_size: int | None = None,
        mutation_rate: float = 1.0,
        edge_mutation_prob: float = 1 / 21,
    ):
        super().__init__(rng, space)
        defaults = self.space.evolution
        population_size = defaults["population_size"] if population_size is None else population_size
        tournament_size = defaults["tournament_size"] if tournament_size is None else tournament_size
        self.population_size = _check_int(self.name, "population_size", population_size, 1)
        self.tournament_size = _check_int(self.name, "tournament_size", tournament_size, 1, self.population_size)
        if not isinstance(mutation_rate, (int, float)) or not 0 < mutation_rate <= NUM_OP_SPOTS:
            # above 5 the op probability mutation_rate / 5 would exceed 1
            raise SearchError(f"{self.name}: mutation_rate must be in (0, {NUM_OP_SPOTS}], got {mutation_rate!r}")
        if not isinstance(edge_mutation_prob, (int, float)) or not 0 <= edge_mutation_prob <= 1:
            raise SearchError(f"{self.name}: edge_mutation_prob must be in [0, 1], got {edge_mutation_prob!r}")
        self.edge_mutation_prob = float(edge_mutation_prob)
        self.op_mutation_prob = mutation_rate / NUM_OP_SPOTS
        self._population: deque[Individual] = deque(maxlen=self.population_size)  # maxlen drops the oldest
        self._asks = 0
        self._pending_spec: np.ndarray | None = None
        #: (parent, child) of the last ask when it was a mutation; None during the random phase
        self.last_mutation: tuple[Individual, object] | None = None

    def settings(self) -> dict:
        return {
            **super().settings(),
            "population_size": self.population_size,
            "tournament_size": self.tournament_size,
            **self._rates(),
        }

    def _rates(self) -> dict:
        """The mutation's settings: NAS-Bench-101's per-bit and per-op rates; elsewhere one move."""
        if self.space.name == "nb101":
            return {"op_mutation_prob": self.op_mutation_prob, "edge_mutation_prob": self.edge_mutation_prob}
        return {}

    @property
    def population(self) -> tuple[Individual, ...]:
        """The current population, oldest first."""
        return tuple(self._population)

    def _propose(self):
        self._asks += 1
        if self._asks <= self.population_size or not self._population:
            self._pending_spec, cell = self.space.sample(self.rng)
            self.last_mutation = None
            return cell
        size = min(self.tournament_size, len(self._population))
        contestants = self.rng.choice(len(self._population), size=size, replace=False)
        parent = max((self._population[i] for i in contestants), key=lambda member: member.reward)
        self._pending_spec, cell = self.space.mutate(parent.spec, self.rng, **self._rates())
        self.last_mutation = (parent, cell)
        return cell

    def _observe(self, evaluation: Evaluation) -> None:
        spec, self._pending_spec = self._pending_spec, None
        self._population.append(Individual(evaluation.cell, float(evaluation.reward), spec))


# -- local search ---------------------------------------------------------------------------------


class LocalSearch(_Baseline):
    """Local search (White et al. 2020, "Local search is state of the art for NAS benchmarks").

    Starts from a :func:`random_spec` cell, evaluates all of its ``transforms.neighbors`` in a
    random order, then moves to the best neighbor if it beats the current cell; at a local
    optimum it restarts from a fresh :func:`random_spec` cell. Neighbors evaluated before are
    asked again: the harness answers them from its history at no cost.
    """

    name = "local_search"

    def __init__(self, rng: np.random.Generator, *, space: spaces.Space | str | None = None):
        super().__init__(rng, space)
        #: the cell being improved and its reward; None while a (re)start is being asked
        self.current: tuple[object, float] | None = None
        self.restarts = 0  # random starts after the first
        self._queue: list = []  # neighbors of the current cell still to ask
        self._scores: list[tuple[object, float]] = []  # neighbors told so far, in ask order
        self._starting = True

    def _propose(self):
        if self._starting:
            return self.space.sample(self.rng)[1]
        return self._queue.pop()

    def _observe(self, evaluation: Evaluation) -> None:
        reward = float(evaluation.reward)
        if self._starting:
            self._move_to(evaluation.cell, reward)
            return
        self._scores.append((evaluation.cell, reward))
        if self._queue:
            return
        best_cell, best_reward = max(self._scores, key=lambda scored: scored[1])  # first of ties, in ask order
        if best_reward > self.current[1]:
            self._move_to(best_cell, best_reward)
        else:
            self._restart()

    def _move_to(self, cell, reward: float) -> None:
        self.current = (cell, reward)
        found = [neighbor.cell for neighbor in self.space.neighbors(cell)]
        order = self.rng.permutation(len(found))
        self._queue = [found[i] for i in order[::-1]]  # reversed: pop() asks them in `order`
        self._scores = []
        self._starting = False
        if not self._queue:  # no neighbor at all: nothing to climb
            self._restart()

    def _restart(self) -> None:
        self._starting = True
        self.current = None
        self.restarts += 1


# -- TPE --------------------------------------------------------------------------------------------


class TPESearch(_Baseline):
    """Optuna's TPE over the space's parameters (``Space.distributions``): on NAS-Bench-101 the
    flat encoding's 21 edge bits ``e0..e20`` and 5 ops ``op0..op4`` (``FLAT_NAMES``), on
    NAS-Bench-201 the 6 edges' ops.

    Multivariate TPE (``multivariate=True``, ``group=False``: the search space never changes, so
    there is nothing for ``group`` to decompose), seeded from ``rng``. The parameters fill the
    7x7 matrix in :meth:`Cell.to_flat` order and are pruned like NAS-Bench-101's specs.

    Samples that are not cells of the space (about 27% of uniform draws) are resampled inside
    ``ask`` without reaching the harness, and are told to Optuna with the worst possible value
    (``-inf``) rather than as failed: failed trials are invisible to TPE, while a worst value
    puts them in its "bad" density and teaches it to stay out of the invalid region. They
    count as trials, hence 20 startup trials rather than Optuna's 10: about 15 of them are
    real cells. After ``max_invalid`` invalid samples in a row the ask falls back to
    :func:`random_spec` (enqueued, so Optuna still learns from it).
    """

    name = "tpe"

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        space: spaces.Space | str | None = None,
        n_startup_trials: int = 20,
        n_ei_candidates: int = 24,
        max_invalid: int = 10_000,
    ):
        super().__init__(rng, space)
        import optuna  # heavy; only this baseline needs it

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.n_startup_trials = _check_int(self.name, "n_startup_trials", n_startup_trials, 0)
        self.n_ei_candidates = _check_int(self.name, "n_ei_candidates", n_ei_candidates, 1)
        self.max_invalid = _check_int(self.name, "max_invalid", max_invalid, 1)
        sampler = optuna.samplers.TPESampler(
            seed=int(rng.integers(2**31)),
            n_startup_trials=self.n_startup_trials,
            n_ei_candidates=self.n_ei_candidates,
            multivariate=True,
            group=False,
        )
        self.study = optuna.create_study(direction="maximize", sampler=sampler)
        self.distributions = self.space.distributions()
        self.invalid_samples = 0  # in all, for reports
        self.fallbacks = 0
        self._trial = None

    def settings(self) -> dict:
        return {
            **super().settings(),
            "n_startup_trials": self.n_startup_trials,
            "n_ei_candidates": self.n_ei_candidates,
            "max_invalid": self.max_invalid,
        }

    def _sample(self, trial: Trial) -> dict:
        return {name: trial.suggest_categorical(name, list(d.choices)) for name, d in self.distributions.items()}

    def _propose(self):
        for _ in range(self.max_invalid):
            trial = self.study.ask()
            cell = self.space.from_params(self._sample(trial))
            if cell is not None:
                self._trial = trial
                return cell
            self.invalid_samples += 1
            self.study.tell(trial, -math.inf)
        self.fallbacks += 1
        cell = self.space.sample(self.rng)[1]
        self.study.enqueue_trial(self.space.params(cell))
        self._trial = self.study.ask()
        self._sample(self._trial)  # an enqueued trial suggests exactly its enqueued params
        return cell

    def _observe(self, evaluation: Evaluation) -> None:
        trial, self._trial = self._trial, None
        self.study.tell(trial, float(evaluation.reward))


BASELINES: dict[str, type[Method]] = {
    method.name: method for method in (RandomSearch, RegularizedEvolution, LocalSearch, TPESearch)
}
