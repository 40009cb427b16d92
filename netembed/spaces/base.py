"""The search-space protocol: everything netembed needs to know about a space, in one class.

A space is an object with a few attributes and methods (subclass :class:`Space`); every job
(predictors, searches, warm starts) takes one. Its architectures are immutable objects with a
``hash`` string, equal exactly when the architectures are (that string keys labels, logs and
studies), validated at construction with errors that name the rule and the value.

What a space must give:

- ``name``; ``move_kinds`` (the kinds its moves are tagged with; the controller one-hot encodes
  them); ``node_types`` and ``max_nodes`` (the vocabulary and size of its graph view);
- ``random(rng)``: one architecture, uniform over the space;
- ``neighbors(arch)``: every architecture one move away, as :class:`Neighbor` (a move with a
  ``kind``, and the architecture it leads to), none twice and never ``arch`` itself;
- ``graph(arch)``: the graph view the encoder reads, ``(types, adjacency)``: each node's index
  into ``node_types`` (-1 for an absent node) and a DAG over ``max_nodes`` nodes whose edges go
  from lower to higher index; the first node is the input and the last present one the output;
- ``to_json(arch)`` / ``from_json(value)``: the JSON form (logs, results, the command line).

What a space may give (the defaults say "not in this space"): ``arch_type`` (the class of its
architectures: jobs then refuse anything else by name), ``json_keys`` (the keys ``to_json``
writes besides ``hash``: a query log's rows are checked for them), ``size`` and ``enumerate()``,
``count_params(arch)`` (exact trainable parameters of its network; needed by a parameter cost),
the structure-feature view a predictor blends in (``feature_inputs``, ``feature_table``,
``feature_index``: label-free features of each architecture, tabulated over the space's
distinct feature vectors), Optuna's view (``params`` / ``distributions`` / ``from_params``:
the TPE baseline and study dashboards) and its table (``load_table``; ``find_table`` is the
same where a table is optional).

>>> import numpy as np
>>> from netembed.spaces import get
>>> nb201 = get("nb201")
>>> arch = nb201.random(np.random.default_rng(0))
>>> len(nb201.neighbors(arch)), nb201.from_json(nb201.to_json(arch)) == arch
(24, True)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from netembed.errors import NetembedError

__all__ = ["Neighbor", "Space", "SpaceError"]


class SpaceError(NetembedError, ValueError):
    """A space that does not exist, or an architecture, table or model of another space."""


class Neighbor(NamedTuple):
    """One move away: ``action`` (anything with a ``kind`` among the space's ``move_kinds``) and
    the architecture it leads to (named ``cell`` in every space)."""

    action: Any
    cell: Any


class Space(ABC):
    """A search space (see the module docstring for the protocol)."""

    name: str = "space"
    arch_type: type | None = None
    move_kinds: tuple[str, ...] = ()  # "jump" is the controller's own (a random architecture): not a move kind
    node_types: tuple[str, ...] = ()
    max_nodes: int = 0
    size: int | None = None  # number of architectures, when known
    json_keys: tuple[str, ...] = ()  # the keys of ``to_json``'s objects besides "hash" (logs check them)

    # -- what every space gives ----------------------------------------------------------------

    @abstractmethod
    def random(self, rng: np.random.Generator) -> Any:
        """One architecture drawn uniformly from ``rng``."""

    @abstractmethod
    def neighbors(self, arch) -> list[Neighbor]:
        """Every distinct architecture one move away, each tagged with the move reaching it."""

    @abstractmethod
    def graph(self, arch) -> tuple[Sequence[int], np.ndarray]:
        """(node types (``max_nodes``, -1 absent), adjacency (``max_nodes``, ``max_nodes``) 0/1)."""

    @abstractmethod
    def to_json(self, arch) -> dict:
        """The architecture as JSON values."""

    @abstractmethod
    def from_json(self, value) -> Any:
        """The architecture of ``to_json``'s form (errors name the rule and the value)."""

    # -- derived, or overridden where a space has something faster -----------------------------

    def read_values(self, path: str, unit: str, error: type[Exception] = SpaceError) -> tuple[list, np.ndarray]:
        """A user's measured architectures of this space, a JSON file ``[{"arch": ..., "value":
        number}]`` (``to_json``'s form of each, the values in ``unit``: e.g. "milliseconds",
        "accuracy") or the ``labels.json`` of ``netembed label``; a file that breaks a rule raises
        ``error`` naming the entry."""
        from netembed._io import parse_json, read_text

        shape = f'[{{"arch": ..., "value": {unit}}}]'
        entries = parse_json(read_text(path, f"--cells must be a JSON file of {shape}"), path)
        if isinstance(entries, dict) and isinstance(entries.get("cells"), list):  # netembed label's document
            entries = [
                {key: c.get(key) for key in ("arch", "value")} if isinstance(c, dict) else c for c in entries["cells"]
            ]
        if not isinstance(entries, list) or not entries:
            raise error(f"{path} must hold a JSON list of {shape}, got {type(entries).__name__}")
        archs, values = [], []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or set(entry) != {"arch", "value"}:
                raise error(f'{path}: entry {i} must be {{"arch": ..., "value": {unit}}}, got {entry!r}')
            try:
                archs.append(self.from_json({"arch": entry["arch"]}))
            except NetembedError as exc:
                raise error(f"{path}: entry {i}'s arch is not one of {self.name}'s ({exc})") from None
            if isinstance(entry["value"], bool) or not isinstance(entry["value"], (int, float)):
                raise error(f"{path}: entry {i}'s value must be {unit} (a number), got {entry['value']!r}")
            values.append(entry["value"])
        repeats = len(archs) - len({a.hash for a in archs})
        if repeats:
            raise error(f"{path} must hold each architecture once, got {repeats} repeats")
        return archs, np.asarray(values, dtype=np.float64)

    def check(self, arch) -> None:
        """Refuse an object that is not an architecture of this space."""
        kind = self.arch_type
        if kind is not None and not isinstance(arch, kind):
            raise SpaceError(f"architectures of {self.name} are {kind.__name__} objects, got {type(arch).__name__}")

    def dense(self, archs: Sequence) -> tuple[np.ndarray, np.ndarray]:
        """The graph views of many architectures: types (B, V) int64 and adjacency (B, V, V) int8."""
        types = np.full((len(archs), self.max_nodes), -1, dtype=np.int64)
        adjacency = np.zeros((len(archs), self.max_nodes, self.max_nodes), dtype=np.int8)
        for row, arch in enumerate(archs):
            node_types, matrix = self.graph(arch)
            types[row, : len(node_types)] = node_types
            matrix = np.asarray(matrix)
            adjacency[row, : len(matrix), : len(matrix)] = matrix
        return types, adjacency

    # -- what the baselines use ------------------------------------------------------------------

    #: regularized evolution's default population and tournament for this space's budgets
    evolution: dict = {"population_size": 100, "tournament_size": 10}  # noqa: RUF012 (read only)

    def sample(self, rng: np.random.Generator) -> tuple[Any, Any]:
        """(genotype, architecture) as the space's own benchmark code samples: the baselines'
        random draws. Default: ``random``, the architecture its own genotype."""
        arch = self.random(rng)
        return arch, arch

    def mutate(self, genotype, rng: np.random.Generator, **rates) -> tuple[Any, Any]:
        """(genotype, architecture) of a mutation: default, a uniformly random neighbour."""
        found = self.neighbors(genotype)
        child = found[int(rng.integers(len(found)))].cell
        return child, child

    def trial_params(self, arch) -> tuple[dict, dict]:
        """(params, distributions): the architecture as a shared study's Optuna trial shows it
        (dashboards, ``trials_dataframe``). Default: Optuna's view, or none for a space without one."""
        if not hasattr(self, "params"):
            return {}, {}
        return self.params(arch), self.distributions()

    def prepare(self, announce) -> None:
        """Do the one-time work a search needs (e.g. enumerate the space) before its progress bar
        starts, telling ``announce(line)`` when it will take a while. Default: nothing to do."""

    def load_table(self, path=None):
        """The space's table at ``path`` (None: its default place)."""
        from netembed.errors import DataError

        raise DataError(f"{self.name} has no table")

    def find_table(self, path=None, required: bool = True):
        """``load_table(path)``; or None when the table is not ``required`` and its default place
        holds none (a table named by ``path`` must be there)."""
        from netembed.errors import DataError

        try:
            return self.load_table(path)
        except DataError:
            if required or path is not None:
                raise
            return None

    def enumerate(self) -> list:
        raise SpaceError(f"{self.name} cannot list its architectures")

    def count_params(self, arch) -> int:
        raise SpaceError(f"{self.name} defines no network whose parameters could be counted")

    # -- the structure-feature view (predictors blend it in with few labels) ----------------------

    def feature_inputs(self, archs: Sequence) -> np.ndarray:
        """Label-free structure features as models see them: (B, F) float32 in [0, 1]."""
        raise SpaceError(f"{self.name} has no structure features: use PredictorConfig(forest=0)")

    def feature_table(self) -> np.ndarray:
        """Every distinct row of ``feature_inputs`` over the space, (``feature_entries``, F)."""
        raise SpaceError(f"{self.name} has no structure features: use PredictorConfig(forest=0)")

    def feature_index(self, archs: Sequence) -> np.ndarray:
        """Each architecture's row of ``feature_table``."""
        raise SpaceError(f"{self.name} has no structure features: use PredictorConfig(forest=0)")

    feature_entries: int = 0  # rows of feature_table (0: no feature view)

    def __repr__(self) -> str:
        return f"<space {self.name}>"
