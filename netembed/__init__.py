"""netembed: embedding-based neural architecture search on NAS-Bench-101."""

from netembed.cell import Cell
from netembed.errors import (
    DataError,
    IllegalTransformError,
    InvalidCellError,
    NetembedError,
    OutOfSpaceError,
    UnknownCellError,
)

__all__ = [
    "Cell",
    "DataError",
    "IllegalTransformError",
    "InvalidCellError",
    "NetembedError",
    "OutOfSpaceError",
    "UnknownCellError",
]
__version__ = "0.1.0"
