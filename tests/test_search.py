"""The search harness: query accounting, budgets, seeding, replay (resume) and the query log."""

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from netembed import Cell
from netembed.runs import METHODS, best_rows, build_method, truth_of, within_budget
from netembed.runs.querylog import QueryLog
from netembed.search import Budget, Evaluation, Method, SearchError, run_search
from netembed.search.baselines import RandomSearch
from netembed.search.evaluators import Measurement, SurrogateEvaluator, TableEvaluator
from netembed.spaces.nb101 import space


def toy_accuracy(cell: Cell) -> float:
    """A deterministic stand-in for a label: more conv3x3 vertices score higher."""
    return 0.5 + 0.05 * sum(op == "conv3x3-bn-relu" for op in cell.ops) + (int(cell.hash[:4], 16) % 100) * 1e-4


class CountingEvaluator:
    name = "toy"

    def __init__(self):
        self.calls = []

    def __call__(self, cell: Cell) -> Measurement:
        self.calls.append(cell.hash)
        return Measurement(toy_accuracy(cell), 100.0, 1000)


def accuracy_reward(accuracy, seconds=None, params=None):
    return accuracy


class Scripted(Method):
    """Asks cells from a fixed list (cycling), remembering what it was told."""

    name = "scripted"

    def __init__(self, cells):
        super().__init__(np.random.default_rng(0))
        self.cells, self.asked, self.told = cells, 0, []

    def ask(self) -> Cell:
        cell = self.cells[self.asked % len(self.cells)]
        self.asked += 1
        return cell

    def tell(self, evaluation: Evaluation) -> None:
        self.told.append(evaluation)


@pytest.fixture
def cells():
    rng = np.random.default_rng(0)
    return [space.random_cell(rng) for _ in range(5)]


def test_repeats_are_answered_from_history_and_cost_no_query(cells):
    evaluator = CountingEvaluator()
    method = Scripted([cells[0], cells[1], cells[0], cells[0], cells[2], cells[1], cells[3]])
    result = run_search(method, evaluator, accuracy_reward, Budget(queries=4))
    assert [e.cell for e in result.evaluations] == [cells[0], cells[1], cells[2], cells[3]]
    assert evaluator.calls == [c.hash for c in cells[:4]]  # each cell labelled once
    assert [e.query for e in result.evaluations] == [1, 2, 3, 4]
    assert len(method.told) == 7 and method.told[2] is result.evaluations[0]  # a repeat is told its first answer


def test_a_method_stuck_on_one_cell_is_stopped(cells, monkeypatch):
    from netembed import search

    monkeypatch.setattr(search, "MAX_REPEATS", 20)
    with pytest.raises(SearchError, match="proposed 20 already-evaluated cells in a row"):
        run_search(Scripted([cells[0]]), CountingEvaluator(), accuracy_reward, Budget(queries=2))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "needs queries or seconds"),
        ({"queries": 0}, "queries must be a positive integer, got 0"),
        ({"queries": 2.5}, "queries must be a positive integer, got 2.5"),
        ({"seconds": -1.0}, "seconds must be positive, got -1.0"),
        ({"seconds": float("nan")}, "seconds must be positive, got nan"),
    ],
)
def test_budget_rules(kwargs, message):
    with pytest.raises(SearchError, match=message.replace("(", r"\(")):
        Budget(**kwargs)


def test_a_spent_time_budget_stops_the_run(cells):
    result = run_search(Scripted(cells), CountingEvaluator(), accuracy_reward, Budget(seconds=1e-12))
    assert len(result.evaluations) <= 1


def test_same_seed_same_run_other_seed_other_run():
    def hashes(seed):
        result = run_search(
            RandomSearch(np.random.default_rng(seed)),
            CountingEvaluator(),
            accuracy_reward,
            Budget(queries=15),
            seed=seed,
        )
        return [e.cell.hash for e in result.evaluations]

    assert hashes(3) == hashes(3) and hashes(3) != hashes(4)


def test_replay_resumes_to_the_uninterrupted_run():
    full = run_search(
        build_method("regularized_evolution", 1), CountingEvaluator(), accuracy_reward, Budget(queries=30)
    )
    evaluator = CountingEvaluator()
    resumed = run_search(
        build_method("regularized_evolution", 1),
        evaluator,
        accuracy_reward,
        Budget(queries=30),
        replay=full.evaluations[:12],
    )
    assert [e.cell for e in resumed.evaluations] == [e.cell for e in full.evaluations]
    assert len(evaluator.calls) == 18  # the replayed 12 were not labelled again


