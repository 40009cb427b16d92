"""A labelled task of one's own: random cells of the space trained for real, several seeds each.

``label_task(job, out)`` trains ``job.size`` random cells (a seeded sample of the space, the
same first cells for any size) with each of ``job.seeds`` training seeds on ``job.training``
(the small offline task by default), and appends every finished (cell, seed) to
``OUT/runs.jsonl`` as it arrives: a killed run resumes where it stopped (rerun the same command;
a larger ``size`` extends the set). Then it writes ``OUT/labels.json``: per cell the accuracy
of every seed, their mean (``value``, so ``train-predictor --cells`` reads it), the training
seconds of every seed on this machine and the parameter count, with the settings, the sha256
of the cells and the task's own figures (``task_figures``): how well one training seed ranks
cells like another (the noise ceiling of any predictor of this task), its spread, and, with
the table, its agreement with CIFAR-10.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netembed import spaces
from netembed._fields import SEED, Int, Number, documented
from netembed.errors import NetembedError
from netembed.train.spec import TrainingSpec

__all__ = [
    "LABELS_FILE",
    "RUNS_FILE",
    "TRAINED_SPACES",
    "LabelJob",
    "append_training",
    "label",
    "label_task",
    "open_trainings",
    "read_trainings",
    "start_trainer",
    "task_figures",
    "train",
    "whole_training",
]

#: the spaces whose networks netembed trains (``trainer.train_cell``)
TRAINED_SPACES = ("nb101", "nb201")
RUNS_FILE = "runs.jsonl"
LABELS_FILE = "labels.json"
_VERSION = 1


class LabelJobError(NetembedError, ValueError):
    """A labelling job that cannot run as asked (sizes, seeds, a folder of another job)."""


@dataclass(frozen=True)
class LabelJob:
    """``size`` random cells of ``space`` drawn with ``sample_seed``, each trained with training
    seeds ``0 .. seeds - 1`` on ``training``, ``jobs`` trainings at a time (one thread each)."""

    size: int = documented(
        3000, "random cells in the set (any size starts with the same cells: a larger --size extends a set)"
    )
    seeds: int = documented(2, "training seeds per cell (0, 1, ...)")
    sample_seed: int = documented(0, "which random cells")
    training: TrainingSpec = field(default_factory=TrainingSpec)
    jobs: int = documented(1, "trainings at a time, one thread each")
    space: str = "nb101"

    def __post_init__(self) -> None:
        for name, low in (("size", 2), ("seeds", 1), ("jobs", 1), ("sample_seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise LabelJobError(f"--{name.replace('_', '-')} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.training, TrainingSpec):
            raise LabelJobError(f"training must be a TrainingSpec, got {self.training!r}")
        if self.space not in TRAINED_SPACES:
            raise LabelJobError(f"--space must be one whose networks netembed trains ({', '.join(TRAINED_SPACES)}), "
                                f"got {self.space!r}")  # fmt: skip

    def sample(self) -> list:
        """The job's cells: distinct, uniform over the space, in a fixed order."""
        rng, cells, seen = np.random.default_rng(self.sample_seed), [], set()
        draw = spaces.get(self.space).random
        while len(cells) < self.size:
            cell = draw(rng)
            if cell.hash not in seen:
                seen.add(cell.hash)
                cells.append(cell)
        return cells

    def settings(self) -> dict:
        """What a resumed job must share (``size`` may grow, ``jobs`` may change)."""
        shared = {"sample_seed": self.sample_seed, "seeds": self.seeds, "training": self.training.to_dict()}
        return shared if self.space == "nb101" else shared | {"space": self.space}


# -- one training, in a worker process -----------------------------------------------------------

_WORKER: dict = {}


def start_trainer(training: TrainingSpec, space: str = "nb101") -> None:
    """Get this process ready to ``train`` cells of ``space`` on ``training``: one thread (the jobs
    share the machine's cores), the images loaded once."""
    from netembed import threads

    threads.configure(1)
    _WORKER["built"] = training.build(0, space=space)  # each training reseeds the config
    _WORKER["space"] = spaces.get(space)


def train(arch: dict, seed: int) -> dict:
    """One training of an architecture (its JSON form, the space's ``to_json``) with training seed
    ``seed`` (after ``start_trainer``): its logged row without the hash."""
    from netembed.train.trainer import train_cell

    data, network, config, device = _WORKER["built"]
    result = train_cell(_WORKER["space"].from_json(arch), data, network, dataclasses.replace(config, seed=seed), device)
    return {"seed": seed, "accuracy": result.test_accuracy, "seconds": result.train_seconds, "params": result.params}


