"""The NAS-Bench-101 search space: enumeration of its 423,624 unique cells and parameter counts.

Imports numpy only. The enumeration is cached on disk (``$NETEMBED_CACHE``, else
``$XDG_CACHE_HOME/netembed``, else ``~/.cache/netembed``) with a checksum verified on load.

>>> from netembed import space
>>> space.NUM_CELLS
423624
>>> space.count_params(Cell([[0, 1], [0, 0]], ["input", "output"]))
882570
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from netembed._fingerprint import fingerprint
from netembed._io import atomic_write
from netembed.errors import DataError, UnknownCellError
from netembed.spaces.nb101.cell import MAX_EDGES, MAX_VERTICES, OPS, PADDING, Cell, nasbench_hash

__all__ = [
    "BEST_TEST_ACCURACY",
    "NUM_CELLS",
    "SpaceArrays",
    "cache_dir",
    "cell_at",
    "count_params",
    "enumerate_cells",
    "index_of",
    "random_cell",
    "space_arrays",
    "space_checksum",
    "summary",
]

NUM_CELLS = 423_624
#: The best single-repeat test accuracy in NAS-Bench-101 (regret is measured against it).
BEST_TEST_ACCURACY = 0.94661456

_CACHE_VERSION = 1
_ENUMERATION_CACHE = f"space-v{_CACHE_VERSION}.npz"  # in cache_dir()
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpaceArrays:
    """Every unique cell of the space as compact arrays, rows sorted by official hash.

    Row ``i`` is the same cell as row ``i`` of the NAS-Bench-101 table (also sorted by hash).

    Shapes:
        adjacency: (N, 7, 7) int8, zero-padded; ops: (N, 7) int8 table codes;
        num_vertices: (N,) int8; hashes: (N,) <U32; fingerprints: (N,) uint64.
    """

    adjacency: np.ndarray
    ops: np.ndarray
    num_vertices: np.ndarray
    hashes: np.ndarray
    fingerprints: np.ndarray

    def __len__(self) -> int:
        return len(self.hashes)

    def rows_of_fingerprints(self, fingerprints: np.ndarray) -> np.ndarray:
        """Row of each fingerprint, shape like the input; raises if one is outside the space."""
        order = self._fingerprint_order
        found = np.searchsorted(self.fingerprints, fingerprints, sorter=order)
        found = order[np.minimum(found, len(order) - 1)]
        missing = self.fingerprints[found] != fingerprints
        if missing.any():
            raise UnknownCellError(f"{int(missing.sum())} fingerprints are not cells of the space")
        return found

    @cached_property
    def _fingerprint_order(self) -> np.ndarray:
        return np.argsort(self.fingerprints)


def cache_dir() -> Path:
    """Where netembed caches derived data (the enumeration)."""
    if os.environ.get("NETEMBED_CACHE"):
        return Path(os.environ["NETEMBED_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "netembed"


@lru_cache(maxsize=1)
def space_arrays() -> SpaceArrays:
    """The enumeration, from the on-disk cache when it is intact, else computed and cached."""

    def build() -> dict[str, np.ndarray]:
        arrays = _enumerate()
        return {name: getattr(arrays, name) for name in _FIELDS}

    return SpaceArrays(**cached(_ENUMERATION_CACHE, build, "the enumeration of the space"))


def prepare(announce) -> None:
    """Load the enumeration, saying so first when this machine has not cached it yet (it is then
    computed: about a minute), so that a progress bar started after it times queries only."""
    if space_arrays.cache_info().currsize == 0 and not (cache_dir() / _ENUMERATION_CACHE).exists():
        announce(f"enumerating the {NUM_CELLS:,} cells of NAS-Bench-101 once for this machine (about a minute)")
    space_arrays()


def space_checksum() -> str:
    """sha256 of the enumeration's arrays: identifies the data that label-free models trained on."""
    arrays = space_arrays()
    return _checksum({name: getattr(arrays, name) for name in _FIELDS})


