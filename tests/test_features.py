import numpy as np
import pytest

from netembed import Cell
from netembed.spaces.nb101 import features, space

CONV3, CONV1, POOL = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"


def counts(cell: Cell) -> dict:
    return dict(zip(features.NAMES, features.raw_features([cell])[0].tolist()))


def test_features_of_a_hand_built_cell():
    # input -> conv3 -> conv1 -> output, input -> pool -> output, input -> output
    matrix = [[0, 1, 0, 1, 1], [0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    got = counts(Cell(matrix, ["input", CONV3, CONV1, POOL, "output"]))
    assert got == {
        "count_conv3x3": 1,
        "count_conv1x1": 1,
        "count_maxpool": 1,
        "edges": 6,
        "longest_path": 2,
        "longest_conv3x3_path": 1,
        "longest_conv1x1_path": 1,
        "longest_maxpool_path": 1,
        "output_inputs": 3,
        "input_outputs": 3,
        "input_to_output_edge": 1,
        "paths": 3,
        "conv3x3_into_output": 0,
        "conv1x1_into_output": 1,
        "maxpool_into_output": 1,
        "conv3x3_from_input": 1,
        "maxpool_from_input": 1,
        "paths_without_conv": 2,
        "paths_through_conv3x3": 1,
        "paths_through_maxpool": 1,
        "shortest_path": 0,
        "fewest_conv3x3_on_a_path": 0,
        "fewest_convs_on_a_path": 0,
        "conv3x3_on_paths": 1,
        "vertices_on_paths": 3,
    }
    # what models see: counts over their maxima, the sums over paths as means per path (over 5)
    seen = dict(
        zip(
            features.NAMES,
            features.inputs(features.raw_features([Cell(matrix, ["input", CONV3, CONV1, POOL, "output"])]))[0],
        )
    )
    assert seen["paths"] == pytest.approx(3 / 8) and seen["vertices_on_paths"] == pytest.approx(3 / 3 / 5)


def test_features_do_not_depend_on_the_vertex_order():
    # two parallel branches listed in either order: the same cell, the same features
    a = Cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", CONV3, POOL, "output"])
    b = Cell([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", POOL, CONV3, "output"])
    assert a == b and counts(a) == counts(b)


def test_cells_and_table_rows_agree_and_inputs_stay_in_the_unit_interval():
    rows = np.random.default_rng(0).choice(space.NUM_CELLS, 200, replace=False)
    arrays = space.space_arrays()
    from_rows = features.raw_features_arrays(arrays.adjacency[rows], arrays.ops[rows], arrays.num_vertices[rows])
    assert np.array_equal(features.raw_features([space.cell_at(int(r)) for r in rows]), from_rows)
    assert from_rows.shape == (200, len(features.NAMES)) and (from_rows <= features.MAXIMA).all()
    seen = features.inputs(from_rows)
    assert seen.dtype == np.float32 and seen.min() >= 0 and seen.max() <= 1


def test_the_distinct_table_covers_the_space():
    table = features.distinct_table()
    assert table["inputs"].shape == (features.NUM_DISTINCT, len(features.NAMES))
    assert table["row_index"].shape == (space.NUM_CELLS,)
    rows = np.random.default_rng(1).choice(space.NUM_CELLS, 100, replace=False)
    index = features.distinct_index_rows(rows)
    cells = [space.cell_at(int(r)) for r in rows]
    assert np.array_equal(features.distinct_index(cells), index)
    assert np.array_equal(table["inputs"][index], features.inputs(features.raw_features(cells)))


def test_a_structure_no_cell_of_the_space_has_is_refused(monkeypatch):
    monkeypatch.setattr(features, "inputs", lambda raw: np.full((len(raw), len(features.NAMES)), 2.0, np.float32))
    with pytest.raises(features.UnknownCellError, match="cells must be cells of the space"):
        features.distinct_index([space.cell_at(0)])


def test_the_feature_view_is_the_mean_of_its_forest_and_gaussian_process(monkeypatch):
    rows = np.random.default_rng(2).choice(space.NUM_CELLS, 160, replace=False)
    cells = [space.cell_at(int(r)) for r in rows]
    signal = features.raw_features(cells)[:, features.NAMES.index("count_conv3x3")].astype(float)
    train, test = slice(0, 120), slice(120, None)
    x_test = features.inputs(features.raw_features(cells[test]))
    views = {
        parts: features.FeatureView.fit(cells[train], signal[train], seed=0, parts=parts).predict(x_test)
        for parts in features.VIEWS
    }
    assert np.allclose(views["forest+gp"], (views["forest"] + views["gp"]) / 2)
    for parts, predicted in views.items():  # each part learns what the features show
        assert np.corrcoef(predicted, signal[test])[0, 1] > 0.9, parts
    assert np.allclose(
        features.FeatureView.fit(cells[train], signal[train], seed=0, parts="gp").predict(x_test, chunk=7), views["gp"]
    )  # predicting in chunks changes nothing
    monkeypatch.setattr(features.FeatureView, "GP_CELLS", 10)  # the GP sees at most GP_CELLS cells
    assert len(features.FeatureView.fit(cells[train], signal[train], seed=0, parts="gp").models[0].X_train_) == 10


def test_a_feature_view_of_unknown_parts_is_refused():
    with pytest.raises(ValueError, match="parts must be one of forest\\+gp, forest, gp, got 'trees'"):
        features.FeatureView.fit([space.cell_at(0), space.cell_at(1)], np.zeros(2), seed=0, parts="trees")
