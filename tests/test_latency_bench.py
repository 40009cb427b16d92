"""A new device from a few timings: the leave-one-device-out benchmark on synthetic tables in
NAS-Bench-201's format (no benchmark data)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from netembed import spaces
from netembed.benchmarks import latency_bench
from netembed.benchmarks.latency_bench import BenchError, run_latency_bench, summarise
from netembed.spaces.nb201 import Table

from .test_spaces import synthetic_table

NB201 = spaces.get("nb201")


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    """Four devices: ``twice_a`` is exactly twice ``a``; ``params`` is the parameter count; ``b`` is noise."""
    path = synthetic_table(tmp_path_factory.mktemp("lat") / "nb201.npz", devices=())
    columns = dict(np.load(path))
    rng = np.random.default_rng(0)
    archs = [NB201.from_json(s) for s in columns["arch_str"].tolist()]
    params = np.array([NB201.count_params(a) for a in archs], dtype=np.float64)
    a = np.exp(rng.normal(0, 1, len(archs)))
    columns |= {
        "latency_a": a.astype(np.float32),
        "latency_twice_a": (2 * a).astype(np.float32),
        "latency_params": (params / 1e5).astype(np.float32),
        "latency_b": np.exp(rng.normal(0, 1, len(archs))).astype(np.float32),
    }
    np.savez(path, **columns)
    return path


@pytest.fixture(scope="module")
def table(table_path) -> Table:
    return Table.load(table_path)


def test_a_device_the_seen_ones_explain_is_ranked_from_a_few_timings(table):
    results = run_latency_bench(table, [5], [0, 1], test_devices=["twice_a", "params"])
    score = {(r.method, r.device): r for r in results if r.seed == 0}
    assert score["nnls", "twice_a"].spearman == pytest.approx(1.0) and score["best_device", "twice_a"].spearman == 1.0
    assert score["params", "params"].spearman == pytest.approx(1.0)  # latency is the parameter count
    assert abs(score["params", "twice_a"].spearman) < 0.1  # and says nothing of the random one
    rows, per_device = summarise(results)
    nnls = next(r for r in rows if r["method"] == "nnls")
    assert nnls["devices"] == 2 and nnls["seeds"] == 2 and nnls["spearman_low"] <= nnls["spearman"]
    assert {r["device"] for r in per_device} == {"twice_a", "params"}


def test_the_held_out_device_is_read_only_at_its_measured_architectures(table, monkeypatch):
    """Leave-one-device-out never leaks: a method fitted for device D sees the other devices in
    full and D's latencies at the measured rows only, and predicts from the other devices alone."""
    calls = []

    def spy(name):
        fit = latency_bench.METHODS[name]

        def recorded(known, rows, measured):
            calls.append((known, rows, measured))
            return fit(known, rows, measured)

        return recorded

    monkeypatch.setattr(latency_bench, "METHODS", {n: spy(n) for n in latency_bench.METHODS})
    run_latency_bench(table, [4, 7], [0, 1])
    logs = {d: np.log(table.latency[d].astype(np.float64)) for d in table.devices}
    assert len(calls) == len(table.devices) * 2 * 2 * len(latency_bench.METHODS)
    for known, rows, measured in calls:
        device = next(d for d in table.devices if np.array_equal(logs[d][rows], measured))
        assert device not in known.devices and len(known.devices) == len(table.devices) - 1
        assert np.array_equal(known.seen, np.column_stack([logs[d] for d in known.devices]))
        # no seen column is the held-out device's own, and the prior was learned from the seen ones
        assert not any(np.array_equal(known.seen[:, j], logs[device]) for j in range(known.seen.shape[1]))
        assert known._prior is None or known._prior.config.devices == known.devices


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_devices": ["tpu"]}, "device must be one of a, twice_a, params, b .*got 'tpu'"),
        ({"train_devices": ["a", "b"], "test_devices": ["b"]}, "must not share a device .*got b in both"),
        ({"sizes": [1]}, "at least 2 per size"),
        (
            {"methods": ["help"]},
            r"methods must be among \['params', 'best_device', 'nnls', 'prior', 'prior\+devices'\], got \['help'\]",
        ),
        ({"train_devices": ["a"], "test_devices": ["a"]}, "must not share a device"),
        ({"train_devices": ["a"], "test_devices": None}, "testing a needs at least one other device"),
    ],
)
def test_mistakes_are_refused_naming_the_rule_and_the_value(table, kwargs, message):
    from netembed.errors import DataError

    with pytest.raises((BenchError, DataError), match=message):
        run_latency_bench(table, **{"sizes": [5], "seeds": [0], **kwargs})


def test_the_command_line_writes_the_tables_and_refuses_an_unknown_device_in_one_line(table_path, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "NETEMBED_THREADS": "1", "HOME": "/tmp"}
    base = [sys.executable, "-m", "netembed.cli", "bench", "latency", "--data", str(table_path)]
    done = subprocess.run(
        [*base, "--sizes", "3", "--seeds", "2", "--test-devices", "twice_a", "--out", str(tmp_path / "o"),
         "--format", "json"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["method"] for r in rows] == list(latency_bench.METHODS) and rows[2]["spearman"] == pytest.approx(1)
    assert all((tmp_path / "o" / f).exists() for f in ("latency.csv", "latency_devices.csv", "latency.png"))
    refused = subprocess.run(
        [*base, "--test-devices", "tpu", "--out", str(tmp_path / "p")],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "device must be one of" in refused.stderr and not (tmp_path / "p").exists()
