"""Benchmarks of the cell space core: enumeration, table loading, queries, moves, connectivity.

Run with ``make bench`` (or ``python experiments/bench_core.py [--format json] [--skip-walk]``).
Prints each figure as it is measured; the NAS-Bench-101 table parts need the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from netembed.errors import DataError
from netembed.spaces.nb101 import space, transforms
from netembed.spaces.nb101.table import Benchmark

# ru_maxrss survives exec (it would report the parent's peak); VmHWM is the new process's own.
_LOAD_PROBE = """
import time
import numpy
def peak_mb():
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM"))
    return int(line.split()[1]) / 1024
before = peak_mb()
start = time.perf_counter()
from netembed.spaces.nb101.table import Benchmark
bench = Benchmark.load()
seconds = time.perf_counter() - start
print(seconds, before, peak_mb())
"""


def timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--skip-walk", action="store_true", help="skip the whole-space connectivity walk (~2 min)")
    args = parser.parse_args()
    figures: dict[str, float | int | str] = {}

    def report(name: str, value, unit: str = "") -> None:
        figures[name] = value
        if args.format == "text":
            shown = f"{value:,.3f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int) else value
            print(f"{name:<44} {shown} {unit}", flush=True)

    report("cpu_cores", os.cpu_count())

    # -- enumeration: from scratch (no cache), then from the cache -------------------------------
    fresh, seconds = timed(space._enumerate)
    report("enumeration_seconds", seconds, "s (all 423,624 cells, official hashes, no cache)")
    report("enumerated_cells", len(fresh))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "space.npz"
        space._save_cache(path, fresh)
        _, seconds = timed(space._load_cache, path)
    report("enumeration_cache_load_seconds", seconds, "s (checksum verified)")
    cells, seconds = timed(space.enumerate_cells)
    report("enumerate_cells_seconds_cached", seconds, "s (423,624 Cell objects from the cache)")

    # -- the table -----------------------------------------------------------------------------
    try:
        bench = Benchmark.load()
    except DataError as exc:
        report("table", f"skipped: {exc}")
        bench = None
    if bench is not None:
        probe = subprocess.run([sys.executable, "-c", _LOAD_PROBE], capture_output=True, text=True, check=True)
        seconds, rss_before, rss_after = map(float, probe.stdout.split())
        report("table_load_seconds", seconds, "s (fresh process, both files)")
        report("table_load_peak_rss_mb", rss_after, "MB (whole process)")
        report("table_load_added_rss_mb", rss_after - rss_before, "MB (over python + numpy)")
        rng = np.random.default_rng(0)
        rows = rng.choice(len(bench), 20_000, replace=False)
        hashes = [str(bench.hashes[r]) for r in rows]
        _, seconds = timed(lambda: [bench.query(h) for h in hashes])
        report("query_by_hash_per_second", len(rows) / seconds, "queries/s")
        hashed = [cells[r] for r in rows]  # Cell objects whose hash is already known
        _, seconds = timed(lambda: [bench.query(c) for c in hashed])
        report("query_by_cell_per_second", len(rows) / seconds, "queries/s (hash cached)")
        new = [bench.cell(r) for r in rows[:5000]]
        _, seconds = timed(lambda: [bench.query(c) for c in new])
        report("query_new_cell_per_second", len(new) / seconds, "queries/s (incl. computing the MD5 hash)")

    # -- moves ---------------------------------------------------------------------------------
    sample = [cells[i] for i in np.random.default_rng(1).choice(len(cells), 500, replace=False)]
    found, seconds = timed(lambda: [transforms.neighbors(c) for c in sample])
    report("neighbors_cells_per_second", len(sample) / seconds, "cells/s (Cell objects, deduplicated)")
    report("neighbors_mean_per_cell", float(np.mean([len(f) for f in found])), "distinct neighbours")

    if args.skip_walk:
        if args.format == "json":
            print(json.dumps(figures, indent=2))
        return
    arrays = space.space_arrays()
    graph, seconds = timed(transforms.build_move_graph, arrays)
    report("move_graph_seconds", seconds, "s (every move of every cell, vectorised)")
    report("move_graph_edges", len(graph[1]))
    reverse = transforms.reverse_graph(graph)
    start = int(np.argmax(arrays.num_vertices == 2))
    levels, seconds = timed(transforms.bfs_levels, graph, start)
    report("walk_seconds", seconds, "s (breadth-first walk from the 2-vertex cell)")
    report("walk_reached", sum(map(len, levels)), "cells (forward)")
    back = transforms.bfs_levels(reverse, start)
    report("walk_reached_reverse", sum(map(len, back)), "cells (cells that can reach it)")
    # Diameter of a directed graph: any eccentricity is a lower bound; out- plus
    # in-eccentricity of one cell is an upper bound. Sweep from the far ends and a few hubs.
    lower, upper = len(levels) - 1, (len(levels) - 1) + (len(back) - 1)
    degree = np.diff(graph[0]) + np.diff(reverse[0])
    candidates = {int(levels[-1][0]), int(back[-1][0]), *np.argsort(degree)[-3:].tolist()}
    for node in candidates:
        out_ecc = len(transforms.bfs_levels(graph, node)) - 1
        in_ecc = len(transforms.bfs_levels(reverse, node)) - 1
        lower, upper = max(lower, out_ecc, in_ecc), min(upper, out_ecc + in_ecc)
    report("diameter_lower_bound", lower, "moves")
    report("diameter_upper_bound", upper, "moves")
    if args.format == "json":
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
