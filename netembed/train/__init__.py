"""Real training of NAS-Bench-101 networks: the networks (:mod:`.network`), image data
(:mod:`.data`) and a seeded, resumable trainer (:mod:`.trainer`)."""

from netembed.train.data import ImageData, digits, from_datasets, load_npz
from netembed.train.network import CellModule, Network, NetworkConfig, build_network, count_trainable
from netembed.train.trainer import (
    SMALL_DATA,
    SMALL_NETWORK,
    TrainConfig,
    TrainResult,
    evaluate,
    load_checkpoint,
    train_cell,
    train_network,
)

__all__ = [
    "SMALL_DATA",
    "SMALL_NETWORK",
    "CellModule",
    "ImageData",
    "Network",
    "NetworkConfig",
    "TrainConfig",
    "TrainResult",
    "build_network",
    "count_trainable",
    "digits",
    "evaluate",
    "from_datasets",
    "load_checkpoint",
    "load_npz",
    "train_cell",
    "train_network",
]
