"""Widen, deepen and rewire: the moves of a transformation search, as pure ``Cell -> Cell`` functions.

Three families, each with its reverse so that the moves connect the whole space:

- widen:  ``widen`` (maxpool3x3 -> conv1x1 -> conv3x3) and ``narrow`` (the reverse);
- deepen: ``deepen`` (insert a vertex on an edge) and ``remove_vertex`` (reconnect its neighbours);
- rewire: ``add_edge``, ``remove_edge``, ``move_edge`` (one endpoint moves).

Vertex numbers refer to the cell's own (pruned) matrix. Illegal moves raise
:class:`~netembed.errors.IllegalTransformError`, never return the cell unchanged.

>>> from netembed import Cell
>>> cell = Cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"])
>>> widen(cell, 1).ops[1]
'conv1x1-bn-relu'
>>> deepen(cell, 1, 2, "conv3x3-bn-relu").num_vertices
4
>>> sorted({n.action.kind for n in neighbors(cell)})
['add_edge', 'deepen', 'remove_vertex', 'widen']
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from netembed.errors import IllegalTransformError, InvalidCellError
from netembed.spaces.nb101.cell import MAX_EDGES, MAX_VERTICES, OPS, PADDING, Cell

__all__ = [
    "FAMILIES",
    "Action",
    "Neighbor",
    "Walk",
    "add_edge",
    "deepen",
    "greedy_walk",
    "move_edge",
    "narrow",
    "neighbors",
    "remove_edge",
    "remove_vertex",
    "widen",
]

#: Which family each kind of move belongs to.
FAMILIES = {
    "widen": "widen",
    "narrow": "widen",
    "deepen": "deepen",
    "remove_vertex": "deepen",
    "add_edge": "rewire",
    "remove_edge": "rewire",
    "move_edge": "rewire",
}
Edge = tuple[int, int]


def _interior(cell: Cell, vertex: int, move: str) -> None:
    if not 1 <= vertex < cell.num_vertices - 1:
        raise IllegalTransformError(f"{move}: vertex must be interior, in [1, {cell.num_vertices - 2}], got {vertex}")


def _result(move: str, matrix: np.ndarray, ops) -> Cell:
    """Build the child, turning 'not a valid cell' into 'illegal move' with the reason."""
    try:
        return Cell(matrix, ops)
    except InvalidCellError as exc:
        raise IllegalTransformError(f"{move}: the result is not a cell of the space ({exc})") from exc


def widen(cell: Cell, vertex: int) -> Cell:
    """Raise a vertex's capacity one step: maxpool3x3 -> conv1x1 -> conv3x3."""
    _interior(cell, vertex, "widen")
    code = OPS.index(cell.ops[vertex])
    if code == 0:
        raise IllegalTransformError(f"widen: vertex {vertex} is already {OPS[0]}, the widest op")
    return _result("widen", cell.matrix, _replace(cell.ops, vertex, OPS[code - 1]))


def narrow(cell: Cell, vertex: int) -> Cell:
    """Lower a vertex's capacity one step: conv3x3 -> conv1x1 -> maxpool3x3."""
    _interior(cell, vertex, "narrow")
    code = OPS.index(cell.ops[vertex])
    if code == len(OPS) - 1:
        raise IllegalTransformError(f"narrow: vertex {vertex} is already {OPS[-1]}, the narrowest op")
    return _result("narrow", cell.matrix, _replace(cell.ops, vertex, OPS[code + 1]))


def deepen(cell: Cell, src: int, dst: int, op: str = OPS[0]) -> Cell:
    """Insert a new vertex running ``op`` on the edge src -> dst (which becomes src -> new -> dst)."""
    _edge(cell, (src, dst), "deepen", present=True)
    if op not in OPS:
        raise IllegalTransformError(f"deepen: op must be one of {list(OPS)}, got {op!r}")
    n = cell.num_vertices
    # the new vertex takes index dst; dst and everything after it shift by one
    order = list(range(dst)) + [n] + list(range(dst, n))
    grown = np.zeros((n + 1, n + 1), dtype=np.int8)
    grown[:n, :n] = cell.matrix
    grown[src, dst] = 0
    grown[src, n] = grown[n, dst] = 1
    ops = cell.ops + (op,)
    return _result("deepen", grown[np.ix_(order, order)], [ops[i] for i in order])