def test_replay_from_other_settings_is_refused():
    logged = run_search(build_method("random", 1), CountingEvaluator(), accuracy_reward, Budget(queries=3)).evaluations
    with pytest.raises(SearchError, match="cannot resume: query 1 of the log was"):
        run_search(build_method("random", 2), CountingEvaluator(), accuracy_reward, Budget(queries=3), replay=logged)


def test_on_query_sees_each_new_query_once(cells):
    seen = []
    run_search(
        Scripted([cells[0], cells[0], cells[1]]),
        CountingEvaluator(),
        accuracy_reward,
        Budget(queries=2),
        on_query=seen.append,
    )
    assert [e.cell for e in seen] == [cells[0], cells[1]]


def test_reward_is_applied_and_best_is_by_reward(cells):
    result = run_search(Scripted(cells), CountingEvaluator(), lambda accuracy, **_: -accuracy, Budget(queries=5))
    assert result.best()[0].accuracy == min(e.accuracy for e in result.evaluations)
    assert np.all(np.diff(result.best_so_far("reward")) >= 0)


class FakeTable:
    def __init__(self, cells, times):
        self.rows = {c.hash: i for i, c in enumerate(cells)}
        self.test_acc_108 = np.linspace(0.9, 0.94, len(cells))
        self.params = np.arange(len(cells)) + 10
        self.train_time_108 = np.array(times, dtype=float)

    def row_of(self, cell):
        return self.rows[cell.hash]


class FixedModel:
    def __init__(self, value):
        self.value = value

    def predict(self, cells):
        return np.full(len(cells), self.value), np.zeros(len(cells))


def test_table_evaluator_uses_table_times_else_the_estimator(cells):
    table = FakeTable(cells[:2], [500.0, np.nan])
    evaluator = TableEvaluator(table, time_estimator=FixedModel(777.0))
    assert evaluator(cells[0]) == Measurement(0.9, 500.0, 10)
    assert evaluator(cells[1]).seconds == 777.0
    assert TableEvaluator(table)(cells[1]).seconds is None


def test_surrogate_evaluator_clips_accuracy_and_counts_params(cells):
    measured = SurrogateEvaluator(FixedModel(1.3), FixedModel(123.0))(cells[0])
    assert measured == Measurement(1.0, 123.0, space.count_params(cells[0]))


# -- building methods and the query log -------------------------------------------------------


def test_every_method_builds_and_unknown_names_are_refused():
    for name in METHODS:
        assert build_method(name, 0).name == name
    with pytest.raises(SearchError, match="method must be one of .* got 'bayes'"):
        build_method("bayes", 0)


def test_query_log_round_trip_and_torn_last_line(tmp_path, cells, capsys):
    settings = {"method": "random", "seed": 0, "budget": {"queries": 5}}
    path = tmp_path / "run" / "queries.jsonl"
    log = QueryLog.start(path, settings)
    result = run_search(Scripted(cells), CountingEvaluator(), accuracy_reward, Budget(queries=4), on_query=log.append)
    with open(path, "a") as handle:  # a crash in the middle of writing a fifth line
        handle.write('{"query": 5, "hash": "ab')
    resumed = QueryLog.resume(path, {**settings, "budget": {"queries": 50}})  # a larger budget is fine
    assert resumed.evaluations == result.evaluations
    assert path.read_text().endswith("\n") and len(path.read_text().splitlines()) == 5  # torn line gone
    warning = capsys.readouterr().err  # the rewrite is said, with the line it dropped
    assert (
        warning.startswith(f"netembed: warning: rewriting {path} without line 6 (not JSON: ")
        and warning.count("\n") == 1
    )


def test_a_torn_line_then_a_whole_row_without_its_newline_keeps_the_row(tmp_path, cells):
    settings = {"method": "random", "seed": 0}
    path = tmp_path / "queries.jsonl"
    log = QueryLog.start(path, settings)
    result = run_search(Scripted(cells), CountingEvaluator(), accuracy_reward, Budget(queries=4), on_query=log.append)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:4] + ['{"query": 4, "hash": "ab', lines[4]]))  # torn, then whole, no newline
    assert QueryLog.resume(path, settings).evaluations == result.evaluations
    assert path.read_text() == "\n".join(lines) + "\n"  # rewritten: the torn line gone, the newline added
    path.write_text("\n".join(lines[:3] + ['{"query": 3, "hash": "ab', lines[4]]))  # torn where query 3 was
    with pytest.raises(
        SearchError, match=r"line 4 of .* is damaged \(not JSON: .*\), and with it query 3: the next row"
    ):
        QueryLog.resume(path, settings)  # the damaged line by its own number, not the row after it


