"""CellEncoder: a direction-aware GIN that maps each cell to one embedding vector.

Vertex features are the op type and the canonical position (see :mod:`netembed.models.graph`).
Each layer updates a vertex from itself, the sum over its predecessors (messages along the
edges) and the sum over its successors (messages against them): a DAG's direction carries
meaning (what feeds a conv vs what it feeds). The cell embedding is the masked mean of the
vertex latents; cells are canonicalised first, so isomorphic cells embed identically.

The same weights run on PyG sparse batches (``torch_geometric.data.Batch``) and on the dense
padded batches of :mod:`netembed.models.graph` (the fast path); tests check that they agree.

:class:`CellAutoencoder` (the encoder with the :class:`Decoder` that reconstructs cells from its
vertex latents) is the model :mod:`netembed.models.pretrain` trains and ``pretrained/encoder-nb101``
holds; it is defined here so that loading a pretrained encoder needs no training code.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from netembed import spaces
from netembed._fields import Flag, Int, Text, check_fields
from netembed.models.graph import DenseCells, cells_to_batch, dense_arrays, dense_cells, node_features

__all__ = ["ENCODER_RULES", "CellAutoencoder", "CellEncoder", "Decoder", "DirectedGINConv", "EncoderConfig"]

#: The encoder's fields and their ranges (``PredictorConfig`` shares the first three): bounds far
#: beyond any useful model, that catch a typo or an edited config before anything is allocated.
ENCODER_RULES = {
    "hidden": Int(1, 4096),
    "layers": Int(1, 32),
    "embedding_dim": Int(1, 4096),
    "variational": Flag(),
    "space": Text(),
}


@dataclass(frozen=True)
class EncoderConfig:
    """Shape of a :class:`CellEncoder`; saved beside its weights so a checkpoint rebuilds its model.

    Defaults: 16-dimensional latents (as arch2vec: enough to reconstruct every held-out cell
    exactly, small enough for cheap predictor heads and distance computations), 32 hidden
    units (64 embeds the space 3.5x slower for no gain in reconstruction), 4 layers (each
    layer sees one step along and against the edges; with the positions that suffices).
    ``space``: the search space whose graph view it reads (``netembed.spaces``).
    """

    hidden: int = 32
    layers: int = 4
    embedding_dim: int = 16
    variational: bool = True
    space: str = spaces.DEFAULT

    def __post_init__(self) -> None:
        check_fields(self, ENCODER_RULES)


class DirectedGINConv(MessagePassing):
    """h'_v = MLP([h_v, sum_{u->v} h_u, sum_{v->w} h_w]).

    Shapes:
        sparse: x (N, hidden), edge_index (2, E) -> (N, hidden)
        dense:  x (B, V, hidden), adjacency (B, V, V) -> (B, V, hidden)
    """

    def __init__(self, hidden: int):
        super().__init__(aggr="add")
        self.mlp = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for layer in self.mlp:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        along = self.propagate(edge_index, x=x)
        against = self.propagate(edge_index.flip(0), x=x)
        return self.mlp(torch.cat([x, along, against], dim=-1))

    def forward_dense(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        along = adjacency.transpose(1, 2) @ x  # row v sums its predecessors
        against = adjacency @ x  # row v sums its successors
        return self.mlp(torch.cat([x, along, against], dim=-1))


class CellEncoder(nn.Module):
    """Cells -> vertex latents -> one embedding per cell.

    >>> from netembed import Cell
    >>> encoder = CellEncoder(EncoderConfig(embedding_dim=8))
    >>> encoder.embed([Cell([[0, 1], [0, 0]], ["input", "output"])]).shape
    torch.Size([1, 8])
    """

    def __init__(self, config: EncoderConfig = EncoderConfig()):
        super().__init__()
        self.config = config
        self.space = spaces.get(config.space)
        self.input = nn.Linear(node_features(self.space), config.hidden)
        self.convs = nn.ModuleList(DirectedGINConv(config.hidden) for _ in range(config.layers))
        self.mu = nn.Linear(config.hidden, config.embedding_dim)
        self.logvar = nn.Linear(config.hidden, config.embedding_dim) if config.variational else None

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    @property
    def device(self) -> torch.device:
        return self.input.weight.device

    # -- vertex latents ----------------------------------------------------------------------

    def vertex_latents(self, cells: DenseCells | Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu, logvar) per vertex: (B, 7, d) for a dense batch, (N, d) for a sparse one."""
        if isinstance(cells, DenseCells):
            h = torch.relu(self.input(cells.x))
            for conv in self.convs:
                h = h + torch.relu(conv.forward_dense(h, cells.adjacency))
            mask = cells.mask[..., None]
            mu = self.mu(h) * mask
            logvar = self.logvar(h) * mask if self.logvar is not None else None
            return mu, logvar
        h = torch.relu(self.input(cells.x))
        for conv in self.convs:
            h = h + torch.relu(conv(h, cells.edge_index))
        return self.mu(h), (self.logvar(h) if self.logvar is not None else None)

    def pool(self, latents: torch.Tensor, cells: DenseCells | Batch) -> torch.Tensor:
        """Masked mean of vertex latents: one (B, d) embedding per cell."""
        if isinstance(cells, DenseCells):
            return latents.sum(dim=1) / cells.mask.sum(dim=1, keepdim=True)
        return scatter(latents, cells.batch, dim=0, dim_size=cells.num_graphs, reduce="mean")

    def forward(self, cells: DenseCells | Batch) -> torch.Tensor:
        """Embeddings (the latent means) of a batch, shape (B, embedding_dim)."""
        mu, _ = self.vertex_latents(cells)
        return self.pool(mu, cells)

    # -- saving and loading ------------------------------------------------------------------

    def save_pretrained(self, directory, meta: dict | None = None):
        from netembed.models import hub

        return hub.save_pretrained(self, self.config, directory, meta)

    @classmethod
    def from_pretrained(cls, name_or_dir="encoder-nb101", device: str | torch.device = "cpu") -> CellEncoder:
        """An encoder from a pretrained directory or name: a saved encoder, or the encoder half
        of a saved autoencoder (as ``pretrained/encoder-nb101``)."""
        from netembed.models import hub

        directory = hub.resolve(name_or_dir)
        if hub.read_config(directory)["model_type"] == "CellAutoencoder":
            model, _ = hub.load_pretrained(CellAutoencoder, directory, EncoderConfig, device=device)
            return model.encoder
        model, _ = hub.load_pretrained(cls, directory, EncoderConfig, device=device)
        return model

    # -- convenience -------------------------------------------------------------------------

    @torch.no_grad()
    def embed(self, cells: Sequence, batch_size: int = 4096, sparse: bool = False) -> torch.Tensor:
        """Embeddings of a list of architectures of the encoder's space (on CPU), in evaluation mode."""
        was_training = self.training
        self.eval()
        parts = []
        for start in range(0, len(cells), batch_size):
            chunk = cells[start : start + batch_size]
            batch = cells_to_batch(chunk, self.space) if sparse else dense_cells(chunk, self.space)
            parts.append(self(batch.to(self.device)).cpu())
        self.train(was_training)
        return torch.cat(parts) if parts else torch.empty(0, self.config.embedding_dim)

    @torch.no_grad()
    def embed_arrays(self, adjacency: np.ndarray, ops: np.ndarray, batch_size: int = 16384) -> torch.Tensor:
        """Embeddings of cells given as the table's padded arrays (the fast path for the whole space)."""
        was_training = self.training
        self.eval()
        parts = [
            self(dense_arrays(adjacency[s : s + batch_size], ops[s : s + batch_size]).to(self.device)).cpu()
            for s in range(0, len(ops), batch_size)
        ]
        self.train(was_training)
        return torch.cat(parts) if parts else torch.empty(0, self.config.embedding_dim)


class Decoder(nn.Module):
    """Vertex latents -> op logits per vertex and edge logits per ordered vertex pair.

    Shapes:
        z: (B, V, d) -> ops (B, V, node types), edges (B, V, V) (only i < j is used: graph
        views are in topological order).
    """

    def __init__(self, embedding_dim: int, node_types: int):
        super().__init__()
        self.ops = nn.Linear(embedding_dim, node_types)
        self.source = nn.Linear(embedding_dim, embedding_dim)
        self.target = nn.Linear(embedding_dim, embedding_dim)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ops(z), self.source(z) @ self.target(z).transpose(1, 2)


class CellAutoencoder(nn.Module):
    """The pretrained artifact: the encoder and the decoder that checks what it learned."""

    def __init__(self, config: EncoderConfig = EncoderConfig()):
        super().__init__()
        self.config = config
        self.encoder = CellEncoder(config)
        self.decoder = Decoder(config.embedding_dim, len(self.encoder.space.node_types))
