import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from netembed import spaces
from netembed.errors import DataError, NetembedError
from netembed.models.graph import dense_cells
from netembed.models.predictors import AccuracyPredictor, LabelError, PredictorConfig, TimeEstimator
from netembed.spaces.nb101 import space

FAST = PredictorConfig(
    hidden=16, layers=2, embedding_dim=8, head_hidden=16, members=2, steps=150, batch_size=64, epochs=0
)


@pytest.fixture(scope="module")
def toy():
    """Cells labelled by a structural quantity the encoder can see: the number of conv3x3 vertices."""
    rows = np.random.default_rng(0).choice(space.NUM_CELLS, 300, replace=False)
    cells = [space.cell_at(int(r)) for r in rows]
    y = np.array([0.8 + 0.02 * c.ops.count("conv3x3-bn-relu") for c in cells])
    return cells, y


def test_fit_learns_a_structural_signal_and_predicts_mean_and_std(toy):
    cells, y = toy
    model = AccuracyPredictor(FAST).fit(cells[:200], y[:200])
    mean, std = model.predict(cells[200:])
    assert mean.shape == std.shape == (100,) and (std >= 0).all()
    assert kendalltau(mean, y[200:]).statistic > 0.5
    rows = np.array([space.index_of(c) for c in cells[200:]])
    fast_mean, fast_std = model.predict_rows(rows)
    assert np.allclose(fast_mean, mean, atol=1e-5) and np.allclose(fast_std, std, atol=1e-5)


def test_fit_is_seeded(toy):
    cells, y = toy
    a = AccuracyPredictor(FAST).fit(cells[:50], y[:50]).predict(cells[50:60])[0]
    b = AccuracyPredictor(FAST).fit(cells[:50], y[:50]).predict(cells[50:60])[0]
    assert np.array_equal(a, b)


def test_warm_start_from_the_pretrained_encoder(toy):
    cells, y = toy
    config = PredictorConfig(members=1, steps=1, epochs=0)
    model = AccuracyPredictor(config).fit(cells[:20], y[:20], init="encoder-nb101")
    from netembed.models.encoder import CellEncoder

    pretrained = CellEncoder.from_pretrained("encoder-nb101").state_dict()
    start = model.members[0].encoder.state_dict()
    # one small step away from the pretrained weights, far from a fresh initialisation
    assert all(np.allclose(start[k], pretrained[k], atol=0.05) for k in pretrained)
    with pytest.raises(DataError, match="no-such"):
        AccuracyPredictor(config).fit(cells[:20], y[:20], init="no-such")


def test_warm_start_from_a_predictor_of_the_same_shape(toy, tmp_path):
    """A label-free prior (as prior-nb101, which learned log parameter counts) hands over whole members."""
    cells, y = toy
    log_params = np.log([space.count_params(c) for c in cells[:100]])
    prior = AccuracyPredictor(replace(FAST, forest=0.0)).fit(cells[:100], log_params, calibrate=False)
    prior.save_pretrained(tmp_path / "prior")
    model = AccuracyPredictor(replace(FAST, members=3, steps=1, lr=1e-6)).fit(
        cells[:20], y[:20], init=tmp_path / "prior"
    )
    for index, member in enumerate(model.members):  # one tiny step from prior member index % 2
        start, now = prior.members[index % 2].state_dict(), member.state_dict()
        assert all(torch.allclose(now[k], start[k], atol=1e-4) for k in start)
    assert not torch.allclose(model.members[0].head[0].weight, model.members[1].head[0].weight)
    with pytest.raises(
        NetembedError, match=r"init must have this predictor's shape .*'head_hidden': 32.*got .*'head_hidden': 16"
    ):
        AccuracyPredictor(replace(FAST, head_hidden=32)).fit(cells[:20], y[:20], init=tmp_path / "prior")
    with pytest.raises(NetembedError, match=r"shape .*'readout': 'mean'}, got .*'readout': 'mean\+output'}"):
        AccuracyPredictor(replace(FAST, readout="mean")).fit(cells[:20], y[:20], init=tmp_path / "prior")


