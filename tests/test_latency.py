"""Latency across devices: the prior learned from known devices, a new device adapted from a few
timings, saved and loaded, and ``netembed train-predictor --label latency[:DEVICE]`` end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from netembed import spaces
from netembed.models.latency import DeviceLatency, LatencyError, LatencyPrior

NB201 = spaces.get("nb201")


def devices_like(features: np.ndarray, names, seed: int = 0) -> dict[str, np.ndarray]:
    """Made-up devices: log ms linear in the features, weights a shared base plus a device's own
    mix of two directions (a GPU-like and a phone-like cost of each feature), a little noise."""
    rng = np.random.default_rng(seed)
    base, directions = rng.normal(0, 0.5, features.shape[1]), rng.normal(0, 0.5, (2, features.shape[1]))
    columns = {}
    for name in names:
        weights = base + rng.normal(0, 1, 2) @ directions
        columns[name] = np.exp(1.0 + features @ weights + rng.normal(0, 0.02, len(features)))
    return columns


@pytest.fixture(scope="module")
def features() -> np.ndarray:
    return NB201.feature_inputs(NB201.enumerate()[::25]).astype(np.float64)  # 625 architectures


def test_a_new_device_is_ranked_from_ten_timings_and_many_give_its_own_least_squares(features):
    columns = devices_like(features, ["gpu", "cpu", "phone", "npu", "dsp", "new"])
    new = columns.pop("new")
    prior = LatencyPrior.learn(features, columns, space="nb201")
    assert prior.config.devices == ("gpu", "cpu", "phone", "npu", "dsp") and prior.config.features == 31
    rows = np.random.default_rng(1).choice(len(features), 10, replace=False)
    rest = np.setdiff1d(np.arange(len(features)), rows)
    adapted = prior.adapt(features[rows], new[rows], device="new")
    mean_device = spearmanr(features[rest] @ prior.mean.numpy()[1:], np.log(new[rest])).statistic
    ranked = spearmanr(adapted.log_ms(features[rest]), np.log(new[rest])).statistic
    assert ranked > 0.9 and ranked > mean_device + 0.05  # the ten timings told it which device it is
    assert adapted.config.device == "new" and adapted.config.prior_devices == prior.config.devices
    every = prior.adapt(features, new)  # all 625 timings: the data outweigh the prior
    design = np.column_stack([np.ones(len(features)), features])
    own, *_ = np.linalg.lstsq(design, np.log(new), rcond=None)
    assert np.allclose(every.log_ms(features), design @ own, atol=0.02)


@pytest.mark.parametrize(
    ("ms", "message"),
    [
        ([5.0, 0.0], "measured latencies must be positive finite milliseconds, got 0.0"),
        ([5.0, -1.0], "got -1.0"),
        ([5.0, float("nan")], "got nan"),
        ([5.0, "fast"], "must be positive finite milliseconds, got"),
        ([5.0], "must match 2 architectures of 31 features each, got 1 values"),
    ],
)
def test_bad_timings_are_refused_naming_the_rule_and_the_value(features, ms, message):
    prior = LatencyPrior.learn(features, devices_like(features, ["a", "b"]), space="nb201")
    with pytest.raises(LatencyError, match=message):
        prior.adapt(features[:2], ms)


def test_a_prior_needs_two_devices_with_a_latency_for_every_architecture(features):
    with pytest.raises(LatencyError, match="devices must name at least two devices, got \\['a'\\]"):
        LatencyPrior.learn(features, devices_like(features, ["a"]), space="nb201")
    with pytest.raises(LatencyError, match="one value per architecture \\(625\\), got 624"):
        LatencyPrior.learn(features, {k: v[1:] for k, v in devices_like(features, "ab").items()}, space="nb201")


def test_a_saved_prior_and_device_load_as_they_were(features, tmp_path):
    prior = LatencyPrior.learn(features, devices_like(features, ["a", "b", "c"]), space="nb201")
    prior.save_pretrained(tmp_path / "prior", {"note": "test"})
    loaded = LatencyPrior.from_pretrained(tmp_path / "prior")
    assert loaded.config == prior.config and all(
        np.array_equal(getattr(loaded, n).numpy(), getattr(prior, n).numpy()) for n in ("mean", "covariance", "noise")
    )
    device = prior.adapt(features[:10], np.arange(1.0, 11.0), device="mine")
    device.save_pretrained(tmp_path / "mine")
    again = DeviceLatency.from_pretrained(tmp_path / "mine")
    assert again.config == device.config and np.array_equal(again.ms(features), device.ms(features))


def test_the_shipped_prior_names_its_13_devices_and_ranks_a_held_out_one():
    prior = LatencyPrior.from_pretrained("latency-nb201")
    assert len(prior.config.devices) == 13 and "pixel3" in prior.config.devices and prior.config.space == "nb201"


# -- the command line ------------------------------------------------------------------------------


def _table(path, devices, seed):
    """A NAS-Bench-201-format table (made-up numbers) whose devices differ (``devices_like``)."""
    from .test_spaces import synthetic_table

    synthetic_table(path, devices=())
    columns = dict(np.load(path))
    archs = [NB201.from_json({"arch": str(a)}) for a in columns["arch_str"]]
    made = devices_like(NB201.feature_inputs(archs).astype(np.float64), devices, seed=seed)
    np.savez(path, **columns, **{f"latency_{d}": ms.astype(np.float32) for d, ms in made.items()})
    return path


def test_train_predictor_learns_a_prior_then_adapts_a_device_of_another_table(tmp_path, capsys):
    from netembed.cli import main

    known = _table(tmp_path / "known.npz", ["gpu", "cpu", "phone", "npu"], seed=0)
    other = _table(tmp_path / "other.npz", ["gpu", "cpu", "phone", "npu", "dsp"], seed=0)  # dsp: a new one
    base = ["train-predictor", "--space", "nb201", "--format", "json"]
    assert main([*base, "--label", "latency", "--data", str(known), "--out", str(tmp_path / "prior")]) == 0
    learned = json.loads(capsys.readouterr().out)
    assert learned["devices"] == ["gpu", "cpu", "phone", "npu"] and learned["test"]["spearman"] > 0.5
    card = json.loads((tmp_path / "prior" / "config.json").read_text())["meta"]
    assert card["devices"] == learned["devices"] and set(card["quality"]["per_device"]) == set(learned["devices"])
    adapt = [*base, "--init", str(tmp_path / "prior"), "--data", str(other)]
    argv = [*adapt, "--label", "latency:dsp", "--train-size", "10", "--out", str(tmp_path / "dsp")]
    assert main(argv) == 0
    adapted = json.loads(capsys.readouterr().out)
    assert adapted["timings"] == 10 and adapted["test"]["architectures"] == NB201.size - 10
    assert adapted["test"]["spearman"] > 0.9
    # a user's own file of measured milliseconds, no table needed
    mine = [{"arch": a.hash, "value": 5.0 + i} for i, a in enumerate(NB201.enumerate()[:10])]
    (tmp_path / "ms.json").write_text(json.dumps(mine))
    own = [*base, "--init", str(tmp_path / "prior"), "--label", "latency:mine", "--cells", str(tmp_path / "ms.json")]
    assert main([*own, "--data", str(tmp_path / "none.npz"), "--out", str(tmp_path / "mine")]) == 2
    capsys.readouterr()  # a --data that is not there is an error even with --cells
    assert main([*own, "--out", str(tmp_path / "mine")]) == 0
    assert DeviceLatency.from_pretrained(tmp_path / "mine").config.device == "mine"


@pytest.mark.parametrize(
    ("argv", "entries", "message"),
    [
        (["--label", "latency:gpu", "--train-size", "10"], None, "has learned from gpu itself"),
        (
            ["--label", "latency:tpu", "--train-size", "10"],
            None,
            "device must be one of the table's gpu, cpu, phone or --cells, got 'tpu'",
        ),
        (["--label", "latency:mine"], [{"arch": 0, "value": 5.0}], "entry 0's arch is not one of nb201's"),
        (["--label", "latency:mine"], "negative", "measured latencies must be positive finite milliseconds, got -1.0"),
        (["--label", "latency:mine"], [{"arch": "x", "ms": 5}], 'entry 0 must be {"arch": ..., "value": milliseconds}'),
        (["--label", "latency:mine"], "text", "entry 0's value must be milliseconds \\(a number\\), got 'fast'"),
        (["--label", "latency:mine", "--init", "surrogate-nb201/accuracy"], [], "model_type must be 'LatencyPrior'"),
    ],
)
def test_a_bad_latency_job_is_one_line_and_writes_nothing(tmp_path, capsys, argv, entries, message):
    from netembed.cli import main

    table = _table(tmp_path / "t.npz", ["gpu", "cpu", "phone"], seed=0)
    assert main(["train-predictor", "--space", "nb201", "--label", "latency", "--data", str(table), "--out",
                 str(tmp_path / "prior")]) == 0  # fmt: skip
    capsys.readouterr()
    archs = [a.hash for a in NB201.enumerate()[:3]]
    made = {
        "negative": [{"arch": archs[0], "value": 5.0}, {"arch": archs[1], "value": -1.0}],
        "text": [{"arch": archs[0], "value": "fast"}],
    }
    if entries is not None:
        (tmp_path / "ms.json").write_text(
            json.dumps(made.get(entries, entries) if isinstance(entries, str) else entries)
        )
        argv = [*argv, "--cells", str(tmp_path / "ms.json")]
    init = [] if "--init" in argv else ["--init", str(tmp_path / "prior")]
    code = main(["train-predictor", "--space", "nb201", "--data", str(table), *init, *argv, "--out",
                 str(tmp_path / "out")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message.replace("\\", "") in err.replace("\\", "")
    assert not (tmp_path / "out").exists()


def test_latency_labels_are_nb201_and_latency_alone_takes_no_cells_or_init(tmp_path):
    from netembed.runs.surrogate import PredictorJob, PredictorJobError

    with pytest.raises(PredictorJobError, match="NAS-Bench-101 has no latencies"):
        PredictorJob(label="latency", space="nb101")
    with pytest.raises(PredictorJobError, match="no --cells or --init"):
        PredictorJob(label="latency", space="nb201", init="latency-nb201")
    with pytest.raises(PredictorJobError, match="must name a device"):
        PredictorJob(label="latency:", space="nb201")
    from netembed.runs.surrogate import train_predictor

    two = _table(tmp_path / "two.npz", ["gpu", "cpu"], seed=0)
    with pytest.raises(LatencyError, match="at least three latency columns .*got \\['gpu', 'cpu'\\]"):
        train_predictor(PredictorJob(label="latency", space="nb201", data=str(two)), tmp_path / "out")
    assert not (tmp_path / "out").exists()
