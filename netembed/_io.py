"""Atomic file writes (readers see the old file or the new one, never half of one; the new one
is on disk when the call returns), the lock that gives a run folder one owner, and the one
reader of JSON a user can edit."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import socket
import stat
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from netembed.errors import BusyError, DataError

__all__ = [
    "LOCK_FILE",
    "as_saved",
    "atomic_write",
    "check_new_folder",
    "check_writable",
    "existing_file",
    "folder_lock",
    "parse_json",
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
    ``path`` is untouched. The temp file is fsynced before the move and the folder after it, so
    a power cut leaves the old file or the new one, whole. The temp file is opened normally, so
    it gets the umask's permissions (``mkstemp`` would give 0600 to files meant to be shared).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        write(str(tmp))
        _fsync(tmp, os.O_RDONLY)  # its data on disk before the name points at it
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync(path.parent, os.O_RDONLY | os.O_DIRECTORY)  # the new name on disk
    return path


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError as exc:  # a file system that cannot sync a folder: the file itself is synced
        if not (flags & os.O_DIRECTORY and exc.errno in (errno.EINVAL, errno.ENOTSUP, errno.EBADF)):
            raise
    finally:
        os.close(fd)


def save_figure(figure, path: str | os.PathLike) -> Path:
    """Save a matplotlib figure as PNG, atomically, and close it."""
    import matplotlib.pyplot as plt

    try:
        return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png", bbox_inches="tight"))
    finally:
        plt.close(figure)


@contextmanager
def folder_lock(folder: str | os.PathLike) -> Iterator[Path]:
    """Own ``folder`` while the block runs, before anything else is written there. A second
    process gets a ``BusyError`` naming the owner (pid and host).

    The lock is an exclusive advisory lock (``flock``) on the folder itself, which cannot be
    swapped or deleted while the run lives in it: deleting or replacing the note beside it
    (``.netembed.lock``, the owner's pid and host) lets no second owner in. The note is locked
    too (for file systems whose folder locks are local to a machine), opened without following a
    symbolic link: a note that is a link is refused, and nothing is written through it. The
    operating system releases the locks when their process dies, however it dies, so a killed
    run's folder is free again at once. A folder the block created and left empty when it
    failed (a refused study, a bad setting found late) is removed: a refusal leaves nothing."""
    folder = check_writable(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    held: list[int] = []
    owned = False
    try:
        held.append(os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        if _flock(held[-1], folder=True) is False:
            raise _busy(folder, path)
        held.append(_open_note(path))
        if not _flock(held[-1]) or not _same_file(held[-1], path):
            raise _busy(folder, path)
        owned = True
        os.ftruncate(held[-1], 0)
        os.write(held[-1], f"process {os.getpid()} on {socket.gethostname()}\n".encode())
        yield folder
    except BaseException:
        if created and owned and os.listdir(folder) == [LOCK_FILE]:  # still locked: no one else is in it
            path.unlink()
            folder.rmdir()
        raise
    finally:
        for fd in reversed(held):  # closing releases the locks
            os.close(fd)


def _flock(fd: int, folder: bool = False) -> bool | None:
    """Take an exclusive lock on ``fd`` without waiting: True, False when another process holds
    it, None when a folder cannot be locked on this file system (its note's lock still holds)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if folder and exc.errno in (errno.EBADF, errno.EINVAL, errno.ENOLCK, errno.ENOTSUP):
            return None
        raise
    return True


def _open_note(path: Path) -> int:
    """The lock's note, opened for writing without following a link (nor blocking on a FIFO)."""
    rule = f"{path} must be a plain file (the run folder's lock note)"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DataError(
                f"{rule}, got a symbolic link to {os.readlink(path)!r}: netembed writes through no link; "
                "remove it and run again"
            ) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DataError(f"{rule}, got something else: remove it and run again")
    return fd


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not deleted or replaced meanwhile)."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (now.st_dev, now.st_ino) == (opened.st_dev, opened.st_ino)


def _busy(folder: Path, path: Path) -> BusyError:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            owner = os.read(fd, 200).decode("utf-8", "replace").strip()
        finally:
            os.close(fd)
    except OSError:  # no note (deleted), or not a plain file
        owner = ""
    return BusyError(
        f"{folder} is in use by {owner or 'another process'} (lock {path}); wait for it to finish, or use another --out"
    )


def check_new_folder(path: str | os.PathLike, force: bool, option: str = "--out") -> Path:
    """``path`` (``check_writable``), which must be a new or empty folder unless ``force``: a model
    (a shipped one under ``pretrained/``, or one trained before) is never replaced by surprise."""
    path = check_writable(path, option)
    if not force and path.is_dir() and any(path.iterdir()):
        raise DataError(
            f"{option} must be a new or empty directory, got {path} holding {len(list(path.iterdir()))} "
            "file(s); pass --force to replace what is there"
        )
    return path


def file_hashes(*paths: str | os.PathLike) -> dict[str, str]:
    """The sha256 of each file that exists, by file name (what a model card says it was trained on)."""
    return {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths if Path(p).is_file()}


def parse_json(text: str, source: str | os.PathLike):
    """``json.loads(text)`` of a document a user can edit (``source`` names it: a file, a line of
    one). A syntax error stays json's ``JSONDecodeError``, for the caller to word; a document
    nested too deeply for Python's parser (``RecursionError``), or one it refuses for another
    reason (a number of over 4,300 digits), is a one-line ``DataError`` naming ``source``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise DataError(
            f"{source} is nested too deeply to read (JSON arrays or objects deeper than Python's parser allows)"
        ) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:
        raise DataError(f"{source} is not readable JSON ({exc})") from None


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

    if Path(path).exists() and not Path(path).is_file():  # a folder, or a pipe that would block
        raise DataError(f"{path} is not a readable NumPy .npz archive (not a file)")
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
