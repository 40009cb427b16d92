"""Moves on NAS-Bench-201 architectures: one edge's op changed, tagged with what the change means.

The design's three families, defined for an op-on-edge cell, and the op swaps left over:

| kind | an edge's op changes | why this kind |
|---|---|---|
| ``widen`` / ``narrow`` | ``nor_conv_1x1`` <-> ``nor_conv_3x3`` | a wider receptive field (Net2Net pads the kernel) |
| ``deepen`` / ``shallow`` | ``skip_connect`` or ``none`` -> a conv; a conv -> ``skip_connect`` | a conv layer where there was none (Net2Net: an identity conv) |
| ``add_edge`` / ``remove_edge`` | ``none`` -> ``skip_connect``; any op -> ``none`` | the wiring: an edge appears or disappears |
| ``swap`` | every other change (to or from ``avg_pool_3x3``) | the op's kind changes, the depth and wiring do not |

The 20 ordered op changes each get exactly one kind, so every architecture has 24 neighbours
(6 edges x 4 other ops) and the move graph is NAS-Bench-201's Hamming graph: connected, and
every move has its reverse (tested).

>>> from netembed.spaces.nb201.arch import Arch
>>> arch = Arch(["nor_conv_1x1", "none", "none", "none", "none", "none"])
>>> Move(0, "nor_conv_3x3").kind_for(arch), Move(1, "skip_connect").kind_for(arch)
('widen', 'add_edge')
"""

from __future__ import annotations

from dataclasses import dataclass

from netembed.errors import IllegalTransformError
from netembed.spaces.base import Neighbor
from netembed.spaces.nb201.arch import Arch
from netembed.spaces.nb201.params import NUM_EDGES, OPS

__all__ = ["FAMILIES", "KINDS", "Action", "Move", "neighbors"]

_CONVS = ("nor_conv_1x1", "nor_conv_3x3")


def _kind(old: str, new: str) -> str:
    if {old, new} == set(_CONVS):
        return "widen" if new == "nor_conv_3x3" else "narrow"
    if old in ("skip_connect", "none") and new in _CONVS:
        return "deepen"
    if old in _CONVS and new == "skip_connect":
        return "shallow"
    if new == "none":
        return "remove_edge"
    if old == "none" and new == "skip_connect":
        return "add_edge"
    return "swap"


#: Each move kind and the family it belongs to (the controller sees the kind).
FAMILIES = {
    "widen": "widen",
    "narrow": "widen",
    "deepen": "deepen",
    "shallow": "deepen",
    "add_edge": "rewire",
    "remove_edge": "rewire",
    "swap": "swap",
}
KINDS = tuple(FAMILIES)
_KIND = {(old, new): _kind(old, new) for old in OPS for new in OPS if old != new}


@dataclass(frozen=True)
class Move:
    """Set edge ``edge`` (0..5, in the architecture string's order) to ``op``."""

    edge: int
    op: str

    def kind_for(self, arch: Arch) -> str:
        old = arch.ops[self.edge]
        if old == self.op:
            raise IllegalTransformError(f"a move must change the op of edge {self.edge}, which is {old!r} already")
        return _KIND[(old, self.op)]

    def apply(self, arch: Arch) -> Arch:
        self.kind_for(arch)
        ops = list(arch.ops)
        ops[self.edge] = self.op
        return Arch(ops)


@dataclass(frozen=True)
class Action:
    """A move with its kind (what :class:`~netembed.spaces.base.Neighbor` carries)."""

    kind: str
    move: Move

    @property
    def family(self) -> str:
        return FAMILIES[self.kind]

    def apply(self, arch: Arch) -> Arch:
        return self.move.apply(arch)


def neighbors(arch: Arch) -> list[Neighbor]:
    """The 24 architectures one edge's op away, edge by edge, ops in :data:`OPS` order."""
    found = []
    for edge in range(NUM_EDGES):
        for op in OPS:
            if op != arch.ops[edge]:
                move = Move(edge, op)
                found.append(Neighbor(Action(move.kind_for(arch), move), move.apply(arch)))
    return found
