"""Real NAS-Bench-101 networks: parameter counts, shapes, configuration errors."""

import numpy as np
import pytest
import torch

from netembed import Cell, space
from netembed.cell import OPS
from netembed.train import NetworkConfig, build_network, count_trainable

C3, C1, MP = OPS
SMALL = NetworkConfig(stem_channels=8, num_stacks=2, cells_per_stack=1, in_channels=1, image_size=8)


@pytest.fixture(scope="module")
def sampled_rows() -> np.ndarray:
    return np.random.default_rng(7).choice(space.NUM_CELLS, 2000, replace=False)


@pytest.fixture(scope="module")
def built_counts(sampled_rows) -> np.ndarray:
    """Trainable parameters of the default network for 2,000 random cells (shapes only)."""
    return np.array([count_trainable(build_network(space.cell_at(int(row)), device="meta"))
                     for row in sampled_rows])


def test_parameter_count_equals_count_params(sampled_rows, built_counts):
    expected = np.array([space.count_params(space.cell_at(int(row))) for row in sampled_rows])
    assert np.array_equal(built_counts, expected)


def test_parameter_count_equals_the_table(sampled_rows, built_counts, table_columns):
    assert np.array_equal(built_counts, table_columns["params"][sampled_rows])


def test_smallest_cell_by_hand():
    """Input straight to output: every cell is one 1x1 projection."""
    cell = Cell([[0, 1], [0, 0]], ["input", "output"])
    net = build_network(cell, NetworkConfig(stem_channels=4, num_stacks=2, cells_per_stack=1, image_size=4))
    stem = 3 * 3 * 3 * 4 + 2 * 4
    cells = (4 * 4 + 2 * 4) + (4 * 8 + 2 * 8)
    assert count_trainable(net) == stem + cells + 8 * 10 + 10
    assert net(torch.zeros(2, 3, 4, 4)).shape == (2, 10)


def test_isomorphic_cells_build_the_same_network():
    matrix = np.array([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    a = Cell(matrix, ["input", C3, MP, "output"])
    b = Cell(matrix, ["input", MP, C3, "output"])
    torch.manual_seed(0)
    net_a = build_network(a, SMALL)
    torch.manual_seed(0)
    net_b = build_network(b, SMALL)
    images = torch.randn(3, 1, 8, 8)
    assert net_a.cell == net_b.cell
    assert torch.equal(net_a.eval()(images), net_b.eval()(images))


def test_scaled_networks_run_forward_and_backward(rng):
    for row in rng.choice(space.NUM_CELLS, 20, replace=False):
        net = build_network(space.cell_at(int(row)), SMALL)
        logits = net(torch.randn(4, 1, 8, 8))
        assert logits.shape == (4, 10) and torch.isfinite(logits).all()
        logits.sum().backward()
        assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("changes, message", [
    ({"stem_channels": 0}, "stem_channels must be a positive integer, got 0"),
    ({"num_stacks": 2.5}, "num_stacks must be a positive integer, got 2.5"),
    ({"num_classes": 1}, "num_classes must be at least 2, got 1"),
    ({"image_size": 2, "num_stacks": 3}, "image_size must be at least 2**(num_stacks - 1) = 4"),
    ({"bn_momentum": 1.5}, "bn_momentum must be in (0, 1), got 1.5"),
])
def test_config_mistakes(changes, message):
    with pytest.raises(ValueError) as info:
        NetworkConfig(**changes)
    assert message in str(info.value)


def test_build_network_needs_a_cell():
    with pytest.raises(TypeError, match="needs a Cell, got dict"):
        build_network({"matrix": [[0, 1], [0, 0]]})
