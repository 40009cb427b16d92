"""Statistics over seeds: bootstrap intervals, a censored median and paired comparisons (numpy only).

- ``bootstrap_median`` / ``bootstrap_mean``: the statistic with a seeded percentile-bootstrap interval
  (``level``, 95% by default): resample the values with replacement ``resamples`` times, take the
  statistic of each resample, and report the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles
  of those (inverted-CDF quantiles: each bound is one of the resampled statistics, no interpolation).
- ``mean_interval``: the mean with Student's t interval, for a handful of seeds (with 3 to 5
  values a percentile bootstrap is far too narrow; the t interval is exact for normal values).
- ``km_median`` / ``bootstrap_km_median``: the Kaplan-Meier median of right-censored times, e.g.
  queries until a search first finds a top cell, where a run that never found one within its
  budget is censored at the budget: it counts as "more than the budget", never dropped
  (``queries_to_reach`` gives a run's time, infinity where it never reached).
- ``paired_comparison``: two methods run with the same seeds; per seed, the ratio of queries
  (reference / method) and who got there first, with censored runs handled as below.

Every function is deterministic given ``seed`` (``np.random.default_rng(seed)``); a bound or
median that is not reached is ``None``. Mistakes raise ``StatsError``.

>>> interval = bootstrap_median([52, 60, 65, 66, 80, 95], seed=0)
>>> interval.estimate, interval.low <= interval.estimate <= interval.high
(65.5, True)
>>> km_median([10, 20, 30, 300], reached=[True, True, True, False])  # one run censored at 300
25.0
>>> km_median([10, 300, 300], reached=[True, False, False]) is None  # fewer than half reached
True
>>> paired = paired_comparison(reference=[200, None, 90], method=[50, 120, None], budget=300, seed=0)
>>> paired.ratio.estimate, paired.share_ahead.estimate  # ratios 4.0, >= 2.5 and <= 0.3
(2.5, 0.6666666666666666)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from netembed.errors import NetembedError

__all__ = [
    "LEVEL",
    "RESAMPLES",
    "Interval",
    "PairedComparison",
    "StatsError",
    "bootstrap_km_median",
    "bootstrap_mean",
    "bootstrap_median",
    "bootstrap_queries_median",
    "km_median",
    "mean_interval",
    "paired_comparison",
    "queries_to_reach",
]

#: Coverage of every interval unless told otherwise.
LEVEL = 0.95
#: Bootstrap resamples unless told otherwise.
RESAMPLES = 10_000
_TOL = 1e-9  # survival products are exact fractions up to rounding
_CHUNK = 2_000_000  # resampled values held at once


class StatsError(NetembedError, ValueError):
    """Values or settings a statistic cannot be computed from (none, NaN, a level outside (0, 1))."""


class Interval(NamedTuple):
    """A statistic and its interval; ``None`` where a censored median or bound is not reached."""

    estimate: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class PairedComparison:
    """A method against a reference over the same seeds (one pair per seed).

    ``ratio``: median over pairs of reference queries / method queries (2.0: the method needed half
    as many), with its bootstrap interval over pairs. ``share_ahead``: share of pairs where the
    method needed fewer queries (ties count half), with its bootstrap interval. ``method_only``,
    ``reference_only`` and ``neither`` count the pairs where only the method, only the reference,
    or neither reached within the budget.
    """

    pairs: int
    ratio: Interval
    share_ahead: Interval
    method_only: int
    reference_only: int
    neither: int


# -- checks ----------------------------------------------------------------------------------------


def _values(name: str, values, *, finite: bool = True) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise StatsError(f"{name} must be a sequence of numbers, got {values!r}") from None
    if array.ndim != 1 or array.size == 0:
        raise StatsError(f"{name} must be a non-empty 1-D sequence, got shape {array.shape}")
    bad = np.isnan(array) | (~np.isfinite(array) if finite else False)
    if bad.any():
        raise StatsError(f"{name} must hold {'finite numbers' if finite else 'no NaN'}, got {array[bad][0]}")
    return array


def _settings(level: float, resamples: int, seed: int) -> None:
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise StatsError(f"level must be a number in (0, 1), got {level!r}")
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise StatsError(f"resamples must be a positive integer, got {resamples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise StatsError(f"seed must be a non-negative integer, got {seed!r}")


# -- bootstrap -------------------------------------------------------------------------------------


def _bootstrap(
    statistic: Callable[[np.ndarray], np.ndarray], n: int, level: float, resamples: int, seed: int
) -> tuple[float | None, float | None]:
    """Percentile interval of ``statistic`` (indices (r, n) -> r values; inf = not reached)."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK // n)
    stats = np.concatenate(
        [statistic(rng.integers(0, n, (min(chunk, resamples - start), n))) for start in range(0, resamples, chunk)]
    )
    stats.sort()
    alpha = (1 - level) / 2
    bounds = [stats[min(resamples - 1, max(0, math.ceil(q * resamples - _TOL) - 1))] for q in (alpha, 1 - alpha)]
    return tuple(float(b) if np.isfinite(b) else None for b in bounds)


