"""Atomic file writes: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "save_figure"]


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
