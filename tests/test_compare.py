import json
from types import SimpleNamespace

import numpy as np
import pytest

from netembed.benchmarks.compare import Run, format_summary, median_hypervolume_ratio, plot_runs, summarise, true_front
from netembed.search.objective import HV_REFERENCE, hypervolume


def test_hypervolume_ratio_at_every_checkpoint():
    # a table of four cells; the true front is the (0.90, 2M) and (0.94, 10M) cells
    accuracy = np.array([0.90, 0.94, 0.85, 0.92])
    params = np.array([2e6, 10e6, 5e6, 20e6])
    bench = SimpleNamespace(test_acc_108=accuracy, params=params, rank=lambda a: int((accuracy > a).sum()) + 1)
    true = hypervolume(accuracy, params, *HV_REFERENCE)
    # the run queries a dominated cell, then the cheap front cell, then the best one
    run = Run("random", 0, 3, [0.85, 0.90, 0.94], [5_000_000, 2_000_000, 10_000_000], 0.0, 0.0)
    (row,) = summarise([run], bench, checkpoints=(1, 2, 3))
    ratios = [row["by_budget"][p]["median_hypervolume_ratio"] for p in ("1", "2", "3")]
    assert ratios == pytest.approx(
        [
            hypervolume(accuracy[[2]], params[[2]], *HV_REFERENCE) / true,
            hypervolume(accuracy[[2, 0]], params[[2, 0]], *HV_REFERENCE) / true,
            1.0,
        ]
    )
    assert ratios[0] < ratios[1] < ratios[2] and row["median_hypervolume_ratio"] == ratios[2]
    assert "HV ratio @2" in format_summary([row]) and f"{ratios[1]:.3f}" in format_summary([row])


def _bench():
    """Ten cells: the best (0.95) and a second top cell (0.945) above TOP_THRESHOLD, the rest below."""
    accuracy = np.array([0.95, 0.945, *np.linspace(0.90, 0.94, 8)])
    params = np.arange(10) * 1e6 + 1e6
    return SimpleNamespace(test_acc_108=accuracy, params=params, rank=lambda a: int((accuracy > a).sum()) + 1)


def _run(method: str, seed: int, first_top: int | None, budget: int = 10) -> Run:
    """A run whose first top-0.01% cell is query ``first_top`` (never if None)."""
    accuracy = [0.90 + 0.001 * q for q in range(budget)]
    if first_top is not None:
        accuracy[first_top - 1] = 0.945
    return Run(method, seed, budget, accuracy, [1_000_000 * (q + 1) for q in range(budget)], 0.0, 0.0)


def _runs() -> list[Run]:
    firsts = {"regularized_evolution": [8, 6, None, 10], "netembed": [2, 3, 4, None], "random": [None] * 4}
    return [_run(method, seed, q) for method, qs in firsts.items() for seed, q in enumerate(qs)]


