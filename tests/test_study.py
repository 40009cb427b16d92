"""Workers sharing one search through an Optuna study: one query per cell, a global budget,
claims of dead workers freed, rejoining, and the same settings for every worker."""

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from netembed import spaces
from netembed.runs.study import SharedStudy, run_worker, worker_seed
from netembed.search import Budget, SearchError, run_search
from netembed.search.baselines import RandomSearch
from netembed.search.controller import NetembedSearch
from netembed.spaces.nb101 import space
from netembed.spaces.nb101.cell import Cell
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
    [
        ("nonsense://x", "cannot open storage"),
        ("postgresql+nodriver://u:secret@localhost/db", "cannot open storage"),
        ("postgresql+psycopg://u:secret@localhost:abc/db", "localhost:abc/db: its port must be a number, got 'abc'$"),
    ],
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
    from netembed.runs.study import safe_url, scrub

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
    assert main(["search", "--help"]) == 0
    shown = capsys.readouterr().out
    assert "NETEMBED_STORAGE" in shown and "S3cret" not in shown


SECRET_URLS = [
    "postgresql+psycopg://alice:hunter@S3cretPW@127.0.0.1:1/db",  # a raw '@': the driver resolved host 'S3cretPW@...'
    "postgresql+psycopg://alice@127.0.0.1:1/db?password=abc;S3cretPW",  # masked up to the ';'
    "postgresql+psycopg://alice@127.0.0.1:1/db?password=abc S3cretPW",  # masked up to the space
    "postgresql+psycopg://alice@127.0.0.1:1/db?sslmode=disable&pass%77ord=S3cretPW",  # the driver decodes the key
    "postgresql+psycopg://alice@127.0.0.1:1/db?sslpassword=S3cretPW",
    "postgresql+psycopg://alice:S3cret%50W@127.0.0.1:1/db",  # percent-encoded: the driver reads S3cretPW
]


@pytest.mark.parametrize("given", ["--storage", "NETEMBED_STORAGE"])
@pytest.mark.parametrize("url", SECRET_URLS)
def test_no_form_of_the_storage_password_shows_on_the_command_line(url, given, tmp_path, monkeypatch, capfd):
    """Port 1 refuses at once: the driver's error is printed, and the URL with it, without the secret."""
    from netembed.cli import main

    monkeypatch.setenv("NETEMBED_DATA", str(tmp_path / "no-table"))
    monkeypatch.delenv("NETEMBED_STORAGE", raising=False)
    argv = ["search", "--method", "random", "--budget", "2", "--out", str(tmp_path / "run")]
    if given == "--storage":
        argv += ["--storage", url]
    else:
        monkeypatch.setenv("NETEMBED_STORAGE", url)
    assert main(argv) == 2
    out, err = capfd.readouterr()  # the file descriptors: loggers' handlers too
    assert "S3cret" not in out + err and "hunter" not in out + err, err
    assert err.count("\n") == 1 and "cannot open storage postgresql+psycopg://alice" in err and "127.0.0.1:1/db" in err


def test_safe_url_shows_what_the_library_parsed_and_scrub_hides_every_form_of_every_secret():
    from netembed.runs.study import safe_url, scrub

    url = "postgresql+psycopg://bob:p%40ss%20S3cretPW@db.example:5432/nb?sslmode=require&SSLPassword=k%2By+S3cretKEY"
    assert safe_url(url) == "postgresql+psycopg://bob:***@db.example:5432/nb?sslmode=require&SSLPassword=***"
    forms = ["p%40ss%20S3cretPW", "p@ss S3cretPW", "p%40ss+S3cretPW", "S3cretPW", "k%2By+S3cretKEY", "k+y S3cretKEY"]
    shown = scrub(f"{url} failed for {' and '.join(forms)} at {safe_url(url)}", url)
    assert "S3cret" not in shown and shown.startswith(safe_url(url)) and shown.endswith(f"at {safe_url(url)}")
    assert safe_url("postgresql+psycopg://alice:hunter@S3cretPW@db.example/nb") == (
        "postgresql+psycopg://alice:***@db.example/nb"  # the driver's host is 'S3cretPW@db.example'
    )
    assert safe_url("sqlite:////tmp/a:b@c/study.db?timeout=5") == "sqlite:////tmp/a:b@c/study.db?timeout=5"  # no secret
    assert safe_url("host=db.example password=S3cretPW") == "host=db.example ..."  # no URL: nothing after a space


