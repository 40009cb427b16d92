"""What a search maximises: the reward of each cell, or the front of accuracy against cost.

The one place where the accuracy-vs-cost trade-off is decided. ``Objective`` is what the
harness, the netembed controller and ``compare`` take: its ``reward`` labels each queried cell
(the harness calls the objective like a reward), and its ``kind`` says what the search is for,
"reward" (the best reward) or "pareto" (the front of accuracy against parameters, scored by
hypervolume at ``reference``).

``Reward`` is MnasNet's combined objective (Tan et al. 2019), ``accuracy * (cost / target)^w``:
"soft" always applies ``w``, "hard" applies it only above the target, "accuracy" ignores the
cost. The cost is training ``seconds``, ``params``, or ``latency:DEVICE``: the inference
milliseconds measured on that device (a space whose table has latencies, e.g. NAS-Bench-201). ``pareto_front`` and ``hypervolume`` score a set of cells on both objectives at once
(maximise accuracy, minimise cost), e.g. to compare the front a search found with the true one.

>>> import numpy as np
>>> reward = Reward(mode="soft", target=1500)
>>> round(reward(0.9, seconds=3000), 4), reward.describe()
(0.8574, 'accuracy * (seconds / 1500)^-0.07 (soft)')
>>> accuracy, cost = np.array([0.9, 0.8, 0.95, 0.85]), np.array([10.0, 5.0, 20.0, 12.0])
>>> pareto_front(accuracy, cost)
array([1, 0, 2])
>>> round(hypervolume(accuracy, cost, reference_accuracy=0.5, reference_cost=30.0), 4)
10.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from netembed._fields import documented
from netembed.errors import NetembedError, SearchError, warn

__all__ = [
    "COSTS",
    "HV_REFERENCE",
    "KINDS",
    "MEASURES",
    "MODES",
    "Objective",
    "Reward",
    "RewardError",
    "as_objective",
    "hypervolume",
    "hypervolume_ratio",
    "pareto_front",
]

MODES = ("accuracy", "soft", "hard")
COSTS = ("seconds", "params", "latency:DEVICE")
#: The measurements a cost can name (``latency`` on the device a ``latency:DEVICE`` cost names).
MEASURES = ("seconds", "params", "latency")
#: "reward": the best reward. "pareto": the front of (accuracy, parameters); parameter counts
#: are exact and free (no query), so the front's cost is always parameters.
KINDS = ("reward", "pareto")
#: Hypervolume reference point of the accuracy-vs-parameters front: accuracy 0.80 and the
#: largest cell of the space.
HV_REFERENCE = (0.80, 49_979_274.0)


class RewardError(NetembedError, ValueError):
    """A reward that cannot be computed: bad settings, or NaN / infinite / out-of-range inputs."""


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise RewardError(f"`{name}` must be a number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Reward:
    """``accuracy * (cost / target)^w`` with ``w`` set by ``mode``; call it on one cell, ``many`` on arrays."""

    mode: str = documented("accuracy", "accuracy, or MnasNet's accuracy * (cost / target)^w, soft or hard")
    cost: str = documented("seconds", f"{', '.join(COSTS)} (nb201: a device of its table, e.g. latency:pixel3)")
    target: float | None = documented(None, "the soft/hard reward's target, in units of --cost")
    soft_exponent: float = -0.07  # MnasNet's value: -0.07 halves the reward at ~2^14 times the target
    hard_exponent: float = -1.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise RewardError(f"`Reward.mode` must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not isinstance(self.cost, str) or not (
            self.cost in MEASURES[:2] or (self.cost.startswith("latency:") and self.cost != "latency:")
        ):
            raise RewardError(f"`Reward.cost` must be one of {', '.join(COSTS)}, got {self.cost!r}")
        for name in ("soft_exponent", "hard_exponent"):
            value = getattr(self, name)
            if not math.isfinite(_number(f"Reward.{name}", value)) or value > 0:  # > 0 would reward cost
                raise RewardError(f"`Reward.{name}` must be finite and <= 0, got {value}")
        if self.target is None:
            if self.mode != "accuracy":
                raise RewardError(f"`Reward.target` is required in {self.mode} mode, got None")
        elif not math.isfinite(_number("Reward.target", self.target)) or self.target <= 0:
            raise RewardError(f"`Reward.target` must be positive and finite, got {self.target}")
        elif self.mode == "accuracy":
            warn(f"--cost-target {self.target:g}: ignored by --reward accuracy (soft and hard rewards use it)")

    @property
    def measure(self) -> str:
        """The measurement the cost reads: seconds, params or latency."""
        return self.cost.partition(":")[0]

    @property
    def device(self) -> str | None:
        """The device of a ``latency:DEVICE`` cost (else None)."""
        return self.cost.partition(":")[2] or None

    @property
    def exponent(self) -> float:
        """The exponent applied when the cost counts (above the target, in hard mode)."""
        return self.soft_exponent if self.mode == "soft" else self.hard_exponent

    def __call__(
        self, accuracy: float, seconds: float | None = None, params: float | None = None, latency: float | None = None
    ) -> float:
        """The reward of one cell; the cost named by ``self.cost`` is required unless mode is "accuracy"."""
        if not (math.isfinite(_number("accuracy", accuracy)) and 0 <= accuracy <= 1):
            raise RewardError(f"`accuracy` must be finite and in [0, 1], got {accuracy}")
        accuracy = float(accuracy)
        costs = {"seconds": seconds, "params": params, "latency": latency}
        for name, value in costs.items():
            if value is None:
                continue
            number = costs[name] = _number(name, value)
            used = name == self.measure and self.mode != "accuracy"
            # an unused cost may be 0, but a NaN anywhere is a bug upstream
            if not math.isfinite(number) or number < 0 or (used and number == 0):
                rule = "positive and finite" if used else "finite and non-negative"
                raise RewardError(f"`{name}` must be {rule}, got {value}")
        if self.mode == "accuracy":
            return accuracy
        cost = costs[self.measure]
        if cost is None:
            raise RewardError(f"`{self.measure}` is required by the {self.mode} reward, got None")
        if self.mode == "hard" and cost <= self.target:
            return accuracy
        return accuracy * (cost / self.target) ** self.exponent

    def many(self, accuracy: np.ndarray, cost: np.ndarray | None = None) -> np.ndarray:
        """Rewards of many cells; ``cost`` holds the measurement named by ``self.cost``, one per cell."""
        accuracy = _vector("accuracy", accuracy)
        bad = np.flatnonzero(~np.isfinite(accuracy) | (accuracy < 0) | (accuracy > 1))
        if len(bad):
            raise RewardError(f"`accuracy` must be finite and in [0, 1], got {accuracy[bad[0]]} at position {bad[0]}")
        used = self.mode != "accuracy"
        if cost is None:
            if used:
                raise RewardError(f"`cost` ({self.cost}) is required by the {self.mode} reward, got None")
            return accuracy
        cost = _vector("cost", cost)
        if cost.shape != accuracy.shape:
            raise RewardError(f"`accuracy` and `cost` must have the same length, got {len(accuracy)} and {len(cost)}")
        bad = np.flatnonzero(~np.isfinite(cost) | (cost < 0) | ((cost == 0) & used))
        if len(bad):
            rule = "positive and finite" if used else "finite and non-negative"
            raise RewardError(f"`cost` ({self.cost}) must be {rule}, got {cost[bad[0]]} at position {bad[0]}")
        if not used:
            return accuracy
        scaled = accuracy * (cost / self.target) ** self.exponent
        return np.where(cost <= self.target, accuracy, scaled) if self.mode == "hard" else scaled

    def describe(self) -> str:
        """The formula in words, e.g. ``accuracy * (seconds / 1500)^-0.07 (soft)``."""
        if self.mode == "accuracy":
            return "accuracy"
        formula = f"accuracy * ({self.cost} / {self.target:g})^{self.exponent:g}"
        if self.mode == "hard":
            return f"{formula} if {self.cost} > {self.target:g}, else accuracy (hard)"
        return f"{formula} (soft)"


# -- Pareto front of (maximise accuracy, minimise cost) ----------------------------------------


def _vector(name: str, values) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RewardError(f"`{name}` must be an array of numbers, got {type(values).__name__} ({exc})") from None
    if array.ndim != 1:
        raise RewardError(f"`{name}` must be one value per cell (1-D), got shape {array.shape}")
    return array


def _pair(accuracy, cost) -> tuple[np.ndarray, np.ndarray]:
    accuracy, cost = _vector("accuracy", accuracy), _vector("cost", cost)
    if len(accuracy) != len(cost):
        raise RewardError(f"`accuracy` and `cost` must have the same length, got {len(accuracy)} and {len(cost)}")
    for name, values in (("accuracy", accuracy), ("cost", cost)):
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise RewardError(f"`{name}` must be finite, got {values[bad[0]]} at position {bad[0]}")
    return accuracy, cost


def pareto_front(accuracy: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points, by increasing cost; of exact duplicates only the first is kept."""
    accuracy, cost = _pair(accuracy, cost)
    # Sorted by cost, then best accuracy, then index, every point that could dominate a point
    # comes before it: a point is on the front iff it beats the best accuracy seen so far.
    order = np.lexsort((np.arange(len(cost)), -accuracy, cost))
    best_before = np.maximum.accumulate(np.concatenate([[-np.inf], accuracy[order][:-1]]))
    return order[accuracy[order] > best_before]


