"""The transfer benchmark on a synthetic labelled set: same splits for every row, warm starts
recorded, finished measurements reused, bad sets refused."""

import json
import re

import numpy as np
import pytest

from netembed.benchmarks.predictor_bench import BenchError
from netembed.benchmarks.transfer_bench import (
    LabelledSet,
    TaskEvaluator,
    format_search,
    run_transfer,
    run_transfer_search,
    summarise_search,
)
from netembed.spaces.nb101 import space
from netembed.spaces.nb101.cell import Cell


@pytest.fixture
def labelled(tmp_path):
    """40 random cells, labelled by a structural rule (more conv3x3, more accurate and slower)."""
    rng = np.random.default_rng(0)
    rows = []
    for cell in (space.random_cell(rng) for _ in range(40)):
        conv = cell.ops.count("conv3x3-bn-relu")
        accuracy = [0.7 + 0.04 * conv + rng.normal(0, 0.01) for _ in range(2)]
        params = space.count_params(cell)
        seconds = [1e-6 * params * (1 + rng.normal(0, 0.02)) for _ in range(2)]
        rows.append(cell.to_dict() | {"accuracy": accuracy, "value": float(np.mean(accuracy)), "seconds": seconds})
        rows[-1]["params"] = params
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"settings": {}, "sha256": "synthetic", "cells": rows}))
    return LabelledSet(path)


def test_every_predictor_sees_the_same_splits_and_finished_runs_are_reused(labelled, tmp_path, monkeypatch):
    from netembed.benchmarks import transfer_bench

    fitted = []

    def spying(method, fit):
        def spy(train, y, seed, **training):  # each fit, by (method, seed): a reused run fits nothing
            fitted.append((method, seed))
            return fit(train, y, seed, **training)

        return spy

    for method, fit in list(transfer_bench.PREDICTORS.items()):
        monkeypatch.setitem(transfer_bench.PREDICTORS, method, spying(method, fit))
    methods = ("netembed", "netembed+surrogate", "forest", "gbt")
    kwargs = {"train_sizes": (16,), "seeds": (0, 1), "methods": methods, "pool_size": 20, "steps": 5, "progress": False}
    results = run_transfer(labelled, "accuracy", runs_dir=tmp_path / "runs", **kwargs)
    assert [(r.method, r.seed) for r in results] == [(m, s) for s in (0, 1) for m in methods]
    assert all(np.isfinite(r.kendall_tau) and r.mdape_percent is None for r in results)
    assert np.mean([r.kendall_tau for r in results if r.method == "forest"]) > 0.3  # the rule is learnable
    saved = json.loads((tmp_path / "runs" / "transfer-accuracy-netembed+surrogate-16-0.json").read_text())
    assert saved["settings"]["init_sha256"] and saved["settings"]["config"]["steps"] == 5
    assert fitted == [(m, s) for s in (0, 1) for m in methods]
    fitted.clear()
    again = run_transfer(labelled, "accuracy", runs_dir=tmp_path / "runs", **kwargs)
    assert fitted == [] and again == results  # read back, nothing fitted again


def test_time_estimators_are_scored_in_seconds(labelled, tmp_path):
    results = run_transfer(
        labelled, "time", train_sizes=(10,), seeds=(0,), methods=("netembed+surrogate", "params", "gbt"), pool_size=20,
        steps=5, progress=False,
    )  # fmt: skip
    by_method = {r.method: r for r in results}
    assert by_method["params"].mdape_percent < 5  # seconds are parameters times a little noise here
    assert all(r.mdape_percent is not None and np.isfinite(r.kendall_tau) for r in results)


def test_bad_sets_and_settings_are_refused(labelled, tmp_path):
    (tmp_path / "bad.json").write_text('{"cells": [{"matrix": [[0]]}]}')
    with pytest.raises(BenchError, match="labelled set must be the labels.json that `netembed label` writes"):
        LabelledSet(tmp_path / "bad.json")
    with pytest.raises(BenchError, match=r"pool size must be in \[1, 39\]"):
        run_transfer(labelled, "accuracy", pool_size=40, progress=False)
    with pytest.raises(BenchError, match="train sizes must be at most the pool of 20 cells, got 50"):
        run_transfer(labelled, "accuracy", train_sizes=(50,), pool_size=20, progress=False)
    with pytest.raises(BenchError, match="methods must be among"):
        run_transfer(labelled, "time", methods=("mlp",), progress=False)