def remove_vertex(cell: Cell, vertex: int) -> Cell:
    """Remove an interior vertex, connecting each of its predecessors to each of its successors."""
    _interior(cell, vertex, "remove_vertex")
    matrix = cell.matrix.copy()
    predecessors, successors = np.flatnonzero(matrix[:, vertex]), np.flatnonzero(matrix[vertex])
    matrix[np.ix_(predecessors, successors)] = 1
    keep = [v for v in range(cell.num_vertices) if v != vertex]
    return _result("remove_vertex", matrix[np.ix_(keep, keep)], [cell.ops[v] for v in keep])


def add_edge(cell: Cell, src: int, dst: int) -> Cell:
    """Add the edge src -> dst (src < dst, so the cell stays acyclic)."""
    _edge(cell, (src, dst), "add_edge", present=False)
    matrix = cell.matrix.copy()
    matrix[src, dst] = 1
    return _result("add_edge", matrix, cell.ops)


def remove_edge(cell: Cell, src: int, dst: int) -> Cell:
    """Remove the edge src -> dst; vertices left off every input->output path are pruned."""
    _edge(cell, (src, dst), "remove_edge", present=True)
    matrix = cell.matrix.copy()
    matrix[src, dst] = 0
    return _result("remove_edge", matrix, cell.ops)


def move_edge(cell: Cell, old: Edge, new: Edge) -> Cell:
    """Move one endpoint of edge ``old`` so that it becomes ``new`` (they share the other endpoint)."""
    _edge(cell, old, "move_edge", present=True)
    _edge(cell, new, "move_edge", present=False)
    if (old[0] == new[0]) == (old[1] == new[1]):
        raise IllegalTransformError(f"move_edge: old and new edge must share exactly one endpoint, got {old} and {new}")
    matrix = cell.matrix.copy()
    matrix[old] = 0
    matrix[new] = 1
    return _result("move_edge", matrix, cell.ops)


def _edge(cell: Cell, edge: Edge, move: str, present: bool) -> None:
    src, dst = edge
    n = cell.num_vertices
    if not (0 <= src < dst < n):
        raise IllegalTransformError(f"{move}: edge must satisfy 0 <= src < dst < {n}, got {edge}")
    if bool(cell.matrix[src, dst]) != present:
        state = "is not an edge" if present else "is already an edge"
        raise IllegalTransformError(f"{move}: {edge} {state} of the cell")


def _replace(ops: tuple[str, ...], vertex: int, op: str) -> list[str]:
    return [op if v == vertex else old for v, old in enumerate(ops)]


