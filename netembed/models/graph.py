"""The only bridge from architectures to PyTorch (Geometric) tensors, for any space.

A space gives each architecture's graph view (``Space.graph`` / ``Space.dense``: node types and
a DAG); two tensor views of it, which the encoder treats identically (tests compare them):

- sparse: ``torch_geometric.data.Data`` per architecture (``x`` node features, ``edge_index``
  along the graph's edges, absent nodes left out), batched with PyG's ``Batch``;
- dense: zero-padded ``(B, V, V)`` adjacency and ``(B, V, F)`` features with a node mask (the
  fast path; for NAS-Bench-101 built straight from the table's arrays).

Node features: a one-hot over the space's ``node_types`` (input and output are marked by their
own types), then a one-hot of the node's position in the view. NAS-Bench-101 cells come in their
canonical vertex order, so isomorphic cells give identical tensors; the positions let the
encoder tell apart automorphic vertices (two identical parallel branches), which a
message-passing network alone cannot, and which exact reconstruction needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from netembed import spaces
from netembed.spaces.nb101 import NB101Space

__all__ = [
    "DenseCells",
    "SpaceGraphs",
    "cell_to_data",
    "cells_to_batch",
    "dense_arrays",
    "dense_cells",
    "node_features",
]


def node_features(space: spaces.Space | str | None = None) -> int:
    """Width of a node's features in ``space``: its node types, then its positions."""
    space = spaces.get(space)
    return len(space.node_types) + space.max_nodes


def _features(types: torch.Tensor, space: spaces.Space) -> torch.Tensor:
    """(..., V) node types (-1 = absent) -> (..., V, types + V) type one-hot + position one-hot, zero when absent."""
    mask = types >= 0
    kind = torch.nn.functional.one_hot(types.clamp(min=0), len(space.node_types))
    position = torch.eye(space.max_nodes, dtype=kind.dtype)[: types.shape[-1]].expand(*types.shape, space.max_nodes)
    return torch.cat([kind, position], dim=-1).float() * mask[..., None]


def cell_to_data(cell, space: spaces.Space | str | None = None) -> Data:
    """One architecture's graph view as a PyG graph (absent nodes left out, positions kept).

    Shapes:
        x: (n, types + V) float, edge_index: (2, edges) long, num_nodes: n present nodes.
    """
    space = spaces.get(space)
    types, adjacency = space.graph(cell)
    types, adjacency = torch.as_tensor(np.asarray(types), dtype=torch.long), np.asarray(adjacency)
    keep = (types >= 0).numpy()
    x = _features(types, space)[torch.from_numpy(keep)]
    edges = np.argwhere(adjacency[np.ix_(keep, keep)]).T.astype(np.int64)
    return Data(x=x, edge_index=torch.from_numpy(edges).reshape(2, -1), num_nodes=int(keep.sum()))


def cells_to_batch(cells: Sequence, space: spaces.Space | str | None = None) -> Batch:
    return Batch.from_data_list([cell_to_data(c, space) for c in cells])


@dataclass(frozen=True)
class DenseCells:
    """A zero-padded batch of graph views.

    Shapes:
        x: (B, V, F) float node features (zero rows for absent nodes), adjacency: (B, V, V) float,
        mask: (B, V) bool, True for present nodes.
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


def _dense(types: np.ndarray, adjacency: np.ndarray, space: spaces.Space) -> DenseCells:
    types = torch.from_numpy(np.asarray(types, dtype=np.int64))
    return DenseCells(_features(types, space), torch.from_numpy(adjacency.astype(np.float32)), types >= 0)


def dense_arrays(adjacency: np.ndarray, ops: np.ndarray) -> DenseCells:
    """NAS-Bench-101 cells from the table's arrays: (B, 7, 7) int8 adjacency and (B, 7) int8 op codes.

    Rows must be in canonical order, as every row of the table and of the enumeration is.
    """
    space = spaces.get("nb101")
    return _dense(*NB101Space.dense_rows(adjacency, ops), space)


def dense_cells(cells: Sequence, space: spaces.Space | str | None = None) -> DenseCells:
    space = spaces.get(space)
    return _dense(*space.dense(cells), space)


class SpaceGraphs:
    """The graph views of every architecture of a space, row by row (pretraining reads the whole
    space): NAS-Bench-101 from its enumeration's arrays, any other space from ``enumerate()``.

    >>> graphs = SpaceGraphs("nb201")
    >>> len(graphs), graphs.rows(np.arange(3)).x.shape
    (15625, torch.Size([3, 8, 14]))
    """

    def __init__(self, space: spaces.Space | str | None = None):
        self.space = spaces.get(space)
        if self.space.name == "nb101":
            from netembed.spaces.nb101 import space as nb101

            arrays = nb101.space_arrays()
            self._types, self._adjacency = NB101Space.dense_rows(arrays.adjacency, arrays.ops)
        else:
            self._types, self._adjacency = self.space.dense(self.space.enumerate())

    def __len__(self) -> int:
        return len(self._types)

    def rows(self, rows: np.ndarray) -> DenseCells:
        return _dense(self._types[rows], self._adjacency[rows], self.space)

    def digest(self) -> str:
        """sha256 of the graph views, in row order: which space a pretrained model saw."""
        import hashlib

        digest = hashlib.sha256(np.ascontiguousarray(self._types).tobytes())
        digest.update(np.ascontiguousarray(self._adjacency).tobytes())
        return digest.hexdigest()
