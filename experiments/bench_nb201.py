"""Benchmark of the NAS-Bench-201 space: loading its table and embedding all 15,625 architectures.

Run with ``make bench`` (or ``python experiments/bench_nb201.py [--format json]``); skips, saying
why, without the table. Targets: the table loads in under 0.2 s, every architecture embeds in
under 1 s (best of 3, one process, torch at its default threads).
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--data", help="the NAS-Bench-201 table (default: $NETEMBED_NB201_DATA or ../shared/data/nb201)"
    )
    args = parser.parse_args()

    import torch

    from netembed import spaces
    from netembed.errors import DataError
    from netembed.models.encoder import CellEncoder
    from netembed.spaces.nb201 import Table

    def best_of_3(work) -> tuple[float, list[float]]:
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            work()
            timings.append(time.perf_counter() - start)
        return min(timings), timings

    figures: dict = {"threads": torch.get_num_threads()}
    try:
        figures["table_load_seconds"], figures["table_load_all"] = best_of_3(lambda: Table.load(args.data))
    except DataError as exc:
        figures["table_load_seconds"] = f"skipped: {exc}"
    archs = spaces.get("nb201").enumerate()
    encoder = CellEncoder.from_pretrained("encoder-nb201")
    figures["embed_all_seconds"], figures["embed_all"] = best_of_3(lambda: encoder.embed(archs))
    figures["architectures"] = len(archs)
    if args.format == "json":
        print(json.dumps(figures, indent=2))
        return
    load = figures["table_load_seconds"]
    print(f"{'nb201_table_load_seconds':<44} " + (load if isinstance(load, str) else f"{load:.3f} s (best of 3)"))
    print(
        f"{'nb201_embed_all_seconds':<44} {figures['embed_all_seconds']:.2f} s (best of 3, "
        f"{len(archs):,} architectures, {figures['threads']} threads)"
    )


if __name__ == "__main__":
    main()
