"""Workers sharing one search through an Optuna study: one query per cell, a global budget,
claims of dead workers freed, rejoining, and the same settings for every worker."""

import json
import os
import threading

import numpy as np
import pytest

from netembed import space
from netembed.baselines import RandomSearch
from netembed.controller import NetembedSearch
from netembed.search import Budget, SearchError, run_search
from netembed.study import SharedStudy, run_worker, worker_seed
from tests.test_search import CountingEvaluator, Scripted, accuracy_reward

SETTINGS = {"method": "toy", "seed": 0, "budget": {"queries": 10}}


@pytest.fixture
def cells():
    rng = np.random.default_rng(0)
    return [space.random_cell(rng) for _ in range(5)]


@pytest.fixture
def storage(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


def complete_hashes(shared: SharedStudy) -> list[str]:
    return [e.cell.hash for e in shared.result("toy", 0).evaluations]


def test_one_worker_asks_exactly_what_a_one_process_run_asks(storage):
    budget = Budget(queries=15)
    alone = run_search(RandomSearch(np.random.default_rng(3)), CountingEvaluator(), accuracy_reward, budget, seed=3)
    shared = SharedStudy(storage, "s", SETTINGS)
    mine = run_worker(
        RandomSearch(np.random.default_rng(worker_seed(3, 0))),
        CountingEvaluator(),
        accuracy_reward,
        budget,
        shared,
        worker=0,
    )
    whole = shared.result("random", 3)
    assert [e.cell for e in mine.evaluations] == [e.cell for e in alone.evaluations]
    assert [e.cell for e in whole.evaluations] == [e.cell for e in alone.evaluations]
    assert [e.query for e in whole.evaluations] == list(range(1, 16))
    assert [e.reward for e in whole.evaluations] == [e.reward for e in alone.evaluations]


def run_workers(storage: str, methods: list, evaluator, budget: Budget, name: str = "s") -> list:
    """Each method in its own thread, each thread with its own connection to the study."""
    results, errors = [None] * len(methods), []

    def work(k: int) -> None:
        try:
            shared = SharedStudy(storage, name, SETTINGS)
            results[k] = run_worker(methods[k], evaluator, accuracy_reward, budget, shared, worker=k)
        except Exception as exc:  # noqa: BLE001 - raised again below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(methods))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def test_workers_asking_the_same_cells_evaluate_each_once_within_one_global_budget(storage, cells):
    rng = np.random.default_rng(1)
    more = cells + [space.random_cell(rng) for _ in range(10)]
    evaluator = CountingEvaluator()
    SharedStudy(storage, "s", SETTINGS)  # create the tables once, before the threads
    methods = [Scripted(more) for _ in range(3)]
    results = run_workers(storage, methods, evaluator, Budget(queries=10))
    shared = SharedStudy(storage, "s", SETTINGS)
    assert len(evaluator.calls) == 10 and len(set(evaluator.calls)) == 10  # no cell evaluated twice
    assert sorted(complete_hashes(shared)) == sorted(evaluator.calls)
    assert sum(len(r.evaluations) for r in results) == 10  # every query belongs to exactly one worker
    labels = shared.labels()
    for method in methods:  # told the study's label of every cell it asked (its last ask may find the budget spent)
        assert method.asked - 1 <= len(method.told) <= method.asked
        assert all(e.reward == labels[e.cell.hash].reward for e in method.told)


def test_labels_reach_other_workers_through_observe(storage, cells):
    shared = SharedStudy(storage, "s", SETTINGS)
    run_worker(Scripted(cells), CountingEvaluator(), accuracy_reward, Budget(queries=5), shared, worker=0)
    watcher = NetembedSearch(np.random.default_rng(0))
    run_worker(watcher, CountingEvaluator(), accuracy_reward, Budget(queries=6), shared, worker=1)
    assert {c.hash for c in cells} <= set(watcher.told)  # worker 0's queries, observed before worker 1 asked
    assert len(shared.result("toy", 0).evaluations) == 6


def test_a_rerun_rejoins_and_a_baseline_replays_its_own_cells_for_free(storage):
    shared = SharedStudy(storage, "s", SETTINGS)
    first = run_worker(
        RandomSearch(np.random.default_rng(5)),
        CountingEvaluator(),
        accuracy_reward,
        Budget(queries=6),
        shared,
        worker=0,
    )
    evaluator = CountingEvaluator()
    rejoined = SharedStudy(storage, "s", {**SETTINGS, "budget": {"queries": 9}})  # the budget may grow
    again = run_worker(
        RandomSearch(np.random.default_rng(5)), evaluator, accuracy_reward, Budget(queries=9), rejoined, worker=0
    )
    alone = run_search(
        RandomSearch(np.random.default_rng(5)), CountingEvaluator(), accuracy_reward, Budget(queries=9), seed=5
    )
    assert len(first.evaluations) == 6 and len(again.evaluations) == 3 and len(evaluator.calls) == 3
    assert [e.cell for e in rejoined.result("random", 5).evaluations] == [e.cell for e in alone.evaluations]


def test_a_dead_workers_claim_is_freed_after_the_grace_period(storage, cells):
    dead = SharedStudy(storage, "s", SETTINGS, heartbeat=1, grace=1)
    held = dead.claim(cells[0], worker=7, limit=None)  # claimed, then the worker "dies": no more heartbeats
    alive = SharedStudy(storage, "s", SETTINGS, heartbeat=1, grace=1)
    holder = alive.claim(cells[0], worker=1, limit=None)
    assert holder == held.number  # the cell is held: wait for it
    assert alive.wait(holder, poll=0.2) is None  # ... until its claim goes stale and is failed
    mine = alive.claim(cells[0], worker=1, limit=None)
    assert not isinstance(mine, (int, type(None))) and mine.number > held.number


def test_a_restarted_worker_frees_the_claims_its_killed_process_left(storage, cells):
    shared = SharedStudy(storage, "s", SETTINGS)
    shared.claim(cells[0], worker=2, limit=None)
    shared.claim(cells[1], worker=3, limit=None)
    assert shared.live() == 2
    assert shared.release(2) == 1 and shared.live() == 1  # worker 3's claim is not worker 2's to free


def test_the_budget_counts_running_claims_until_they_fail(storage, cells):
    shared = SharedStudy(storage, "s", SETTINGS, heartbeat=1, grace=1)
    shared.claim(cells[0], worker=1, limit=2)
    assert not isinstance(shared.claim(cells[1], worker=1, limit=2), (int, type(None)))
    assert shared.claim(cells[2], worker=1, limit=2) is None  # two claims in flight: the budget of 2 is full
    evaluator = CountingEvaluator()  # worker 1 "dies"; worker 0 waits for its claims' heartbeats to stop
    run_worker(Scripted(cells[2:]), evaluator, accuracy_reward, Budget(queries=2), shared, worker=0)
    assert evaluator.calls == [cells[2].hash, cells[3].hash] and len(complete_hashes(shared)) == 2


def test_workers_must_share_the_settings(storage):
    SharedStudy(storage, "s", SETTINGS)
    with pytest.raises(SearchError, match=r"other settings \(seed: \[0\] there, \[1\] now\)"):
        SharedStudy(storage, "s", {**SETTINGS, "seed": 1})
    SharedStudy(storage, "other", {**SETTINGS, "seed": 1})  # another study in the same storage is fine


@pytest.mark.parametrize(
    "url, rule",
    [("nonsense://x", "cannot open storage"), ("postgresql+nodriver://u:secret@localhost/db", "cannot open storage")],
)
def test_a_storage_that_cannot_open_is_named_without_its_password(url, rule):
    with pytest.raises(SearchError, match=rule) as info:
        SharedStudy(url, "s", SETTINGS)
    assert "secret" not in str(info.value)


def test_an_evaluator_that_raises_frees_its_claim(storage, cells):
    def broken(cell):
        raise RuntimeError("out of memory")

    shared = SharedStudy(storage, "s", SETTINGS)
    with pytest.raises(RuntimeError):
        run_worker(Scripted(cells), broken, accuracy_reward, Budget(queries=3), shared, worker=0)
    assert shared.live() == 0
    assert shared.study.trials[0].user_attrs["withdrawn"] == "RuntimeError: out of memory"


def test_a_lost_storage_says_how_to_continue(storage, cells, monkeypatch):
    import sqlalchemy

    shared = SharedStudy(storage, "s", SETTINGS)

    def gone():
        raise sqlalchemy.exc.OperationalError("SELECT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(shared, "labels", gone)
    with pytest.raises(
        SearchError,
        match=r"lost the study's storage .*server closed the connection unexpectedly.*"
        r"rerun the same command",
    ):
        run_worker(Scripted(cells), CountingEvaluator(), accuracy_reward, Budget(queries=3), shared, worker=0)


POSTGRES = os.environ.get("NETEMBED_TEST_POSTGRES")


@pytest.mark.skipif(
    not POSTGRES, reason="no PostgreSQL server: set NETEMBED_TEST_POSTGRES to a URL (make test starts one when it can)"
)
def test_four_workers_on_postgresql(cells):
    import uuid

    rng = np.random.default_rng(2)
    more = cells + [space.random_cell(rng) for _ in range(20)]
    evaluator = CountingEvaluator()
    name = f"test-{uuid.uuid4().hex}"
    SharedStudy(POSTGRES, name, SETTINGS)
    results = run_workers(
        POSTGRES, [Scripted(more[k:] + more[:k]) for k in range(4)], evaluator, Budget(queries=12), name=name
    )
    shared = SharedStudy(POSTGRES, name, SETTINGS)
    assert len(evaluator.calls) == 12 == len(set(evaluator.calls))  # no cell evaluated twice, the budget kept
    assert sorted(complete_hashes(shared)) == sorted(evaluator.calls)
    assert sum(len(r.evaluations) for r in results) == 12


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://alice:S3cretPW@db.example:5432/netembed",
        "postgresql+psycopg://alice:S3cret@PW@db.example/netembed",  # '@' in the password
        "postgresql+psycopg://db.example/netembed?user=alice&password=S3cretPW",
        "alice:S3cretPW@db.example/netembed",  # not a URL at all
    ],
)
def test_the_storage_password_never_shows(url):
    from netembed.runs import SearchSpec
    from netembed.study import safe_url, scrub

    assert "S3cret" not in safe_url(url) and "db.example" in safe_url(url)
    assert "S3cret" not in scrub(f"could not connect to {url} (as {url.split(chr(47))[-1]})", url)
    with pytest.raises(SearchError) as info:
        SharedStudy(url, "s", SETTINGS)
    assert "S3cret" not in str(info.value)
    assert "S3cret" not in json.dumps(SearchSpec(storage=url, workers=2).to_dict())


def test_the_storage_can_come_from_the_environment(monkeypatch, capsys):
    from netembed.cli import build_parser, main

    monkeypatch.setenv("NETEMBED_STORAGE", "postgresql+psycopg://alice:S3cretPW@db.example/netembed")
    args = build_parser(["search"]).parse_args(["search"])
    assert args.storage == "postgresql+psycopg://alice:S3cretPW@db.example/netembed"
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    shown = capsys.readouterr().out
    assert "NETEMBED_STORAGE" in shown and "S3cret" not in shown


def test_an_internal_storage_error_says_how_to_continue(storage, cells, monkeypatch):
    import optuna

    shared = SharedStudy(storage, "s", SETTINGS)

    def gone():
        raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.")

    monkeypatch.setattr(shared, "labels", gone)
    with pytest.raises(SearchError, match=r"lost the study's storage .*commit.*rerun the same command"):
        run_worker(Scripted(cells), CountingEvaluator(), accuracy_reward, Budget(queries=3), shared, worker=0)
