"""The table loader, on small synthetic tables built from the project's own enumeration."""

import dataclasses
import math

import numpy as np
import pytest

from netembed import Cell, DataError, UnknownCellError
from netembed.spaces.nb101 import space
from netembed.spaces.nb101.table import FULL_FILE, TIME_FILE, Benchmark, Record


def write_table(folder, arrays, rows=200, seed=0, time_rows=50, **override):
    rng = np.random.default_rng(seed)
    rows = np.sort(np.random.default_rng(seed).choice(len(arrays), rows, replace=False))
    columns = {
        "hash": arrays.hashes[rows],
        "adjacency": arrays.adjacency[rows],
        "ops": arrays.ops[rows],
        "num_vertices": arrays.num_vertices[rows],
        "test_acc_108": rng.uniform(0.8, 0.95, len(rows)).astype(np.float32),
        "flops": rng.integers(10**8, 10**9, len(rows)),
        "params": np.array([space.count_params(space.cell_at(int(r))) for r in rows]),
    }
    columns.update(override)
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / FULL_FILE, **columns)
    if time_rows:
        index = np.sort(rng.choice(len(rows), time_rows, replace=False))
        times = {"index": index, "hash": columns["hash"][index], "train_time_108": rng.uniform(300, 5000, time_rows)}
        times.update({f"val_acc_{e}": rng.uniform(0.1, 0.9, time_rows).astype(np.float32) for e in (4, 12, 36, 108)})
        np.savez(folder / TIME_FILE, **times)
    return columns


@pytest.fixture
def small(arrays, tmp_path):
    columns = write_table(tmp_path / "nb101", arrays)
    return Benchmark.load(tmp_path / "nb101"), columns


def test_query_by_cell_and_by_hash(small):
    bench, columns = small
    assert len(bench) == 200
    row = 17
    cell = Cell.from_arrays(columns["adjacency"][row], columns["ops"][row])
    record = bench.query(cell)
    assert isinstance(record, Record) and record == bench.query(str(columns["hash"][row]))
    assert record.test_acc_108 == pytest.approx(float(columns["test_acc_108"][row]))
    assert record.params == columns["params"][row] and record.flops == columns["flops"][row]
    assert cell in bench and "0" * 32 not in bench
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.params = 1


def test_time_file_fills_known_fields_and_leaves_the_rest_none(small):
    bench, _ = small
    timed = [r for r in bench if r.train_time_108 is not None]
    assert len(timed) == 50
    assert all(r.val_acc_4 is not None and r.val_acc_108 is not None for r in timed)
    untimed = next(r for r in bench if r.train_time_108 is None)
    assert untimed.val_acc_36 is None and math.isnan(bench.val_acc[36][bench.row_of(untimed.hash)])


def test_iteration_cells_and_rank(small):
    bench, columns = small
    records = list(bench)
    assert [r.hash for r in records] == columns["hash"].tolist()
    assert bench.cell(3).hash == columns["hash"][3]
    best = float(columns["test_acc_108"].max())
    assert bench.rank(best) == 1 and bench.rank(0.0) == len(bench) + 1


def test_arrays_are_read_only(small):
    bench, _ = small
    with pytest.raises(ValueError):
        bench.test_acc_108[0] = 1.0


def test_unknown_and_malformed_queries(small, arrays):
    bench, columns = small
    missing = next(h for h in arrays.hashes[:1000] if h not in set(columns["hash"]))
    with pytest.raises(UnknownCellError, match=f"no cell with hash {missing}"):
        bench.query(str(missing))
    with pytest.raises(UnknownCellError):
        bench.query(space.cell_at(int(np.searchsorted(arrays.hashes, missing))))
    with pytest.raises(DataError, match="32 lowercase hex digits, got 'xyz'"):
        bench.query("xyz")
    with pytest.raises(TypeError, match="Cell or a hash string, got int"):
        bench.query(5)
    assert "xyz" not in bench


def test_missing_data_names_the_path_and_the_variable(tmp_path):
    with pytest.raises(DataError, match="nb101_full.npz does not exist .*NETEMBED_DATA"):
        Benchmark.load(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        Benchmark.load(tmp_path / "nothing.npz")


def test_default_path_follows_netembed_data(arrays, tmp_path, monkeypatch):
    write_table(tmp_path / "mine", arrays, rows=20, time_rows=0)
    monkeypatch.setenv("NETEMBED_DATA", str(tmp_path / "mine"))
    bench = Benchmark.load()
    assert len(bench) == 20 and bench.train_time_108 is None and bench.query(str(bench.hashes[0])).val_acc_4 is None


def test_corrupt_files_are_refused(tmp_path, arrays):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / FULL_FILE).write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="not a readable NumPy .npz archive"):
        Benchmark.load(folder)
    write_table(folder, arrays, rows=10, time_rows=0, params=np.arange(3))
    with pytest.raises(DataError, match=r"must have 10 rows .*\['params'\]"):
        Benchmark.load(folder)
    columns = write_table(folder, arrays, rows=10, time_rows=0)
    np.savez(folder / FULL_FILE, **{k: v for k, v in columns.items() if k != "test_acc_108"})
    with pytest.raises(DataError, match=r"missing \['test_acc_108'\]"):
        Benchmark.load(folder)
    np.savez(folder / FULL_FILE, **{k: v[::-1] for k, v in columns.items()})
    with pytest.raises(DataError, match="sorted by hash"):
        Benchmark.load(folder)


def test_time_file_that_does_not_join_is_refused(tmp_path, arrays):
    write_table(tmp_path, arrays, rows=10, time_rows=5)
    with np.load(tmp_path / TIME_FILE) as data:
        times = {k: data[k] for k in data.files}
    times["index"] = times["index"][::-1].copy()
    np.savez(tmp_path / TIME_FILE, **times)
    with pytest.raises(DataError, match="does not join"):
        Benchmark.load(tmp_path)
    np.savez(tmp_path / TIME_FILE, train_time_108=times["train_time_108"])
    with pytest.raises(DataError, match="join keys"):
        Benchmark.load(tmp_path)


def test_the_real_table(table):
    assert len(table) == space.NUM_CELLS
    assert float(table.test_acc_108.max()) == pytest.approx(space.BEST_TEST_ACCURACY)
    best = table.query(str(table.hashes[np.argmax(table.test_acc_108)]))
    assert table.rank(best.test_acc_108) == 1
    assert int(np.count_nonzero(~np.isnan(table.train_time_108))) == 20_001
    smallest = table.query(Cell([[0, 1], [0, 0]], ["input", "output"]))
    assert smallest.params == space.count_params(Cell([[0, 1], [0, 0]], ["input", "output"]))
