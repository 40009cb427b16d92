import json
import re
from functools import partial

import numpy as np
import pytest

from netembed import Cell, NetembedError
from netembed.benchmarks.predictor_bench import (
    TRANSFERS,
    BenchError,
    flat_features,
    path_encoding,
    run_predictor_bench,
    run_time_bench,
    summarise,
)
from netembed.models.predictors import PredictorConfig
from netembed.spaces.nb101 import space


def test_path_encoding_by_hand():
    # input -> conv3x3 -> output, input -> maxpool -> conv1x1 -> output, input -> output
    cell = Cell(
        [[0, 1, 1, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]],
        ["input", "conv3x3-bn-relu", "maxpool3x3", "conv1x1-bn-relu", "output"],
    )
    encoding = path_encoding(cell)
    assert encoding.shape == (364,) and encoding.sum() == 3
    # offsets: 1 path of length 0, 3 of length 1, 9 of length 2
    assert encoding[0] == 1  # the direct edge
    assert encoding[1 + 0] == 1  # (conv3x3)
    assert encoding[1 + 3 + 2 * 3 + 1] == 1  # (maxpool, conv1x1)


def test_flat_features_are_isomorphism_invariant():
    a = Cell(
        [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", "conv3x3-bn-relu", "maxpool3x3", "output"]
    )
    b = Cell(
        [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", "maxpool3x3", "conv3x3-bn-relu", "output"]
    )
    assert np.array_equal(flat_features(a), flat_features(b)) and flat_features(a).shape == (36,)


def test_harness_runs_every_method_on_the_same_splits():
    rng = np.random.default_rng(0)
    # a learnable synthetic label: conv3x3 count plus noise, for every cell of the space
    arrays = space.space_arrays()
    accuracy = 0.8 + 0.02 * (arrays.ops == 0).sum(axis=1) + rng.normal(0, 0.002, len(arrays))
    results = run_predictor_bench(accuracy, [60], seeds=[0, 1], methods=["mlp", "gbt"], test_size=300, progress=False)
    assert [(r.method, r.seed) for r in results] == [("mlp", 0), ("gbt", 0), ("mlp", 1), ("gbt", 1)]
    rows = summarise(results)
    assert [r["method"] for r in rows] == ["mlp", "gbt"] and all(r["seeds"] == 2 for r in rows)
    assert all(r["kendall_tau"] > 0.2 for r in rows)  # both learn something from 60 cells
    with pytest.raises(BenchError, match="methods must be among"):
        run_predictor_bench(accuracy, [10], [0], ["xgboost"], test_size=10)
    with pytest.raises(BenchError, match=f"at most {len(arrays) - 10}"):
        run_predictor_bench(accuracy, [len(arrays)], [0], ["mlp"], test_size=10)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"test_size": 1}, "test size must be in [2, 999] (a rank correlation needs two cells), got 1"),  # NaN tau
        ({"batch_size": 0}, "batch size must be a positive integer, got 0"),  # was PredictorConfig's ValueError
        ({"steps": -1}, "steps must be a positive integer, got -1"),
        ({"methods": ["mlp", "mlp"]}, "methods must each be named once, got ['mlp', 'mlp']"),
        ({"seeds": []}, "seeds must hold at least one seed, got none"),
        ({"train_sizes": [1]}, "train sizes must be at least 2 cells each, got [1]"),
        ({"runs_dir": "a file"}, "runs_dir must name a folder this process can write, got"),
    ],
)
def test_predictor_bench_mistakes_are_refused_before_any_fit(tmp_path, kwargs, message):
    (tmp_path / "a file").write_text("x")
    if "runs_dir" in kwargs:
        kwargs["runs_dir"] = tmp_path / kwargs["runs_dir"]
    settings = {"train_sizes": [10], "seeds": [0], "methods": ["netembed"], "test_size": 100} | kwargs
    with pytest.raises(NetembedError) as info:
        run_predictor_bench(np.linspace(0.8, 0.9, 1000), progress=False, **settings)
    assert message in str(info.value)


def synthetic_times(rows: int, timed: int, seed: int = 0):
    """Seconds that grow with parameters and FLOPs (times noise) on the first ``timed`` rows, NaN elsewhere."""
    rng = np.random.default_rng(seed)
    params = rng.integers(200_000, 40_000_000, rows)
    flops = params * rng.uniform(50, 150, rows)
    seconds = np.full(rows, np.nan)
    seconds[:timed] = 1e-4 * params[:timed] ** 0.5 * (flops[:timed] / params[:timed]) * rng.lognormal(0, 0.01, timed)
    return seconds, params, flops


