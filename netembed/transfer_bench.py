"""The transfer benchmark: what netembed's NAS-Bench-101 models are worth on a task of one's own.

It reads a labelled set written by ``netembed label`` (random cells trained for real, several
seeds each) and gives every row the same splits: a fixed test set (the labelled cells outside a
pool of ``pool_size``) and, per (size, seed), training cells drawn from the pool.

- Accuracy predictors (``run_transfer(labelled, "accuracy")``) learn the mean accuracy over the training
  seeds: cold (``netembed``), and warm from the label-free ``encoder-nb101`` and ``prior-nb101``
  and from ``surrogate-nb101/accuracy`` (its whole members, fine-tuned), against the structure-
  feature ``forest`` and gradient-boosted trees (``gbt``); Kendall tau and Spearman.
- Training-time estimators of this machine (``run_transfer(labelled, "time")``) learn the mean measured
  seconds: cold, and warm from ``surrogate-nb101/time``, against seconds ~ parameters
  (``params``) and ``gbt``; Kendall tau and MdAPE.

What the warm starts have seen: ``surrogate-nb101`` CIFAR-10 labels and the table's accelerator
times; ``encoder-nb101`` and ``prior-nb101`` no label at all. None has seen this task's labels
or this machine's times. Each measurement is saved under ``runs_dir`` and reused by a later call
with the same settings (a killed benchmark resumes).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from netembed import space
from netembed._io import read_text
from netembed.cell import Cell
from netembed.predictor_bench import (
    BenchError,
    CellRows,
    PredictorScore,
    _fit_gbt,
    _fit_time_gbt,
    _fit_time_params,
    _measure,
    _saved,
)
from netembed.predictors import AccuracyPredictor, PredictorConfig, TimeEstimator

__all__ = ["PARTS", "PREDICTORS", "SEEN", "TIMERS", "LabelledSet", "run_transfer"]

#: What every transfer figure must say beside it.
SEEN = (
    "(warm starts: surrogate-nb101 has seen CIFAR-10 labels and the table's accelerator times, encoder-nb101 and "
    "prior-nb101 no label; none has seen this task's labels or this machine's times)"
)


class LabelledSet:
    """A ``labels.json`` of ``netembed label``: its cells as rows of the space, their mean
    accuracy, mean training seconds and parameter counts (of the network actually trained)."""

    def __init__(self, path: str | Path):
        rule = "a labelled set must be the labels.json that `netembed label` writes"
        try:
            document = json.loads(read_text(path, rule))
            cells = [Cell(r["matrix"], r["ops"]) for r in document["cells"]]
            self.accuracy = np.array([r["value"] for r in document["cells"]], dtype=np.float64)
            self.seconds = np.array([np.mean(r["seconds"]) for r in document["cells"]], dtype=np.float64)
            self.params = np.array([r["params"] for r in document["cells"]], dtype=np.float64)
            self.sha256 = document["sha256"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BenchError(f"{rule}, got {path} ({type(exc).__name__}: {exc})") from None
        for name, values, ok in [
            ("values (mean accuracies)", self.accuracy, (self.accuracy >= 0) & (self.accuracy <= 1)),
            ("seconds", self.seconds, self.seconds > 0),
            ("params", self.params, self.params > 0),
        ]:
            bad = np.flatnonzero(~(np.isfinite(values) & ok))
            if len(bad):
                raise BenchError(
                    f"{rule}: its {name} must be finite and in range, got {values[bad[0]]} at cell {bad[0]}"
                )
        self.rows = np.array([space.index_of(c) for c in cells])
        self.settings = document.get("settings", {})

    def split(self, pool_size: int, split_seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Positions in the set of the training pool and of the fixed test set."""
        if not 0 < pool_size < len(self.rows):
            raise BenchError(
                f"pool size must be in [1, {len(self.rows) - 1}] (the set minus a test set), got {pool_size}"
            )
        order = np.random.default_rng(split_seed).permutation(len(self.rows))
        return order[:pool_size], np.sort(order[pool_size:])

    def cells(self, positions: np.ndarray) -> CellRows:
        return CellRows(self.rows[positions], self.params[positions])


# -- fit(train CellRows, labels, seed) -> predict(CellRows): labels' units (accuracy) or log-seconds


def _fit_predictor(init: str | None):
    def fit(train: CellRows, y: np.ndarray, seed: int, **training) -> Callable[[CellRows], np.ndarray]:
        shape = {} if init is None else AccuracyPredictor.shape_of(init)  # to start from all of it
        config = PredictorConfig.for_accuracy(**shape, **training, seed=seed)
        model = AccuracyPredictor(config).fit(train.cells, y, init=init)
        return lambda test: model.predict_rows(test.rows)[0]

    return fit


def _fit_forest(train: CellRows, y: np.ndarray, seed: int) -> Callable[[CellRows], np.ndarray]:
    from netembed.features import FeatureView, inputs, raw_features

    view = FeatureView.fit(train.cells, y, seed, parts="forest")
    return lambda test: view.predict(inputs(raw_features(test.cells)))


def _fit_gbt_rows(train: CellRows, y: np.ndarray, seed: int) -> Callable[[CellRows], np.ndarray]:
    return _fit_gbt(train.cells, y, seed)


