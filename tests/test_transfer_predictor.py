"""A predictor of a new data set from few labels, started from a predictor of another
(``PredictorConfig.for_transfer``): it keeps the source's members beside the fine-tuned ones;
``train-predictor`` picks it for such an ``--init`` and learns a user's own accuracies; the
predictor benchmark measures it only on labels its source has not seen. Synthetic tables."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from netembed import spaces
from netembed.errors import NetembedError
from netembed.models.predictors import TRANSFER_TRAINING, AccuracyPredictor, PredictorConfig

from .test_spaces import synthetic_table

NB201 = spaces.get("nb201")
ARCHS = NB201.enumerate()[::50]  # 313 architectures


def convs(arch) -> float:
    return 0.5 + arch.ops.count("nor_conv_3x3") / 20


def pools(arch) -> float:  # another data set: pools help too
    return convs(arch) + arch.ops.count("avg_pool_3x3") / 40


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A one-member CIFAR-10-like predictor saved with its card's target, as train-predictor saves one."""
    config = PredictorConfig(space="nb201", members=1, steps=30, epochs=0, forest=0.0)
    model = AccuracyPredictor(config).fit(ARCHS, [convs(a) for a in ARCHS])
    return model.save_pretrained(tmp_path_factory.mktemp("source") / "src", {"target": "cifar10_val"})


def transfer(source, labelled: int, **fields) -> AccuracyPredictor:
    config = PredictorConfig.for_transfer(
        **AccuracyPredictor.shape_of(source), space="nb201", members=1, steps=5, **fields
    )
    archs = ARCHS[:labelled]
    return AccuracyPredictor(config).fit(archs, [pools(a) for a in archs], init=source)