def test_time_bench_scores_every_method_on_the_same_timed_rows():
    seconds, params, flops = synthetic_times(len(space.space_arrays()), 400)
    results = run_time_bench(
        seconds, params, flops, [50], seeds=[0, 1], methods=["params", "gbt"], pool_size=300, progress=False
    )
    assert [(r.method, r.seed) for r in results] == [("params", 0), ("gbt", 0), ("params", 1), ("gbt", 1)]
    rows = summarise(results)
    assert all(0 <= r["mdape_percent"] < 100 for r in rows)
    params_row, gbt_row = rows
    # time depends on FLOPs too: trees that see them beat the log-parameter line
    assert gbt_row["kendall_tau"] > params_row["kendall_tau"] and gbt_row["mdape_percent"] < params_row["mdape_percent"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"methods": ["xgboost"]}, "methods must be among"),
        ({"pool_size": 399}, "pool size must be in [1, 398] (two timed rows left to test on), got 399"),
        ({"train_sizes": [301]}, "at most the pool of 300 timed rows, got 301"),
        ({"flops": None}, "needs the table's flops column"),
    ],
)
def test_time_bench_mistakes(kwargs, message):
    seconds, params, flops = synthetic_times(1000, 400)
    settings = {"train_sizes": [50], "seeds": [0], "methods": ["params"], "pool_size": 300, "flops": flops} | kwargs
    with pytest.raises(BenchError, match=re.escape(message)):
        run_time_bench(seconds, params, progress=False, **settings)


def test_saved_runs_are_reused_and_other_settings_are_measured_again(tmp_path, monkeypatch):
    from netembed.benchmarks import predictor_bench

    fitted, fit = [], predictor_bench.TIME_METHODS["params"]

    def spy(train, log_seconds, seed, **training):  # each fit, by seed: a reused run fits nothing
        fitted.append(seed)
        return fit(train, log_seconds, seed, **training)

    monkeypatch.setitem(predictor_bench.TIME_METHODS, "params", spy)
    seconds, params, flops = synthetic_times(1000, 400)
    settings = {"train_sizes": [50], "methods": ["params"], "pool_size": 300, "progress": False, "runs_dir": tmp_path}

    def bench(seconds=seconds, **changed) -> tuple[list, list[int]]:
        """The rows, and the seeds fitted to get them."""
        fitted.clear()
        return run_time_bench(seconds, params, flops, **(settings | changed)), list(fitted)

    first, fits = bench(seeds=[0])
    saved = tmp_path / "time-params-50-0.json"
    assert fits == [0] and saved.exists()
    # a grown grid (one more seed) reuses seed 0 as saved, without fitting again
    grown, fits = bench(seeds=[0, 1])
    assert fits == [1] and grown[0] == first[0] and grown[1].seed == 1
    assert bench(seeds=[0, 1])[1] == []  # the same grid again: nothing fitted
    # a run saved with other settings (another pool) is measured again, and overwritten
    assert bench(seeds=[0], pool_size=350)[1] == [0]
    assert '"pool_size": 350' in saved.read_text()
    # an unreadable file (a crash before the atomic rename cannot leave one, but a user edit can) is measured again
    saved.write_text("{not json")
    assert bench(seeds=[0])[1] == [0]
    assert '"pool_size": 300' in saved.read_text()
    # the same settings on other labels (another table) are measured again too
    before = json.loads(saved.read_text())
    assert bench(seconds * 1.01, seeds=[0])[1] == [0]
    assert json.loads(saved.read_text())["settings"]["labels"] != before["settings"]["labels"]


def test_training_overrides_reach_the_netembed_rows_only(tmp_path):
    arrays = space.space_arrays()
    accuracy = 0.8 + 0.02 * (arrays.ops == 0).sum(axis=1)
    run = partial(run_predictor_bench, accuracy, [30], [0], test_size=50, progress=False, runs_dir=tmp_path)
    run(["netembed", "mlp"], steps=3, batch_size=8)
    netembed = json.loads((tmp_path / "accuracy-netembed-30-0.json").read_text())
    mlp = json.loads((tmp_path / "accuracy-mlp-30-0.json").read_text())
    assert netembed["settings"]["steps"] == 3 and netembed["settings"]["batch_size"] == 8
    # steps given are exactly that many (no passes rule), and the whole training config is saved
    assert netembed["settings"]["config"] == {
        **netembed["settings"]["config"],
        "steps": 3,
        "epochs": 0,
        "batch_size": 8,
        "forest": PredictorConfig().forest,
    }
    assert "steps" not in mlp["settings"] and "config" not in mlp["settings"]
    # other training settings are measured again, not read back
    run(["netembed"], steps=4)
    assert json.loads((tmp_path / "accuracy-netembed-30-0.json").read_text())["settings"]["steps"] == 4


