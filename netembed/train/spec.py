"""Real training described by one frozen spec: which images, which network scale, which optimiser.

``TrainingSpec`` is what ``netembed train-cell`` and ``netembed search --evaluator train`` take;
``build(seed)`` turns it into the image data, the network and optimiser configs, and the device.
Its defaults are the small offline task (``SMALL_DATA``, ``SMALL_NETWORK``, ``TrainConfig()``).

>>> spec = TrainingSpec(epochs=1)
>>> spec.epochs, spec.images, spec.stem_channels
(1, 'digits', 16)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from netembed._fields import documented
from netembed.errors import NetembedError
from netembed.train.data import ImageData, digits, load_npz
from netembed.train.network import NetworkConfig, min_stem_channels
from netembed.train.trainer import SMALL_DATA, SMALL_NETWORK, TrainConfig

__all__ = ["TrainingError", "TrainingSpec", "resolve_device", "result_text", "train_one"]

_TRAIN = TrainConfig()


class TrainingError(NetembedError, ValueError):
    """Real-training settings that cannot be used (a scale, an optimiser value, a device)."""


@dataclass(frozen=True)
class TrainingSpec:
    """Images, the network scale and the optimiser of real training; what a field means is its help."""

    images: str = documented(
        "digits",
        "digits (scikit-learn's, offline) or an .npz with train_images, train_labels, test_images, test_labels",
    )
    train_size: int = documented(SMALL_DATA["train_size"], "digits images to train on")
    label_noise: float = SMALL_DATA["label_noise"]
    split_seed: int = documented(0, "digits train/test split")
    epochs: int = _TRAIN.epochs
    batch_size: int = _TRAIN.batch_size
    lr: float = _TRAIN.learning_rate
    stem_channels: int = documented(
        SMALL_NETWORK.stem_channels, "128 with --stacks 3 --cells-per-stack 3 is NAS-Bench-101's full network"
    )
    stacks: int = SMALL_NETWORK.num_stacks
    cells_per_stack: int = SMALL_NETWORK.cells_per_stack
    device: str | None = documented(None, "cpu, cuda, cuda:1 ... (default: cuda when available)")
    inherit: bool = documented(
        False, "a search starts each cell from the weights of a trained cell one move away (Net2Net), when there is one"
    )

    def data(self) -> ImageData:
        if self.images == "digits":
            return digits(self.train_size, self.label_noise, seed=self.split_seed)
        return load_npz(self.images)

    def build(self, seed: int, cell=None, space: str = "nb101") -> tuple[ImageData, NetworkConfig, TrainConfig, str]:
        """The image data, network scale, optimiser settings (seeded ``seed``) and device, for
        ``cell`` (None: any cell of ``space``, as a search trains; a NAS-Bench-201 cell's channels
        are not split)."""
        fewest = min_stem_channels(cell) if space == "nb101" else 1
        if isinstance(self.stem_channels, int) and 0 < self.stem_channels < fewest:
            raise TrainingError(
                f"--stem-channels must be at least {fewest} (the vertices feeding a cell's output split them, "
                f"{'one each' if cell is None else f'{fewest} in this cell'}), got {self.stem_channels}"
            )
        data = self.data()
        try:
            network = NetworkConfig(
                stem_channels=self.stem_channels,
                num_stacks=self.stacks,
                cells_per_stack=self.cells_per_stack,
                num_classes=max(10, data.num_classes),
                in_channels=data.in_channels,
                image_size=data.image_size,
            )
            config = TrainConfig(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.lr, seed=seed)
        except ValueError as exc:
            raise TrainingError(str(exc)) from exc
        return data, network, config, resolve_device(self.device)

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_device(name: str | None) -> str:
    """``name`` (cpu, cuda or cuda:N), checked against this machine; None: CUDA when available, else the CPU."""
    import torch

    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise TrainingError(f"--device must be cpu, cuda or cuda:N, got {name!r}")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise TrainingError(
            f"--device must be a device this machine has, got {name!r} ({torch.cuda.device_count()} CUDA devices here)"
        )
    return name


def train_one(
    cell, training: TrainingSpec, seed: int = 0, out="results/train-cell", data=None, progress=False, announce=None
) -> tuple[dict, str]:
    """Train ``cell``'s network (a ``Cell`` or its JSON text or file) as ``training`` says (seeded
    ``seed``), checkpointed in ``out`` (rerun to resume), and write ``out/result.json``: the
    measurements, the settings and, when the table at ``data`` (or in its default place) holds
    the cell, its CIFAR-10 figure. Returns that document and ``result_text`` of it.

    Args:
        seed: initial weights and shuffles
        out: checkpoint folder and result.json
    """
    import json
    from pathlib import Path

    from netembed import spaces
    from netembed._io import atomic_write, folder_lock
    from netembed.spaces.nb101.inspect import parse_cell
    from netembed.train.trainer import train_cell

    cell, out = parse_cell(cell) if isinstance(cell, str) else cell, Path(out)
    bench = spaces.get("nb101").find_table(data, required=False)  # a wrong --data is refused before the training
    images, network, config, device = training.build(seed, cell)  # bad settings: nothing written
    with folder_lock(out):  # one process trains in a checkpoint folder
        if announce is not None:
            announce(
                f"training {cell.hash} on {images.name} ({len(images.train_images):,} train / "
                f"{len(images.test_images):,} test images, {images.image_size}x{images.image_size}) for "
                f"{config.epochs} epochs on {device}; checkpoints in {out}"
            )
        try:
            result = train_cell(cell, images, network, config, device, checkpoint_dir=out, progress=progress)
        except KeyboardInterrupt:
            raise TrainingError(
                f"interrupted; finished epochs are checkpointed in {out}: rerun the same command to resume"
            ) from None
        payload = (
            cell.to_dict()
            | result.to_dict()
            | {"data": images.name, "network": network.to_dict(), "device": device, "checkpoint": str(out)}
        )
        if bench is not None and cell in bench:
            payload["table_test_accuracy"] = float(bench.query(cell).test_acc_108)
        atomic_write(out / "result.json", lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2)))
        return payload, result_text(payload)


def result_text(payload: dict) -> str:
    """What ``netembed train-cell`` prints of ``train_one``'s ``result.json`` document."""
    from pathlib import Path

    table = payload.get("table_test_accuracy")
    lines = [
        f"test accuracy {payload['test_accuracy']:.4f} after {payload['epochs']} epochs, "
        f"{payload['train_seconds']:.1f} s of training, {payload['params']:,} parameters"
        + ("" if table is None else f"; table (CIFAR-10, full network): {table:.4f}")
    ]
    lines += [
        f"  epoch {h['epoch']:>3}  loss {h['loss']:.4f}  test accuracy {h['test_accuracy']:.4f}  {h['seconds']:.2f} s"
        for h in payload["history"]
    ]
    lines.append(f"wrote {Path(payload['checkpoint']) / 'result.json'}")
    return "\n".join(lines)
