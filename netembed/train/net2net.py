"""Net2Net: apply a widen / deepen / rewire move to a trained network and inherit its weights.

``inherit(parent, action)`` builds the child cell's network and copies every weight whose
vertex survives the move (stem, classifier, projections, ops), so training continues from the
parent instead of from scratch (EAS's warm start). Three moves preserve the parent's function
exactly (in eval mode, before any training), because every tensor inside a cell is a ReLU
output and hence non-negative:

- ``widen`` conv1x1 -> conv3x3: the kernel is zero-padded around the old 1x1 weights;
- ``deepen`` with a conv op: the new vertex is an identity (delta kernel, batch norm set to
  pass its input through, ReLU of a non-negative input); on the input -> output edge it
  cannot be (the output would concatenate instead of add);
- ``add_edge`` from the cell input: the new 1x1 projection's batch norm has scale and shift 0,
  so it adds exactly zero until training moves it.

Every other move (narrow, maxpool3x3 -> conv1x1, deepen with maxpool3x3, removals, moved
edges, edges between interior vertices, which have no weight to scale) changes the function;
``Inheritance.function_preserving`` says which case a child is in, with the reason, and the
weights are still inherited wherever a vertex and its width survive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from netembed.spaces.nb101.cell import OPS, Cell, canonical_order, kept_vertices
from netembed.spaces.nb101.transforms import Action
from netembed.train.network import CellModule, ConvBnRelu, Network, build_network

__all__ = ["Inheritance", "inherit"]

CONV_OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu")


@dataclass
class Inheritance:
    """A child network with inherited weights, and whether it computes its parent's function."""

    network: Network
    function_preserving: bool
    reason: str


def _child_layout(parent: Cell, action: Action) -> tuple[Cell, list[int | None]]:
    """The child cell in canonical order and, for each of its vertices, the parent vertex it
    came from (``None`` for a vertex the move created)."""
    child = action.apply(parent)  # validates the move (raises IllegalTransformError)
    matrix, ops = parent.matrix.astype(np.int8).copy(), list(parent.ops)
    origin: list[int | None] = list(range(parent.num_vertices))
    if action.kind in ("widen", "narrow"):
        step = -1 if action.kind == "widen" else 1  # OPS runs from the widest op to the narrowest
        ops[action.vertex] = OPS[OPS.index(ops[action.vertex]) + step]
    elif action.kind == "deepen":
        src, dst = action.edge
        n = parent.num_vertices
        grown = np.zeros((n + 1, n + 1), dtype=np.int8)
        grown[:n, :n] = matrix
        grown[src, dst] = 0
        grown[src, n] = grown[n, dst] = 1
        order = list(range(dst)) + [n] + list(range(dst, n))
        matrix, ops = grown[np.ix_(order, order)], [(ops + [action.op])[i] for i in order]
        origin = [None if i == n else i for i in order]
    elif action.kind == "remove_vertex":
        v = action.vertex
        predecessors, successors = np.flatnonzero(matrix[:, v]), np.flatnonzero(matrix[v])
        matrix[np.ix_(predecessors, successors)] = 1
        keep = [u for u in range(parent.num_vertices) if u != v]
        matrix, ops, origin = matrix[np.ix_(keep, keep)], [ops[u] for u in keep], keep
    else:  # add_edge, remove_edge, move_edge
        matrix[action.edge] = 0 if action.kind != "add_edge" else 1
        if action.kind == "move_edge":
            matrix[action.new_edge] = 1
    keep = kept_vertices(matrix)
    matrix, ops, origin = matrix[np.ix_(keep, keep)], [ops[k] for k in keep], [origin[k] for k in keep]
    order = canonical_order(matrix, Cell(matrix, ops).labels)
    canonical = child.canonical()
    if not (
        np.array_equal(matrix[np.ix_(order, order)], canonical.matrix)
        and [ops[i] for i in order] == list(canonical.ops)
    ):  # a bug, not a user error
        raise AssertionError(f"net2net: vertex mapping of {action!r} disagrees with the child's canonical form")
    return canonical, [origin[i] for i in order]


def _why_not_preserving(parent: Cell, action: Action) -> str | None:
    """None when the move can preserve the function, else the reason it cannot."""
    out = parent.num_vertices - 1
    if action.kind == "widen":
        if parent.ops[action.vertex] != "conv1x1-bn-relu":
            return "widen maxpool3x3 -> conv1x1: a convolution cannot compute a max-pool"
        return None
    if action.kind == "deepen":
        if action.op not in CONV_OPS:
            return "deepen with maxpool3x3: a max-pool is not an identity"
        if action.edge == (0, out):
            return "deepen on the input -> output edge: the output then concatenates the new vertex instead of adding"
        return None
    if action.kind == "add_edge":
        if action.edge[0] != 0:
            return "add_edge between interior vertices: NAS-Bench-101 sums inputs without a weight to start at zero"
        return None
    return f"{action.kind} removes or replaces what the parent computed"