@pytest.mark.parametrize(
    "model_cls, other", [(AccuracyPredictor, "surrogate-nb101/time"), (TimeEstimator, "surrogate-nb101/accuracy")]
)
def test_a_warm_start_of_another_label_kind_is_refused_naming_both(toy, tmp_path, model_cls, other):
    cells, y = toy
    rule = f"--init for {model_cls.__name__} must be {model_cls.__name__}, CellEncoder, CellAutoencoder, got "
    with pytest.raises(NetembedError, match=rule):
        model_cls.shape_of(other)
    with pytest.raises(NetembedError, match=rule):
        model_cls(replace(FAST, steps=1, targets="raw")).fit(cells[:20], y[:20] + 1, init=other)


def test_the_shipped_prior_is_label_free_fits_the_default_shape_and_knows_parameter_counts():
    from netembed.models import hub

    meta = hub.read_config(hub.resolve("prior-nb101"))["meta"]
    assert meta["target"] == "params" and "data_sha256" not in meta and meta["space_sha256"] == space.space_checksum()
    prior = AccuracyPredictor.from_pretrained("prior-nb101")
    assert AccuracyPredictor._shape(prior.config) == AccuracyPredictor._shape(PredictorConfig())
    cells = [space.cell_at(int(r)) for r in np.random.default_rng(3).choice(space.NUM_CELLS, 50, replace=False)]
    predicted, truth = prior.predict(cells)[0], np.log([space.count_params(c) for c in cells])
    assert np.median(np.abs(predicted - truth)) < 0.02 and kendalltau(predicted, truth).statistic > 0.95


def test_time_estimator_predicts_positive_seconds_from_structure_and_params(toy):
    cells, _ = toy
    seconds = np.array([space.count_params(c) / 1e4 for c in cells])  # a time that follows size
    model = TimeEstimator(replace(FAST, targets="raw")).fit(cells[:200], seconds[:200])
    mean, _std = model.predict(cells[200:])
    assert (mean > 0).all() and kendalltau(mean, seconds[200:]).statistic > 0.8
    with pytest.raises(LabelError, match="positive seconds, got 0.0"):
        TimeEstimator(replace(FAST, targets="raw")).fit(cells[:3], [1.0, 0.0, 2.0])
    with pytest.raises(
        ValueError, match="TimeEstimator learns log-seconds: PredictorConfig.targets must be 'raw', got 'normal'"
    ):
        TimeEstimator(FAST)


def test_save_and_load_round_trip(toy, tmp_path):
    cells, y = toy
    model = AccuracyPredictor(FAST).fit(cells[:40], y[:40])
    model.save_pretrained(tmp_path / "acc", meta={"train_size": 40})
    loaded = AccuracyPredictor.from_pretrained(tmp_path / "acc")
    assert np.array_equal(loaded.predict(cells[40:50])[0], model.predict(cells[40:50])[0])
    with pytest.raises(DataError, match="TimeEstimator"):
        TimeEstimator.from_pretrained(tmp_path / "acc")


@pytest.mark.parametrize(
    "labels, message",
    [
        ([0.9, float("nan"), 0.8], "finite and non-negative, got nan at position 1"),
        ([0.9, float("inf"), 0.8], "got inf at position 1"),
        ([0.9, -0.1, 0.8], "got -0.1 at position 1"),
        ([0.9, 0.8], "same length, got 3 cells and 2 labels"),
        ([[0.9], [0.8], [0.7]], r"one number per cell, got shape \(3, 1\)"),
    ],
)
def test_bad_labels_are_refused(toy, labels, message):
    cells, _ = toy
    with pytest.raises(LabelError, match=message):
        AccuracyPredictor(FAST).fit(cells[:3], labels)


def test_too_few_or_wrong_inputs(toy):
    cells, _ = toy
    with pytest.raises(LabelError, match="at least 2 labelled cells, got 1"):
        AccuracyPredictor(FAST).fit(cells[:1], [0.9])
    with pytest.raises(LabelError, match="must be Cell objects \\(nb101\\), got a dict"):
        AccuracyPredictor(FAST).fit([cells[0], {"matrix": []}], [0.9, 0.8])


@pytest.mark.parametrize(
    "field, value, rule",
    [
        ("members", 0, "an integer in 1..100"),
        ("lr", -1.0, "a number in (0, 10]"),
        ("ranking_weight", -0.5, "a number in [0, 1000]"),
        ("hidden", 1e12, "an integer in 1..4096"),  # would allocate terabytes
        ("hidden", 10**12, "an integer in 1..4096"),
        ("hidden", True, "an integer in 1..4096"),  # a bool is an int to Python, not to a config
        ("hidden", 32.5, "an integer in 1..4096"),
        ("steps", float("inf"), "an integer in 1..10000000"),
        ("weight_decay", float("nan"), "a number in [0, 10]"),
        ("seed", -1, "an integer in 0..4294967295"),
    ],
)
def test_config_validation(field, value, rule):
    with pytest.raises(ValueError) as info:
        PredictorConfig(**{field: value})
    assert str(info.value) == f"PredictorConfig.{field} must be {rule}, got {value!r}"


