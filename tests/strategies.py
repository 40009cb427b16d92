"""Hypothesis strategies for cells."""

import numpy as np
from hypothesis import strategies as st

from netembed.spaces.nb101 import space
from netembed.spaces.nb101.cell import OPS, Cell

#: A uniformly random cell of the space (by row of the enumeration).
cells = st.integers(0, space.NUM_CELLS - 1).map(space.cell_at)


@st.composite
def raw_graphs(draw, max_vertices: int = 7):
    """A random upper-triangular matrix and ops, valid or not after pruning."""
    n = draw(st.integers(2, max_vertices))
    matrix = [[int(j > i and draw(st.booleans())) for j in range(n)] for i in range(n)]
    ops = ["input", *(draw(st.sampled_from(OPS)) for _ in range(n - 2)), "output"]
    return matrix, ops


def topological_orders(matrix) -> list[list[int]]:
    """Every order of a DAG's vertices in which each edge points forward (at most 5! for a cell)."""
    n = len(matrix)
    orders: list[list[int]] = []

    def extend(order: list[int]) -> None:
        if len(order) == n:
            orders.append(order)
        for v in range(n):
            if v not in order and all(u in order for u in range(n) if matrix[u][v]):
                extend([*order, v])

    extend([])
    return orders


@st.composite
def rewritten_cells(draw) -> tuple[Cell, Cell]:
    """A cell of the space and the same cell written in another valid vertex order (another
    topological order, whose matrix or ops differ from the cell's own): every example is a real
    relabelling, none discarded. A cell with one way of writing it (a chain, or automorphisms
    only) gives way to the next row of the enumeration that has another."""
    row = draw(st.integers(0, space.NUM_CELLS - 1))
    for step in range(space.NUM_CELLS):
        cell = space.cell_at((row + step) % space.NUM_CELLS)
        writings = []
        for order in topological_orders(cell.matrix):
            matrix, ops = cell.matrix[np.ix_(order, order)], [cell.ops[i] for i in order]
            if not (np.array_equal(matrix, cell.matrix) and tuple(ops) == cell.ops):
                writings.append((matrix, ops))
        if writings:
            matrix, ops = draw(st.sampled_from(writings))
            return cell, Cell(matrix, ops)
    raise AssertionError("no cell of the space can be written in two ways")  # unreachable
