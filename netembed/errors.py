"""The project's exception types: one base, then one class per kind of mistake.

Every message names the rule that was broken and the value received, e.g.
``matrix must be square, got shape (6, 7)``.
"""

import sys

__all__ = [
    "BusyError",
    "ConfigError",
    "DataError",
    "DivergedError",
    "IllegalTransformError",
    "InvalidCellError",
    "NetembedError",
    "OutOfSpaceError",
    "SearchError",
    "UnknownCellError",
    "warn",
]


class NetembedError(Exception):
    """Base of every error netembed raises on purpose."""


class InvalidCellError(NetembedError, ValueError):
    """A matrix/ops pair that is not a valid cell (shape, values, ops, acyclicity)."""


class OutOfSpaceError(InvalidCellError):
    """A valid graph that lies outside NAS-Bench-101 (more than 7 vertices or 9 edges after pruning)."""


class IllegalTransformError(NetembedError, ValueError):
    """A transformation that cannot be applied to this cell (e.g. widening a conv3x3)."""


class UnknownCellError(NetembedError, KeyError):
    """A cell or hash the table does not hold."""

    def __str__(self) -> str:  # KeyError would quote the message; keep it readable
        return str(self.args[0]) if self.args else ""


class ConfigError(NetembedError, ValueError):
    """A config dataclass field of the wrong type or out of its range (``netembed._fields``)."""


class DataError(NetembedError, ValueError):
    """A data file that is missing, corrupt, or not in the expected format."""


class DivergedError(NetembedError, FloatingPointError):
    """A training whose loss or weights became NaN or infinite (a learning rate or loss weight too large)."""


class SearchError(NetembedError, ValueError):
    """Search settings that cannot run (unknown method or objective, empty budget, a method stuck on
    duplicates), or a run that cannot continue (a log or study written with other settings)."""


class BusyError(NetembedError, RuntimeError):
    """A run folder that another process owns (it holds the folder's lock)."""


def warn(message: str) -> None:
    """One line on stderr about something a user should know (a file changed, an option unread)."""
    print(f"netembed: warning: {message}", file=sys.stderr, flush=True)
