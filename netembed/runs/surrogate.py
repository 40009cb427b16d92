"""Training a surrogate predictor end to end: labelled cells in, a saved predictor and its quality out.

``PredictorJob`` describes one training: what is learned (``label``: "accuracy", "time", or
"params", the label-free log parameter counts a prior learns), where the labelled cells come from
(random table cells, your own JSON file of evaluated cells, or a search's ``queries.jsonl``) and
how to train (``PredictorConfig``'s role for the label, with the job's overrides).
``train_predictor(job, out)`` fits it, measures it on held-out table cells when the table is
present (Kendall tau, Spearman, MdAPE, a scatter plot), saves it with what it was trained on, and
returns what it wrote with the text a person reads, as every job does.

>>> job = PredictorJob(label="time", train_size=100)
>>> job.config(100).ranking_weight, job.config(100).readout
(0.0, 'mean')
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from netembed._fields import documented
from netembed._io import check_new_folder, file_hashes, parse_json, read_text, save_figure
from netembed.errors import InvalidCellError, NetembedError
from netembed.spaces.nb101 import space
from netembed.spaces.nb101.cell import Cell

if TYPE_CHECKING:
    from netembed.models.predictors import AccuracyPredictor
    from netembed.spaces.nb101.table import Benchmark

__all__ = ["LABELS", "PredictorJob", "PredictorJobError", "train_predictor"]

#: What a predictor can learn: table accuracies, training seconds, or log parameter counts (a prior).
LABELS = ("accuracy", "time", "params")


class PredictorJobError(NetembedError, ValueError):
    """A predictor training that cannot run as asked (label, cells, sizes)."""


@dataclass(frozen=True)
class PredictorJob:
    """One predictor training; what the first fields mean is their help. The rest override the
    label's ``PredictorConfig`` role (None: the role's value; ``steps`` given: exactly that many)."""

    label: str = documented(
        "accuracy", f"{', '.join(LABELS)}, latency or latency:DEVICE (nb201). params: log parameter counts of random "
        "cells, computed (no table, no labels): a label-free prior for --init; latency: the prior over the table's "
        'devices; latency:DEVICE: a device adapted from --train-size timings or --cells [{"arch", "value"}] ms, '
        "--init a latency prior",
    )  # fmt: skip
    cells: str | None = documented(
        None, 'or: a JSON file of your evaluated cells [{"matrix", "ops", "value"}], or a search\'s queries.jsonl '
        "(its accuracies, or its seconds with --label time)",
    )  # fmt: skip
    train_size: int = documented(424, "random table cells to train on")
    test_size: int = documented(50_000, "held-out table cells to report on")
    init: str | None = documented(
        None, "warm-start every member's encoder (encoder-nb101) or whole members from a predictor of the same shape "
        "(prior-nb101)",
    )  # fmt: skip
    members: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    ranking_weight: float | None = None
    targets: str | None = None
    readout: str | None = None
    seed: int = 0
    data: str | None = None
    space: str = "nb101"
    dataset: str | None = None  # nb201: the data set whose validation accuracies it learns (None: the first)

    def __post_init__(self) -> None:
        self._check_label()
        self._check_sizes()

    def _check_label(self) -> None:
        """The label against the space, the cells, the data set and the targets."""
        if self.latency:
            return self._check_latency()
        if self.label not in LABELS:
            raise PredictorJobError(
                f"label must be one of {', '.join(LABELS)}, latency or latency:DEVICE, got {self.label!r}"
            )
        if self.space != "nb101" and self.label != "accuracy":
            raise PredictorJobError(
                f"a {self.space} predictor learns accuracies (--label accuracy) or latencies (--label latency:DEVICE), "
                f"got --label {self.label}"
            )
        if self.space == "nb101" and self.dataset is not None:
            raise PredictorJobError(f"--dataset is for nb201 (NAS-Bench-101 has CIFAR-10 only), got {self.dataset!r}")
        if self.label != "accuracy" and self.targets not in (None, "raw"):
            raise PredictorJobError(
                f"--targets must be raw with --label {self.label} (it learns logs), got {self.targets}"
            )
        if self.label == "params" and self.cells:
            raise PredictorJobError(
                f"--label params learns random cells of the space (--train-size), got --cells {self.cells}"
            )

    @property
    def latency(self) -> bool:
        """Whether this job learns latencies ("latency": the prior over devices; "latency:DEVICE")."""
        return self.label == "latency" or self.label.startswith("latency:")

    def _check_latency(self) -> None:
        if self.space == "nb101":
            raise PredictorJobError(f"--label {self.label}: NAS-Bench-101 has no latencies (--space nb201)")
        if self.label == "latency:":
            raise PredictorJobError("--label latency:DEVICE must name a device, got 'latency:'")
        if self.label == "latency" and (self.cells or self.init):
            raise PredictorJobError(
                "--label latency learns the prior over the table's devices: no --cells or --init "
                "(a device of your own: --label latency:DEVICE --init latency-nb201 --cells ms.json)"
            )

    def _check_sizes(self) -> None:
        """The counts and the ranking weight."""
        for name in ("train_size", "test_size", "members", "steps", "batch_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise PredictorJobError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.test_size < 2:
            raise PredictorJobError("--test-size must be at least 2 (a rank correlation needs two cells), got 1")
        if self.ranking_weight is not None and not (
            isinstance(self.ranking_weight, (int, float)) and 0 <= self.ranking_weight < float("inf")
        ):
            raise PredictorJobError(f"--ranking-weight must be a finite number >= 0, got {self.ranking_weight!r}")

    def config(self, cells: int, target: str | None = None):
        """The ``PredictorConfig`` for a fit on ``cells`` labelled cells (with ``init``, shaped like
        it so that every member starts from all of it). ``target`` names the labels learned (e.g.
        "cifar100_val", or "own" for a user's file): an ``init`` predictor of other labels makes the
        fit a transfer (``PredictorConfig.for_transfer``: it keeps the source beside the labels)."""
        from netembed.models.predictors import AccuracyPredictor, PredictorConfig, TimeEstimator

        role = {
            "accuracy": PredictorConfig.for_transfer if self._transfers(target) else PredictorConfig.for_accuracy,
            "time": PredictorConfig.for_time,
            "params": PredictorConfig.for_prior,
        }[self.label]
        given = {
            "ranking_weight": self.ranking_weight,
            "steps": self.steps,
            "epochs": None if self.steps is None else 0,
            "targets": self.targets,
            "readout": self.readout,
            "members": self.members,
            "batch_size": self.batch_size,
        }
        model = TimeEstimator if self.label == "time" else AccuracyPredictor
        shape = {} if self.init is None else model.shape_of(self.init)  # to start from all of it
        fields = shape | {k: v for k, v in given.items() if v is not None}
        config = role(**fields, seed=self.seed, space=self.space)
        if not config.forest_weight(cells):  # too many cells for the forest to count: no all-zero table
            config = dataclasses.replace(config, forest=0.0)
        return config

    def _transfers(self, target: str | None) -> bool:
        """Whether ``init`` is an accuracy predictor of labels other than ``target``'s (None: not a transfer)."""
        from netembed.models import hub

        if target is None or self.init is None or self.label != "accuracy":
            return False
        source = hub.trained_on(self.init)
        kind = hub.read_config(hub.resolve(self.init))["model_type"]
        return kind == "AccuracyPredictor" and source is not None and source != target


def train_predictor(
    job: PredictorJob, out="results/predictor", command: str | None = None, progress: bool = False, force: bool = False
) -> tuple[dict, str]:
    """Fit, measure (with the table) and save the predictor ``job`` describes in ``out``; returns
    what was written (``out``, ``train_cells`` and, with the table, ``test`` and ``plot``) and
    ``predictor_text`` of it. ``out`` must be new or empty (a shipped model is not replaced by
    surprise), unless ``force``.

    Args:
        out: pretrained directory to write (new or empty, or --force)
        force: replace what --out holds (e.g. pretrained/surrogate-nb101)
    """
    if job.latency:
        from netembed.runs.latency import train_latency

        payload = train_latency(job, out, command, force)
    elif job.space != "nb101":
        payload = _train_elsewhere(job, out, command, progress, force)
    else:
        payload = _train_nb101(job, out, command, progress, force)
    return payload, predictor_text(payload)


def _train_nb101(job: PredictorJob, out, command: str | None, progress: bool, force: bool) -> dict:
    from netembed.models.predictors import AccuracyPredictor, TimeEstimator
    from netembed.spaces.nb101.table import load_table

    bench = load_table(job.data, required=job.cells is None and job.label != "params")
    rng = np.random.default_rng(job.seed)
    model_cls = TimeEstimator if job.label == "time" else AccuracyPredictor
    cells, labels, train_rows = _labelled(job, bench, rng)  # bad input is refused before anything is written
    model = model_cls(job.config(len(cells)))
    _check_labels(model, cells, labels)
    measured = bench is not None and _column(bench, job.label) is not None  # held-out quality on table cells
    if measured and len(_test_pool(bench, job.label, train_rows)) < 2:
        raise PredictorJobError(
            f"the table must hold at least 2 cells outside the training set to test on, got "
            f"{len(_test_pool(bench, job.label, train_rows))} (a smaller --train-size?)"
        )
    out = check_new_folder(out, force)  # before the training
    out.mkdir(parents=True, exist_ok=True)
    model.fit(cells, labels, init=job.init, progress=progress)
    meta = {
        "command": command,
        "target": job.label,
        "train_cells": len(cells),
        "init": job.init,
        "train_rows_sha256": hashlib.sha256(train_rows.tobytes()).hexdigest(),
    }
    payload = {"out": str(out), "train_cells": len(cells), "model": model_cls.__name__}
    if job.label == "params":
        meta["space_sha256"] = space.space_checksum()
    elif bench is not None:  # which table the labels and the held-out cells came from
        meta["data_sha256"] = _data_hashes(bench, job.label)
    if measured:
        payload["test"] = meta["quality"] = _held_out(model, bench, job, train_rows, rng, out)
        payload["plot"] = payload["test"].pop("plot")
    model.save_pretrained(out, meta)
    return payload


def _check_labels(model, cells, labels: np.ndarray) -> None:
    """The model's rules for its labels, and a spread to learn an order from."""
    from netembed.models.predictors import LabelError

    model.check_labels(cells, labels)
    if np.ptp(labels) == 0:
        raise LabelError(
            f"labels must not all be equal (a predictor learns their order), got {len(labels)} labels all {labels[0]:g}"
        )


def _labelled(
    job: PredictorJob, bench: Benchmark | None, rng: np.random.Generator
) -> tuple[list[Cell], np.ndarray, np.ndarray]:
    """The training cells, their labels and their table rows (as far as the table holds them)."""
    if job.label == "params":  # label-free: log parameter counts, computed from each cell's structure
        if not 2 <= job.train_size <= space.NUM_CELLS - 1:
            raise PredictorJobError(f"--train-size must be in [2, {space.NUM_CELLS - 1}], got {job.train_size}")
        train_rows = rng.choice(space.NUM_CELLS, job.train_size, replace=False)
        cells = [space.cell_at(int(r)) for r in train_rows]
        return cells, np.log([space.count_params(c) for c in cells]), train_rows
    if job.cells:
        cells, labels = _log_cells(job) if job.cells.endswith(".jsonl") else _user_cells(job.cells, job.label)
        first: dict[Cell, int] = {}
        for i, cell in enumerate(cells):
            j = first.setdefault(cell, i)
            if j != i:
                raise PredictorJobError(
                    f"--cells must hold each cell once, got cell {cell.hash} as entries {j} (value {labels[j]:g}) "
                    f"and {i} (value {labels[i]:g}); isomorphic cells are one cell: average repeated measurements"
                )
        rows = [bench.row_of(c) for c in cells if c in bench] if bench is not None else []
        return cells, labels, np.array(rows, dtype=int)
    column = _column(bench, job.label)
    if column is None:
        raise PredictorJobError("--label time needs the training-time file (nb101_train_time_20k.npz)")
    known = np.flatnonzero(~np.isnan(column))
    if not 2 <= job.train_size <= len(known) - 2:  # two left to test on
        raise PredictorJobError(f"--train-size must be in [2, {len(known) - 2}], got {job.train_size}")
    train_rows = rng.choice(known, job.train_size, replace=False)
    return [bench.cell(int(r)) for r in train_rows], column[train_rows], train_rows


def _log_cells(job: PredictorJob) -> tuple[list[Cell], np.ndarray]:
    """A search's query log: its accuracies, or its seconds (e.g. measured by real training)."""
    from netembed.errors import warn
    from netembed.runs.querylog import read_log

    _, evaluations, dropped, _ = read_log(job.cells)
    if dropped:
        warn(f"{job.cells}: left out {', '.join(dropped)}: a write cut short, or an edit")
    field = "accuracy" if job.label == "accuracy" else "seconds"
    labelled = [e for e in evaluations if getattr(e, field) is not None]
    return [e.cell for e in labelled], np.array([getattr(e, field) for e in labelled], dtype=float)


def _user_cells(path: str, label: str) -> tuple[list[Cell], np.ndarray]:
    """The user's own evaluated cells: ``[{"matrix": ..., "ops": ..., "value": ...}]``, or the
    ``labels.json`` of ``netembed label`` (its mean accuracies, or with ``label`` "time" its mean
    training seconds)."""
    rule = (
        '--cells must hold a JSON list of {"matrix": ..., "ops": ..., "value": ...}, or a labels.json of netembed label'
    )
    try:
        specs = parse_json(read_text(path, rule), path)
    except json.JSONDecodeError as exc:
        raise PredictorJobError(f"{rule}, got invalid JSON in {path} ({exc.msg} at position {exc.pos})") from None
    if isinstance(specs, dict) and isinstance(specs.get("cells"), list):  # a labelled set
        specs = [_labelled_entry(s, label) for s in specs["cells"]]
    if not isinstance(specs, list):
        raise PredictorJobError(f"{rule}, got {type(specs).__name__}")
    cells, values = [], []
    for i, s in enumerate(specs):
        if not isinstance(s, dict) or not {"matrix", "ops", "value"} <= set(s):
            raise PredictorJobError(f"{rule}, got entry {i}: {sorted(s) if isinstance(s, dict) else repr(s)}")
        if isinstance(s["value"], bool) or not isinstance(s["value"], (int, float)):
            raise PredictorJobError(f"--cells entry {i}: value must be a number, got {s['value']!r}")
        try:
            cells.append(Cell(s["matrix"], s["ops"]))
        except InvalidCellError as exc:
            raise PredictorJobError(f"--cells entry {i}: {exc}") from None
        values.append(s["value"])
    return cells, np.array(values, dtype=float)


def _labelled_entry(entry, label: str):
    """An entry of a labelled set with the ``value`` to learn: its mean accuracy already, or its
    mean training seconds (entries without them are left to the checks of ``_user_cells``)."""
    seconds = entry.get("seconds") if isinstance(entry, dict) else None
    if label != "time" or not isinstance(seconds, list) or not seconds:
        return entry
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in seconds):
        return entry | {"value": seconds}  # refused there, as a value that is not a number
    return entry | {"value": float(np.mean(seconds))}


