"""Train one cell's network on in-memory image data, seeded, with resumable checkpoints.

Everything random derives from ``TrainConfig.seed``: the initial weights, and each epoch's
shuffle (from ``(seed, epoch)``), so an interrupted run resumed from its last checkpoint
gives the same weights as an uninterrupted one. The learning rate follows a cosine over all
steps, computed from the step number (no scheduler state to save).

A checkpoint directory holds ``state.safetensors`` (the network's weights and buffers, the
optimizer's momentum) and ``checkpoint.json`` (schema version, cell, network and training
configs, finished epochs with their loss, accuracy and measured seconds, the sha256 of the
state). Both are written atomically after every epoch, the state first.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save
from torch import nn
from tqdm.auto import tqdm

from netembed._fields import SEED, Instance, Int, Number, OneOf, check, check_fields
from netembed._io import atomic_write, parse_json
from netembed.errors import DataError, DivergedError
from netembed.models.hub import read_weights
from netembed.spaces.nb101.cell import Cell
from netembed.train.data import ImageData
from netembed.train.network import Network, NetworkConfig, build_network, count_trainable

__all__ = [
    "CHECKPOINT_SCHEMA_VERSION",
    "SMALL_DATA",
    "SMALL_NETWORK",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "load_checkpoint",
    "recalibrate_batch_norm",
    "train_cell",
    "train_network",
]

CHECKPOINT_SCHEMA_VERSION = 1
# The offline default task (README, "Training real networks"): small enough that random cells'
# accuracies spread out instead of all saturating near 100%.
SMALL_DATA = {"train_size": 1000, "label_noise": 0.0}
SMALL_NETWORK = NetworkConfig(stem_channels=16, num_stacks=3, cells_per_stack=1, in_channels=1, image_size=8)
STATE_FILE = "state.safetensors"
CHECKPOINT_FILE = "checkpoint.json"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings: SGD with Nesterov momentum, cosine learning rate, weight decay."""

    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        check_fields(
            self,
            {
                "epochs": Int(1, 10**6),
                "batch_size": Int(1, 2**20),
                "learning_rate": Number(0, 10, open_low=True, open_high=True),
                "momentum": Number(0, 1, open_high=True),
                "weight_decay": Number(0, 1, open_high=True),
                "seed": SEED,
            },
        )


