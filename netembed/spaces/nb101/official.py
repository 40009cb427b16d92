"""Read the official NAS-Bench-101 release (``nasbench_only108.tfrecord``, ``nasbench_full.tfrecord``)
without TensorFlow or protobuf, and convert it to the compact table format.

TFRecord framing per record: uint64 length, masked CRC32C of the length, the data, masked
CRC32C of the data. Each record is JSON ``[hash, epochs, adjacency bits, "op,op,...",
base64(ModelMetrics)]``; ModelMetrics is a protobuf (``nasbench/lib/model_metrics.proto``):
``repeated EvaluationData evaluation_data = 1; int32 trainable_parameters = 2; double
total_time = 3`` with ``EvaluationData { double current_epoch = 1; double training_time = 2;
double train_accuracy = 3; double validation_accuracy = 4; double test_accuracy = 5;
string checkpoint_path = 6; }``. evaluation_data[1] is the halfway point, [2] the end.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from netembed._io import atomic_write, check_writable, existing_file, parse_json
from netembed.errors import DataError
from netembed.spaces.nb101.cell import MAX_VERTICES, OP_CODES, PADDING

__all__ = [
    "convert",
    "convert_tfrecord",
    "crc32c",
    "decode_metrics",
    "encode_metrics",
    "read_records",
    "write_tfrecord",
]

REPEATS = 3
METRICS = ("training_time", "train_accuracy", "validation_accuracy", "test_accuracy")
_FIELD = {2: "training_time", 3: "train_accuracy", 4: "validation_accuracy", 5: "test_accuracy"}


# -- CRC32C (Castagnoli), as TFRecord uses ---------------------------------------------------------


def _table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC_TABLE = _table()


def _crc32c_python(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


try:  # the C implementation is ~1000x faster; the fallback keeps the converter working anywhere
    from crc32c import crc32c as _crc32c_fast
except ImportError:  # pragma: no cover - depends on the environment
    _crc32c_fast = None


def crc32c(data: bytes) -> int:
    return _crc32c_fast(data) if _crc32c_fast is not None else _crc32c_python(data)


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# -- framing -------------------------------------------------------------------------------------


def read_records(path: str | os.PathLike, progress=None) -> Iterator[bytes]:
    """Yield each record's data, checking the framing and both CRCs."""
    with open(path, "rb") as handle:
        index = 0
        while True:
            header = handle.read(12)
            if not header:
                return
            if len(header) < 12:
                raise DataError(f"record {index}: file ends inside the record header ({len(header)} of 12 bytes)")
            (length,), (stored,) = struct.unpack("<Q", header[:8]), struct.unpack("<I", header[8:])
            computed = _masked(crc32c(header[:8]))
            if stored != computed:
                raise DataError(
                    f"record {index}: length CRC mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})"
                )
            data = handle.read(length)
            footer = handle.read(4)
            if len(data) < length or len(footer) < 4:
                raise DataError(f"record {index}: file ends inside the record (expected {length} data bytes)")
            (stored,) = struct.unpack("<I", footer)
            computed = _masked(crc32c(data))
            if stored != computed:
                raise DataError(f"record {index}: data CRC mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")
            if progress is not None:
                progress.update(16 + length)
            yield data
            index += 1


def _write_framed(handle: BinaryIO, data: bytes) -> None:
    length = struct.pack("<Q", len(data))
    handle.write(length + struct.pack("<I", _masked(crc32c(length))))
    handle.write(data + struct.pack("<I", _masked(crc32c(data))))


def write_tfrecord(path: str | os.PathLike, records: Iterable[bytes]) -> None:
    """Write records in TFRecord framing, atomically (used to build test fixtures in the real format)."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            for data in records:
                _write_framed(handle, data)

    atomic_write(path, write)


# -- protobuf ------------------------------------------------------------------------------------


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, object]]:
    """(field number, wire type, value) for each field of a serialised message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            if pos + 8 > len(data):
                raise ValueError("truncated 64-bit field")
            value, pos = struct.unpack_from("<d", data, pos)[0], pos + 8
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated length-delimited field")
            value, pos = data[pos : pos + size], pos + size
        elif wire == 5:
            if pos + 4 > len(data):
                raise ValueError("truncated 32-bit field")
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def decode_metrics(data: bytes) -> dict:
    """ModelMetrics -> {"evaluations": [{metric: value}], "trainable_parameters": int}."""
    evaluations, parameters = [], None
    for number, wire, value in _fields(data):
        if number == 1 and wire == 2:
            evaluations.append({_FIELD[n]: v for n, w, v in _fields(value) if n in _FIELD and w == 1})
        elif number == 2 and wire == 0:
            parameters = value
    return {"evaluations": evaluations, "trainable_parameters": parameters}


def encode_metrics(evaluations: list[dict], trainable_parameters: int) -> bytes:
    """The inverse of :func:`decode_metrics` (for fixtures)."""

    def tag(number: int, wire: int) -> bytes:
        return _encode_varint(number << 3 | wire)

    out = b""
    for evaluation in evaluations:
        inner = b"".join(
            tag(n, 1) + struct.pack("<d", evaluation[name]) for n, name in _FIELD.items() if name in evaluation
        )
        out += tag(1, 2) + _encode_varint(len(inner)) + inner
    return out + tag(2, 0) + _encode_varint(trainable_parameters)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


# -- conversion ----------------------------------------------------------------------------------


