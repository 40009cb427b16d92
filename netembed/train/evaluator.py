"""Real training as a search evaluator: each query trains the cell's network and measures it."""

from __future__ import annotations

import os
from pathlib import Path

from netembed.cell import Cell
from netembed.search import Measurement
from netembed.train.data import ImageData
from netembed.train.network import NetworkConfig
from netembed.train.trainer import TrainConfig, train_cell

__all__ = ["RealTrainingEvaluator"]


class RealTrainingEvaluator:
    """Labels from training: test accuracy after ``config.epochs`` epochs, the measured training
    seconds (what a reward on seconds and a time estimator of this hardware should see) and the
    trained network's parameter count.

    With ``checkpoint_root``, each cell trains in ``checkpoint_root/<hash>``: a search killed
    mid-training resumes that cell from its last finished epoch.
    """

    name = "train"

    def __init__(self, data: ImageData, network: NetworkConfig, config: TrainConfig = TrainConfig(),
                 device: str = "cpu", checkpoint_root: str | os.PathLike | None = None):
        self.data, self.network, self.config, self.device = data, network, config, device
        self.checkpoint_root = None if checkpoint_root is None else Path(checkpoint_root)

    def __call__(self, cell: Cell) -> Measurement:
        directory = None if self.checkpoint_root is None else self.checkpoint_root / cell.hash
        result = train_cell(cell, self.data, self.network, self.config, self.device, checkpoint_dir=directory)
        return Measurement(result.test_accuracy, result.train_seconds, result.params)

    def describe(self) -> dict:
        """The settings a resumed search must share with the original one."""
        return {"data": self.data.name, "network": self.network.to_dict(), "train": vars(self.config).copy()}