def test_a_transfer_keeps_the_sources_members_worth_source_labels_beside_the_fine_tuned_ones(source, tmp_path):
    model = transfer(source, 20)
    kept, tuned = model.members[1], model.members[0]
    original = AccuracyPredictor.from_pretrained(source)
    assert all(torch.equal(a, b) for a, b in zip(kept.state_dict().values(), original.members[0].state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), kept.state_dict().values()))
    # the source is worth source_labels * sin^2(pi tau / 2), tau its Kendall tau with the 20 labels
    tau = kendalltau(original.predict(ARCHS[:20])[0], [pools(a) for a in ARCHS[:20]]).statistic
    worth = TRANSFER_TRAINING["source_labels"] * np.sin(np.pi / 2 * tau) ** 2
    share = worth / (worth + 20)
    assert 0 < tau < 1 and model.member_weight.tolist() == pytest.approx([1 - share, share])
    # all the weight on the kept member: the source's order exactly (its scores mapped by a line)
    model.member_weight.copy_(torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert kendalltau(model.predict(ARCHS)[0], original.predict(ARCHS)[0]).statistic == pytest.approx(1.0)
    # on the labels' scale, not the source's: its line was fitted on the new labels
    model.member_weight.copy_(torch.tensor([1 - share, share], dtype=torch.float64))
    mean, std = model.predict(ARCHS)
    assert abs(mean.mean() - np.mean([pools(a) for a in ARCHS])) < 0.05 and (std >= 0).all()
    again = AccuracyPredictor.from_pretrained(model.save_pretrained(tmp_path / "warm"))
    assert np.array_equal(again.predict(ARCHS)[0], mean)


def test_more_labels_and_less_agreement_weigh_the_source_less():
    config = PredictorConfig.for_transfer(space="nb201")
    assert config.source_weight(20) > config.source_weight(500) > 0
    assert config.source_weight(20, agreement=0.9) > config.source_weight(20, agreement=0.2) > 0
    assert config.source_weight(20, agreement=0.0) == config.source_weight(20, agreement=-0.4) == 0.0
    fixed = PredictorConfig.for_transfer(space="nb201", source_agreement=False)
    assert fixed.source_weight(20, agreement=0.1) == fixed.source_weight(20) == 100 / 120
    assert PredictorConfig(space="nb201").source_weight(20) == 0.0  # other roles keep no source


def test_a_source_that_ranks_the_new_labels_badly_gives_way(source):
    """Labels the source cannot rank (random ones): it keeps little weight; its own task's: most."""
    config = PredictorConfig.for_transfer(**AccuracyPredictor.shape_of(source), space="nb201", members=1, steps=5)

    def kept_share(labels) -> float:
        return float(AccuracyPredictor(config).fit(ARCHS[:40], labels, init=source).member_weight[1])

    noise = np.random.default_rng(0).uniform(0.5, 0.9, size=40)
    assert kept_share(noise) < 0.2 and kept_share([convs(a) for a in ARCHS[:40]]) > 0.5


def test_a_transfer_needs_a_predictor_to_start_from(source, tmp_path):
    config = PredictorConfig.for_transfer(**AccuracyPredictor.shape_of(source), space="nb201", members=1, steps=2)
    archs, labels = ARCHS[:10], [pools(a) for a in ARCHS[:10]]
    with pytest.raises(ValueError, match="source_labels keeps the members .* needs init"):
        AccuracyPredictor(config).fit(archs, labels)
    with pytest.raises(ValueError, match="warm=True"):
        AccuracyPredictor(config).fit(archs, labels, init=source, warm=True)
    with pytest.raises(NetembedError, match="init must be a AccuracyPredictor, got CellAutoencoder"):
        AccuracyPredictor(PredictorConfig.for_transfer(space="nb201", members=1, steps=2)).fit(
            archs, labels, init="encoder-nb201"
        )


def test_train_predictor_transfers_to_another_data_set_and_learns_a_users_own_accuracies(source, tmp_path, capsys):
    from netembed.cli import main

    table = synthetic_table(tmp_path / "nb201.npz")
    base = ["train-predictor", "--space", "nb201", "--format", "json", "--init", str(source), "--members", "1"]
    small = ["--data", str(table), "--train-size", "20", "--steps", "5"]
    assert main([*base, *small, "--dataset", "imagenet16", "--out", str(tmp_path / "new")]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["train_cells"] == 20 and payload["test"]["cells"] > 1000
    card = json.loads((tmp_path / "new" / "config.json").read_text())
    assert card["config"]["source_labels"] == TRANSFER_TRAINING["source_labels"]
    assert card["meta"]["target"] == "imagenet16_val" and card["meta"]["init"] == str(source)
    # the labels the source learned: an ordinary fine-tuning, nothing kept
    assert main([*base, *small, "--dataset", "cifar10", "--out", str(tmp_path / "same")]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "same" / "config.json").read_text())["config"]["source_labels"] == 0.0
    # a user's own accuracies, no table
    mine = [{"arch": a.hash, "value": pools(a)} for a in ARCHS[:15]]
    (tmp_path / "mine.json").write_text(json.dumps(mine))
    assert main([*base, "--steps", "5", "--cells", str(tmp_path / "mine.json"), "--out", str(tmp_path / "own")]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["train_cells"] == 15 and "test" not in payload
    own = AccuracyPredictor.from_pretrained(tmp_path / "own")
    assert own.config.source_labels == TRANSFER_TRAINING["source_labels"]
    assert kendalltau(own.predict(ARCHS)[0], [pools(a) for a in ARCHS]).statistic > 0.3


@pytest.mark.parametrize(
    "entries, message",
    [
        ([{"arch": "|nor_conv_3x3~0|", "value": 0.5}], "entry 0's arch is not one of nb201's"),
        ([{"arch": ARCHS[0].hash, "value": "high"}], "entry 0's value must be accuracy (a number), got 'high'"),
        ([{"arch": ARCHS[0].hash, "acc": 0.5}], 'entry 0 must be {"arch": ..., "value": accuracy}'),
        ([{"arch": a.hash, "value": -0.1} for a in ARCHS[:3]], "labels must be finite and non-negative, got -0.1"),
        ([{"arch": a.hash, "value": 0.5} for a in ARCHS[:3]], "labels must not all be equal"),
        ([{"arch": ARCHS[0].hash, "value": 0.5}] * 2, "must hold each architecture once, got 1 repeats"),
    ],
)
def test_a_users_accuracy_file_that_breaks_a_rule_is_one_line_and_nothing_is_written(
    source, tmp_path, capsys, entries, message
):
    from netembed.cli import main

    (tmp_path / "mine.json").write_text(json.dumps(entries))
    argv = ["train-predictor", "--space", "nb201", "--init", str(source), "--cells", str(tmp_path / "mine.json")]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err
    assert not (tmp_path / "out").exists()


def test_the_benchmark_measures_a_transfer_only_on_labels_its_source_has_not_seen(tmp_path):
    from netembed.benchmarks.predictor_bench import BenchError, bench_predictors

    path = synthetic_table(tmp_path / "nb201.npz")
    with pytest.raises(BenchError, match="zero-shot start from surrogate-nb201/accuracy, trained on the cifar10_val"):
        bench_predictors(tmp_path / "out", [10], [0], ["zero-shot", "gbt"], data=path, space="nb201")
    assert not (tmp_path / "out" / "runs").exists()
    rows, _ = bench_predictors(
        tmp_path / "out", [10], [0], ["zero-shot", "netembed+surrogate"], data=path, steps=3, progress=False,
        space="nb201", dataset="imagenet16",
    )  # fmt: skip
    by = {r["method"]: r for r in rows}
    saved = json.loads((tmp_path / "out" / "runs" / "accuracy-netembed+surrogate-10-0.json").read_text())
    assert saved["settings"]["config"]["source_labels"] == TRANSFER_TRAINING["source_labels"]
    # the synthetic labels rise with 3x3 convs, as the shipped CIFAR-10 surrogate's ranking does in part
    assert by["zero-shot"]["kendall_tau"] > 0.1 and by["netembed+surrogate"]["kendall_tau"] > 0.1


def test_the_benchmark_reads_a_users_own_labels_and_its_transfers_may_run_on_them(tmp_path):
    from netembed.benchmarks.predictor_bench import BenchError, bench_predictors

    mine = [{"arch": a.hash, "value": pools(a)} for a in ARCHS[:60]]
    (tmp_path / "mine.json").write_text(json.dumps(mine))
    rows, text = bench_predictors(
        tmp_path / "out", [10], [0], None, progress=False, space="nb201", labels=str(tmp_path / "mine.json"),
        steps=3, data=str(tmp_path / "no-table.npz"),
    )  # fmt: skip
    # every method the space has, the transfers too (the source never saw these labels), tested
    # on the 40 architectures outside a pool of twice the training size
    assert [r["method"] for r in rows] == [
        "netembed",
        "netembed+pretrained",
        "netembed+surrogate",
        "zero-shot",
        "mlp",
        "gbt",
    ]
    saved = json.loads((tmp_path / "out" / "runs" / "accuracy-gbt-10-0.json").read_text())
    assert saved["settings"]["test_size"] == 40 and len(text.splitlines()) == len(rows) + 2
    (tmp_path / "bad.json").write_text(json.dumps([{"arch": ARCHS[0].hash, "value": float("nan")}] + mine[1:]))
    with pytest.raises(BenchError, match="accuracies must be finite and non-negative, got nan at entry 0"):
        bench_predictors(tmp_path / "o2", [10], [0], None, space="nb201", labels=str(tmp_path / "bad.json"))
    with pytest.raises(BenchError, match="--labels is a file of another space's"):
        bench_predictors(tmp_path / "o3", [10], [0], None, labels=str(tmp_path / "mine.json"))
