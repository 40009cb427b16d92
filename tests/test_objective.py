"""Tests of netembed.search.objective: the MnasNet reward, the Pareto front and the hypervolume."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netembed.errors import NetembedError
from netembed.search.objective import Reward, RewardError, hypervolume, hypervolume_ratio, pareto_front

# -- the reward ------------------------------------------------------------------------------


def test_accuracy_mode_is_the_accuracy_and_ignores_costs():
    reward = Reward()
    assert reward(0.9) == 0.9
    assert reward(0.9, seconds=1e9, params=0) == 0.9
    assert reward.describe() == "accuracy"


def test_soft_reward_matches_the_formula():
    reward = Reward(mode="soft", target=1500)
    assert reward(0.9, seconds=3000) == pytest.approx(0.9 * (3000 / 1500) ** -0.07, rel=1e-12)
    assert reward(0.9, seconds=750) == pytest.approx(0.9 * (750 / 1500) ** -0.07, rel=1e-12)
    assert reward(0.9, seconds=750) > 0.9 > reward(0.9, seconds=3000)  # soft also rewards being cheap
    assert reward(0.9, seconds=1500) == pytest.approx(0.9)
    assert reward.describe() == "accuracy * (seconds / 1500)^-0.07 (soft)"
    custom = Reward(mode="soft", target=2.0, soft_exponent=-0.5)
    assert custom(0.8, seconds=8.0) == pytest.approx(0.8 * 4.0**-0.5)


def test_hard_reward_below_at_and_above_the_target():
    reward = Reward(mode="hard", target=1500)
    assert reward(0.9, seconds=10) == 0.9
    assert reward(0.9, seconds=1500) == 0.9
    assert reward(0.9, seconds=3000) == pytest.approx(0.9 * (3000 / 1500) ** -1.0)
    assert reward(0.9, seconds=1500 * (1 + 1e-9)) == pytest.approx(0.9)  # continuous at the target
    assert "(hard)" in reward.describe() and "^-1" in reward.describe()


def test_params_cost_reads_params_not_seconds():
    reward = Reward(mode="soft", cost="params", target=2e6)
    assert reward(0.9, seconds=1.0, params=4e6) == pytest.approx(0.9 * 2.0**-0.07)
    assert reward(0.9, params=4e6) == reward(0.9, seconds=123.0, params=4e6)
    assert "params / 2e+06" in reward.describe()
    with pytest.raises(RewardError, match="`params` is required"):
        reward(0.9, seconds=1.0)


def test_a_latency_cost_reads_the_latency_of_the_device_it_names():
    reward = Reward(mode="hard", cost="latency:pixel3", target=10.0)
    assert (reward.measure, reward.device) == ("latency", "pixel3")
    assert reward(0.9, seconds=1e6, params=1e9, latency=8.0) == 0.9  # within the target: the accuracy
    assert reward(0.9, params=1, latency=20.0) == pytest.approx(0.9 * (20.0 / 10.0) ** -1.0)
    assert Reward("soft", "params", 1.0).device is None and Reward().measure == "seconds"
    with pytest.raises(RewardError, match="`latency` is required by the hard reward, got None"):
        reward(0.9, seconds=5.0, params=5)
    with pytest.raises(RewardError, match="`latency` must be positive and finite, got 0"):
        reward(0.9, latency=0.0)


def test_missing_target_and_missing_cost():
    for mode in ("soft", "hard"):
        with pytest.raises(RewardError, match=f"`Reward.target` is required in {mode} mode, got None"):
            Reward(mode=mode)
    with pytest.raises(RewardError, match="`seconds` is required by the hard reward, got None"):
        Reward(mode="hard", target=10)(0.9)
    with pytest.raises(RewardError, match=r"`cost` \(seconds\) is required by the soft reward, got None"):
        Reward(mode="soft", target=10).many(np.array([0.9]), None)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "fast"}, "`Reward.mode` must be one of accuracy, soft, hard, got 'fast'"),
        ({"cost": "flops"}, "`Reward.cost` must be one of seconds, params, latency:DEVICE, got 'flops'"),
        ({"cost": "latency:"}, "`Reward.cost` must be one of seconds, params, latency:DEVICE, got 'latency:'"),
        ({"cost": "latency"}, "`Reward.cost` must be one of seconds, params, latency:DEVICE, got 'latency'"),
        ({"cost": 3}, "`Reward.cost` must be one of seconds, params, latency:DEVICE, got 3"),
        ({"mode": "soft", "target": 0}, "`Reward.target` must be positive and finite, got 0"),
        ({"mode": "soft", "target": -3}, "`Reward.target` must be positive and finite, got -3"),
        ({"mode": "hard", "target": math.inf}, "`Reward.target` must be positive and finite, got inf"),
        ({"target": math.nan}, "`Reward.target` must be positive and finite, got nan"),
        ({"mode": "soft", "target": "1500"}, "`Reward.target` must be a number, got '1500'"),
        ({"soft_exponent": 0.07}, "`Reward.soft_exponent` must be finite and <= 0, got 0.07"),
        ({"hard_exponent": 1}, "`Reward.hard_exponent` must be finite and <= 0, got 1"),
        ({"hard_exponent": -math.inf}, "`Reward.hard_exponent` must be finite and <= 0, got -inf"),
    ],
)
def test_bad_settings_raise_naming_the_value(kwargs, message):
    with pytest.raises(RewardError) as caught:
        Reward(**kwargs)
    assert str(caught.value) == message
    assert isinstance(caught.value, NetembedError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    "mode, args, message",
    [
        ("accuracy", {"accuracy": math.nan}, "`accuracy` must be finite and in [0, 1], got nan"),
        ("soft", {"accuracy": math.inf, "seconds": 1}, "`accuracy` must be finite and in [0, 1], got inf"),
        ("soft", {"accuracy": -0.1, "seconds": 1}, "`accuracy` must be finite and in [0, 1], got -0.1"),
        ("hard", {"accuracy": 93.1, "seconds": 1}, "`accuracy` must be finite and in [0, 1], got 93.1"),
        ("soft", {"accuracy": 0.9, "seconds": 0}, "`seconds` must be positive and finite, got 0"),
        ("soft", {"accuracy": 0.9, "seconds": -5}, "`seconds` must be positive and finite, got -5"),
        ("hard", {"accuracy": 0.9, "seconds": math.nan}, "`seconds` must be positive and finite, got nan"),
        ("hard", {"accuracy": 0.9, "seconds": math.inf}, "`seconds` must be positive and finite, got inf"),
        # a cost the mode does not use is still checked: a NaN anywhere is a bug upstream
        ("accuracy", {"accuracy": 0.9, "seconds": math.nan}, "`seconds` must be finite and non-negative, got nan"),
        ("accuracy", {"accuracy": 0.9, "params": -1}, "`params` must be finite and non-negative, got -1"),
        (
            "soft",
            {"accuracy": 0.9, "seconds": 5, "params": math.inf},
            "`params` must be finite and non-negative, got inf",
        ),
        ("accuracy", {"accuracy": "0.9"}, "`accuracy` must be a number, got '0.9'"),
        (
            "hard",
            {"accuracy": np.float64("nan"), "seconds": np.int64(3)},
            "`accuracy` must be finite and in [0, 1], got nan",
        ),
    ],
)
def test_bad_inputs_raise_naming_the_value(mode, args, message):
    reward = Reward(mode=mode, target=None if mode == "accuracy" else 1500)
    with pytest.raises(RewardError) as caught:
        reward(**args)
    assert str(caught.value) == message


@pytest.mark.parametrize("mode", ["accuracy", "soft", "hard"])
@pytest.mark.parametrize("cost_name", ["seconds", "params"])
def test_many_agrees_with_call_elementwise(mode, cost_name):
    rng = np.random.default_rng(1)
    reward = Reward(mode=mode, cost=cost_name, target=None if mode == "accuracy" else 1500.0)
    accuracy = np.r_[rng.uniform(0, 1, 200), 0.0, 1.0, 0.5]
    cost = np.r_[rng.uniform(1, 3000, 200), 1500.0, 1.0, 1e6]
    many = reward.many(accuracy, cost)
    single = [reward(a, **{cost_name: c}) for a, c in zip(accuracy, cost)]
    assert many.shape == accuracy.shape
    np.testing.assert_allclose(many, single, rtol=1e-12, atol=0)
    if mode == "accuracy":
        assert np.array_equal(reward.many(accuracy, None), accuracy)


def test_many_reports_the_first_bad_position():
    reward = Reward(mode="soft", target=100)
    with pytest.raises(RewardError, match=r"`accuracy` must be finite and in \[0, 1\], got nan at position 2"):
        reward.many(np.array([0.5, 0.6, np.nan, 2.0]), np.ones(4))
    with pytest.raises(RewardError, match=r"`cost` \(seconds\) must be positive and finite, got 0.0 at position 1"):
        reward.many(np.full(3, 0.5), np.array([1.0, 0.0, -1.0]))
    with pytest.raises(RewardError, match=r"must be finite and non-negative, got -1.0 at position 0"):
        Reward().many(np.full(2, 0.5), np.array([-1.0, np.inf]))
    with pytest.raises(RewardError, match="same length, got 3 and 2"):
        reward.many(np.full(3, 0.5), np.ones(2))
    with pytest.raises(RewardError, match=r"1-D\), got shape \(2, 2\)"):
        reward.many(np.full((2, 2), 0.5), np.ones((2, 2)))


def test_reward_is_frozen():
    reward = Reward(mode="soft", target=1.0)
    with pytest.raises(AttributeError):
        reward.target = 2.0  # type: ignore[misc]


# -- Pareto front ----------------------------------------------------------------------------


def brute_front(accuracy: np.ndarray, cost: np.ndarray) -> list[int]:
    """Non-dominated indices by the definition, O(n^2); of exact duplicates the first is kept."""
    keep = []
    for i in range(len(accuracy)):
        dominated = False
        for j in range(len(accuracy)):
            no_worse = accuracy[j] >= accuracy[i] and cost[j] <= cost[i]
            better = accuracy[j] > accuracy[i] or cost[j] < cost[i]
            duplicate_before = j < i and accuracy[j] == accuracy[i] and cost[j] == cost[i]
            if (no_worse and better) or duplicate_before:
                dominated = True
                break
        if not dominated:
            keep.append(i)
    return sorted(keep, key=lambda i: cost[i])


# Values on a coarse grid so that ties and exact duplicates are common.
grid_points = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=0, max_size=25)


@settings(max_examples=200, deadline=None)
@given(grid_points)
def test_pareto_front_matches_brute_force(points):
    accuracy = np.array([a / 6 for a, _ in points], dtype=float)
    cost = np.array([10.0 * c for _, c in points], dtype=float)
    front = pareto_front(accuracy, cost)
    assert front.tolist() == brute_front(accuracy, cost)
    assert np.all(np.diff(cost[front]) > 0) and np.all(np.diff(accuracy[front]) > 0)


def test_pareto_front_on_seeded_random_data_with_duplicates():
    rng = np.random.default_rng(0)
    accuracy = rng.uniform(0.8, 0.95, 300)
    cost = rng.uniform(100, 5000, 300)
    accuracy = np.r_[accuracy, accuracy[:50]]  # exact copies of the first 50
    cost = np.r_[cost, cost[:50]]
    front = pareto_front(accuracy, cost)
    assert front.tolist() == brute_front(accuracy, cost)
    assert np.all(front < 300)  # the copies come later, so the originals are kept


def test_pareto_front_edge_cases():
    assert pareto_front(np.array([]), np.array([])).tolist() == []
    assert pareto_front(np.array([0.5]), np.array([3.0])).tolist() == [0]
    assert pareto_front(np.array([0.5, 0.5, 0.5]), np.array([3.0, 3.0, 3.0])).tolist() == [0]
    # same cost: only the most accurate survives; same accuracy: only the cheapest
    assert pareto_front(np.array([0.5, 0.7]), np.array([3.0, 3.0])).tolist() == [1]
    assert pareto_front(np.array([0.7, 0.7]), np.array([4.0, 3.0])).tolist() == [1]
    with pytest.raises(RewardError, match="`cost` must be finite, got nan at position 1"):
        pareto_front(np.array([0.5, 0.6]), np.array([1.0, np.nan]))
    with pytest.raises(RewardError, match="same length, got 2 and 1"):
        pareto_front(np.array([0.5, 0.6]), np.array([1.0]))


# -- hypervolume -----------------------------------------------------------------------------


def brute_hypervolume(accuracy, cost, reference_accuracy, reference_cost) -> float:
    """Area of the union of the rectangles [ref_acc, acc] x [cost, ref_cost], over a compressed grid."""
    xs = np.unique(np.clip(np.r_[accuracy, reference_accuracy], reference_accuracy, None))
    ys = np.unique(np.clip(np.r_[cost, reference_cost], None, reference_cost))
    area = 0.0
    for x0, x1 in itertools.pairwise(xs):
        for y0, y1 in itertools.pairwise(ys):
            mid_x, mid_y = (x0 + x1) / 2, (y0 + y1) / 2
            if np.any((accuracy >= mid_x) & (cost <= mid_y)):
                area += (x1 - x0) * (y1 - y0)
    return area


def test_hypervolume_matches_brute_force_on_small_random_sets():
    rng = np.random.default_rng(2)
    for trial in range(60):
        n = rng.integers(0, 12)
        accuracy = rng.uniform(0.0, 1.0, n)
        cost = rng.uniform(0.0, 10.0, n)
        if trial % 3 == 0 and n:  # rounded values give ties and duplicates
            accuracy, cost = np.round(accuracy, 1), np.round(cost)
        reference = (rng.uniform(0.0, 0.5), rng.uniform(5.0, 12.0))  # some points lie outside it
        expected = brute_hypervolume(accuracy, cost, *reference)
        assert hypervolume(accuracy, cost, *reference) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_hypervolume_of_one_point_is_its_rectangle():
    assert hypervolume(np.array([0.9]), np.array([200.0]), 0.5, 1000.0) == pytest.approx((0.9 - 0.5) * (1000 - 200))
    assert hypervolume(np.array([]), np.array([]), 0.5, 1000.0) == 0.0


def test_hypervolume_ignores_dominated_points_and_points_outside_the_reference():
    rng = np.random.default_rng(3)
    accuracy, cost = rng.uniform(0.6, 0.95, 30), rng.uniform(100, 900, 30)
    base = hypervolume(accuracy, cost, 0.5, 1000.0)
    front = pareto_front(accuracy, cost)
    assert hypervolume(accuracy[front], cost[front], 0.5, 1000.0) == pytest.approx(base, rel=1e-12)
    # a copy of each front point made worse in both objectives is dominated
    worse_acc, worse_cost = accuracy[front] - 0.01, cost[front] + 1.0
    assert hypervolume(np.r_[accuracy, worse_acc], np.r_[cost, worse_cost], 0.5, 1000.0) == pytest.approx(base)
    # beyond the reference in either objective (or exactly on it) adds no area
    outside_acc = np.array([0.99, 0.4, 0.5, 0.99])
    outside_cost = np.array([1500.0, 50.0, 50.0, 1000.0])
    with_outside = hypervolume(np.r_[accuracy, outside_acc], np.r_[cost, outside_cost], 0.5, 1000.0)
    assert with_outside == pytest.approx(base)
    assert hypervolume(outside_acc, outside_cost, 0.5, 1000.0) == 0.0


def test_hypervolume_validates():
    with pytest.raises(RewardError, match="`reference_cost` must be finite, got nan"):
        hypervolume(np.array([0.9]), np.array([1.0]), 0.5, math.nan)
    with pytest.raises(RewardError, match="`reference_accuracy` must be finite, got inf"):
        hypervolume(np.array([0.9]), np.array([1.0]), math.inf, 10.0)
    with pytest.raises(RewardError, match="`accuracy` must be finite, got inf at position 0"):
        hypervolume(np.array([np.inf]), np.array([1.0]), 0.5, 10.0)
    with pytest.raises(RewardError, match="same length, got 1 and 2"):
        hypervolume(np.array([0.9]), np.array([1.0, 2.0]), 0.5, 10.0)


def test_hypervolume_ratio():
    rng = np.random.default_rng(4)
    accuracy, cost = rng.uniform(0.6, 0.95, 100), rng.uniform(100, 900, 100)
    front = pareto_front(accuracy, cost)
    assert hypervolume_ratio(accuracy[front], cost[front], accuracy, cost, 0.5, 1000.0) == pytest.approx(1.0)
    partial = front[::2]
    expected = hypervolume(accuracy[partial], cost[partial], 0.5, 1000.0) / hypervolume(accuracy, cost, 0.5, 1000.0)
    ratio = hypervolume_ratio(accuracy[partial], cost[partial], accuracy, cost, 0.5, 1000.0)
    assert ratio == pytest.approx(expected) and 0 < ratio < 1
    with pytest.raises(RewardError, match="got hypervolume 0"):
        hypervolume_ratio(accuracy, cost, np.array([0.4]), np.array([10.0]), 0.5, 1000.0)
