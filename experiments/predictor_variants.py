"""Accuracy-predictor variants that were tried, on a validation split (not the benchmark's test cells).

    python experiments/predictor_variants.py [--variants fresh wide params ...] [--sizes 100 424]
                                             [--seeds 3] [--out results/predictor-variants]

The table's cells are shuffled with seed 1; the first 10,000 are the validation cells, and
each (size, seed) trains on ``size`` cells drawn from the rest with seed 5000 + seed. The mean
Kendall tau over seeds is printed per variant and size; finished runs are kept under
``--out`` and reused. Every variant is the GNN ensemble alone (``forest=0``) trained for exactly
its steps (``epochs=0``) on the labels themselves (``targets="raw"``), as these were measured
before the forest, the passes rule and normal-score targets existed (those three:
``experiments/forest_blend.py`` and ``steps6600``), with the embedding alone as the heads' input
(``readout="mean"``; the ``prior`` variants: see ``fit``). Variants (the fresh start is
``PredictorConfig(forest=0, epochs=0, targets="raw", readout="mean")``):

- ``wide``: hidden 64, embedding 32, head 128;
- ``params``: the log parameter count as an input beside the embedding (as ``TimeEstimator``);
- ``features``, ``features_pretrained``: the structure features (``netembed.spaces.nb101.features``) as inputs
  beside the embedding, from a fresh encoder / from ``encoder-nb101``;
- ``steps500``, ``steps3000``, ``steps3000x256``, ``steps6600`` (200 passes of 4,236 cells),
  ``long`` (4,000 steps of 256), ``wide_long``;
- ``rank10`` / ``rank1``: ranking weight 10 / 1 instead of 3;
- ``prior``: every member starts from ``prior-nb101``; ``prior_lr1e-3``, ``prior_wd1e-3``,
  ``prior_rank1``: the same with learning rate 1e-3, weight decay 1e-3, ranking weight 1;
- ``prior:<directory>``: from another prior, e.g. one written by ``netembed train-predictor
  --label params --train-size 60000 --steps 4000 --out <directory>``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from netembed._io import atomic_write
from netembed.errors import DataError
from netembed.models.predictors import AccuracyPredictor, PredictorConfig, TimeEstimator
from netembed.spaces.nb101 import features, space
from netembed.spaces.nb101.table import Benchmark

GNN_ALONE = {"forest": 0.0, "epochs": 0, "targets": "raw", "readout": "mean"}
WIDE = {"hidden": 64, "embedding_dim": 32, "head_hidden": 128}
LONG = {"steps": 4000, "batch_size": 256}
CONFIGS = {
    "fresh": {},
    "wide": WIDE,
    "params": {},
    "steps500": {"steps": 500},
    "steps3000": {"steps": 3000},
    "steps3000x256": {"steps": 3000, "batch_size": 256},
    "steps6600": {"steps": 6600},
    "long": LONG,
    "wide_long": WIDE | LONG,
    "features": {},
    "features_pretrained": {},
    "rank10": {"ranking_weight": 10.0},
    "rank1": {"ranking_weight": 1.0},
    "prior": {},
    "prior_lr1e-3": {"lr": 1e-3},
    "prior_wd1e-3": {"weight_decay": 1e-3},
    "prior_rank1": {"ranking_weight": 1.0},
}


class WithFeatures(AccuracyPredictor):
    """The label-free structure features (``netembed.spaces.nb101.features``) beside the embedding."""

    extra_features = len(features.NAMES)

    def _extra(self, cells):
        return torch.from_numpy(features.inputs(features.raw_features(cells)))

    def _extra_rows(self, rows):
        return torch.from_numpy(features.distinct_table()["inputs"][features.distinct_index_rows(rows)])


class WithParams(AccuracyPredictor):
    """The log parameter count beside the embedding, exactly as the time estimator has it."""

    extra_features = TimeEstimator.extra_features
    _extra, _extra_rows = TimeEstimator._extra, TimeEstimator._extra_rows


def fit(variant: str, cells, labels, seed: int) -> AccuracyPredictor:
    # a prior hands over whole members, so the prior variants take the priors' readout (the default,
    # as ``netembed train-predictor --label params`` writes them; the README's prior figures were
    # measured at commit 73cb2c4, when prior-nb101's heads saw the embedding alone)
    as_prior = {"readout": PredictorConfig.for_prior().readout}
    if variant.startswith("prior:"):
        config = PredictorConfig(seed=seed, **{**GNN_ALONE, **as_prior})
        return AccuracyPredictor(config).fit(cells, labels, init=variant.split(":", 1)[1])
    if variant not in CONFIGS:
        raise SystemExit(f"variants must be among {list(CONFIGS)} or prior:<directory>, got {variant!r}")
    model_cls = {"params": WithParams, "features": WithFeatures, "features_pretrained": WithFeatures}.get(
        variant, AccuracyPredictor
    )
    init = (
        "prior-nb101" if variant.startswith("prior") else "encoder-nb101" if variant.endswith("_pretrained") else None
    )
    config = PredictorConfig(
        seed=seed, **{**GNN_ALONE, **CONFIGS[variant], **(as_prior if init == "prior-nb101" else {})}
    )
    return model_cls(config).fit(cells, labels, init=init)


def validation_setup(script: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The table's accuracies, the 10,000 validation rows (a shuffle with seed 1) and the pool the
    training cells come from, with torch on one thread; None (said why) without the table."""
    try:
        accuracy = Benchmark.load().test_acc_108
    except DataError as error:  # a fresh clone without the table: nothing to measure against
        print(f"{script} skipped: {error}")
        return None
    torch.set_num_threads(1)
    order = np.random.default_rng(1).permutation(len(accuracy))
    return accuracy, np.sort(order[:10_000]), order[10_000:]


def training_rows(pool: np.ndarray, size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(5000 + seed).choice(pool, size, replace=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["fresh", "wide", "params", "prior"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 424])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", default="results/predictor-variants")
    args = parser.parse_args()
    setup = validation_setup("predictor_variants")
    if setup is None:
        return
    accuracy, validation, pool = setup
    print(f"{'variant':<24}" + "".join(f"{'Kendall @' + str(n):>14}" for n in args.sizes), flush=True)
    for variant in args.variants:
        means = []
        for size in args.sizes:
            taus = []
            for seed in range(args.seeds):
                path = Path(args.out) / f"{variant.replace('/', '_').replace(':', '-')}-{size}-{seed}.json"
                if not path.exists():
                    start = time.perf_counter()
                    rows = training_rows(pool, size, seed)
                    model = fit(variant, [space.cell_at(int(r)) for r in rows], accuracy[rows], seed)
                    tau = kendalltau(model.predict_rows(validation)[0], accuracy[validation]).statistic
                    text = json.dumps({"kendall_tau": float(tau), "seconds": time.perf_counter() - start})
                    atomic_write(path, lambda tmp, text=text: Path(tmp).write_text(text))
                taus.append(json.loads(path.read_text())["kendall_tau"])
            means.append(float(np.mean(taus)))
        print(f"{variant:<24}" + "".join(f"{m:>14.4f}" for m in means), flush=True)


if __name__ == "__main__":
    main()
