"""The one cell type of netembed: a NAS-Bench-101 cell (module), validated and pruned.

Imports numpy only.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np

from netembed.errors import InvalidCellError, OutOfSpaceError

__all__ = [
    "FLAT_NAMES",
    "INPUT",
    "MAX_EDGES",
    "MAX_VERTICES",
    "OPS",
    "OP_CODES",
    "OUTPUT",
    "Cell",
    "nasbench_hash",
    "stack_arrays",
]

INPUT = "input"
OUTPUT = "output"
#: Interior operations; the position is the op's code in the table's ``ops`` arrays.
OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
#: Codes of the table's int8 ``ops`` arrays (padding vertices are -3).
OP_CODES = {INPUT: -1, OUTPUT: -2, **{op: code for code, op in enumerate(OPS)}}
PADDING = -3
MAX_VERTICES = 7
MAX_EDGES = 9
#: Length of the flat encoding: 21 upper-triangular edge bits of a 7x7 matrix + 5 interior ops.
FLAT_LENGTH = MAX_VERTICES * (MAX_VERTICES - 1) // 2 + MAX_VERTICES - 2
#: Names of the flat encoding's entries, as Optuna params (the tpe baseline, a shared study's
#: trials): edge bits e0..e20 (the upper triangle row by row: e0 is 0->1, e5 0->6, e6 1->2, ...,
#: e20 5->6), then op0..op4 (the ops of vertices 1..5).
FLAT_NAMES = tuple(f"e{k}" for k in range(FLAT_LENGTH - MAX_VERTICES + 2)) + tuple(
    f"op{k}" for k in range(MAX_VERTICES - 2)
)

_CODE_TO_OP = {code: op for op, code in OP_CODES.items()}
_TRIU = np.triu_indices(MAX_VERTICES, 1)


class Cell:
    """A NAS-Bench-101 cell: a DAG of at most 7 vertices and 9 edges with one op per vertex.

    Vertex 0 is the input, the last vertex the output. The matrix is pruned at
    construction exactly as NAS-Bench-101 does (vertices not on an input->output
    path are removed); the pruned cell is the canonical one. Isomorphic cells are
    equal and share the official NAS-Bench-101 hash.

    >>> cell = Cell([[0, 1, 1, 0],
    ...              [0, 0, 0, 1],
    ...              [0, 0, 0, 1],
    ...              [0, 0, 0, 0]],
    ...             ["input", "conv3x3-bn-relu", "maxpool3x3", "output"])
    >>> cell.num_vertices, cell.num_edges
    (4, 4)
    >>> swapped = Cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]],
    ...                ["input", "maxpool3x3", "conv3x3-bn-relu", "output"])
    >>> swapped == cell, swapped.hash == cell.hash
    (True, True)
    >>> Cell([[0, 1], [0, 0]], ["input", "conv3x3-bn-relu"])
    Traceback (most recent call last):
    ...
    netembed.errors.InvalidCellError: ops[-1] must be 'output', got 'conv3x3-bn-relu'
    """

    __slots__ = ("_hash", "matrix", "ops")

    def __init__(self, matrix: Sequence[Sequence[int]] | np.ndarray, ops: Sequence[str]):
        matrix, ops = _validate(matrix, ops)
        matrix, ops = _prune(matrix, ops)
        if len(ops) > MAX_VERTICES:
            raise OutOfSpaceError(f"cell must have at most {MAX_VERTICES} vertices after pruning, got {len(ops)}")
        edges = int(matrix.sum())
        if edges > MAX_EDGES:
            raise OutOfSpaceError(f"cell must have at most {MAX_EDGES} edges after pruning, got {edges}")
        matrix.setflags(write=False)
        self.matrix: np.ndarray = matrix
        self.ops: tuple[str, ...] = ops
        self._hash: str | None = None

    # -- identity -------------------------------------------------------------------------

    @property
    def hash(self) -> str:
        """The official NAS-Bench-101 module hash (32 hex digits)."""
        if self._hash is None:
            self._hash = nasbench_hash(self.matrix, self.labels)
        return self._hash

    @property
    def labels(self) -> list[int]:
        """Op codes per vertex, as in the table (-1 input, -2 output, 0..2 interior ops)."""
        return [OP_CODES[op] for op in self.ops]

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return int(self.matrix.sum())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cell):
            return NotImplemented
        return self.hash == other.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return f"Cell(matrix={self.matrix.tolist()}, ops={list(self.ops)})"

    # -- conversions ----------------------------------------------------------------------

    @classmethod
    def from_arrays(cls, adjacency: np.ndarray, ops: np.ndarray) -> Cell:
        """Build from the table's int8 arrays: a 7x7 zero-padded matrix and op codes (-3 = padding)."""
        codes = np.asarray(ops).tolist()
        if PADDING in codes:
            n = codes.index(PADDING)
            if any(code != PADDING for code in codes[n:]):
                raise InvalidCellError(f"padding (-3) must only trail the op codes, got {codes}")
        else:
            n = len(codes)
        unknown = [code for code in codes[:n] if code not in _CODE_TO_OP]
        if unknown:
            raise InvalidCellError(f"op codes must be in {sorted(_CODE_TO_OP)}, got {unknown[0]}")
        adjacency = np.asarray(adjacency)
        if adjacency.ndim != 2 or adjacency.shape[0] < n or adjacency.shape[1] < n:
            raise InvalidCellError(f"adjacency must be at least {n}x{n}, got shape {adjacency.shape}")
        if adjacency[n:].any() or adjacency[:, n:].any():
            raise InvalidCellError("adjacency must be zero in padding rows and columns")
        return cls(adjacency[:n, :n], [_CODE_TO_OP[code] for code in codes[:n]])

    def to_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The table's representation: (7x7 int8 adjacency, 7 int8 op codes padded with -3)."""
        n = self.num_vertices
        adjacency = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int8)
        adjacency[:n, :n] = self.matrix
        codes = np.full(MAX_VERTICES, PADDING, dtype=np.int8)
        codes[:n] = self.labels
        return adjacency, codes

    def canonical(self) -> Cell:
        """This cell in NAS-Bench-101's own vertex order: equal cells give identical arrays.

        The order matters beyond identity: the channel split of NAS-Bench-101 gives the
        remainder channels to the first vertices feeding the output, so parameter counts
        are those of this order.
        """
        matrix, labels = _canonical_form(self.matrix, tuple(self.labels))
        cell = Cell.__new__(Cell)
        matrix.setflags(write=False)
        cell.matrix, cell.ops, cell._hash = matrix, tuple(_CODE_TO_OP[c] for c in labels), self._hash
        return cell

    def to_dict(self) -> dict:
        """The JSON form netembed reads and writes, with the official hash:
        ``{"hash": ..., "matrix": [[...]], "ops": [...]}``."""
        return {"hash": self.hash, "matrix": self.matrix.tolist(), "ops": list(self.ops)}

    def to_flat(self) -> np.ndarray:
        """Canonical flat encoding: 21 upper-triangular edge bits of a 7x7 matrix, then 5 op choices.

        Cells with fewer than 7 vertices put their output at vertex 6 and fill the
        unused interior vertices with unconnected conv3x3 (which pruning removes), so
        ``Cell.from_flat(cell.to_flat()) == cell`` and equal cells encode identically.
        """
        canon = self.canonical()
        n = canon.num_vertices
        order = list(range(n - 1)) + [MAX_VERTICES - 1]  # where each vertex lands in the 7x7 layout
        padded = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int8)
        padded[np.ix_(order, order)] = canon.matrix
        ops = np.zeros(MAX_VERTICES - 2, dtype=np.int8)
        ops[: n - 2] = canon.labels[1:-1]
        return np.concatenate([padded[_TRIU], ops])

    @classmethod
    def from_flat(cls, flat: Sequence[int] | np.ndarray) -> Cell:
        """Inverse of :meth:`to_flat`; any 26-vector of valid bits/choices whose input reaches its output."""
        flat = np.asarray(flat)
        if flat.shape != (FLAT_LENGTH,):
            raise InvalidCellError(f"flat encoding must have shape ({FLAT_LENGTH},), got {flat.shape}")
        bad_ops = [int(v) for v in flat[-5:] if v not in (0, 1, 2)]
        if bad_ops:
            raise InvalidCellError(f"flat op choices must be 0, 1 or 2, got {bad_ops[0]}")
        matrix = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int64)
        matrix[_TRIU] = flat[:-5]
        ops = [INPUT] + [OPS[int(v)] for v in flat[-5:]] + [OUTPUT]
        return cls(matrix, ops)