def test_an_internal_storage_error_says_how_to_continue(storage, cells, monkeypatch):
    import optuna

    shared = SharedStudy(storage, "s", SETTINGS)

    def gone():
        raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.")

    monkeypatch.setattr(shared, "labels", gone)
    with pytest.raises(SearchError, match=r"lost the study's storage .*commit.*rerun the same command"):
        run_worker(Scripted(cells), CountingEvaluator(), accuracy_reward, Budget(queries=3), shared, worker=0)


def test_each_trial_carries_its_cell_as_optuna_params(storage, cells):
    import optuna

    small = [
        Cell([[0, 1], [0, 0]], ["input", "output"]),
        Cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"]),
    ]
    shared = SharedStudy(storage, "s", SETTINGS)
    run_worker(Scripted(small + cells), CountingEvaluator(), accuracy_reward, Budget(queries=5), shared, worker=0)
    shared.claim(cells[0], worker=1, limit=None)  # a withdrawn claim: its trial names its cell too
    trials = shared.study.get_trials()
    assert len(trials) == 6 and [t.state for t in trials].count(optuna.trial.TrialState.FAIL) == 1
    nb101 = spaces.get("nb101")
    for t in trials:
        assert t.distributions == nb101.trial_params(cells[0])[1]
        assert nb101.from_params(t.params).hash == t.user_attrs["claim"]["hash"]
    assert all(Cell(t.user_attrs["matrix"], t.user_attrs["ops"]) == nb101.from_params(t.params) for t in trials[:5])
    assert [nb101.from_params(t.params) for t in trials[:2]] == small  # 2 and 3 vertices: padded to 7, same cells
    padded = nb101.trial_params(small[1])[0]  # 0 -> 1 -> output at vertex 6; vertices 2..5 unconnected conv3x3
    assert {n for n, v in padded.items() if v == 1} == {"e0", "e10"} and trials[1].params == padded
    assert list(padded.values())[-5:] == ["maxpool3x3"] + ["conv3x3-bn-relu"] * 4
    assert len(optuna.search_space.intersection_search_space(trials)) == 26  # what Optuna's plots draw


@pytest.mark.parametrize(
    "direction, make, why",
    [
        ("maximize", lambda study: study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3), r"3 trial\(s\)"),
        ("maximize", lambda study: study.set_user_attr("owner", "someone"), r"user attribute\(s\) owner"),
        ("minimize", lambda study: None, r"direction\(s\) minimize"),
    ],
    ids=["trials", "attributes", "direction"],
)
def test_a_study_another_tool_made_is_refused_before_anything_is_written(storage, direction, make, why):
    import optuna

    def state(study):
        return study.user_attrs, study.directions, [(t.number, t.state, t.params, t.user_attrs) for t in study.trials]

    theirs = optuna.create_study(storage=storage, study_name="theirs", direction=direction)
    make(theirs)
    before = state(theirs)
    with pytest.raises(
        SearchError, match=rf"^study 'theirs' in sqlite:///\S+ was not made by netembed: it has {why} but"
    ):
        SharedStudy(storage, "theirs", SETTINGS)
    assert state(optuna.load_study(storage=storage, study_name="theirs")) == before


def test_a_trial_another_tool_added_is_named_not_a_traceback(storage, cells):
    import optuna

    shared = SharedStudy(storage, "s", SETTINGS)
    shared.study.add_trial(optuna.trial.create_trial(value=1.0, user_attrs={"claim": {"hash": cells[0].hash}}))
    with pytest.raises(
        SearchError, match=r"trial 0 of the study is no netembed query \(it lacks user attribute 'matrix'\)"
    ):
        shared.labels()


