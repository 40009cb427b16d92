import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from netembed.benchmarks import stats
from netembed.benchmarks.stats import (
    Interval,
    StatsError,
    bootstrap_km_median,
    bootstrap_mean,
    bootstrap_median,
    km_median,
    mean_interval,
    paired_comparison,
    queries_to_reach,
)
from netembed.errors import NetembedError

# -- bootstrap ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bootstrap, centre", [(bootstrap_median, np.median), (bootstrap_mean, np.mean)])
def test_bootstrap_interval_holds_the_statistic_and_shrinks_with_more_seeds(bootstrap, centre):
    rng = np.random.default_rng(0)
    widths = []
    for n in (10, 100, 1000):
        values = rng.normal(50, 10, n)
        interval = bootstrap(values, seed=0)
        assert interval.estimate == pytest.approx(centre(values))
        assert interval.low < interval.estimate < interval.high
        widths.append(interval.high - interval.low)
    assert widths[0] > widths[1] > widths[2] and widths[0] > 4 * widths[2]  # about 1 / sqrt(n): 10x from 10 to 1000


def test_bootstrap_is_deterministic_given_the_seed():
    values = np.random.default_rng(1).normal(size=25)
    assert bootstrap_median(values, seed=3) == bootstrap_median(values, seed=3)
    assert bootstrap_mean(values, seed=3) == bootstrap_mean(list(values), seed=3)
    assert bootstrap_mean(values, seed=3) != bootstrap_mean(values, seed=4)  # medians: often the same order statistics


def test_bootstrap_bounds_are_resampled_medians_and_cover_the_level():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    interval = bootstrap_median(values, seed=0)
    possible = {np.median(c) for c in np.ndindex(*[5] * 5) for c in [np.take(values, c)]}
    assert interval.low in possible and interval.high in possible and interval.low < 3 < interval.high
    narrow = bootstrap_median(values, level=0.5, seed=0)
    assert interval.low <= narrow.low <= narrow.high <= interval.high


def test_bootstrap_of_one_value_has_zero_width_and_chunks_agree(monkeypatch):
    assert bootstrap_median([7.0]) == Interval(7.0, 7.0, 7.0)
    assert bootstrap_mean([7.0], resamples=1) == Interval(7.0, 7.0, 7.0)
    values = np.arange(50.0)
    whole = bootstrap_mean(values, resamples=200, seed=5)
    monkeypatch.setattr(stats, "_CHUNK", 120)  # 2 resamples per chunk
    chunked = bootstrap_mean(values, resamples=200, seed=5)
    assert chunked.estimate == whole.estimate and chunked.low < 24.5 < chunked.high


# -- Student's t -------------------------------------------------------------------------------------


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 9, 10, 29, 30, 100, 1001])
@pytest.mark.parametrize("level", [0.5, 0.9, 0.95, 0.99])
def test_t_quantile_matches_scipy(df, level):
    assert stats._t_quantile(level, df) == pytest.approx(scipy_stats.t.ppf((1 + level) / 2, df), rel=1e-9)


def test_mean_interval_is_the_t_interval():
    values = [0.70, 0.72, 0.74, 0.69]
    interval = mean_interval(values)
    low, high = scipy_stats.t.interval(0.95, 3, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert interval.estimate == pytest.approx(0.7125) and (interval.low, interval.high) == pytest.approx((low, high))
    assert mean_interval(values, level=0.5).high < interval.high
    assert mean_interval([1.0, 1.0]) == (1.0, 1.0, 1.0)


# -- Kaplan-Meier ------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=15))
def test_km_median_without_censoring_is_the_plain_median(times):
    assert km_median(times, [True] * len(times)) == pytest.approx(np.median(times))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(1, 30), st.none()), min_size=1, max_size=15))
def test_km_median_censored_at_one_budget_is_the_median_with_infinity(queries):
    # every run that did not reach is censored at the budget, after every reached run
    budget = 30
    reached = [q is not None for q in queries]
    plain = float(np.median([math.inf if q is None else q for q in queries]))
    median = km_median([budget if q is None else q for q in queries], reached)
    assert median == (pytest.approx(plain) if math.isfinite(plain) else None)