def _parse(index: int, data: bytes):
    try:
        module_hash, epochs, raw_adjacency, raw_ops, raw_metrics = parse_json(data.decode("utf-8"), f"record {index}")
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError, TypeError) as exc:
        raise DataError(f"record {index}: not a JSON row [hash, epochs, adjacency, ops, metrics] ({exc})") from exc
    n = round(len(raw_adjacency) ** 0.5)
    if n * n != len(raw_adjacency) or not set(raw_adjacency) <= {"0", "1"}:
        raise DataError(f"record {index}: adjacency must be n*n characters of 0/1, got {len(raw_adjacency)} characters")
    ops = raw_ops.split(",")
    if len(ops) != n or n > MAX_VERTICES:
        raise DataError(
            f"record {index}: ops must have one entry per vertex (at most {MAX_VERTICES}), got {len(ops)} for {n}"
        )
    unknown = [op for op in ops if op not in OP_CODES]
    if unknown:
        raise DataError(f"record {index}: unknown op {unknown[0]!r}")
    try:
        metrics = decode_metrics(base64.b64decode(raw_metrics, validate=True))
    except (binascii.Error, ValueError, KeyError) as exc:
        raise DataError(f"record {index}: metrics are not base64 ModelMetrics ({exc})") from exc
    if len(metrics["evaluations"]) < 3:
        raise DataError(
            f"record {index}: metrics must hold 3 evaluations (start, halfway, end), got {len(metrics['evaluations'])}"
        )
    adjacency = np.array([int(c) for c in raw_adjacency], dtype=np.int8).reshape(n, n)
    return str(module_hash), int(epochs), adjacency, [OP_CODES[op] for op in ops], metrics


def convert_tfrecord(src: str | os.PathLike, dst: str | os.PathLike, *, progress: bool = True) -> int:
    """Convert an official .tfrecord file to a compact .npz; returns the number of unique cells.

    Keeps every repeat and epoch budget: ``{final,halfway}_{metric}`` arrays of shape
    (cells, epochs, 3), NaN where absent, plus the compact table's own columns.
    """
    from tqdm.auto import tqdm

    src = existing_file(src, "the official NAS-Bench-101 .tfrecord must be a file")
    check_writable(dst, "the output", file=True)
    cells: dict[str, dict] = {}
    bar = tqdm(total=src.stat().st_size, unit="B", unit_scale=True, desc="converting", disable=not progress)
    with bar:
        for index, data in enumerate(read_records(src, bar)):
            module_hash, epochs, adjacency, ops, metrics = _parse(index, data)
            cell = cells.setdefault(
                module_hash, {"adjacency": adjacency, "ops": ops, "params": metrics["trainable_parameters"], "runs": {}}
            )
            if not np.array_equal(cell["adjacency"], adjacency) or cell["ops"] != ops:
                raise DataError(f"record {index}: hash {module_hash} was seen before with another cell")
            runs = cell["runs"].setdefault(epochs, [])
            if len(runs) == REPEATS:
                raise DataError(f"record {index}: more than {REPEATS} repeats of {module_hash} at {epochs} epochs")
            runs.append(metrics["evaluations"])
    if not cells:
        raise DataError(f"{src} holds no records")
    _write_compact(Path(dst), cells)
    return len(cells)


def convert(source: str | os.PathLike, output: str | os.PathLike, quiet: bool = False) -> tuple[dict, str]:
    """``netembed data convert``: ``convert_tfrecord``, its count and the line a person reads.

    Args:
        source: nasbench_only108.tfrecord or nasbench_full.tfrecord
        output: the .npz to write (atomically)
        quiet: no progress bar
    """
    cells = convert_tfrecord(source, output, progress=not quiet)
    return {"cells": cells, "output": str(output)}, f"wrote {cells:,} cells to {output}"


def _write_compact(dst: Path, cells: dict[str, dict]) -> None:
    hashes = np.array(sorted(cells), dtype="<U32")
    epochs = sorted({e for cell in cells.values() for e in cell["runs"]})
    if 108 not in epochs:
        raise DataError(f"the file must hold 108-epoch runs, got epochs {epochs}")
    n = len(hashes)
    columns = {
        "hash": hashes,
        "adjacency": np.zeros((n, MAX_VERTICES, MAX_VERTICES), dtype=np.int8),
        "ops": np.full((n, MAX_VERTICES), PADDING, dtype=np.int8),
        "num_vertices": np.zeros(n, dtype=np.int8),
        "params": np.zeros(n, dtype=np.int64),
        "epochs": np.array(epochs, dtype=np.int16),
    }
    for point in ("final", "halfway"):
        for metric in METRICS:
            columns[f"{point}_{metric}"] = np.full((n, len(epochs), REPEATS), np.nan, dtype=np.float32)
    for row, module_hash in enumerate(hashes):
        cell = cells[module_hash]
        size = len(cell["ops"])
        columns["adjacency"][row, :size, :size] = cell["adjacency"]
        columns["ops"][row, :size] = cell["ops"]
        columns["num_vertices"][row] = size
        columns["params"][row] = cell["params"] or 0
        for e, runs in cell["runs"].items():
            for repeat, evaluations in enumerate(runs):
                for point, evaluation in (("halfway", evaluations[1]), ("final", evaluations[2])):
                    for metric in METRICS:
                        columns[f"{point}_{metric}"][row, epochs.index(e), repeat] = evaluation.get(metric, np.nan)
    columns["test_acc_108"] = columns["final_test_accuracy"][:, epochs.index(108), 0].copy()

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:  # a handle, so numpy keeps the name (no ".npz" appended)
            np.savez(handle, **columns)

    atomic_write(dst, write)