# -- searches on the task: every query a real training ---------------------------------------------


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """A real labelled task, tiny: 8 random cells, 2 training seeds each, on a network and image
    set small enough to train in a blink."""
    from netembed.train.labels import LABELS_FILE, LabelJob, label_task
    from netembed.train.spec import TrainingSpec

    out = tmp_path_factory.mktemp("task")
    label_task(
        LabelJob(size=8, seeds=2, training=TrainingSpec(train_size=60, epochs=1, stem_channels=5, stacks=1)), out
    )
    return LabelledSet(out / LABELS_FILE)


def test_a_search_query_is_the_mean_of_real_trainings_reused_or_run_now(task, tmp_path):
    from netembed.train.labels import start_trainer

    start_trainer(task.training())
    known = task.trainings()
    with open(tmp_path / "log.jsonl", "w") as log:
        evaluator = TaskEvaluator(dict(known), 2, log)
        in_set = Cell(**{k: task._documents[0][k] for k in ("matrix", "ops")})
        assert evaluator(in_set).accuracy == pytest.approx(task.accuracy[0]) and evaluator.trained == 0
        fresh = next(
            c for c in (space.random_cell(np.random.default_rng(s)) for s in range(99)) if c.hash not in task.hashes
        )
        measured = evaluator(fresh)
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert (
        evaluator.trained == 2 and [r["seed"] for r in logged] == [0, 1] and {r["hash"] for r in logged} == {fresh.hash}
    )
    assert measured.accuracy == pytest.approx(np.mean([r["accuracy"] for r in logged]))
    # training now gives what the set logged: reusing a training is the same as running it
    with open(tmp_path / "again.jsonl", "w") as log:
        again = TaskEvaluator({}, 2, log)
        assert again(in_set).accuracy == pytest.approx(task.accuracy[0]) and again.trained == 2


def test_searches_share_trainings_and_finished_or_killed_runs_resume(task, tmp_path):
    methods, kwargs = ["random", "regularized_evolution"], {"seeds": [0, 1], "budget": 3, "progress": False}
    runs = run_transfer_search(task, tmp_path, methods, **kwargs)
    assert [(r["method"], r["seed"]) for r in runs] == [(m, s) for m in methods for s in (0, 1)]
    trained = {}
    for path in sorted((tmp_path / "trainings").glob("*.jsonl")):
        for line in path.read_text().splitlines()[1:]:
            row = json.loads(line)
            trained.setdefault(row["hash"], []).append(row["accuracy"])
    for run in runs:
        for cell_hash, accuracy in zip(run["hashes"], run["accuracy"]):
            seeds = trained.get(cell_hash) or task._documents[task.hashes.index(cell_hash)]["accuracy"]
            assert len(seeds) == 2 and accuracy == pytest.approx(np.mean(seeds))
    # random search seed 0 and regularized evolution seed 0 start from the same random cells: trained once
    assert sum(len(v) for v in trained.values()) == sum(r["trained"] for r in runs) == 2 * len(trained)
    assert runs[2]["hashes"][0] == runs[0]["hashes"][0] and runs[2]["trained"] < 6
    assert run_transfer_search(task, tmp_path, methods, **kwargs) == runs  # finished: read back
    older = tmp_path / "runs" / "search-regularized_evolution-seed0.json"  # saved by another default
    saved = json.loads(older.read_text())
    assert saved["settings"]["searcher"]["population_size"] == 100
    older.write_text(json.dumps(saved | {"settings": saved["settings"] | {"searcher": {"population_size": 50}}}))
    again = run_transfer_search(task, tmp_path, methods, **kwargs)[2]  # run again (its trainings reused)
    assert again["hashes"] == runs[2]["hashes"] and again["trained"] == 0
    assert json.loads(older.read_text())["settings"] == saved["settings"]
    (tmp_path / "runs" / "search-random-seed1.json").unlink()  # killed after its trainings were logged
    rerun = run_transfer_search(task, tmp_path, methods, **kwargs, jobs=2)  # in worker processes
    assert rerun[1]["accuracy"] == runs[1]["accuracy"] and rerun[1]["trained"] == 0


