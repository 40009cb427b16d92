"""Atomic file writes (readers see the old file or the new one, never half of one) and the lock
that gives a run folder one owner."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from netembed.errors import BusyError, DataError

__all__ = [
    "LOCK_FILE",
    "as_saved",
    "atomic_write",
    "check_writable",
    "existing_file",
    "folder_lock",
    "read_npz",
    "read_text",
    "save_figure",
]

LOCK_FILE = ".netembed.lock"


def as_saved(value):
    """``value`` as a JSON file gives it back (tuples become lists), to compare with what was saved."""
    return json.loads(json.dumps(value))


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(temp_path)`` for a temp file beside ``path``, then move it over ``path``.

    Same directory, so ``os.replace`` is atomic; on any error the temp file is removed and
    ``path`` is untouched. The temp file is opened normally, so it gets the umask's
    permissions (``mkstemp`` would give 0600 to files meant to be shared).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_figure(figure, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure as PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", bbox_inches="tight"))
    finally:
        plt.close(figure)


@contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Own ``folder`` while the block runs: an exclusive advisory lock on ``folder/.netembed.lock``,
    taken before anything else is written there. A second process gets a ``BusyError`` naming the
    owner (pid and host, which the lock file records). The operating system releases the lock when
    its process dies, however it dies, so a killed run's folder is free again at once."""
    folder = check_writable(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    handle = open(path, "a+")  # noqa: SIM115 (held open for the lock's lifetime)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            raise BusyError(
                f"{folder} is in use by {owner} (lock {path}); wait for it to finish, or use another --out"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield folder
    finally:
        handle.close()  # releases the lock


def existing_file(path: str | os.PathLike, rule: str) -> Path:
    """``path``, a file a user named, or a one-line ``DataError`` saying the ``rule`` and what is
    wrong (no such file, not a file)."""
    file = Path(path)
    if not file.exists():
        raise DataError(f"{rule}, got {str(path)!r}: no such file")
    if not file.is_file():
        raise DataError(f"{rule}, got {str(path)!r}: not a file")
    return file


def read_text(path: str | os.PathLike, rule: str) -> str:
    """The UTF-8 text of a file a user named, or a one-line ``DataError`` saying the ``rule`` and
    what is wrong with the file (missing, not a file, not UTF-8)."""
    file = existing_file(path, rule)
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{rule}, got {str(path)!r}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def read_npz(path: str | os.PathLike) -> dict:
    """Every array of a NumPy ``.npz`` file (read without pickles), or a one-line ``DataError``
    naming the file, whatever is wrong with it (empty, truncated, not a zip, a pickle, a folder)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except Exception as exc:  # numpy's, zipfile's and the OS's errors of any kind
        raise DataError(f"{path} is not a readable NumPy .npz archive ({exc})") from exc


def check_writable(path: str | os.PathLike, option: str = "--out", file: bool = False) -> Path:
    """``path``, after checking that this process can write the folder (or with ``file``, the file)
    it names, before any long work; creates nothing. A one-line ``DataError`` names ``option``
    and what is wrong: an empty name, a file where a folder must be (or the reverse), a path
    under a file, a folder without write permission."""
    rule = f"{option} must name a {'file' if file else 'folder'} this process can write, got {str(path)!r}"
    if not str(path).strip():
        raise DataError(f"{rule}: an empty name")
    path = Path(path)
    if path.exists() and path.is_dir() == file:
        raise DataError(f"{rule}: {'a folder' if file else 'a file'}")
    folder = path.parent if file else path
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise DataError(f"{rule}: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DataError(f"{rule}: no permission to write in {existing}")
    return path
