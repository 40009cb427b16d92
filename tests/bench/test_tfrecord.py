"""The TFRecord converter, on synthetic files written in the exact official format."""

import base64
import hashlib
import json
import struct
import sys

import numpy as np
import pytest

from netembed.bench import tfrecord
from netembed.bench.tfrecord import (
    RUN_FIELDS,
    _crc32c_impl,
    _crc32c_python,
    convert_tfrecord,
    decode_metrics,
    encode_metrics,
    read_records,
    write_tfrecord,
)
from netembed.errors import DataError

# Two cells: a 3-vertex chain and the 2-vertex input->output cell.
CHAIN = ("010001000", "input,conv3x3-bn-relu,output")
DIRECT = ("0100", "input,output")
# The hashes only need to be well-formed; "b..." is written first but must sort second.
HASH_A = hashlib.md5(b"a").hexdigest()  # 0cc1...
HASH_B = hashlib.md5(b"b").hexdigest()  # 92eb...


def value(epochs: int, repeat: int, field: int) -> float:
    """A distinct, exactly representable value per (epochs, repeat, field), so slots can be checked."""
    return epochs + repeat / 4 + field / 64


def metrics(epochs: int, repeat: int, params: int = 1234) -> bytes:
    evaluations = [
        {"current_epoch": 0.0, "training_time": 0.0, "train_accuracy": 0.1, "validation_accuracy": 0.1, "test_accuracy": 0.1},
        {"current_epoch": epochs / 2, **{name: value(epochs, repeat, 4 + k) for k, name in enumerate(_NAMES)}},
        {"current_epoch": float(epochs), **{name: value(epochs, repeat, k) for k, name in enumerate(_NAMES)},
         "checkpoint_path": f"/ckpt/model.ckpt-{epochs}"},
    ]
    return encode_metrics(evaluations, trainable_parameters=params, total_time=99.5)


_NAMES = ("train_accuracy", "validation_accuracy", "test_accuracy", "training_time")  # RUN_FIELDS order


def record(module_hash=HASH_A, epochs=108, cell=CHAIN, raw_metrics=None, repeat=0) -> bytes:
    raw_metrics = metrics(epochs, repeat) if raw_metrics is None else raw_metrics
    row = [module_hash, epochs, cell[0], cell[1], base64.b64encode(raw_metrics).decode()]
    return json.dumps(row).encode()


@pytest.fixture
def paths(tmp_path):
    return tmp_path / "in.tfrecord", tmp_path / "out.npz"


def convert(records, paths):
    src, dst = paths
    write_tfrecord(src, records)
    count = convert_tfrecord(src, dst, progress=False)
    with np.load(dst, allow_pickle=False) as npz:
        return count, dict(npz)


# -- CRC -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"a", b"123456789", bytes(range(256)) * 3, "naïve".encode()])
def test_crc_fallback_agrees_with_c_package(data):
    crc32c = pytest.importorskip("crc32c")
    assert _crc32c_python(data) == crc32c.crc32c(data)


def test_crc_check_value():
    assert _crc32c_python(b"123456789") == 0xE3069283
    assert _crc32c_impl()(b"123456789") == 0xE3069283


def test_converter_works_without_the_c_package(monkeypatch, paths):
    monkeypatch.setitem(sys.modules, "crc32c", None)  # makes `import crc32c` raise ImportError
    _crc32c_impl.cache_clear()
    try:
        assert _crc32c_impl() is _crc32c_python
        count, out = convert([record()], paths)
        assert count == 1
    finally:
        _crc32c_impl.cache_clear()


# -- framing and protobuf ----------------------------------------------------------------------------------