# -- actions and neighbours ---------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    """One move, with its arguments; ``action.apply(cell)`` performs it.

    >>> Action("deepen", edge=(0, 2), op="maxpool3x3")
    Action('deepen', edge=(0, 2), op='maxpool3x3')
    """

    kind: str
    vertex: int | None = None
    edge: Edge | None = None
    new_edge: Edge | None = None
    op: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAMILIES:
            raise IllegalTransformError(f"action kind must be one of {list(FAMILIES)}, got {self.kind!r}")

    @property
    def family(self) -> str:
        return FAMILIES[self.kind]

    def apply(self, cell: Cell) -> Cell:
        if self.kind in ("widen", "narrow", "remove_vertex"):
            return _MOVES[self.kind](cell, self.vertex)
        if self.kind == "deepen":
            return deepen(cell, *self.edge, self.op)
        if self.kind == "move_edge":
            return move_edge(cell, self.edge, self.new_edge)
        return _MOVES[self.kind](cell, *self.edge)

    def __repr__(self) -> str:
        fields = [
            f"{name}={value!r}"
            for name in ("vertex", "edge", "new_edge", "op")
            if (value := getattr(self, name)) is not None
        ]
        return f"Action({', '.join([repr(self.kind), *fields])})"


_MOVES: dict[str, Callable[..., Cell]] = {
    "widen": widen,
    "narrow": narrow,
    "remove_vertex": remove_vertex,
    "add_edge": add_edge,
    "remove_edge": remove_edge,
}


class Neighbor(NamedTuple):
    action: Action
    cell: Cell


def candidate_actions(cell: Cell) -> list[Action]:
    """Every move whose arguments fit the cell (some may still be illegal, e.g. too many edges)."""
    n = cell.num_vertices
    interior = range(1, n - 1)
    edges = [tuple(map(int, e)) for e in np.argwhere(cell.matrix)]
    non_edges = [(s, d) for s, d in itertools.combinations(range(n), 2) if not cell.matrix[s, d]]
    actions = [Action(kind, vertex=v) for kind in ("widen", "narrow", "remove_vertex") for v in interior]
    actions += [Action("deepen", edge=e, op=op) for e in edges for op in OPS]
    actions += [Action("add_edge", edge=e) for e in non_edges]
    actions += [Action("remove_edge", edge=e) for e in edges]
    actions += [
        Action("move_edge", edge=old, new_edge=new)
        for old in edges
        for new in non_edges
        if (old[0] == new[0]) != (old[1] == new[1])
    ]
    return actions


def neighbors(cell: Cell) -> list[Neighbor]:
    """Every distinct cell one move away, tagged with the first action (in a fixed order) reaching it.

    Deduplicated by hash; the cell itself is excluded; all results are valid cells of the space.
    """
    seen = {cell.hash}
    found = []
    for action in candidate_actions(cell):
        try:
            child = action.apply(cell)
        except IllegalTransformError:
            continue
        if child.hash not in seen:
            seen.add(child.hash)
            found.append(Neighbor(action, child))
    return found


# -- the same moves on batches of padded arrays (for walks over the whole space) ----------------

_V = MAX_VERTICES
_BLANK, _PAD = _V, _V + 1  # extra vertex slots: a fresh vertex, and an empty padding vertex


def batch_neighbors(adjacency: np.ndarray, ops: np.ndarray, num_vertices: np.ndarray):
    """All one-move children of a batch of padded cells, not deduplicated.

    Mirrors :func:`neighbors` on arrays (tests check that they agree), for walks over all
    423,624 cells where building ``Cell`` objects would take hours.

    Shapes:
        adjacency: (B, 7, 7) int8; ops: (B, 7) int8 table codes; num_vertices: (B,).
        returns: source (C,) batch row of each child, adjacency (C, 7, 7), ops (C, 7).
    """
    b = len(ops)
    n = num_vertices.astype(np.intp)
    ext_adj = np.zeros((b, _V + 2, _V + 2), dtype=np.int8)
    ext_adj[:, :_V, :_V] = adjacency
    ext_ops = np.full((b, _V + 2), PADDING, dtype=np.int8)
    ext_ops[:, :_V] = ops
    edges = adjacency.reshape(b, -1).sum(axis=1)
    positions = np.arange(_V)
    out_src, out_adj, out_ops = [], [], []

    def emit(rows, adj, op_codes, prune=False):
        if prune:
            rows, adj, op_codes = _batch_prune(rows, adj, op_codes)
        out_src.append(rows)
        out_adj.append(adj)
        out_ops.append(op_codes)

    # widen / narrow
    for v in range(1, _V - 1):
        for delta in (-1, 1):
            new_code = ops[:, v].astype(np.int16) + delta
            rows = np.flatnonzero((v < n - 1) & (new_code >= 0) & (new_code < len(OPS)))
            op_codes = ops[rows].copy()
            op_codes[:, v] = new_code[rows]
            emit(rows, adjacency[rows], op_codes)

    for s, d in itertools.combinations(range(_V), 2):
        present = adjacency[:, s, d] == 1
        # add_edge
        rows = np.flatnonzero(~present & (d < n) & (edges < MAX_EDGES))
        adj = adjacency[rows].copy()
        adj[:, s, d] = 1
        emit(rows, adj, ops[rows])
        # remove_edge
        rows = np.flatnonzero(present)
        adj = adjacency[rows].copy()
        adj[:, s, d] = 0
        emit(rows, adj, ops[rows], prune=True)
        # move_edge: keep one endpoint, move the other
        for s2, d2 in itertools.combinations(range(_V), 2):
            if (s2 == s) == (d2 == d):
                continue
            rows = np.flatnonzero(present & (d2 < n) & (adjacency[:, s2, d2] == 0))
            adj = adjacency[rows].copy()
            adj[:, s, d] = 0
            adj[:, s2, d2] = 1
            emit(rows, adj, ops[rows], prune=True)
        # deepen: the fresh vertex takes index d, later vertices shift up by one
        rows = np.flatnonzero(present & (n < _V) & (edges < MAX_EDGES))
        order = np.where(positions[None, :] < d, positions[None, :], positions[None, :] - 1)
        order[:, d] = _BLANK
        order = np.broadcast_to(order, (len(rows), _V)).copy()
        order[positions[None, :] > n[rows, None]] = _PAD
        grown = ext_adj[rows].copy()
        grown[:, s, d] = 0
        grown[:, s, _BLANK] = grown[:, _BLANK, d] = 1
        adj = _gather(grown, order)
        for code in range(len(OPS)):
            op_codes = ext_ops[rows].copy()
            op_codes[:, _BLANK] = code
            emit(rows, adj, np.take_along_axis(op_codes, order, axis=1))

    # remove_vertex: predecessors x successors, then drop the vertex
    for v in range(1, _V - 1):
        rows = np.flatnonzero(v < n - 1)
        adj = ext_adj[rows].copy()
        adj |= adj[:, :, v, None] & adj[:, None, v, :]
        order = np.where(positions < v, positions, positions + 1)[None, :].repeat(len(rows), axis=0)
        order[positions[None, :] >= n[rows, None] - 1] = _PAD
        adj = _gather(adj, order)
        rows_ok = adj.reshape(len(rows), -1).sum(axis=1) <= MAX_EDGES
        op_codes = np.take_along_axis(ext_ops[rows], order, axis=1)
        emit(rows[rows_ok], adj[rows_ok], op_codes[rows_ok])

    return np.concatenate(out_src), np.concatenate(out_adj), np.concatenate(out_ops)


def _gather(adjacency: np.ndarray, order: np.ndarray) -> np.ndarray:
    """adjacency'[b, i, j] = adjacency[b, order[b, i], order[b, j]]."""
    rows = np.arange(len(order))[:, None, None]
    return adjacency[rows, order[:, :, None], order[:, None, :]].astype(np.int8)