def test_a_locked_sqlite_storage_stops_the_worker_and_a_rerun_keeps_its_queries(tmp_path, cells):
    path = tmp_path / "study.db"
    storage = f"sqlite:///{path}?timeout=0.1"  # the URL's lock timeout, not netembed's 60 s
    other = sqlite3.connect(path, isolation_level=None)  # another program using the same file
    counting = CountingEvaluator()

    def evaluator(cell):
        if len(counting.calls) == 3:
            other.execute("BEGIN EXCLUSIVE")  # holds the write lock from the 4th query on
        return counting(cell)

    shared = SharedStudy(storage, "s", SETTINGS)
    with pytest.raises(
        SearchError, match=r"lost the study's storage .*\(\(sqlite3.OperationalError\) database is locked\)"
    ):
        run_worker(Scripted(cells), evaluator, accuracy_reward, Budget(queries=5), shared, worker=0)
    other.execute("ROLLBACK")
    other.close()
    first = complete_hashes(shared)
    rerun = SharedStudy(storage, "s", SETTINGS)
    run_worker(Scripted(cells), evaluator, accuracy_reward, Budget(queries=5), rerun, worker=0)
    assert first == [c.hash for c in cells[:3]] and complete_hashes(rerun) == [c.hash for c in cells]
    assert counting.calls == [c.hash for c in cells[:4]] + [cells[3].hash, cells[4].hash]  # the 4th, again
    assert rerun.live() == 5  # the locked-out claim was freed by the rerun, not counted


class InProcess:
    """A stand-in for ``multiprocessing``'s spawn context: each worker "process" runs its target
    in this process when started (``started``: their arguments), and is then finished."""

    def __init__(self):
        self.started: list[tuple] = []

    def Process(self, target, args):  # multiprocessing's name
        context = self

        class Worker:
            pid = exitcode = None

            def start(self):
                context.started.append(args)
                self.pid = os.getpid()
                try:
                    target(*args)
                    self.exitcode = 0
                except SystemExit as exc:
                    self.exitcode = exc.code

            def is_alive(self):
                return False

            def join(self, timeout=None):
                pass

        return Worker()


def test_worker_4_of_4_joins_as_workers_4_to_7_each_seeded_seed_plus_10000_times_its_index(tmp_path, monkeypatch):
    """README: "a second machine joins with the same command plus ``--worker 4`` (workers 4-7)",
    each worker's method seeded ``seed + 10,000 * index`` (docs/design.md). Through ``netembed.run``,
    its worker processes run in this one (the spawned ones build their methods out of sight)."""
    import multiprocessing

    from netembed import runs

    monkeypatch.setenv("NETEMBED_DATA", str(tmp_path / "absent"))
    context, built, build_method = InProcess(), [], runs.build_method
    monkeypatch.setattr(multiprocessing, "get_context", lambda method: context)

    def spy(name, seed, *args, **kwargs):
        built.append((context.started[-1][2] if context.started else "parent", seed))
        return build_method(name, seed, *args, **kwargs)

    monkeypatch.setattr(runs, "build_method", spy)
    spec = runs.SearchSpec(
        method="random", budget=Budget(queries=4), seed=3, workers=4, worker=4, storage=f"sqlite:///{tmp_path / 's.db'}"
    )
    sigterm = signal.getsignal(signal.SIGTERM)  # a worker turns SIGTERM into Ctrl-C: this process's is restored
    try:
        report = runs.run(spec, tmp_path / "run")
    finally:
        signal.signal(signal.SIGTERM, sigterm)
    assert [args[2] for args in context.started] == [4, 5, 6, 7]
    assert built == [("parent", 40_003), (4, 40_003), (5, 50_003), (6, 60_003), (7, 70_003)]
    assert report.payload["queries"] == 4


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def own_postgres():
    """A throwaway PostgreSQL server of this test's own (it stops and restarts it) on a free port:
    ``(url, ctl)`` with ``ctl("stop")`` / ``ctl("start")`` (a restart keeps the data)."""
    if not (shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb")):
        pytest.skip("no PostgreSQL server installed (initdb not found): make test installs one when it can")
    pytest.importorskip("psycopg", reason="psycopg not installed: pip install -e '.[dev]'")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="netembed-pg-")  # not pytest's tmp_path: the server's own user must reach it
    env = {**os.environ, "PGPORT_TEST": str(port)}

    def ctl(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [ROOT / ".ci" / "postgres", command, folder], env=env, capture_output=True, text=True, check=False
        )

    started = ctl("start")
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"no PostgreSQL server could be started: {(started.stderr.strip().splitlines() or ['?'])[-1]}")
    try:
        yield started.stdout.strip().partition("=")[2], ctl
    finally:
        ctl("stop")
        shutil.rmtree(folder, ignore_errors=True)


