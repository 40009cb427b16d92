"""Shared fixtures. Tests that need the NAS-Bench-101 table skip with the reason when it is absent."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from netembed.errors import DataError
from netembed.spaces.nb101 import space
from netembed.spaces.nb101.table import Benchmark, default_data_dir


@pytest.fixture(scope="session")
def arrays() -> space.SpaceArrays:
    """The enumeration (computed once per machine, then read from the user cache)."""
    return space.space_arrays()


@pytest.fixture(scope="session")
def table() -> Benchmark:
    try:
        return Benchmark.load()
    except DataError as exc:
        pytest.skip(f"NAS-Bench-101 table not available ({exc}); set NETEMBED_DATA to run this test")


@pytest.fixture(scope="session")
def table_columns() -> dict:
    """The raw arrays of nb101_full.npz, for checks against the project's own computations."""
    path = default_data_dir() / "nb101_full.npz"
    if not path.exists():
        pytest.skip(f"NAS-Bench-101 table not found at {path}; set NETEMBED_DATA to run this test")
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


_THREAD_ENV = ("NETEMBED_THREADS", "OMP_NUM_THREADS")
_AT_SESSION_START = {name: os.environ.get(name) for name in _THREAD_ENV}


@pytest.fixture(autouse=True)
def _thread_count_restored():
    """Each test ends at the thread settings the session started with: ``threads.configure``
    (every command-line call, including those in module-scoped fixtures) writes
    ``NETEMBED_THREADS`` and ``OMP_NUM_THREADS`` into the environment and sets torch's count,
    which later tests and their worker processes would otherwise inherit."""
    torch = sys.modules.get("torch")
    count = torch.get_num_threads() if torch is not None else None
    yield
    for name, value in _AT_SESSION_START.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    torch = sys.modules.get("torch")
    if count is None and torch is not None and _AT_SESSION_START["OMP_NUM_THREADS"]:  # imported during the test
        count = int(_AT_SESSION_START["OMP_NUM_THREADS"])
    if count is not None and torch.get_num_threads() != count:
        torch.set_num_threads(count)


@pytest.fixture(autouse=True)
def _space_registry_restored():
    """A space a test registers (the tutorial's, a test's own) is forgotten after it."""
    from netembed import spaces

    before = dict(spaces._LOADED)
    yield
    spaces._LOADED.clear()
    spaces._LOADED.update(before)
