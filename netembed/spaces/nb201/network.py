"""NAS-Bench-201 networks in PyTorch, built from any cell of the space.

The layout is NAS-Bench-201's ``TinyNetwork`` (NATS-Bench topology space, "infer.tiny"): a
conv3x3 + BN stem, three stages of ``cells_per_stage`` copies of the cell with C, 2C and 4C
channels, a residual block of stride 2 between stages, then BN, ReLU, global average pooling
and a linear classifier. Every detail that changes the weights or the outputs follows the
reference (affine batch norms, bias-free convolutions, ``avg_pool_3x3`` not counting the
padding, the residual shortcut's average pool + 1x1 conv), so the trainable parameter count
equals :func:`netembed.spaces.nb201.params.count_params`, hence the benchmark's ``params``.
"""

from __future__ import annotations

import torch
from torch import nn

from netembed.spaces.nb201.arch import Arch
from netembed.spaces.nb201.params import EDGES, NUM_NODES, NetworkConfig, check_ops, count_params

__all__ = [
    "CellModule",
    "Network",
    "NetworkConfig",
    "ReLUConvBN",
    "ResidualBlock",
    "Zero",
    "build_network",
    "count_params",
]


class ReLUConvBN(nn.Sequential):
    """ReLU, convolution without bias ('same' padding), affine batch norm: the ``nor_conv``
    ops and both halves of the residual block."""

    def __init__(self, kernel: int, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(out_channels),
        )


class Zero(nn.Module):
    """The ``none`` op: ``x * 0`` as in the reference (a NaN input stays NaN), no weights."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _operation(op: str, channels: int) -> nn.Module:
    # a cell keeps its channels and stride 1, so skip is the identity and the pool needs no projection
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(1, channels, channels)
    if op == "nor_conv_3x3":
        return ReLUConvBN(3, channels, channels)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"op must be one of the NAS-Bench-201 ops, got {op!r}")  # check_ops ran first


class CellModule(nn.Module):
    """One copy of the cell: each node sums its incoming edges; the output is node 3.

    Shapes: (B, channels, H, W) -> (B, channels, H, W).
    """

    def __init__(self, ops: tuple[str, ...], channels: int):
        super().__init__()
        self.edges = nn.ModuleList(_operation(op, channels) for op in ops)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for target in range(1, NUM_NODES):
            inputs = [edge(nodes[i]) for edge, (i, j) in zip(self.edges, EDGES) if j == target]
            nodes.append(sum(inputs[1:], inputs[0]))
        return nodes[-1]


class ResidualBlock(nn.Module):
    """The reduction between stages (NAS-Bench-201's ``ResNetBasicblock``, stride 2): two
    ReLU-Conv3x3-BN, the first of stride 2, plus a shortcut of a 2x2 average pool and a 1x1
    conv without bias or batch norm.

    Shapes: (B, in_channels, H, W) -> (B, out_channels, H / 2, W / 2), H and W even.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv_a = ReLUConvBN(3, in_channels, out_channels, stride=2)
        self.conv_b = ReLUConvBN(3, out_channels, out_channels)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(in_channels, out_channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class Network(nn.Module):
    """The whole image classifier of one NAS-Bench-201 cell.

    Shapes: images (B, in_channels, H, W) -> logits (B, num_classes); H and W must be
    divisible by 4 (two stride-2 reductions), e.g. 32 for CIFAR, 16 for ImageNet16-120.
    """

    def __init__(self, ops: tuple[str, ...], config: NetworkConfig):
        super().__init__()
        self.ops, self.config, self.cell = ops, config, Arch(ops)
        c = config.channels
        self.stem = nn.Sequential(nn.Conv2d(config.in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        widths = (c, 2 * c, 4 * c)
        for stage, width in enumerate(widths):
            if stage > 0:
                layers.append(ResidualBlock(widths[stage - 1], width))
            layers.extend(CellModule(ops, width) for _ in range(config.cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.last = nn.Sequential(nn.BatchNorm2d(widths[-1]), nn.ReLU())
        self.classifier = nn.Linear(widths[-1], config.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.last(self.cells(self.stem(images)))
        return self.classifier(features.mean(dim=(2, 3)))


def build_network(
    ops: tuple[str, ...], config: NetworkConfig | None = None, device: torch.device | str = "cpu"
) -> Network:
    """NAS-Bench-201's network for ``ops`` (6 op names in :data:`~.params.EDGES` order) at
    ``config`` (None: the benchmark's CIFAR-10 network). ``device="meta"`` builds the shapes
    only, e.g. to count parameters quickly."""
    ops = check_ops(ops)
    config = NetworkConfig() if config is None else config
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"config must be a NetworkConfig, got {type(config).__name__}")
    with torch.device(device):
        return Network(ops, config)