def bootstrap_median(
    values: Sequence[float], *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0
) -> Interval:
    """The median of ``values`` with its percentile-bootstrap interval (one value: a zero-width interval).

    >>> bootstrap_median([3.0, 1.0, 2.0], seed=1).estimate
    2.0
    """
    array = _values("values", values)
    _settings(level, resamples, seed)
    low, high = _bootstrap(lambda idx: np.median(array[idx], axis=1), len(array), level, resamples, seed)
    return Interval(float(np.median(array)), low, high)


def bootstrap_mean(
    values: Sequence[float], *, level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0
) -> Interval:
    """The mean of ``values`` with its percentile-bootstrap interval (one value: a zero-width interval).

    >>> bootstrap_mean([1.0, 2.0, 6.0], seed=1).estimate
    3.0
    """
    array = _values("values", values)
    _settings(level, resamples, seed)
    low, high = _bootstrap(lambda idx: array[idx].mean(axis=1), len(array), level, resamples, seed)
    return Interval(float(array.mean()), low, high)


# -- Student's t -----------------------------------------------------------------------------------


def _t_coverage(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer ``df`` (Abramowitz & Stegun 26.7.3 and 26.7.4)."""
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df == 1:
        return 2 * theta / math.pi
    if df % 2:
        k = np.arange(1, (df - 1) // 2)
        series = 1 + np.cumprod(2 * k / (2 * k + 1) * c2).sum()
        return 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * series)
    k = np.arange(1, df // 2)
    return math.sin(theta) * (1 + np.cumprod((2 * k - 1) / (2 * k) * c2).sum())


def _t_quantile(level: float, df: int) -> float:
    """The t with P(|T| <= t) = ``level``, by bisection on the angle atan(t / sqrt(df))."""
    low, high = 0.0, math.pi / 2
    for _ in range(100):
        mid = (low + high) / 2
        if _t_coverage(math.sqrt(df) * math.tan(mid), df) < level:
            low = mid
        else:
            high = mid
    return math.sqrt(df) * math.tan((low + high) / 2)


def mean_interval(values: Sequence[float], *, level: float = LEVEL) -> Interval:
    """The mean of ``values`` and Student's t interval ``mean +- t * sd / sqrt(n)`` (at least 2 values).

    Meant for a few seeds, where a bootstrap cannot see the spread it has not sampled.

    >>> [round(x, 3) for x in mean_interval([0.70, 0.72, 0.74])]
    [0.72, 0.67, 0.77]
    """
    array = _values("values", values)
    if len(array) < 2:
        raise StatsError(f"a t interval needs at least 2 values, got {len(array)}")
    _settings(level, 1, 0)
    mean = float(array.mean())
    half = _t_quantile(level, len(array) - 1) * float(array.std(ddof=1)) / math.sqrt(len(array))
    return Interval(mean, mean - half, mean + half)


# -- Kaplan-Meier ----------------------------------------------------------------------------------


def _censored(times, reached) -> tuple[np.ndarray, np.ndarray]:
    """Times and event flags, sorted by time with the events first among equal times."""
    times = _values("times", times)
    if (times < 0).any():
        raise StatsError(f"times must be non-negative, got {times[times < 0][0]}")
    flags = np.asarray(reached)
    if flags.shape != times.shape:
        raise StatsError(f"reached must have one flag per time ({len(times)}), got shape {flags.shape}")
    if not np.isin(flags, (0, 1)).all():
        raise StatsError(f"reached must hold booleans, got {flags[~np.isin(flags, (0, 1))][0].item()!r}")
    flags = flags.astype(bool)
    order = np.lexsort((~flags, times))
    return times[order], flags[order]


def _km_medians(times: np.ndarray, events: np.ndarray) -> np.ndarray:
    """Kaplan-Meier median of each row of time-sorted (times, events), shape (r, n); inf = not reached."""
    r, n = times.shape
    survival = np.cumprod(1 - events / (n - np.arange(n)), axis=1)
    last_of_time = np.ones((r, n), dtype=bool)
    last_of_time[:, :-1] = times[:, 1:] != times[:, :-1]
    below = last_of_time & (survival <= 0.5 + _TOL)
    hit = below.any(axis=1)
    k = below.argmax(axis=1)
    rows = np.arange(r)
    median = np.where(hit, times[rows, k], np.inf)
    # survival exactly one half from t_k on: the midpoint to the next event (the plain median of an
    # even count); no later event (the rest censored) -> the median is not reached
    event_times = np.where(events, times, np.inf)
    after = np.full((r, n), np.inf)
    after[:, :-1] = np.minimum.accumulate(event_times[:, ::-1], axis=1)[:, ::-1][:, 1:]
    half = hit & (np.abs(survival[rows, k] - 0.5) <= _TOL)
    return np.where(half, (median + after[rows, k]) / 2, median)


def km_median(times: Sequence[float], reached: Sequence[bool]) -> float | None:
    """Kaplan-Meier median of right-censored ``times``: ``reached[i]`` False means run i had not
    reached the event by ``times[i]`` (e.g. no top cell within its budget: censored at the budget).

    The median is the first time the estimated share of runs still waiting drops to one half or
    below; where it stays at exactly one half until the next event time, the midpoint of the two,
    so with nothing censored this is the plain median. ``None`` when the median is not reached:
    fewer than half the runs reached, or exactly half and every later run censored. The median
    then exceeds the largest censoring time (the budget), which is its lower bound. With every run
    censored at the same budget this equals the plain median of the times with the censored ones
    set to infinity (``None`` where that is infinite).

    >>> km_median([1, 2, 3, 4], [True, True, True, True])
    2.5
    >>> km_median([5, 8, 12, 12], [True, False, True, False])  # survival 3/4, then 3/8 at 12
    12.0
    """
    times, events = _censored(times, reached)
    median = float(_km_medians(times[None], events[None])[0])
    return median if math.isfinite(median) else None


def bootstrap_km_median(
    times: Sequence[float],
    reached: Sequence[bool],
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Interval:
    """``km_median`` with its percentile-bootstrap interval, resampling runs (time and flag together).

    A bound is ``None`` when that quantile of the resampled medians is not reached: the interval
    is open above (its true bound exceeds the budget).

    >>> bootstrap_km_median([40, 50, 60, 70, 80], [True] * 5, seed=0).estimate
    60.0
    """
    times, events = _censored(times, reached)
    _settings(level, resamples, seed)

    def medians(idx: np.ndarray) -> np.ndarray:
        idx = np.sort(idx, axis=1)  # the data are time-sorted, so sorted indices keep the order
        return _km_medians(times[idx], events[idx])

    estimate = float(_km_medians(times[None], events[None])[0])
    return Interval(
        estimate if math.isfinite(estimate) else None, *_bootstrap(medians, len(times), level, resamples, seed)
    )


def queries_to_reach(values: Sequence[float], goal: float) -> float:
    """Queries until a run's ``values`` (one per query, in order) first reach ``goal``: the 1-based
    index of the first value ``>= goal``, infinity if none did (censored at ``len(values)``).

    >>> queries_to_reach([0.90, 0.93, 0.95, 0.94], 0.94), queries_to_reach([0.90, 0.93], 0.94)
    (3.0, inf)
    """
    reached = _values("values", values) >= goal
    return float(np.argmax(reached) + 1) if reached.any() else math.inf


def bootstrap_queries_median(
    queries: Sequence[float | None],
    budget: float,
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Interval:
    """``bootstrap_km_median`` of queries to a goal, one per run (``queries_to_reach``'s): ``None``,
    infinity or anything above ``budget`` is a run censored at ``budget``.

    >>> bootstrap_queries_median([40, 50, math.inf, math.inf, math.inf], budget=100, seed=0).estimate is None
    True
    """
    times, reached = _queries("queries", queries, budget)
    return bootstrap_km_median(times, reached, level=level, resamples=resamples, seed=seed)


# -- paired comparison -----------------------------------------------------------------------------


def _queries(name: str, values: Sequence[float | None], budget: float) -> tuple[np.ndarray, np.ndarray]:
    """Queries and reached flags: ``None``, infinity or anything above ``budget`` is not reached."""
    array = _values(name, [math.inf if v is None else v for v in values], finite=False)
    if (array <= 0).any():
        raise StatsError(f"{name} must be positive numbers of queries, got {array[array <= 0][0]}")
    reached = array <= budget
    return np.where(reached, array, budget), reached


def paired_comparison(
    reference: Sequence[float | None],
    method: Sequence[float | None],
    budget: float,
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> PairedComparison:
    """``method`` against ``reference``, pair i being both runs with the same seed: queries to the
    goal, ``None`` (or infinity, or anything above ``budget``) where that run did not reach it.

    Censoring, per pair: a run that did not reach counts ``budget`` queries, a lower bound, so
    - both reached: the ratio ``reference / method``, exact; ahead if fewer queries, a tie if equal;
    - only the method reached: the ratio is at least ``budget / method`` (used as is); ahead;
    - only the reference reached: the ratio is at most ``reference / budget`` (used as is); behind;
    - neither reached: a tie (ratio 1, half a pair ahead), kept in every count, not dropped.
    The bounds pull each censored ratio towards 1, so the median ratio understates a difference
    rather than inventing one. Ties count half in ``share_ahead``. Both intervals resample pairs
    (the same resamples for both).

    >>> p = paired_comparison([100, 100, 300], [50, 100, 80], budget=200)
    >>> p.ratio.estimate, p.share_ahead.estimate, p.method_only
    (2.0, 0.8333333333333334, 1)
    """
    if isinstance(budget, bool) or not isinstance(budget, (int, float, np.integer, np.floating)):
        raise StatsError(f"budget must be a positive number of queries, got {budget!r}")
    if not (math.isfinite(budget) and budget > 0):
        raise StatsError(f"budget must be a positive number of queries, got {budget!r}")
    try:
        reference, method = list(reference), list(method)
    except TypeError:
        raise StatsError(
            f"reference and method must be sequences of queries, got {reference!r} and {method!r}"
        ) from None
    if len(reference) != len(method):
        raise StatsError(
            f"reference and method must pair up (one value per seed), got {len(reference)} and {len(method)}"
        )
    ref, ref_reached = _queries("reference", reference, budget)
    mine, mine_reached = _queries("method", method, budget)
    _settings(level, resamples, seed)
    ref_order = np.where(ref_reached, ref, np.inf)  # not reached: after every reached count
    mine_order = np.where(mine_reached, mine, np.inf)
    ahead = (mine_order < ref_order) + 0.5 * (mine_order == ref_order)
    return PairedComparison(
        pairs=len(ref),
        ratio=bootstrap_median(ref / mine, level=level, resamples=resamples, seed=seed),
        share_ahead=bootstrap_mean(ahead, level=level, resamples=resamples, seed=seed),
        method_only=int((mine_reached & ~ref_reached).sum()),
        reference_only=int((ref_reached & ~mine_reached).sum()),
        neither=int((~mine_reached & ~ref_reached).sum()),
    )
