"""netembed.threads: how many CPU threads torch gets."""

from __future__ import annotations

import os

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


@pytest.mark.parametrize("value", [0, -2, "two", "1.5"])
def test_a_thread_count_must_be_a_positive_integer(value, monkeypatch):
    with pytest.raises(NetembedError, match=f"must be a positive integer, got {value!r}"):
        threads.choose(value)
    monkeypatch.setenv(threads.ENV, str(value))
    with pytest.raises(NetembedError, match=r"\$NETEMBED_THREADS must be a positive integer"):
        threads.choose()


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
    assert "--threads must be a positive integer, got 0" in capsys.readouterr().err