# -- the log of trainings ------------------------------------------------------------------------


def open_trainings(path: Path, settings: dict) -> dict[tuple[str, int], dict]:
    """The finished trainings logged in ``path`` by (cell hash, seed), after checking the log was
    written with ``settings``; the log is then (re)written whole, with ``settings`` as its header,
    so that ``append_training`` starts on a fresh line, after no torn one."""
    from netembed._io import atomic_write

    done = read_trainings(path, settings) if path.exists() else {}
    lines = [{"netembed_labels": _VERSION, **settings}, *done.values()]
    atomic_write(path, lambda tmp: Path(tmp).write_text("".join(json.dumps(r) + "\n" for r in lines)))
    return done


def append_training(log, row: dict) -> None:
    """One finished training, on disk before the next starts (a kill loses at most the one running)."""
    log.write(json.dumps(row) + "\n")
    log.flush()
    os.fsync(log.fileno())


def read_trainings(path: Path, settings: dict) -> dict[tuple[str, int], dict]:
    """The finished trainings of ``path`` by (cell hash, seed). A line that is not a whole row (a
    write cut short by a kill, an edit) is dropped: that training runs again."""
    from netembed._io import parse_json, read_text

    lines = read_text(path, "a labelling run log must be UTF-8 JSON lines").split("\n")
    try:
        header = parse_json(lines[0], f"line 1 of {path}")
    except json.JSONDecodeError:
        raise LabelJobError(f"{path} does not start with a labelling header") from None
    if not isinstance(header, dict) or header.get("netembed_labels") != _VERSION:
        raise LabelJobError(f"{path} is not a netembed labelling log of version {_VERSION}")
    logged = {k: v for k, v in header.items() if k != "netembed_labels"}
    if logged != settings:
        diff = sorted(k for k in set(logged) | set(settings) if logged.get(k) != settings.get(k))
        raise LabelJobError(f"{path} was written with other settings ({', '.join(diff)}): use another --out")
    done = {}
    for number, line in enumerate(lines[1:], start=2):
        try:
            row = parse_json(line, f"line {number} of {path}")
        except json.JSONDecodeError:
            continue  # a torn line: that training runs again
        if whole_training(row):
            done[(row["hash"], row["seed"])] = row
    return done


def whole_training(row) -> bool:
    """Whether a logged training is whole: its hash, seed and measurements, each in range."""
    rules = {"seed": SEED, "accuracy": Number(0, 1), "seconds": Number(0, math.inf), "params": Int(1, 2**63 - 1)}
    return (
        isinstance(row, dict)
        and isinstance(row.get("hash"), str)
        and all(name in row and rule.accepts(row[name]) for name, rule in rules.items())
    )


# -- the job -------------------------------------------------------------------------------------


def label_task(job: LabelJob, out="results/labels", bench=None, progress: bool = False, announce=None) -> dict:
    """Run ``job`` in ``out`` (see the module docstring; ``bench``: the table, for the figures);
    returns ``labels.json``'s document."""
    from tqdm.auto import tqdm

    from netembed._io import atomic_write, folder_lock

    out = Path(out)
    job.training.build(0, space=job.space)  # bad settings or images: refused before anything is written
    cells, space = job.sample(), spaces.get(job.space)
    with folder_lock(out):
        path = out / RUNS_FILE
        done = open_trainings(path, job.settings())
        todo = [(c, s) for c in cells for s in range(job.seeds) if (c.hash, s) not in done]
        if announce is not None:
            announce(
                f"{len(cells):,} cells x {job.seeds} training seeds on {job.training.images}: {len(done):,} trainings "
                f"logged in {path}, {len(todo):,} to run, {job.jobs} at a time"
            )
        with (
            tqdm(total=len(cells) * job.seeds, initial=len(done), desc="labelling", unit="training",
                 disable=not progress, dynamic_ncols=True) as bar,
            ProcessPoolExecutor(job.jobs, initializer=start_trainer, initargs=(job.training, job.space)) as pool,
            open(path, "a") as log,
        ):  # fmt: skip
            futures = {pool.submit(train, space.to_json(c), s): c for c, s in todo}
            try:
                for future in as_completed(futures):
                    row = {"hash": futures[future].hash, **future.result()}
                    append_training(log, row)
                    done[(row["hash"], row["seed"])] = row
                    bar.update()
            except KeyboardInterrupt:
                pool.shutdown(cancel_futures=True)
                raise LabelJobError(
                    f"interrupted after {len(done):,} trainings, all logged in {path}: rerun the same command to resume"
                ) from None
        rows = []
        for cell in cells:
            runs = [done[(cell.hash, s)] for s in range(job.seeds)]
            accuracy = [r["accuracy"] for r in runs]
            rows.append(
                {"hash": cell.hash, **space.to_json(cell)}
                | {
                    "accuracy": accuracy,
                    "value": float(np.mean(accuracy)),
                    "seconds": [r["seconds"] for r in runs],
                    "params": runs[0]["params"],
                }
            )
        digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
        document = {"settings": job.settings() | {"size": job.size}, "sha256": digest, "cells": rows}
        document["figures"] = task_figures(document, bench)
        atomic_write(out / LABELS_FILE, lambda tmp: Path(tmp).write_text(json.dumps(document)))
        return document