@pytest.mark.parametrize(
    "times, reached, median",
    [
        # S(2) = 5/6, 3 censored, S(4) = 5/6 * 3/4 = 0.625, 5 censored, S(6) = 0.625 * 1/2 = 0.3125
        ([2, 3, 4, 5, 6, 7], [1, 0, 1, 0, 1, 1], 6.0),
        # 1 censored, S(2) = 3/4, S(3) = 3/4 * 2/3 = 1/2 exactly: midpoint to the next event, 4
        ([1, 2, 3, 4, 5], [0, 1, 1, 1, 1], 3.5),
        # tied events at 2 (5 at risk, 2 events, the censored one at 2 still at risk): S(2) = 3/5, S(5) = 3/10
        ([5, 2, 2, 7, 2], [1, 1, 1, 1, 0], 5.0),
        # S(1) = 3/4, then 3/4 * 2/3 ... the three tied events at 3 take it to 0 at once
        ([1, 3, 3, 3], [1, 1, 1, 1], 3.0),
        # censored at unequal times (order of input does not matter)
        ([8, 1, 4, 9], [0, 1, 0, 1], 9.0),  # S(1) = 3/4, 4 and 8 censored, S(9) = 0
        ([10, 300, 300], [1, 0, 0], None),  # fewer than half reached
        ([5, 10, 300, 300], [1, 1, 0, 0], None),  # exactly half, then only censored runs
        ([300, 300], [False, False], None),
    ],
)
def test_km_median_by_hand(times, reached, median):
    assert km_median(times, reached) == median
    assert bootstrap_km_median(times, reached, resamples=50).estimate == median


def test_bootstrap_km_median_without_censoring_is_the_median_bootstrap():
    values = np.random.default_rng(2).integers(1, 100, 31)
    assert bootstrap_km_median(values, [True] * 31, seed=7) == bootstrap_median(values, seed=7)


def test_bootstrap_km_median_is_open_above_when_resamples_do_not_reach():
    times = [20, 30, 40, 50, 60, 100, 100, 100, 100]  # 5 of 9 reached within 100
    interval = bootstrap_km_median(times, [1] * 5 + [0] * 4, seed=0)
    assert interval.estimate == 60 and 20 <= interval.low <= 60 and interval.high is None
    assert bootstrap_km_median(times, [1] * 5 + [0] * 4, seed=0) == interval
    never = bootstrap_km_median([100] * 4, [False] * 4)
    assert never == Interval(None, None, None)


@pytest.mark.parametrize(
    "values, goal, queries",
    [
        ([0.90, 0.95, 0.93], 0.95, 2.0),  # reached exactly: counts
        ([0.96, 0.90], 0.95, 1.0),  # on the first query
        ([0.90, 0.93, 0.94], 0.95, math.inf),  # never: censored at the run's length
        ([0.90, 0.97, 0.99], 0.95, 2.0),  # the first, not the best
    ],
)
def test_queries_to_reach_by_hand(values, goal, queries):
    assert queries_to_reach(values, goal) == queries


# -- paired comparison -------------------------------------------------------------------------------


def test_paired_comparison_by_hand_with_ties_and_censoring():
    # per seed: both reached (2.0, ahead), equal (1.0, tie), only the method (50/30 >= 1.67, ahead),
    # neither (tie, 1.0), only the reference (40/50 <= 0.8, behind)
    reference = [10, 20, None, math.inf, 40]
    method = [5, 20, 30, 60, None]  # 60 > budget: not reached
    paired = paired_comparison(reference, method, budget=50, seed=0)
    assert paired.pairs == 5 and (paired.method_only, paired.reference_only, paired.neither) == (1, 1, 1)
    assert paired.ratio.estimate == 1.0 and paired.share_ahead.estimate == pytest.approx(0.6)
    assert paired.ratio.low <= 1.0 <= paired.ratio.high and paired.ratio.low >= 0.8 and paired.ratio.high <= 2.0
    assert 0 <= paired.share_ahead.low <= 0.6 <= paired.share_ahead.high <= 1
    swapped = paired_comparison(method, reference, budget=50, seed=0)
    assert swapped.share_ahead.estimate == pytest.approx(1 - paired.share_ahead.estimate)
    assert (swapped.method_only, swapped.reference_only) == (1, 1)
    assert paired == paired_comparison(reference, method, budget=50, seed=0)


def test_paired_comparison_reaching_on_the_last_query_beats_not_reaching():
    paired = paired_comparison([None], [50], budget=50)
    assert paired.ratio.estimate == 1.0 and paired.share_ahead.estimate == 1.0  # the ratio is a lower bound


def test_paired_comparison_of_a_method_with_itself_is_a_tie():
    queries = [12, 40, None, 7]
    paired = paired_comparison(queries, queries, budget=50)
    assert paired.ratio == Interval(1.0, 1.0, 1.0) and paired.share_ahead == Interval(0.5, 0.5, 0.5)
    assert paired.neither == 1