@dataclass
class TrainResult:
    """What one training run measured. ``train_seconds`` counts the optimisation steps only
    (not the evaluations), summed over the epochs, including those of earlier sessions."""

    hash: str
    test_accuracy: float
    train_seconds: float
    params: int
    epochs: int
    history: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def evaluate(network: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``network`` (put in eval mode) on ``images``."""
    network.eval()
    device = next(network.parameters()).device
    correct = 0
    for start in range(0, len(images), batch_size):
        logits = network(images[start : start + batch_size].to(device))
        correct += int((logits.argmax(dim=1).cpu() == labels[start : start + batch_size]).sum())
    return correct / len(images)


@torch.no_grad()
def recalibrate_batch_norm(network: nn.Module, images: torch.Tensor, batch_size: int = 256) -> None:
    """Set every batch norm's running statistics to their exact averages over ``images``.

    Short runs (a few dozen steps) leave exponential running averages far from the final
    weights' statistics, and evaluation then scores near chance whatever the cell; one extra
    forward pass over the training images fixes that (it changes no trainable weight).
    """
    norms = [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    network.train()
    device = next(network.parameters()).device
    for start in range(0, len(images), batch_size):
        network(images[start : start + batch_size].to(device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum


def _learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    return 0.5 * config.learning_rate * (1 + math.cos(math.pi * step / total_steps))


def _optimizer(network: nn.Module, config: TrainConfig) -> torch.optim.SGD:
    return torch.optim.SGD(
        network.parameters(),
        lr=config.learning_rate,
        momentum=config.momentum,
        nesterov=config.momentum > 0,
        weight_decay=config.weight_decay,
    )


def _state_tensors(network: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    tensors = {f"model.{key}": value for key, value in network.state_dict().items()}
    for index, parameter in enumerate(network.parameters()):
        buffer = optimizer.state.get(parameter, {}).get("momentum_buffer")
        if buffer is not None:
            tensors[f"optimizer.{index}.momentum_buffer"] = buffer
    return {key: value.detach().cpu().contiguous().clone() for key, value in tensors.items()}


def _save_checkpoint(
    directory: Path,
    network: Network,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    data_name: str,
    history: list[dict],
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    state = save(_state_tensors(network, optimizer))
    atomic_write(directory / STATE_FILE, lambda tmp: Path(tmp).write_bytes(state))
    document = {
        "schema_version": CHECKPOINT_SCHEMA_VERSION,
        "cell": {"matrix": network.cell.matrix.tolist(), "ops": list(network.cell.ops), "hash": network.cell.hash},
        "network": network.config.to_dict(),
        "train": asdict(config),
        "data": data_name,
        "history": history,
        "state_sha256": hashlib.sha256(state).hexdigest(),
    }
    atomic_write(directory / CHECKPOINT_FILE, lambda tmp: Path(tmp).write_text(json.dumps(document, indent=2) + "\n"))


def load_checkpoint(directory: str | os.PathLike, device: str | torch.device = "cpu"):
    """Rebuild a checkpoint's network (its own cell and config) with its weights.

    Returns ``(network, document, state)``: the network on ``device``, the parsed
    ``checkpoint.json`` and the raw tensors (optimizer buffers included). Raises
    :class:`DataError` naming what is wrong: a missing file, bad JSON, another schema
    version, a cell whose hash is not its matrix's, settings or a history out of range, a state
    whose sha256 differs (truncated or replaced), missing or extra tensors, wrong shapes or
    dtypes, non-finite values. The state is checked against the network built on the meta
    device (no storage) before the network is allocated.
    """
    directory = Path(directory)
    path, state_path = directory / CHECKPOINT_FILE, directory / STATE_FILE
    for required in (path, state_path):
        if not required.is_file():
            raise DataError(f"checkpoint directory must hold {required.name}, none in {directory}")
    try:
        document = parse_json(path.read_text(), path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} must be valid JSON ({exc})") from exc
    version = document.get("schema_version") if isinstance(document, dict) else None
    if type(version) is not int or version != CHECKPOINT_SCHEMA_VERSION:
        raise DataError(f"{path}: schema_version must be {CHECKPOINT_SCHEMA_VERSION}, got {version!r}")
    missing = [key for key in ("cell", "network", "train", "data", "history", "state_sha256") if key not in document]
    if missing:
        raise DataError(
            f"{path} must have the fields cell, network, train, data, history, state_sha256, missing {missing}"
        )
    try:
        cell = Cell(document["cell"]["matrix"], document["cell"]["ops"])
        config = NetworkConfig(**document["network"])
        train = TrainConfig(**document["train"])
    except (TypeError, ValueError, KeyError) as exc:
        raise DataError(f"{directory} must hold a readable checkpoint ({exc})") from exc
    # a matrix or ops edited under the old hash would train another cell than the one asked for
    if document["cell"].get("hash") != cell.hash:
        raise DataError(
            f"{path}: cell.hash must be the hash of its matrix and ops ({cell.hash}), "
            f"got {document['cell'].get('hash')!r}"
        )
    check(document["data"], Instance(str), f"{path}: data", DataError)
    _check_history(path, document["history"], train.epochs)
    skeleton = build_network(cell, config, "meta")  # shapes and dtypes only: check the state before allocating
    weights, state = read_weights(
        state_path, document["state_sha256"], CHECKPOINT_FILE, "the cell's network", skeleton.state_dict(), "model."
    )
    # the optimizer's tensors: each the momentum of one parameter, shaped like it
    momenta = {f"optimizer.{index}.momentum_buffer": p for index, p in enumerate(skeleton.parameters())}
    for key in sorted(key for key in state if not key.startswith("model.")):
        parameter = momenta.get(key)
        if parameter is None:
            raise DataError(f"{state_path}: {key} must be a network tensor or optimizer.<parameter>.momentum_buffer")
        (shape, dtype), (found_shape, found_dtype) = (
            (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for t in (parameter, state[key])
        )
        if (found_shape, found_dtype) != (shape, dtype):
            raise DataError(
                f"{state_path}: {key} must have its parameter's shape {shape} and dtype {dtype}, "
                f"got {found_shape} {found_dtype}"
            )
    network = build_network(cell, config, device)
    network.load_state_dict(weights)
    return network, document, state


#: What each finished epoch records (``train_network``); a resumed run reports them as they are.
_HISTORY = {
    "loss": Number(0, math.inf, open_high=True),
    "test_accuracy": Number(0, 1),
    "seconds": Number(0, math.inf, open_high=True),
}


def _check_history(path: Path, history, epochs: int) -> None:
    """A checkpoint's history: epochs 1, 2, ... (at most ``epochs``), each with its figures in range."""
    if not isinstance(history, list):
        raise DataError(f"{path}: history must be a list, got {type(history).__name__}")
    if len(history) > epochs:
        raise DataError(f"{path}: history must hold at most train.epochs = {epochs} epochs, got {len(history)}")
    for index, entry in enumerate(history):
        where = f"{path}: history[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"epoch", *_HISTORY}:
            raise DataError(f"{where} must have the fields epoch, {', '.join(_HISTORY)}, got {entry!r}")
        check(entry["epoch"], OneOf((index + 1,)), f"{where}.epoch", DataError)
        for name, rule in _HISTORY.items():
            check(entry[name], rule, f"{where}.{name}", DataError)


def train_network(
    network: Network,
    data: ImageData,
    config: TrainConfig = TrainConfig(),
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = False,
    history: list[dict] | None = None,
    optimizer_state: dict | None = None,
) -> TrainResult:
    """Train ``network`` (already built and initialised, e.g. inherited from a parent) for the
    epochs not yet in ``history``, evaluating on the test split after each epoch."""
    _check_fits(network.config, data)
    device = next(network.parameters()).device
    history = list(history or [])
    optimizer = _optimizer(network, config)
    for index, parameter in enumerate(network.parameters()):
        buffer = (optimizer_state or {}).get(f"optimizer.{index}.momentum_buffer")
        if buffer is not None:
            optimizer.state[parameter]["momentum_buffer"] = buffer.to(device)
    steps_per_epoch = math.ceil(len(data.train_images) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    loss_fn = nn.CrossEntropyLoss()
    bar = tqdm(
        total=config.epochs,
        initial=len(history),
        desc=f"train {network.cell.hash[:8]}",
        unit="epoch",
        disable=not progress,
        leave=False,
    )
    for epoch in range(len(history), config.epochs):
        network.train()
        order = torch.randperm(
            len(data.train_images), generator=torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        )
        started, total_loss = time.perf_counter(), 0.0
        for step in range(steps_per_epoch):
            batch = order[step * config.batch_size : (step + 1) * config.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(config, epoch * steps_per_epoch + step, total_steps)
            loss = loss_fn(network(data.train_images[batch].to(device)), data.train_labels[batch].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total_loss += float(loss.detach()) * len(batch)
        seconds = time.perf_counter() - started
        if not math.isfinite(total_loss):
            raise DivergedError(
                f"training loss must stay finite, got {total_loss} in epoch {epoch + 1} "
                f"(learning rate {config.learning_rate} too high?)"
            )
        recalibrate_batch_norm(network, data.train_images)
        accuracy = evaluate(network, data.test_images, data.test_labels)
        history.append(
            {
                "epoch": epoch + 1,
                "loss": total_loss / len(data.train_images),
                "test_accuracy": accuracy,
                "seconds": seconds,
            }
        )
        if checkpoint_dir is not None:
            _save_checkpoint(Path(checkpoint_dir), network, optimizer, config, data.name, history)
        bar.update()
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", accuracy=f"{accuracy:.3f}")
    bar.close()
    if not history:
        raise ValueError("train_network ran no epoch: config.epochs must exceed the finished ones")
    return TrainResult(
        network.cell.hash,
        history[-1]["test_accuracy"],
        sum(h["seconds"] for h in history),
        count_trainable(network),
        len(history),
        history,
    )


def _check_fits(config: NetworkConfig, data: ImageData) -> None:
    if config.in_channels != data.in_channels:
        raise DataError(
            f"network in_channels must match the data's {data.in_channels} channels, got {config.in_channels}"
        )
    if config.num_classes < data.num_classes:
        raise DataError(
            f"network num_classes must cover the data's {data.num_classes} classes, got {config.num_classes}"
        )
    if data.image_size < 2 ** (config.num_stacks - 1):
        raise DataError(
            f"images must be at least {2 ** (config.num_stacks - 1)} pixels for {config.num_stacks} "
            f"stacks, got {data.image_size}"
        )


def train_cell(
    cell: Cell,
    data: ImageData,
    network_config: NetworkConfig | None = None,
    config: TrainConfig = TrainConfig(),
    device: str | torch.device = "cpu",
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> TrainResult:
    """Build ``cell``'s network (seeded by ``config.seed``), train it and measure it. ``cell`` may
    be a NAS-Bench-201 architecture: its network at the same scale (``_network``), no checkpoints.

    With ``checkpoint_dir``, a run that finds a checkpoint there continues from its last
    finished epoch; the checkpoint must be of the same cell, network, training settings and data.
    """
    network_config = network_config or NetworkConfig(
        in_channels=data.in_channels, image_size=data.image_size, num_classes=data.num_classes
    )
    if checkpoint_dir is not None and not isinstance(cell, Cell):
        raise DataError(f"checkpoints are for NAS-Bench-101 cells, got a {type(cell).__name__}")
    if checkpoint_dir is not None and (Path(checkpoint_dir) / CHECKPOINT_FILE).exists():
        network, document, state = load_checkpoint(checkpoint_dir, device)
        found = {
            "cell": document["cell"]["hash"],
            "network": document["network"],
            "train": document["train"],
            "data": document["data"],
        }
        wanted = {"cell": cell.hash, "network": network_config.to_dict(), "train": asdict(config), "data": data.name}
        differing = [key for key in wanted if found[key] != wanted[key]]
        if differing:
            raise DataError(
                f"checkpoint in {checkpoint_dir} must be of the same run to resume, got different "
                + ", ".join(f"{key} ({found[key]!r} there, {wanted[key]!r} here)" for key in differing)
            )
        return train_network(network, data, config, checkpoint_dir, progress, document["history"], state)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        network = _network(cell, network_config, device)
    return train_network(network, data, config, checkpoint_dir, progress)


def _network(cell, config: NetworkConfig, device):
    """``cell``'s network at ``config``'s scale: NAS-Bench-101's, or for a NAS-Bench-201
    architecture its network with ``stem_channels`` as C and ``cells_per_stack`` as N (three
    stages, as NAS-Bench-101's three stacks)."""
    if isinstance(cell, Cell):
        return build_network(cell, config, device)
    from netembed.spaces.nb201 import network as nb201

    scale = nb201.NetworkConfig(
        channels=config.stem_channels, cells_per_stage=config.cells_per_stack, num_classes=config.num_classes,
        in_channels=config.in_channels,
    )  # fmt: skip
    return nb201.build_network(cell.ops, scale, device)
