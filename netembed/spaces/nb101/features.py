"""Label-free structure features of cells: op counts, path lengths, what the paths go through.

Twenty-five small integers per cell, computed from its adjacency and ops alone (no table, no
training), given to models scaled to [0, 1] (:func:`inputs`). They are a second, hand-made view
of a cell beside the learned embedding: on a validation split, a random forest and a Gaussian
process on them (:class:`FeatureView`) rank better than the GNN at 100 labelled cells, and the
two views err differently, so their blend ranks better than either (see the README's predictor
section).

The 423,624 cells of the space have ``NUM_DISTINCT`` distinct model inputs, so any function of
the features is a table of that length (:func:`distinct_index` finds a cell's entry).

>>> from netembed.spaces.nb101.cell import Cell
>>> cell = Cell([[0, 1, 1], [0, 0, 1], [0, 0, 0]], ["input", "conv3x3-bn-relu", "output"])
>>> counts = dict(zip(NAMES, raw_features([cell])[0].tolist()))
>>> counts["longest_conv3x3_path"], counts["paths"], counts["input_to_output_edge"]
(1, 2, 1)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from netembed.errors import UnknownCellError
from netembed.spaces.nb101.cell import MAX_VERTICES, OP_CODES, Cell, stack_arrays

__all__ = [
    "MAXIMA",
    "NAMES",
    "NUM_DISTINCT",
    "VIEWS",
    "FeatureView",
    "distinct_index",
    "distinct_index_rows",
    "distinct_table",
    "inputs",
    "raw_features",
    "raw_features_arrays",
]

_OPS = (
    ("conv3x3", OP_CODES["conv3x3-bn-relu"]),
    ("conv1x1", OP_CODES["conv1x1-bn-relu"]),
    ("maxpool", OP_CODES["maxpool3x3"]),
)

NAMES = (
    *(f"count_{name}" for name, _ in _OPS),
    "edges",
    "longest_path",  # interior vertices on the longest input -> output path
    *(f"longest_{name}_path" for name, _ in _OPS),
    "output_inputs",
    "input_outputs",
    "input_to_output_edge",
    "paths",  # input -> output paths
    *(f"{name}_into_output" for name, _ in _OPS),
    *(f"{name}_from_input" for name, _ in (_OPS[0], _OPS[2])),
    # what the input -> output paths go through: the paths are where the signal flows
    "paths_without_conv",
    "paths_through_conv3x3",
    "paths_through_maxpool",
    "shortest_path",
    "fewest_conv3x3_on_a_path",
    "fewest_convs_on_a_path",
    "conv3x3_on_paths",  # summed over the paths (models see it per path)
    "vertices_on_paths",  # interior vertices summed over the paths (models see it per path)
)
#: the largest value of each feature over the space
MAXIMA = np.array([5, 5, 5, 9, 5, 5, 5, 5, 5, 5, 1, 8, 4, 4, 4, 4, 4, 8, 8, 8, 5, 5, 5, 28, 28])
_PER_PATH = [NAMES.index("conv3x3_on_paths"), NAMES.index("vertices_on_paths")]
_PATHS = NAMES.index("paths")
#: distinct model inputs (:func:`inputs`) among the 423,624 cells (checked when the table is built)
NUM_DISTINCT = 225_385


def raw_features_arrays(adjacency: np.ndarray, ops: np.ndarray, num_vertices: np.ndarray) -> np.ndarray:
    """Features of table rows: (B, 7, 7) adjacency, (B, 7) op codes, (B,) vertex counts -> (B, 25) int64."""
    adjacency = adjacency.astype(np.int64)
    ops = ops.astype(np.int64)
    rows = np.arange(len(adjacency))
    output = num_vertices.astype(np.int64) - 1
    is_op = {name: (ops == code).astype(np.int64) for name, code in _OPS}
    interior = (ops >= 0).astype(np.int64)
    far = 10**6

    def extreme(weight: np.ndarray, longest: bool) -> np.ndarray:  # most / least weight on an input -> output path
        sign = 1 if longest else -1
        best = np.full(adjacency.shape[:2], -far, dtype=np.int64)
        best[:, 0] = 0
        for v in range(1, MAX_VERTICES):
            best[:, v] = np.where(adjacency[:, :v, v] == 1, best[:, :v], -far).max(axis=1) + sign * weight[:, v]
        return sign * best[rows, output]

    def paths(avoid: np.ndarray | None = None, weight: np.ndarray | None = None) -> np.ndarray:
        """Input -> output paths avoiding vertices where ``avoid`` is 1, or, with ``weight``, the
        weight summed over every path."""
        count = np.zeros(adjacency.shape[:2], dtype=np.int64)
        total = np.zeros(adjacency.shape[:2], dtype=np.int64)
        count[:, 0] = 1
        for v in range(1, MAX_VERTICES):
            count[:, v] = (count[:, :v] * adjacency[:, :v, v]).sum(axis=1)
            if weight is not None:
                total[:, v] = (total[:, :v] * adjacency[:, :v, v]).sum(axis=1) + count[:, v] * weight[:, v]
            if avoid is not None:
                count[:, v] *= 1 - avoid[:, v]
        return (count if weight is None else total)[rows, output]

    into_output, from_input = adjacency[rows, :, output], adjacency[:, 0, :]
    convs = is_op["conv3x3"] + is_op["conv1x1"]
    all_paths = paths()
    columns = [
        *(is_op[name].sum(axis=1) for name, _ in _OPS),
        adjacency.sum(axis=(1, 2)),
        extreme(interior, longest=True),
        *(extreme(is_op[name], longest=True) for name, _ in _OPS),
        into_output.sum(axis=1),
        from_input.sum(axis=1),
        adjacency[rows, 0, output],
        all_paths,
        *((into_output * is_op[name]).sum(axis=1) for name, _ in _OPS),
        *((from_input * is_op[name]).sum(axis=1) for name in ("conv3x3", "maxpool")),
        paths(avoid=convs),
        all_paths - paths(avoid=is_op["conv3x3"]),
        all_paths - paths(avoid=is_op["maxpool"]),
        extreme(interior, longest=False),
        extreme(is_op["conv3x3"], longest=False),
        extreme(convs, longest=False),
        paths(weight=is_op["conv3x3"]),
        paths(weight=interior),
    ]
    return np.stack(columns, axis=1)


def raw_features(cells: Sequence[Cell]) -> np.ndarray:
    """Features of cells (invariant to vertex order) -> (len(cells), 25) int64."""
    return raw_features_arrays(*stack_arrays(cells), np.array([c.num_vertices for c in cells], dtype=np.int64))


#: what a :class:`FeatureView` may be made of: the shipped mean of both, or one alone
VIEWS = ("forest+gp", "forest", "gp")


class FeatureView:
    """The structure-feature view predictors blend in: the mean of a random forest (200 trees) and
    a Gaussian process (isotropic RBF kernel plus noise, fitted by marginal likelihood) on
    :func:`inputs`. The two err differently: on a validation split their mean ranks better than
    either at 100-424 labelled cells (README); ``parts`` keeps one alone (experiments)."""

    #: the Gaussian process sees at most this many cells (exact inference is cubic in them; beyond
    #: 1,000 cells the view's blend weight is small and 2,000 measured no better)
    GP_CELLS = 1000

    def __init__(self, models: list):
        self.models = models

    @classmethod
    def fit(cls, cells: Sequence, labels: np.ndarray, seed: int, parts: str = "forest+gp", space=None) -> FeatureView:
        """On the structure features of ``space`` (a ``netembed.spaces`` space or name; None: NAS-Bench-101)."""
        from netembed import spaces

        if parts not in VIEWS:
            raise ValueError(f"parts must be one of {', '.join(VIEWS)}, got {parts!r}")
        x, labels, models = spaces.get(space).feature_inputs(cells), np.asarray(labels, dtype=np.float64), []
        if "forest" in parts:
            from sklearn.ensemble import RandomForestRegressor

            forest = RandomForestRegressor(
                n_estimators=200, min_samples_leaf=2, max_features=0.5, random_state=seed, n_jobs=1
            )
            models.append(forest.fit(x, labels))
        if "gp" in parts:
            from sklearn.exceptions import ConvergenceWarning
            from sklearn.gaussian_process import GaussianProcessRegressor
            from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

            subset = np.random.default_rng(seed).permutation(len(x))[: cls.GP_CELLS]
            kernel = ConstantKernel() * RBF(1.0) + WhiteKernel()
            with warnings.catch_warnings():  # a length scale or noise at its bound is a fine fit here
                warnings.simplefilter("ignore", ConvergenceWarning)
                models.append(GaussianProcessRegressor(kernel, normalize_y=True).fit(x[subset], labels[subset]))
        return cls(models)

    def predict(self, x: np.ndarray, chunk: int = 16384) -> np.ndarray:
        """Predictions for rows of :func:`inputs`, in chunks (the GP's kernel matrix is rows x cells)."""
        parts = [
            np.concatenate([model.predict(x[i : i + chunk]) for i in range(0, len(x), chunk)]) for model in self.models
        ]
        return np.mean(parts, axis=0)


def inputs(raw: np.ndarray) -> np.ndarray:
    """Raw features -> what models see, float32 in [0, 1]: each count over its largest value in the
    space, and the two sums over paths as means per path (over 5, the most interior vertices)."""
    scaled = raw / MAXIMA
    scaled[:, _PER_PATH] = raw[:, _PER_PATH] / raw[:, [_PATHS]] / 5
    return scaled.astype(np.float32)


@lru_cache(maxsize=1)
def distinct_table() -> dict[str, np.ndarray]:
    """``inputs``: the (NUM_DISTINCT, 25) distinct model inputs of the space's cells; ``row_index``:
    the entry of every row of the enumeration. Cached on disk beside the enumeration."""
    from netembed.spaces.nb101 import space

    def build() -> dict[str, np.ndarray]:
        arrays = space.space_arrays()
        every = inputs(raw_features_arrays(arrays.adjacency, arrays.ops, arrays.num_vertices))
        distinct, row_index = np.unique(every, axis=0, return_inverse=True)
        if len(distinct) != NUM_DISTINCT:
            raise AssertionError(f"the space must have {NUM_DISTINCT} distinct feature vectors, got {len(distinct)}")
        return {"inputs": distinct, "row_index": row_index.reshape(-1).astype(np.int32)}

    return space.cached("features-v2.npz", build, "the structure features of the space")


@lru_cache(maxsize=1)
def _entries() -> dict[bytes, int]:
    return {vector.tobytes(): index for index, vector in enumerate(distinct_table()["inputs"])}


def distinct_index_rows(rows: np.ndarray) -> np.ndarray:
    """Entry in :func:`distinct_table` of rows of the enumeration."""
    return distinct_table()["row_index"][np.asarray(rows)].astype(np.int64)


def distinct_index(cells: Sequence[Cell]) -> np.ndarray:
    """Entry in :func:`distinct_table` of each cell (cells outside the space raise UnknownCellError)."""
    entries = _entries()
    try:
        return np.array([entries[vector.tobytes()] for vector in inputs(raw_features(cells))], dtype=np.int64)
    except KeyError:
        raise UnknownCellError(
            "cells must be cells of the space; one has structure features none of them has"
        ) from None