def _data_hashes(bench: Benchmark, label: str) -> dict[str, str]:
    from netembed.spaces.nb101.table import TIME_FILE

    files = [bench.source] + ([bench.source.parent / TIME_FILE] if label == "time" else [])
    return file_hashes(*files)


def _column(bench: Benchmark, label: str) -> np.ndarray:
    if label == "params":
        return np.log(bench.params.astype(np.float64))
    return bench.test_acc_108 if label == "accuracy" else bench.train_time_108


def _test_pool(bench: Benchmark, label: str, train_rows: np.ndarray) -> np.ndarray:
    """The table rows a predictor is measured on: labelled for ``label``, outside its training set."""
    return np.setdiff1d(np.flatnonzero(~np.isnan(_column(bench, label))), train_rows)


def _held_out(
    model: AccuracyPredictor, bench: Benchmark, job: PredictorJob, train_rows: np.ndarray, rng, out: Path
) -> dict:
    """Kendall tau, Spearman and MdAPE on ``job.test_size`` table cells outside the training set."""
    from scipy.stats import kendalltau, spearmanr

    from netembed.benchmarks.predictor_bench import mdape_percent

    pool = _test_pool(bench, job.label, train_rows)
    test = rng.choice(pool, min(job.test_size, len(pool)), replace=False)
    predicted, _ = model.predict_rows(test)
    truth = _column(bench, job.label)[test]
    return {
        "cells": len(test),
        "kendall_tau": float(kendalltau(predicted, truth).statistic),
        "spearman": float(spearmanr(predicted, truth).statistic),
        "mdape_percent": mdape_percent(predicted, truth),
        "plot": str(plot_predictions(predicted, truth, out / "predicted_vs_true.png", job.label)),
    }


