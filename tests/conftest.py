"""Shared fixtures. Tests that need the NAS-Bench-101 table skip with the reason when it is absent."""

from __future__ import annotations

import numpy as np
import pytest

from netembed import space
from netembed.bench import Benchmark, default_data_dir
from netembed.errors import DataError


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
