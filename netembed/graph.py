"""The only bridge from :class:`~netembed.cell.Cell` to PyTorch (Geometric) tensors.

Two views of the same cells, which the encoder treats identically (tests compare them):

- sparse: ``torch_geometric.data.Data`` per cell (``x`` op one-hot, ``edge_index`` along
  the cell's edges), batched with PyG's ``Batch`` / ``DataLoader``;
- dense: zero-padded ``(B, 7, 7)`` adjacency and ``(B, 7, 5)`` features with a vertex mask,
  built straight from the table's arrays: the fast path for embedding the whole space.

Node features: a one-hot over ``NODE_TYPES`` (input and output are marked by their own types),
then a one-hot of the vertex's position in NAS-Bench-101's canonical order (``Cell.canonical()``).
Cells are canonicalised on the way in, so isomorphic cells give identical tensors; the
positions let the encoder tell apart automorphic vertices (two identical parallel branches),
which a message-passing network alone cannot, and which exact reconstruction needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from netembed.cell import MAX_VERTICES, OPS, Cell, stack_arrays

__all__ = ["NODE_FEATURES", "NODE_TYPES", "DenseCells", "cell_to_data", "cells_to_batch", "dense_arrays", "dense_cells"]

NODE_TYPES = ("input", *OPS, "output")
NODE_FEATURES = len(NODE_TYPES) + MAX_VERTICES
# table op code (-1 input, 0..2 ops, -2 output) -> node type; -3 padding has no type
_CODE_TO_TYPE = np.full(8, -1, dtype=np.int64)
_CODE_TO_TYPE[[-1, 0, 1, 2, -2]] = np.arange(len(NODE_TYPES))


def _features(types: torch.Tensor) -> torch.Tensor:
    """(..., V) node types (-1 = padding) -> (..., V, 12) type one-hot + position one-hot, zero for padding."""
    mask = types >= 0
    kind = torch.nn.functional.one_hot(types.clamp(min=0), len(NODE_TYPES))
    position = torch.eye(MAX_VERTICES, dtype=kind.dtype)[: types.shape[-1]].expand(*types.shape, MAX_VERTICES)
    return torch.cat([kind, position], dim=-1).float() * mask[..., None]


def cell_to_data(cell: Cell) -> Data:
    """One cell, in canonical vertex order, as a PyG graph.

    Shapes:
        x: (n, 12) float, edge_index: (2, edges) long, num_nodes: n.
    """
    cell = cell.canonical()
    x = _features(torch.from_numpy(_CODE_TO_TYPE[np.asarray(cell.labels)]))
    edge_index = torch.from_numpy(np.argwhere(cell.matrix).T.astype(np.int64)).reshape(2, -1)
    return Data(x=x, edge_index=edge_index, num_nodes=cell.num_vertices)


def cells_to_batch(cells: Sequence[Cell]) -> Batch:
    return Batch.from_data_list([cell_to_data(c) for c in cells])


@dataclass(frozen=True)
class DenseCells:
    """A zero-padded batch of cells.

    Shapes:
        x: (B, 7, 12) float node features (zero rows for padding), adjacency: (B, 7, 7) float,
        mask: (B, 7) bool, True for real vertices.
    """

    x: torch.Tensor
    adjacency: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def to(self, device: torch.device | str) -> DenseCells:
        return DenseCells(self.x.to(device), self.adjacency.to(device), self.mask.to(device))

    def __getitem__(self, index) -> DenseCells:
        return DenseCells(self.x[index], self.adjacency[index], self.mask[index])


def dense_arrays(adjacency: np.ndarray, ops: np.ndarray) -> DenseCells:
    """Dense batch from the table's arrays: (B, 7, 7) int8 adjacency and (B, 7) int8 op codes.

    Rows must be in canonical order, as every row of the table and of the enumeration is.
    """
    types = torch.from_numpy(_CODE_TO_TYPE[ops.astype(np.int64)])
    return DenseCells(x=_features(types), adjacency=torch.from_numpy(adjacency.astype(np.float32)), mask=types >= 0)


def dense_cells(cells: Sequence[Cell]) -> DenseCells:
    return dense_arrays(*stack_arrays(cells, canonical=True))
