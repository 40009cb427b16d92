"""NAS-Bench-101 networks in PyTorch, built from any cell.

The layout follows NAS-Bench-101's ``model_builder``: a conv3x3 stem, ``num_stacks`` stacks
of ``cells_per_stack`` copies of the cell with a 2x2 max-pool and a doubling of channels
between stacks, global average pooling and a dense classifier. Inside a cell, the vertices
feeding the output split its channels and are concatenated; the cell input reaches a vertex
through a 1x1 projection; a vertex's other inputs are truncated to its width and summed
(:func:`netembed.spaces.nb101.space.vertex_channels`). At the default configuration the trainable
parameter count equals :func:`netembed.spaces.nb101.space.count_params`, hence the table's ``params``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from netembed._fields import Int, Number, check_fields
from netembed.errors import ConfigError
from netembed.spaces.nb101.cell import MAX_VERTICES, Cell
from netembed.spaces.nb101.space import vertex_channels

__all__ = [
    "CellModule",
    "ConvBnRelu",
    "Network",
    "NetworkConfig",
    "build_network",
    "count_trainable",
    "min_stem_channels",
]


@dataclass(frozen=True)
class NetworkConfig:
    """Scale of a network; saved with every checkpoint so it can rebuild its own model.

    The defaults are NAS-Bench-101's CIFAR-10 network. ``image_size`` does not change the
    weights (the network is convolutional up to the global pool); it is checked against the
    number of downsamplings and used for the input shape of examples and benchmarks.
    ``bn_momentum`` is PyTorch's convention (the weight of the new batch): NAS-Bench-101's
    TensorFlow decay 0.997 is 0.003 here, too slow for the few hundred steps of small runs.
    """

    stem_channels: int = 128
    num_stacks: int = 3
    cells_per_stack: int = 3
    num_classes: int = 10
    in_channels: int = 3
    image_size: int = 32
    bn_momentum: float = 0.1
    bn_eps: float = 1e-5

    def __post_init__(self) -> None:
        check_fields(
            self,
            {
                "stem_channels": Int(1, 4096),
                "num_stacks": Int(1, 16),
                "cells_per_stack": Int(1, 64),
                "num_classes": Int(2, 100_000),
                "in_channels": Int(1, 1024),
                "image_size": Int(1, 4096),
                "bn_momentum": Number(0, 1, open_low=True, open_high=True),
                "bn_eps": Number(0, 1, open_low=True, open_high=True),
            },
        )
        if self.image_size < 2 ** (self.num_stacks - 1):
            raise ConfigError(
                f"NetworkConfig.image_size must be at least 2**(num_stacks - 1) = "
                f"{2 ** (self.num_stacks - 1)} to survive the downsamplings, got {self.image_size}"
            )

    def to_dict(self) -> dict:
        return asdict(self)


class ConvBnRelu(nn.Sequential):
    """Convolution without bias, batch norm, ReLU ('same' padding, stride 1)."""

    def __init__(self, kernel: int, in_channels: int, out_channels: int, config: NetworkConfig):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(out_channels, eps=config.bn_eps, momentum=config.bn_momentum),
            nn.ReLU(),
        )


def _operation(op: str, channels: int, config: NetworkConfig) -> nn.Module:
    if op == "conv3x3-bn-relu":
        return ConvBnRelu(3, channels, channels, config)
    if op == "conv1x1-bn-relu":
        return ConvBnRelu(1, channels, channels, config)
    if op == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ValueError(f"operation must be one of conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3, got {op!r}")


class CellModule(nn.Module):
    """One copy of a cell: ``(B, in_channels, H, W) -> (B, out_channels, H, W)``."""

    def __init__(self, cell: Cell, in_channels: int, out_channels: int, config: NetworkConfig):
        super().__init__()
        self.matrix = [[bool(x) for x in row] for row in cell.matrix]
        self.channels = vertex_channels(in_channels, out_channels, cell.matrix)
        n = cell.num_vertices
        # ModuleDicts keyed by vertex: only vertices fed by the input have a projection
        self.projections = nn.ModuleDict(
            {str(v): ConvBnRelu(1, in_channels, self.channels[v], config) for v in range(1, n - 1) if self.matrix[0][v]}
        )
        self.ops = nn.ModuleDict({str(v): _operation(cell.ops[v], self.channels[v], config) for v in range(1, n - 1)})
        self.output_projection = ConvBnRelu(1, in_channels, out_channels, config) if self.matrix[0][n - 1] else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, matrix, channels = len(self.matrix), self.matrix, self.channels
        tensors = [x]
        for v in range(1, n - 1):
            inputs = [tensors[src][:, : channels[v]] for src in range(1, v) if matrix[src][v]]
            if matrix[0][v]:
                inputs.append(self.projections[str(v)](x))
            tensors.append(self.ops[str(v)](sum(inputs[1:], inputs[0])))
        into_output = [tensors[v] for v in range(1, n - 1) if matrix[v][n - 1]]
        if not into_output:  # only the input feeds the output
            return self.output_projection(x)
        out = torch.cat(into_output, dim=1) if len(into_output) > 1 else into_output[0]
        if self.output_projection is not None:
            out = out + self.output_projection(x)
        return out


class Network(nn.Module):
    """The whole image classifier: ``(B, in_channels, H, W) -> (B, num_classes)`` logits."""

    def __init__(self, cell: Cell, config: NetworkConfig):
        super().__init__()
        self.cell, self.config = cell, config
        self.stem = ConvBnRelu(3, config.in_channels, config.stem_channels, config)
        layers: list[nn.Module] = []
        channels = config.stem_channels
        for stack in range(config.num_stacks):
            in_channels = channels
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2))
                channels *= 2
            for _ in range(config.cells_per_stack):
                layers.append(CellModule(cell, in_channels, channels, config))
                in_channels = channels
        self.cells = nn.Sequential(*layers)
        self.classifier = nn.Linear(channels, config.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.cells(self.stem(images))
        return self.classifier(features.mean(dim=(2, 3)))


def min_stem_channels(cell: Cell | None = None) -> int:
    """The fewest stem channels ``cell``'s network can have: the vertices feeding the output split
    the first stack's channels, at least one each (None: any cell of the space)."""
    if cell is None:
        return MAX_VERTICES - 2
    return max(1, int(cell.matrix[1:-1, -1].sum()))


def build_network(cell: Cell, config: NetworkConfig | None = None, device: torch.device | str = "cpu") -> Network:
    """NAS-Bench-101's network for ``cell``, in its canonical vertex order (the order the
    table's parameter counts and channel splits refer to). ``device="meta"`` builds the
    shapes only, e.g. to count parameters of many cells quickly."""
    if not isinstance(cell, Cell):
        raise TypeError(f"build_network needs a Cell, got {type(cell).__name__}")
    config = config or NetworkConfig()
    if config.stem_channels < min_stem_channels(cell):
        raise ValueError(
            f"NetworkConfig.stem_channels must be at least {min_stem_channels(cell)} for cell {cell.hash} (its "
            f"output splits them among {min_stem_channels(cell)} vertices), got {config.stem_channels}"
        )
    with torch.device(device):
        return Network(cell.canonical(), config)


def count_trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