def hypervolume(accuracy: np.ndarray, cost: np.ndarray, reference_accuracy: float, reference_cost: float) -> float:
    """Area (accuracy x cost units) dominated by the points and bounded by the reference point."""
    accuracy, cost = _pair(accuracy, cost)
    for name, value in (("reference_accuracy", reference_accuracy), ("reference_cost", reference_cost)):
        if not math.isfinite(_number(name, value)):
            raise RewardError(f"`{name}` must be finite, got {value}")
    inside = (accuracy > reference_accuracy) & (cost < reference_cost)  # the rest add no area
    accuracy, cost = accuracy[inside], cost[inside]
    front = pareto_front(accuracy, cost)
    # The front rises in both objectives; each point adds the band of accuracy above the previous one.
    levels = np.concatenate([[reference_accuracy], accuracy[front]])
    return float(np.sum(np.diff(levels) * (reference_cost - cost[front])))


def hypervolume_ratio(
    found_acc: np.ndarray,
    found_cost: np.ndarray,
    true_acc: np.ndarray,
    true_cost: np.ndarray,
    reference_accuracy: float,
    reference_cost: float,
) -> float:
    """``hypervolume(found) / hypervolume(true)``: 1.0 when a search recovered the whole true front."""
    true = hypervolume(true_acc, true_cost, reference_accuracy, reference_cost)
    if true == 0:
        raise RewardError(
            f"the true front must dominate some area inside the reference point "
            f"({reference_accuracy!r}, {reference_cost!r}), got hypervolume 0"
        )
    return hypervolume(found_acc, found_cost, reference_accuracy, reference_cost) / true


