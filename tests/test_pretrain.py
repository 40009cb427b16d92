import numpy as np
import pytest
import torch

from netembed.errors import ConfigError, DataError
from netembed.models.encoder import EncoderConfig
from netembed.models.pretrain import CHECKPOINT, PretrainConfig, holdout_split, pretrain, reconstruction

SMALL = EncoderConfig(hidden=16, layers=2, embedding_dim=8)


def test_holdout_split_is_a_seeded_partition():
    train, held = holdout_split(1000, 0.1, seed=3)
    assert len(held) == 100 and len(np.intersect1d(train, held)) == 0
    assert np.array_equal(np.sort(np.r_[train, held]), np.arange(1000))
    assert np.array_equal(held, holdout_split(1000, 0.1, seed=3)[1])
    assert not np.array_equal(held, holdout_split(1000, 0.1, seed=4)[1])
    with pytest.raises(ValueError, match=r"holdout fraction must be in \(0, 1\), got 1.5"):
        holdout_split(10, 1.5)


def test_pretraining_learns_to_reconstruct(tmp_path, arrays):
    config = PretrainConfig(epochs=3, batch_size=64, lr=3e-3)
    _model, quality = pretrain(tmp_path, SMALL, config, progress=False, max_cells=3000)
    history = quality["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert quality["held_out"]["ops_accuracy"] > 0.9  # chance is 0.2
    untrained, _ = pretrain(tmp_path / "none", SMALL, PretrainConfig(epochs=0), progress=False, max_cells=3000)
    _, held = holdout_split(len(arrays), 0.1, seed=0)
    before = reconstruction(untrained.encoder, untrained.decoder, held[:333])
    assert quality["held_out"]["adjacency_accuracy"] > before["adjacency_accuracy"]


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    straight, _ = pretrain(
        tmp_path / "a", SMALL, PretrainConfig(epochs=2, batch_size=128), progress=False, max_cells=1000
    )
    pretrain(tmp_path / "b", SMALL, PretrainConfig(epochs=1, batch_size=128), progress=False, max_cells=1000)
    resumed, quality = pretrain(
        tmp_path / "b", SMALL, PretrainConfig(epochs=2, batch_size=128), progress=False, max_cells=1000
    )
    assert [h["epoch"] for h in quality["history"]] == [1, 2]
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_a_corrupt_checkpoint_is_refused_not_trained_over(tmp_path):
    pretrain(tmp_path, SMALL, PretrainConfig(epochs=1, batch_size=256), progress=False, max_cells=500)
    (tmp_path / CHECKPOINT).write_bytes(b"\x00" * 10)
    with pytest.raises(DataError, match="unreadable .*delete it to start over"):
        pretrain(tmp_path, SMALL, PretrainConfig(epochs=2, batch_size=256), progress=False, max_cells=500)


@pytest.mark.parametrize(
    "field, value, rule",
    [
        ("epochs", -1, "an integer in 0..1000000"),
        ("batch_size", True, "an integer in 1..1048576"),
        ("lr", 0, "a number in (0, 10]"),
        ("kl_weight", float("nan"), "a number in [0, 1000]"),
        ("holdout", 1.0, "a number in (0, 1)"),
        ("seed", 2**32, "an integer in 0..4294967295"),
    ],
)
def test_config_validation(field, value, rule):
    with pytest.raises(ConfigError) as info:
        PretrainConfig(**{field: value})
    assert str(info.value) == f"PretrainConfig.{field} must be {rule}, got {value!r}"


def _quality(smoothness) -> dict:
    """The shape of ``evaluate_pretrained``'s result (its figures are made up: this checks the writers)."""
    pair = {"pretrained": 0.561, "random_init": 0.497}
    return {
        "model": "encoder-nb101",
        "reconstruction": {
            "cells": 42_362,
            "ops_accuracy": 0.9991,
            "adjacency_accuracy": 0.9958,
            "cell_accuracy": 0.99,
        },
        "speed": {"cells": 423_624, "seconds": 2.5, "cells_per_second": 169_449.6},
        "edit_distance": {name: {"spearman": value, "pairs": 100_000} for name, value in pair.items()},
        "smoothness": smoothness,
    }


def test_the_quality_text_and_the_model_card_show_every_figure(tmp_path):
    from netembed.benchmarks.quality import quality_text
    from netembed.runs.pretrain import _write_card

    smooth = {
        name: {"k": 10, "neighbour_gap": gap, "random_gap": 0.01, "ratio": gap / 0.01}
        for name, gap in (("pretrained", 0.00556), ("random_init", 0.00535))
    }
    text = quality_text(_quality(smooth))
    assert "ops 0.99910" in text and "ratio 0.556" in text and "(random_init): 0.497 over 100,000 pairs" in text
    assert "smoothness skipped: no table" in quality_text(_quality("skipped: no table"))
    meta = {"command": "netembed pretrain", "data": "the space", "space_sha256": "ab", "train_cells": 381_262}
    _write_card(tmp_path, meta | {"pretrain": {"epochs": 3}, "quality": _quality(smooth)})
    card = (tmp_path / "README.md").read_text()
    assert "| held-out exact adjacency accuracy | 0.99580 | |" in card and "| 0.556 | 0.535 |" in card
