"""Real NAS-Bench-101 networks: parameter counts, shapes, configuration errors."""

import numpy as np
import pytest
import torch

from netembed import Cell
from netembed.errors import DataError, IllegalTransformError
from netembed.spaces.nb101 import space
from netembed.spaces.nb101.cell import OPS
from netembed.spaces.nb101.transforms import Action, neighbors
from netembed.train import (
    SMALL_NETWORK,
    NetworkConfig,
    TrainConfig,
    build_network,
    count_trainable,
    digits,
    load_checkpoint,
    load_npz,
    train_cell,
)
from netembed.train.net2net import inherit

C3, C1, MP = OPS
SMALL = NetworkConfig(stem_channels=8, num_stacks=2, cells_per_stack=1, in_channels=1, image_size=8)


@pytest.fixture(scope="module")
def sampled_rows() -> np.ndarray:
    return np.random.default_rng(7).choice(space.NUM_CELLS, 2000, replace=False)


@pytest.fixture(scope="module")
def built_counts(sampled_rows) -> np.ndarray:
    """Trainable parameters of the default network for 2,000 random cells (shapes only)."""
    return np.array([count_trainable(build_network(space.cell_at(int(row)), device="meta")) for row in sampled_rows])


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


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"stem_channels": 0}, "NetworkConfig.stem_channels must be an integer in 1..4096, got 0"),
        ({"stem_channels": 10**9}, "NetworkConfig.stem_channels must be an integer in 1..4096, got 1000000000"),
        ({"num_stacks": 2.5}, "NetworkConfig.num_stacks must be an integer in 1..16, got 2.5"),
        ({"cells_per_stack": True}, "NetworkConfig.cells_per_stack must be an integer in 1..64, got True"),
        ({"num_classes": 1}, "NetworkConfig.num_classes must be an integer in 2..100000, got 1"),
        ({"image_size": 2, "num_stacks": 3}, "image_size must be at least 2**(num_stacks - 1) = 4"),
        ({"bn_momentum": 1.5}, "NetworkConfig.bn_momentum must be a number in (0, 1), got 1.5"),
        ({"bn_eps": float("nan")}, "NetworkConfig.bn_eps must be a number in (0, 1), got nan"),
    ],
)
def test_config_mistakes(changes, message):
    with pytest.raises(ValueError) as info:
        NetworkConfig(**changes)
    assert message in str(info.value)


def test_build_network_needs_a_cell():
    with pytest.raises(TypeError, match="needs a Cell, got dict"):
        build_network({"matrix": [[0, 1], [0, 0]]})


# -- training -------------------------------------------------------------------------------------

TINY_CELL = Cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", C3, MP, "output"])
TINY_NET = NetworkConfig(stem_channels=4, num_stacks=2, cells_per_stack=1, in_channels=1, image_size=8)
TINY_TRAIN = TrainConfig(epochs=2, batch_size=32)


@pytest.fixture(scope="module")
def tiny_data():
    return digits(train_size=120, seed=0)


def _weights(network) -> dict:
    return {key: value.clone() for key, value in network.state_dict().items()}


def test_training_is_seeded_and_deterministic(tiny_data, tmp_path):
    first = train_cell(TINY_CELL, tiny_data, TINY_NET, TINY_TRAIN, checkpoint_dir=tmp_path / "a")
    second = train_cell(TINY_CELL, tiny_data, TINY_NET, TINY_TRAIN, checkpoint_dir=tmp_path / "b")
    other = train_cell(TINY_CELL, tiny_data, TINY_NET, TrainConfig(epochs=2, batch_size=32, seed=1))
    assert (
        first.epochs == 2
        and len(first.history) == 2
        and first.params == count_trainable(build_network(TINY_CELL, TINY_NET))
    )
    assert [h["loss"] for h in first.history] == [h["loss"] for h in second.history]
    a, b = _weights(load_checkpoint(tmp_path / "a")[0]), _weights(load_checkpoint(tmp_path / "b")[0])
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert [h["loss"] for h in other.history] != [h["loss"] for h in first.history]


