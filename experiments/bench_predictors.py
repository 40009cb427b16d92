"""Speed of the accuracy predictor: fit on 424 cells, predict all 423,624 cells of the space.

Labels come from the table when it is present, else from a synthetic rule (speed does not
depend on them). Run alone on the machine.

    python experiments/bench_predictors.py [--train-size 424] [--repeats 3] [--format json]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import torch

from netembed.models.predictors import AccuracyPredictor, PredictorConfig
from netembed.spaces.nb101 import space


def labels(rows: np.ndarray) -> np.ndarray:
    from netembed.errors import DataError
    from netembed.spaces.nb101.table import Benchmark

    try:
        return Benchmark.load().test_acc_108[rows]
    except DataError:  # no table here: any finite labels time the same
        return 0.8 + 0.02 * (space.space_arrays().ops[rows] == 0).sum(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-size", type=int, default=424)
    parser.add_argument("--repeats", type=int, default=3, help="whole-space predictions to time (best is reported)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    rows = np.random.default_rng(0).choice(space.NUM_CELLS, args.train_size, replace=False)
    cells, y = [space.cell_at(int(r)) for r in rows], labels(rows)
    every_row = np.arange(space.NUM_CELLS)
    started = time.perf_counter()
    model = AccuracyPredictor(PredictorConfig()).fit(cells, y)
    fit_seconds = time.perf_counter() - started
    predict_seconds = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        model.predict_rows(every_row)
        predict_seconds.append(time.perf_counter() - started)
    report = {
        "train_size": args.train_size,
        "members": model.config.members,
        "threads": torch.get_num_threads(),
        "fit_seconds": fit_seconds,
        "predict_all_seconds": min(predict_seconds),
        "cells_per_second": space.NUM_CELLS / min(predict_seconds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return
    print(
        f"AccuracyPredictor ({report['members']} members, {report['threads']} threads): fit on {args.train_size} cells "
        f"{fit_seconds:.1f} s; predict all {space.NUM_CELLS:,} cells {report['predict_all_seconds']:.1f} s "
        f"(best of {args.repeats}, {report['cells_per_second']:,.0f} cells/s); peak RSS {report['peak_rss_mb']:,.0f} MB"
    )


if __name__ == "__main__":
    main()
