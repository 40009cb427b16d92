"""Accuracy predictors side by side (same splits and seeds): ``netembed bench predictors``.

    python experiments/predictors.py [--train-sizes 100 172 424 4236 --seeds 5 --out results/predictors]

Writes predictors.csv, predictors_runs.csv and predictors.png; ``--format json`` prints the rows.
"""

import sys

from netembed.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "predictors", *sys.argv[1:]]))
