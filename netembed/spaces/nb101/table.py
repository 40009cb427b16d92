"""The NAS-Bench-101 table: a compact NumPy loader and exact queries. No TensorFlow, no pickle."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netembed._io import read_npz
from netembed.errors import DataError, UnknownCellError
from netembed.spaces.nb101.cell import Cell

__all__ = ["FULL_FILE", "TIME_FILE", "Benchmark", "Record", "default_data_dir", "load_table"]

FULL_FILE = "nb101_full.npz"
TIME_FILE = "nb101_train_time_20k.npz"
_EPOCHS = (4, 12, 36, 108)
_HASH = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Record:
    """What the table knows about one cell; fields it does not know are None.

    ``test_acc_108`` is the CIFAR-10 test accuracy of one 108-epoch training run.
    """

    hash: str
    test_acc_108: float
    params: int
    flops: int | None = None
    val_acc_4: float | None = None
    val_acc_12: float | None = None
    val_acc_36: float | None = None
    val_acc_108: float | None = None
    train_time_108: float | None = None


def default_data_dir() -> Path:
    """``$NETEMBED_DATA``, else ``../shared/data/nb101`` next to the repository."""
    if os.environ.get("NETEMBED_DATA"):
        return Path(os.environ["NETEMBED_DATA"])
    return Path(__file__).resolve().parents[3].parent / "shared" / "data" / "nb101"


def load_table(path: str | os.PathLike | None = None, required: bool = False) -> Benchmark | None:
    """The table at ``path`` (None: the default folder), or None when the default folder holds
    none; a table that was asked for (``required``, or an explicit ``path``) must be there."""
    try:
        return Benchmark.load(path)
    except DataError:
        if required or path is not None:
            raise
        return None


class Benchmark:
    """NAS-Bench-101 loaded into NumPy arrays, one row per unique cell, sorted by hash.

    >>> bench = Benchmark.load()                                     # doctest: +SKIP
    >>> bench.query(Cell([[0, 1], [0, 0]], ["input", "output"])).params  # doctest: +SKIP
    882570

    Attributes (read-only arrays, row-aligned with :func:`netembed.spaces.nb101.space.space_arrays`
    when the table is complete): ``hashes``, ``test_acc_108``, ``params``, ``flops``
    (or None), ``val_acc`` (epochs -> array, NaN where unknown), ``train_time_108``.
    """

    def __init__(self, columns: dict[str, np.ndarray], source: Path):
        self.source = source
        self.hashes: np.ndarray = columns["hash"]
        self.test_acc_108: np.ndarray = columns["test_acc_108"]
        self.params: np.ndarray = columns["params"]
        self.flops: np.ndarray | None = columns.get("flops")
        self.adjacency: np.ndarray = columns["adjacency"]
        self.ops: np.ndarray = columns["ops"]
        self.num_vertices: np.ndarray = columns["num_vertices"]
        self.val_acc: dict[int, np.ndarray] = {e: columns[f"val_acc_{e}"] for e in _EPOCHS if f"val_acc_{e}" in columns}
        self.train_time_108: np.ndarray | None = columns.get("train_time_108")
        for array in columns.values():
            array.setflags(write=False)

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Benchmark:
        """Load a data directory (``nb101_full.npz`` plus, when present, the training-time
        file) or one compact ``.npz`` written by ``netembed data convert``."""
        path = Path(path) if path is not None else default_data_dir()
        table = path / FULL_FILE if path.is_dir() else path
        if not table.exists():
            raise DataError(
                f"NAS-Bench-101 table not found: {table} does not exist "
                "(set NETEMBED_DATA to the folder holding nb101_full.npz)"
            )
        columns = read_npz(table)
        _check_table(columns, table)
        if path.is_dir() and (path / TIME_FILE).exists():
            _join_time_file(columns, read_npz(path / TIME_FILE), path / TIME_FILE)
        if "final_validation_accuracy" in columns:  # converted from the official release
            _from_repeats(columns)
        return cls(columns, table)

    # -- queries ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.hashes)

    def __iter__(self) -> Iterator[Record]:
        return (self.record(row) for row in range(len(self)))

    def __contains__(self, item: Cell | str) -> bool:
        try:
            self.row_of(item)
        except (UnknownCellError, DataError):
            return False
        return True

    def row_of(self, item: Cell | str) -> int:
        """Row of a cell or of an official hash; unknown ones raise :class:`UnknownCellError`."""
        if isinstance(item, Cell):
            key = item.hash
        elif isinstance(item, str):
            if not _HASH.match(item):
                raise DataError(f"hash must be 32 lowercase hex digits, got {item!r}")
            key = item
        else:
            raise TypeError(f"query takes a Cell or a hash string, got {type(item).__name__}")
        row = int(np.searchsorted(self.hashes, key))
        if row == len(self.hashes) or self.hashes[row] != key:
            raise UnknownCellError(f"the table has no cell with hash {key}")
        return row

    def query(self, item: Cell | str) -> Record:
        """The table's record for a cell (or an official hash)."""
        return self.record(self.row_of(item))

    def record(self, row: int) -> Record:
        def known(array: np.ndarray | None) -> float | None:
            if array is None or math.isnan(array[row]):
                return None
            return float(array[row])

        return Record(
            hash=str(self.hashes[row]),
            test_acc_108=float(self.test_acc_108[row]),
            params=int(self.params[row]),
            flops=None if self.flops is None else int(self.flops[row]),
            val_acc_4=known(self.val_acc.get(4)),
            val_acc_12=known(self.val_acc.get(12)),
            val_acc_36=known(self.val_acc.get(36)),
            val_acc_108=known(self.val_acc.get(108)),
            train_time_108=known(self.train_time_108),
        )

    def cell(self, row: int) -> Cell:
        """The cell stored at ``row``, in the table's vertex order."""
        return Cell.from_arrays(self.adjacency[row], self.ops[row])

    def summary(self) -> dict:
        """Where the table is, its rows, and its test accuracies (best, mean, median)."""
        acc = self.test_acc_108
        timed = 0 if self.train_time_108 is None else int(np.count_nonzero(~np.isnan(self.train_time_108)))
        return {
            "path": str(self.source),
            "rows": len(self),
            "best_test_acc_108": float(acc.max()),
            "mean_test_acc_108": float(acc.mean()),
            "median_test_acc_108": float(np.median(acc)),
            "timed_rows": timed,
        }

    def rank(self, accuracy: float) -> int:
        """1 + the number of cells whose test accuracy is strictly higher (1 = the best)."""
        return 1 + int(np.count_nonzero(self.test_acc_108 > accuracy))