# -- validation and pruning -------------------------------------------------------------------


def stack_arrays(cells: Sequence[Cell], canonical: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Cells as the table's arrays: (B, 7, 7) int8 adjacency and (B, 7) int8 op codes (padding -3),
    each in its canonical vertex order with ``canonical=True``."""
    adjacency = np.zeros((len(cells), MAX_VERTICES, MAX_VERTICES), dtype=np.int8)
    ops = np.full((len(cells), MAX_VERTICES), PADDING, dtype=np.int8)
    for k, cell in enumerate(cells):
        adjacency[k], ops[k] = (cell.canonical() if canonical else cell).to_arrays()
    return adjacency, ops


def _validate(matrix, ops) -> tuple[np.ndarray, tuple[str, ...]]:
    # The rules run in this order: the first broken one is the one reported.
    array = _square_array(matrix)
    n = array.shape[0]
    ops = _op_tuple(ops, n)
    if n < 2:
        raise InvalidCellError(f"cell must have at least 2 vertices (input and output), got {n}")
    _check_edges(array)
    _check_ops(ops)
    return array.astype(np.int8), ops


def _square_array(matrix) -> np.ndarray:
    try:
        array = np.asarray(matrix)
    except (TypeError, ValueError) as exc:
        raise InvalidCellError(f"matrix must be a 2-D array of 0/1, got {matrix!r}") from exc
    if array.ndim != 2:
        raise InvalidCellError(f"matrix must be 2-D, got shape {array.shape}")
    if array.shape[0] != array.shape[1]:
        raise InvalidCellError(f"matrix must be square, got shape {array.shape}")
    return array


def _op_tuple(ops, n: int) -> tuple:
    """``ops`` as a tuple of one entry per vertex of an ``n``-vertex cell (the names unchecked)."""
    if isinstance(ops, str) or not isinstance(ops, Iterable):
        raise InvalidCellError(f"ops must be a sequence of op names, got {ops!r}")
    ops = tuple(ops)
    if len(ops) != n:
        raise InvalidCellError(f"ops must have one entry per vertex: matrix is {n}x{n}, got {len(ops)} ops")
    return ops


def _check_edges(array: np.ndarray) -> None:
    """0/1 entries (integers, or floats that are all 0 or 1), strictly upper-triangular."""
    if array.dtype.kind not in "biu" and not (array.dtype.kind == "f" and np.all(np.isin(array, (0, 1)))):
        raise InvalidCellError(f"matrix entries must be 0 or 1, got dtype {array.dtype}")
    bad = np.argwhere((array != 0) & (array != 1))
    if len(bad):
        i, j = bad[0]
        raise InvalidCellError(f"matrix entries must be 0 or 1, got {array[i, j]} at ({i}, {j})")
    below = np.argwhere(np.tril(array) != 0)
    if len(below):
        i, j = below[0]
        raise InvalidCellError(
            "matrix must be strictly upper-triangular (edges go from lower to higher vertex: "
            f"no cycles, no self-loops), got an edge at ({i}, {j})"
        )


def _check_ops(ops: tuple) -> None:
    """Known op names, the input first, the output last and neither anywhere else."""
    for position, op in enumerate(ops):
        if not isinstance(op, str) or op not in OP_CODES:
            raise InvalidCellError(f"ops[{position}] must be one of {list(OP_CODES)}, got {op!r}")
    if ops[0] != INPUT:
        raise InvalidCellError(f"ops[0] must be {INPUT!r}, got {ops[0]!r}")
    if ops[-1] != OUTPUT:
        raise InvalidCellError(f"ops[-1] must be {OUTPUT!r}, got {ops[-1]!r}")
    for position, op in enumerate(ops[1:-1], start=1):
        if op in (INPUT, OUTPUT):
            raise InvalidCellError(
                f"{op!r} may only be at the {'first' if op == INPUT else 'last'} vertex, got it at {position}"
            )


def _prune(matrix: np.ndarray, ops: tuple[str, ...]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Remove vertices not on an input->output path, exactly as NAS-Bench-101's ModelSpec."""
    keep = kept_vertices(matrix)
    if len(keep) == len(ops):
        return matrix.copy(), ops
    return matrix[np.ix_(keep, keep)].copy(), tuple(ops[k] for k in keep)


def kept_vertices(matrix: np.ndarray) -> np.ndarray:
    """The vertices pruning keeps (those on an input->output path), in order."""
    n = len(matrix)
    from_input = np.zeros(n, dtype=bool)
    from_input[0] = True
    for v in range(1, n):
        from_input[v] = bool((from_input[:v] & (matrix[:v, v] == 1)).any())
    to_output = np.zeros(n, dtype=bool)
    to_output[n - 1] = True
    for v in range(n - 2, -1, -1):
        to_output[v] = bool((to_output[v + 1 :] & (matrix[v, v + 1 :] == 1)).any())
    if not from_input[n - 1]:
        raise InvalidCellError(f"input must be connected to output, got no path from vertex 0 to vertex {n - 1}")
    return np.flatnonzero(from_input & to_output)


# -- the official hash and a canonical form ---------------------------------------------------


def nasbench_hash(matrix: np.ndarray, labels: Sequence[int]) -> str:
    """NAS-Bench-101's module hash: Weisfeiler-Lehman refinement with MD5 over a pruned cell.

    Same algorithm and string formats as ``nasbench.lib.graph_util.hash_module``
    (labels: -1 input, -2 output, 0..2 interior ops), so it reproduces the table's hashes.
    """
    md5 = hashlib.md5
    rows = matrix.tolist()
    n = len(rows)
    ins = [[w for w in range(n) if rows[w][v]] for v in range(n)]
    outs = [[w for w in range(n) if rows[v][w]] for v in range(n)]
    hashes = [md5(str((len(outs[v]), len(ins[v]), labels[v])).encode()).hexdigest() for v in range(n)]
    for _ in range(n):
        hashes = [
            md5(
                (
                    "".join(sorted([hashes[w] for w in ins[v]]))
                    + "|"
                    + "".join(sorted([hashes[w] for w in outs[v]]))
                    + "|"
                    + hashes[v]
                ).encode()
            ).hexdigest()
            for v in range(n)
        ]
    return md5(str(sorted(hashes)).encode()).hexdigest()


@cache
def _interior_orders(n: int) -> np.ndarray:
    """Every vertex order that keeps input first and output last, shape (orders, n)."""
    return np.array([(0, *p, n - 1) for p in itertools.permutations(range(1, n - 1))], dtype=np.intp)


def _canonical_form(matrix: np.ndarray, labels: tuple[int, ...]) -> tuple[np.ndarray, tuple[int, ...]]:
    order = canonical_order(matrix, labels)
    return matrix[np.ix_(order, order)].astype(np.int8), tuple(int(labels[v]) for v in order)


def canonical_order(matrix: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """The vertex order NAS-Bench-101 itself stored (and trained) for this cell: vertex ``i``
    of the canonical cell is vertex ``order[i]`` of ``matrix``.

    ``generate_graphs.py`` walks edge codes upwards (edge (x, y) is bit y(y-1)/2 + x), then
    labellings in product order, keeping the first member of each class: so the official
    order is the topological relabelling with the smallest (edge code, labelling) key.
    """
    n = len(labels)
    orders = _interior_orders(n)
    permuted = matrix[orders[:, :, None], orders[:, None, :]]  # (orders, n, n)
    topological = ~np.tril(permuted).any(axis=(1, 2))
    orders, permuted = orders[topological], permuted[topological]
    rows, cols = np.triu_indices(n, 1)
    edge_code = (permuted[:, rows, cols].astype(np.int64) << (cols * (cols - 1) // 2 + rows)).sum(axis=1)
    key = edge_code
    for column in np.asarray(labels)[orders][:, 1:-1].T:
        key = key * 3 + column
    return orders[int(np.argmin(key))]