def _batch_prune(rows: np.ndarray, adjacency: np.ndarray, ops: np.ndarray):
    """Vectorised NAS-Bench-101 pruning; drops children whose input no longer reaches the output."""
    valid = ops != PADDING
    n = valid.sum(axis=1)
    is_output = ops == -2
    connected = adjacency == 1
    from_input = np.zeros(ops.shape, dtype=bool)
    from_input[:, 0] = True
    for v in range(1, _V):
        from_input[:, v] = (from_input[:, :v] & connected[:, :v, v]).any(axis=1)
    to_output = is_output.copy()
    for v in range(_V - 2, -1, -1):
        to_output[:, v] |= (connected[:, v, v + 1 :] & to_output[:, v + 1 :]).any(axis=1)
    keep = from_input & to_output & valid
    alive = (from_input & is_output).any(axis=1)
    rows, adjacency, ops, keep, n = rows[alive], adjacency[alive], ops[alive], keep[alive], n[alive]
    # kept vertices first, in order; the rest become padding
    order = np.argsort(~keep, axis=1, kind="stable")
    order[~np.take_along_axis(keep, order, axis=1)] = _PAD
    ext_adj = np.zeros((len(rows), _V + 2, _V + 2), dtype=np.int8)
    ext_adj[:, :_V, :_V] = adjacency * keep[:, :, None] * keep[:, None, :]
    ext_ops = np.full((len(rows), _V + 2), PADDING, dtype=np.int8)
    ext_ops[:, :_V] = ops
    return rows, _gather(ext_adj, order), np.take_along_axis(ext_ops, order, axis=1)