def test_search_figures_rank_in_the_set_race_to_the_goal_and_pair_seeds(task):
    def run(method, seed, accuracy):
        return {"method": method, "seed": seed, "budget": 4, "accuracy": accuracy, "trained": 8, "search_seconds": 1.0}

    low, mid, top = np.unique(task.accuracy)[[0, -2, -1]]  # accuracies of the set, distinct
    runs = [
        run("netembed", 0, [low, mid, mid, top]),
        run("netembed", 1, [low, low, low, mid]),
        run("netembed", 2, [low, top, top, top]),  # no reference run with this seed: not paired
        run("regularized_evolution", 0, [low, low, low, mid]),
        run("regularized_evolution", 1, [low, low, mid, mid]),
    ]
    rows = {r["method"]: r for r in summarise_search(runs, task)}
    at_budget = rows["netembed"]["by_budget"]["4"]
    assert list(rows["netembed"]["by_budget"]) == ["4"] and at_budget["accuracy"] == top and at_budget["rank"] == 1
    assert rows["regularized_evolution"]["by_budget"]["4"]["rank"] == 1 + np.sum(task.accuracy > mid)
    assert at_budget["share_ahead_of_reference"] == 0.75  # seed 0 ahead, seed 1 a tie
    assert rows["netembed"]["goal"] == top  # netembed's own median best at the budget
    # netembed reached it at queries 4 and 2, seed 1 never: censored at 4, kept (Kaplan-Meier median 4);
    # evolution never did: its median is not reached
    assert rows["netembed"]["reached_goal"] == 2 and rows["netembed"]["queries_to_goal"] == 4
    assert (
        rows["regularized_evolution"]["reached_goal"] == 0 and rows["regularized_evolution"]["queries_to_goal"] is None
    )
    text = format_search(list(rows.values()), task)
    assert "queries to reach netembed's median best at 4" in text and re.search(
        r"regularized_evolution +>4 \[>4, >4\]", text
    )


def test_searches_need_a_set_with_its_trainings_and_their_settings(labelled, task, tmp_path):
    with pytest.raises(BenchError, match="needs the training settings `netembed label` writes"):
        run_transfer_search(labelled, tmp_path, ["random"], progress=False)
    for bad, match in [
        ({"methods": ["tpe"]}, "search rows must be among"),
        ({"methods": ["random", "random"]}, "each once"),
        ({"budget": 0}, "search budget must be a positive integer, got 0"),
        ({"jobs": True}, "search jobs must be a positive integer, got True"),
        ({"seeds": []}, "search seeds must be at least one"),
    ]:
        with pytest.raises(BenchError, match=match):
            run_transfer_search(task, tmp_path, **{"methods": ["random"], **bad}, progress=False)
    assert not (tmp_path / "runs").exists()


def test_the_command_line_labels_a_task_and_searches_it(capsys, tmp_path, monkeypatch):
    from netembed.cli import main

    monkeypatch.setenv("NETEMBED_DATA", str(tmp_path / "absent"))
    tiny = ["--train-size", "60", "--epochs", "1", "--stem-channels", "5", "--stacks", "1"]
    assert main(["label", "--size", "6", *tiny, "--out", str(tmp_path / "task")]) == 0
    assert "seed 0 vs seed 1: Kendall tau" in capsys.readouterr().out
    argv = ["bench", "transfer", "--labels", str(tmp_path / "task" / "labels.json"), "--predictors", "none"]
    argv += ["--timers", "none", "--searches", "random", "regularized_evolution", "--search-seeds", "2"]
    assert main([*argv, "--search-budget", "3", "--out", str(tmp_path / "bench"), "--format", "json"]) == 0
    rows = {r["method"]: r for r in json.loads(capsys.readouterr().out)["search"]}
    assert set(rows) == {"random", "regularized_evolution"} and rows["random"]["seeds"] == 2
    assert list(rows["random"]["by_budget"]) == ["3"] and 0 < rows["random"]["by_budget"]["3"]["accuracy"] <= 1
    assert (tmp_path / "bench" / "transfer_search.png").stat().st_size > 0
    assert len((tmp_path / "bench" / "transfer_search_runs.csv").read_text().splitlines()) == 1 + 2 * 2 * 3
    assert main([*argv, "--search-budget", "0", "--out", str(tmp_path / "bench")]) == 2
    assert capsys.readouterr().err.strip().endswith("error: search budget must be a positive integer, got 0")


def test_a_search_folder_of_another_task_is_refused_by_name(task, tmp_path):
    from netembed.train.labels import LABELS_FILE, LabelJob, LabelJobError, label_task
    from netembed.train.spec import TrainingSpec

    run_transfer_search(task, tmp_path, ["random"], seeds=[0], budget=1, progress=False)
    other = TrainingSpec(train_size=60, epochs=2, stem_channels=5, stacks=1)
    label_task(LabelJob(size=3, seeds=2, training=other), tmp_path / "other")
    with pytest.raises(LabelJobError, match=r"written with other settings \(training\): use another --out"):
        run_transfer_search(LabelledSet(tmp_path / "other" / LABELS_FILE), tmp_path, ["random"], seeds=[1], budget=1)
