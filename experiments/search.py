"""Every search method side by side on the NAS-Bench-101 table: ``netembed compare``.

    python experiments/search.py [--seeds 30 --seed-offset 0 --budget 300 --jobs 2 --out results/compare]

Writes search.json, search_runs.csv and search.png (reruns reuse finished runs under runs/);
``--format json`` prints one row per method.
"""

import sys

from netembed.cli import main

if __name__ == "__main__":
    sys.exit(main(["compare", *sys.argv[1:]]))
