"""The transfer benchmark on a synthetic labelled set: same splits for every row, warm starts
recorded, finished measurements reused, bad sets refused."""

import json

import numpy as np
import pytest

from netembed import space
from netembed.predictor_bench import BenchError
from netembed.transfer_bench import LabelledSet, run_transfer


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


def test_every_predictor_sees_the_same_splits_and_finished_runs_are_reused(labelled, tmp_path):
    methods = ("netembed", "netembed+surrogate", "forest", "gbt")
    kwargs = {"train_sizes": (16,), "seeds": (0, 1), "methods": methods, "pool_size": 20, "steps": 5, "progress": False}
    results = run_transfer(labelled, "accuracy", runs_dir=tmp_path / "runs", **kwargs)
    assert [(r.method, r.seed) for r in results] == [(m, s) for s in (0, 1) for m in methods]
    assert all(np.isfinite(r.kendall_tau) and r.mdape_percent is None for r in results)
    assert np.mean([r.kendall_tau for r in results if r.method == "forest"]) > 0.3  # the rule is learnable
    saved = json.loads((tmp_path / "runs" / "transfer-accuracy-netembed+surrogate-16-0.json").read_text())
    assert saved["settings"]["init_sha256"] and saved["settings"]["config"]["steps"] == 5
    again = run_transfer(labelled, "accuracy", runs_dir=tmp_path / "runs", **kwargs)
    assert again == results  # read back, not measured again (fit seconds would differ)


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