def test_the_small_task_learns():
    """Well above chance (10%) after a few epochs: the trainer and the recalibrated batch norm work."""
    result = train_cell(TINY_CELL, digits(train_size=500), SMALL_NETWORK, TrainConfig(epochs=2))
    assert result.test_accuracy > 0.5
    assert result.train_seconds > 0 and all(h["seconds"] > 0 for h in result.history)


def test_an_interrupted_run_resumes_to_the_same_weights(tiny_data, tmp_path, monkeypatch):
    train_cell(TINY_CELL, tiny_data, TINY_NET, TINY_TRAIN, checkpoint_dir=tmp_path / "whole")
    from netembed.train import trainer

    real_evaluate, calls = trainer.evaluate, []

    def crash_in_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(trainer, "evaluate", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        train_cell(TINY_CELL, tiny_data, TINY_NET, TINY_TRAIN, checkpoint_dir=tmp_path / "resumed")
    monkeypatch.setattr(trainer, "evaluate", real_evaluate)
    assert len(load_checkpoint(tmp_path / "resumed")[1]["history"]) == 1
    resumed = train_cell(TINY_CELL, tiny_data, TINY_NET, TINY_TRAIN, checkpoint_dir=tmp_path / "resumed")
    assert resumed.epochs == 2
    a, b = _weights(load_checkpoint(tmp_path / "whole")[0]), _weights(load_checkpoint(tmp_path / "resumed")[0])
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_resuming_refuses_a_different_run(tiny_data, tmp_path):
    train_cell(TINY_CELL, tiny_data, TINY_NET, TrainConfig(epochs=1), checkpoint_dir=tmp_path)
    with pytest.raises(DataError, match=r"must be of the same run to resume, got different train"):
        train_cell(TINY_CELL, tiny_data, TINY_NET, TrainConfig(epochs=1, seed=5), checkpoint_dir=tmp_path)
    other = Cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", C1, "output"])
    with pytest.raises(DataError, match=r"got different cell"):
        train_cell(other, tiny_data, TINY_NET, TrainConfig(epochs=1), checkpoint_dir=tmp_path)


def _checkpoint(tmp_path, tiny_data):
    train_cell(TINY_CELL, tiny_data, TINY_NET, TrainConfig(epochs=1), checkpoint_dir=tmp_path)
    return tmp_path / "checkpoint.json", tmp_path / "state.safetensors"


def test_checkpoint_errors(tiny_data, tmp_path):
    document, state = _checkpoint(tmp_path, tiny_data)
    raw = state.read_bytes()
    state.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="must have the sha256 recorded in checkpoint.json .* truncated"):
        load_checkpoint(tmp_path)
    state.write_bytes(np.random.default_rng(0).bytes(len(raw)))
    with pytest.raises(DataError, match="truncated, modified or replaced"):
        load_checkpoint(tmp_path)
    state.write_bytes(raw)
    text = document.read_text()
    document.write_text(text.replace('"schema_version": 1', '"schema_version": 99'))
    with pytest.raises(DataError, match="schema_version must be 1, got 99"):
        load_checkpoint(tmp_path)
    document.write_text("{not json")
    with pytest.raises(DataError, match="must be valid JSON"):
        load_checkpoint(tmp_path)
    document.unlink()
    with pytest.raises(DataError, match="must hold checkpoint.json"):
        load_checkpoint(tmp_path)


def test_checkpoint_with_wrong_shapes_is_refused(tiny_data, tmp_path):
    import json

    document, _ = _checkpoint(tmp_path, tiny_data)
    spec = json.loads(document.read_text())
    spec["network"]["stem_channels"] = 8  # the weights were trained with 4
    document.write_text(json.dumps(spec))
    with pytest.raises(DataError, match=r"state.safetensors: \S+ must have shape \(\d+.*\), got \(\d+"):
        load_checkpoint(tmp_path)


def _edit(path, change) -> None:
    import json

    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


