"""A labelled task of one's own: random cells trained for real, seeds apart, resumable."""

import json

import pytest

from netembed.train.labels import LABELS_FILE, RUNS_FILE, LabelJob, LabelJobError, label_task, task_figures
from netembed.train.spec import TrainingSpec

TINY = TrainingSpec(train_size=60, epochs=1, stem_channels=5, stacks=1, cells_per_stack=1)


def log_lines(folder):
    return (folder / RUNS_FILE).read_text().splitlines()


def test_a_labelled_task_is_written_resumed_and_extended(tmp_path):
    job = LabelJob(size=3, seeds=2, training=TINY)
    document = label_task(job, tmp_path)
    rows = document["cells"]
    assert [r["hash"] for r in rows] == [c.hash for c in job.sample()]
    assert all(len(r["accuracy"]) == 2 and r["value"] == sum(r["accuracy"]) / 2 for r in rows)
    assert all(0 <= a <= 1 for r in rows for a in r["accuracy"]) and all(r["params"] > 0 for r in rows)
    assert json.loads((tmp_path / LABELS_FILE).read_text()) == document and document["figures"]["cells"] == 3
    assert len((tmp_path / RUNS_FILE).read_text().splitlines()) == 1 + 6  # header + one line per training

    # rows that are not whole (an edit to 1.5, a write cut short) are dropped; a larger set trains only the new cells
    with open(tmp_path / RUNS_FILE, "a") as log:
        log.write(json.dumps(json.loads(log_lines(tmp_path)[1]) | {"accuracy": 1.5}) + "\n" + '{"hash": "ab')
    bigger = label_task(LabelJob(size=4, seeds=2, training=TINY), tmp_path)
    assert bigger["cells"][:3] == rows and len(bigger["cells"]) == 4
    logged = [json.loads(line) for line in (tmp_path / RUNS_FILE).read_text().splitlines()[1:] if line.endswith("}")]
    assert len(logged) == 8 and len({(r["hash"], r["seed"]) for r in logged}) == 8

    with pytest.raises(LabelJobError, match=r"other settings \(seeds\): use another --out"):
        label_task(LabelJob(size=3, seeds=3, training=TINY), tmp_path)


def test_nas_bench_201_cells_are_labelled_by_real_training_and_read_back(tmp_path, capsys):
    """NAS-Bench-201 cells trained for real (their network at the small scale), compared with a
    table's validation column, and the set read by the predictor benchmark as a user's labels."""
    from netembed import spaces, threads
    from netembed.cli import main
    from netembed.train.trainer import train_cell

    from .test_spaces import synthetic_table

    nb201, table_path = spaces.get("nb201"), synthetic_table(tmp_path / "nb201.npz")
    job = LabelJob(size=12, seeds=2, training=TrainingSpec(train_size=60, epochs=1, stem_channels=2), space="nb201")
    document = label_task(job, tmp_path / "labels", bench=nb201.load_table(table_path))
    rows = document["cells"]
    assert [r["arch"] for r in rows] == [a.hash for a in job.sample()] and len({r["arch"] for r in rows}) == 12
    assert all(0 <= a <= 1 for r in rows for a in r["accuracy"]) and document["settings"]["space"] == "nb201"
    data, scale, config, _ = job.training.build(0, space="nb201")
    with threads.fixed(1):  # as the labelling workers ran
        first = train_cell(nb201.from_json(rows[0]), data, scale, config)  # the network the label trained, seed 0
    assert first.test_accuracy == rows[0]["accuracy"][0] and first.params == rows[0]["params"]
    assert document["figures"]["table_column"] == "cifar10_val" and document["figures"]["table_cells"] == 12

    archs, values = nb201.read_values(str(tmp_path / "labels" / LABELS_FILE), "accuracy")
    assert [a.hash for a in archs] == [r["arch"] for r in rows] and values.tolist() == [r["value"] for r in rows]
    out = tmp_path / "bench"
    argv = ["bench", "predictors", "--space", "nb201", "--labels", str(tmp_path / "labels" / LABELS_FILE)]
    assert main([*argv, "--train-sizes", "4", "--methods", "gbt", "--seeds", "1", "--out", str(out)]) == 0
    assert "gbt" in capsys.readouterr().out and (out / "predictors.csv").exists()
    with pytest.raises(LabelJobError, match="--space must be one whose networks netembed trains"):
        LabelJob(space="mine")


def test_task_figures_measure_the_seeds_agreement():
    rows = [{"hash": str(i), "accuracy": [a, b], "value": (a + b) / 2, "seconds": [1.0, 2.0]}
            for i, (a, b) in enumerate([(0.1, 0.2), (0.5, 0.4), (0.9, 0.8), (0.3, 0.35)])]  # fmt: skip
    figures = task_figures({"cells": rows})
    assert figures["seed_kendall_tau"] == pytest.approx(1.0) and figures["median_seconds"] == 1.5
    rows[0]["accuracy"] = [0.1, 0.9]  # seed 1 now ranks the first cell best
    assert task_figures({"cells": rows})["seed_kendall_tau"] < 1.0


@pytest.mark.parametrize("field, value", [("size", 1), ("seeds", 0), ("jobs", 0), ("sample_seed", -1), ("size", 2.5)])
def test_label_job_checks_its_numbers(field, value):
    with pytest.raises(LabelJobError, match=f"must be an integer >= .*, got {value!r}"):
        LabelJob(**{field: value})


@pytest.mark.parametrize("label, field", [("accuracy", "value"), ("time", "seconds")])
def test_train_predictor_reads_a_labelled_set(tmp_path, monkeypatch, label, field):
    import numpy as np

    from netembed.runs.surrogate import PredictorJob, _user_cells
    from netembed.spaces.nb101 import space

    monkeypatch.setenv("NETEMBED_DATA", str(tmp_path / "absent"))
    rng = np.random.default_rng(0)
    rows = [
        space.random_cell(rng).to_dict() | {"accuracy": [0.5 + i / 100, 0.6], "value": 0.55 + i / 200,
                                            "seconds": [1.0 + i, 3.0 + i], "params": 1000}
        for i in range(6)
    ]  # fmt: skip
    (tmp_path / "labels.json").write_text(json.dumps({"settings": {}, "sha256": "x", "cells": rows}))
    cells, values = _user_cells(str(tmp_path / "labels.json"), label)
    expected = [r["value"] for r in rows] if field == "value" else [2.0 + i for i in range(6)]  # mean seconds
    assert [c.hash for c in cells] == [r["hash"] for r in rows] and values.tolist() == expected
    from netembed.runs.surrogate import train_predictor

    job = PredictorJob(label=label, cells=str(tmp_path / "labels.json"), steps=2, members=1)
    assert train_predictor(job, tmp_path / "model")[0]["train_cells"] == 6
