"""How far a device's latencies can be ranked from the other devices and the architecture alone,
given every label of that device: the ceiling of any estimator that adapts from a few timings.

    python experiments/latency_ceiling.py [--data PATH] [--seed 0]

For each device of a NAS-Bench-201-format table, fitted on **all** its architectures (in-sample;
no held-out device is involved, every column is the target in turn):

- ``nnls``: non-negative least squares of its log latencies on the other devices' and an
  intercept (the benchmark's strongest baseline, here with 15,625 timings instead of 10);
- ``nnls+ops``: least squares on the same columns plus the one-hot op of each edge;
- ``ops``: least squares on the one-hot ops alone;
- ``gbt (half)``: gradient-boosted trees on the other devices' log latencies and the one-hot ops,
  trained on a random half of the architectures and scored on the other half (a nonlinear
  model with thousands of labels).

Prints Spearman per device and the mean over devices.
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import nnls
from scipy.stats import spearmanr
from sklearn.ensemble import HistGradientBoostingRegressor

from netembed import spaces


def _spearman(predicted: np.ndarray, truth: np.ndarray) -> float:
    return float(spearmanr(predicted, truth).statistic)


def ceilings(table, seed: int = 0) -> list[dict]:
    """One row per device: the four fits' Spearman (see the module docstring)."""
    logs = {d: np.log(np.asarray(table.latency[d], dtype=np.float64)) for d in table.devices}
    codes = np.asarray(table.codes)
    ops = np.concatenate([np.eye(codes.max() + 1)[codes[:, j]] for j in range(codes.shape[1])], 1)
    rows = len(table)
    half = np.random.default_rng(seed).permutation(rows)
    train, test = half[: rows // 2], half[rows // 2 :]
    found = []
    for device, truth in logs.items():
        others = np.column_stack([logs[d] for d in table.devices if d != device] + [np.ones(rows)])
        weights, _ = nnls(others, truth)
        with_ops = np.column_stack([others, ops])
        both = with_ops @ np.linalg.lstsq(with_ops, truth, rcond=None)[0]
        alone = np.column_stack([np.ones(rows), ops])
        structure = alone @ np.linalg.lstsq(alone, truth, rcond=None)[0]
        trees = HistGradientBoostingRegressor(max_iter=300, random_state=seed).fit(with_ops[train], truth[train])
        found.append(
            {
                "device": device,
                "nnls": _spearman(others @ weights, truth),
                "nnls+ops": _spearman(both, truth),
                "ops": _spearman(structure, truth),
                "gbt (half)": _spearman(trees.predict(with_ops[test]), truth[test]),
            }
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="a NAS-Bench-201-format table (default: the space's default place)")
    parser.add_argument("--seed", type=int, default=0, help="the half the trees train on")
    args = parser.parse_args()
    from netembed.errors import DataError

    try:
        table = spaces.get("nb201").load_table(args.data)
    except DataError as error:  # a fresh clone without the table: nothing to measure
        print(f"latency_ceiling skipped: {error}")
        return
    found = ceilings(table, args.seed)
    names = [k for k in found[0] if k != "device"]
    print(f"{'device':<16}" + "".join(f"{n:>12}" for n in names))
    for row in found:
        print(f"{row['device']:<16}" + "".join(f"{row[n]:>12.3f}" for n in names))
    print(f"{'mean':<16}" + "".join(f"{np.mean([r[n] for r in found]):>12.3f}" for n in names))


if __name__ == "__main__":
    main()