def test_a_checkpoint_whose_cell_was_edited_is_refused_not_trained(tiny_data, tmp_path):
    """An edge added to the saved matrix, its hash kept: the weights still fit, and the resumed run
    used to train (and report) another cell than the one asked for."""
    document, _ = _checkpoint(tmp_path, tiny_data)
    _edit(document, lambda d: d["cell"]["matrix"][1].__setitem__(2, 1))
    message = r"checkpoint.json: cell.hash must be the hash of its matrix and ops \(\w+\), got '7c65f6bd"
    with pytest.raises(DataError, match=message):
        load_checkpoint(tmp_path)
    with pytest.raises(DataError, match=message):
        train_cell(TINY_CELL, tiny_data, TINY_NET, TrainConfig(epochs=1), checkpoint_dir=tmp_path)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda d: d["history"][0].update(test_accuracy=1.5),
            r"history\[0\].test_accuracy must be a number in \[0, 1\], got 1.5",
        ),
        (
            lambda d: d["history"][0].update(loss=float("nan")),
            r"history\[0\].loss must be a number in \[0, inf\), got nan",
        ),
        (lambda d: d["history"][0].update(seconds=-1), r"history\[0\].seconds must be a number in \[0, inf\), got -1"),
        (lambda d: d["history"][0].update(epoch=2), r"history\[0\].epoch must be one of 1, got 2"),
        (
            lambda d: d["history"][0].pop("seconds"),
            r"history\[0\] must have the fields epoch, loss, test_accuracy, seconds",
        ),
        (lambda d: d["history"].append(d["history"][0]), "history must hold at most train.epochs = 1 epochs, got 2"),
        (lambda d: d.update(history={}), "history must be a list, got dict"),
        (
            lambda d: d["train"].update(epochs=10**12),
            r"TrainConfig.epochs must be an integer in 1..1000000, got 10+\)$",
        ),
        (
            lambda d: d["network"].update(stem_channels=True),
            "NetworkConfig.stem_channels must be an integer in 1..4096, got True",
        ),
        (lambda d: d.update(data=3), "checkpoint.json: data must be a str, got 3"),
    ],
)
def test_a_checkpoint_with_settings_or_history_out_of_range_is_refused(tiny_data, tmp_path, change, message):
    """What a finished run reports comes from its history: an accuracy of 1.5 used to be reported as is."""
    document, _ = _checkpoint(tmp_path, tiny_data)
    _edit(document, change)
    with pytest.raises(DataError, match=message):
        train_cell(TINY_CELL, tiny_data, TINY_NET, TrainConfig(epochs=1), checkpoint_dir=tmp_path)


def _rewrite_state(document, state, change) -> None:
    """Change the state's tensors and record the new sha256, as a deliberate edit would."""
    import hashlib

    from safetensors.torch import load, save

    tensors = load(state.read_bytes())
    change(tensors)
    data = save(tensors)
    state.write_bytes(data)
    _edit(document, lambda d: d.update(state_sha256=hashlib.sha256(data).hexdigest()))


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda t: t.update({"model.stem.0.weight": t["model.stem.0.weight"].to(torch.int64)}),
            r"state.safetensors: stem.0.weight must have dtype float32, got int64",
        ),
        (
            lambda t: t["optimizer.0.momentum_buffer"].fill_(float("nan")),
            r"optimizer.0.momentum_buffer must hold finite values, got \d+ NaN or infinite",
        ),
        (
            lambda t: t.update({"optimizer.0.momentum_buffer": torch.zeros(3)}),
            r"momentum_buffer must have its parameter's shape \(4, 1, 3, 3\) and dtype float32, got \(3,\) float32",
        ),
        (
            lambda t: t.update({"optimizer.999.momentum_buffer": torch.zeros(3)}),
            r"optimizer.999.momentum_buffer must be a network tensor or optimizer.<parameter>.momentum_buffer",
        ),
    ],
)
def test_a_checkpoint_state_edited_under_a_new_sha256_is_refused(tiny_data, tmp_path, change, message):
    document, state = _checkpoint(tmp_path, tiny_data)
    _rewrite_state(document, state, change)
    with pytest.raises(DataError, match=message):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: digits(train_size=5), "train_size must be an integer in [10, 1697], got 5"),
        (lambda: digits(label_noise=1.0), "label_noise must be in [0, 1), got 1.0"),
        (
            lambda: load_npz("/no/such/file.npz"),
            "image data must be an .npz file, got '/no/such/file.npz': no such file",
        ),
    ],
)
def test_data_mistakes(call, message):
    with pytest.raises(DataError) as info:
        call()
    assert message in str(info.value)


