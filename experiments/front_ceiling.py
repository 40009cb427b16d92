"""How much of the true front's hypervolume a search can reach, given how good its best cell is.

    python experiments/front_ceiling.py [RUN.json ...]

The hypervolume of (accuracy, parameters) with ``netembed compare``'s reference point is
mostly decided by the most accurate cells: this prints the true front, then the ratio reached
by the best possible front built only from cells no better than the table's k-th best (a
search whose best cell is the k-th best can do no better), and the ratio of the true front
with every accuracy lowered by a few hundredths of a point. Given saved runs of
``experiments/pareto_variants.py`` (e.g. ``results/pareto-variants/shipped-seed*-budget300.json``),
it also prints where their fronts lose hypervolume: the true front's area minus theirs, by
range of parameter counts, as a share of the true front's whole area (mean over the runs).
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

from netembed.benchmarks.compare import true_front
from netembed.errors import DataError
from netembed.search.objective import HV_REFERENCE, hypervolume
from netembed.spaces.nb101.table import Benchmark

#: ranges of parameter counts the lost hypervolume is reported by
BANDS = np.array([0, 0.5e6, 1e6, 2e6, 3e6, 5e6, 10e6, 20e6, 42e6, HV_REFERENCE[1]])


def main() -> None:
    try:
        bench = Benchmark.load()
    except DataError as error:  # a fresh clone without the table: nothing to measure
        print(f"front_ceiling skipped: {error}")
        return
    accuracy, params = bench.test_acc_108, bench.params.astype(float)
    true = hypervolume(accuracy, params, *HV_REFERENCE)
    front_acc, front_params = true_front(bench)  # by increasing parameters
    print(
        f"true front: {len(front_acc)} cells, from {front_acc[0]:.4f} at {front_params[0] / 1e6:.2f}M "
        f"parameters to {front_acc[-1]:.4f} at {front_params[-1] / 1e6:.1f}M"
    )
    print(f"{'best cell found':>16}{'its accuracy':>14}{'hypervolume ratio at most':>27}")
    best_first = np.sort(accuracy)[::-1]
    for k in (1, 2, 3, 4, 5, 10, 20, 50, 100):
        allowed = accuracy <= best_first[k - 1]
        ratio = hypervolume(accuracy[allowed], params[allowed], *HV_REFERENCE) / true
        print(f"{'k = ' + str(k):>16}{best_first[k - 1]:>14.4f}{ratio:>27.4f}")
    for drop in (0.0005, 0.001, 0.002):
        ratio = hypervolume(front_acc - drop, front_params, *HV_REFERENCE) / true
        print(f"every front cell {100 * drop:.2f} pp less accurate: ratio {ratio:.4f}")
    if len(sys.argv) > 1:
        best = np.array([area(front_acc, front_params, lo, hi) for lo, hi in itertools.pairwise(BANDS)])
        loss = []
        for path in sys.argv[1:]:
            run = json.loads(Path(path).read_text())
            found = np.array(run["accuracy"]), np.array(run["params"], dtype=float)
            loss.append((best - [area(*found, lo, hi) for lo, hi in itertools.pairwise(BANDS)]) / true)
        print(f"hypervolume lost by {len(loss)} runs (mean share of the true front's), by parameters:")
        for (lo, hi), share in zip(itertools.pairwise(BANDS), np.mean(loss, axis=0)):
            print(f"{lo / 1e6:>8.1f}M - {hi / 1e6:>4.1f}M {share:>8.4f}")
        print(f"{'total':>17} {np.sum(np.mean(loss, axis=0)):>8.4f}")


def area(accuracy: np.ndarray, params: np.ndarray, low: float, high: float) -> float:
    """The part of the points' dominated area (reference ``HV_REFERENCE``) between ``low`` and
    ``high`` parameters: at each count x, the best accuracy of the points with at most x."""
    edges = np.unique(np.clip(np.concatenate([[low, high], params]), low, high))
    total = 0.0
    for left, right in itertools.pairwise(edges):
        best = accuracy[params <= left].max(initial=HV_REFERENCE[0])
        total += (right - left) * max(best - HV_REFERENCE[0], 0.0)
    return total


if __name__ == "__main__":
    main()