def test_the_shipped_surrogates_load_and_predict_in_range():
    from netembed.models.predictors import AccuracyPredictor, TimeEstimator

    cells = [space.random_cell(np.random.default_rng(seed)) for seed in range(20)]
    accuracy, spread = AccuracyPredictor.from_pretrained("surrogate-nb101/accuracy").predict(cells)
    seconds, _ = TimeEstimator.from_pretrained("surrogate-nb101/time").predict(cells)
    assert np.all((accuracy > 0.5) & (accuracy < 1.0)) and np.all(spread >= 0)
    assert np.all((seconds > 200) & (seconds < 6000))  # the table's times span 284..5,411 s


def test_training_length_grows_with_the_training_set():
    config = PredictorConfig(steps=1500, batch_size=128, epochs=200)
    assert config.training_steps(100) == 1500  # 200 passes of 100 cells are fewer steps
    assert config.training_steps(4236) == 6619  # ceil(200 * 4236 / 128)
    assert replace(config, epochs=0).training_steps(4236) == 1500


def test_forest_weight_falls_from_its_setting_at_100_cells_to_zero_at_10000():
    config = PredictorConfig(forest=0.5)
    weights = [config.forest_weight(n) for n in (10, 100, 172, 424, 1000, 4236, 10_000, 400_000)]
    assert weights[:2] == [0.5, 0.5] and weights[-2:] == [0.0, 0.0] and weights[4] == pytest.approx(0.25)
    assert all(a >= b for a, b in itertools.pairwise(weights))
    assert PredictorConfig(forest=0.0).forest_weight(100) == 0.0


@pytest.mark.parametrize(
    "field, value, rule",
    [
        ("forest", 1.5, r"a number in \[0, 1\]"),
        ("forest", -0.1, r"a number in \[0, 1\]"),
        ("epochs", -1, r"an integer in 0..1000000"),
        ("view", "trees", r"one of forest\+gp, forest, gp"),
        ("readout", "sum", r"one of mean\+output, mean"),
    ],
)
def test_bad_training_settings_are_refused(field, value, rule):
    with pytest.raises(ValueError, match=f"PredictorConfig.{field} must be {rule}, got '?{value}"):
        PredictorConfig(**{field: value})


def test_predictors_saved_before_a_field_existed_still_load_as_they_were_trained(tmp_path):
    import json
    import shutil

    from netembed.models import hub

    for name, model_cls in (("surrogate-nb101/time", TimeEstimator), ("prior-nb101", AccuracyPredictor)):
        old = tmp_path / name
        shutil.copytree(hub.resolve(name), old)
        document = json.loads((old / "config.json").read_text())
        saved = document["config"]
        added = hub.UPGRADES[1]["PredictorConfig"]
        for field in added:  # as a schema-1 config saved before these fields existed
            if saved[field] == added[field]:
                del saved[field]
        (old / "config.json").write_text(json.dumps(document))
        assert model_cls.from_pretrained(old).config == model_cls.from_pretrained(name).config
    assert "readout" not in json.loads((tmp_path / "surrogate-nb101/time/config.json").read_text())["config"]