# -- the objective -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """What a search maximises (see the module docstring); callable like its ``reward``.

    >>> objective = Objective("pareto")
    >>> objective.cost, objective(0.9, params=1_000_000)
    ('params', 0.9)
    """

    kind: str = documented("reward", "pareto: grow the front of accuracy vs parameters (netembed and random)")
    reward: Reward = Reward()
    reference: tuple[float, float] = HV_REFERENCE  # (accuracy, parameters), pareto only

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise SearchError(f"objective must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not isinstance(self.reward, Reward):
            raise SearchError(f"`Objective.reward` must be a Reward, got {type(self.reward).__name__}")

    def __call__(
        self, accuracy: float, seconds: float | None = None, params: float | None = None, latency: float | None = None
    ) -> float:
        return self.reward(accuracy, seconds=seconds, params=params, latency=latency)

    @property
    def cost(self) -> str:
        """The measurement a front is drawn against: parameters for a pareto search, else the one
        the reward's cost reads (seconds, params or latency)."""
        return "params" if self.kind == "pareto" else self.reward.measure

    @property
    def multi(self) -> bool:
        """Whether cost matters at all (a front of the queried cells is worth reporting)."""
        return self.kind == "pareto" or self.reward.mode != "accuracy"

    def score(self, evaluation) -> float:
        """What a surrogate learns and parents are ranked by: the reward, or accuracy for a front."""
        return evaluation.reward if self.kind == "reward" else evaluation.accuracy

    def parents(self, evaluations: list, k: int) -> list:
        """The cells a search grows from: the ``k`` best by reward (ties: earlier query first), or
        the front of accuracy against parameters."""
        if self.kind == "reward":
            return sorted(evaluations, key=lambda e: (-e.reward, e.query))[:k]
        front = pareto_front(
            np.array([e.accuracy for e in evaluations]), np.array([float(e.params) for e in evaluations])
        )
        return [evaluations[i] for i in front]

    def gain(self, front: tuple[np.ndarray, np.ndarray], accuracy: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """Hypervolume each point (accuracy clipped to [0, 1], cost) would add to ``front`` on its own."""
        base = hypervolume(*front, *self.reference)
        return np.array(
            [
                hypervolume(np.append(front[0], a), np.append(front[1], c), *self.reference) - base
                for a, c in zip(np.clip(accuracy, 0.0, 1.0), cost)
            ]
        )

    def describe(self) -> dict:
        return {"kind": self.kind, "reward": self.reward.describe(), "cost": self.cost}


def as_objective(value: Objective | str) -> Objective:
    """An ``Objective`` from itself or its kind's name (with the accuracy reward)."""
    return value if isinstance(value, Objective) else Objective(value)