def test_a_line_that_is_not_json_between_whole_rows_is_dropped_with_a_warning(tmp_path, cells, capsys):
    settings = {"method": "random", "seed": 0}
    path = tmp_path / "queries.jsonl"
    log = QueryLog.start(path, settings)
    result = run_search(Scripted(cells), CountingEvaluator(), accuracy_reward, Budget(queries=3), on_query=log.append)
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], "garbage", *lines[2:3], "{oops", *lines[3:]]) + "\n")
    assert QueryLog.resume(path, settings).evaluations == result.evaluations
    assert path.read_text().splitlines() == lines  # rewritten without them, and said so, naming each
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "netembed: warning: rewriting" in err
    assert "without line 3 (not JSON: Expecting value at column 1), line 5 (not JSON: " in err
    QueryLog.resume(path, settings)
    assert capsys.readouterr().err == ""  # nothing dropped, nothing said


@pytest.mark.parametrize(
    "row, message",
    [
        ("{}", "must be a logged query with query, hash"),
        ("null", "must be a logged query with query, hash"),
        ('"text"', "must be a logged query with query, hash"),
        ({"query": 2}, "must be query 1, got query 2"),
        ({"accuracy": 1.5}, "its accuracy must be a number in \\[0, 1\\], got 1.5"),
        ({"accuracy": "abc"}, "its accuracy must be a number in \\[0, 1\\], got 'abc'"),
        ({"params": -3}, "its params must be a positive integer, got -3"),
        ({"seconds": float("nan")}, "its seconds must be a non-negative number or null, got nan"),
        ({"matrix": [[0, 1], [0]]}, "is not a valid logged query"),
        ({"reward": None}, "its reward must be a finite number, got None"),
    ],
)
def test_a_damaged_log_row_is_a_one_line_error_naming_its_line(tmp_path, cells, row, message):
    path = tmp_path / "queries.jsonl"
    QueryLog.start(path, {"seed": 0})
    good = {"query": 1, "hash": cells[0].hash, "matrix": cells[0].matrix.tolist(), "ops": list(cells[0].ops)}
    good |= {"accuracy": 0.9, "seconds": None, "params": 1, "reward": 0.9}
    line = row if isinstance(row, str) else json.dumps(good | row)
    with open(path, "a") as handle:
        handle.write(line + "\n" + json.dumps(good) + "\n")  # not the last line: damage, not a torn write
    with pytest.raises(SearchError, match=f"line 2 of .*{message}"):
        QueryLog.resume(path, {"seed": 0})


def test_a_log_that_is_not_utf8_is_a_one_line_error(tmp_path):
    path = tmp_path / "queries.jsonl"
    QueryLog.start(path, {"seed": 0})
    with open(path, "ab") as handle:
        handle.write(b"\xff\xfe\n")
    with pytest.raises(SearchError, match="not UTF-8 text"):
        QueryLog.resume(path, {"seed": 0})


