import numpy as np
import pytest

from netembed import Cell, UnknownCellError
from netembed._fingerprint import fingerprint
from netembed.errors import DataError
from netembed.spaces.nb101 import space
from netembed.spaces.nb101.cell import OPS

C3, C1, MP = OPS


def test_enumeration_finds_every_unique_cell_once(arrays):
    assert len(arrays) == space.NUM_CELLS == 423_624
    assert len(np.unique(arrays.hashes)) == len(arrays)
    assert (arrays.hashes[1:] > arrays.hashes[:-1]).all()  # sorted by hash, like the table
    assert len(np.unique(arrays.fingerprints)) == len(arrays)  # the fingerprint identifies cells exactly
    counts = dict(zip(*np.unique(arrays.num_vertices, return_counts=True)))
    assert counts == {2: 1, 3: 6, 4: 84, 5: 2441, 6: 62010, 7: 359082}


def test_enumerated_rows_are_valid_pruned_cells_with_their_own_hash(arrays, rng):
    for row in rng.choice(len(arrays), 2000, replace=False):
        cell = Cell.from_arrays(arrays.adjacency[row], arrays.ops[row])  # full validation
        assert cell.num_vertices == arrays.num_vertices[row]
        assert cell.hash == arrays.hashes[row]
        assert space.cell_at(int(row)) == cell and space.index_of(cell) == row


def test_random_is_uniform_over_unique_cells(arrays):
    """Vertex counts of sampled cells follow the space's own proportions (7 vertices: 84.8%)."""
    rng = np.random.default_rng(1)
    sample = [space.random_cell(rng) for _ in range(4000)]
    share = np.mean([c.num_vertices == 7 for c in sample])
    expected = np.mean(arrays.num_vertices == 7)
    assert abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / len(sample))
    assert len(set(sample)) > 3950  # 4,000 draws from 423,624 cells rarely repeat
    assert space.random_cell(np.random.default_rng(5)) == space.random_cell(np.random.default_rng(5))


def test_enumeration_equals_the_table_row_for_row(arrays, table_columns):
    """Same hashes, and NAS-Bench-101's own matrix and ops for every one of the 423,624 cells."""
    assert np.array_equal(arrays.hashes, table_columns["hash"])
    assert np.array_equal(arrays.adjacency, table_columns["adjacency"])
    assert np.array_equal(arrays.ops, table_columns["ops"])
    assert np.array_equal(arrays.num_vertices, table_columns["num_vertices"])


def test_official_hash_of_every_table_row(table_columns):
    """The MD5 hash recomputed from each table row's own matrix and ops (not via the enumeration)."""
    hashes = space._official_hashes(table_columns["adjacency"], table_columns["ops"], table_columns["num_vertices"])
    assert np.array_equal(hashes, table_columns["hash"])


def test_enumerate_cells_returns_cells_in_table_order(arrays):
    cells = space.enumerate_cells()
    assert len(cells) == len(arrays) and len(set(cells[:1000])) == 1000
    assert [c.hash for c in cells[:50]] == arrays.hashes[:50].tolist()


def test_cell_at_and_index_of_errors(arrays):
    with pytest.raises(IndexError, match=r"index must be in \[0, 423624\), got 423624"):
        space.cell_at(space.NUM_CELLS)
    with pytest.raises(IndexError, match="got -1"):
        space.cell_at(-1)
    with pytest.raises(UnknownCellError, match="not cells of the space"):
        arrays.rows_of_fingerprints(np.array([12345], dtype=np.uint64))


def test_fingerprint_is_isomorphism_invariant_and_ignores_row_layout(arrays, rng):
    rows = rng.choice(len(arrays), 500, replace=False)
    adjacency, ops = arrays.adjacency[rows].copy(), arrays.ops[rows].copy()
    for k, row in enumerate(rows):  # relabel interior vertices, topological or not
        n = arrays.num_vertices[row]
        order = np.r_[0, rng.permutation(np.arange(1, n - 1)), n - 1, np.arange(n, 7)]
        adjacency[k] = adjacency[k][np.ix_(order, order)]
        ops[k] = ops[k][order]
    assert np.array_equal(fingerprint(adjacency, ops), arrays.fingerprints[rows])
    assert np.array_equal(fingerprint(adjacency, ops, chunk=7), arrays.fingerprints[rows])


# -- cache ----------------------------------------------------------------------------------------


