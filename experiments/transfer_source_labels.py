"""How many labels a transferred predictor's source is worth (``PredictorConfig.source_labels``),
chosen on the reverse transfer so that the CIFAR-100 figures stay out of the choice.

    netembed train-predictor --space nb201 --dataset cifar100 --train-size 3000 --steps 3000 \
        --out results/surrogate-nb201-cifar100
    python experiments/transfer_source_labels.py [--source results/surrogate-nb201-cifar100]
        [--dataset cifar10] [--sizes 20 50 100 200] [--seeds 3]

The source learned CIFAR-100 (3,000 labels, as ``surrogate-nb201`` learned CIFAR-10); each run
fine-tunes it on N random CIFAR-10 labels (``PredictorConfig.for_transfer``), then weighs the kept
source members by n0 / (n0 + N) for each n0 and prints the Kendall tau on 12,499 held-out
architectures (the split of ``bench predictors``' default pool is not used: any fixed one will do).
n0 = 0 is the fine-tuned members alone, 1e9 the source alone.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.stats import kendalltau

from netembed import spaces
from netembed.models.predictors import AccuracyPredictor, PredictorConfig

WORTH = (0, 10, 25, 50, 100, 200, 1e9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="results/surrogate-nb201-cifar100")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 100, 200])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = spaces.get("nb201").load_table()
    archs = [table.arch_at(i) for i in range(len(table))]
    labels = np.asarray(table.val[args.dataset], dtype=np.float64)
    order = np.random.default_rng(0).permutation(len(labels))
    test, pool = np.sort(order[:12499]), order[12499:]
    shape = AccuracyPredictor.shape_of(args.source)
    source = AccuracyPredictor.from_pretrained(args.source)
    print(f"zero-shot (the source as it is): {kendalltau(source.predict(archs)[0][test], labels[test]).statistic:.4f}")
    print(f"{'labels':>6} " + " ".join(f"{'n0=' + format(n0, 'g'):>9}" for n0 in WORTH))
    for size in args.sizes:
        scores = []
        for seed in range(args.seeds):
            rows = np.random.default_rng(1000 + seed).choice(pool, size, replace=False)
            config = PredictorConfig.for_transfer(**shape, space="nb201", seed=seed)
            model = AccuracyPredictor(config).fit([archs[i] for i in rows], labels[rows], init=args.source)
            row = []
            for worth in WORTH:
                model.weigh_source(worth / (worth + size))
                row.append(kendalltau(model.predict(archs)[0][test], labels[test]).statistic)
            scores.append(row)
        print(f"{size:>6} " + " ".join(f"{s:>9.4f}" for s in np.mean(scores, axis=0)))


if __name__ == "__main__":
    main()
