"""Image data for real training, held in memory as tensors.

``digits()`` is the offline default: scikit-learn's 1,797 handwritten digits (8x8 grey
images, shipped inside the scikit-learn wheel, so nothing is downloaded). ``from_datasets``
takes any torchvision-style datasets (CIFAR-10 on a GPU machine), ``load_npz`` a file of
arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import torch

from netembed._io import existing_file, read_npz
from netembed.errors import DataError

__all__ = ["NPZ_KEYS", "ImageData", "digits", "from_datasets", "load_npz"]

NPZ_KEYS = ("train_images", "train_labels", "test_images", "test_labels")
MAX_CLASSES = 1000  # ImageNet's; the classifier has one output per class


@dataclass(frozen=True, eq=False)
class ImageData:
    """Train and test images ``(N, C, H, W)`` float32 (normalised) with int64 labels."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.ndim != 4 or images.shape[2] != images.shape[3]:
                raise DataError(f"{self.name}: {split} images must have shape (N, C, H, H), got {tuple(images.shape)}")
            if labels.shape != (len(images),):
                raise DataError(
                    f"{self.name}: {split} labels must have shape ({len(images)},), got {tuple(labels.shape)}"
                )
            if len(images) == 0:
                raise DataError(f"{self.name}: the {split} split must not be empty")
            if not torch.isfinite(images).all():
                raise DataError(f"{self.name}: {split} images must be finite, got NaN or inf")
            _check_classes(self.name, split, labels.numpy())
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise DataError(
                f"{self.name}: train and test images must have the same shape, got "
                f"{tuple(self.train_images.shape[1:])} and {tuple(self.test_images.shape[1:])}"
            )

    @property
    def in_channels(self) -> int:
        return int(self.train_images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_images.shape[2])

    @property
    def num_classes(self) -> int:
        return int(max(self.train_labels.max(), self.test_labels.max())) + 1


def _normalised(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # per-channel statistics of the training split only
    mean = train.mean(dim=(0, 2, 3), keepdim=True)
    std = train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return (train - mean) / std, (test - mean) / std


def _check_classes(name: str, split: str, labels: np.ndarray) -> None:
    """Labels are class indices 0..K-1, K at most MAX_CLASSES (integers, or whole numbers stored as floats)."""
    rule = f"{name}: {split} labels must be integer class indices in [0, {MAX_CLASSES - 1}]"
    if labels.dtype.kind not in "iuf":
        raise DataError(f"{rule}, got dtype {labels.dtype}")
    bad = (labels < 0) | (labels >= MAX_CLASSES)
    if labels.dtype.kind == "f":
        bad |= ~np.isfinite(labels) | (labels != np.round(labels))
    if bad.any():
        raise DataError(f"{rule}, got {labels[bad][0]}")


def _images(name: str, split: str, images) -> torch.Tensor:
    images = np.asarray(images)
    if images.dtype.kind not in "biuf":
        raise DataError(f"{name}: {split} images must be numbers, got dtype {images.dtype}")
    images = torch.as_tensor(images, dtype=torch.float32)
    return images[:, None] if images.ndim == 3 else images  # (N, H, W): grey images


def _labels(name: str, split: str, labels) -> torch.Tensor:
    labels = np.asarray(labels)
    _check_classes(name, split, labels)  # before the cast: 2.5 would become class 2
    return torch.as_tensor(labels.astype(np.int64))


def _build(name: str, train_images, train_labels, test_images, test_labels) -> ImageData:
    raw = ImageData(
        name,
        _images(name, "train", train_images),
        _labels(name, "train", train_labels),
        _images(name, "test", test_images),
        _labels(name, "test", test_labels),
    )  # checked before the statistics are taken
    train, test = _normalised(raw.train_images, raw.test_images)
    return replace(raw, train_images=train, test_images=test)


def digits(train_size: int = 1000, label_noise: float = 0.0, seed: int = 0) -> ImageData:
    """scikit-learn's digits, split once by ``seed`` into ``train_size`` training images and
    the rest (at least 100) for testing. ``label_noise`` replaces that fraction of training
    labels by random classes (test labels stay clean)."""
    from sklearn.datasets import load_digits  # the data ships inside the scikit-learn wheel

    bunch = load_digits()
    images, labels = bunch.images, bunch.target
    if not isinstance(train_size, int) or not 10 <= train_size <= len(images) - 100:
        raise DataError(f"digits: train_size must be an integer in [10, {len(images) - 100}], got {train_size!r}")
    if not 0.0 <= label_noise < 1.0:
        raise DataError(f"digits: label_noise must be in [0, 1), got {label_noise!r}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    train, test = order[:train_size], order[train_size:]
    train_labels = labels[train].copy()
    noisy = rng.random(train_size) < label_noise
    train_labels[noisy] = rng.integers(0, 10, int(noisy.sum()))
    suffix = f"-noise{label_noise:g}" if label_noise else ""
    return _build(f"digits{train_size}{suffix}", images[train], train_labels, images[test], labels[test])


def from_datasets(train, test, name: str = "dataset") -> ImageData:
    """Stack torchvision-style datasets (indexable, yielding ``(image, label)`` with the image a
    ``(C, H, W)`` tensor or array) into memory, e.g. CIFAR-10 with a ``ToTensor`` transform."""

    def stack(dataset, split):
        if len(dataset) == 0:
            raise DataError(f"{name}: the {split} dataset must not be empty")
        images, labels = zip(*(dataset[i] for i in range(len(dataset))))
        return torch.stack([torch.as_tensor(np.asarray(image)) for image in images]), np.asarray(labels)

    train_images, train_labels = stack(train, "train")
    test_images, test_labels = stack(test, "test")
    return _build(name, train_images, train_labels, test_images, test_labels)


def load_npz(path: str | os.PathLike) -> ImageData:
    """A ``.npz`` with ``train_images``, ``train_labels``, ``test_images``, ``test_labels``
    (images ``(N, H, W)`` or ``(N, C, H, W)``). Read with ``allow_pickle=False``."""
    path = existing_file(path, "image data must be an .npz file")
    arrays = {key: value for key, value in read_npz(path).items() if key in NPZ_KEYS}
    missing = [key for key in NPZ_KEYS if key not in arrays]
    if missing:
        raise DataError(f"{path} must hold the arrays {list(NPZ_KEYS)}, missing {missing}")
    return _build(path.stem, *(arrays[key] for key in NPZ_KEYS))
