"""The official-release converter, on files written in the exact TFRecord format by the tests."""

import base64
import json
import struct

import numpy as np
import pytest

from netembed import DataError
from netembed.spaces.nb101 import space
from netembed.spaces.nb101.cell import OP_CODES
from netembed.spaces.nb101.official import (
    _crc32c_python,
    convert_tfrecord,
    crc32c,
    decode_metrics,
    encode_metrics,
    read_records,
    write_tfrecord,
)
from netembed.spaces.nb101.table import Benchmark

NAMES = {code: op for op, code in OP_CODES.items()}


def record(row: int, arrays, epochs: int, repeat: int) -> bytes:
    """One official-format record for enumeration row ``row`` with made-up metrics."""
    n = int(arrays.num_vertices[row])
    adjacency = "".join(str(int(v)) for v in arrays.adjacency[row, :n, :n].ravel())
    ops = ",".join(NAMES[int(c)] for c in arrays.ops[row, :n])
    start = {"training_time": 0.0, "train_accuracy": 0.1, "validation_accuracy": 0.1, "test_accuracy": 0.1}
    value = (row % 100) / 1000 + epochs / 1000 + repeat / 10000

    def evaluation(fraction):
        return {
            "training_time": 10.0 * epochs * fraction + repeat,
            "train_accuracy": 0.5 + value,
            "validation_accuracy": 0.4 + value * fraction,
            "test_accuracy": 0.3 + value * fraction,
        }

    metrics = encode_metrics([start, evaluation(0.5), evaluation(1.0)], trainable_parameters=1000 + row)
    return json.dumps([str(arrays.hashes[row]), epochs, adjacency, ops, base64.b64encode(metrics).decode()]).encode()


@pytest.fixture
def official(tmp_path, arrays):
    rows = [5, 1, 300_000, 42]
    records = [record(r, arrays, e, k) for r in rows for e in (4, 108) for k in range(3)][
        :-1
    ]  # row 42: 2 repeats at 108
    path = tmp_path / "nasbench_full.tfrecord"
    write_tfrecord(path, records)
    return path, rows


def test_crc32c_known_value_and_fallback_agree():
    assert crc32c(b"123456789") == _crc32c_python(b"123456789") == 0xE3069283
    for data in (b"", b"a", bytes(range(256)) * 3):
        assert crc32c(data) == _crc32c_python(data)


def test_metrics_round_trip():
    evaluations = [{"training_time": 1.5, "test_accuracy": 0.25}, {"train_accuracy": 1.0}]
    decoded = decode_metrics(encode_metrics(evaluations, 123456))
    assert decoded == {"evaluations": evaluations, "trainable_parameters": 123456}


def test_conversion_keeps_every_repeat_and_epoch(official, arrays, tmp_path):
    path, rows = official
    out = tmp_path / "out.npz"
    assert convert_tfrecord(path, out, progress=False) == 4
    with np.load(out, allow_pickle=False) as data:
        assert data["hash"].tolist() == sorted(arrays.hashes[rows].tolist())
        assert data["epochs"].tolist() == [4, 108]
        row = data["hash"].tolist().index(arrays.hashes[300_000])
        n = arrays.num_vertices[300_000]
        assert np.array_equal(data["adjacency"][row], arrays.adjacency[300_000])
        assert np.array_equal(data["ops"][row], arrays.ops[300_000]) and data["num_vertices"][row] == n
        assert data["params"][row] == 1000 + 300_000
        final = data["final_test_accuracy"]
        assert final.shape == (4, 2, 3)
        assert final[row, 1, 2] == pytest.approx(0.3 + 0.0 + 0.108 + 0.0002)
        assert data["halfway_training_time"][row, 0, 1] == pytest.approx(10 * 4 * 0.5 + 1)
        assert data["test_acc_108"][row] == final[row, 1, 0]
        short = data["hash"].tolist().index(arrays.hashes[42])
        assert np.isnan(final[short, 1, 2]) and not np.isnan(final[short, 1, 1])
    bench = Benchmark.load(out)
    record_ = bench.query(str(arrays.hashes[300_000]))
    assert record_.val_acc_4 == pytest.approx(0.4 + 0.0 + 0.004)
    assert record_.train_time_108 == pytest.approx(1080.0) and record_.val_acc_12 is None
    assert bench.cell(row) == space.cell_at(300_000)


