from types import SimpleNamespace

import numpy as np
import pytest

from netembed.compare import Run, format_summary, summarise
from netembed.objective import HV_REFERENCE, hypervolume


def test_hypervolume_ratio_at_every_checkpoint():
    # a table of four cells; the true front is the (0.90, 2M) and (0.94, 10M) cells
    accuracy = np.array([0.90, 0.94, 0.85, 0.92])
    params = np.array([2e6, 10e6, 5e6, 20e6])
    bench = SimpleNamespace(test_acc_108=accuracy, params=params, rank=lambda a: int((accuracy > a).sum()) + 1)
    true = hypervolume(accuracy, params, *HV_REFERENCE)
    # the run queries a dominated cell, then the cheap front cell, then the best one
    run = Run("random", 0, 3, [0.85, 0.90, 0.94], [5_000_000, 2_000_000, 10_000_000], 0.0, 0.0)
    (row,) = summarise([run], bench, checkpoints=(1, 2, 3))
    ratios = [row["by_budget"][p]["median_hypervolume_ratio"] for p in ("1", "2", "3")]
    assert ratios == pytest.approx(
        [
            hypervolume(accuracy[[2]], params[[2]], *HV_REFERENCE) / true,
            hypervolume(accuracy[[2, 0]], params[[2, 0]], *HV_REFERENCE) / true,
            1.0,
        ]
    )
    assert ratios[0] < ratios[1] < ratios[2] and row["median_hypervolume_ratio"] == ratios[2]
    assert "HV ratio @2" in format_summary([row]) and f"{ratios[1]:.3f}" in format_summary([row])
