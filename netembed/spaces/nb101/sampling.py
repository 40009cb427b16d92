"""Sampling and mutating NAS-Bench-101 specs as NAS-Bench-101's own code does (numpy only).

A *raw spec* is the unpruned spec in the flat layout of :meth:`Cell.to_flat`: the 21
upper-triangular edge bits of the 7x7 matrix (row by row), then the 5 interior op codes.
NAS-Bench-101's random sampling flips a coin per edge bit and draws interior ops uniformly,
rejecting specs that are no cell of the space: this favours small cells (pruning is what brings
most samples under 9 edges); ``netembed.spaces.nb101.space.random_cell`` is the uniform alternative.
"""

from __future__ import annotations

import numpy as np

from netembed.errors import InvalidCellError
from netembed.spaces.nb101.cell import MAX_VERTICES, OPS, Cell

__all__ = ["NUM_EDGE_BITS", "NUM_OP_SPOTS", "mutate_spec", "random_spec", "sample_spec"]

NUM_EDGE_BITS = MAX_VERTICES * (MAX_VERTICES - 1) // 2  # 21
NUM_OP_SPOTS = MAX_VERTICES - 2  # 5


def _cell_or_none(spec: np.ndarray) -> Cell | None:
    """The cell of a raw spec, or None when NAS-Bench-101 would reject it (``is_valid`` false)."""
    try:
        return Cell.from_flat(spec)
    except InvalidCellError:  # OutOfSpaceError is a subclass
        return None


def sample_spec(rng: np.random.Generator) -> tuple[np.ndarray, Cell]:
    """A raw spec from NAS-Bench-101's ``random_spec`` (rejection sampling), with its cell."""
    while True:  # about 73% of samples are accepted, so this ends quickly
        spec = np.concatenate(
            [rng.integers(0, 2, size=NUM_EDGE_BITS), rng.integers(0, len(OPS), size=NUM_OP_SPOTS)]
        ).astype(np.int8)
        cell = _cell_or_none(spec)
        if cell is not None:
            return spec, cell


def random_spec(rng: np.random.Generator) -> Cell:
    """A cell from NAS-Bench-101's random sampling: coin-flip edges, uniform ops, resampled until valid.

    Not uniform over the unique cells (that is :func:`netembed.spaces.nb101.space.random_cell`): the 7x7 specs are
    uniform, and many specs prune to the same small cell.

    >>> random_spec(np.random.default_rng(0)).num_vertices <= 7
    True
    """
    return sample_spec(rng)[1]


def mutate_spec(
    spec: np.ndarray, rng: np.random.Generator, edge_mutation_prob: float, op_mutation_prob: float
) -> tuple[np.ndarray, Cell]:
    """A mutated raw spec and its cell: each edge bit flips with ``edge_mutation_prob``, each
    interior op changes to another with ``op_mutation_prob``, resampled until the child is valid.
    Ends: a draw that changes nothing gives back the parent, a valid cell (p ~ 0.01 at the defaults)."""
    while True:
        child = spec.copy()
        flips = rng.random(NUM_EDGE_BITS) < edge_mutation_prob
        child[:NUM_EDGE_BITS] ^= flips.astype(np.int8)
        changed = rng.random(NUM_OP_SPOTS) < op_mutation_prob
        shift = rng.integers(1, len(OPS), size=NUM_OP_SPOTS)  # 1 or 2: always a different op
        child[NUM_EDGE_BITS:] = np.where(changed, (child[NUM_EDGE_BITS:] + shift) % len(OPS), child[NUM_EDGE_BITS:])
        cell = _cell_or_none(child)
        if cell is not None:
            return child, cell