PREDICTOR_INITS = {
    "netembed": None,
    "netembed+pretrained": "encoder-nb101",
    "netembed+prior": "prior-nb101",
    "netembed+surrogate": "surrogate-nb101/accuracy",
}
PREDICTORS: dict[str, Callable] = {
    **{name: _fit_predictor(init) for name, init in PREDICTOR_INITS.items()},
    "forest": _fit_forest,
    "gbt": _fit_gbt_rows,
}


def _fit_timer(init: str | None):
    def fit(train: CellRows, log_seconds: np.ndarray, seed: int, **training) -> Callable[[CellRows], np.ndarray]:
        shape = {} if init is None else TimeEstimator.shape_of(init)
        config = PredictorConfig.for_time(**shape, **training, seed=seed)
        model = TimeEstimator(config).fit(train.cells, np.exp(log_seconds), init=init)
        return lambda test: np.log(model.predict_rows(test.rows)[0])

    return fit


TIMER_INITS = {"netembed": None, "netembed+surrogate": "surrogate-nb101/time"}
TIMERS: dict[str, Callable] = {
    **{name: _fit_timer(init) for name, init in TIMER_INITS.items()},
    "params": _fit_time_params,
    "gbt": _fit_time_gbt,
}


@dataclass(frozen=True)
class _Part:
    """One half of the benchmark: what its rows learn (in their own units: accuracy, or
    log-seconds mapped back by ``from_prediction``), its methods, their warm starts, its sizes."""

    labels: Callable[[LabelledSet], np.ndarray]
    methods: dict[str, Callable]
    inits: dict[str, str | None]
    role: Callable
    train_sizes: tuple[int, ...]
    from_prediction: Callable | None = None


PARTS = {
    "accuracy": _Part(
        lambda s: s.accuracy, PREDICTORS, PREDICTOR_INITS, PredictorConfig.for_accuracy, (20, 50, 100, 200)
    ),
    "time": _Part(
        lambda s: np.log(s.seconds), TIMERS, TIMER_INITS, PredictorConfig.for_time, (10, 20, 50, 200), np.exp
    ),
}


def run_transfer(
    labelled: LabelledSet,
    part: str,
    train_sizes: Sequence[int] | None = None,
    seeds: Sequence[int] = range(5),
    methods: Sequence[str] | None = None,
    pool_size: int = 500,
    split_seed: int = 0,
    runs_dir=None,
    progress: bool = True,
    steps: int | None = None,
) -> list[PredictorScore]:
    """One part of the benchmark (``PARTS``: "accuracy" predictors or "time" estimators), every
    chosen method (None: all) on the same splits; ``train_sizes`` None: the part's; ``steps``: the
    netembed rows' training steps, exactly (None: their role's)."""
    from tqdm.auto import tqdm

    from netembed import hub

    if part not in PARTS:
        raise BenchError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    spec = PARTS[part]
    inits, from_prediction, labels = spec.inits, spec.from_prediction, spec.labels(labelled)
    chosen = tuple(spec.methods) if methods is None else methods
    train_sizes = spec.train_sizes if train_sizes is None else train_sizes
    unknown = [m for m in chosen if m not in spec.methods]
    if unknown:
        raise BenchError(f"methods must be among {list(spec.methods)}, got {unknown}")
    if not train_sizes or min(train_sizes) < 2:
        raise BenchError(f"train sizes must be at least 2 cells, got {list(train_sizes)}")
    if not len(seeds) or steps is not None and steps < 1:
        raise BenchError(f"seeds must be at least one and steps positive, got {len(seeds)} seeds and steps {steps}")
    pool, test_positions = labelled.split(pool_size, split_seed)
    if max(train_sizes) > len(pool):
        raise BenchError(f"train sizes must be at most the pool of {len(pool)} cells, got {max(train_sizes)}")
    test = labelled.cells(test_positions)
    truth = labels[test_positions] if from_prediction is None else from_prediction(labels[test_positions])
    starts = {  # the weights a warm row starts from: other weights measure again
        m: hub.read_config(hub.resolve(inits[m]))["weights_sha256"] for m in chosen if inits.get(m) is not None
    }
    results, grid = [], [(n, s, m) for n in train_sizes for s in seeds for m in chosen]
    for size, seed, method in tqdm(grid, desc=f"transfer {part}", disable=not progress):
        positions = np.sort(np.random.default_rng(1000 + seed).choice(pool, size, replace=False))
        training = {} if steps is None or method not in inits else {"steps": steps, "epochs": 0}
        fit = partial(spec.methods[method], labelled.cells(positions), labels[positions], seed, **training)
        settings = {
            "benchmark": f"transfer-{part}",
            "labels": labelled.sha256,
            "pool_size": pool_size,
            "split_seed": split_seed,
            "init_sha256": starts.get(method),
        }
        if method in inits:  # a netembed row: its whole training config
            settings["config"] = asdict(spec.role(**training))
        measure = partial(_measure, method, size, seed, fit, test, truth, from_prediction=from_prediction)
        results.append(_saved(runs_dir, method, size, seed, settings, measure))
    return results
