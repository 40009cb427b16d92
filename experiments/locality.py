"""NAS-Bench-101 Figure 7: random-walk autocorrelation (RWA) of test accuracy over single moves.

Same as ``netembed analyze locality`` (see ``--help``): walks the move graph, correlates test
accuracy at distance 1..max-lag, compares with the noise band of random pairs, and writes
``rwa.csv`` and ``rwa.png`` (plus the embedding-space version with ``--embedding encoder-nb101``).

    python experiments/locality.py [--walks 1000 --length 100 --max-lag 20 --seed 0 --out results/locality]
"""

import sys

from netembed.cli import main

if __name__ == "__main__":
    sys.exit(main(["analyze", "locality", *sys.argv[1:]]))
