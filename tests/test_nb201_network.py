"""NAS-Bench-201 networks: the arithmetic parameter count against the built modules and against
the benchmark's published ``params``, cell semantics, shapes, and the errors for bad ops."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from netembed.errors import ConfigError, InvalidCellError, OutOfSpaceError
from netembed.spaces.nb201.network import CellModule, NetworkConfig, build_network
from netembed.spaces.nb201.params import EDGES, OPS, arch_str, check_ops, count_params, ops_from_arch_str

NONE, SKIP, C1, C3, POOL = OPS
SMALL = NetworkConfig(channels=4, cells_per_stage=1, num_classes=3, in_channels=2)

#: Published ``params`` (millions, the count / 1e6 as xautodl's ``count_parameters_in_MB``
#: writes it) of the benchmark's networks: (architecture string, num_classes, params).
#: 10 classes is CIFAR-10 (and cifar10-valid), 100 is CIFAR-100, 120 is ImageNet16-120.
PUBLISHED = [
    # Architectures 0, 11 and 284 of the NATS-Bench topology space, from the benchmark's own
    # data files shipped for its tests: github.com/D-X-Y/NATS-Bench, fake_torch_dir/
    # NATS-tss-v1_0-3ffb9-simple/000000.pickle.pbz2 (000011, 000284), record
    # ["200"]["all_results"][(dataset, seed)]["params"], the same for seeds 777, 888, 999;
    # the architecture strings are meta.pickle.pbz2's "meta_archs"[index].
    ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", 10, 0.129306),
    ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", 100, 0.135156),
    ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", 120, 0.136456),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|", 10, 0.802426),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|", 100, 0.808276),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|", 120, 0.809576),
    ("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|nor_conv_1x1~1|none~2|", 10, 0.101306),
    ("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|nor_conv_1x1~1|none~2|", 100, 0.107156),
    ("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|none~0|nor_conv_1x1~1|none~2|", 120, 0.108456),
    # NATS-Bench issue #36 (github.com/D-X-Y/NATS-Bench/issues/36): get_cost_info(..., "cifar10",
    # hp="12") printed {'flops': 113.95137, 'params': 0.802426, ...} for this architecture.
    ("|skip_connect~0|+|none~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|", 10, 0.802426),
    # The largest network (all nor_conv_3x3) and the smallest (no conv at all: all none, all
    # skip, all pool, ...): the range of CIFAR-10 params over the whole benchmark, the nadir and
    # ideal points of the params objective in github.com/lamda-bbo/offline-moo,
    # off_moo_bench/problem/mo_nas/mo_nas_before.py (get_nadir_point / get_ideal_point).
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|", 10, 1.531546),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", 10, 0.073306),
    ("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|", 10, 0.073306),
]


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.fixture(scope="module")
def sampled_ops() -> list[tuple[str, ...]]:
    """200 random cells plus the all-none, all-skip, all-pool, all-conv1x1 and all-conv3x3 ones."""
    rng = np.random.default_rng(201)
    sampled = [tuple(OPS[i] for i in row) for row in rng.integers(0, len(OPS), size=(200, len(EDGES)))]
    return sampled + [(op,) * len(EDGES) for op in OPS]


def test_count_params_equals_built_network(sampled_ops):
    for ops in sampled_ops:
        assert count_params(ops) == trainable(build_network(ops, device="meta")), ops


@pytest.mark.parametrize(
    "config",
    [
        NetworkConfig(),
        SMALL,
        NetworkConfig(channels=7, cells_per_stage=2, num_classes=100, in_channels=1),
        NetworkConfig(channels=16, cells_per_stage=5, num_classes=120),
    ],
)
def test_count_params_equals_built_network_at_other_scales(config):
    rng = np.random.default_rng(config.channels)
    for row in rng.integers(0, len(OPS), size=(20, len(EDGES))):
        ops = tuple(OPS[i] for i in row)
        assert count_params(ops, config) == trainable(build_network(ops, config, device="meta")), (ops, config)


def test_meta_build_counts_like_a_real_build():
    ops = (C3, C1, POOL, SKIP, NONE, C3)
    model = build_network(ops)
    assert trainable(model) == trainable(build_network(ops, device="meta")) == count_params(ops)
    assert all(p.device.type == "cpu" for p in model.parameters())


@pytest.mark.parametrize(("text", "num_classes", "published"), PUBLISHED)
def test_count_params_matches_published(text, num_classes, published):
    count = count_params(ops_from_arch_str(text), NetworkConfig(num_classes=num_classes))
    assert round(count / 1e6, 4) == round(published, 4)  # the precision papers quote
    assert count == round(published * 1e6)  # the benchmark stores the exact count / 1e6


def test_range_over_the_whole_space():
    counts = {ops: count_params(ops) for ops in itertools.product(OPS, repeat=len(EDGES))}
    assert len(counts) == 15_625
    assert min(counts.values()) == 73_306 and max(counts.values()) == 1_531_546
    assert [ops for ops, count in counts.items() if count == 1_531_546] == [(C3,) * len(EDGES)]
    # the count depends only on how many conv1x1 and conv3x3 a cell has
    assert len(set(counts.values())) == len({(ops.count(C1), ops.count(C3)) for ops in counts})


def test_arch_str_round_trip_and_edge_order():
    ops = (C1, NONE, SKIP, POOL, NONE, C3)
    text = "|nor_conv_1x1~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
    assert arch_str(ops) == text and ops_from_arch_str(text) == ops
    assert EDGES == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    # a node may list its inputs in any order
    assert ops_from_arch_str("|nor_conv_1x1~0|+|skip_connect~1|none~0|+|nor_conv_3x3~2|avg_pool_3x3~0|none~1|") == ops


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ((SKIP,) * 6, 4.0),  # node1 = x, node2 = x + x, node3 = x + x + 2x
        ((NONE,) * 6, 0.0),
        ((SKIP, NONE, NONE, NONE, NONE, SKIP), 0.0),  # node 2 gets nothing, so the output is 0
        ((SKIP, NONE, SKIP, NONE, NONE, SKIP), 1.0),  # the chain 0 -> 1 -> 2 -> 3
        ((NONE, NONE, NONE, SKIP, NONE, NONE), 1.0),  # the direct edge 0 -> 3
        ((POOL, NONE, NONE, NONE, SKIP, NONE), 1.0),  # the pool ignores the padding: constants stay
    ],
)
def test_cell_sums_the_edges_of_each_node(ops, expected):
    cell = CellModule(check_ops(ops), channels=2)
    x = torch.ones(1, 2, 5, 5)
    torch.testing.assert_close(cell(x), expected * x)


def test_forward_shapes():
    torch.manual_seed(0)
    model = build_network((C3, C1, POOL, SKIP, NONE, C3), SMALL).eval()
    with torch.no_grad():
        assert model(torch.randn(4, 2, 32, 32)).shape == (4, 3)
        assert model(torch.randn(2, 2, 16, 16)).shape == (2, 3)  # ImageNet16-120's image size
    default = build_network((C3,) * 6).eval()
    with torch.no_grad():
        logits = default(torch.randn(2, 3, 32, 32))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def test_reference_details():
    """The batch norms are affine with running statistics and the convolutions bias-free."""
    model = build_network((C3, C1, POOL, SKIP, NONE, C3), SMALL)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert norms and all(m.affine and m.track_running_stats for m in norms)
    assert convs and all(m.bias is None for m in convs)
    pools = [m for m in model.modules() if isinstance(m, torch.nn.AvgPool2d) and m.kernel_size == 3]
    assert pools and all(not m.count_include_pad for m in pools)


@pytest.mark.parametrize(
    ("ops", "error", "message"),
    [
        ((C3,) * 5, InvalidCellError, r"ops must have 6 op names \(one per edge\), got 5"),
        ((C3,) * 7, InvalidCellError, r"ops must have 6 op names \(one per edge\), got 7"),
        ("nor_conv_3x3", InvalidCellError, r"ops must be a tuple or list of 6 op names, got 'nor_conv_3x3'"),
        ((C3, C3, 3, C3, C3, C3), InvalidCellError, r"ops\[2\] must be an op name \(a string\), got 3"),
        (
            (C3, "max_pool_3x3", C3, C3, C3, C3),
            OutOfSpaceError,
            r"ops\[1\] must be one of none, .*, got 'max_pool_3x3'",
        ),
        ((C3, C3, C3, C3, C3, "conv3x3-bn-relu"), OutOfSpaceError, r"ops\[5\] must be one of .*got 'conv3x3-bn-relu'"),
    ],
)
def test_invalid_ops_raise(ops, error, message):
    for function in (count_params, build_network, arch_str):
        with pytest.raises(error, match=message):
            function(ops)


def test_out_of_space_is_an_invalid_cell():
    with pytest.raises(InvalidCellError):
        count_params((NONE,) * 5 + ("sep_conv_3x3",))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("|none~0|+|none~0|none~1|", r"must have 3 nodes joined by '\+'"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|", r"node 3 must have one edge from each of nodes 0..2"),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", r"node 2 must have one edge from each of nodes 0..1"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", r"node 1 must be written \|op~i\|...\|"),
        ("|none|+|none~0|none~1|+|none~0|none~1|none~2|", r"an edge must be written op~i, got 'none'"),
    ],
)
def test_bad_arch_strings_raise(text, message):
    with pytest.raises(InvalidCellError, match=message):
        ops_from_arch_str(text)


def test_unknown_op_in_arch_string_is_out_of_space():
    with pytest.raises(OutOfSpaceError, match=r"got 'max_pool_3x3'"):
        ops_from_arch_str("|max_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("channels", 0, r"NetworkConfig.channels must be an integer in 1..4096, got 0"),
        ("cells_per_stage", 2.0, r"NetworkConfig.cells_per_stage must be an integer in 1..64, got 2.0"),
        ("num_classes", True, r"NetworkConfig.num_classes must be an integer in 2..100000, got True"),
        ("in_channels", -3, r"NetworkConfig.in_channels must be an integer in 1..1024, got -3"),
    ],
)
def test_config_fields_are_checked(field, value, message):
    with pytest.raises(ConfigError, match=message):
        NetworkConfig(**{field: value})


def test_config_must_be_a_network_config():
    for function in (count_params, build_network):
        with pytest.raises(TypeError, match="config must be a NetworkConfig, got dict"):
            function((C3,) * 6, {"channels": 16})


def test_params_module_imports_no_torch():
    code = (
        "import json, sys; import netembed.spaces.nb201.params as p; "
        "p.count_params(('nor_conv_3x3',) * 6); print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "torch" not in json.loads(done.stdout)
