"""Evaluators: what labels a cell during a search.

An evaluator is any callable ``evaluator(cell) -> Measurement`` with a ``name`` (the
``Evaluator`` protocol); ``describe()``, where it exists, returns the settings a resumed or
shared run must share. Three ship with netembed:

- ``TableEvaluator``: the NAS-Bench-101 table (each new cell is one query of the table);
- ``SurrogateEvaluator``: pretrained predictors, for users without the table;
- ``RealTrainingEvaluator``: trains each cell's network on real images (``netembed.train``).

The harness (``netembed.search``) knows only the protocol; training knows nothing of search.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from netembed.spaces.nb101.cell import Cell

if TYPE_CHECKING:
    from netembed.models.latency import DeviceLatency
    from netembed.models.predictors import AccuracyPredictor, TimeEstimator
    from netembed.spaces.nb101.table import Benchmark
    from netembed.train.data import ImageData
    from netembed.train.network import NetworkConfig
    from netembed.train.trainer import TrainConfig

__all__ = [
    "EVALUATORS",
    "Evaluator",
    "Measurement",
    "NB201TableEvaluator",
    "PredictedLatency",
    "RealTrainingEvaluator",
    "SurrogateEvaluator",
    "TableEvaluator",
]

#: The evaluators a search spec can name.
EVALUATORS = ("surrogate", "table", "train")


@dataclass(frozen=True)
class Measurement:
    """An evaluator's answer for one cell: accuracy in [0, 1], training seconds (None when
    unknown), the network's parameter count, and its inference milliseconds on the device a
    ``latency:DEVICE`` cost names (None when the run has no such cost)."""

    accuracy: float
    seconds: float | None
    params: int
    latency: float | None = None


class Evaluator(Protocol):
    """Labels one cell: ``evaluator(cell) -> Measurement``."""

    name: str

    def __call__(self, cell: Cell) -> Measurement: ...


class TableEvaluator:
    """Labels from the NAS-Bench-101 table: each new cell is one query.

    Accuracy is the table's ``test_acc_108``; seconds come from the training-time file where it
    covers the cell, else from ``time_estimator`` when given (else None).
    """

    name = "table"

    def __init__(self, bench: Benchmark, time_estimator: TimeEstimator | None = None):
        self.bench, self.time_estimator = bench, time_estimator

    def __call__(self, cell: Cell) -> Measurement:
        row = self.bench.row_of(cell)
        seconds = None
        if self.bench.train_time_108 is not None and np.isfinite(self.bench.train_time_108[row]):
            seconds = float(self.bench.train_time_108[row])
        elif self.time_estimator is not None:
            seconds = float(self.time_estimator.predict([cell])[0][0])
        return Measurement(float(self.bench.test_acc_108[row]), seconds, int(self.bench.params[row]))


class NB201TableEvaluator:
    """Labels from the NAS-Bench-201 table: the ``dataset``'s validation accuracy (12 epochs), as
    the benchmark's users search; each new architecture is one query. The test accuracy of what a
    search picked is read from the table afterwards (``Table.test``), never by the search.
    Seconds are unknown (None); parameters are the exact counts of the CIFAR network; with a
    ``device``, latency is the table's milliseconds on it, or with a ``latency_model``
    (``PredictedLatency``: a device's model adapted from a few timings) its prediction: the table's
    column is then read only to check the pick afterwards."""

    name = "table"

    def __init__(self, table, dataset: str = "cifar10", device: str | None = None, latency_model=None):
        self.table, self.dataset, self.latency_model = table, table.check_dataset(dataset), latency_model
        self.device = device if device is None or latency_model is not None else table.check_device(device)

    def __call__(self, arch) -> Measurement:
        from netembed.spaces.nb201.params import count_params

        row = self.table.row_of(arch)
        if self.latency_model is not None:
            latency = self.latency_model(arch)
        else:
            latency = None if self.device is None else float(self.table.latency[self.device][row])
        return Measurement(float(self.table.val[self.dataset][row]), None, count_params(arch.ops), latency)


@dataclass(frozen=True)
class PredictedLatency:
    """A ``DeviceLatency``'s milliseconds for one architecture of its space, at ``quantile`` of its
    predictive spread (0.5: the median; higher: a bound the device meets with that probability)."""

    model: DeviceLatency
    quantile: float = 0.5

    def __call__(self, arch) -> float:
        from netembed import spaces

        features = spaces.get(self.model.config.space).feature_inputs([arch])
        return float(self.model.ms(features, self.quantile)[0])


class SurrogateEvaluator:
    """Labels from surrogate models (no table needed): predicted accuracy and training seconds
    (where a time estimator is given), the exact parameter count of ``space`` (None: NAS-Bench-101)
    and, with a ``latency_model`` (``PredictedLatency``), predicted milliseconds."""

    name = "surrogate"

    def __init__(
        self,
        accuracy_predictor: AccuracyPredictor,
        time_estimator: TimeEstimator | None = None,
        space=None,
        latency_model=None,
    ):
        from netembed import spaces

        self.accuracy_predictor, self.time_estimator = accuracy_predictor, time_estimator
        self.space, self.latency_model = spaces.get(space), latency_model

    def __call__(self, cell: Cell) -> Measurement:
        accuracy = float(np.clip(self.accuracy_predictor.predict([cell])[0][0], 0.0, 1.0))
        seconds = None if self.time_estimator is None else float(self.time_estimator.predict([cell])[0][0])
        latency = None if self.latency_model is None else self.latency_model(cell)
        return Measurement(accuracy, seconds, self.space.count_params(cell), latency)


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
        config: TrainConfig | None = None,
        device: str = "cpu",
        checkpoint_root: str | os.PathLike | None = None,
        inherit: bool = False,
    ):
        if inherit and checkpoint_root is None:
            raise ValueError(
                "RealTrainingEvaluator: inherit=True needs a checkpoint_root to find the parents' weights in"
            )
        from netembed.train.trainer import TrainConfig

        self.data, self.network, self.device = data, network, device
        self.config = TrainConfig() if config is None else config
        self.checkpoint_root = None if checkpoint_root is None else Path(checkpoint_root)
        self.inherit = inherit
        self.parents: dict[str, str] = {}  # child hash -> the parent hash it inherited from

    def __call__(self, cell: Cell) -> Measurement:
        from netembed.train.trainer import train_cell, train_network

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
        from netembed._io import parse_json
        from netembed.errors import DataError
        from netembed.spaces.nb101.transforms import neighbors
        from netembed.train.net2net import inherit
        from netembed.train.trainer import load_checkpoint

        trained = []
        for near in neighbors(cell):
            document = self.checkpoint_root / near.cell.hash / "checkpoint.json"
            if document.exists():
                try:  # a parent's checkpoint, read as its own resume reads it: a damaged one is named
                    history = parse_json(document.read_text(), document)["history"]
                    if len(history) == self.config.epochs:  # finished parents only
                        trained.append((history[-1]["test_accuracy"], near.cell))
                except DataError:
                    raise
                except (ValueError, KeyError, TypeError, IndexError) as exc:
                    raise DataError(
                        f"{document} must be a readable checkpoint ({type(exc).__name__}: {exc}); delete "
                        f"{document.parent} to train that cell again"
                    ) from None
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