def corrupt(path, offset, value=None):
    data = bytearray(path.read_bytes())
    data[offset] = value if value is not None else data[offset] ^ 0xFF
    path.write_bytes(bytes(data))


def first_length(path) -> int:
    return struct.unpack("<Q", path.read_bytes()[:8])[0]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: corrupt(p, 0), "record 0: length CRC mismatch"),
        (lambda p: corrupt(p, 9), "record 0: length CRC mismatch"),
        (lambda p: corrupt(p, 20), "record 0: data CRC mismatch"),
        (lambda p: corrupt(p, 12 + first_length(p) + 1), "record 0: data CRC mismatch"),
        (lambda p: p.write_bytes(p.read_bytes()[:-3]), "record 22: file ends inside the record"),
        (lambda p: p.write_bytes(p.read_bytes() + b"\x01\x02"), "record 23: file ends inside the record header"),
    ],
)
def test_damaged_files_name_the_record(official, tmp_path, damage, message):
    path, _ = official
    damage(path)
    out = tmp_path / "out.npz"
    out.write_bytes(b"previous content")
    with pytest.raises(DataError, match=message):
        convert_tfrecord(path, out, progress=False)
    assert out.read_bytes() == b"previous content"  # nothing half-written
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"not json", "record 0: not a JSON row"),
        (json.dumps(["h", 108, "0101", "input,output", ""]).encode(), "metrics must hold 3 evaluations"),
        (json.dumps(["h", 108, "010", "input,output", ""]).encode(), "adjacency must be n\\*n characters"),
        (json.dumps(["h", 108, "0100", "input,output,output", ""]).encode(), "ops must have one entry per vertex"),
        (json.dumps(["h", 108, "0100", "input,conv5x5", ""]).encode(), "unknown op 'conv5x5'"),
        (json.dumps(["h", 108, "0100", "input,output", "%%%"]).encode(), "metrics are not base64 ModelMetrics"),
        (
            json.dumps(["h", 108, "0100", "input,output", base64.b64encode(b"\x0a\x05ab").decode()]).encode(),
            "metrics are not base64 ModelMetrics",
        ),
    ],
)
def test_malformed_rows_name_the_record(tmp_path, payload, message):
    path = tmp_path / "bad.tfrecord"
    write_tfrecord(path, [payload])
    with pytest.raises(DataError, match=message):
        convert_tfrecord(path, tmp_path / "out.npz", progress=False)
    assert not (tmp_path / "out.npz").exists()


def test_inconsistent_or_excess_records_are_refused(tmp_path, arrays):
    one = record(7, arrays, 108, 0)
    path = tmp_path / "f.tfrecord"
    write_tfrecord(path, [one] * 4)
    with pytest.raises(DataError, match="record 3: more than 3 repeats"):
        convert_tfrecord(path, tmp_path / "out.npz", progress=False)
    other = json.loads(record(8, arrays, 108, 0))
    other[0] = str(arrays.hashes[7])
    write_tfrecord(path, [one, json.dumps(other).encode()])
    with pytest.raises(DataError, match="record 1: hash .* was seen before with another cell"):
        convert_tfrecord(path, tmp_path / "out.npz", progress=False)
    write_tfrecord(path, [record(7, arrays, 4, 0)])
    with pytest.raises(DataError, match=r"must hold 108-epoch runs, got epochs \[4\]"):
        convert_tfrecord(path, tmp_path / "out.npz", progress=False)
    write_tfrecord(path, [])
    with pytest.raises(DataError, match="holds no records"):
        convert_tfrecord(path, tmp_path / "out.npz", progress=False)
    with pytest.raises(DataError, match="no such file"):
        convert_tfrecord(tmp_path / "missing.tfrecord", tmp_path / "out.npz", progress=False)


def test_read_records_yields_the_data(tmp_path):
    path = tmp_path / "r.tfrecord"
    write_tfrecord(path, [b"one", b"", b"three"])
    assert list(read_records(path)) == [b"one", b"", b"three"]