@pytest.mark.parametrize(
    "error, why",
    [
        (OSError(28, "No space left on device"), "No space left on device"),
        (
            RuntimeError("[enforce fail at file.cc:626] . unexpected pos 64 vs 0\ndetails"),
            "[enforce fail at file.cc:626] . unexpected pos 64 vs 0",
        ),
    ],
)
def test_a_checkpoint_that_cannot_be_saved_is_one_line_saying_nothing_is_lost(tmp_path, monkeypatch, error, why):
    """A full disk while saving method_state.pt (torch's writer raises RuntimeError) was a traceback."""
    import torch

    path = tmp_path / "queries.jsonl"
    log = QueryLog.start(path, {"seed": 0})
    log.save_state({"round": 1}, 0)

    def full(*args, **kwargs):
        raise error

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(SearchError) as info:
        log.save_state({"round": 2}, 0)
    assert str(info.value) == (
        f"could not save the method's checkpoint {tmp_path / 'method_state.pt'} ({why}); nothing is lost: every "
        f"query is logged in {path}: free some disk space and rerun the same command with --resume"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["method_state.pt", "queries.jsonl"]  # no temp file left
    assert torch.load(tmp_path / "method_state.pt", weights_only=True)["state"] == {"round": 1}  # the old one kept


def test_query_log_errors(tmp_path):
    path = tmp_path / "queries.jsonl"
    with pytest.raises(SearchError, match="no query log at"):
        QueryLog.resume(path, {})
    QueryLog.start(path, {"method": "random", "seed": 0})
    with pytest.raises(SearchError, match="already exists: pass --resume"):
        QueryLog.start(path, {"method": "random", "seed": 0})
    with pytest.raises(SearchError, match=r"other settings \(seed: \[0\] in the log, \[1\] now\)"):
        QueryLog.resume(path, {"method": "random", "seed": 1})
    path.write_text('{"netembed_log": 99}\n')
    with pytest.raises(SearchError, match="log version 99"):
        QueryLog.resume(path, {})
    path.write_text("not json\n")
    with pytest.raises(SearchError, match="does not start with a netembed log header"):
        QueryLog.resume(path, {})


def test_query_log_refuses_a_row_whose_cell_does_not_match_its_hash(tmp_path, cells):
    path = tmp_path / "queries.jsonl"
    QueryLog.start(path, {"seed": 0})
    row = {
        "query": 1,
        "hash": "0" * 32,
        "matrix": cells[0].matrix.tolist(),
        "ops": list(cells[0].ops),
        "accuracy": 0.9,
        "seconds": None,
        "params": 1,
        "reward": 0.9,
    }
    with open(path, "a") as handle:
        handle.write(json.dumps(row) + "\n")
    with pytest.raises(SearchError, match="its cell hashes to"):
        QueryLog.resume(path, {"seed": 0})


def test_best_rows_add_predictions_and_table_truth(cells):
    result = run_search(Scripted(cells), CountingEvaluator(), accuracy_reward, Budget(queries=5))
    rows = best_rows(result.evaluations, 3, predictor=FixedModel(0.91))
    assert [r["hash"] for r in rows] == [e.cell.hash for e in result.best(3)]
    assert all(r["predicted_accuracy"] == 0.91 and "true_accuracy" not in r for r in rows)


def test_within_budget_is_the_most_accurate_cell_that_fits_and_its_rank_among_the_table_cells_that_fit(cells):
    from netembed.search.objective import Reward
    from netembed.spaces.nb101.table import Benchmark

    seconds = dict(zip([c.hash for c in cells], [50.0, 150.0, 80.0, 300.0, 90.0]))
    accuracy = dict(zip([c.hash for c in cells], [0.90, 0.95, 0.91, 0.96, 0.85]))
    evaluations = [
        Evaluation(c, accuracy[c.hash], seconds[c.hash], 1000, 0.0, i) for i, c in enumerate(cells[:3], 1)
    ]  # the run queried three of the five cells
    rows = sorted(cells, key=lambda c: c.hash)
    arrays = [c.to_arrays() for c in rows]
    bench = Benchmark(
        {
            "hash": np.array([c.hash for c in rows]),
            "test_acc_108": np.array([accuracy[c.hash] for c in rows], dtype=np.float32),
            "params": np.full(5, 1000),
            "adjacency": np.stack([a for a, _ in arrays]),
            "ops": np.stack([o for _, o in arrays]),
            "num_vertices": np.array([len(c.ops) for c in rows], dtype=np.int8),
            "train_time_108": np.array([seconds[c.hash] for c in rows]),
        },
        source=None,
    )
    reward = Reward("hard", "seconds", 100.0)
    row = within_budget(evaluations, reward, truth_of(bench, reward))
    best = row["best"]
    assert row["queried_within"] == 2 and best["hash"] == cells[2].hash and best["accuracy"] == 0.91
    # the table cells within 100 s: 0.90, 0.91, 0.85 -> the found cell is the best of 3
    assert (best["true_rank_within"], best["table_cells_within"], best["table_cells_costed"]) == (1, 3, 5)
    assert best["table_best_within"] == pytest.approx(0.91) and best["true_cost"] == 80.0
    assert within_budget(evaluations, Reward("hard", "seconds", 10.0), None)["best"] is None


def test_only_netembed_and_random_search_for_a_front():
    assert build_method("netembed", 0, "pareto").name == "netembed+pareto"
    assert build_method("random", 0, "pareto").name == "random"
    with pytest.raises(SearchError, match="tpe has no pareto objective"):
        build_method("tpe", 0, "pareto")


def test_a_run_folder_has_one_owner(tmp_path):
    import subprocess
    import sys
    import time

    from netembed._io import LOCK_FILE, folder_lock
    from netembed.errors import BusyError

    code = (
        f"from netembed._io import folder_lock\nwith folder_lock({str(tmp_path)!r}):\n    print('held', flush=True)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code + "    import time; time.sleep(60)"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(BusyError, match=rf"in use by process {holder.pid} on .*use another --out"),
            folder_lock(tmp_path),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 30
    while True:  # the dead owner's lock is free at once
        try:
            with folder_lock(tmp_path):
                assert f"process {os.getpid()}" in (tmp_path / LOCK_FILE).read_text()
            break
        except BusyError:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_the_progress_figures_name_reward_and_accuracy_apart(cells):
    from netembed.search import progress_figures

    plain = [Evaluation(c, a, None, 1, a, q) for q, (c, a) in enumerate(zip(cells, (0.90, 0.93)), 1)]
    assert progress_figures(plain) == {"best accuracy": "0.9300"}
    costly = [Evaluation(c, a, 100.0, 1, r, q) for q, (c, a, r) in enumerate(zip(cells, (0.90, 0.93), (0.98, 0.91)), 1)]
    assert progress_figures(costly) == {"best reward": "0.9800", "best accuracy": "0.9300"}


def test_a_time_model_that_is_there_must_load_even_where_it_is_optional(tmp_path):
    """Under the table evaluator the time estimator is optional: absent, the run goes without it;
    present and broken, it used to be dropped without a word and is now the run's error."""
    import shutil

    from netembed.errors import DataError
    from netembed.models import hub
    from netembed.runs import SearchSpec, _load_models

    broken = tmp_path / "time"
    shutil.copytree(hub.resolve("surrogate-nb101/time"), broken)
    (broken / "model.safetensors").write_bytes(b"not the weights")
    absent = SearchSpec(method="random", evaluator="table", time_model=str(tmp_path / "absent"))
    assert _load_models(absent)[1] is None
    spec = SearchSpec(method="random", evaluator="table", time_model=str(broken))
    with pytest.raises(DataError, match=r"time/model.safetensors must have the sha256 recorded in config.json"):
        _load_models(spec)


def test_each_query_is_fsynced_in_the_log_when_answered(tmp_path, monkeypatch):
    """README, Reliability: "each query is fsynced when answered". A run through ``netembed.run``:
    after each evaluator answer, and before the next question, ``queries.jsonl`` is fsynced
    holding that answer's line."""
    from netembed.runs import SearchSpec, run

    monkeypatch.setenv("NETEMBED_DATA", str(tmp_path / "absent"))
    log, events = tmp_path / "run" / "queries.jsonl", []
    fsync, answer = os.fsync, SurrogateEvaluator.__call__

    def fsync_spy(fd):
        if log.exists() and os.fstat(fd).st_ino == log.stat().st_ino:  # the log, not another file
            events.append(f"fsync {len(log.read_text().splitlines()) - 1}")  # query lines on disk (header aside)
        return fsync(fd)

    def answer_spy(evaluator, cell):
        measurement = answer(evaluator, cell)
        events.append("answer")
        return measurement

    monkeypatch.setattr(os, "fsync", fsync_spy)
    monkeypatch.setattr(SurrogateEvaluator, "__call__", answer_spy)
    report = run(SearchSpec(method="random", budget=Budget(queries=4), seed=0), tmp_path / "run")
    assert report.payload["queries"] == 4
    assert events == ["fsync 0", "answer", "fsync 1", "answer", "fsync 2", "answer", "fsync 3", "answer", "fsync 4"]


def test_netembed_pretrained_loads_the_shipped_encoder(monkeypatch):
    """README: ``netembed+pretrained`` (with ``encoder-nb101``): the policy's encoder holds the
    shipped weights, read from their file, and the surrogate's first fit starts from them too."""
    import torch

    from netembed.models import hub
    from netembed.models.encoder import CellEncoder
    from netembed.models.predictors import AccuracyPredictor

    read, read_weights = [], hub.read_weights
    started, warm_start = [], AccuracyPredictor._warm_start
    monkeypatch.setattr(
        hub, "read_weights", lambda path, *a, **k: read.append(Path(path)) or read_weights(path, *a, **k)
    )
    monkeypatch.setattr(
        AccuracyPredictor, "_warm_start", lambda model, init: started.append(init) or warm_start(model, init)
    )
    shipped = hub.resolve("encoder-nb101") / "model.safetensors"
    method = build_method("netembed+pretrained", 0)
    assert read == [shipped]
    expected = CellEncoder.from_pretrained("encoder-nb101").state_dict()
    assert all(torch.equal(method.encoder.state_dict()[k], v) for k, v in expected.items())
    method.config = replace(method.config, fit_steps=1, jumps=2, lookahead=1)  # a cheap first round
    run_search(method, CountingEvaluator(), accuracy_reward, Budget(queries=method.config.initial + 1))
    assert method.fitted and started == ["encoder-nb101"]
    for member in method.predictor.members:  # one step away from the shipped weights
        start = member.encoder.state_dict()
        assert all(torch.allclose(start[k], v, atol=0.05) for k, v in expected.items())
