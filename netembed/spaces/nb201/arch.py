"""The NAS-Bench-201 architecture type, its isomorphism class and its graph view (numpy only).

An :class:`Arch` is one op on each of the 6 edges of a 4-node DAG (:mod:`.params`), written as
NAS-Bench-201's architecture string. The benchmark trained each of the 5^6 = 15,625 op
assignments separately, so two architectures are equal only when every edge's op is (the
string is the ``hash``). What else users of the benchmark count is exposed beside it:

- ``arch.connected``: whether any path from the input reaches the output through ops other
  than ``none`` (341 architectures have none, and score chance);
- ``arch.isomorphism_key``: NAS-Bench-201's own unique string (``to_unique_str`` with zeros
  considered): ``skip_connect`` is the identity, ``none`` a zero and a node's inputs a sum, so
  architectures computing the same function share it; 6,466 classes.

The graph view (what the encoder reads): node 0 is the input, node ``1 + k`` is edge ``k``
carrying its op (absent when the op is ``none``), node 7 the output; an edge node ``i -> j``
feeds every edge node leaving ``j`` (or the output when ``j`` is 3). Dead branches stay: they
cost parameters and latency even when they cannot change the output.

>>> arch = Arch.from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|")
>>> arch.ops[0], arch.connected, str(arch) == arch.hash
('nor_conv_3x3', True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

from netembed.spaces.nb201.params import EDGES, NUM_EDGES, NUM_NODES, OPS, arch_str, check_ops, ops_from_arch_str

__all__ = ["GRAPH_NODES", "NODE_TYPES", "Arch", "graph_arrays"]

#: The graph view's node vocabulary: ``none`` is no node.
NODE_TYPES = ("input", *OPS[1:], "output")
GRAPH_NODES = NUM_EDGES + 2
_OUTPUT = GRAPH_NODES - 1


class Arch:
    """A NAS-Bench-201 architecture: ``ops`` on the edges (0->1), (0->2), (1->2), (0->3), (1->3), (2->3).

    >>> Arch(["none"] * 5 + ["skip_connect"]).connected
    False
    >>> Arch(["conv"] * 6)
    Traceback (most recent call last):
    ...
    netembed.errors.OutOfSpaceError: ops[0] must be one of none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3, got 'conv'
    """

    def __init__(self, ops: Sequence[str]):
        self.ops: tuple[str, ...] = check_ops(ops)

    @classmethod
    def from_string(cls, text: str) -> Arch:
        return cls(ops_from_arch_str(text))

    @classmethod
    def from_codes(cls, codes: Sequence[int]) -> Arch:
        """From op indices into :data:`OPS`, one per edge."""
        return cls([OPS[int(c)] for c in codes])

    @cached_property
    def hash(self) -> str:
        """The architecture string: stable, readable, and what the benchmark's table lists."""
        return arch_str(self.ops)

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(OPS.index(op) for op in self.ops)

    @cached_property
    def connected(self) -> bool:
        """Whether the output is reached from the input along ops other than ``none``."""
        reached = {0}
        for (source, target), op in zip(EDGES, self.ops):  # EDGES is in order of targets
            if op != "none" and source in reached:
                reached.add(target)
        return NUM_NODES - 1 in reached

    @cached_property
    def isomorphism_key(self) -> str:
        """NAS-Bench-201's unique string: equal for architectures computing the same function."""
        nodes = {0: "0"}
        for target in range(1, NUM_NODES):
            terms = []
            for (source, node), op in zip(EDGES, self.ops):
                if node != target:
                    continue
                if op == "none" or nodes[source] == "#":
                    terms.append("#")
                elif op == "skip_connect":
                    terms.append(nodes[source])
                else:
                    terms.append(f"({nodes[source]})@{op}")
            nodes[target] = "+".join(sorted(terms))
        return nodes[NUM_NODES - 1]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Arch):
            return NotImplemented
        return self.ops == other.ops

    def __hash__(self) -> int:
        return hash(self.ops)

    def __str__(self) -> str:
        return self.hash

    def __repr__(self) -> str:
        return f"Arch({self.hash!r})"


def _graph_template() -> tuple[np.ndarray, np.ndarray]:
    """The graph view of the architecture with no ``none``: its adjacency, and for each edge k
    the graph node that is its own."""
    matrix = np.zeros((GRAPH_NODES, GRAPH_NODES), dtype=np.int8)
    for k, (source, target) in enumerate(EDGES):
        if source == 0:
            matrix[0, 1 + k] = 1
        if target == NUM_NODES - 1:
            matrix[1 + k, _OUTPUT] = 1
        for m, (next_source, _) in enumerate(EDGES):
            if next_source == target:
                matrix[1 + k, 1 + m] = 1
    return matrix, np.arange(1, NUM_EDGES + 1)


_FULL, _EDGE_NODE = _graph_template()
_OP_TYPE = np.array([-1, *range(1, len(OPS))])  # op index -> node type (none: absent)


def graph_arrays(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Graph views of a batch of op-index rows (B, 6): node types (B, 8) (-1 absent) and
    adjacency (B, 8, 8) int8, absent nodes unconnected."""
    codes = np.asarray(codes, dtype=np.int64).reshape(-1, NUM_EDGES)
    types = np.empty((len(codes), GRAPH_NODES), dtype=np.int64)
    types[:, 0], types[:, _OUTPUT] = 0, len(NODE_TYPES) - 1
    types[:, _EDGE_NODE] = _OP_TYPE[codes]
    present = types >= 0
    adjacency = _FULL[None] * (present[:, :, None] & present[:, None, :])
    return types, adjacency.astype(np.int8)
