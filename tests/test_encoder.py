import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings

from netembed import Cell, spaces
from netembed.models.encoder import CellEncoder, EncoderConfig
from netembed.models.graph import cell_to_data, dense_arrays, dense_cells, node_features
from netembed.spaces.nb101 import space

NODE_TYPES = spaces.get("nb101").node_types

from .strategies import rewritten_cells


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    return CellEncoder(EncoderConfig()).eval()


def test_cell_to_data_marks_ops_and_follows_edges():
    cell = Cell(
        [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", "conv1x1-bn-relu", "maxpool3x3", "output"]
    )
    data = cell_to_data(cell)
    assert data.num_nodes == 4 and data.x.shape == (4, node_features())
    assert data.x[:, : len(NODE_TYPES)].argmax(1).tolist() == [0, 2, 3, 4]
    assert data.x[:, len(NODE_TYPES) :].argmax(1).tolist() == [0, 1, 2, 3] and data.x.sum().item() == 8
    assert sorted(map(tuple, data.edge_index.T.tolist())) == [(0, 1), (0, 2), (1, 3), (2, 3)]
    dense = dense_cells([cell])
    assert dense.mask.tolist() == [[True] * 4 + [False] * 3]
    assert torch.equal(dense.x[0, :4], data.x) and dense.x[0, 4:].sum() == 0
    assert dense.adjacency[0].sum() == 4


def test_dense_and_sparse_paths_agree(encoder):
    batch = [space.cell_at(i) for i in range(0, 400_000, 1000)]
    dense = encoder.embed(batch)
    sparse = encoder.embed(batch, sparse=True)
    assert dense.shape == (len(batch), 16)
    assert torch.allclose(dense, sparse, atol=1e-5)


def test_batched_and_one_by_one_agree(encoder):
    batch = [space.cell_at(i) for i in range(5, 400_000, 20_000)]
    together = encoder.embed(batch)
    alone = torch.cat([encoder.embed([c]) for c in batch])
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.allclose(encoder.embed(batch, batch_size=3), together, atol=1e-5)


def test_embed_arrays_matches_embed(encoder, arrays):
    rows = np.arange(100, 400)
    from_arrays = encoder.embed_arrays(arrays.adjacency[rows], arrays.ops[rows], batch_size=64)
    assert torch.allclose(from_arrays, encoder.embed([space.cell_at(int(r)) for r in rows]), atol=1e-5)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(rewritten_cells())
def test_isomorphic_cells_embed_identically(encoder, pair):
    """Every example is the same cell written in another valid vertex order (never discarded)."""
    cell, rewritten = pair
    assert rewritten == cell and rewritten.hash == cell.hash
    assert not np.array_equal(rewritten.matrix, cell.matrix) or rewritten.ops != cell.ops  # written differently
    for sparse in (False, True):
        assert torch.allclose(encoder.embed([rewritten], sparse=sparse), encoder.embed([cell]), atol=1e-5)


def test_different_cells_embed_differently(encoder):
    batch = [space.cell_at(i) for i in range(300)]
    embeddings = encoder.embed(batch)
    assert len(torch.unique(embeddings.round(decimals=5), dim=0)) == len(batch)


def test_padding_never_leaks_into_embeddings(encoder, arrays):
    rows = np.flatnonzero(arrays.num_vertices < 7)[:50]
    dense = dense_arrays(arrays.adjacency[rows], arrays.ops[rows])
    mu, _ = encoder.vertex_latents(dense)
    assert torch.all(mu[~dense.mask] == 0)


def test_reset_parameters_changes_weights_and_keeps_shapes():
    encoder = CellEncoder(EncoderConfig(hidden=8, layers=2, embedding_dim=4))
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    encoder.reset_parameters()
    after = encoder.state_dict()
    assert before.keys() == after.keys() and all(before[k].shape == after[k].shape for k in before)
    assert any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("hidden", 0, "EncoderConfig.hidden must be an integer in 1..4096, got 0"),
        ("hidden", 1e12, "EncoderConfig.hidden must be an integer in 1..4096, got 1000000000000.0"),
        ("hidden", 10**12, "EncoderConfig.hidden must be an integer in 1..4096, got 1000000000000"),
        ("hidden", True, "EncoderConfig.hidden must be an integer in 1..4096, got True"),
        ("layers", -1, "EncoderConfig.layers must be an integer in 1..32, got -1"),
        ("embedding_dim", 2.5, "EncoderConfig.embedding_dim must be an integer in 1..4096, got 2.5"),
        ("variational", 1, "EncoderConfig.variational must be true or false, got 1"),
    ],
)
def test_config_validation(field, value, message):
    """Type and range, before anything is allocated (1e12 hidden units would ask for terabytes)."""
    with pytest.raises(ValueError) as info:
        EncoderConfig(**{field: value})
    assert str(info.value) == message


def test_empty_input_gives_an_empty_batch(encoder):
    assert encoder.embed([]).shape == (0, 16)


def test_nan_weights_are_one_error_not_invalid_json(tmp_path, capsys):
    """NaN weights whose sha256 was rewritten used to load, and ``embed --format json`` printed a bare NaN."""
    import hashlib
    import json
    import shutil

    from safetensors.torch import load, save

    from netembed.cli import main
    from netembed.models import hub

    folder = tmp_path / "encoder"
    shutil.copytree(hub.resolve("encoder-nb101"), folder)
    tensors = load((folder / "model.safetensors").read_bytes())
    tensors["encoder.mu.bias"][0] = float("nan")
    data = save(tensors)
    (folder / "model.safetensors").write_bytes(data)
    document = json.loads((folder / "config.json").read_text())
    document["weights_sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "config.json").write_text(json.dumps(document))
    cell = space.cell_at(0)
    cells = json.dumps([{"matrix": cell.matrix.tolist(), "ops": list(cell.ops)}])
    code = main(["embed", cells, "--model", str(folder), "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "model.safetensors: encoder.mu.bias must hold finite values, got 1 NaN or infinite of 16" in err