#: A trigger that makes completing a trial past the 5th wait for advisory lock 4242 (held by the test).
GATE_SQL = """
CREATE FUNCTION netembed_test_gate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'COMPLETE' AND OLD.state <> 'COMPLETE'
            AND (SELECT count(*) FROM trials WHERE state = 'COMPLETE') >= 5 THEN
        PERFORM pg_advisory_xact_lock(4242);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER netembed_test_gate BEFORE UPDATE OF state ON trials
    FOR EACH ROW EXECUTE FUNCTION netembed_test_gate();
"""


def test_a_postgresql_server_stopped_mid_run_stops_every_process_with_one_line(own_postgres, tmp_path):
    import optuna
    import sqlalchemy
    from optuna.trial import TrialState

    url, ctl = own_postgres
    command = [sys.executable, "-m", "netembed.cli", "search", "--method", "random", "--workers", "2"]
    command += ["--budget", "30", "--study", "s", "--out", str(tmp_path / "run"), "--format", "json"]
    env = {
        **os.environ,
        "NETEMBED_STORAGE": url,
        "NETEMBED_DATA": str(tmp_path / "no-table"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }

    storage = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})  # its tables, before the run's
    # The run stops itself mid-run, whatever the speed of the machine: once 5 trials are complete,
    # completing another waits for an advisory lock this test holds, until the server stops. Two
    # workers may pass the gate together, so 5 or 6 trials are complete when the run is stopped.
    gate = storage.engine.connect()
    gate.execute(sqlalchemy.text("SELECT pg_advisory_lock(4242)"))
    gate.execute(sqlalchemy.text(GATE_SQL))
    gate.commit()

    def complete() -> dict:
        try:
            study = optuna.load_study(study_name="s", storage=storage)
        except KeyError:  # not created yet
            return {}
        return {
            t.number: (t.user_attrs["claim"]["hash"], t.value) for t in study.get_trials(states=[TrialState.COMPLETE])
        }

    run = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 300  # a stalled run fails here, saying so, instead of hanging the suite
        while len(complete()) < 5:
            if run.poll() is not None:
                pytest.fail(f"the run ended before its 5th query (exit {run.returncode}): {run.communicate()[1]}")
            if time.monotonic() > deadline:
                pytest.fail(f"5 queries not complete after 300 s (complete: {len(complete())}): the run stalled")
            time.sleep(0.2)
        os.killpg(run.pid, signal.SIGSTOP)  # the parent and its workers, frozen mid-run
        before = complete()
        assert run.poll() is None and 5 <= len(before) <= 6, f"{len(before)} queries complete, the gate is at 5"
        assert ctl("stop").returncode == 0
        with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):
            gate.close()  # its server is gone: the lock with it
        os.killpg(run.pid, signal.SIGCONT)
        _, err = run.communicate(timeout=300)  # a guard against a hang, not a time limit
    finally:
        if run.poll() is None:  # a failed assertion above: leave no frozen processes behind
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 2, err
    lost = (
        rf"lost the study's storage {re.escape(url)} \(\(psycopg\.[\w.]+\) [^\n]+\); "
        "every finished query is in it: rerun the same command to continue"
    )
    # one line for the run, however each process met the stop (mid-query, or opening a
    # connection): the workers leave it to their parent, which names the server's own reason
    assert re.fullmatch(rf"netembed search: error: {lost}\n", err), err

    assert ctl("start").returncode == 0
    with storage.engine.begin() as connection:  # the rerun runs ungated
        connection.execute(sqlalchemy.text("DROP TRIGGER netembed_test_gate ON trials"))
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    after = complete()
    assert json.loads(again.stdout)["queries"] == 30 == len(after)
    assert before.items() <= after.items()  # every query finished before the stop is kept as it was


