"""Convert the official NAS-Bench-101 release (``nasbench_only108.tfrecord``, ``nasbench_full.tfrecord``)
to a compact ``.npz``, without TensorFlow or protobuf.

TFRecord framing, per record: uint64 LE length, uint32 LE masked CRC32C of those 8 bytes, the data,
uint32 LE masked CRC32C of the data. Each record's data is UTF-8 JSON
``[module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]`` (see ``nasbench/api.py``) where
``raw_metrics`` is base64 of a ``ModelMetrics`` protobuf (``nasbench/lib/model_metrics.proto``)::

    message ModelMetrics { repeated EvaluationData evaluation_data = 1;
                           optional int32 trainable_parameters = 2; optional double total_time = 3; }
    message EvaluationData { optional double current_epoch = 1; optional double training_time = 2;
                             optional double train_accuracy = 3; optional double validation_accuracy = 4;
                             optional double test_accuracy = 5; optional string checkpoint_path = 6; }

``evaluation_data[1]`` is the halfway point of training, ``evaluation_data[2]`` the end. Each hash
appears once per (epochs, repeat), with 3 repeats per epoch budget.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import re
import struct
import tempfile
from array import array
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Mapping, Sequence

import numpy as np
from tqdm import tqdm

from netembed.cell import MAX_VERTICES, OP_CODES, PADDING
from netembed.errors import DataError

__all__ = ["convert_tfrecord", "read_records", "write_tfrecord", "encode_metrics", "decode_metrics"]

REPEATS = 3
#: The eight per-run arrays of the output, in the order the converter collects them.
RUN_FIELDS = tuple(
    f"{point}_{metric}"
    for point in ("final", "halfway")
    for metric in ("train_accuracy", "validation_accuracy", "test_accuracy", "training_time")
)
_HASH = re.compile(r"[0-9a-f]{32}")

# -- CRC32C (Castagnoli polynomial, reflected), as TFRecord uses -----------------------------------------


def _make_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_TABLE = _make_table()


def _crc32c_python(data: bytes) -> int:
    """Pure-Python CRC32C: slow, but keeps the converter working where the C package is missing."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


@functools.cache
def _crc32c_impl():
    # Imported lazily so the module loads without the optional C extension (~1000x faster).
    try:
        from crc32c import crc32c
    except ImportError:
        return _crc32c_python
    return crc32c


