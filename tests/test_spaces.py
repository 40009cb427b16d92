"""The space protocol, NAS-Bench-201 behind it, and NAS-Bench-101's view through it."""

from __future__ import annotations

import itertools
from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netembed import spaces
from netembed.errors import DataError, IllegalTransformError, InvalidCellError, OutOfSpaceError, UnknownCellError
from netembed.spaces import SpaceError
from netembed.spaces.nb101 import transforms
from netembed.spaces.nb201 import Arch, NB201Space, Table
from netembed.spaces.nb201.arch import NODE_TYPES
from netembed.spaces.nb201.moves import Move
from netembed.spaces.nb201.params import EDGES, OPS

NB201 = spaces.get("nb201")
CODES = st.lists(st.integers(0, len(OPS) - 1), min_size=6, max_size=6)


def synthetic_table(path, datasets=("cifar10", "imagenet16"), devices=("fpga", "phone_x"), seed=0):
    """A table in the NAS-Bench-201 format with made-up numbers (no benchmark data): rows in a
    shuffled order, accuracy rising with the number of 3x3 convs, latency with parameters."""
    rng = np.random.default_rng(seed)
    every = NB201.enumerate()
    archs = [every[i] for i in rng.permutation(NB201.size)]
    convs = np.array([a.ops.count("nor_conv_3x3") for a in archs], dtype=np.float32)
    columns = {"arch_str": np.array([a.hash for a in archs])}
    for k, name in enumerate(datasets):
        columns[f"{name}_val"] = (0.5 + convs / 20 + rng.normal(0, 0.01, len(archs)) + k / 100).astype(np.float32)
        columns[f"{name}_test"] = (columns[f"{name}_val"] + 0.01).astype(np.float32)
    for device in devices:
        columns[f"latency_{device}"] = np.array([NB201.count_params(a) / 1e5 for a in archs], dtype=np.float32)
    np.savez(path, **columns)
    return path


@pytest.fixture(scope="module")
def table201(tmp_path_factory) -> Table:
    return Table.load(synthetic_table(tmp_path_factory.mktemp("nb201") / "nb201.npz"))


# -- the registry ----------------------------------------------------------------------------------


def test_spaces_are_found_by_name_and_nb101_is_the_default():
    assert spaces.get().name == "nb101" and spaces.get("nb201") is NB201
    # the known names, sorted: the shipped ones and any a test module has registered
    with pytest.raises(SpaceError, match=r"space must be one of ([\w-]+, )*nb101, nb201(, [\w-]+)*, got 'nb301'"):
        spaces.get("nb301")


def test_a_space_of_ones_own_is_registered_and_a_taken_name_refused():
    class Tiny(NB201Space):
        name = "tiny-test-space"

    tiny = spaces.register(Tiny())
    assert spaces.get("tiny-test-space") is tiny and spaces.get(tiny) is tiny

    class Other(NB201Space):
        name = "tiny-test-space"

    with pytest.raises(SpaceError, match="taken by Tiny"):
        spaces.register(Other())
    with pytest.raises(SpaceError, match="must be a netembed.spaces.Space, got str"):
        spaces.register("nb201")


# -- NAS-Bench-201 architectures -------------------------------------------------------------------


@given(CODES)
def test_an_architecture_string_round_trips_and_names_the_architecture(codes):
    arch = Arch.from_codes(codes)
    assert Arch.from_string(arch.hash) == arch and arch.codes == tuple(codes)
    assert NB201.from_json(NB201.to_json(arch)) == arch == NB201.from_json(arch.hash)
    assert hash(arch) == hash(Arch(list(arch.ops)))


def test_the_space_has_15625_architectures_6466_isomorphism_classes_and_341_disconnected():
    every = NB201.enumerate()
    assert len(every) == len(set(every)) == NB201.size == 15_625
    assert len({a.isomorphism_key for a in every}) == 6_466
    assert sum(not a.connected for a in every) == 341


def test_connected_means_a_path_of_non_none_edges_from_input_to_output():
    for arch in NB201.enumerate()[::7]:
        edges = [e for e, op in zip(EDGES, arch.ops) if op != "none"]
        reach = {0}
        for _ in range(3):  # the longest path has 3 edges
            reach |= {j for i, j in edges if i in reach}
        assert arch.connected == (3 in reach), arch


