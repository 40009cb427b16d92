"""How good is an embedding of the space for search? Smoothness, distance agreement, a 2-D map.

- smoothness: cells close in embedding space should have close accuracies. For sampled
  cells, the mean absolute accuracy difference to their k nearest embedded neighbours,
  divided by the same for random pairs (lower is better; 1 means no better than chance).
- edit distance: Spearman correlation between embedding distance and the number of
  transformations between two cells (breadth-first over the move graph).
- a PCA map of the space coloured by accuracy (PNG).

Accuracies are only read here, to measure; they never train anything.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from netembed import transforms
from netembed._io import save_figure

__all__ = ["edit_distance_correlation", "move_distances", "pca", "plot_map", "smoothness"]


def _nearest(embeddings: torch.Tensor, queries: np.ndarray, k: int, chunk: int = 256) -> np.ndarray:
    """Rows of the k nearest other cells of each query row (Euclidean), shape (Q, k)."""
    found = []
    squared = (embeddings**2).sum(dim=1)
    for start in range(0, len(queries), chunk):
        rows = torch.from_numpy(queries[start : start + chunk])
        q = embeddings[rows]
        distances = squared[None, :] - 2 * q @ embeddings.T + squared[rows, None]
        distances[torch.arange(len(rows)), rows] = float("inf")  # not itself
        found.append(distances.topk(k, largest=False).indices.numpy())
    return np.concatenate(found)


def smoothness(
    embeddings: torch.Tensor | np.ndarray,
    accuracy: np.ndarray,
    rng: np.random.Generator,
    queries: int = 10_000,
    k: int = 10,
) -> dict:
    """Mean |accuracy difference| to the k nearest neighbours vs to random cells, and their ratio."""
    embeddings = torch.as_tensor(embeddings, dtype=torch.float32)
    if len(embeddings) != len(accuracy):
        raise ValueError(
            f"embeddings and accuracy must have one row per cell, got {len(embeddings)} and {len(accuracy)}"
        )
    rows = rng.choice(len(accuracy), size=min(queries, len(accuracy)), replace=False)
    near = _nearest(embeddings, rows, k)
    near_gap = float(np.abs(accuracy[near] - accuracy[rows, None]).mean())
    partners = rng.integers(len(accuracy), size=(len(rows), k))
    random_gap = float(np.abs(accuracy[partners] - accuracy[rows, None]).mean())
    return {
        "queries": len(rows),
        "k": k,
        "neighbour_gap": near_gap,
        "random_gap": random_gap,
        "ratio": near_gap / random_gap,
    }


def move_distances(graph, rng: np.random.Generator, sources: int = 20, targets: int = 5_000) -> dict:
    """Move distances (directed BFS) from random source cells to random target cells.

    Returns ``{"source": (P,), "target": (P,), "moves": (P,)}`` row/distance arrays, P = sources * targets.
    """
    num_cells = len(graph[0]) - 1
    pairs = {"source": [], "target": [], "moves": []}
    for source in rng.choice(num_cells, sources, replace=False):
        distance = np.empty(num_cells, dtype=np.int16)
        for steps, level in enumerate(transforms.bfs_levels(graph, int(source))):
            distance[level] = steps
        chosen = rng.choice(num_cells, targets, replace=False)
        pairs["source"].append(np.full(targets, source))
        pairs["target"].append(chosen)
        pairs["moves"].append(distance[chosen])
    return {name: np.concatenate(values) for name, values in pairs.items()}


def edit_distance_correlation(embeddings: torch.Tensor | np.ndarray, pairs: dict) -> dict:
    """Spearman correlation of embedding distance with move distance over :func:`move_distances` pairs."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    embedded = np.linalg.norm(embeddings[pairs["target"]] - embeddings[pairs["source"]], axis=1)
    moves = pairs["moves"]
    by_distance = {int(d): float(embedded[moves == d].mean()) for d in np.unique(moves)}
    return {
        "pairs": len(moves),
        "spearman": float(spearmanr(moves, embedded).statistic),
        "mean_embedding_distance_by_moves": by_distance,
    }


def pca(embeddings: torch.Tensor | np.ndarray, dims: int = 2) -> np.ndarray:
    x = np.asarray(embeddings, dtype=np.float64)
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x[:: max(1, len(x) // 50_000)], full_matrices=False)  # axes from a sample
    return (x @ vt[:dims].T).astype(np.float32)


def plot_map(embeddings, accuracy: np.ndarray, path: str | Path, title: str) -> Path:
    """Scatter of the first two principal components, coloured by accuracy (diverged runs clipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = pca(embeddings)
    order = np.argsort(accuracy)  # best cells drawn last, on top
    fig, ax = plt.subplots(figsize=(7, 6), dpi=120)
    shown = ax.scatter(
        points[order, 0],
        points[order, 1],
        c=np.clip(accuracy[order], 0.8, None),
        s=0.3,
        cmap="viridis",
        rasterized=True,
    )
    fig.colorbar(shown, ax=ax, label="test accuracy (clipped at 0.80)")
    ax.set(xlabel="PC 1", ylabel="PC 2", title=title)
    return save_figure(fig, path)