def enumerate_cells() -> list[Cell]:
    """All 423,624 unique cells of NAS-Bench-101, in the table's (hash) order."""
    arrays = space_arrays()
    return [_cell_from_row(arrays, i) for i in range(len(arrays))]


def cell_at(index: int) -> Cell:
    """The cell at row ``index`` of the enumeration (and of the table)."""
    arrays = space_arrays()
    if not 0 <= index < len(arrays):
        raise IndexError(f"index must be in [0, {len(arrays)}), got {index}")
    return _cell_from_row(arrays, index)


def random_cell(rng: np.random.Generator) -> Cell:
    """A cell drawn uniformly from the 423,624 unique cells of the space (one ``rng.integers`` draw).

    >>> cell = random_cell(np.random.default_rng(0))
    >>> cell == random_cell(np.random.default_rng(0)), index_of(cell) < NUM_CELLS
    (True, True)
    """
    return cell_at(int(rng.integers(NUM_CELLS)))


def index_of(cell: Cell) -> int:
    """Row of ``cell`` in the enumeration (and in the table)."""
    hashes = space_arrays().hashes
    row = int(np.searchsorted(hashes, cell.hash))
    if row == len(hashes) or hashes[row] != cell.hash:
        raise UnknownCellError(f"cell is not in the space, got hash {cell.hash}")
    return row


def _cell_from_row(arrays: SpaceArrays, index: int) -> Cell:
    # Rows are valid, pruned cells by construction: skip re-validation (it dominates the cost).
    n = int(arrays.num_vertices[index])
    cell = Cell.__new__(Cell)
    matrix = arrays.adjacency[index, :n, :n].copy()
    matrix.setflags(write=False)
    codes = arrays.ops[index, :n].tolist()
    cell.matrix = matrix
    cell.ops = ("input", *(OPS[c] for c in codes[1:-1]), "output")
    cell._hash = str(arrays.hashes[index])
    return cell


# -- enumeration --------------------------------------------------------------------------------


def _full_dags(n: int) -> np.ndarray:
    """All n-vertex upper-triangular matrices with <= 9 edges where every vertex is on an input->output path.

    Bit ``y * (y - 1) / 2 + x`` of the code is edge (x, y) and codes ascend, as in NAS-Bench-101's
    ``generate_graphs.py``, so the first matrix of each isomorphism class is the official one.
    """
    cols, rows = np.array([(y, x) for y in range(1, n) for x in range(y)], dtype=np.intp).reshape(-1, 2).T
    codes = np.arange(2 ** len(rows), dtype=np.int64)
    bits = (codes[:, None] >> np.arange(len(rows))) & 1
    bits = bits[bits.sum(axis=1) <= MAX_EDGES]
    matrices = np.zeros((len(bits), n, n), dtype=bool)
    matrices[:, rows, cols] = bits.astype(bool)
    from_input = np.zeros((len(bits), n), dtype=bool)
    from_input[:, 0] = True
    for v in range(1, n):
        from_input[:, v] = (from_input[:, :v] & matrices[:, :v, v]).any(axis=1)
    to_output = np.zeros((len(bits), n), dtype=bool)
    to_output[:, n - 1] = True
    for v in range(n - 2, -1, -1):
        to_output[:, v] = (matrices[:, v, v + 1 :] & to_output[:, v + 1 :]).any(axis=1)
    return matrices[from_input.all(axis=1) & to_output.all(axis=1)].astype(np.int8)