def plot_predictions(predicted: np.ndarray, truth: np.ndarray, path: Path, label: str, low: float = 0.8) -> Path:
    """Predicted against true values of held-out cells (accuracies shown from ``low`` up)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.scatter(truth, predicted, s=2, alpha=0.4)
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="gray", lw=1)
    if label == "accuracy":
        ax.set(xlim=(low, high), ylim=(low, high))
    name = "log parameters" if label == "params" else label
    ax.set(xlabel=f"true {name}", ylabel=f"predicted {name}", title="held-out cells")
    return save_figure(fig, path)


def _train_elsewhere(job: PredictorJob, out, command: str | None, progress: bool, force: bool) -> dict:
    """NAS-Bench-201: ``train_size`` random architectures of the table labelled with ``job.dataset``'s
    validation accuracy (12 epochs), measured on ``test_size`` others (Kendall tau, Spearman); or a
    user's own ``[{"arch", "value"}]`` accuracies (``job.cells``: no table needed, nothing to measure on)."""
    from netembed import spaces
    from netembed.models.predictors import AccuracyPredictor

    space = spaces.get(job.space)
    table = space.find_table(job.data, required=job.cells is None)
    if job.cells is not None:
        archs, labels = space.read_values(job.cells, "accuracy", PredictorJobError)
        target, test_rows, train_rows = "own", None, None
    else:
        dataset = table.check_dataset(job.dataset or table.datasets[0])
        if not 2 <= job.train_size <= len(table) - 2:
            raise PredictorJobError(f"--train-size must be in [2, {len(table) - 2}], got {job.train_size}")
        order = np.random.default_rng(job.seed).permutation(len(table))
        train_rows, test_rows = order[: job.train_size], order[job.train_size :][: job.test_size]
        archs, labels, target = (
            [table.arch_at(int(r)) for r in train_rows],
            table.val[dataset][train_rows],
            f"{dataset}_val",
        )
    model = AccuracyPredictor(job.config(len(archs), target))
    _check_labels(model, archs, labels)  # bad input is refused before anything is written
    out = check_new_folder(out, force)  # before the training
    out.mkdir(parents=True, exist_ok=True)
    model.fit(archs, labels, init=job.init, progress=progress)
    meta = {"command": command, "target": target, "space": job.space, "train_cells": len(archs), "init": job.init}
    payload = {"out": str(out), "train_cells": len(archs), "model": "AccuracyPredictor"}
    if test_rows is not None:
        meta["train_rows_sha256"] = hashlib.sha256(np.sort(train_rows).tobytes()).hexdigest()
        meta["data_sha256"] = file_hashes(table.source)
        payload["test"] = meta["quality"] = _held_out_elsewhere(model, table, dataset, test_rows, out)
        payload["plot"] = payload["test"].pop("plot")
    model.save_pretrained(out, meta)
    return payload


