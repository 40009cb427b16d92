"""Locality analysis on synthetic graphs and values whose answers are known in closed form."""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netembed import NetembedError
from netembed.benchmarks.analysis import (
    AnalysisError,
    Autocorrelation,
    EmbeddingLocality,
    embedding_locality,
    format_table,
    plot_locality,
    random_walk_autocorrelation,
    random_walk_rows,
    random_walks,
    ring_graph,
    run_locality,
    write_csv,
)
from netembed.errors import DataError

ROOT = Path(__file__).resolve().parents[1]


def csr(neighbours: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    indptr = np.concatenate([[0], np.cumsum([len(n) for n in neighbours])]).astype(np.int64)
    return indptr, np.array([v for n in neighbours for v in n], dtype=np.int32)


def ring_values(n: int) -> np.ndarray:
    return np.sin(2 * np.pi * np.arange(n) / n)


# -- walks --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_every_step_of_a_walk_follows_an_edge(data):
    n = data.draw(st.integers(1, 12))
    neighbours = [sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n))) for _ in range(n)]
    graph = csr(neighbours)
    seed = data.draw(st.integers(0, 2**32 - 1))
    rows = random_walks(graph, walks=7, length=9, rng=np.random.default_rng(seed))
    assert rows.shape == (7, 10)
    for walk in rows:
        for here, there in itertools.pairwise(walk):
            assert there in neighbours[here]


def test_each_step_picks_an_out_neighbour_uniformly():
    star = csr([[1, 2, 3, 4], [0], [0], [0], [0]])
    rows = random_walks(star, walks=40_000, length=1, rng=np.random.default_rng(0), start=0)
    share = np.bincount(rows[:, 1], minlength=5)[1:] / 40_000
    np.testing.assert_allclose(share, 0.25, atol=0.01)


def test_random_starts_cover_the_rows_and_fixed_starts_are_kept():
    ring = ring_graph(10)
    rows = random_walks(ring, walks=5_000, length=0, rng=np.random.default_rng(0))
    assert set(rows[:, 0].tolist()) == set(range(10))
    assert (random_walks(ring, 3, 4, np.random.default_rng(0), start=7)[:, 0] == 7).all()
    starts = np.array([1, 2, 3])
    assert (random_walks(ring, 3, 4, np.random.default_rng(0), start=starts)[:, 0] == starts).all()
    walk = random_walk_rows(ring, 6, np.random.default_rng(0), start=5)
    assert walk.shape == (7,) and walk[0] == 5
    assert set((np.diff(walk) % 10).tolist()) <= {1, 9}  # one step either way around the ring


def test_walks_are_reproducible_with_a_seed():
    ring = ring_graph(30)
    a = random_walks(ring, 50, 20, np.random.default_rng(3))
    b = random_walks(ring, 50, 20, np.random.default_rng(3))
    c = random_walks(ring, 50, 20, np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda g, r: random_walks(g, 0, 5, r), "walks must be a positive integer, got 0"),
        (lambda g, r: random_walks(g, 2, -1, r), "length must be a non-negative integer"),
        (lambda g, r: random_walks(g, 2, 5, r, start=10), r"start rows must be in \[0, 10\), got 10"),
        (lambda g, r: random_walks(g, 2, 5, r, start=np.array([1, 2, 3])), "start must be one integer row or 2"),
        (lambda g, r: random_walks(g, 2, 5, r, start=1.5), "start must be one integer row"),
        (lambda g, r: random_walks((g[0][:-1], g[1]), 2, 5, r), "indptr must rise from 0 to len"),
        (lambda g, r: random_walks((g[0], g[1] + 10), 2, 5, r), r"indices must be rows in \[0, 10\)"),
        (lambda g, r: random_walks((g[0].astype(float), g[1]), 2, 5, r), "must be integers"),
        (lambda g, r: random_walks(g[0], 2, 5, r), "graph must be a CSR pair"),
    ],
)
def test_bad_walk_arguments_are_refused_with_the_rule(call, message):
    with pytest.raises(AnalysisError, match=message):
        call(ring_graph(10), np.random.default_rng(0))