def test_cache_round_trip_and_checksum(arrays, tmp_path):
    path = tmp_path / "space.npz"
    space._save_cache(path, arrays)
    loaded = space._load_cache(path)
    assert np.array_equal(loaded.hashes, arrays.hashes) and np.array_equal(loaded.adjacency, arrays.adjacency)
    with np.load(path) as data:
        fields = {name: data[name] for name in data.files}
    fields["ops"] = fields["ops"].copy()
    fields["ops"][10, 1] = (fields["ops"][10, 1] + 1) % 3  # silent corruption of one op
    np.savez(path, **fields)
    with pytest.raises(DataError, match="failed its checksum"):
        space._load_cache(path)
    path.write_bytes(b"not a zip archive")
    with pytest.raises(DataError, match="unreadable"):
        space._load_cache(path)


def test_cached_builds_once_then_reads(tmp_path, monkeypatch):
    monkeypatch.setenv("NETEMBED_CACHE", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"x": np.arange(5)}

    assert np.array_equal(space.cached("x.npz", build, "x")["x"], np.arange(5))
    assert np.array_equal(space.cached("x.npz", build, "x")["x"], np.arange(5)) and len(calls) == 1
    (tmp_path / "x.npz").write_bytes(b"broken")
    assert np.array_equal(space.cached("x.npz", build, "x")["x"], np.arange(5)) and len(calls) == 2


def test_corrupt_cache_is_rebuilt(arrays, tmp_path, monkeypatch):
    """A damaged cache file never yields wrong cells: it is recomputed and rewritten."""
    monkeypatch.setenv("NETEMBED_CACHE", str(tmp_path))
    path = tmp_path / space._ENUMERATION_CACHE
    path.write_bytes(b"garbage")
    monkeypatch.setattr(space, "_enumerate", lambda: arrays)  # the real one is checked above
    space.space_arrays.cache_clear()
    try:
        assert np.array_equal(space.space_arrays().hashes, arrays.hashes)
        assert np.array_equal(space._load_cache(path).hashes, arrays.hashes)
    finally:
        space.space_arrays.cache_clear()


def test_a_search_is_told_before_the_enumeration_is_computed_not_after(arrays, tmp_path, monkeypatch):
    """The first search on a machine says it is enumerating, before its progress bar starts."""
    monkeypatch.setenv("NETEMBED_CACHE", str(tmp_path))
    heard = []
    monkeypatch.setattr(space, "_enumerate", lambda: heard.append("computed") or arrays)
    space.space_arrays.cache_clear()
    try:
        space.prepare(heard.append)
        assert heard[0].startswith("enumerating the 423,624 cells of NAS-Bench-101 once") and heard[1] == "computed"
        space.space_arrays.cache_clear()  # a later process: the cache file is there, nothing to say
        space.prepare(heard.append)
        assert len(heard) == 2
    finally:
        space.space_arrays.cache_clear()


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NETEMBED_CACHE", str(tmp_path / "x"))
    assert space.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("NETEMBED_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert space.cache_dir() == tmp_path / "netembed"


# -- parameters -----------------------------------------------------------------------------------


def test_count_params_by_hand_for_the_smallest_cell():
    # stem 3*3*3*128 + 2*128; each cell is one 1x1 projection (+ batch norm) from its input to its output
    stem = 27 * 128 + 256
    stack1 = 3 * (128 * 128 + 256)
    stack2 = (128 * 256 + 512) + 2 * (256 * 256 + 512)
    stack3 = (256 * 512 + 1024) + 2 * (512 * 512 + 1024)
    dense = 512 * 10 + 10
    assert space.count_params(Cell([[0, 1], [0, 0]], ["input", "output"])) == stem + stack1 + stack2 + stack3 + dense


def test_vertex_channels_split_and_remainder():
    # three vertices feed the output: 128 = 43 + 43 + 42; vertex 1 feeds only vertex 2
    matrix = np.array(
        [
            [0, 1, 0, 1, 0, 0],
            [0, 0, 1, 0, 0, 0],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 1, 1],
            [0, 0, 0, 0, 0, 1],
            [0, 0, 0, 0, 0, 0],
        ]
    )
    assert space.vertex_channels(128, 128, matrix) == [128, 43, 43, 43, 42, 128]


def test_count_params_is_the_same_for_every_order_of_a_cell(rng):
    cell = space.cell_at(10)
    n = cell.num_vertices
    for _ in range(20):
        order = [0, *rng.permutation(np.arange(1, n - 1)), n - 1]
        matrix = cell.matrix[np.ix_(order, order)]
        if not np.tril(matrix).any():
            assert space.count_params(Cell(matrix, [cell.ops[i] for i in order])) == space.count_params(cell)


def test_count_params_equals_the_table_for_every_row(table_columns):
    counted = np.array([space.count_params(cell) for cell in space.enumerate_cells()])
    assert np.array_equal(counted, table_columns["params"])