def test_framing_round_trip_and_layout(tmp_path):
    path = tmp_path / "x.tfrecord"
    write_tfrecord(path, [b"hello", b"", b"world!"])
    assert list(read_records(path)) == [b"hello", b"", b"world!"]
    raw = path.read_bytes()
    assert len(raw) == 3 * 16 + 11
    assert struct.unpack("<Q", raw[:8]) == (5,) and raw[12:17] == b"hello"
    crc = _crc32c_python(b"hello")
    assert struct.unpack("<I", raw[17:21]) == ((((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF,)


def test_metrics_round_trip():
    buf = metrics(36, 2, params=-5)
    decoded = decode_metrics(buf)
    assert decoded["trainable_parameters"] == -5 and decoded["total_time"] == 99.5
    assert len(decoded["evaluation_data"]) == 3
    assert decoded["evaluation_data"][2]["test_accuracy"] == value(36, 2, 2)
    assert decoded["evaluation_data"][2]["checkpoint_path"] == "/ckpt/model.ckpt-36"
    assert decoded["evaluation_data"][0]["checkpoint_path"] == ""  # proto2 default
    assert decode_metrics(encode_metrics(**decoded)) == decoded  # unset fields come back as written defaults


def test_decoder_skips_unknown_fields():
    unknown = b"\x20\x96\x01" + b"\x29" + bytes(8) + b"\x32\x02hi" + b"\x3d" + bytes(4)  # fields 4..7, all wire types
    buf = unknown + encode_metrics([{"test_accuracy": 0.5}], trainable_parameters=3)
    assert decode_metrics(buf)["evaluation_data"][0]["test_accuracy"] == 0.5
    assert decode_metrics(buf)["trainable_parameters"] == 3


@pytest.mark.parametrize(
    "buf, rule",
    [(b"\x10", "varint"), (b"\x0a\x05ab", "truncated inside field 1"), (b"\x0b", "wire type 3"),
     (b"\x11" + bytes(8), "field 2 has wire type 1"), (b"\x00\x00", "field number 0")],
)
def test_decoder_rejects_bad_protobuf(buf, rule):
    with pytest.raises(DataError, match=rule):
        decode_metrics(buf)


# -- conversion ------------------------------------------------------------------------------------------


def test_round_trip_full_layout(paths):
    records = [record(HASH_B, e, DIRECT, repeat=r) for e in (4, 108) for r in range(3)]
    records += [record(HASH_A, e, CHAIN, repeat=r) for e in (108, 12) for r in range(3)]
    records += [record(HASH_A, 36, CHAIN, repeat=0)]  # one repeat only: the others stay NaN
    count, out = convert(records, paths)

    assert count == 2
    assert out["hash"].dtype == "<U32" and out["hash"].tolist() == [HASH_A, HASH_B]
    assert out["epochs"].dtype == np.int16 and out["epochs"].tolist() == [4, 12, 36, 108]
    assert out["num_vertices"].dtype == np.int8 and out["num_vertices"].tolist() == [3, 2]
    assert out["params"].dtype == np.int64 and out["params"].tolist() == [1234, 1234]
    assert out["ops"].dtype == np.int8
    assert out["ops"].tolist() == [[-1, 0, -2, -3, -3, -3, -3], [-1, -2, -3, -3, -3, -3, -3]]
    assert out["adjacency"].dtype == np.int8 and out["adjacency"].shape == (2, 7, 7)
    expected = np.zeros((2, 7, 7), np.int8)
    expected[0, 0, 1] = expected[0, 1, 2] = expected[1, 0, 1] = 1
    np.testing.assert_array_equal(out["adjacency"], expected)

    for k, name in enumerate(RUN_FIELDS):
        assert out[name].dtype == np.float32 and out[name].shape == (2, 4, 3)
        for row, present in ((0, {(12, r) for r in range(3)} | {(108, r) for r in range(3)} | {(36, 0)}),
                             (1, {(4, r) for r in range(3)} | {(108, r) for r in range(3)})):
            for slot, epochs in enumerate((4, 12, 36, 108)):
                for repeat in range(3):
                    got = out[name][row, slot, repeat]
                    if (epochs, repeat) in present:
                        assert got == np.float32(value(epochs, repeat, k)), (name, row, epochs, repeat)
                    else:
                        assert np.isnan(got), (name, row, epochs, repeat)
    assert out["test_acc_108"].dtype == np.float32
    np.testing.assert_array_equal(out["test_acc_108"], np.float32([value(108, 0, 2)] * 2))


def test_only108_file(paths):
    count, out = convert([record(HASH_A, 108, repeat=r) for r in range(3)], paths)
    assert count == 1 and out["epochs"].tolist() == [108]
    assert out["final_test_accuracy"].shape == (1, 1, 3)


def test_progress_bar_counts_every_byte(paths, capsys):
    src, dst = paths
    write_tfrecord(src, [record()])
    convert_tfrecord(src, dst, progress=True)
    assert f"{src.stat().st_size}" in capsys.readouterr().err


def _flip(path, offset):
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def _framing_case(name):
    """Corrupt the second record (index 1) of a two-record file; return the expected message pattern."""
    def apply(src):
        first = 16 + len(record())
        if name == "length":
            _flip(src, first + 0)
            return r"record 1: length CRC mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)"
        if name == "length crc":
            _flip(src, first + 9)
            return "record 1: length CRC mismatch"
        if name == "data":
            _flip(src, first + 20)
            return r"record 1: data CRC mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)"
        if name == "data crc":
            _flip(src, src.stat().st_size - 1)
            return "record 1: data CRC mismatch"
        if name == "truncated data":
            src.write_bytes(src.read_bytes()[:-3])
            return "record 1: file truncated inside the data"
        if name == "truncated header":
            src.write_bytes(src.read_bytes()[: first + 5])
            return "record 1: file truncated inside the header"
    return apply


@pytest.mark.parametrize("name", ["length", "length crc", "data", "data crc", "truncated data", "truncated header"])
def test_framing_errors(paths, name):
    src, dst = paths
    write_tfrecord(src, [record(repeat=0), record(repeat=1)])
    rule = _framing_case(name)(src)
    with pytest.raises(DataError, match=rule):
        list(read_records(src))
    with pytest.raises(DataError, match=rule):
        convert_tfrecord(src, dst, progress=False)


def _with_b64(payload: bytes) -> bytes:
    return json.dumps([HASH_A, 108, *CHAIN, base64.b64encode(payload).decode()]).encode()


BAD_RECORDS = {
    "bad json": (b"[not json", "invalid JSON"),
    "bad utf-8": (b'["\xff"]', "invalid JSON"),
    "not a list": (b'{"a": 1}', "expected a JSON list"),
    "bad hash": (record(module_hash="xyz"), "hash must be 32 lowercase hex"),
    "bad epochs": (record(epochs=0), "epochs must be a positive int16"),
    "bad base64": (json.dumps([HASH_A, 108, *CHAIN, "@@@"]).encode(), "invalid metrics"),
    "bad protobuf": (_with_b64(b"\x0a\x09abc"), r"invalid metrics \(protobuf truncated"),
    "too few evaluations": (_with_b64(encode_metrics([{}, {}])), "metrics need at least 3 evaluation_data entries, got 2"),
    "not square": (record(cell=("01000", "input,output")), "adjacency length must be a square, got 5"),
    "too many vertices": (record(cell=("0" * 64, ",".join(["input"] * 8))), "adjacency must have 2..7 vertices, got 8"),
    "bad bit": (record(cell=("0200", "input,output")), "adjacency must contain only '0' and '1'"),
    "op count": (record(cell=("0100", "input,conv3x3-bn-relu,output")), "expected 2 operations"),
    "bad op": (record(cell=("0100", "input,conv5x5")), "unknown op 'conv5x5'"),
}


@pytest.mark.parametrize("name", BAD_RECORDS)
def test_content_errors_name_record_and_rule(paths, name):
    bad, rule = BAD_RECORDS[name]
    src, dst = paths
    write_tfrecord(src, [record(HASH_B, cell=DIRECT), bad])
    with pytest.raises(DataError, match=f"^record 1: {rule}"):
        convert_tfrecord(src, dst, progress=False)


def test_more_than_three_repeats(paths):
    src, dst = paths
    write_tfrecord(src, [record(HASH_A, 108, repeat=r) for r in range(3)] + [record(HASH_A, 4), record(HASH_A, 108)])
    with pytest.raises(DataError, match=f"^record 4: more than 3 repeats of hash {HASH_A} at 108 epochs"):
        convert_tfrecord(src, dst, progress=False)


@pytest.mark.parametrize("other", [("011000000", CHAIN[1]), (CHAIN[0], "input,maxpool3x3,output")])
def test_hash_with_different_cell(paths, other):
    src, dst = paths
    write_tfrecord(src, [record(HASH_B, cell=DIRECT), record(HASH_A), record(HASH_A, cell=other)])
    with pytest.raises(DataError, match=f"^record 2: hash {HASH_A} has a different adjacency/ops than record 1"):
        convert_tfrecord(src, dst, progress=False)


def test_missing_108_epochs(paths):
    src, dst = paths
    write_tfrecord(src, [record(epochs=4), record(epochs=12)])
    with pytest.raises(DataError, match=r"no 108-epoch records \(epochs seen: \[4, 12\]\)"):
        convert_tfrecord(src, dst, progress=False)


def test_missing_source(paths):
    src, dst = paths
    with pytest.raises(DataError, match="not found"):
        convert_tfrecord(src, dst, progress=False)
    with pytest.raises(DataError, match="not found"):
        next(read_records(src))


@pytest.mark.parametrize("last", [b"[broken", "truncate", "no 108"])
def test_destination_untouched_and_no_temp_file_on_error(paths, last):
    src, dst = paths
    dst.write_bytes(b"previous contents")
    records = [record(epochs=4)] if last == "no 108" else [record(), b"[broken"]
    write_tfrecord(src, records)
    if last == "truncate":
        src.write_bytes(src.read_bytes()[:-1])
    with pytest.raises(DataError):
        convert_tfrecord(src, dst, progress=False)
    assert dst.read_bytes() == b"previous contents"
    assert sorted(p.name for p in dst.parent.iterdir()) == ["in.tfrecord", "out.npz"]


def test_success_leaves_only_the_destination(paths):
    convert([record()], paths)
    assert sorted(p.name for p in paths[1].parent.iterdir()) == ["in.tfrecord", "out.npz"]


def test_write_tfrecord_is_atomic(tmp_path):
    path = tmp_path / "x.tfrecord"
    path.write_bytes(b"old")

    def records():
        yield b"one"
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError):
        write_tfrecord(path, records())
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["x.tfrecord"]


def test_module_exports():
    assert set(tfrecord.__all__) == {"convert_tfrecord", "read_records", "write_tfrecord", "encode_metrics", "decode_metrics"}