def test_a_walk_into_a_dead_end_is_refused():
    path = csr([[1], [2], []])  # 0 -> 1 -> 2, and 2 has nowhere to go
    with pytest.raises(AnalysisError, match="row 2, which has no out-neighbours"):
        random_walks(path, 1, 5, np.random.default_rng(0), start=0)


def test_analysis_errors_are_netembed_and_value_errors():
    assert issubclass(AnalysisError, NetembedError) and issubclass(AnalysisError, ValueError)


# -- autocorrelation ----------------------------------------------------------------------------


def test_smooth_values_on_a_ring_decay_like_the_closed_form():
    # f(i) = sin(2 pi i / n) and steps of +-1: corr(f(x_t), f(x_t+k)) = cos(2 pi / n) ** k exactly
    n = 8
    rng = np.random.default_rng(0)
    rows = random_walks(ring_graph(n), walks=1_000, length=40, rng=rng)
    rwa = random_walk_autocorrelation(ring_values(n)[rows], max_lag=25, rng=rng, permutations=100)
    np.testing.assert_allclose(rwa.correlation, np.cos(2 * np.pi / n) ** rwa.lags, atol=0.03)
    assert rwa.correlation[0] > 0.65
    assert (np.diff(rwa.correlation[:8]) < 0).all()  # decays while well above noise
    assert rwa.first_lag_in_noise is not None and 8 <= rwa.first_lag_in_noise <= 25
    assert not ((rwa.noise_low <= rwa.correlation) & (rwa.correlation <= rwa.noise_high))[:7].any()


def test_a_slowly_varying_function_never_reaches_noise_within_max_lag():
    rng = np.random.default_rng(1)
    rows = random_walks(ring_graph(200), walks=300, length=40, rng=rng)
    rwa = random_walk_autocorrelation(ring_values(200)[rows], max_lag=20, rng=rng)
    assert rwa.correlation.min() > 0.9
    assert rwa.first_lag_in_noise is None
    assert "no lag up to 20 is inside the noise band" in format_table(rwa)


def test_independent_values_stay_inside_the_noise_band():
    rng = np.random.default_rng(2)
    iid = rng.normal(size=(400, 41))
    rwa = random_walk_autocorrelation(iid, max_lag=20, rng=rng)
    inside = (rwa.noise_low <= rwa.correlation) & (rwa.correlation <= rwa.noise_high)
    assert inside.mean() >= 0.8  # about 95% expected
    assert rwa.first_lag_in_noise == 1
    # the permutation band agrees with the analytic +-1.96 / sqrt(pairs)
    np.testing.assert_allclose(rwa.noise_high, rwa.analytic_noise, rtol=0.3)
    np.testing.assert_allclose(-rwa.noise_low, rwa.analytic_noise, rtol=0.3)
    np.testing.assert_array_equal(rwa.pairs, 400 * (41 - rwa.lags))
    np.testing.assert_allclose(rwa.analytic_noise, 1.959964 / np.sqrt(rwa.pairs), rtol=1e-6)


def test_correlation_matches_numpy_pearson_on_pooled_pairs():
    values = np.random.default_rng(3).normal(size=(5, 12)).cumsum(axis=1)
    rwa = random_walk_autocorrelation(values, max_lag=4)
    for lag, r in zip(rwa.lags, rwa.correlation):
        expected = np.corrcoef(values[:, :-lag].ravel(), values[:, lag:].ravel())[0, 1]
        assert r == pytest.approx(expected, abs=1e-12)


