import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from netembed import Cell, IllegalTransformError
from netembed._fingerprint import fingerprint
from netembed.spaces.nb101 import space, transforms
from netembed.spaces.nb101.cell import OPS
from netembed.spaces.nb101.transforms import Action

from .strategies import cells

C3, C1, MP = OPS
CHAIN = Cell([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", MP, C1, "output"])


def test_widen_and_narrow_step_through_the_ops():
    assert transforms.widen(CHAIN, 1).ops == ("input", C1, C1, "output")
    assert transforms.widen(CHAIN, 2).ops == ("input", MP, C3, "output")
    assert transforms.narrow(CHAIN, 2).ops == ("input", MP, MP, "output")
    assert transforms.narrow(transforms.widen(CHAIN, 1), 1) == CHAIN


def test_deepen_inserts_a_vertex_on_the_edge_and_remove_vertex_undoes_it():
    deeper = transforms.deepen(CHAIN, 1, 2, C3)
    assert deeper.ops == ("input", MP, C3, C1, "output")
    assert deeper.matrix[1, 2] == 1 and deeper.matrix[2, 3] == 1 and deeper.matrix[1, 3] == 0
    assert transforms.remove_vertex(deeper, 2) == CHAIN


def test_remove_vertex_connects_predecessors_to_successors():
    diamond = Cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", C3, MP, "output"])
    assert transforms.remove_vertex(diamond, 1) == Cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", MP, "output"])


def test_rewire_adds_removes_and_moves_one_edge():
    added = transforms.add_edge(CHAIN, 0, 3)
    assert added.num_edges == 4
    assert transforms.remove_edge(added, 0, 3) == CHAIN
    moved = transforms.move_edge(added, (0, 3), (0, 2))
    assert moved.matrix[0, 2] == 1 and moved.matrix[0, 3] == 0
    # removing the only edge into vertex 2 prunes it: vertices off every path go
    assert transforms.remove_edge(transforms.add_edge(CHAIN, 1, 3), 1, 2).num_vertices == 3


@pytest.mark.parametrize(
    "move, message",
    [
        (lambda: transforms.widen(CHAIN, 0), r"widen: vertex must be interior, in \[1, 2\], got 0"),
        (lambda: transforms.widen(CHAIN, 3), "got 3"),
        (lambda: transforms.widen(transforms.widen(CHAIN, 2), 2), "already conv3x3-bn-relu, the widest op"),
        (lambda: transforms.narrow(CHAIN, 1), "already maxpool3x3, the narrowest op"),
        (lambda: transforms.narrow(CHAIN, 5), "narrow: vertex must be interior"),
        (lambda: transforms.deepen(CHAIN, 0, 2, C3), r"deepen: \(0, 2\) is not an edge"),
        (lambda: transforms.deepen(CHAIN, 0, 1, "conv5x5"), "op must be one of"),
        (lambda: transforms.deepen(CHAIN, 2, 1, C3), r"0 <= src < dst < 4, got \(2, 1\)"),
        (lambda: transforms.remove_vertex(CHAIN, 0), "remove_vertex: vertex must be interior"),
        (lambda: transforms.add_edge(CHAIN, 0, 1), r"add_edge: \(0, 1\) is already an edge"),
        (lambda: transforms.add_edge(CHAIN, 0, 9), "0 <= src < dst < 4"),
        (lambda: transforms.remove_edge(CHAIN, 0, 2), "is not an edge"),
        (lambda: transforms.remove_edge(CHAIN, 0, 1), "not a cell of the space .*input must be connected"),
        (lambda: transforms.move_edge(CHAIN, (0, 1), (1, 3)), "share exactly one endpoint"),
        (lambda: transforms.move_edge(CHAIN, (0, 2), (0, 3)), r"\(0, 2\) is not an edge"),
        (lambda: Action("mutate"), "action kind must be one of"),
    ],
)
def test_illegal_moves_raise_with_the_reason(move, message):
    with pytest.raises(IllegalTransformError, match=message):
        move()


def test_moves_that_leave_the_space_are_illegal():
    full = Cell(
        np.triu(np.ones((5, 5), dtype=int), 1) - np.eye(5, k=4, dtype=int),  # 9 edges
        ["input", C3, C3, C3, "output"],
    )
    with pytest.raises(IllegalTransformError, match="at most 9 edges"):
        transforms.add_edge(full, 0, 4)
    with pytest.raises(IllegalTransformError, match="at most 9 edges"):
        transforms.deepen(full, 0, 1)
    seven = Cell(np.eye(7, k=1, dtype=int), ["input", *[C3] * 5, "output"])
    with pytest.raises(IllegalTransformError, match="at most 7 vertices"):
        transforms.deepen(seven, 0, 1)


def test_action_apply_matches_the_functions_and_repr_is_readable():
    assert Action("widen", vertex=1).apply(CHAIN) == transforms.widen(CHAIN, 1)
    assert Action("deepen", edge=(1, 2), op=MP).apply(CHAIN) == transforms.deepen(CHAIN, 1, 2, MP)
    assert Action("move_edge", edge=(0, 1), new_edge=(0, 2)).apply(CHAIN) == transforms.move_edge(CHAIN, (0, 1), (0, 2))
    assert Action("add_edge", edge=(0, 3)).family == "rewire"
    assert repr(Action("deepen", edge=(0, 2), op=MP)) == "Action('deepen', edge=(0, 2), op='maxpool3x3')"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells)
def test_neighbors_are_distinct_valid_cells_one_move_away(cell):
    found = transforms.neighbors(cell)
    hashes = [n.cell.hash for n in found]
    assert len(set(hashes)) == len(hashes) and cell.hash not in hashes
    for action, child in found:
        assert action.apply(cell) == child
        assert child.num_vertices <= 7 and child.num_edges <= 9
        space.index_of(child)  # inside the space
    assert {n.action.family for n in found} <= {"widen", "deepen", "rewire"}


def test_batch_moves_agree_with_neighbors(arrays, rng):
    """The vectorised moves used for whole-space walks reach exactly the same cells."""
    rows = rng.choice(len(arrays), 400, replace=False)
    source, adjacency, ops = transforms.batch_neighbors(
        arrays.adjacency[rows], arrays.ops[rows], arrays.num_vertices[rows]
    )
    targets = arrays.rows_of_fingerprints(fingerprint(adjacency, ops))
    for k, row in enumerate(rows):
        expected = {space.index_of(n.cell) for n in transforms.neighbors(space.cell_at(int(row)))}
        assert set(targets[source == k].tolist()) - {row} == expected


def test_the_moves_connect_the_whole_space(arrays):
    graph = transforms.build_move_graph(arrays)
    indptr, _indices = graph
    assert len(indptr) == len(arrays) + 1
    start = int(np.argmax(arrays.num_vertices == 2))
    # some moves cannot be undone in one move (a removal that prunes), so the graph is directed:
    # reaching every cell from one cell and that cell from every cell makes it strongly connected
    for direction in (graph, transforms.reverse_graph(graph)):
        levels = transforms.bfs_levels(direction, start=start)
        assert sum(len(level) for level in levels) == len(arrays)
        assert len(np.unique(np.concatenate(levels))) == len(arrays)


def test_bfs_levels_on_a_small_directed_graph():
    # 0 -> 1 -> 2 -> 3 and 0 -> 2; 3 -> 0 closes the cycle
    indptr, indices = np.array([0, 2, 3, 4, 5]), np.array([1, 2, 2, 3, 0])
    levels = transforms.bfs_levels((indptr, indices), start=0)
    assert [level.tolist() for level in levels] == [[0], [1, 2], [3]]
    reverse = transforms.reverse_graph((indptr, indices))
    assert [level.tolist() for level in transforms.bfs_levels(reverse, start=0)] == [[0], [3], [2], [1]]
