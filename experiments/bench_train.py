"""Benchmark of real training: seconds per epoch of the small offline task, and throughput of
NAS-Bench-101's full network on CIFAR-sized inputs (on CUDA when available, else the CPU).

    python experiments/bench_train.py [--format json] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from netembed.spaces.nb101 import space
from netembed.train import SMALL_DATA, SMALL_NETWORK, NetworkConfig, TrainConfig, build_network, digits, train_cell


def small_task(cells: int) -> dict:
    """One epoch of the default small task (digits, scaled network) for random cells, on the CPU."""
    data = digits(**SMALL_DATA)
    network = SMALL_NETWORK
    seconds = []
    for row in np.random.default_rng(0).choice(space.NUM_CELLS, cells, replace=False):
        result = train_cell(space.cell_at(int(row)), data, network, TrainConfig(epochs=1))
        seconds.append(result.train_seconds)
    return {
        "data": data.name,
        "network": network.to_dict(),
        "cells": cells,
        "threads": torch.get_num_threads(),
        "median_seconds_per_epoch": float(np.median(seconds)),
        "max_seconds_per_epoch": float(np.max(seconds)),
        "train_images_per_second": len(data.train_images) / float(np.median(seconds)),
    }


def full_network(device: str, batch_size: int, steps: int) -> dict:
    """Training steps (forward, backward, SGD) of the full 128-channel network on 32x32 images."""
    cell = max((space.cell_at(i) for i in range(0, space.NUM_CELLS, 4001)), key=space.count_params)  # a large one
    network = build_network(cell, NetworkConfig(), device)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.01, momentum=0.9)
    images = torch.randn(batch_size, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (batch_size,), device=device)
    timings = []
    for step in range(steps + 1):  # the first step warms up (allocations, kernels)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(network(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if step:
            timings.append(time.perf_counter() - started)
    return {
        "device": device,
        "cell": cell.hash,
        "params": space.count_params(cell),
        "batch_size": batch_size,
        "median_seconds_per_step": float(np.median(timings)),
        "train_images_per_second": batch_size / float(np.median(timings)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cells", type=int, default=5, help="random cells for the small task")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="full network (default: 256 on CUDA, 32 on CPU)")
    parser.add_argument("--steps", type=int, default=None, help="full-network steps (default: 20 on CUDA, 3 on CPU)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    cuda = args.device.startswith("cuda")
    report = {
        "small_task": small_task(args.cells),
        "full_network": full_network(
            args.device, args.batch_size or (256 if cuda else 32), args.steps or (20 if cuda else 3)
        ),
    }
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return
    s, f = report["small_task"], report["full_network"]
    print(
        f"small task ({s['data']}, stem {s['network']['stem_channels']}, {s['network']['cells_per_stack']} cell per stack, "
        f"{s['threads']} threads): {s['median_seconds_per_epoch']:.2f} s per epoch (median of {s['cells']} cells, "
        f"max {s['max_seconds_per_epoch']:.2f}), {s['train_images_per_second']:,.0f} training images/s"
    )
    print(
        f"full NAS-Bench-101 network ({f['params']:,} parameters) on {f['device']}, batch {f['batch_size']}, 32x32: "
        f"{f['median_seconds_per_step']:.3f} s per step, {f['train_images_per_second']:,.0f} training images/s"
    )


if __name__ == "__main__":
    main()
