"""The NAS-Bench-201 table: every architecture's accuracies per data set and latencies per device.

One NumPy archive (``allow_pickle=False``) with a row per architecture in the benchmark's own
index order: ``arch_str``, then ``{dataset}_val`` and ``{dataset}_test`` (accuracy in [0, 1]
after 12 epochs, NAS-Bench-201's default setting) and ``latency_{device}`` (milliseconds).
Data sets and devices are discovered from the column names, so a table in the same format
with more of either works unchanged. Found at ``--data PATH``, else ``$NETEMBED_NB201_DATA``,
else ``../shared/data/nb201/nb201.npz`` next to the repository.

The protocol users of the benchmark expect: a search reads the validation column (each new
architecture one query) and reports the test accuracy of what it picked.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netembed._io import read_npz
from netembed.errors import DataError, UnknownCellError
from netembed.spaces.nb201.arch import Arch
from netembed.spaces.nb201.params import OPS

__all__ = ["ENV", "EPOCHS", "Record", "Table", "default_path"]

ENV = "NETEMBED_NB201_DATA"
FILE = "nb201.npz"
#: The training epochs behind every accuracy of the table (say so beside every figure).
EPOCHS = 12
_ACCURACY = re.compile(r"^(?P<dataset>.+)_(?P<split>val|test)$")
_LATENCY = re.compile(r"^latency_(?P<device>.+)$")


@dataclass(frozen=True)
class Record:
    """What the table knows of one architecture (accuracies after 12 epochs)."""

    index: int
    arch: str
    val: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)  # milliseconds per device


def default_path() -> Path:
    """``$NETEMBED_NB201_DATA`` (a file or its folder), else ``../shared/data/nb201/nb201.npz``."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    return Path(__file__).resolve().parents[3].parent / "shared" / "data" / "nb201" / FILE


class Table:
    """NAS-Bench-201 loaded into arrays, row ``i`` the benchmark's architecture index ``i``.

    >>> table = Table.load()                                   # doctest: +SKIP
    >>> table.datasets, table.record(0).val["cifar10"]         # doctest: +SKIP
    (('cifar10', 'cifar100'), 0.83...)
    """

    def __init__(self, columns: dict[str, np.ndarray], source: Path):
        self.source = source
        self.arch_strings: np.ndarray = columns["arch_str"]
        self.codes: np.ndarray = columns["codes"]  # (N, 6) op indices, row-aligned
        names = [name for name in columns if name not in ("arch_str", "codes")]
        self.datasets: tuple[str, ...] = tuple(
            sorted({m["dataset"] for n in names if (m := _ACCURACY.match(n)) and f"{m['dataset']}_val" in columns})
        )
        self.devices: tuple[str, ...] = tuple(m["device"] for n in names if (m := _LATENCY.match(n)))
        self.val = {d: columns[f"{d}_val"] for d in self.datasets}
        self.test = {d: columns.get(f"{d}_test") for d in self.datasets}
        self.latency = {d: columns[f"latency_{d}"] for d in self.devices}
        self._rows = {text: row for row, text in enumerate(self.arch_strings.tolist())}
        for array in columns.values():
            array.setflags(write=False)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Table:
        """The table at ``path`` (a ``.npz`` or the folder holding ``nb201.npz``; None: the default)."""
        path = Path(path) if path is not None else default_path()
        file = path / FILE if path.is_dir() else path
        if not file.exists():
            raise DataError(
                f"NAS-Bench-201 table not found: {file} does not exist "
                f"(pass --data or set {ENV} to the nb201.npz file or its folder)"
            )
        columns = read_npz(file)
        _check(columns, file)
        return cls(columns, file)

    # -- lookups ---------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.arch_strings)

    def row_of(self, item: Arch | int | str) -> int:
        """The index of an architecture, its string, or an index checked against the table."""
        if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            if not 0 <= item < len(self):
                raise UnknownCellError(f"architecture index must be in 0..{len(self) - 1}, got {item}")
            return int(item)
        key = item.hash if isinstance(item, Arch) else Arch.from_string(item).hash
        if key not in self._rows:
            raise UnknownCellError(f"architecture {key} is not in the table {self.source}")
        return self._rows[key]

    def arch_at(self, index: int) -> Arch:
        return Arch.from_codes(self.codes[self.row_of(index)])

    def record(self, item: Arch | int | str) -> Record:
        row = self.row_of(item)

        def at(columns: dict[str, np.ndarray | None]) -> dict[str, float]:
            return {name: float(array[row]) for name, array in columns.items() if array is not None}

        return Record(row, str(self.arch_strings[row]), at(self.val), at(self.test), at(self.latency))

    def check_dataset(self, dataset: str) -> str:
        if dataset not in self.datasets:
            raise DataError(f"data set must be one of {', '.join(self.datasets)} (in {self.source}), got {dataset!r}")
        return dataset

    def check_device(self, device: str) -> str:
        if device not in self.devices:
            raise DataError(f"device must be one of {', '.join(self.devices)} (in {self.source}), got {device!r}")
        return device


