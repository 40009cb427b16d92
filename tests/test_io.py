"""netembed._io: durable atomic writes, the run folder's lock, and the one reader of users' JSON."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from netembed._io import LOCK_FILE, atomic_write, folder_lock, parse_json
from netembed.errors import BusyError, DataError, SearchError

DEEP = "[" * 50_000 + "]" * 50_000  # RecursionError in Python's JSON parser


def test_atomic_write_syncs_the_file_before_the_move_and_the_folder_after(tmp_path, monkeypatch):
    """A power cut after the move must find the new file whole and its name on disk."""
    events = []
    fsync, replace = os.fsync, os.replace

    def spy_fsync(fd):
        info = os.fstat(fd)
        events.append(("fsync", "folder" if stat.S_ISDIR(info.st_mode) else "file", info.st_ino))
        fsync(fd)

    def spy_replace(source, target):
        events.append(("replace", os.stat(source).st_ino))
        replace(source, target)

    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "replace", spy_replace)
    path = atomic_write(tmp_path / "sub" / "x.json", lambda tmp: Path(tmp).write_text("{}"))
    written, folder = path.stat().st_ino, path.parent.stat().st_ino
    assert events == [("fsync", "file", written), ("replace", written), ("fsync", "folder", folder)]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    path.write_text("old")

    def full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        atomic_write(path, lambda tmp: Path(tmp).write_text("new"))
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def _holder(folder) -> subprocess.Popen:
    """Another process owning ``folder`` until killed."""
    code = f"from netembed._io import folder_lock\nwith folder_lock({str(folder)!r}):\n    print('held', flush=True)\n"
    holder = subprocess.Popen(
        [sys.executable, "-c", code + "    import time; time.sleep(60)"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_deleting_or_replacing_the_lock_file_under_a_live_owner_lets_no_second_owner_in(tmp_path):
    holder = _holder(tmp_path)
    try:
        (tmp_path / LOCK_FILE).unlink()
        with pytest.raises(BusyError, match="in use by another process"), folder_lock(tmp_path):
            pytest.fail("a second owner got in")
        (tmp_path / LOCK_FILE).write_text("process 1 on elsewhere\n")  # a new file where the note was
        with pytest.raises(BusyError, match="in use by process 1 on elsewhere"), folder_lock(tmp_path):
            pytest.fail("a second owner got in")
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(tmp_path):  # the dead owner's folder is free at once
        assert (tmp_path / LOCK_FILE).read_text() == f"process {os.getpid()} on {os.uname().nodename}\n"


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_FILE).symlink_to(target)
    with (
        pytest.raises(DataError, match=rf"{LOCK_FILE} must be a plain file .* got a symbolic link to .*precious.txt"),
        folder_lock(run),
    ):
        pytest.fail("took a lock through a link")
    assert target.read_text() == "keep me\n" and (run / LOCK_FILE).is_symlink()
    (run / LOCK_FILE).unlink()
    os.mkfifo(run / LOCK_FILE)  # nor anything else that is not a plain file (a FIFO would block)
    with pytest.raises(DataError, match="must be a plain file"), folder_lock(run):
        pass


def test_a_lock_file_symlinked_through_the_command_line_is_one_line(tmp_path, monkeypatch, capsys):
    from netembed.cli import main

    monkeypatch.setenv("NETEMBED_DATA", str(tmp_path / "absent"))
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK_FILE).symlink_to(target)
    cell = '{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}'
    assert main(["train-cell", cell, "--epochs", "1", "--train-size", "10", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "symbolic link" in err and target.read_text() == "keep me\n"


@pytest.mark.parametrize(
    "text, message",
    [
        (DEEP, "cells.json is nested too deeply to read"),
        ("1" * 5000, "cells.json is not readable JSON \\(Exceeds the limit"),  # Python's int() digit limit
    ],
)
def test_json_that_python_cannot_parse_is_a_data_error_naming_its_file(text, message):
    with pytest.raises(DataError, match=message):
        parse_json(text, "cells.json")
    with pytest.raises(json.JSONDecodeError):  # a syntax error stays json's, for the caller to word
        parse_json("[1,", "cells.json")
    assert parse_json('{"a": [1]}', "cells.json") == {"a": [1]}


def test_a_run_folder_created_for_a_refused_run_is_removed_and_others_are_kept(tmp_path):
    new, kept, used = tmp_path / "new" / "run", tmp_path / "kept", tmp_path / "used"
    kept.mkdir()
    for folder in (new, kept, used):
        with pytest.raises(SearchError, match="refused"), folder_lock(folder):
            if folder == used:
                (folder / "queries.jsonl").write_text("{}\n")  # written before the failure: kept
            raise SearchError("refused")
    assert not new.exists() and new.parent.exists()  # only the folder the lock made
    assert kept.is_dir() and used.joinpath("queries.jsonl").exists()
    with folder_lock(new):  # a run that succeeds keeps its folder, empty or not
        pass
    assert new.is_dir()


def test_an_npz_that_is_a_pipe_or_a_folder_is_refused_without_blocking(tmp_path):
    from netembed._io import read_npz

    os.mkfifo(tmp_path / "pipe.npz")  # np.load would wait for a writer forever
    (tmp_path / "folder.npz").mkdir()
    for name in ("pipe.npz", "folder.npz"):
        with pytest.raises(DataError, match=r"is not a readable NumPy .npz archive \(not a file\)"):
            read_npz(tmp_path / name)