def test_npz_images_and_their_mistakes(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.random((40, 8, 8)),
        "train_labels": rng.integers(0, 3, 40),
        "test_images": rng.random((20, 8, 8)),
        "test_labels": rng.integers(0, 3, 20),
    }
    np.savez(tmp_path / "ok.npz", **arrays)
    data = load_npz(tmp_path / "ok.npz")
    assert (data.in_channels, data.image_size, data.num_classes) == (1, 8, 3)
    assert abs(float(data.train_images.mean())) < 1e-5  # normalised by the training split
    np.savez(tmp_path / "partial.npz", train_images=arrays["train_images"])
    with pytest.raises(DataError, match=r"must hold the arrays .* missing \['train_labels'"):
        load_npz(tmp_path / "partial.npz")
    np.savez(tmp_path / "bad.npz", **(arrays | {"test_labels": arrays["test_labels"][:5]}))
    with pytest.raises(DataError, match=r"test labels must have shape \(20,\), got \(5,\)"):
        load_npz(tmp_path / "bad.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="is not a readable NumPy .npz archive"):
        load_npz(tmp_path / "junk.npz")


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0.0, 1.0, 2.0, 1.0]), None),  # whole numbers stored as floats are class indices
        (np.array([0.0, 1.5, 2.0, 1.0]), "train labels must be integer class indices in [0, 999], got 1.5"),
        (np.array([0, 1, 10**9, 1]), "train labels must be integer class indices in [0, 999], got 1000000000"),
        (np.array([0.0, np.nan, 1.0, 1.0]), "train labels must be integer class indices in [0, 999], got nan"),
        (np.array(["a", "b", "a", "b"]), "train labels must be integer class indices in [0, 999], got dtype <U1"),
        (np.array([0, -1, 1, 1]), "train labels must be integer class indices in [0, 999], got -1"),
    ],
)
def test_npz_labels_are_small_class_indices(tmp_path, labels, message):
    """Labels were cast to int64: 1.5 became class 1, and 10**9 asked for a 10**9-way classifier."""
    arrays = {"train_images": np.ones((4, 8, 8)), "test_images": np.ones((2, 8, 8)), "test_labels": np.arange(2)}
    np.savez(tmp_path / "images.npz", train_labels=labels, **arrays)
    if message is None:
        assert load_npz(tmp_path / "images.npz").train_labels.tolist() == [0, 1, 2, 1]
        return
    with pytest.raises(DataError) as info:
        load_npz(tmp_path / "images.npz")
    assert str(info.value) == f"images: {message}"


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda path: path.write_bytes(b""), "is not a readable NumPy .npz archive"),  # was an EOFError
        (
            lambda path: np.savez(path, **dict.fromkeys(("train_images", "test_images"), np.array([["a"]])),
                                  train_labels=np.arange(1), test_labels=np.arange(1)),
            "train images must be numbers, got dtype <U1",
        ),  # was a TypeError
        (
            lambda path: np.savez(path, **dict.fromkeys(("train_images", "test_images"), np.ones(3)),
                                  train_labels=np.arange(3), test_labels=np.arange(3)),
            "train images must have shape (N, C, H, H), got (3,)",
        ),  # was an IndexError, in the normalisation
    ],
)  # fmt: skip
def test_npz_images_that_cannot_be_used_are_named(tmp_path, write, message):
    write(tmp_path / "images.npz")
    with pytest.raises(DataError) as info:
        load_npz(tmp_path / "images.npz")
    assert message in str(info.value)