def test_paired_comparison_intervals_tighten_with_more_seeds():
    rng = np.random.default_rng(0)
    widths = []
    for n in (10, 200):
        reference = rng.integers(50, 300, n)
        method = np.maximum(1, reference // 2 + rng.integers(-10, 10, n))
        paired = paired_comparison(reference.tolist(), method.tolist(), budget=300, seed=1)
        assert paired.ratio.low <= paired.ratio.estimate <= paired.ratio.high
        widths.append(paired.ratio.high - paired.ratio.low)
    assert widths[1] < widths[0]
    json.dumps([paired.ratio, paired.share_ahead], allow_nan=False)  # plain floats


# -- mistakes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: bootstrap_median([]), r"values must be a non-empty 1-D sequence, got shape \(0,\)"),
        (lambda: bootstrap_median([[1, 2]]), r"non-empty 1-D sequence, got shape \(1, 2\)"),
        (lambda: bootstrap_median(["a"]), "values must be a sequence of numbers, got"),
        (lambda: bootstrap_mean([1.0, np.nan]), "values must hold finite numbers, got nan"),
        (lambda: bootstrap_median([1.0, np.inf]), "values must hold finite numbers, got inf"),
        (lambda: bootstrap_median([1.0], level=1), r"level must be a number in \(0, 1\), got 1"),
        (lambda: bootstrap_median([1.0], level=0.0), r"level must be a number in \(0, 1\), got 0.0"),
        (lambda: bootstrap_median([1.0], level=True), r"level must be a number in \(0, 1\), got True"),
        (lambda: bootstrap_median([1.0], level="95%"), r"level must be a number in \(0, 1\), got '95%'"),
        (lambda: bootstrap_mean([1.0], resamples=0), "resamples must be a positive integer, got 0"),
        (lambda: bootstrap_mean([1.0], resamples=2.5), "resamples must be a positive integer, got 2.5"),
        (lambda: bootstrap_mean([1.0], seed=-1), "seed must be a non-negative integer, got -1"),
        (lambda: bootstrap_mean([1.0], seed=None), "seed must be a non-negative integer, got None"),
        (lambda: mean_interval([0.7]), "a t interval needs at least 2 values, got 1"),
        (lambda: mean_interval([0.7, 0.8], level=2), r"level must be a number in \(0, 1\), got 2"),
        (lambda: km_median([1, -2], [True, True]), "times must be non-negative, got -2.0"),
        (lambda: km_median([1, 2], [True]), r"reached must have one flag per time \(2\), got shape \(1,\)"),
        (lambda: km_median([1, 2], [True, 2]), "reached must hold booleans, got 2"),
        (lambda: km_median([1, np.inf], [True, False]), "times must hold finite numbers, got inf"),
        (lambda: bootstrap_km_median([1], [True], resamples=-5), "resamples must be a positive integer, got -5"),
        (lambda: queries_to_reach([], 0.9), r"values must be a non-empty 1-D sequence, got shape \(0,\)"),
        (lambda: queries_to_reach([0.9, np.nan], 0.9), "values must hold finite numbers, got nan"),
        (lambda: paired_comparison([1], [1], budget=0), "budget must be a positive number of queries, got 0"),
        (lambda: paired_comparison([1], [1], budget=math.inf), "budget must be a positive number of queries, got inf"),
        (lambda: paired_comparison([1], [1], budget="300"), "budget must be a positive number of queries, got '300'"),
        (lambda: paired_comparison(5, [1], budget=10), "reference and method must be sequences of queries, got 5"),
        (lambda: paired_comparison([1, 2], [1], budget=10), "must pair up \\(one value per seed\\), got 2 and 1"),
        (lambda: paired_comparison([], [], budget=10), r"reference must be a non-empty 1-D sequence, got shape \(0,\)"),
        (lambda: paired_comparison([0], [1], budget=10), "reference must be positive numbers of queries, got 0.0"),
        (lambda: paired_comparison([1], [np.nan], budget=10), "method must hold no NaN, got nan"),
        (lambda: paired_comparison([1], [1], budget=10, level=0.0), r"level must be a number in \(0, 1\)"),
    ],
)
def test_mistakes_raise_stats_error_naming_rule_and_value(call, message):
    with pytest.raises(StatsError, match=message) as caught:
        call()
    assert isinstance(caught.value, NetembedError) and isinstance(caught.value, ValueError)
