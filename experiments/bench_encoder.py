"""Benchmark of the cell encoder: embedding the whole space with the shipped pretrained encoder.

Run with ``make bench`` (or ``python experiments/bench_encoder.py [--format json]``). Runs in a
fresh process so the peak memory (VmHWM) is the embedding's own, not the caller's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_PROBE = """
import json, time
import torch
from netembed.spaces.nb101 import space
from netembed.models.encoder import CellEncoder

def peak_mb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024

arrays = space.space_arrays()
encoder = CellEncoder.from_pretrained("encoder-nb101")
before = peak_mb()
timings = []
for _ in range(3):
    start = time.perf_counter()
    embeddings = encoder.embed_arrays(arrays.adjacency, arrays.ops)
    timings.append(time.perf_counter() - start)
print(json.dumps({"cells": len(arrays), "seconds_best_of_3": min(timings), "seconds_all": timings,
                  "cells_per_second": len(arrays) / min(timings), "threads": torch.get_num_threads(),
                  "peak_rss_mb": peak_mb(), "rss_before_embedding_mb": before,
                  "embedding_shape": list(embeddings.shape)}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    probe = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    figures = json.loads(probe.stdout.strip().splitlines()[-1])
    if args.format == "json":
        print(json.dumps(figures, indent=2))
        return
    print(
        f"{'embed_all_cells_seconds':<44} {figures['seconds_best_of_3']:.2f} s (best of 3; all: "
        + ", ".join(f"{t:.2f}" for t in figures["seconds_all"])
        + f"; {figures['threads']} threads)"
    )
    print(f"{'embed_cells_per_second':<44} {figures['cells_per_second']:,.0f} cells/s")
    print(
        f"{'embed_peak_rss_mb':<44} {figures['peak_rss_mb']:,.0f} MB (whole process, "
        f"{figures['rss_before_embedding_mb']:,.0f} MB before embedding)"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