def test_a_cell_needs_a_stem_channel_per_vertex_feeding_its_output():
    """A vertex with 0 channels made torch fail at the first convolution."""
    from netembed.train.network import min_stem_channels

    three = Cell(
        [[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5], ["input", C3, C1, MP, "output"]
    )
    assert (min_stem_channels(three), min_stem_channels(TINY_CELL), min_stem_channels()) == (3, 2, 5)
    config = NetworkConfig(stem_channels=2, num_stacks=1, cells_per_stack=1, in_channels=1, image_size=8)
    with pytest.raises(ValueError, match=f"stem_channels must be at least 3 for cell {three.hash} .*, got 2"):
        build_network(three, config)
    build_network(TINY_CELL, config)


def test_network_must_fit_the_data(tiny_data):
    with pytest.raises(DataError, match="network in_channels must match the data's 1 channels, got 3"):
        train_cell(
            TINY_CELL,
            tiny_data,
            NetworkConfig(stem_channels=4, num_stacks=2, cells_per_stack=1, image_size=8),
            TINY_TRAIN,
        )


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"epochs": 0}, "TrainConfig.epochs must be an integer in 1..1000000, got 0"),
        ({"batch_size": "64"}, "TrainConfig.batch_size must be an integer in 1..1048576, got '64'"),
        ({"learning_rate": float("nan")}, "TrainConfig.learning_rate must be a number in (0, 10), got nan"),
        ({"learning_rate": 0}, "TrainConfig.learning_rate must be a number in (0, 10), got 0"),
        ({"momentum": True}, "TrainConfig.momentum must be a number in [0, 1), got True"),
        ({"seed": -1}, "TrainConfig.seed must be an integer in 0..4294967295, got -1"),
    ],
)
def test_train_config_mistakes(changes, message):
    with pytest.raises(ValueError) as info:
        TrainConfig(**changes)
    assert message in str(info.value)


# -- Net2Net --------------------------------------------------------------------------------------


def _trained_looking(cell: Cell, seed: int):
    """A network whose batch norms hold non-trivial statistics and affine weights, in eval mode."""
    torch.manual_seed(seed)
    network = build_network(
        cell, NetworkConfig(stem_channels=8, num_stacks=2, cells_per_stack=1, in_channels=1, image_size=8)
    )
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return network.eval()


def test_function_preserving_moves_keep_the_outputs(rng):
    """Every move flagged function-preserving gives the parent's outputs before any training,
    for every neighbour of 12 random cells; each of the three kinds occurs."""
    images = torch.randn(6, 1, 8, 8)
    preserved, other = set(), set()
    for row in rng.choice(space.NUM_CELLS, 12, replace=False):
        parent = _trained_looking(space.cell_at(int(row)), int(row))
        expected = parent(images)
        for neighbor in neighbors(parent.cell):
            child = inherit(parent, neighbor.action)
            assert child.network.cell == neighbor.cell
            if child.function_preserving:
                preserved.add(neighbor.action.kind)
                assert torch.allclose(child.network(images), expected, atol=1e-5), neighbor.action
            else:
                other.add(neighbor.action.kind)
                assert child.reason and child.reason != "function-preserving"
    assert preserved == {"widen", "deepen", "add_edge"}
    assert {"narrow", "remove_vertex", "remove_edge", "move_edge"} <= other


def test_inherited_weights_are_the_parents():
    cell = Cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", C1, "output"])
    parent = _trained_looking(cell, 0)
    child = inherit(parent, Action("widen", vertex=1))
    assert child.function_preserving and child.network.cell.ops[1] == C3
    old = parent.cells[0].ops["1"][0].weight
    new = child.network.cells[0].ops["1"][0].weight
    assert torch.equal(new[:, :, 1, 1], old[:, :, 0, 0]) and new[:, :, 0, 0].abs().sum() == 0
    assert torch.equal(child.network.stem[0].weight, parent.stem[0].weight)
    assert torch.equal(child.network.classifier.weight, parent.classifier.weight)


def test_moves_that_cannot_preserve_say_why():
    cell = Cell([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", MP, "output"])
    parent = _trained_looking(cell, 0)
    widened = inherit(parent, Action("widen", vertex=1))
    assert not widened.function_preserving and "cannot compute a max-pool" in widened.reason
    deepened = inherit(parent, Action("deepen", edge=(1, 2), op=MP))
    assert not deepened.function_preserving and "not an identity" in deepened.reason
    with pytest.raises(IllegalTransformError, match="narrow: vertex 1 is already maxpool3x3"):
        inherit(parent, Action("narrow", vertex=1))