def test_isomorphic_architectures_compute_the_same_function():
    # a skip on 0->1 and a conv on 1->3 is the conv on 0->3 when the other edges are empty
    a = Arch(["skip_connect", "none", "none", "none", "nor_conv_3x3", "none"])
    b = Arch(["none", "none", "none", "nor_conv_3x3", "none", "none"])
    c = Arch(["none", "none", "none", "nor_conv_1x1", "none", "none"])
    assert a != b and a.isomorphism_key == b.isomorphism_key != c.isomorphism_key


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("|none~0|+|none~0|none~1|", "must have 3 nodes"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|conv~2|", "must be one of none, skip_connect"),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "one edge from each of nodes 0..1"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "an edge must be written op~i"),
    ],
)
def test_a_bad_architecture_string_is_refused_naming_the_rule(text, rule):
    with pytest.raises(InvalidCellError, match=rule):
        Arch.from_string(text)


def test_an_architecture_of_another_space_is_refused():
    with pytest.raises(OutOfSpaceError, match="ops\\[0\\] must be one of"):
        Arch(["conv3x3-bn-relu"] * 6)
    with pytest.raises(InvalidCellError, match="must be its string or an object with 'arch'"):
        NB201.from_json({"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]})
    with pytest.raises(SpaceError, match="architectures of nb201 are Arch objects, got Cell"):
        NB201.neighbors(spaces.get("nb101").random(np.random.default_rng(0)))


# -- moves ---------------------------------------------------------------------------------------


def test_every_op_change_has_the_kind_the_design_gives_it():
    c1, c3, skip, pool = "nor_conv_1x1", "nor_conv_3x3", "skip_connect", "avg_pool_3x3"
    design = {(c1, c3): "widen", (c3, c1): "narrow", (none := "none", skip): "add_edge"}
    design |= {(old, conv): "deepen" for old in (skip, none) for conv in (c1, c3)}
    design |= {(conv, skip): "shallow" for conv in (c1, c3)} | {
        (old, none): "remove_edge" for old in (skip, c1, c3, pool)
    }
    for old, new in itertools.permutations(OPS, 2):
        assert Move(2, new).kind_for(Arch([old] * 6)) == design.get((old, new), "swap"), (old, new)
    assert sum(kind == "swap" for kind in (design.get(p, "swap") for p in itertools.permutations(OPS, 2))) == 7
    with pytest.raises(IllegalTransformError, match="must change the op of edge 0, which is 'none' already"):
        Move(0, "none").apply(Arch(["none"] * 6))


@given(CODES)
@settings(max_examples=50)
def test_an_architecture_has_24_distinct_neighbours_one_op_away_each_with_its_way_back(codes):
    arch = Arch.from_codes(codes)
    found = NB201.neighbors(arch)
    assert len(found) == len({n.cell for n in found}) == 24 and arch not in {n.cell for n in found}
    for action, child in found:
        assert action.kind in NB201.move_kinds and action.apply(arch) == child
        assert sum(a != b for a, b in zip(arch.ops, child.ops)) == 1
        assert arch in {n.cell for n in NB201.neighbors(child)}


def test_the_move_graph_connects_the_whole_space():
    start = Arch(["none"] * 6)
    seen, frontier = {start}, deque([start])
    while frontier:
        for _, child in NB201.neighbors(frontier.popleft()):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    assert len(seen) == NB201.size


# -- the graph view --------------------------------------------------------------------------------


def test_the_graph_view_has_a_node_per_non_none_edge_wired_as_the_cell_computes():
    arch = Arch.from_string("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|")
    types, adjacency = NB201.graph(arch)
    names = [NODE_TYPES[t] if t >= 0 else None for t in types]
    assert names == ["input", "nor_conv_3x3", None, "skip_connect", "avg_pool_3x3", None, "nor_conv_1x1", "output"]
    edges = {tuple(map(int, e)) for e in np.argwhere(adjacency)}
    # input -> 0->1 conv and 0->3 pool; conv (0->1) -> skip (1->2); skip (1->2) -> conv1x1 (2->3); 0->3 and 2->3 -> output
    assert edges == {(0, 1), (0, 4), (1, 3), (3, 6), (4, 7), (6, 7)}
    assert not np.tril(adjacency).any()


def test_dense_views_of_a_batch_equal_the_views_one_by_one():
    archs = [NB201.random(np.random.default_rng(s)) for s in range(20)]
    types, adjacency = NB201.dense(archs)
    for k, arch in enumerate(archs):
        one_types, one_adjacency = NB201.graph(arch)
        assert (types[k] == one_types).all() and (adjacency[k] == one_adjacency).all()


def test_the_feature_view_indexes_its_table():
    archs = [NB201.random(np.random.default_rng(s)) for s in range(30)]
    table = NB201.feature_table()
    assert table.shape == (NB201.feature_entries, 31)
    assert (table[NB201.feature_index(archs)] == NB201.feature_inputs(archs)).all()


# -- the table -------------------------------------------------------------------------------------


def test_a_table_in_the_format_finds_its_data_sets_and_devices_from_the_column_names(table201):
    assert table201.datasets == ("cifar10", "imagenet16") and table201.devices == ("fpga", "phone_x")
    for index in (0, 17, 15_624):
        arch = table201.arch_at(index)
        record = table201.record(arch)
        assert table201.row_of(arch) == table201.row_of(arch.hash) == record.index == index
        assert record.val["imagenet16"] == pytest.approx(float(table201.val["imagenet16"][index]))
        assert set(record.latency) == {"fpga", "phone_x"}
    with pytest.raises(DataError, match=r"data set must be one of cifar10, imagenet16 .*got 'cifar100'"):
        table201.check_dataset("cifar100")
    with pytest.raises(DataError, match=r"device must be one of fpga, phone_x .*got 'pixel3'"):
        table201.check_device("pixel3")
    with pytest.raises(UnknownCellError, match="index must be in 0..15624, got 15625"):
        table201.row_of(15_625)


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (lambda c: c.pop("arch_str"), "has no arch_str column"),
        (lambda c: c.update(oops=c["cifar10_val"]), "column 'oops' is neither"),
        (lambda c: c.update(cifar10_val=c["cifar10_val"] * 100), "must hold accuracies in \\[0, 1\\]"),
        (lambda c: c.update(cifar10_val=c["cifar10_val"][:10]), "column cifar10_val must be 15625 numbers"),
        (lambda c: c["arch_str"].__setitem__(1, c["arch_str"][0]), "must list each architecture once"),
        (lambda c: c["arch_str"].__setitem__(3, "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|"), "must be one of"),
        (lambda c: [c.pop(k) for k in list(c) if k.endswith("_val")], "needs at least one {dataset}_val column"),
    ],
)
def test_a_table_that_does_not_fit_the_space_is_refused_naming_what_is_wrong(tmp_path, change, rule):
    path = synthetic_table(tmp_path / "good.npz")
    with np.load(path, allow_pickle=False) as data:
        columns = {name: data[name].copy() for name in data.files}
    change(columns)
    np.savez(tmp_path / "bad.npz", **columns)
    with pytest.raises((DataError, InvalidCellError), match=rule):
        Table.load(tmp_path / "bad.npz")


