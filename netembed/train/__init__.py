"""Real training of NAS-Bench-101 networks: the networks (:mod:`.network`), image data
(:mod:`.data`) and a seeded, resumable trainer (:mod:`.trainer`)."""

from netembed.train.data import ImageData, digits, from_datasets, load_npz
from netembed.train.network import CellModule, Network, NetworkConfig, build_network, count_trainable
from netembed.train.trainer import (SMALL_DATA, SMALL_NETWORK, TrainConfig, TrainResult, evaluate, load_checkpoint,
                                    train_cell, train_network)

__all__ = [
    "NetworkConfig", "Network", "CellModule", "build_network", "count_trainable",
    "ImageData", "digits", "from_datasets", "load_npz",
    "TrainConfig", "TrainResult", "train_cell", "train_network", "evaluate", "load_checkpoint",
    "SMALL_DATA", "SMALL_NETWORK",
]