def task_figures(document: dict, bench=None) -> dict:
    """The task's own figures: Kendall tau and Spearman between training seeds 0 and 1 (the noise
    ceiling), the spread of the mean accuracy, training seconds, and, with the table, Kendall tau
    of the mean accuracy against the table's CIFAR-10 accuracy."""
    from scipy.stats import kendalltau, spearmanr

    rows = document["cells"]
    value = np.array([r["value"] for r in rows])
    seconds = np.array([np.mean(r["seconds"]) for r in rows])
    figures = {
        "cells": len(rows),
        "accuracy_min": float(value.min()),
        "accuracy_max": float(value.max()),
        "accuracy_std": float(value.std()),
        "distinct_accuracies": len(np.unique(value)),
        "median_seconds": float(np.median(seconds)),
    }
    if len(rows[0]["accuracy"]) >= 2:
        first, second = (np.array([r["accuracy"][s] for r in rows]) for s in (0, 1))
        figures["seed_kendall_tau"] = float(kendalltau(first, second).statistic)
        figures["seed_spearman"] = float(spearmanr(first, second).statistic)
    if bench is not None and "arch" in rows[0]:  # NAS-Bench-201: its first data set's validation column
        column = bench.datasets[0]
        table = np.array([bench.val[column][bench.row_of(spaces.get("nb201").from_json(r))] for r in rows])
        figures |= {"table_kendall_tau": float(kendalltau(value, table).statistic), "table_cells": len(rows)}
        figures["table_column"] = f"{column}_val"
    elif bench is not None:
        known = [i for i, r in enumerate(rows) if r["hash"] in bench]
        table = np.array([bench.query(rows[i]["hash"]).test_acc_108 for i in known])
        figures["table_kendall_tau"] = float(kendalltau(value[known], table).statistic)
        figures["table_cells"] = len(known)
    return figures


def label(job: LabelJob, out="results/labels", data=None, progress: bool = False, announce=None) -> tuple[dict, str]:
    """``netembed label``: ``label_task`` with the table at ``data``, when found, for its figures;
    returns where the set is, its sha256 and figures, and the text a person reads.

    Args:
        out: folder for runs.jsonl and labels.json; rerun to resume
    """
    table = spaces.get(job.space).find_table(data, required=False)
    document = label_task(job, out, table, progress, announce)
    figures, path = document["figures"], Path(out) / LABELS_FILE
    lines = [
        (
            f"{figures['cells']:,} cells x {document['settings']['seeds']} seeds: mean accuracy "
            f"{figures['accuracy_min']:.4f}..{figures['accuracy_max']:.4f} (std {figures['accuracy_std']:.4f}), "
            f"median training {figures['median_seconds']:.2f} s per cell on this machine"
        )
    ]
    if "seed_kendall_tau" in figures:
        lines.append(
            f"seed 0 vs seed 1: Kendall tau {figures['seed_kendall_tau']:.3f} (Spearman {figures['seed_spearman']:.3f}), "
            "the ceiling of any predictor of this task"
        )
    if "table_kendall_tau" in figures:
        column = figures.get("table_column", "CIFAR-10 accuracy")
        lines.append(f"against the table's {column}: Kendall tau {figures['table_kendall_tau']:.3f}")
    lines.append(f"wrote {path} (sha256 of its cells {document['sha256'][:16]}...)")
    return {"labels": str(path), "sha256": document["sha256"], "figures": figures}, "\n".join(lines)