def test_a_missing_table_says_where_it_looked_and_how_to_point_at_one(tmp_path):
    with pytest.raises(DataError, match="NAS-Bench-201 table not found: .*pass --data or set NETEMBED_NB201_DATA"):
        Table.load(tmp_path / "none.npz")


def test_the_shipped_table_matches_its_card():
    try:
        table = Table.load()
    except DataError as exc:
        pytest.skip(f"NAS-Bench-201 table not available ({exc}); set NETEMBED_NB201_DATA to run this test")
    assert len(table) == 15_625 and {"cifar10", "cifar100"} <= set(table.datasets) and len(table.devices) == 13
    assert int(np.argmax(table.val["cifar10"])) == 13714 and int(np.argmax(table.test["cifar10"])) == 5374
    assert sorted(a.hash for a in map(table.arch_at, range(len(table)))) == sorted(a.hash for a in NB201.enumerate())


# -- NAS-Bench-101 through the protocol --------------------------------------------------------------


def test_nb101_through_the_protocol_answers_as_its_own_modules(rng):
    nb101 = spaces.get("nb101")
    for _ in range(5):
        cell = nb101.random(rng)
        assert [(a, c) for a, c in nb101.neighbors(cell)] == [(a, c) for a, c in transforms.neighbors(cell)]
        assert nb101.from_json(nb101.to_json(cell)) == cell
        assert nb101.from_params(nb101.params(cell)) == cell
    assert nb101.move_kinds == tuple(transforms.FAMILIES)
    bad = dict.fromkeys(nb101.distributions(), 0) | {f"op{k}": "maxpool3x3" for k in range(5)}
    assert nb101.from_params(bad) is None  # no edge: NAS-Bench-101 rejects the spec


def test_optuna_params_of_nb201_name_the_edges_and_round_trip(rng):
    arch = NB201.random(rng)
    params = NB201.params(arch)
    assert list(params) == ["edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3"]
    assert NB201.from_params(params) == arch
    assert all(d.choices == OPS for d in NB201.distributions().values())
