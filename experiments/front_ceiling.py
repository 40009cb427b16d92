"""How much of the true front's hypervolume a search can reach, given how good its best cell is.

    python experiments/front_ceiling.py

The hypervolume of (accuracy, parameters) with ``netembed compare``'s reference point is
mostly decided by the most accurate cells: this prints the true front, then the ratio reached
by the best possible front built only from cells no better than the table's k-th best (a
search whose best cell is the k-th best can do no better), and the ratio of the true front
with every accuracy lowered by a few hundredths of a point.
"""

from __future__ import annotations

import numpy as np

from netembed.bench import Benchmark
from netembed.compare import HV_REFERENCE, true_front
from netembed.errors import DataError
from netembed.reward import hypervolume


def main() -> None:
    try:
        bench = Benchmark.load()
    except DataError as error:  # a fresh clone without the table: nothing to measure
        print(f"front_ceiling skipped: {error}")
        return
    accuracy, params = bench.test_acc_108, bench.params.astype(float)
    true = hypervolume(accuracy, params, *HV_REFERENCE)
    front_acc, front_params = true_front(bench)  # by increasing parameters
    print(f"true front: {len(front_acc)} cells, from {front_acc[0]:.4f} at {front_params[0] / 1e6:.2f}M "
          f"parameters to {front_acc[-1]:.4f} at {front_params[-1] / 1e6:.1f}M")
    print(f"{'best cell found':>16}{'its accuracy':>14}{'hypervolume ratio at most':>27}")
    best_first = np.sort(accuracy)[::-1]
    for k in (1, 2, 3, 4, 5, 10, 20, 50, 100):
        allowed = accuracy <= best_first[k - 1]
        ratio = hypervolume(accuracy[allowed], params[allowed], *HV_REFERENCE) / true
        print(f"{'k = ' + str(k):>16}{best_first[k - 1]:>14.4f}{ratio:>27.4f}")
    for drop in (0.0005, 0.001, 0.002):
        ratio = hypervolume(front_acc - drop, front_params, *HV_REFERENCE) / true
        print(f"every front cell {100 * drop:.2f} pp less accurate: ratio {ratio:.4f}")


if __name__ == "__main__":
    main()