def test_summarise_adds_intervals_and_the_paired_comparison():
    bench, runs = _bench(), _runs()
    rows = summarise(runs, bench, checkpoints=(5, 10))
    json.dumps(rows, allow_nan=False)  # plain numbers and None only
    assert rows == summarise(runs, bench, checkpoints=(5, 10))  # seeded
    re, net, rand = rows
    # the Kaplan-Meier medians: RE 6, 8, 10, >10 -> S(8) = 1/2, midpoint to 10; netembed 2, 3, 4, >10 -> 3.5
    assert re["median_queries_to_top"] == 9.0 and net["median_queries_to_top"] == 3.5
    assert rand["median_queries_to_top"] is None and rand["reached_top"] == 0
    assert rand["median_queries_to_top_low"] is None and rand["median_queries_to_top_high"] is None
    # a quarter of the resamples hold the censored seed twice or more: the interval is open above the budget
    assert net["median_queries_to_top_low"] <= 3.5 and net["median_queries_to_top_high"] is None
    assert re["median_queries_to_top_low"] <= 9.0 and re["median_queries_to_top_high"] is None
    for row in rows:
        assert row["median_hypervolume_ratio_low"] <= row["median_hypervolume_ratio"]
        assert row["median_hypervolume_ratio"] <= row["median_hypervolume_ratio_high"]
        for point, figures in row["by_budget"].items():
            bounds = row["by_budget_interval"][point]
            assert set(bounds) == {f"{name}_{side}" for name in figures for side in ("low", "high")}
            for name, value in figures.items():
                assert bounds[f"{name}_low"] <= value <= bounds[f"{name}_high"]
    # paired with RE (same seed): ratios 8/2, 6/3, 10/4 (RE censored: the budget, a bound), 10/10
    # (netembed censored: its budget, a bound) -> median 2.25; ahead in 3 seeds of 4
    assert net["reference"] == "regularized_evolution" and net["paired_seeds"] == 4 and net["paired_budget"] == 10
    assert net["queries_ratio_vs_reference"] == 2.25 and net["share_ahead_of_reference"] == 0.75
    assert net["queries_ratio_vs_reference_low"] <= 2.25 <= net["queries_ratio_vs_reference_high"]
    assert net["share_ahead_of_reference_low"] <= 0.75 <= net["share_ahead_of_reference_high"]
    assert (net["pairs_only_method_reached"], net["pairs_only_reference_reached"], net["pairs_neither_reached"]) == (
        1,
        1,
        0,
    )
    # random never reaches: 8/10, 6/10, tie, 10/10 -> 0.9; ahead only half a seed (the tie)
    assert rand["queries_ratio_vs_reference"] == pytest.approx(0.9) and rand["share_ahead_of_reference"] == 0.125
    assert rand["pairs_neither_reached"] == 1
    assert re["reference"] == "regularized_evolution" and "queries_ratio_vs_reference" not in re


def test_summarise_keeps_the_existing_fields_and_values():
    bench, runs = _bench(), _runs()
    for row in summarise(runs, bench, checkpoints=(5, 10)):
        mine = [r for r in runs if r.method == row["method"]]
        curves = np.stack([r.best_so_far() for r in mine])
        first = [int(np.argmax(c >= 0.9423077)) + 1 if c[-1] >= 0.9423077 else np.inf for c in curves]
        plain = float(np.median(first))
        assert row["median_queries_to_top"] == (plain if np.isfinite(plain) else None)
        assert row["reached_top"] == int(np.isfinite(first).sum())
        for point, figures in row["by_budget"].items():
            found = curves[:, int(point) - 1]
            assert figures == {
                "median_accuracy": float(np.median(found)),
                "median_regret": float(np.median(0.95 - found)),
                "median_rank": float(np.median([bench.rank(a) for a in found])),
                "median_hypervolume_ratio": median_hypervolume_ratio(mine, true_front(bench), int(point)),
            }


def test_summarise_pairs_the_common_seeds_and_budget_and_omits_a_missing_reference():
    bench = _bench()
    runs = [_run("regularized_evolution", s, q) for s, q in enumerate([4, 6, 10])]
    runs += [_run("netembed", s, q, budget=8) for s, q in [(1, 2), (2, 5), (7, 1)]]  # seed 7: RE did not run it
    runs += [_run("tpe", s, 3) for s in (10, 11)]  # no seed in common
    _, net, tpe = summarise(runs, bench, checkpoints=(8,))
    # seeds 1 and 2 only, both cut at 8 queries: 6/2 and RE's 10 -> not reached (8, a bound) / 5
    assert net["paired_seeds"] == 2 and net["paired_budget"] == 8
    assert net["queries_ratio_vs_reference"] == pytest.approx((3 + 8 / 5) / 2) and net["share_ahead_of_reference"] == 1
    assert "paired_seeds" not in tpe and tpe["reference"] == "regularized_evolution"
    for reference in ("local_search", None):
        rows = summarise(runs, bench, checkpoints=(8,), reference=reference)
        assert not any("reference" in r or "paired_seeds" in r for r in rows)
        assert "vs reference" in format_summary(rows)


