"""Does the small offline task tell cells apart? Train random cells on scikit-learn's digits at
the default budget and report the spread of their test accuracies and the Kendall tau against
the table's CIFAR-10 accuracies (an honest sanity figure, whatever it turns out to be).

    python experiments/train_small.py                  # 20 cells, the default budget
    python experiments/train_small.py --epochs 2 --train-size 300 --format json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from netembed.spaces.nb101 import space
from netembed.spaces.nb101.table import Benchmark
from netembed.train import SMALL_DATA, SMALL_NETWORK, NetworkConfig, TrainConfig, digits, train_cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0, help="which random cells")
    parser.add_argument("--train-size", type=int, default=SMALL_DATA["train_size"])
    parser.add_argument("--label-noise", type=float, default=SMALL_DATA["label_noise"])
    parser.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--stem-channels", type=int, default=SMALL_NETWORK.stem_channels)
    parser.add_argument("--cells-per-stack", type=int, default=SMALL_NETWORK.cells_per_stack)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the README figure used 1)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    table = Benchmark.load()
    data = digits(args.train_size, args.label_noise)
    network = NetworkConfig(
        stem_channels=args.stem_channels,
        num_stacks=SMALL_NETWORK.num_stacks,
        cells_per_stack=args.cells_per_stack,
        in_channels=1,
        image_size=8,
    )
    config = TrainConfig(epochs=args.epochs)
    rows = []
    for row in np.random.default_rng(args.seed).choice(space.NUM_CELLS, args.cells, replace=False):
        cell = space.cell_at(int(row))
        started = time.perf_counter()
        result = train_cell(cell, data, network, config)
        rows.append(
            {
                "hash": cell.hash,
                "small_accuracy": result.test_accuracy,
                "train_seconds": result.train_seconds,
                "wall_seconds": time.perf_counter() - started,
                "params": result.params,
                "table_accuracy": float(table.query(cell).test_acc_108),
            }
        )
        if args.format == "text":
            r = rows[-1]
            print(
                f"{cell.hash}  digits {r['small_accuracy']:.3f}  table {r['table_accuracy']:.4f}  "
                f"{r['train_seconds']:.1f} s  {r['params']:,} params",
                flush=True,
            )
    small = np.array([r["small_accuracy"] for r in rows])
    truth = np.array([r["table_accuracy"] for r in rows])
    summary = {
        "data": data.name,
        "network": network.to_dict(),
        "train": config.__dict__,
        "cells": len(rows),
        "accuracy_min": float(small.min()),
        "accuracy_max": float(small.max()),
        "accuracy_std": float(small.std()),
        "accuracy_iqr": float(np.subtract(*np.percentile(small, [75, 25]))),
        "distinct_accuracies": len(np.unique(small)),
        "kendall_tau_vs_table": float(kendalltau(small, truth)[0]),
        "spearman_vs_table": float(spearmanr(small, truth)[0]),
        "mean_train_seconds": float(np.mean([r["train_seconds"] for r in rows])),
        "rows": rows,
    }
    if args.format == "json":
        print(json.dumps(summary, indent=2))
        return
    print(
        f"\n{summary['cells']} random cells on {data.name}, {config.epochs} epochs, stem {network.stem_channels}, "
        f"{network.cells_per_stack} cell(s) per stack: accuracy {summary['accuracy_min']:.3f}..{summary['accuracy_max']:.3f} "
        f"(std {summary['accuracy_std']:.3f}, IQR {summary['accuracy_iqr']:.3f}, {summary['distinct_accuracies']} distinct); "
        f"Kendall tau vs table CIFAR-10 accuracy {summary['kendall_tau_vs_table']:.3f}, "
        f"Spearman {summary['spearman_vs_table']:.3f}; {summary['mean_train_seconds']:.1f} s training per cell"
    )


if __name__ == "__main__":
    main()