def _children(pid: int) -> list[int]:
    """The worker processes (multiprocessing spawn) that process ``pid`` started, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()  # after the name, which may hold spaces
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # exited meanwhile
            continue
        if int(fields[1]) == pid and b"spawn_main" in command:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads worker processes from /proc (Linux)")
def test_sigterm_stops_the_workers_before_the_command_exits(tmp_path):
    """``kill`` (SIGTERM, what a scheduler sends) to a ``--workers`` command: its workers stop as on
    Ctrl-C, and it exits after them (its folder lock held until then) with one line saying how to
    continue. It used to die alone, leaving its workers running beside the rerun it let in."""
    import optuna

    out = tmp_path / "run"
    command = [sys.executable, "-m", "netembed.cli", "search", "--method", "random", "--evaluator", "surrogate"]
    command += ["--workers", "2", "--budget", "100000", "--study", "s", "--out", str(out), "--format", "json"]
    env = {
        **os.environ,
        "NETEMBED_DATA": str(tmp_path / "no-table"),
        "NETEMBED_THREADS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.pop("NETEMBED_STORAGE", None)

    def workers_with_a_query() -> set:
        """Read only: opening the study with Optuna would create its tables, racing the command's own."""
        try:
            with contextlib.closing(sqlite3.connect(f"file:{out / 'study.db'}?mode=ro", uri=True)) as db:
                claims = db.execute(
                    "SELECT a.value_json FROM trial_user_attributes a JOIN trials t ON a.trial_id = t.trial_id "
                    "WHERE a.key = 'claim' AND t.state = 'COMPLETE'"
                ).fetchall()
        except sqlite3.Error:  # not made yet, or being made
            return set()
        return {json.loads(value)["worker"] for (value,) in claims}

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    errors = tmp_path / "stderr.txt"  # a file, not a pipe: orphaned workers would hold a pipe open
    with open(errors, "w") as stderr:
        run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    workers: list[int] = []
    try:
        started = time.monotonic()
        while time.monotonic() - started < 300 and run.poll() is None:  # each worker is past its start
            if (out / "study.db").exists() and workers_with_a_query() == {0, 1}:
                break
            time.sleep(0.5)
        workers = _children(run.pid)
        assert run.poll() is None and len(workers) == 2 and all(map(_running, workers)), errors.read_text()
        run.send_signal(signal.SIGTERM)  # the command alone, as `kill PID` does
        run.wait(timeout=120)  # a guard against a hang, not a time limit
        alive = [pid for pid in workers if _running(pid)]
        assert alive == [], f"workers {alive} outlived the command"
    finally:
        for pid in workers:  # a failed assertion: leave no worker behind
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        if run.poll() is None:
            run.kill()
            run.wait()
    err = errors.read_text()
    assert run.returncode == 2, err
    stopped = "stopped by SIGTERM; every finished query is in study 's': rerun the same command to continue"
    assert err.strip().splitlines() == [f"netembed search: error: {stopped}"], err


def test_a_worker_that_cannot_reach_the_storage_its_parent_opened_says_it_was_lost(tmp_path):
    """Opening the storage fails at a run's start: "cannot open"; in a worker, whose parent had it
    open, the same failure is the storage lost mid-run: the one message with the way to continue."""
    from netembed.runs.study import SharedStudy, StorageLostError

    url = f"sqlite:///{tmp_path}/gone/study.db"  # a folder that does not exist: sqlite cannot open it
    with pytest.raises(SearchError, match=r"^cannot open storage sqlite:///") as first:
        SharedStudy(url, "s", {})
    assert not isinstance(first.value, StorageLostError)
    with pytest.raises(StorageLostError, match=r"^lost the study's storage .+; every finished query is in it: rerun"):
        SharedStudy(url, "s", {}, joining=True)