def move_graph(progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The whole space as a graph whose edges are single moves, in CSR form (indptr, indices).

    Row ``i`` is row ``i`` of :func:`netembed.spaces.nb101.space.space_arrays`; each row's neighbours are
    distinct and exclude itself. Built once (about 90 s on 2 cores), then read from the cache.
    """
    from netembed.spaces.nb101 import space

    def build() -> dict[str, np.ndarray]:
        indptr, indices = build_move_graph(space.space_arrays(), progress=progress)
        return {"indptr": indptr, "indices": indices}

    graph = space.cached(f"moves-v{_MOVES_VERSION}.npz", build, "the move graph")
    return graph["indptr"], graph["indices"]


_MOVES_VERSION = 1  # bump when the moves change


def build_move_graph(arrays, chunk: int = 10_000, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """:func:`move_graph` computed from scratch for the cells in ``arrays`` (a ``SpaceArrays``)."""
    from tqdm.auto import tqdm

    from netembed._fingerprint import fingerprint

    pairs = []
    for start in tqdm(range(0, len(arrays), chunk), desc="moves", unit_scale=chunk, disable=not progress):
        stop = min(start + chunk, len(arrays))
        source, adjacency, ops = batch_neighbors(
            arrays.adjacency[start:stop], arrays.ops[start:stop], arrays.num_vertices[start:stop]
        )
        target = arrays.rows_of_fingerprints(fingerprint(adjacency, ops))
        source = source + start
        keep = source != target
        pairs.append(np.unique(source[keep].astype(np.int64) * len(arrays) + target[keep]))
    key = np.concatenate(pairs)
    source, target = np.divmod(key, len(arrays))
    indptr = np.searchsorted(source, np.arange(len(arrays) + 1))
    return indptr, target.astype(np.int32)


def reverse_graph(graph: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The same graph with every edge turned around (CSR)."""
    indptr, indices = graph
    source = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    order = np.lexsort((source, indices))
    return np.searchsorted(indices[order], np.arange(len(indptr))), source[order].astype(np.int32)


def bfs_levels(graph: tuple[np.ndarray, np.ndarray], start: int) -> list[np.ndarray]:
    """Breadth-first levels from ``start``: ``levels[d]`` holds the rows at distance d."""
    indptr, indices = graph
    seen = np.zeros(len(indptr) - 1, dtype=bool)
    seen[start] = True
    levels = [np.array([start])]
    while True:
        frontier = levels[-1]
        lengths = indptr[frontier + 1] - indptr[frontier]
        offsets = np.repeat(indptr[frontier] - np.cumsum(lengths) + lengths, lengths)
        reached = np.unique(indices[offsets + np.arange(lengths.sum())])
        reached = reached[~seen[reached]]
        if len(reached) == 0:
            return levels
        seen[reached] = True
        levels.append(reached)


@dataclass(frozen=True)
class Walk:
    """A greedy walk: the cells visited (start first), the moves between them and their scores."""

    cells: list[Cell]
    actions: list[Action]
    scores: list[float]
    scored_by: str
    stopped_early: bool  # a local optimum before the last step

    def to_dict(self) -> dict:
        return {
            "cells": [cell.to_dict() for cell in self.cells], "moves": [repr(action) for action in self.actions],
            "scores": [float(score) for score in self.scores], "scored_by": self.scored_by,
            "stopped_early": self.stopped_early,
        }  # fmt: skip

    def text(self, seed: int) -> str:
        """What ``netembed demo`` prints of the walk from ``seed``'s cell: a line per step, then
        the last cell's JSON."""
        lines = [
            f"greedy walk over widen/deepen/rewire moves, scored by {self.scored_by}, seed {seed}",
            f"start  {self.cells[0].hash}  score {self.scores[0]:.4f}",
        ]
        for step, (action, cell, score) in enumerate(zip(self.actions, self.cells[1:], self.scores[1:]), 1):
            lines.append(f"step {step:<2} {action!r:<60} {cell.hash}  score {score:.4f}")
        if self.stopped_early:
            lines.append(f"local optimum after {len(self.actions)} moves")
        return "\n".join([*lines, json.dumps(self.cells[-1].to_dict())])


def greedy_walk(seed: int = 0, steps: int = 10, data=None) -> tuple[dict, str]:
    """``netembed demo``: from a random cell, take the best single move while it improves the
    score: the test accuracy of the table at ``data`` (found as ``load_table`` finds it), or
    without a table the fewest parameters. Returns the walk (JSON-ready) and ``Walk.text``."""
    from netembed.spaces.nb101 import space
    from netembed.spaces.nb101.table import load_table

    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise IllegalTransformError(f"--steps must be a whole number >= 0, got {steps!r}")
    bench = load_table(data)
    cell = space.random_cell(np.random.default_rng(seed))
    score = (lambda c: bench.query(c).test_acc_108) if bench else (lambda c: -space.count_params(c))
    walk = Walk(
        [cell], [], [score(cell)], "table test accuracy" if bench else "fewest parameters (no table found)", False
    )
    for _ in range(steps):
        action, best = max(neighbors(cell), key=lambda m: score(m.cell))
        if score(best) <= score(cell):
            walk = dataclasses.replace(walk, stopped_early=True)
            break
        cell = best
        walk.cells.append(cell)
        walk.actions.append(action)
        walk.scores.append(score(cell))
    return walk.to_dict(), walk.text(seed)