def _enumerate() -> SpaceArrays:
    """Every (full DAG, labelling) pair, deduplicated by fingerprint, then hashed officially and sorted."""
    adjacency, ops, counts = [], [], []
    for n in range(2, MAX_VERTICES + 1):
        dags = _full_dags(n)
        labellings = np.array(list(itertools.product(range(len(OPS)), repeat=n - 2)), dtype=np.int8)
        labellings = labellings.reshape(len(OPS) ** (n - 2), n - 2)
        padded = np.zeros((len(dags), MAX_VERTICES, MAX_VERTICES), dtype=np.int8)
        padded[:, :n, :n] = dags
        codes = np.full((len(labellings), MAX_VERTICES), PADDING, dtype=np.int8)
        codes[:, 0], codes[:, 1 : n - 1], codes[:, n - 1] = -1, labellings, -2
        all_adjacency = np.repeat(padded, len(labellings), axis=0)
        all_ops = np.tile(codes, (len(dags), 1))
        _, first = np.unique(fingerprint(all_adjacency, all_ops), return_index=True)
        adjacency.append(all_adjacency[first])
        ops.append(all_ops[first])
        counts.append(np.full(len(first), n, dtype=np.int8))
    adjacency, ops, num_vertices = np.concatenate(adjacency), np.concatenate(ops), np.concatenate(counts)
    hashes = _official_hashes(adjacency, ops, num_vertices)
    order = np.argsort(hashes)
    arrays = SpaceArrays(
        adjacency=adjacency[order],
        ops=ops[order],
        num_vertices=num_vertices[order],
        hashes=hashes[order],
        fingerprints=fingerprint(adjacency[order], ops[order]),
    )
    if len(arrays) != NUM_CELLS or len(np.unique(arrays.hashes)) != NUM_CELLS:
        raise RuntimeError(
            f"enumeration must find {NUM_CELLS} cells with distinct hashes, got {len(arrays)} cells "
            f"and {len(np.unique(arrays.hashes))} hashes"
        )
    return arrays


