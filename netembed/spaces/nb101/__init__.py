"""NAS-Bench-101 behind the space protocol: the 423,624 unique cells of :class:`netembed.spaces.nb101.cell.Cell`.

The cell type, its enumeration, moves, parameter counts and table live in their own modules
(``netembed.spaces.nb101.cell``, ``netembed.spaces.nb101.space``, ``netembed.spaces.nb101.transforms``, ``netembed.spaces.nb101.table``); this class
is the view every job takes of them, and answers exactly as those modules do.

>>> import numpy as np
>>> space = NB101Space()
>>> cell = space.random(np.random.default_rng(0))
>>> space.from_json(space.to_json(cell)) == cell, space.size
(True, 423624)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from netembed.errors import InvalidCellError
from netembed.spaces.base import Neighbor, Space
from netembed.spaces.nb101 import sampling, transforms
from netembed.spaces.nb101 import space as _space
from netembed.spaces.nb101.cell import FLAT_NAMES, MAX_VERTICES, OPS, Cell, stack_arrays

__all__ = ["NB101Space"]

#: The graph view's node vocabulary: input and output are marked by types of their own.
NODE_TYPES = ("input", *OPS, "output")
# table op code (-1 input, 0..2 ops, -2 output) -> node type; -3 padding has no type
CODE_TO_TYPE = np.full(8, -1, dtype=np.int64)
CODE_TO_TYPE[[-1, 0, 1, 2, -2]] = np.arange(len(NODE_TYPES))
_EDGE_BITS = MAX_VERTICES * (MAX_VERTICES - 1) // 2


class NB101Space(Space):
    """NAS-Bench-101's cell space (see the module docstring)."""

    name = "nb101"
    arch_type = Cell
    move_kinds = tuple(transforms.FAMILIES)
    node_types = NODE_TYPES
    max_nodes = MAX_VERTICES
    size = _space.NUM_CELLS
    json_keys = ("matrix", "ops")

    def random(self, rng: np.random.Generator) -> Cell:
        return _space.random_cell(rng)

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, Cell]:
        """NAS-Bench-101's own random spec (not uniform over cells), with the raw spec."""
        return sampling.sample_spec(rng)

    def mutate(self, genotype: np.ndarray, rng: np.random.Generator, **rates) -> tuple[np.ndarray, Cell]:
        """NAS-Bench-101's mutation of a raw spec (``edge_mutation_prob``, ``op_mutation_prob``)."""
        return sampling.mutate_spec(genotype, rng, **rates)

    def enumerate(self) -> list[Cell]:
        return _space.enumerate_cells()

    def neighbors(self, arch: Cell) -> list[Neighbor]:
        self.check(arch)
        return [Neighbor(*n) for n in transforms.neighbors(arch)]

    def graph(self, arch: Cell) -> tuple[np.ndarray, np.ndarray]:
        types, adjacency = self.dense([arch])
        return types[0], adjacency[0]

    def dense(self, archs: Sequence[Cell]) -> tuple[np.ndarray, np.ndarray]:
        """Cells in NAS-Bench-101's canonical vertex order (isomorphic cells: identical arrays)."""
        adjacency, ops = stack_arrays(archs, canonical=True)
        return self.dense_rows(adjacency, ops)

    @staticmethod
    def dense_rows(adjacency: np.ndarray, ops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The graph view of the table's arrays (canonical rows, op codes padded with -3)."""
        return CODE_TO_TYPE[ops.astype(np.int64)], adjacency

    def count_params(self, arch: Cell) -> int:
        return _space.count_params(arch)

    @property
    def feature_entries(self) -> int:
        from netembed.spaces.nb101 import features

        return features.NUM_DISTINCT

    def feature_inputs(self, archs: Sequence[Cell]) -> np.ndarray:
        from netembed.spaces.nb101 import features

        return features.inputs(features.raw_features(archs))

    def feature_table(self) -> np.ndarray:
        from netembed.spaces.nb101 import features

        return features.distinct_table()["inputs"]

    def feature_index(self, archs: Sequence[Cell]) -> np.ndarray:
        from netembed.spaces.nb101 import features

        return features.distinct_index(archs)

    def to_json(self, arch: Cell) -> dict:
        return arch.to_dict()

    def from_json(self, value) -> Cell:
        if not isinstance(value, dict) or "matrix" not in value or "ops" not in value:
            raise InvalidCellError(f"a {self.name} cell must be an object with 'matrix' and 'ops', got {value!r:.200}")
        return Cell(value["matrix"], value["ops"])

    # -- Optuna's view: the 21 edge bits and 5 ops of Cell.to_flat ----------------------------------

    def params(self, arch: Cell) -> dict:
        flat = arch.to_flat()
        return {name: int(v) if k < _EDGE_BITS else OPS[v] for k, (name, v) in enumerate(zip(FLAT_NAMES, flat))}

    def distributions(self) -> dict:
        from optuna.distributions import CategoricalDistribution

        return {name: CategoricalDistribution([0, 1] if k < _EDGE_BITS else OPS) for k, name in enumerate(FLAT_NAMES)}

    def from_params(self, params: dict) -> Cell | None:
        """The cell of a raw spec's params, or None when NAS-Bench-101 would reject the spec."""
        flat = [params[n] if k < _EDGE_BITS else OPS.index(params[n]) for k, n in enumerate(FLAT_NAMES)]
        try:
            return Cell.from_flat(np.array(flat, dtype=np.int8))
        except InvalidCellError:
            return None

    def trial_params(self, arch: Cell) -> tuple[dict, dict]:
        """A shared study's view: the edge bits as integers, as studies have always stored them
        (Optuna refuses a parameter whose distribution changes kind within a study)."""
        from optuna.distributions import CategoricalDistribution, IntDistribution

        distributions = {
            name: IntDistribution(0, 1) if k < _EDGE_BITS else CategoricalDistribution(OPS)
            for k, name in enumerate(FLAT_NAMES)
        }
        return self.params(arch), distributions

    def prepare(self, announce) -> None:
        _space.prepare(announce)

    def load_table(self, path=None):
        from netembed.spaces.nb101.table import Benchmark

        return Benchmark.load(path)