def test_saved_warm_started_runs_name_the_weights_they_started_from(tmp_path):
    from netembed.models import hub

    arrays = space.space_arrays()
    accuracy = 0.8 + 0.02 * (arrays.ops == 0).sum(axis=1)
    run_predictor_bench(
        accuracy,
        [30],
        [0],
        ["netembed+pretrained", "netembed"],
        test_size=50,
        progress=False,
        runs_dir=tmp_path,
        steps=3,
    )
    warm = json.loads((tmp_path / "accuracy-netembed+pretrained-30-0.json").read_text())["settings"]
    fresh = json.loads((tmp_path / "accuracy-netembed-30-0.json").read_text())["settings"]
    assert warm["init_sha256"] == hub.read_config(hub.resolve("encoder-nb101"))["weights_sha256"]
    assert "init_sha256" not in fresh  # so retrained pretrained weights are measured again


def test_nb201_predictors_and_baselines_rank_the_cells_outside_a_pool_twice_the_largest_size(tmp_path):
    from netembed.benchmarks.predictor_bench import bench_predictors
    from netembed.models import hub
    from netembed.spaces.nb201 import Table

    from .test_spaces import synthetic_table

    path = synthetic_table(tmp_path / "nb201.npz")
    rows, _ = bench_predictors(
        tmp_path / "out", [10, 40], [0], None, data=path, steps=20, progress=False, space="nb201",
        dataset="imagenet16",
    )  # fmt: skip
    # no prior-nb201; the transfers, since the shipped surrogate learned cifar10, not imagenet16
    expected = ["netembed", "netembed+pretrained", "netembed+surrogate", "zero-shot", "mlp", "gbt"]
    assert [r["method"] for r in rows][::2] == expected
    saved = [json.loads(p.read_text()) for p in sorted((tmp_path / "out" / "runs").glob("*.json"))]
    table = Table.load(path)
    assert all(r["settings"]["space"] == "nb201" and r["settings"]["test_size"] == len(table) - 2 * 40 for r in saved)
    warm = next(r for r in saved if r["measurement"]["method"] == "netembed+pretrained")
    assert warm["settings"]["init_sha256"] == hub.read_config(hub.resolve("encoder-nb201"))["weights_sha256"]
    # the labels rise with the number of 3x3 convs: with 40 labels every method that learns them ranks
    # the rest by it (the transfers keep much of the CIFAR-10 surrogate: tests/test_transfer_predictor.py)
    learned = [r for r in rows if r["train_size"] == 40 and r["method"] not in TRANSFERS]
    assert len(learned) == 4 and min(r["kendall_tau"] for r in learned) > 0.5
    with pytest.raises(NetembedError, match="prior-nb201"):
        bench_predictors(tmp_path / "o2", [20], [0], ["netembed+prior"], data=path, space="nb201")


def test_summarise_gives_the_t_interval_of_the_mean_kendall_tau():
    from scipy import stats as scipy_stats

    from netembed.benchmarks.predictor_bench import PredictorScore

    def measure(method, seed, tau):
        return PredictorScore(method, 100, seed, tau, 0.5, 0.01, 1.0, 0.1)

    taus = [0.70, 0.74, 0.69]
    results = [measure("gbt", s, t) for s, t in enumerate(taus)] + [measure("mlp", 0, 0.6)]
    results += [measure("netembed", s, t) for s, t in enumerate([0.8, np.nan])]
    gbt, mlp, netembed = summarise(results)
    low, high = scipy_stats.t.interval(0.95, 2, loc=np.mean(taus), scale=scipy_stats.sem(taus))
    assert gbt["kendall_tau"] == pytest.approx(np.mean(taus)) and gbt["kendall_tau_std"] == pytest.approx(np.std(taus))
    assert (gbt["kendall_tau_low"], gbt["kendall_tau_high"]) == pytest.approx((low, high))
    assert mlp["kendall_tau_low"] is None and mlp["kendall_tau_high"] is None  # one seed: no interval
    assert netembed["kendall_tau_low"] is None  # a NaN tau: no interval either


def test_plot_bench_draws_the_t_interval_as_error_bars(tmp_path, monkeypatch):
    import matplotlib.axes

    from netembed.benchmarks import predictor_bench
    from netembed.benchmarks.predictor_bench import PredictorScore

    drawn = []
    errorbar = matplotlib.axes.Axes.errorbar
    monkeypatch.setattr(
        matplotlib.axes.Axes, "errorbar", lambda ax, x, y, **kw: drawn.append(kw) or errorbar(ax, x, y, **kw)
    )
    results = [PredictorScore("gbt", 100, s, t, 0.5, 0.01, 1.0, 0.1) for s, t in enumerate([0.70, 0.74, 0.69])]
    results += [PredictorScore("mlp", 100, 0, 0.6, 0.5, 0.01, 1.0, 0.1)]  # one seed: no interval, no bar
    rows = summarise(results)
    assert predictor_bench.plot_bench(rows, tmp_path / "p.png", "t").stat().st_size > 0
    (below,), (above,) = drawn[0]["yerr"]
    assert (below, above) == pytest.approx((rows[0]["kendall_tau"] - rows[0]["kendall_tau_low"],) * 2)  # symmetric
    assert np.asarray(drawn[1]["yerr"]).ravel().tolist() == [0.0, 0.0]
