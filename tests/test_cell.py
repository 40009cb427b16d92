import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from netembed import Cell, InvalidCellError, NetembedError, OutOfSpaceError
from netembed.spaces.nb101.cell import FLAT_LENGTH, OPS, nasbench_hash

from .strategies import cells, raw_graphs

C3, C1, MP = OPS
DIAMOND = ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", C3, MP, "output"])


def permute(matrix, ops, order):
    matrix = np.asarray(matrix)
    return matrix[np.ix_(order, order)], [ops[i] for i in order]


# -- validation: one test per rule ------------------------------------------------------------


@pytest.mark.parametrize(
    "matrix, ops, message",
    [
        ([[[0]]], ["input"], "matrix must be 2-D, got shape (1, 1, 1)"),
        ([[0, 1, 0], [0, 0, 1]], ["input", C3, "output"], "matrix must be square, got shape (2, 3)"),
        ([[0, 1], [0, 0]], ["input", C3, "output"], "one entry per vertex: matrix is 2x2, got 3 ops"),
        ([[0]], ["input"], "at least 2 vertices (input and output), got 1"),
        ([[0, 2], [0, 0]], ["input", "output"], "entries must be 0 or 1, got 2 at (0, 1)"),
        ([[0, 0.5], [0, 0]], ["input", "output"], "entries must be 0 or 1, got dtype float64"),
        ([[1, 1], [0, 0]], ["input", "output"], "strictly upper-triangular"),
        ([[0, 1, 0], [0, 0, 1], [1, 0, 0]], ["input", C3, "output"], "got an edge at (2, 0)"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"], "ops[1] must be one of"),
        ([[0, 1], [0, 0]], ["output", "output"], "ops[0] must be 'input', got 'output'"),
        ([[0, 1], [0, 0]], ["input", C3], "ops[-1] must be 'output', got 'conv3x3-bn-relu'"),
        (
            [[0, 1, 0], [0, 0, 1], [0, 0, 0]],
            ["input", "input", "output"],
            "'input' may only be at the first vertex, got it at 1",
        ),
        ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", C3, "output"], "input must be connected to output"),
        ("not a matrix", ["input", "output"], "matrix must be 2-D"),
        ([[0, 1], [0]], ["input", "output"], "matrix must be a 2-D array of 0/1"),
        ([[0, 1], [0, 0]], "input,output", "ops must be a sequence of op names"),
        ([[0, 1], [0, 0]], [[], "output"], "ops[0] must be one of ['input', 'output', "),  # was a TypeError
    ],
)
def test_invalid_cells_name_the_rule_and_the_value(matrix, ops, message):
    with pytest.raises(InvalidCellError) as info:
        Cell(matrix, ops)
    assert message in str(info.value)
    assert isinstance(info.value, (ValueError, NetembedError))


def test_more_than_seven_vertices_after_pruning_is_out_of_space():
    n = 8
    chain = np.eye(n, k=1, dtype=int)
    with pytest.raises(OutOfSpaceError, match="at most 7 vertices after pruning, got 8"):
        Cell(chain, ["input", *[C3] * (n - 2), "output"])


def test_more_than_nine_edges_is_out_of_space():
    full = np.triu(np.ones((5, 5), dtype=int), 1)  # 10 edges
    with pytest.raises(OutOfSpaceError, match="at most 9 edges after pruning, got 10"):
        Cell(full, ["input", C3, C3, C3, "output"])


def test_pruning_removes_vertices_off_every_path_and_can_bring_a_graph_into_the_space():
    # vertex 2 is a dead end, vertex 3 has no input: both go, as in NAS-Bench-101's ModelSpec
    matrix = [[0, 1, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    cell = Cell(matrix, ["input", C3, MP, C1, "output"])
    assert cell.matrix.tolist() == [[0, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert cell.ops == ("input", C3, "output")
    # eight vertices with one unreachable: 7 after pruning, inside the space
    chain = np.eye(8, k=1, dtype=int)
    chain[0, 1], chain[0, 2] = 0, 1
    assert Cell(chain, ["input", *[C3] * 6, "output"]).num_vertices == 7


def test_matrix_is_read_only_and_a_copy():
    source = np.array(DIAMOND[0])
    cell = Cell(source, DIAMOND[1])
    source[0, 1] = 0
    assert cell.matrix[0, 1] == 1
    with pytest.raises(ValueError):
        cell.matrix[0, 1] = 0


# -- identity ---------------------------------------------------------------------------------


def test_isomorphic_cells_are_equal_and_hash_alike():
    a = Cell(*DIAMOND)
    b = Cell(*permute(*DIAMOND, [0, 2, 1, 3]))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Cell(DIAMOND[0], ["input", C3, C3, "output"])
    assert a.__eq__("not a cell") is NotImplemented


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(cells, st.randoms(use_true_random=False))
def test_hash_is_invariant_under_every_vertex_permutation(cell, random):
    n = cell.num_vertices
    interior = list(range(1, n - 1))
    random.shuffle(interior)
    matrix, ops = permute(cell.matrix, list(cell.ops), [0, *interior, n - 1])
    # any order keeping input first and output last, topological or not
    labels = [{"input": -1, "output": -2}.get(op, OPS.index(op) if op in OPS else None) for op in ops]
    assert nasbench_hash(matrix, labels) == cell.hash
    if not np.tril(matrix).any():  # a valid Cell in that order too
        assert Cell(matrix, ops) == cell
        assert Cell(matrix, ops).canonical().matrix.tolist() == cell.canonical().matrix.tolist()


def test_hash_of_the_smallest_cell_matches_the_table(table):
    cell = Cell([[0, 1], [0, 0]], ["input", "output"])
    assert cell.hash in table


def test_hash_matches_the_table_through_the_constructor(table, rng):
    rows = rng.choice(len(table), 3000, replace=False)
    for row in rows:
        cell = Cell.from_arrays(table.adjacency[row], table.ops[row])
        assert cell.hash == table.hashes[row]


# -- conversions ------------------------------------------------------------------------------


@settings(max_examples=100)
@given(cells)
def test_array_and_flat_round_trips(cell):
    adjacency, ops = cell.to_arrays()
    assert adjacency.shape == (7, 7) and ops.shape == (7,) and adjacency.dtype == ops.dtype == np.int8
    assert Cell.from_arrays(adjacency, ops) == cell
    flat = cell.to_flat()
    assert flat.shape == (FLAT_LENGTH,) == (26,)
    assert set(np.unique(flat[:21])) <= {0, 1} and set(np.unique(flat[21:])) <= {0, 1, 2}
    assert Cell.from_flat(flat) == cell


@settings(max_examples=100)
@given(cells, st.randoms(use_true_random=False))
def test_flat_encoding_is_canonical(cell, random):
    n = cell.num_vertices
    interior = list(range(1, n - 1))
    random.shuffle(interior)
    matrix, ops = permute(cell.matrix, list(cell.ops), [0, *interior, n - 1])
    assume(not np.tril(matrix).any())
    assert np.array_equal(Cell(matrix, ops).to_flat(), cell.to_flat())


def test_canonical_order_is_nasbench_order(table, rng):
    """Relabelled cells come back to exactly the table's (official) matrix and ops."""
    for row in rng.choice(len(table), 500, replace=False):
        cell = table.cell(row)
        n = cell.num_vertices
        for _ in range(3):
            order = [0, *rng.permutation(np.arange(1, n - 1)), n - 1]
            matrix, ops = permute(cell.matrix, list(cell.ops), order)
            if np.tril(matrix).any():
                continue
            adjacency, codes = Cell(matrix, ops).canonical().to_arrays()
            assert np.array_equal(adjacency, table.adjacency[row]) and np.array_equal(codes, table.ops[row])


@pytest.mark.parametrize(
    "adjacency, ops, message",
    [
        (np.zeros((7, 7)), [-1, -2, -3, 0, -3, -3, -3], "padding (-3) must only trail"),
        (np.zeros((7, 7)), [-1, 7, -2, -3, -3, -3, -3], "op codes must be in"),
        (np.zeros((2, 2)), [-1, 0, -2], "adjacency must be at least 3x3"),
        (np.pad([[0, 1], [0, 0]], ((0, 5), (0, 5))) + np.eye(7, k=3), [-1, -2, -3, -3, -3, -3, -3], "zero in padding"),
    ],
)
def test_from_arrays_errors(adjacency, ops, message):
    with pytest.raises(InvalidCellError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Cell.from_arrays(adjacency, np.array(ops))


@pytest.mark.parametrize(
    "flat, message",
    [
        (np.zeros(25), r"shape \(26,\), got \(25,\)"),
        (np.r_[np.zeros(21), [0, 0, 3, 0, 0]], "op choices must be 0, 1 or 2, got 3"),
    ],
)
def test_from_flat_errors(flat, message):
    with pytest.raises(InvalidCellError, match=message):
        Cell.from_flat(flat)


def test_from_flat_rejects_a_disconnected_encoding():
    with pytest.raises(InvalidCellError, match="input must be connected to output"):
        Cell.from_flat(np.zeros(26, dtype=int))


@settings(max_examples=300)
@given(raw_graphs())
def test_any_graph_either_builds_a_pruned_cell_in_the_space_or_raises(graph):
    matrix, ops = graph
    try:
        cell = Cell(matrix, ops)
    except InvalidCellError:
        return
    assert 2 <= cell.num_vertices <= 7 and cell.num_edges <= 9
    rebuilt = Cell(cell.matrix, cell.ops)  # pruning is idempotent
    assert rebuilt.matrix.tolist() == cell.matrix.tolist() and rebuilt == cell
