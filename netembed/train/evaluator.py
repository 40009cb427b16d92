"""Real training as a search evaluator: each query trains the cell's network and measures it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from netembed.cell import Cell
from netembed.search import Measurement
from netembed.train.data import ImageData
from netembed.train.network import NetworkConfig
from netembed.train.trainer import TrainConfig, load_checkpoint, train_cell, train_network

__all__ = ["RealTrainingEvaluator"]


class RealTrainingEvaluator:
    """Labels from training: test accuracy after ``config.epochs`` epochs, the measured training
    seconds (what a reward on seconds and a time estimator of this hardware should see) and the
    trained network's parameter count.

    With ``checkpoint_root``, each cell trains in ``checkpoint_root/<hash>``: a search killed
    mid-training resumes that cell from its last finished epoch. With ``inherit`` (which
    needs ``checkpoint_root``), a cell one move away from an already trained cell starts from
    that parent's weights (:func:`netembed.train.net2net.inherit`; the best parent by accuracy,
    preferring function-preserving moves) and then trains the same number of epochs.
    """

    name = "train"

    def __init__(
        self,
        data: ImageData,
        network: NetworkConfig,
        config: TrainConfig = TrainConfig(),
        device: str = "cpu",
        checkpoint_root: str | os.PathLike | None = None,
        inherit: bool = False,
    ):
        if inherit and checkpoint_root is None:
            raise ValueError(
                "RealTrainingEvaluator: inherit=True needs a checkpoint_root to find the parents' weights in"
            )
        self.data, self.network, self.config, self.device = data, network, config, device
        self.checkpoint_root = None if checkpoint_root is None else Path(checkpoint_root)
        self.inherit = inherit
        self.parents: dict[str, str] = {}  # child hash -> the parent hash it inherited from

    def __call__(self, cell: Cell) -> Measurement:
        directory = None if self.checkpoint_root is None else self.checkpoint_root / cell.hash
        started = directory is not None and (directory / "checkpoint.json").exists()
        warm = None if started or not self.inherit else self._warm_start(cell)
        if warm is None:
            result = train_cell(cell, self.data, self.network, self.config, self.device, checkpoint_dir=directory)
        else:
            result = train_network(warm, self.data, self.config, checkpoint_dir=directory)
        return Measurement(result.test_accuracy, result.train_seconds, result.params)

    def _warm_start(self, cell: Cell):
        """The child network inherited from the best trained parent one move away, or None."""
        from netembed.train.net2net import inherit
        from netembed.transforms import neighbors

        trained = []
        for near in neighbors(cell):
            document = self.checkpoint_root / near.cell.hash / "checkpoint.json"
            if document.exists():
                history = json.loads(document.read_text())["history"]
                if len(history) == self.config.epochs:  # finished parents only
                    trained.append((history[-1]["test_accuracy"], near.cell))
        best = None
        for accuracy, parent_cell in sorted(trained, key=lambda t: -t[0]):
            parent, _, _ = load_checkpoint(self.checkpoint_root / parent_cell.hash, self.device)
            for move in neighbors(parent.cell):
                if move.cell == cell:
                    child = inherit(parent, move.action, seed=self.config.seed)
                    if best is None or (child.function_preserving and not best[1].function_preserving):
                        best = (parent_cell, child)
                    break
            if best is not None and best[1].function_preserving:
                break
        if best is None:
            return None
        self.parents[cell.hash] = best[0].hash
        return best[1].network

    def describe(self) -> dict:
        """The settings a resumed search must share with the original one."""
        return {
            "data": self.data.name,
            "network": self.network.to_dict(),
            "train": vars(self.config).copy(),
            "inherit": self.inherit,
        }
