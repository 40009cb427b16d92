"""NAS-Bench-201 cells as six op names, and the exact parameter counts of their networks.

Imports the standard library and numpy only (through :mod:`netembed._fields`), so a search or
a table can count parameters of all 15,625 cells without torch; :mod:`.network` builds the
same networks in PyTorch and its trainable parameters add up to :func:`count_params`.

A cell is a DAG of 4 nodes (0 is the input, 3 the output); each of the 6 edges ``i -> j``
(``i < j``) carries one of :data:`OPS` and each node sums its incoming edges. ``ops`` lists the
edges in :data:`EDGES` order, the order of NAS-Bench-201's architecture strings
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (:func:`ops_from_arch_str`, :func:`arch_str`).

The counts follow NAS-Bench-201's ``TinyNetwork`` (xautodl ``models/cell_infers``): every
batch norm is affine (2 parameters per channel), every convolution is bias-free, a cell
keeps its channels so ``skip_connect`` is the identity and ``avg_pool_3x3`` has no
projection, and the residual block between stages has a 2x2 average pool and a 1x1 conv
(no batch norm) as its shortcut. The benchmark reports ``params`` as this count / 1e6.

>>> count_params(("nor_conv_3x3",) * 6)
1531546
>>> count_params(("none",) * 6) == count_params(("skip_connect",) * 6) == 73306
True
>>> ops_from_arch_str("|nor_conv_1x1~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|")
('nor_conv_1x1', 'none', 'skip_connect', 'avg_pool_3x3', 'none', 'nor_conv_3x3')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from netembed._fields import Int, check_fields
from netembed.errors import InvalidCellError, OutOfSpaceError

__all__ = [
    "EDGES",
    "NUM_EDGES",
    "NUM_NODES",
    "OPS",
    "NetworkConfig",
    "arch_str",
    "check_ops",
    "count_params",
    "ops_from_arch_str",
]

#: The five operations of an edge, in NAS-Bench-201's order.
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_NODES = 4
#: The edges ``(source, target)`` in the order of ``ops`` and of the architecture string.
EDGES = tuple((i, j) for j in range(1, NUM_NODES) for i in range(j))
NUM_EDGES = len(EDGES)

#: Trainable parameters of a ReLU-Conv-BN op of kernel k on c channels: k*k*c*c weights, BN's 2c.
_KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


@dataclass(frozen=True)
class NetworkConfig:
    """Scale of a NAS-Bench-201 network; the defaults are the benchmark's CIFAR-10 network.

    ``channels`` is C, the width of the first stage (the stages have C, 2C, 4C channels);
    ``cells_per_stage`` is N. The benchmark's CIFAR-100 and ImageNet16-120 networks differ
    only in ``num_classes`` (100, 120); the count does not depend on the image size.
    """

    channels: int = 16
    cells_per_stage: int = 5
    num_classes: int = 10
    in_channels: int = 3

    def __post_init__(self) -> None:
        check_fields(
            self,
            {
                "channels": Int(1, 4096),
                "cells_per_stage": Int(1, 64),
                "num_classes": Int(2, 100_000),
                "in_channels": Int(1, 1024),
            },
        )

    @property
    def num_stacks(self) -> int:
        """The stages (three), as NAS-Bench-101's network calls them: the trainer's check that
        images survive the reductions reads it."""
        return 3

    def to_dict(self) -> dict:
        return asdict(self)


def check_ops(ops) -> tuple[str, ...]:
    """``ops`` as a tuple, once it is 6 names of :data:`OPS`: a wrong length or a non-string is
    no cell (``InvalidCellError``); a name outside :data:`OPS` is a cell of another space
    (``OutOfSpaceError``, itself an ``InvalidCellError``)."""
    if not isinstance(ops, (tuple, list)):
        raise InvalidCellError(f"ops must be a tuple or list of {NUM_EDGES} op names, got {ops!r}")
    if len(ops) != NUM_EDGES:
        raise InvalidCellError(f"ops must have {NUM_EDGES} op names (one per edge), got {len(ops)}: {tuple(ops)!r}")
    for position, op in enumerate(ops):
        if not isinstance(op, str):
            raise InvalidCellError(f"ops[{position}] must be an op name (a string), got {op!r}")
        if op not in OPS:
            raise OutOfSpaceError(f"ops[{position}] must be one of {', '.join(OPS)}, got {op!r}")
    return tuple(ops)


def arch_str(ops) -> str:
    """NAS-Bench-201's architecture string of ``ops``, e.g. ``|none~0|+|none~0|none~1|+|...|``."""
    ops = check_ops(ops)
    nodes = [[f"{op}~{i}" for op, (i, j) in zip(ops, EDGES) if j == target] for target in range(1, NUM_NODES)]
    return "+".join("|" + "|".join(node) + "|" for node in nodes)


def ops_from_arch_str(text: str) -> tuple[str, ...]:
    """The ``ops`` of an architecture string: 3 nodes joined by ``+``, node j listing ``op~i``
    for each of its inputs i < j (in any order, each once)."""
    if not isinstance(text, str):
        raise InvalidCellError(f"architecture string must be a string, got {text!r}")
    nodes = text.split("+")
    if len(nodes) != NUM_NODES - 1:
        raise InvalidCellError(f"architecture string must have {NUM_NODES - 1} nodes joined by '+', got {text!r}")
    by_edge: dict[tuple[int, int], str] = {}
    for target, node in enumerate(nodes, start=1):
        tokens = node.split("|")
        if len(tokens) < 3 or tokens[0] or tokens[-1]:
            raise InvalidCellError(f"node {target} must be written |op~i|...|, got {node!r} in {text!r}")
        sources = []
        for token in tokens[1:-1]:
            op, sep, source = token.partition("~")
            if not sep or not source.isdigit():
                raise InvalidCellError(f"an edge must be written op~i, got {token!r} in {text!r}")
            sources.append(int(source))
            by_edge[(int(source), target)] = op
        if sorted(sources) != list(range(target)):
            raise InvalidCellError(f"node {target} must have one edge from each of nodes 0..{target - 1}, got {node!r}")
    return check_ops([by_edge[edge] for edge in EDGES])


def count_params(ops, config: NetworkConfig | None = None) -> int:
    """Trainable parameters of the network of ``ops`` at ``config`` (None: the benchmark's
    CIFAR-10 network), computed arithmetically: the sum of ``numel`` over the parameters of
    :func:`netembed.spaces.nb201.network.build_network`, without torch."""
    ops = check_ops(ops)
    config = NetworkConfig() if config is None else config
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, got {type(config).__name__}")
    c, n, k = config.channels, config.cells_per_stage, config.num_classes
    total = 9 * config.in_channels * c + 2 * c  # stem: conv3x3 + BN
    widths = (c, 2 * c, 4 * c)
    for stage, width in enumerate(widths):
        if stage > 0:  # residual block from widths[stage - 1] to width, stride 2
            prev = widths[stage - 1]
            total += 9 * prev * width + 2 * width  # conv_a: ReLU-conv3x3-BN
            total += 9 * width * width + 2 * width  # conv_b: ReLU-conv3x3-BN
            total += prev * width  # shortcut: avg pool, then conv1x1 without BN
        per_cell = sum(_KERNEL[op] ** 2 * width * width + 2 * width for op in ops if op in _KERNEL)
        total += n * per_cell
    last = widths[-1]
    return total + 2 * last + last * k + k  # final BN, then the linear classifier
