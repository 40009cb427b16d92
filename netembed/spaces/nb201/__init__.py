"""NAS-Bench-201 (NATS-Bench's topology space) behind the space protocol.

15,625 architectures: one of 5 ops on each of the 6 edges of a 4-node cell (:mod:`.arch`),
moves that change one edge's op (:mod:`.moves`), the exact parameter counts of the benchmark's
CIFAR network (:mod:`.params`; :mod:`.network` builds it in PyTorch) and the table of 12-epoch
accuracies and device latencies (:mod:`.table`). Imports numpy only.

>>> import numpy as np
>>> space = NB201Space()
>>> arch = space.from_json({"arch": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"})
>>> space.count_params(arch), space.size
(1531546, 15625)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from netembed.errors import InvalidCellError
from netembed.spaces.base import Neighbor, Space
from netembed.spaces.nb201 import moves
from netembed.spaces.nb201.arch import GRAPH_NODES, NODE_TYPES, Arch, graph_arrays
from netembed.spaces.nb201.params import EDGES, NUM_EDGES, OPS, count_params
from netembed.spaces.nb201.table import EPOCHS, Record, Table

__all__ = ["EPOCHS", "Arch", "NB201Space", "Record", "Table"]

#: Optuna parameter names of the edges, e.g. ``edge_0_1`` for the edge from node 0 to node 1.
PARAM_NAMES = tuple(f"edge_{i}_{j}" for i, j in EDGES)


class NB201Space(Space):
    """NAS-Bench-201's cell space (see the package docstring)."""

    name = "nb201"
    arch_type = Arch
    move_kinds = moves.KINDS
    node_types = NODE_TYPES
    max_nodes = GRAPH_NODES
    size = len(OPS) ** NUM_EDGES
    json_keys = ("arch",)
    #: a few hundred queries per search: a small population turns over often enough
    evolution = {"population_size": 10, "tournament_size": 3}  # noqa: RUF012 (read only)

    def random(self, rng: np.random.Generator) -> Arch:
        return Arch.from_codes(rng.integers(len(OPS), size=NUM_EDGES))

    def enumerate(self) -> list[Arch]:
        """Every architecture, op indices counting up in base 5 (the table has its own order)."""
        return [Arch.from_codes(c) for c in itertools.product(range(len(OPS)), repeat=NUM_EDGES)]

    def neighbors(self, arch: Arch) -> list[Neighbor]:
        self.check(arch)
        return moves.neighbors(arch)

    def graph(self, arch: Arch) -> tuple[np.ndarray, np.ndarray]:
        types, adjacency = graph_arrays(np.array(arch.codes))
        return types[0], adjacency[0]

    def dense(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        return graph_arrays(np.array([a.codes for a in archs], dtype=np.int64).reshape(-1, NUM_EDGES))

    def count_params(self, arch: Arch) -> int:
        return count_params(arch.ops)

    # -- the structure-feature view: each edge's op one-hot, and whether the output is reached -------

    feature_entries = size

    def feature_inputs(self, archs: Sequence[Arch]) -> np.ndarray:
        codes = np.array([a.codes for a in archs], dtype=np.int64).reshape(-1, NUM_EDGES)
        one_hot = np.eye(len(OPS), dtype=np.float32)[codes].reshape(len(codes), -1)
        connected = np.array([a.connected for a in archs], dtype=np.float32).reshape(-1, 1)
        return np.concatenate([one_hot, connected], axis=1)

    def feature_table(self) -> np.ndarray:
        """Rows in ``enumerate``'s order (op indices in base 5), one per architecture."""
        return self.feature_inputs(self.enumerate())

    def feature_index(self, archs: Sequence[Arch]) -> np.ndarray:
        codes = np.array([a.codes for a in archs], dtype=np.int64).reshape(-1, NUM_EDGES)
        return codes @ (len(OPS) ** np.arange(NUM_EDGES - 1, -1, -1))

    def to_json(self, arch: Arch) -> dict:
        return {"arch": arch.hash}

    def from_json(self, value) -> Arch:
        """``{"arch": "|op~0|+..."}`` or the string itself."""
        if isinstance(value, str):
            return Arch.from_string(value)
        if isinstance(value, dict) and "arch" in value:
            return Arch.from_string(value["arch"])
        raise InvalidCellError(
            f"a {self.name} architecture must be its string or an object with 'arch', got {value!r:.200}"
        )

    # -- Optuna's view -----------------------------------------------------------------------------

    def params(self, arch: Arch) -> dict:
        return dict(zip(PARAM_NAMES, arch.ops))

    def distributions(self) -> dict:
        from optuna.distributions import CategoricalDistribution

        return {name: CategoricalDistribution(OPS) for name in PARAM_NAMES}

    def from_params(self, params: dict) -> Arch | None:
        return Arch([params[name] for name in PARAM_NAMES])

    def load_table(self, path=None) -> Table:
        return Table.load(path)