# -- reading ------------------------------------------------------------------------------------

_REQUIRED = ("hash", "adjacency", "ops", "num_vertices", "test_acc_108", "params")


def _check_table(columns: dict[str, np.ndarray], path: Path) -> None:
    missing = [name for name in _REQUIRED if name not in columns]
    if missing:
        raise DataError(f"{path} must hold the fields {list(_REQUIRED)}, missing {missing}")
    n = len(columns["hash"])
    wrong = [name for name in _REQUIRED if len(columns[name]) != n]
    if wrong:
        raise DataError(f"every field of {path} must have {n} rows (one per hash), {wrong} do not")
    if n > 1 and not (columns["hash"][1:] > columns["hash"][:-1]).all():
        raise DataError(f"rows of {path} must be sorted by hash without duplicates")


def _join_time_file(columns: dict[str, np.ndarray], times: dict[str, np.ndarray], path: Path) -> None:
    """Spread the multi-fidelity rows over full-length columns (NaN where a cell was not timed)."""
    index = times.get("index")
    if index is None or "hash" not in times:
        raise DataError(f"{path} must hold the join keys 'index' and 'hash'")
    if (index < 0).any() or (index >= len(columns["hash"])).any() or (columns["hash"][index] != times["hash"]).any():
        raise DataError(f"{path} does not join to {FULL_FILE}: its index and hash columns disagree")
    for name in [f"val_acc_{e}" for e in _EPOCHS] + ["train_time_108"]:
        if name in times:
            full = np.full(len(columns["hash"]), np.nan, dtype=np.float32)
            full[index] = times[name]
            columns[name] = full


def _from_repeats(columns: dict[str, np.ndarray]) -> None:
    """Expose repeat 0 of a converted official file under the compact table's column names."""
    epochs = columns["epochs"].tolist()
    for e in _EPOCHS:
        if e in epochs:
            columns[f"val_acc_{e}"] = columns["final_validation_accuracy"][:, epochs.index(e), 0]
    if 108 in epochs:
        columns["train_time_108"] = columns["final_training_time"][:, epochs.index(108), 0]