def _held_out_elsewhere(model, table, dataset: str, test_rows: np.ndarray, out: Path) -> dict:
    """Kendall tau and Spearman on ``test_rows`` of another space's table, and the plot."""
    from scipy.stats import kendalltau, spearmanr

    predicted, _ = model.predict([table.arch_at(int(r)) for r in test_rows])
    truth = table.val[dataset][test_rows]
    low = float(np.quantile(truth, 0.05))
    return {
        "cells": len(test_rows),
        "labels": f"{dataset} validation accuracy, 12 epochs",
        "kendall_tau": float(kendalltau(predicted, truth).statistic),
        "spearman": float(spearmanr(predicted, truth).statistic),
        "plot": str(plot_predictions(predicted, truth, out / "predicted_vs_true.png", "accuracy", low=low)),
    }


def predictor_text(payload: dict) -> str:
    """What ``netembed train-predictor`` prints of ``train_predictor``'s payload."""
    if payload["model"] in ("LatencyPrior", "DeviceLatency"):
        from netembed.runs.latency import latency_text

        return latency_text(payload)
    text = [f"wrote {payload['out']} ({payload['model']}, {payload['train_cells']:,} training cells)"]
    if "test" in payload:
        t = payload["test"]
        mdape = f", MdAPE {t['mdape_percent']:.2f}%" if "mdape_percent" in t else f" ({t['labels']})"
        text.append(
            f"held-out {t['cells']:,} cells: Kendall tau {t['kendall_tau']:.3f}, Spearman {t['spearman']:.3f}"
            f"{mdape}; plot {payload['plot']}"
        )
    return "\n".join(text)
