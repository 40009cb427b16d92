"""How many labels a transferred predictor's source is worth (``PredictorConfig.source_labels``),
chosen on the reverse transfer so that the CIFAR-100 figures stay out of the choice.

    netembed train-predictor --space nb201 --dataset cifar100 --train-size 3000 --steps 3000 \
        --out results/surrogate-nb201-cifar100
    python experiments/transfer_source_labels.py [--source results/surrogate-nb201-cifar100]
        [--dataset cifar10 | --labels labels.json] [--sizes 20 50 100 200] [--seeds 3]

The source learned CIFAR-100 (3,000 labels, as ``surrogate-nb201`` learned CIFAR-10); each run
fine-tunes it on N random CIFAR-10 labels (``PredictorConfig.for_transfer``), then weighs the kept
source members by n0 / (n0 + N) for each n0 and prints the Kendall tau on 12,499 held-out
architectures (the split of ``bench predictors``' default pool is not used: any fixed one will do;
with ``--labels``, a set of ``netembed label``, half of it). n0 = 0 is the fine-tuned members
alone, 1e9 the source alone. The last column weighs the source by its agreement with the N labels
themselves, as ``PredictorConfig.source_weight`` does with ``source_agreement``: n0 = 100
sin^2(pi tau / 2), where tau is the calibrated source's Kendall tau on them (its members never
trained on them) and sin(pi tau / 2) the correlation that tau implies (Greiner's relation), so n0
is 100 times the share of the new task's variance the source explains.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy.stats import kendalltau

from netembed import spaces
from netembed.models.predictors import AccuracyPredictor, PredictorConfig

WORTH = (0, 10, 25, 50, 100, 200, 1e9)


def agreement(model: AccuracyPredictor, archs: list, labels: np.ndarray) -> float:
    """The source's Kendall tau on the labelled ``archs`` (its members never trained on them)."""
    model.weigh_source(1.0)
    return float(kendalltau(model.predict(archs)[0], labels).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default="results/surrogate-nb201-cifar100")
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--labels", help="a labels.json of netembed label --space nb201 instead of a table column")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 100, 200])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = spaces.get("nb201")
    if args.labels:
        archs, labels = space.read_values(args.labels, "accuracy")
        held_out = len(labels) // 2
    else:
        table = space.load_table()
        archs, labels, held_out = [table.arch_at(i) for i in range(len(table))], table.val[args.dataset], 12499
    labels = np.asarray(labels, dtype=np.float64)
    order = np.random.default_rng(0).permutation(len(labels))
    test, pool = np.sort(order[:held_out]), order[held_out:]
    shape = AccuracyPredictor.shape_of(args.source)
    source = AccuracyPredictor.from_pretrained(args.source)
    test_archs = [archs[i] for i in test]
    print(f"zero-shot (the source as it is): {kendalltau(source.predict(test_archs)[0], labels[test]).statistic:.4f}")
    print(f"{'labels':>6} " + " ".join(f"{'n0=' + format(n0, 'g'):>9}" for n0 in WORTH) + " agreement  tau_N  n0_N")
    for size in args.sizes:
        scores, chosen = [], []
        for seed in range(args.seeds):
            rows = np.random.default_rng(1000 + seed).choice(pool, size, replace=False)
            config = PredictorConfig.for_transfer(**shape, space="nb201", seed=seed)
            train_archs = [archs[i] for i in rows]
            model = AccuracyPredictor(config).fit(train_archs, labels[rows], init=args.source)
            tau = agreement(model, train_archs, labels[rows])
            by_agreement = config.source_weight(size, tau)  # the library's rule (source_agreement)
            row = []
            for share in (*(worth / (worth + size) for worth in WORTH), by_agreement):
                model.weigh_source(share)
                row.append(kendalltau(model.predict(test_archs)[0], labels[test]).statistic)
            scores.append(row)
            chosen.append((tau, by_agreement * size / (1 - by_agreement)))  # the labels it is worth
        tau, worth = np.mean(chosen, axis=0)
        print(f"{size:>6} " + " ".join(f"{s:>9.4f}" for s in np.mean(scores, axis=0)) + f" {tau:6.3f} {worth:5.1f}")


if __name__ == "__main__":
    main()