@torch.no_grad()
def _copy_conv_bn(target: ConvBnRelu, source: ConvBnRelu) -> bool:
    """Copy the overlapping weights; True when the copy is exact (a conv1x1 into a conv3x3 is
    zero-padded, which is exact)."""
    (conv, bn), (old_conv, old_bn) = (target[0], target[1]), (source[0], source[1])
    out_channels, in_channels = (
        min(conv.out_channels, old_conv.out_channels),
        min(conv.in_channels, old_conv.in_channels),
    )
    k, old_k = conv.kernel_size[0], old_conv.kernel_size[0]
    if k == old_k:
        conv.weight[:out_channels, :in_channels] = old_conv.weight[:out_channels, :in_channels]
    elif k > old_k:  # zero-pad around the old kernel
        conv.weight.zero_()
        low = (k - old_k) // 2
        conv.weight[:out_channels, :in_channels, low : low + old_k, low : low + old_k] = old_conv.weight[
            :out_channels, :in_channels
        ]
    else:  # keep the centre of the old kernel
        low = (old_k - k) // 2
        conv.weight[:out_channels, :in_channels] = old_conv.weight[
            :out_channels, :in_channels, low : low + k, low : low + k
        ]
    for name in ("weight", "bias", "running_mean", "running_var"):
        getattr(bn, name)[:out_channels] = getattr(old_bn, name)[:out_channels]
    bn.num_batches_tracked.copy_(old_bn.num_batches_tracked)
    same_shape = (conv.out_channels, conv.in_channels) == (old_conv.out_channels, old_conv.in_channels)
    return same_shape and k >= old_k


@torch.no_grad()
def _identity(block: ConvBnRelu) -> None:
    """conv-bn-relu computing its (non-negative) input exactly, in eval mode."""
    conv, bn = block[0], block[1]
    conv.weight.zero_()
    centre = conv.kernel_size[0] // 2
    for channel in range(conv.out_channels):
        conv.weight[channel, channel, centre, centre] = 1.0
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0)
    bn.weight.fill_(math.sqrt(1.0 + bn.eps))
    bn.bias.zero_()


@torch.no_grad()
def _silent(block: ConvBnRelu) -> None:
    """conv-bn-relu that outputs zeros (scale and shift 0) but can still learn."""
    block[1].weight.zero_()
    block[1].bias.zero_()


def _new_vertex(child: CellModule, parent: CellModule, v: int, action: Action) -> bool:
    """Set up the vertex deepen created on the parent's edge (src, dst); True when it is neutral."""
    src, dst = action.edge
    parent_n = len(parent.matrix)
    if isinstance(child.ops[str(v)], ConvBnRelu):
        _identity(child.ops[str(v)])
    exact = True
    if str(v) in child.projections:  # src is the input: dst's projection moves here
        moved = parent.projections[str(dst)] if dst < parent_n - 1 else parent.output_projection
        exact &= _copy_conv_bn(child.projections[str(v)], moved)
    replaced = dst if dst < parent_n - 1 else src  # into the output, it takes src's place
    return exact and child.channels[v] == parent.channels[replaced]


def _projection(child: ConvBnRelu, parent: ConvBnRelu | None) -> bool:
    """Copy a projection of the cell input, or silence a new one (a new edge from the input)."""
    if parent is None:
        _silent(child)
        return True
    return _copy_conv_bn(child, parent)


def _inherit_cell(child: CellModule, parent: CellModule, origin: list[int | None], action: Action) -> bool:
    """Copy one cell copy's weights; True when every copy was exact and every new part neutral."""
    exact = True
    n, parent_n = len(child.matrix), len(parent.matrix)
    for v in range(1, n - 1):
        p = origin[v]
        if p is None:
            exact &= _new_vertex(child, parent, v, action)
            continue
        exact &= child.channels[v] == parent.channels[p]
        if isinstance(child.ops[str(v)], ConvBnRelu) and isinstance(parent.ops[str(p)], ConvBnRelu):
            exact &= _copy_conv_bn(child.ops[str(v)], parent.ops[str(p)])
        if str(v) in child.projections:
            held = parent.projections[str(p)] if str(p) in parent.projections else None  # noqa: SIM401 (ModuleDict has no get)
            exact &= _projection(child.projections[str(v)], held)
    if child.output_projection is not None:
        exact &= _projection(child.output_projection, parent.output_projection)
    # the concatenation into the output must list the same tensors in the same order
    feeders = [origin[v] for v in range(1, n - 1) if child.matrix[v][n - 1]]
    parent_feeders = [p for p in range(1, parent_n - 1) if parent.matrix[p][parent_n - 1]]
    if action.kind == "deepen" and action.edge[1] == parent_n - 1:
        parent_feeders = [None if p == action.edge[0] else p for p in parent_feeders]
    return exact and feeders == parent_feeders


def inherit(parent: Network, action: Action, seed: int = 0) -> Inheritance:
    """The child network of ``action`` applied to ``parent.cell`` (vertex numbers are those of
    that canonical cell, as ``neighbors(parent.cell)`` gives them), with inherited weights.

    Parts without a parent counterpart start from a fresh initialisation seeded by ``seed``
    (new vertices as identities and new projections silent where the function can be kept).
    The child is on the parent's device, in eval mode, with the parent's configuration.
    """
    parent_cell = parent.cell
    child_cell, origin = _child_layout(parent_cell, action)
    device = next(parent.parameters()).device
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        child = build_network(child_cell, parent.config, device)
    with torch.no_grad():
        child.stem.load_state_dict(parent.stem.state_dict())
        child.classifier.load_state_dict(parent.classifier.state_dict())
    exact = True
    for child_part, parent_part in zip(child.cells, parent.cells):
        if isinstance(child_part, CellModule):
            exact &= _inherit_cell(child_part, parent_part, origin, action)
    reason = _why_not_preserving(parent_cell, action)
    if reason is None and not exact:
        reason = "the move changes how the cell splits its channels, so some widths or the output order differ"
    return Inheritance(child.eval(), reason is None, reason or "function-preserving")
