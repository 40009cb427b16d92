"""A vectorised 64-bit Weisfeiler-Lehman fingerprint for batches of cells.

The official NAS-Bench-101 hash (MD5 strings, see ``netembed.spaces.nb101.cell.nasbench_hash``) costs
about 0.1 ms per cell in Python. This fingerprint runs the same refinement (start from
out-degree, in-degree and label; 7 rounds over in- and out-neighbours; a multiset of
final colours) with integer mixing in NumPy, so millions of candidate cells can be
identified at once. It is isomorphism-invariant by construction; ``netembed.spaces.nb101.space``
checks that it tells all 423,624 cells of the space apart, which makes it an exact
identifier inside the space.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fingerprint"]

_ROUNDS = 7
_K = [np.uint64(k) for k in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5)]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijection on uint64 that spreads every input bit."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def fingerprint(adjacency: np.ndarray, ops: np.ndarray, chunk: int = 100_000) -> np.ndarray:
    """Fingerprints of a batch of padded cells.

    Shapes:
        adjacency: (B, V, V) 0/1, zero-padded; ops: (B, V) table codes (-3 padding).
        returns: (B,) uint64.
    """
    out = np.empty(len(ops), dtype=np.uint64)
    for start in range(0, len(ops), chunk):
        stop = start + chunk
        out[start:stop] = _fingerprint(adjacency[start:stop], ops[start:stop])
    return out


def _fingerprint(adjacency: np.ndarray, ops: np.ndarray) -> np.ndarray:
    a = adjacency.astype(np.uint64)
    with np.errstate(over="ignore"):
        out_degree, in_degree = a.sum(axis=2), a.sum(axis=1)
        colour = _mix((ops.astype(np.int64) + 8).astype(np.uint64) * _K[0] + out_degree * _K[1] + in_degree * _K[2])
        for _ in range(_ROUNDS):
            message = _mix(colour ^ _K[3])
            from_in = np.einsum("bwv,bw->bv", a, message)  # sum over in-neighbours w -> v
            from_out = np.einsum("bvw,bw->bv", a, _mix(message))  # sum over out-neighbours
            colour = _mix(colour * _K[0] + _mix(from_in) * _K[1] + _mix(from_out ^ _K[2]))
        return _mix(colour).sum(axis=1)