def _edited_copy(tmp_path, name: str, config: dict | None = None, weights=None):
    """A copy of the shipped model ``name`` with config fields replaced, or weights rewritten, and
    its sha256 rewritten to match: the edit the hash beside the weights cannot detect."""
    import hashlib
    import json
    import shutil

    from safetensors.torch import load, save

    from netembed.models import hub

    folder = tmp_path / name.replace("/", "-")
    shutil.copytree(hub.resolve(name), folder)
    document = json.loads((folder / "config.json").read_text())
    document["config"].update(config or {})
    if weights is not None:
        data = save({key: weights(value) for key, value in load((folder / "model.safetensors").read_bytes()).items()})
        (folder / "model.safetensors").write_bytes(data)
        document["weights_sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "config.json").write_text(json.dumps(document))
    return folder


def test_an_int64_surrogate_is_refused_instead_of_predicting_zero(tmp_path):
    folder = _edited_copy(tmp_path, "surrogate-nb101/time", weights=lambda tensor: tensor.to(torch.int64))
    with pytest.raises(DataError, match=r"model.safetensors: calibration must have dtype float32, got int64$"):
        TimeEstimator.from_pretrained(folder)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"hidden": True}, "PredictorConfig.hidden must be an integer in 1..4096, got True"),
        ({"hidden": 32.5}, "PredictorConfig.hidden must be an integer in 1..4096, got 32.5"),
        ({"hidden": 1e12}, "PredictorConfig.hidden must be an integer in 1..4096, got 1000000000000.0"),
        ({"hidden": 10**12}, "PredictorConfig.hidden must be an integer in 1..4096, got 1000000000000"),
        ({"targets": "normal"}, "TimeEstimator learns log-seconds: PredictorConfig.targets must be 'raw'"),
    ],
)
def test_an_edited_config_is_one_data_error_before_anything_is_allocated(tmp_path, fields, message):
    folder = _edited_copy(tmp_path, "surrogate-nb101/time", config=fields)
    with pytest.raises(DataError) as info:
        TimeEstimator.from_pretrained(folder)
    assert f"config must be a valid PredictorConfig for TimeEstimator ({message}" in str(info.value)


def test_the_head_sees_the_embedding_and_the_output_vertex_latent(toy):
    """``readout="mean+output"``: the head's input is the mean of the vertex latents and the latent
    of the output vertex, here found independently on the sparse path by its op type."""
    from netembed.models.graph import cells_to_batch

    cells, _ = toy
    member = AccuracyPredictor(FAST).members[0].eval()
    batch = cells_to_batch(cells[:30])
    latents, _ = member.encoder.vertex_latents(batch)
    outputs = batch.x[:, spaces.get("nb101").node_types.index("output")] == 1
    seen = torch.cat([member.encoder(batch), latents[outputs], torch.zeros(30, 0)], dim=1)
    with torch.no_grad():
        assert torch.allclose(
            member(dense_cells(cells[:30]), torch.zeros(30, 0)), member.head(seen).squeeze(-1), atol=1e-5
        )
    mean_only = AccuracyPredictor(replace(FAST, readout="mean")).members[0]
    assert mean_only.head[0].in_features == FAST.embedding_dim == member.head[0].in_features // 2


def test_the_feature_view_is_blended_into_the_mean_and_survives_saving(toy, tmp_path):
    cells, y = toy
    model = AccuracyPredictor(replace(FAST, forest=0.5)).fit(cells[:150], y[:150])
    weight = float(model.forest_weight)
    assert weight == pytest.approx(model.config.forest_weight(150)) and weight > 0
    blended, std = model.predict(cells[150:])
    model.forest_weight.fill_(0.0)
    members, members_std = model.predict(cells[150:])
    model.forest_weight.fill_(weight)
    from netembed.spaces.nb101 import features

    table = model.forest_table.double() * model.target_std.double() + model.target_mean.double()
    forest = model._from_target(table.numpy()[features.distinct_index(cells[150:])])  # normal scores -> labels
    assert np.allclose(blended, (1 - weight) * members + weight * forest, atol=1e-6)
    assert np.array_equal(std, members_std)  # the spread is the GNN members'
    assert kendalltau(forest, y[150:]).statistic > 0.5  # the view sees the conv3x3 count too
    rows = np.array([space.index_of(c) for c in cells[150:]])
    assert np.allclose(model.predict_rows(rows)[0], blended, atol=1e-5)
    model.save_pretrained(tmp_path / "m")
    loaded = AccuracyPredictor.from_pretrained(tmp_path / "m")
    assert np.allclose(loaded.predict(cells[150:])[0], blended, atol=1e-6)


def test_no_forest_no_forest_tensors_and_raw_scores_refuse_one(toy):
    cells, y = toy
    assert "forest_table" not in AccuracyPredictor(replace(FAST, forest=0.0)).state_dict()
    with pytest.raises(ValueError, match="calibrate=False keeps raw scores.*forest=0, got 0.5"):
        AccuracyPredictor(replace(FAST, forest=0.5)).fit(cells[:20], y[:20], calibrate=False)


