"""How good is an embedding of the space for search? Smoothness, distance agreement, a 2-D map.

- smoothness: cells close in embedding space should have close accuracies. For sampled
  cells, the mean absolute accuracy difference to their k nearest embedded neighbours,
  divided by the same for random pairs (lower is better; 1 means no better than chance).
- edit distance: Spearman correlation between embedding distance and the number of
  transformations between two cells (breadth-first over the move graph).
- a PCA map of the space coloured by accuracy (PNG).

``evaluate_pretrained`` measures a pretrained encoder with all of these (``netembed embed --eval``,
and the card ``netembed pretrain`` writes).

Accuracies are only read here, to measure; they never train anything.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from netembed._io import check_writable, save_figure
from netembed.errors import DataError
from netembed.models.encoder import CellAutoencoder, CellEncoder, EncoderConfig
from netembed.models.graph import SpaceGraphs
from netembed.models.pretrain import holdout_split, reconstruction
from netembed.spaces.nb101 import space, transforms

__all__ = [
    "edit_distance_correlation",
    "evaluate_pretrained",
    "move_distances",
    "pca",
    "plot_map",
    "quality_text",
    "smoothness",
]


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


def evaluate_pretrained(
    model: str | os.PathLike,
    out_dir: str | os.PathLike | None = "results/embedding",
    device: str = "cpu",
    progress: bool = True,
    seed: int = 0,
) -> dict:
    """Everything ``netembed embed --eval`` prints: reconstruction on the held-out split, speed,
    and (with the table) smoothness and edit-distance agreement against a random-init encoder."""
    from netembed.models import hub
    from netembed.spaces.nb101.table import Benchmark

    directory = hub.resolve(model)
    autoencoder, meta = hub.load_pretrained(CellAutoencoder, directory, EncoderConfig, device=device)
    if out_dir is not None:
        check_writable(out_dir)
    split = meta.get("pretrain", {})
    graphs = SpaceGraphs(autoencoder.config.space)
    _, held_out = holdout_split(len(graphs), split.get("holdout", 0.1), seed=split.get("seed", 0))
    result: dict = {
        "model": str(directory),
        "reconstruction": reconstruction(autoencoder.encoder, autoencoder.decoder, held_out, graphs=graphs),
    }
    if graphs.space.name != "nb101":
        return result | _evaluate_elsewhere(autoencoder, graphs.space, out_dir, device, seed)
    arrays = space.space_arrays()
    start = time.perf_counter()
    embeddings = autoencoder.encoder.embed_arrays(arrays.adjacency, arrays.ops)
    seconds = time.perf_counter() - start
    result["speed"] = {"cells": len(arrays), "seconds": seconds, "cells_per_second": len(arrays) / seconds}
    torch.manual_seed(seed)
    baseline = CellEncoder(autoencoder.config).to(device).embed_arrays(arrays.adjacency, arrays.ops)
    pairs = move_distances(transforms.move_graph(progress=progress), np.random.default_rng(seed))
    result["edit_distance"] = {
        name: edit_distance_correlation(e, pairs) for name, e in (("pretrained", embeddings), ("random_init", baseline))
    }
    try:
        accuracy = Benchmark.load().test_acc_108
    except DataError as exc:
        result["smoothness"] = f"skipped: {exc}"
        return result
    result["smoothness"] = {
        name: smoothness(e, accuracy, np.random.default_rng(seed))
        for name, e in (("pretrained", embeddings), ("random_init", baseline))
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        result["files"] = [
            str(
                plot_map(
                    embeddings,
                    accuracy,
                    out_dir / "embedding_map.png",
                    "Pretrained cell embeddings (PCA), coloured by test accuracy",
                )
            )
        ]
    return result


def quality_text(quality: dict) -> str:
    """``evaluate_pretrained``'s figures as lines of text."""
    lines = [f"pretrained encoder: {quality['model']}"]
    rec = quality["reconstruction"]
    lines.append(
        f"reconstruction, held-out {rec['cells']:,} cells: ops {rec['ops_accuracy']:.5f}, "
        f"exact adjacency {rec['adjacency_accuracy']:.5f}, exact cell {rec['cell_accuracy']:.5f}"
    )
    for name in ("pretrained", "random_init") if isinstance(quality["smoothness"], dict) else ():
        sm = quality["smoothness"][name]
        lines.append(
            f"smoothness ({name}): |acc diff| to {sm['k']} nearest {sm['neighbour_gap']:.5f} vs random "
            f"{sm['random_gap']:.5f}, ratio {sm['ratio']:.3f}"
        )
    if isinstance(quality["smoothness"], str):  # no table: why it was skipped
        lines.append(f"smoothness {quality['smoothness']}")
    for name in ("pretrained", "random_init"):
        ed = quality["edit_distance"][name]
        lines.append(
            f"Spearman(embedding distance, move distance) ({name}): {ed['spearman']:.3f} over {ed['pairs']:,} pairs"
        )
    speed = quality["speed"]
    lines.append(
        f"embedding all {speed['cells']:,} cells: {speed['seconds']:.2f} s ({speed['cells_per_second']:,.0f} cells/s)"
    )
    lines += [f"wrote {path}" for path in quality.get("files", [])]
    return "\n".join(lines)


def _evaluate_elsewhere(autoencoder: CellAutoencoder, space_, out_dir, device, seed: int) -> dict:
    """Speed and, where the space has a table, smoothness of the embedding against a random-init
    encoder (NAS-Bench-201: the first data set's validation accuracy)."""

    archs = space_.enumerate()
    start = time.perf_counter()
    embeddings = autoencoder.encoder.embed(archs)
    seconds = time.perf_counter() - start
    result: dict = {"speed": {"cells": len(archs), "seconds": seconds, "cells_per_second": len(archs) / seconds}}
    try:
        table = space_.load_table()
    except (DataError, AttributeError) as exc:
        return result | {"smoothness": f"skipped: {exc}"}
    dataset = table.datasets[0]
    accuracy = table.val[dataset][[table.row_of(a) for a in archs]]
    torch.manual_seed(seed)
    baseline = CellEncoder(autoencoder.config).to(device).embed(archs)
    result["smoothness"] = {
        name: smoothness(e, accuracy, np.random.default_rng(seed))
        for name, e in (("pretrained", embeddings), ("random_init", baseline))
    }
    result["smoothness_labels"] = f"{dataset} validation accuracy (12 epochs)"
    if out_dir is not None:
        title = f"Pretrained {space_.name} embeddings (PCA), coloured by {dataset} validation accuracy"
        result["files"] = [str(plot_map(embeddings, accuracy, Path(out_dir) / "embedding_map.png", title))]
    return result