def _hash_rows(args: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[str]:
    adjacency, ops, num_vertices = args
    return [nasbench_hash(a[:n, :n], o[:n].tolist()) for a, o, n in zip(adjacency, ops, num_vertices)]


def _official_hashes(adjacency: np.ndarray, ops: np.ndarray, num_vertices: np.ndarray) -> np.ndarray:
    """The MD5 hash of every row, spread over the CPU's cores (it is the slow part of enumeration)."""
    from tqdm.auto import tqdm  # progress only; keep the module's import numpy-only

    chunk = 20_000
    parts = [
        (adjacency[i : i + chunk], ops[i : i + chunk], num_vertices[i : i + chunk]) for i in range(0, len(ops), chunk)
    ]
    workers = min(len(parts), os.cpu_count() or 1)
    progress = {"desc": "hashing the space (once; cached)", "total": len(parts), "disable": None, "leave": False}
    if workers <= 1:
        return np.array([h for part in tqdm(map(_hash_rows, parts), **progress) for h in part], dtype="<U32")
    with ProcessPoolExecutor(max_workers=workers) as pool:
        hashed = tqdm(pool.map(_hash_rows, parts), **progress)
        return np.array([h for part in hashed for h in part], dtype="<U32")


# -- cache ----------------------------------------------------------------------------------------

_FIELDS = ("adjacency", "ops", "num_vertices", "hashes", "fingerprints")


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def save_checked(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to an .npz with their sha256 inside, atomically (derived data for the cache)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a handle, so numpy keeps the name (no ".npz" appended)
            np.savez(handle, checksum=np.array(_checksum(arrays)), **arrays)

    atomic_write(path, write)


def load_checked(path: Path) -> dict[str, np.ndarray]:
    """Arrays written by :func:`save_checked`; a missing, unreadable or altered file raises DataError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files if name != "checksum"}
            stored = str(data["checksum"])
    except Exception as exc:  # zip, header or key errors: any unreadable cache is rebuilt
        raise DataError(f"cache file {path} is unreadable ({exc})") from exc
    if _checksum(arrays) != stored:
        raise DataError(f"cache file {path} failed its checksum")
    return arrays


def cached(name: str, build, description: str) -> dict[str, np.ndarray]:
    """Arrays from the cache file ``name`` when intact, else ``build()`` (then cached)."""
    path = cache_dir() / name
    if path.exists():
        try:
            return load_checked(path)
        except DataError as exc:
            _log.warning("rebuilding %s: %s", description, exc)
    arrays = build()
    try:
        save_checked(path, arrays)
    except OSError as exc:  # a read-only home must not break the computation
        _log.warning("could not cache %s in %s: %s", description, path, exc)
    return arrays


def _save_cache(path: Path, arrays: SpaceArrays) -> None:
    save_checked(path, {name: getattr(arrays, name) for name in _FIELDS})


def _load_cache(path: Path) -> SpaceArrays:
    fields = load_checked(path)
    if sorted(fields) != sorted(_FIELDS):
        raise DataError(f"cache file {path} must hold {sorted(_FIELDS)}, got {sorted(fields)}")
    return SpaceArrays(**fields)


# -- parameter count ----------------------------------------------------------------------------

_STEM_CHANNELS = 128
_NUM_STACKS = 3
_CELLS_PER_STACK = 3
_NUM_CLASSES = 10


def vertex_channels(in_channels: int, out_channels: int, matrix: np.ndarray) -> list[int]:
    """Output channels of each vertex, NAS-Bench-101's ``compute_vertex_channels``.

    Vertices feeding the output split its channels (the remainder goes to the first ones);
    every other interior vertex takes the largest width among its successors.
    """
    n = len(matrix)
    channels = [0] * n
    channels[0], channels[n - 1] = in_channels, out_channels
    if n == 2:
        return channels
    in_degree = matrix[1:].sum(axis=0)
    interior, correction = divmod(out_channels, int(in_degree[n - 1]))
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            channels[v] = interior + (1 if correction else 0)
            correction -= 1 if correction else 0
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    channels[v] = max(channels[v], channels[dst])
    return channels


def _conv_bn_params(kernel: int, in_channels: int, out_channels: int) -> int:
    # conv without bias, then batch norm with a trainable scale and offset per channel
    return kernel * kernel * in_channels * out_channels + 2 * out_channels


_KERNEL = {"conv3x3-bn-relu": 3, "conv1x1-bn-relu": 1, "maxpool3x3": 0}


def _cell_params(cell: Cell, in_channels: int, out_channels: int) -> int:
    matrix, n = cell.matrix, cell.num_vertices
    channels = vertex_channels(in_channels, out_channels, matrix)
    total = 0
    for v in range(1, n - 1):
        if matrix[0, v]:  # 1x1 projection of the cell input
            total += _conv_bn_params(1, in_channels, channels[v])
        kernel = _KERNEL[cell.ops[v]]
        if kernel:
            total += _conv_bn_params(kernel, channels[v], channels[v])
    if matrix[0, n - 1]:  # input added to (or alone forming) the output, projected
        total += _conv_bn_params(1, in_channels, out_channels)
    return total


def count_params(cell: Cell) -> int:
    """Trainable parameters of the full NAS-Bench-101 network built from ``cell``.

    Stem conv3x3 to 128 channels, 3 stacks of 3 cells, channels doubling at each
    downsampling, global average pool, dense layer to 10 classes. Equals the table's
    ``params`` for every cell. Counted in NAS-Bench-101's vertex order (``cell.canonical()``),
    since isomorphic orders can differ by a few hundred parameters.
    """
    cell = cell.canonical()
    total = _conv_bn_params(3, 3, _STEM_CHANNELS)
    channels = _STEM_CHANNELS
    for stack in range(_NUM_STACKS):
        in_channels = channels
        if stack > 0:
            channels *= 2
        for _ in range(_CELLS_PER_STACK):
            total += _cell_params(cell, in_channels, channels)
            in_channels = channels
    return total + channels * _NUM_CLASSES + _NUM_CLASSES


def summary() -> dict:
    """How many unique cells the space holds, by vertex count, and where they are cached."""
    arrays = space_arrays()
    vertices = {int(n): int(c) for n, c in zip(*np.unique(arrays.num_vertices, return_counts=True))}
    return {"cells": len(arrays), "by_vertices": vertices, "cache": str(cache_dir())}
