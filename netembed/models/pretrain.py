"""Label-free pretraining of the cell encoder: a variational graph autoencoder over the whole space.

As arch2vec: the encoder's vertex latents must reconstruct the cell (each vertex's op and
every edge), with a small KL term that keeps the latent space smooth. No accuracy or time
label is ever read, so the result may be used inside query-efficiency measurements.

Resumable: a checkpoint (weights, optimiser state, epoch, RNG state) is written atomically
after every epoch and picked up by the next run with the same output directory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save
from torch import nn

from netembed._fields import SEED, Int, Number, check_fields
from netembed._io import atomic_write, parse_json
from netembed.errors import DataError
from netembed.models.encoder import CellAutoencoder, CellEncoder, Decoder, EncoderConfig
from netembed.models.graph import DenseCells, SpaceGraphs

# CellAutoencoder and Decoder live beside the encoder (loading a pretrained encoder needs them);
# they stay importable from here, where they are trained.
__all__ = [
    "CellAutoencoder",
    "Decoder",
    "PretrainConfig",
    "holdout_split",
    "pretrain",
    "reconstruction",
]

_log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_STATE = "checkpoint.json"


@dataclass(frozen=True)
class PretrainConfig:
    epochs: int = 3
    batch_size: int = 256
    lr: float = 1e-3
    kl_weight: float = 0.005
    holdout: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(
            self,
            {
                "epochs": Int(0, 10**6),  # 0: an untrained autoencoder, the baseline of a measurement
                "batch_size": Int(1, 2**20),
                "lr": Number(0, 10, open_low=True),
                "kl_weight": Number(0, 1000),
                "holdout": Number(0, 1, open_low=True, open_high=True),
                "seed": SEED,
            },
        )


def holdout_split(num_cells: int, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows used for training and the held-out rows (a seeded permutation of the space)."""
    if not 0 < fraction < 1:
        raise ValueError(f"holdout fraction must be in (0, 1), got {fraction}")
    order = np.random.default_rng(seed).permutation(num_cells)
    cut = round(num_cells * fraction)
    return np.sort(order[cut:]), np.sort(order[:cut])


def _targets(cells: DenseCells, node_types: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pair_mask = cells.mask[:, :, None] & cells.mask[:, None, :]
    pair_mask = torch.triu(pair_mask, diagonal=1)
    return cells.x[..., :node_types].argmax(dim=-1), cells.adjacency, pair_mask


def _losses(encoder: CellEncoder, decoder: Decoder, cells: DenseCells, kl_weight: float, sample: bool):
    mu, logvar = encoder.vertex_latents(cells)
    z = mu
    if sample and logvar is not None:
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
    op_logits, edge_logits = decoder(z)
    ops, adjacency, pair_mask = _targets(cells, op_logits.shape[-1])
    op_loss = nn.functional.cross_entropy(op_logits[cells.mask], ops[cells.mask])
    edge_loss = nn.functional.binary_cross_entropy_with_logits(edge_logits[pair_mask], adjacency[pair_mask])
    kl = torch.zeros(())
    if logvar is not None:
        kl = -0.5 * torch.mean(torch.sum((1 + logvar - mu.pow(2) - logvar.exp()) * cells.mask[..., None], dim=-1))
    return op_loss + edge_loss + kl_weight * kl, (op_logits, edge_logits)


@torch.no_grad()
def reconstruction(
    encoder: CellEncoder, decoder: Decoder, rows: np.ndarray, batch_size: int = 8192, graphs: SpaceGraphs | None = None
) -> dict:
    """Reconstruction quality from the latent means of rows of the encoder's space (``graphs``: its
    graph views, when already built): op accuracy per vertex, exact adjacency per cell."""
    graphs = graphs if graphs is not None else SpaceGraphs(encoder.space)
    encoder.eval()
    ops_right = ops_total = adjacency_exact = cells_exact = 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        cells = graphs.rows(chunk).to(encoder.device)
        mu, _ = encoder.vertex_latents(cells)
        op_logits, edge_logits = decoder(mu)
        ops, adjacency, pair_mask = _targets(cells, op_logits.shape[-1])
        op_ok = (op_logits.argmax(-1) == ops) | ~cells.mask
        edge_ok = ((edge_logits > 0).float() == adjacency) | ~pair_mask
        ops_right += int((op_ok & cells.mask).sum())
        ops_total += int(cells.mask.sum())
        adjacency_exact += int(edge_ok.all(dim=(1, 2)).sum())
        cells_exact += int((edge_ok.all(dim=(1, 2)) & op_ok.all(dim=1)).sum())
    return {
        "cells": len(rows),
        "ops_accuracy": ops_right / ops_total,
        "adjacency_accuracy": adjacency_exact / len(rows),
        "cell_accuracy": cells_exact / len(rows),
    }


# -- checkpoints ------------------------------------------------------------------------------------


def _save_checkpoint(
    folder: Path, model: CellAutoencoder, optimizer, epoch: int, rng: np.random.Generator, history: list
) -> None:
    tensors = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    state = optimizer.state_dict()
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value).contiguous()
    meta = {
        "epoch": epoch,
        "param_groups": state["param_groups"],
        "rng": rng.bit_generator.state,
        "torch_rng": torch.get_rng_state().tolist(),
        "history": history,
    }
    weights = save(tensors)
    meta["weights_sha256"] = hashlib.sha256(weights).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / CHECKPOINT, lambda path: Path(path).write_bytes(weights))
    atomic_write(folder / CHECKPOINT_STATE, lambda path: Path(path).write_text(json.dumps(meta)))


