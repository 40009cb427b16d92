"""How much weight the structure-feature view should get beside the GNN, by training-set size.

    python experiments/forest_blend.py [--sizes 100 172 424 4236] [--seeds 3] [--gnn prior]
                                       [--targets normal] [--view forest+gp] [--readout mean+output]
                                       [--out results/forest-blend]

On the validation split of ``experiments/predictor_variants.py`` (table cells shuffled with seed
1, the first 10,000 held out; training cells drawn from the rest with seed 5000 + seed), each
(size, seed) trains the GNN ensemble without the view (``forest=0``, the default training
length; ``--gnn``: from ``prior-nb101``, from a fresh encoder (``fresh``), or with the
structure features as inputs from a fresh encoder, ``features``, or from ``encoder-nb101``,
``features_pretrained``, as in ``predictor_variants``; ``--readout``:
``PredictorConfig.readout``, which ``prior`` must share with ``prior-nb101``, i.e. the default)
and the structure-feature view on ``netembed.spaces.nb101.features`` exactly as ``AccuracyPredictor`` fits it
(``--view``: the shipped mean of a random forest and a Gaussian process, or either alone; all
learning ``--targets``, ``PredictorConfig.targets``), then prints the mean Kendall tau of
``(1 - w) * gnn + w * view`` for a grid of weights ``w``.
``PredictorConfig.forest_weight`` was chosen from this table. The GNN's held-out predictions
are kept under ``--out`` and reused.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from predictor_variants import WithFeatures, training_rows, validation_setup  # the same split, run from experiments/
from scipy.stats import kendalltau

from netembed._io import atomic_write
from netembed.models.predictors import READOUTS, TARGETS, AccuracyPredictor, PredictorConfig
from netembed.spaces.nb101 import features, space

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)
GNNS = {
    "prior": (AccuracyPredictor, "prior-nb101"),
    "fresh": (AccuracyPredictor, None),
    "features": (WithFeatures, None),
    "features_pretrained": (WithFeatures, "encoder-nb101"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 172, 424, 4236])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--gnn", choices=list(GNNS), default="prior")
    parser.add_argument("--targets", choices=TARGETS, default=PredictorConfig().targets)
    parser.add_argument("--view", choices=features.VIEWS, default=features.VIEWS[0])
    parser.add_argument("--readout", choices=READOUTS, default=PredictorConfig().readout)
    parser.add_argument("--out", default="results/forest-blend")
    args = parser.parse_args()
    if max(args.sizes) >= 10_000:  # PredictorConfig.forest_weight: the view has no weight from there
        parser.error(f"--sizes must be below 10000 (the view's weight is 0 from there), got {max(args.sizes)}")
    setup = validation_setup("forest_blend")
    if setup is None:
        return
    accuracy, validation, pool = setup
    validation_index = features.distinct_index_rows(validation)
    print(
        f"{'cells':>6}{'seeds':>6}" + "".join(f"{'w=' + str(w):>9}" for w in WEIGHTS) + f"{'shipped w':>11}", flush=True
    )
    for size in args.sizes:
        taus = []
        for seed in range(args.seeds):
            rows = training_rows(pool, size, seed)
            cells, labels = [space.cell_at(int(r)) for r in rows], accuracy[rows]
            model_cls, init = GNNS[args.gnn]
            config = PredictorConfig(seed=seed, forest=0.0, targets=args.targets, readout=args.readout)
            path = Path(args.out) / f"gnn-{args.gnn}-{args.targets}-{args.readout}-{size}-{seed}.npy"
            if not path.exists():
                model = model_cls(config).fit(cells, labels, init=init)
                predicted = model.predict_rows(validation)[0]

                def write(tmp: str, predicted=predicted) -> None:
                    with open(tmp, "wb") as handle:  # a handle: numpy would append ".npy" to a name
                        np.save(handle, predicted)

                atomic_write(path, write)
            gnn = np.load(path)
            # the view alone, fitted and mapped back to labels exactly as the predictor does it
            view = AccuracyPredictor(replace(config, members=1, forest=1.0, view=args.view))
            view._fit_forest(cells, view._standardised_targets(labels))
            feature_view = view._view_labels(validation_index)
            taus.append([kendalltau((1 - w) * gnn + w * feature_view, accuracy[validation]).statistic for w in WEIGHTS])
        print(
            f"{size:>6}{args.seeds:>6}"
            + "".join(f"{t:>9.4f}" for t in np.mean(taus, axis=0))
            + f"{PredictorConfig().forest_weight(size):>11.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