def _check(columns: dict[str, np.ndarray], file: Path) -> None:
    """Refuse a table that is not NAS-Bench-201's, naming what is wrong; add ``codes``."""
    strings = _arch_strings(columns, file)
    codes = _parse_codes(strings)
    if len(np.unique(codes @ (5 ** np.arange(6)))) != len(codes):
        raise DataError(f"{file}: arch_str must list each architecture once")
    for name, array in columns.items():
        if name != "arch_str":
            _check_column(name, array, len(strings), file)
    if not any(_ACCURACY.match(n) and n.endswith("_val") for n in columns):
        raise DataError(f"{file}: a NAS-Bench-201 table needs at least one {{dataset}}_val column")
    columns["codes"] = codes.astype(np.int8)


def _arch_strings(columns: dict[str, np.ndarray], file: Path) -> np.ndarray:
    if "arch_str" not in columns:
        raise DataError(f"{file} is not a NAS-Bench-201 table: it has no arch_str column (columns: {sorted(columns)})")
    strings = columns["arch_str"]
    if strings.ndim != 1 or strings.dtype.kind != "U":
        raise DataError(
            f"{file}: arch_str must be a column of strings, got dtype {strings.dtype} shape {strings.shape}"
        )
    return strings


def _parse_codes(strings: np.ndarray) -> np.ndarray:
    """The (N, 6) op indices of the architecture strings; a bad string raises ``Arch.from_string``'s error."""
    lookup = {op: k for k, op in enumerate(OPS)}
    try:  # the benchmark's strings are written in one order: a fast split, checked by a full parse on a miss
        codes = np.array(
            [[lookup[t.partition("~")[0]] for t in s.replace("+", "").split("|") if t] for s in strings.tolist()]
        )
        if codes.shape != (len(strings), 6):
            raise ValueError
        for row in range(0, len(strings), max(1, len(strings) // 64)):
            if Arch.from_codes(codes[row]).hash != strings[row]:
                raise ValueError
    except (KeyError, ValueError):
        codes = np.array([Arch.from_string(s).codes for s in strings.tolist()])  # names the bad string
    return codes


def _check_column(name: str, array: np.ndarray, rows: int, file: Path) -> None:
    """A column other than arch_str: a known name, one float per row, accuracies in [0, 1]."""
    if not (_ACCURACY.match(name) or _LATENCY.match(name)):
        raise DataError(f"{file}: column {name!r} is neither {{dataset}}_val, {{dataset}}_test nor latency_{{device}}")
    if array.shape != (rows,) or array.dtype.kind != "f":
        raise DataError(f"{file}: column {name} must be {rows} numbers, got dtype {array.dtype} shape {array.shape}")
    if _ACCURACY.match(name) and np.nanmax(array) > 1.0:
        raise DataError(f"{file}: column {name} must hold accuracies in [0, 1], got up to {np.nanmax(array)}")
