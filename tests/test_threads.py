"""netembed.threads: how many CPU threads torch gets."""

from __future__ import annotations

import os
import re

import pytest

from netembed import threads
from netembed.errors import NetembedError


def test_a_request_wins_then_the_environment_then_the_idle_cpus(monkeypatch):
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.choose(5) == 5
    assert threads.choose() == 3
    monkeypatch.delenv(threads.ENV)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.4, 0.0, 0.0))
    assert threads.choose() == threads.usable_cpus()
    monkeypatch.setattr(os, "getloadavg", lambda: (50.0, 0.0, 0.0))  # a busy machine: one thread
    assert threads.choose() == 1


@pytest.mark.parametrize("value", [0, -2, "two", "1.5", 99999999999999999999, 100_000, "many"])
def test_a_thread_count_must_be_an_integer_up_to_four_per_cpu(value, monkeypatch):
    limit = 4 * threads.usable_cpus()
    rule = re.escape(f"must be an integer in [1, {limit}] (at most 4 per CPU this process may use, ")
    with pytest.raises(NetembedError, match=rf"^--threads {rule}.*got {re.escape(repr(value))}$"):
        threads.choose(value)
    monkeypatch.setenv(threads.ENV, str(value))  # libgomp says "Invalid value" for the first, accepts the next
    with pytest.raises(NetembedError, match=rf"^\$NETEMBED_THREADS {rule}.*got {re.escape(repr(str(value)))}$"):
        threads.choose()
    monkeypatch.setenv(threads.ENV, str(limit))
    assert threads.choose() == limit == threads.check(str(limit))


def test_the_command_line_refuses_an_unbounded_environment_count(monkeypatch, capsys):
    from netembed.cli import main

    monkeypatch.setenv(threads.ENV, "99999999999999999999")
    assert main(["embed"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "$NETEMBED_THREADS must be an integer in [1, " in err, err


def test_configure_tells_torch_and_the_child_processes(monkeypatch):
    import torch

    monkeypatch.delenv(threads.ENV, raising=False)  # restored, with OMP_NUM_THREADS, after the test
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        assert threads.configure(1) == 1
        assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1" == os.environ[threads.ENV]
    finally:
        torch.set_num_threads(before)


def test_the_command_line_refuses_a_bad_thread_count(capsys):
    from netembed.cli import main

    assert main(["embed", "--threads", "0"]) == 2
    assert "--threads: must be an integer in [1, " in capsys.readouterr().err


_AT_START = {name: os.environ.get(name) for name in (threads.ENV, "OMP_NUM_THREADS")}  # at collection
_TORCH_COUNT: list[int] = []


def test_configure_writes_the_count_for_child_processes():
    import torch

    _TORCH_COUNT.append(torch.get_num_threads())
    threads.configure(1)  # as every command-line call does; no monkeypatch: conftest's fixture undoes it
    assert os.environ[threads.ENV] == "1" == os.environ["OMP_NUM_THREADS"] and torch.get_num_threads() == 1


def test_the_tests_before_leave_no_thread_count_behind():
    """(after the test above) a later test runs at the session's count, not one an earlier chose."""
    import torch

    assert {name: os.environ.get(name) for name in _AT_START} == _AT_START
    assert not _TORCH_COUNT or torch.get_num_threads() == _TORCH_COUNT[0]


def _same(a, b) -> bool:
    """Equal to the last bit: tensors, arrays and the dicts and lists holding them."""
    import numpy as np
    import torch

    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def test_a_seed_decides_the_netembed_search_at_any_thread_count():
    """The controller's torch work runs on one thread whatever the caller's count: at two, its
    surrogate's sums split differently and the search drifted (the table, seed 1001: other cells
    from query 31 on). Same cells, and the same state to the last bit (all later rounds depend
    on it), at one and at two threads; the caller's count is left as it was."""
    import numpy as np
    import torch

    from netembed.search import Budget, run_search
    from netembed.search.controller import ControllerConfig, NetembedSearch
    from tests.test_search import CountingEvaluator, accuracy_reward

    config = ControllerConfig(initial=6, batch=4, parents=2, jumps=10, members=1, fit_steps=10, refresh_steps=5)
    before, runs = torch.get_num_threads(), []
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            method = NetembedSearch(np.random.default_rng(3), config)
            result = run_search(method, CountingEvaluator(), accuracy_reward, Budget(queries=14), seed=3)
            assert torch.get_num_threads() == count
            runs.append(([e.cell.hash for e in result.evaluations], method.state()))
    finally:
        torch.set_num_threads(before)
    (asked, state), (asked_at_two, state_at_two) = runs
    assert asked == asked_at_two
    assert state is not None and _same(state, state_at_two)