def _masked_crc(data: bytes) -> int:
    crc = _crc32c_impl()(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# -- TFRecord framing ------------------------------------------------------------------------------------


def read_records(path: str | os.PathLike) -> Iterator[bytes]:
    """Yield each record's data bytes, streaming, after checking the framing and both CRCs."""
    try:
        handle = open(path, "rb", buffering=1 << 20)
    except FileNotFoundError as exc:
        raise DataError(f"TFRecord file not found: {path}") from exc
    with handle:
        index = 0
        while header := handle.read(12):
            if len(header) < 12:
                raise DataError(f"record {index}: file truncated inside the header ({len(header)} of 12 bytes)")
            length, stored = struct.unpack("<QI", header)
            computed = _masked_crc(header[:8])
            if stored != computed:
                raise DataError(f"record {index}: length CRC mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")
            data = handle.read(length)
            footer = handle.read(4)
            if len(data) < length or len(footer) < 4:
                raise DataError(f"record {index}: file truncated inside the data (expected {length} bytes + CRC)")
            (stored,) = struct.unpack("<I", footer)
            computed = _masked_crc(data)
            if stored != computed:
                raise DataError(f"record {index}: data CRC mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")
            yield data
            index += 1


@contextlib.contextmanager
def _atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A temp file beside ``path`` that replaces it only if the block succeeds; otherwise it is removed."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_tfrecord(path: str | os.PathLike, records: Iterable[bytes]) -> None:
    """Write ``records`` in TFRecord framing, atomically (tests use it to build fixtures in the real format)."""
    with _atomic_file(path) as handle:
        for data in records:
            length = struct.pack("<Q", len(data))
            handle.write(length + struct.pack("<I", _masked_crc(length)))
            handle.write(bytes(data) + struct.pack("<I", _masked_crc(data)))


# -- protobuf wire format (just what ModelMetrics needs) -------------------------------------------------

_EVAL_DOUBLES = {1: "current_epoch", 2: "training_time", 3: "train_accuracy", 4: "validation_accuracy", 5: "test_accuracy"}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise DataError("protobuf truncated inside a varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise DataError("protobuf varint longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) per field: an int for varints, raw bytes for the other wire types."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise DataError("protobuf field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
            yield number, wire, value
            continue
        if wire == 2:
            size, pos = _varint(buf, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
        else:  # 3/4 are deprecated groups, 6/7 do not exist; neither occurs in ModelMetrics
            raise DataError(f"protobuf wire type {wire} is not supported (field {number})")
        if pos + size > end:
            raise DataError(f"protobuf truncated inside field {number}")
        yield number, wire, buf[pos : pos + size]
        pos += size


def _expect(number: int, wire: int, expected: int) -> None:
    if wire != expected:
        raise DataError(f"protobuf field {number} has wire type {wire}, expected {expected}")


def _decode_evaluation(buf: bytes) -> dict:
    # Unset fields read as the proto2 defaults, like the official API.
    out: dict = dict.fromkeys(_EVAL_DOUBLES.values(), 0.0) | {"checkpoint_path": ""}
    for number, wire, value in _fields(buf):
        if number in _EVAL_DOUBLES:
            _expect(number, wire, 1)
            out[_EVAL_DOUBLES[number]] = struct.unpack("<d", value)[0]
        elif number == 6:
            _expect(number, wire, 2)
            try:
                out["checkpoint_path"] = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"protobuf checkpoint_path is not UTF-8 ({exc})") from exc
    return out


def decode_metrics(buf: bytes) -> dict:
    """Decode a serialized ``ModelMetrics``; unknown fields are skipped, missing ones take proto2 defaults.

    Returns ``{"evaluation_data": [dict, ...], "trainable_parameters": int, "total_time": float}``; each
    evaluation dict has ``current_epoch``, ``training_time``, ``train_accuracy``, ``validation_accuracy``,
    ``test_accuracy`` and ``checkpoint_path``.

    >>> decode_metrics(encode_metrics([{"test_accuracy": 0.5}], trainable_parameters=7))["trainable_parameters"]
    7
    """
    out: dict = {"evaluation_data": [], "trainable_parameters": 0, "total_time": 0.0}
    for number, wire, value in _fields(buf):
        if number == 1:
            _expect(number, wire, 2)
            out["evaluation_data"].append(_decode_evaluation(value))
        elif number == 2:
            _expect(number, wire, 0)
            value &= 0xFFFFFFFF  # int32 is sign-extended to 64 bits on the wire
            out["trainable_parameters"] = value - (1 << 32) if value >= 1 << 31 else value
        elif number == 3:
            _expect(number, wire, 1)
            out["total_time"] = struct.unpack("<d", value)[0]
    return out


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative ints take ten bytes, as protobuf writes them
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _encode_field(number: int, wire: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | wire) + (_encode_varint(len(payload)) if wire == 2 else b"") + payload


def encode_metrics(
    evaluation_data: Sequence[Mapping[str, float | str]],
    trainable_parameters: int | None = None,
    total_time: float | None = None,
) -> bytes:
    """Serialize a ``ModelMetrics`` (the inverse of :func:`decode_metrics`); absent keys are not written."""
    out = bytearray()
    for evaluation in evaluation_data:
        message = b"".join(
            _encode_field(number, 1, struct.pack("<d", evaluation[name]))
            for number, name in _EVAL_DOUBLES.items()
            if name in evaluation
        )
        if "checkpoint_path" in evaluation:
            message += _encode_field(6, 2, str(evaluation["checkpoint_path"]).encode("utf-8"))
        out += _encode_field(1, 2, message)
    if trainable_parameters is not None:
        out += _encode_field(2, 0, _encode_varint(trainable_parameters))
    if total_time is not None:
        out += _encode_field(3, 1, struct.pack("<d", total_time))
    return bytes(out)


# -- conversion ------------------------------------------------------------------------------------------


def _parse_record(data: bytes) -> tuple[str, int, str, str, dict]:
    """Check one record's JSON shape and decode its metrics."""
    try:
        row = json.loads(data)
    except ValueError as exc:  # also covers invalid UTF-8
        raise DataError(f"invalid JSON ({exc})") from None
    if not (isinstance(row, list) and len(row) == 5):
        raise DataError("expected a JSON list [hash, epochs, adjacency, operations, metrics]")
    module_hash, epochs, adjacency, operations, raw_metrics = row
    if not (isinstance(module_hash, str) and _HASH.fullmatch(module_hash)):
        raise DataError(f"hash must be 32 lowercase hex digits, got {module_hash!r}")
    if not (type(epochs) is int and 0 < epochs < 2**15):
        raise DataError(f"epochs must be a positive int16, got {epochs!r}")
    if not all(isinstance(field, str) for field in (adjacency, operations, raw_metrics)):
        raise DataError("adjacency, operations and metrics must be strings")
    try:
        metrics = decode_metrics(base64.b64decode(raw_metrics, validate=True))
    except ValueError as exc:  # binascii.Error, and DataError from the decoder
        raise DataError(f"invalid metrics ({exc})") from None
    if len(metrics["evaluation_data"]) < 3:
        raise DataError(f"metrics need at least 3 evaluation_data entries, got {len(metrics['evaluation_data'])}")
    return module_hash, epochs, adjacency, operations, metrics


def _parse_cell(adjacency: str, operations: str) -> tuple[np.ndarray, np.ndarray]:
    """The zero-padded 7x7 adjacency and padded op codes of one cell."""
    n = round(len(adjacency) ** 0.5)
    if n * n != len(adjacency):
        raise DataError(f"adjacency length must be a square, got {len(adjacency)}")
    if not 2 <= n <= MAX_VERTICES:
        raise DataError(f"adjacency must have 2..{MAX_VERTICES} vertices, got {n}")
    bits = np.frombuffer(adjacency.encode("latin-1", "replace"), np.uint8) - ord("0")  # other chars wrap to > 1
    if bits.max() > 1:
        raise DataError(f"adjacency must contain only '0' and '1', got {adjacency!r}")
    names = operations.split(",")
    if len(names) != n:
        raise DataError(f"expected {n} operations for a {n}-vertex adjacency, got {len(names)}")
    if unknown := [name for name in names if name not in OP_CODES]:
        raise DataError(f"unknown op {unknown[0]!r}")
    matrix = np.zeros((MAX_VERTICES, MAX_VERTICES), np.int8)
    matrix[:n, :n] = bits.reshape(n, n)
    ops = np.full(MAX_VERTICES, PADDING, np.int8)
    ops[:n] = [OP_CODES[name] for name in names]
    return matrix, ops


class _Collector:
    """Accumulates records in compact flat buffers (a 2 GB file must not become 5M Python dicts)."""

    def __init__(self) -> None:
        self.cells: dict[str, tuple[int, str, str, int]] = {}  # hash -> (row, adjacency, ops, first record)
        self.adjacency, self.ops = bytearray(), bytearray()  # padded cells, row after row
        self.num_vertices, self.params = array("b"), array("q")
        self.repeats: dict[tuple[int, int], int] = {}  # (row, epochs) -> runs seen so far
        self.run_row, self.run_epochs, self.run_repeat = array("i"), array("h"), array("b")
        self.run_values = array("f")  # len(RUN_FIELDS) values per run

    def add(self, index: int, data: bytes) -> None:
        module_hash, epochs, raw_adjacency, raw_ops, metrics = _parse_record(data)
        cell = self.cells.get(module_hash)
        if cell is None:
            matrix, codes = _parse_cell(raw_adjacency, raw_ops)
            cell = self.cells[module_hash] = (len(self.cells), raw_adjacency, raw_ops, index)
            self.adjacency += matrix.tobytes()
            self.ops += codes.tobytes()
            self.num_vertices.append(raw_ops.count(",") + 1)
            self.params.append(metrics["trainable_parameters"])
        elif (raw_adjacency, raw_ops) != cell[1:3]:
            raise DataError(f"hash {module_hash} has a different adjacency/ops than record {cell[3]}")

        row = cell[0]
        repeat = self.repeats.get((row, epochs), 0)
        if repeat == REPEATS:
            raise DataError(f"more than {REPEATS} repeats of hash {module_hash} at {epochs} epochs")
        self.repeats[row, epochs] = repeat + 1
        self.run_row.append(row)
        self.run_epochs.append(epochs)
        self.run_repeat.append(repeat)
        halfway, final = metrics["evaluation_data"][1:3]
        for point in (final, halfway):  # the order of RUN_FIELDS
            self.run_values.extend(
                (point["train_accuracy"], point["validation_accuracy"], point["test_accuracy"], point["training_time"])
            )

    def arrays(self) -> dict[str, np.ndarray]:
        """The output arrays, rows sorted by hash."""
        epochs = np.unique(np.frombuffer(self.run_epochs, np.int16))
        if 108 not in epochs:
            raise DataError(f"no 108-epoch records (epochs seen: {epochs.tolist()})")
        hashes = np.array(list(self.cells), dtype="<U32")
        order = np.argsort(hashes)
        position = np.empty_like(order)
        position[order] = np.arange(len(order))  # row in file order -> row in hash order

        runs = np.full((len(RUN_FIELDS), len(hashes), len(epochs), REPEATS), np.nan, np.float32)
        rows = position[np.frombuffer(self.run_row, np.int32)]
        slots = np.searchsorted(epochs, np.frombuffer(self.run_epochs, np.int16))
        repeats = np.frombuffer(self.run_repeat, np.int8)
        runs[:, rows, slots, repeats] = np.frombuffer(self.run_values, np.float32).reshape(-1, len(RUN_FIELDS)).T
        by_name = dict(zip(RUN_FIELDS, runs))
        return {
            "hash": hashes[order],
            "adjacency": np.frombuffer(self.adjacency, np.int8).reshape(-1, MAX_VERTICES, MAX_VERTICES)[order],
            "ops": np.frombuffer(self.ops, np.int8).reshape(-1, MAX_VERTICES)[order],
            "num_vertices": np.frombuffer(self.num_vertices, np.int8)[order],
            "params": np.frombuffer(self.params, np.int64)[order],
            "epochs": epochs,
            **by_name,
            "test_acc_108": by_name["final_test_accuracy"][:, np.searchsorted(epochs, 108), 0],
        }


def convert_tfrecord(src: str | os.PathLike, dst: str | os.PathLike, *, progress: bool = True) -> int:
    """Convert an official NAS-Bench-101 ``.tfrecord`` to a compact ``.npz``; returns the number of cells.

    Rows are sorted by hash: ``hash`` (N,), ``adjacency`` (N, 7, 7), ``ops`` (N, 7), ``num_vertices``,
    ``params``; ``epochs`` (E,); the eight :data:`RUN_FIELDS` as float32 (N, E, 3) indexed
    [cell, epoch budget, repeat], NaN where a run is missing; ``test_acc_108`` is repeat 0's final
    test accuracy at 108 epochs. ``dst`` is written atomically: on any error it is left untouched.
    """
    if not os.path.isfile(src):
        raise DataError(f"TFRecord file not found: {src}")
    collector = _Collector()
    with _atomic_file(dst) as out:  # created first, so a bad destination fails before the long read
        with tqdm(total=os.path.getsize(src), unit="B", unit_scale=True, desc="records", disable=not progress) as bar:
            for index, data in enumerate(read_records(src)):
                bar.update(len(data) + 16)  # 12 header + 4 footer bytes
                try:
                    collector.add(index, data)
                except DataError as exc:
                    raise DataError(f"record {index}: {exc}") from None
        del collector.repeats  # only needed while counting; free it before building the arrays
        try:
            arrays = collector.arrays()
        except DataError as exc:
            raise DataError(f"{src}: {exc}") from None
        np.savez(out, **arrays)
    return len(arrays["hash"])