def test_bootstrap_interval_brackets_the_correlation_and_is_off_without_rng():
    rng = np.random.default_rng(4)
    rows = random_walks(ring_graph(12), walks=300, length=30, rng=rng)
    values = ring_values(12)[rows]
    rwa = random_walk_autocorrelation(values, max_lag=10, rng=rng)
    assert ((rwa.ci_low <= rwa.correlation) & (rwa.correlation <= rwa.ci_high)).all()
    assert (rwa.ci_high - rwa.ci_low > 0).all()
    plain = random_walk_autocorrelation(values, max_lag=10)
    assert np.isnan(plain.ci_low).all() and np.isnan(plain.ci_high).all()
    np.testing.assert_array_equal(plain.noise_high, plain.analytic_noise)
    one_walk = random_walk_autocorrelation(values[0], max_lag=10, rng=rng)
    assert one_walk.walks == 1 and np.isnan(one_walk.ci_low).all()


def test_autocorrelation_is_reproducible_with_a_seed():
    values = np.random.default_rng(5).normal(size=(50, 21))
    a = random_walk_autocorrelation(values, 10, np.random.default_rng(9))
    b = random_walk_autocorrelation(values, 10, np.random.default_rng(9))
    for name in ("correlation", "noise_low", "noise_high", "ci_low", "ci_high"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize(
    "values, max_lag, kwargs, message",
    [
        (np.zeros((3, 10)) + np.arange(10), 10, {}, r"max_lag must be an integer in \[1, walk length - 1\] = \[1, 9\]"),
        (np.arange(30.0).reshape(3, 10), 0, {}, r"got 0"),
        (np.arange(30.0).reshape(3, 10), 2.5, {}, r"got 2.5"),
        (np.array([[1.0, np.nan, 2.0, 3.0]]), 1, {}, "must be finite, got 1 NaN or infinite"),
        (np.zeros((2, 2, 5)), 1, {}, r"1-D or 2-D \(walks, steps\), got shape \(2, 2, 5\)"),
        (np.ones((3, 10)), 2, {}, "must not be constant"),
        (
            np.arange(30.0).reshape(3, 10),
            2,
            {"rng": np.random.default_rng(0), "permutations": 5},
            "permutations must be >= 20",
        ),
        (np.arange(30.0).reshape(3, 10), 2, {"bootstrap": 1}, "bootstrap must be 0"),
        (["a", "b"], 1, {}, "must be numbers"),
        (np.zeros((0, 10)), 1, {}, r"at least one walk, got shape \(0, 10\)"),
    ],
)
def test_bad_autocorrelation_arguments_are_refused_with_the_rule(values, max_lag, kwargs, message):
    with pytest.raises(AnalysisError, match=message):
        random_walk_autocorrelation(values, max_lag, **kwargs)


# -- embedding locality -------------------------------------------------------------------------


def circle(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points on the unit circle and f = Re(z^3) + Re(z^4), a smooth function of the coordinates.

    By rotation symmetry, two points at angular distance d have corr(f, f) = (cos 3d + cos 4d) / 2:
    about 0.93 in the nearest 5% of pairs and 0 for opposite points.
    """
    theta = rng.uniform(0, 2 * np.pi, n)
    return np.stack([np.cos(theta), np.sin(theta)], axis=1), np.cos(3 * theta) + np.cos(4 * theta), theta


def test_smooth_values_correlate_in_the_nearest_bin_and_not_in_the_farthest():
    rng = np.random.default_rng(0)
    embeddings, values, _ = circle(20_000, rng)
    result = embedding_locality(embeddings, values, rng, pairs=100_000, bins=20)
    assert result.correlation[0] > 0.85
    assert abs(result.correlation[-1]) < 0.1
    # each bin follows the closed form at its mean angular distance (chord = 2 sin(d / 2))
    angle = 2 * np.arcsin(np.clip(result.mean_distance / 2, 0, 1))
    np.testing.assert_allclose(result.correlation, (np.cos(3 * angle) + np.cos(4 * angle)) / 2, atol=0.08)
    assert result.mean_abs_difference[0] < result.mean_abs_difference[-1]


def test_bins_are_equal_count_distance_quantiles():
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(500, 16))
    result = embedding_locality(embeddings, rng.normal(size=500), rng, pairs=10_001, bins=7)
    assert result.pairs.sum() == 10_001 and result.pairs.max() - result.pairs.min() <= 1
    assert (np.diff(result.mean_distance) > 0).all()
    assert (result.distance_low <= result.mean_distance).all() and (result.mean_distance <= result.distance_high).all()
    assert (result.distance_high[:-1] <= result.distance_low[1:]).all()
    assert (np.abs(result.correlation) < 0.15).all()  # unrelated values: no locality
    assert [row["bin"] for row in result.rows()] == list(range(7))


def test_identical_embeddings_still_form_bins():
    rng = np.random.default_rng(2)
    result = embedding_locality(np.zeros((100, 3)), rng.normal(size=100), rng, pairs=1_000, bins=4)
    assert (result.mean_distance == 0).all() and result.pairs.tolist() == [250] * 4


def test_embedding_locality_is_reproducible_with_a_seed():
    embeddings, values, _ = circle(1_000, np.random.default_rng(3))
    a = embedding_locality(embeddings, values, np.random.default_rng(7), pairs=5_000, bins=5)
    b = embedding_locality(embeddings, values, np.random.default_rng(7), pairs=5_000, bins=5)
    assert a.rows() == b.rows()


@pytest.mark.parametrize(
    "embeddings, values, kwargs, message",
    [
        (np.zeros((10, 2)), np.zeros(9), {}, r"one value per embedding row \(10\), got shape \(9,\)"),
        (np.zeros(10), np.zeros(10), {}, r"2-D \(N, d\) array, got shape \(10,\)"),
        (np.full((10, 2), np.nan), np.zeros(10), {}, "embeddings must be finite, got 20 NaN"),
        (np.zeros((10, 2)), np.r_[np.inf, np.zeros(9)], {}, "values must be finite, got 1 NaN or infinite"),
        (np.zeros((1, 2)), np.zeros(1), {}, "at least 2 rows"),
        (np.zeros((10, 2)), np.zeros(10), {"bins": 0}, "bins must be a positive integer, got 0"),
        (
            np.zeros((10, 2)),
            np.zeros(10),
            {"pairs": 30, "bins": 20},
            r"pairs must be an integer >= 2 \* bins = 40, got 30",
        ),
    ],
)
def test_bad_embedding_arguments_are_refused_with_the_rule(embeddings, values, kwargs, message):
    with pytest.raises(AnalysisError, match=message):
        embedding_locality(embeddings, values, np.random.default_rng(0), **kwargs)


# -- output -------------------------------------------------------------------------------------


@pytest.fixture
def small_rwa() -> Autocorrelation:
    rng = np.random.default_rng(0)
    rows = random_walks(ring_graph(10), walks=100, length=20, rng=rng)
    return random_walk_autocorrelation(ring_values(10)[rows], max_lag=8, rng=rng)


def test_write_csv_round_trips_and_leaves_no_temporary_file(tmp_path, small_rwa):
    path = write_csv(small_rwa.rows(), tmp_path / "deep" / "rwa.csv")
    with open(path, newline="") as handle:
        read = list(csv.DictReader(handle))
    assert [int(r["lag"]) for r in read] == list(range(1, 9))
    assert float(read[0]["correlation"]) == pytest.approx(small_rwa.correlation[0])
    assert list(read[0]) == list(small_rwa.rows()[0])
    write_csv(small_rwa, path)  # a result object works too, and overwrites
    assert sorted(p.name for p in path.parent.iterdir()) == ["rwa.csv"]


def test_write_csv_refuses_empty_or_ragged_rows(tmp_path):
    with pytest.raises(AnalysisError, match="at least one row"):
        write_csv([], tmp_path / "x.csv")
    with pytest.raises(AnalysisError, match=r"row 1 has \['a', 'c'\]"):
        write_csv([{"a": 1, "b": 2}, {"a": 1, "c": 2}], tmp_path / "x.csv")
    assert not list(tmp_path.iterdir())


def test_plots_are_png_files(tmp_path, small_rwa):
    rng = np.random.default_rng(0)
    embeddings, values, _ = circle(500, rng)
    locality = embedding_locality(embeddings, values, rng, pairs=2_000, bins=5)
    for result, name in ((small_rwa, "rwa.png"), (locality, "embedding.png")):
        path = plot_locality(result, tmp_path / name, title=name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    no_ci = random_walk_autocorrelation(np.random.default_rng(1).normal(size=(20, 10)), 3)
    assert plot_locality(no_ci, tmp_path / "plain.png").exists()
    with pytest.raises(AnalysisError, match="got dict"):
        plot_locality({}, tmp_path / "bad.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embedding.png", "plain.png", "rwa.png"]


def test_run_locality_on_a_given_graph_writes_csv_and_png(tmp_path):
    kwargs = {"walks": 200, "length": 30, "max_lag": 10, "seed": 0, "graph": ring_graph(10), "values": ring_values(10)}
    result = run_locality(out=tmp_path, **kwargs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rwa.csv", "rwa.png"]
    assert result.walks == 200 and result.length == 30 and len(result.lags) == 10
    assert result.meta["seed"] == 0 and result.meta["distinct_cells_visited"] == 10
    assert result.meta["mean_out_degree_first"] == result.meta["mean_out_degree_last"] == 2  # a ring is regular
    assert "mean_vertices_first" not in result.meta  # only for the whole space
    again = run_locality(**kwargs)
    np.testing.assert_array_equal(result.correlation, again.correlation)
    assert result.to_dict()["first_lag_in_noise"] == result.first_lag_in_noise


def test_run_locality_refuses_values_that_do_not_fit_the_graph():
    with pytest.raises(AnalysisError, match=r"one entry per graph row \(10\), got shape \(9,\)"):
        run_locality(walks=5, length=5, max_lag=2, graph=ring_graph(10), values=np.zeros(9))


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"walks": 0}, "walks must be a positive integer, got 0"),
        ({"max_lag": 6}, "max_lag must be an integer in [1, walk length - 1] = [1, 5]"),
        ({"permutations": 5}, "permutations must be >= 20 for a 95% band, got 5"),
        ({"bootstrap": 1}, "bootstrap must be 0 (off) or >= 2 resamplings, got 1"),
        ({"out": "a file"}, "--out must name a folder this process can write, got"),
    ],
)
def test_run_locality_checks_its_settings_before_the_move_graph(tmp_path, monkeypatch, settings, message):
    """The move graph takes about 90 s: a mistake used to show only after it."""
    from netembed.spaces.nb101 import transforms

    monkeypatch.setattr(transforms, "move_graph", lambda **_: pytest.fail("built the move graph"))
    (tmp_path / "a file").write_text("x")
    settings = {"walks": 5, "length": 5, "max_lag": 2, "data": tmp_path} | settings
    settings["out"] = tmp_path / settings["out"] if "out" in settings else None
    with pytest.raises(NetembedError) as info:
        run_locality(**settings)
    assert message in str(info.value)


def test_run_locality_without_the_table_says_where_it_looked(tmp_path):
    with pytest.raises(DataError, match="NAS-Bench-101 table not found"):
        run_locality(walks=5, length=5, max_lag=2, graph=ring_graph(10), data=tmp_path)


def test_the_experiment_script_exits_with_a_clear_message_without_the_table(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "locality.py"), "--data", str(tmp_path), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert "netembed analyze locality: error: NAS-Bench-101 table not found" in done.stderr


def test_the_module_imports_numpy_only():
    code = "import sys, netembed.benchmarks.analysis; print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.split() == ["False", "False"]


def test_results_are_the_documented_types(small_rwa):
    assert isinstance(small_rwa, Autocorrelation)
    rng = np.random.default_rng(0)
    assert isinstance(embedding_locality(np.eye(5), np.arange(5.0), rng, pairs=20, bins=2), EmbeddingLocality)
