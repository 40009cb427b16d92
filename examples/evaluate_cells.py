"""Writes ``examples/evaluated_cells.json``: random cells of the space, each labelled by training its
network for real on the small offline task (``netembed train-cell``'s defaults: scikit-learn's
digits, 3 epochs, seed 0), as a user's own evaluated cells would be. Rerun to regenerate:

    python examples/evaluate_cells.py --cells 12 --seed 7
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from netembed._io import atomic_write
from netembed.spaces.nb101 import space
from netembed.train.spec import TrainingSpec, train_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7, help="which random cells")
    parser.add_argument("--out", default=str(Path(__file__).with_name("evaluated_cells.json")))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for k in range(args.cells):
            cell = space.random_cell(rng)
            payload, _ = train_one(cell, TrainingSpec(device="cpu"), 0, Path(work) / cell.hash)
            rows.append({"matrix": payload["matrix"], "ops": payload["ops"], "value": payload["test_accuracy"]})
            print(f"{k + 1}/{args.cells} {cell.hash} test accuracy {payload['test_accuracy']:.4f}", flush=True)
    atomic_write(args.out, lambda tmp: Path(tmp).write_text(json.dumps(rows, indent=1) + "\n"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