def test_format_summary_prints_intervals_and_a_consistent_not_reached():
    bench = _bench()
    runs = _runs() + [_run("tpe", 0, 3), _run("tpe", 1, None)]
    text = format_summary(summarise(runs, bench, checkpoints=(5, 10)))
    tpe = next(line for line in text.splitlines() if line.startswith("tpe") and "seeds reached" in line)
    assert "median not reached" in tpe and "(1/2 seeds reached)" in tpe
    assert "3.5 [" in text and "(3/4 seeds reached)" in text and "median not reached (0/4 seeds reached)" in text
    assert "reference" in text and "75% [" in text and "vs regularized_evolution [95% CI]" in text
    assert "HV ratio @10" in text and "0.9450 [" in text


def test_plot_runs_draws_the_interval_band(tmp_path):
    path = plot_runs(_runs(), tmp_path / "search.png", best=0.95)
    assert path.exists() and path.stat().st_size > 0


def test_the_plan_and_the_time_left_are_stated():
    from pathlib import Path

    from netembed.benchmarks.compare import _plan, _time_left

    plan = _plan(["random", "netembed"], [0, 1, 2], 300, 2, 2, Path("out"))
    assert plan.startswith("compare: 2 method(s) x 3 seed(s) x 300 queries = 6 runs, 2 already in out/runs, 4 to run")
    assert "expect hours" in plan and "expect hours" not in _plan(["random"], [0], 10, 0, 1, Path("out"))
    assert "4 to run in 2 process(es) (1 saved with other settings" in _plan(
        ["random", "netembed"], [0, 1, 2], 300, 2, 2, Path("o"), 1
    )
    assert _time_left({"netembed": 2, "random": 1}, {"netembed": [], "random": [1.0]}, 1) == "measuring"
    assert _time_left({"netembed": 2, "random": 0}, {"netembed": [60.0, 120.0], "random": [1.0]}, 1) == "3 min"
    assert _time_left({"netembed": 100, "random": 0}, {"netembed": [180.0], "random": [1.0]}, 2) == "2.5 h"


def test_compare_never_loads_a_surrogate_trained_on_the_table(tmp_path, arrays, monkeypatch, capsys):
    """docs/design.md, honest benchmarking: "``netembed compare`` never loads" ``surrogate-nb101``.
    Every name looked up and every weights file read during a comparison on a synthetic table
    (``netembed+pretrained`` past its first fit, which reads ``encoder-nb101``: the spies see loads)."""
    from pathlib import Path

    from netembed.cli import main
    from netembed.models import hub

    folder = tmp_path / "table"
    folder.mkdir()
    np.savez(
        folder / "nb101_full.npz", hash=arrays.hashes, adjacency=arrays.adjacency, ops=arrays.ops,
        num_vertices=arrays.num_vertices, params=np.arange(len(arrays)) + 1000,
        test_acc_108=0.85 + 0.02 * (arrays.ops == 0).sum(axis=1) / 5 + np.linspace(0, 0.001, len(arrays)),
    )  # fmt: skip
    touched, resolve, read_weights = [], hub.resolve, hub.read_weights

    def resolve_spy(name_or_dir):
        touched.append(str(name_or_dir))
        return resolve(name_or_dir)

    def read_spy(path, *args, **kwargs):
        touched.append(str(Path(path).resolve()))
        return read_weights(path, *args, **kwargs)

    monkeypatch.setattr(hub, "resolve", resolve_spy)
    monkeypatch.setattr(hub, "read_weights", read_spy)
    argv = ["compare", "--data", str(folder), "--methods", "random", "netembed+pretrained", "--seeds", "1"]
    assert main([*argv, "--budget", "11", "--out", str(tmp_path / "c"), "--format", "json"]) == 0, capsys.readouterr()
    assert [row["method"] for row in json.loads(capsys.readouterr().out)] == ["random", "netembed+pretrained"]
    encoder = str((resolve("encoder-nb101") / "model.safetensors").resolve())
    assert touched.count(encoder) >= 2  # the policy's encoder, and the surrogate's first fit starting from it
    assert not [t for t in touched if "surrogate-nb101" in t], touched