def test_the_time_estimator_trains_exactly_its_steps_on_squared_error_without_a_forest(toy, monkeypatch):
    """What a default ``TimeEstimator`` does in a fit (docs/design.md): exactly ``steps`` steps
    however many cells (no passes rule), squared error only (the ranking loss does not move it),
    raw targets (log-seconds), no second view, and heads that see the embedding alone (and the
    log parameter count). Only its sizes are shrunk here; everything else is the default's."""
    from netembed.models import predictors
    from netembed.spaces.nb101 import features

    assert TimeEstimator().config.training_steps(15_000) == PredictorConfig().steps  # 1,500 on the README's 15,000
    cells, _ = toy
    seconds = np.array([300.0 * (1 + c.ops.count("conv3x3-bn-relu")) for c in cells])
    sizes = {"hidden": 8, "layers": 1, "embedding_dim": 4, "head_hidden": 8, "members": 1, "steps": 7, "batch_size": 8}
    config = replace(TimeEstimator().config, **sizes)
    monkeypatch.setattr(features.FeatureView, "fit", lambda *a, **k: pytest.fail("the time estimator fit a forest"))
    ranking_loss, calls = predictors._ranking_loss, []

    def fit(pull: float) -> TimeEstimator:
        """A fit whose ranking loss is replaced by one that pulls every score up by ``pull``."""

        def spy(scores, targets):
            calls.append(len(scores))
            assert len(calls) <= config.steps, "trained more than its steps (a passes rule?)"
            return ranking_loss(scores, targets) - pull * scores.mean()

        monkeypatch.setattr(predictors, "_ranking_loss", spy)
        calls.clear()
        model = TimeEstimator(config).fit(cells, seconds)
        assert len(calls) == config.steps  # 7 steps on 300 cells in batches of 8: no passes rule
        return model

    plain, pulled = fit(0.0), fit(1e3)
    assert np.array_equal(plain.predict(cells)[0], pulled.predict(cells)[0])  # squared error only
    state = plain.state_dict()
    assert "forest_table" not in state and "target_knots" not in state  # no second view, raw targets
    assert float(plain.target_mean) == pytest.approx(np.log(seconds).mean(), rel=1e-6)  # it learns log-seconds
    assert plain.members[0].head[0].in_features == config.embedding_dim + 1  # the embedding and log parameters


def test_normal_score_targets_map_back_to_labels_in_order_even_beyond_the_training_range(toy):
    cells, y = toy
    rng = np.random.default_rng(0)
    y = np.round(y + rng.normal(0, 0.01, len(y)), 3)  # ties, as accuracies in steps of 1e-4 have
    y[:5] = [0.10, 0.12, 0.09, 0.11, 0.10]  # a few very poor cells, as the table has
    model = AccuracyPredictor(replace(FAST, forest=0.0)).fit(cells[:200], y[:200])
    target = model._to_target(y[:200])
    from scipy.stats import norm

    # centred and bounded by the normal score of the outermost rank: the poor cells weigh no more than others
    assert abs(target.mean()) < 0.01 and np.abs(target).max() <= norm.ppf(1 - 0.5 / 200) + 1e-9
    assert kendalltau(target, y[:200]).statistic == pytest.approx(1.0)
    back = model._from_target(target)  # the knots return training labels close to themselves
    assert np.median(np.abs(back - y[:200])) < 0.002
    scores = np.linspace(-6, 6, 1001)  # far beyond the training range, still strictly increasing
    assert (np.diff(model._from_target(scores)) > 0).all()
    mean, _ = model.predict(cells[200:])
    assert kendalltau(mean, y[200:]).statistic > 0.4 and 0.05 < np.median(mean) < 1.0
    assert "target_knots" not in AccuracyPredictor(replace(FAST, targets="raw")).state_dict()
    with pytest.raises(ValueError, match="PredictorConfig.targets must be one of normal, raw, got 'rank'"):
        PredictorConfig(targets="rank")


def test_a_fit_whose_weights_become_nan_stops_with_one_error(monkeypatch):
    from netembed.errors import DivergedError

    step = torch.optim.AdamW.step

    def poisoned(optimizer, *args, **kwargs):  # what a far too large step does to the weights
        result = step(optimizer, *args, **kwargs)
        with torch.no_grad():
            optimizer.param_groups[0]["params"][0].fill_(float("nan"))
        return result

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoned)
    cells = [space.cell_at(i) for i in range(10)]
    model = AccuracyPredictor(PredictorConfig(members=1, steps=2, epochs=0, forest=0.0))
    with pytest.raises(DivergedError, match="training diverged: member 0's weights became NaN or infinite"):
        model.fit(cells, np.linspace(0.8, 0.9, 10))
