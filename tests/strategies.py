"""Hypothesis strategies for cells."""

from hypothesis import strategies as st

from netembed import space
from netembed.cell import OPS, Cell

#: A uniformly random cell of the space (by row of the enumeration).
cells = st.integers(0, space.NUM_CELLS - 1).map(space.cell_at)


@st.composite
def raw_graphs(draw, max_vertices: int = 7):
    """A random upper-triangular matrix and ops, valid or not after pruning."""
    n = draw(st.integers(2, max_vertices))
    matrix = [[int(j > i and draw(st.booleans())) for j in range(n)] for i in range(n)]
    ops = ["input", *(draw(st.sampled_from(OPS)) for _ in range(n - 2)), "output"]
    return matrix, ops


@st.composite
def relabelled(draw, cell: Cell):
    """``cell`` with its interior vertices permuted (not necessarily topologically sorted)."""
    n = cell.num_vertices
    interior = draw(st.permutations(range(1, n - 1)))
    return [0, *interior, n - 1]