def _load_checkpoint(folder: Path, model: CellAutoencoder, optimizer) -> tuple[int, dict, list]:
    from netembed.models.hub import load_weights

    try:
        meta = parse_json((folder / CHECKPOINT_STATE).read_text(), folder / CHECKPOINT_STATE)
        sha256 = meta["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:  # say so rather than train from a half state
        raise DataError(f"checkpoint in {folder} is unreadable ({exc!r}); delete it to start over") from exc
    try:  # the one strict loader: the recorded sha256, then keys and shapes
        tensors = load_weights(model, folder / CHECKPOINT, sha256, CHECKPOINT_STATE, "CellAutoencoder", "model.")
    except DataError as exc:
        raise DataError(f"checkpoint in {folder} is unreadable ({exc}); delete it to start over") from None
    state: dict = {"state": {}, "param_groups": meta["param_groups"]}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            state["state"].setdefault(int(index), {})[name] = value
    optimizer.load_state_dict(state)
    torch.set_rng_state(torch.tensor(meta["torch_rng"], dtype=torch.uint8))
    return meta["epoch"], meta["rng"], meta["history"]


# -- training ---------------------------------------------------------------------------------------


def pretrain(
    out_dir: str | os.PathLike,
    encoder_config: EncoderConfig = EncoderConfig(),
    config: PretrainConfig = PretrainConfig(),
    device: str | torch.device = "cpu",
    progress: bool = True,
    max_cells: int | None = None,
) -> tuple[CellAutoencoder, dict]:
    """Train an autoencoder on every cell of ``encoder_config.space`` (minus a held-out split);
    returns it and its quality.

    ``out_dir`` receives the per-epoch checkpoint; rerunning with the same directory resumes.
    ``max_cells`` trains on a subset (for tests and quick looks).
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    torch.manual_seed(config.seed)
    graphs = SpaceGraphs(encoder_config.space)
    train_rows, held_out = holdout_split(len(graphs), config.holdout, seed=config.seed)
    if max_cells is not None:
        train_rows, held_out = train_rows[:max_cells], held_out[: max(1, max_cells // 9)]
    model = CellAutoencoder(encoder_config).to(device)
    encoder, decoder = model.encoder, model.decoder
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng(config.seed)
    start_epoch, history = 0, []
    if (out_dir / CHECKPOINT).exists():
        start_epoch, rng_state, history = _load_checkpoint(out_dir, model, optimizer)
        rng.bit_generator.state = rng_state
        _log.info("resuming pretraining from epoch %d", start_epoch)
    for epoch in range(start_epoch, config.epochs):
        encoder.train()
        order = rng.permutation(train_rows)
        batches = range(0, len(order), config.batch_size)
        total = 0.0
        bar = tqdm(batches, desc=f"pretrain epoch {epoch + 1}/{config.epochs}", disable=not progress, leave=False)
        for start in bar:
            rows = order[start : start + config.batch_size]
            cells = graphs.rows(rows).to(device)
            loss, _ = _losses(encoder, decoder, cells, config.kl_weight, sample=True)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
            bar.set_postfix(loss=f"{loss.item():.4f}")
        quality = reconstruction(encoder, decoder, held_out, graphs=graphs)
        history.append({"epoch": epoch + 1, "train_loss": total / len(order), **quality})
        _log.info("epoch %d: %s", epoch + 1, history[-1])
        if progress:
            print(
                f"epoch {epoch + 1}: loss {total / len(order):.4f}, held-out ops {quality['ops_accuracy']:.5f}, "
                f"adjacency {quality['adjacency_accuracy']:.5f}, cells {quality['cell_accuracy']:.5f}",
                flush=True,
            )
        _save_checkpoint(out_dir, model, optimizer, epoch + 1, rng, history)
    model.eval()
    return model, {
        "history": history,
        "held_out": reconstruction(encoder, decoder, held_out, graphs=graphs),
        "train_cells": len(train_rows),
        "encoder": asdict(encoder_config),
        "pretrain": asdict(config),
    }
