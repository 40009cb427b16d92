"""Warm start by Net2Net against training from scratch, on the small offline task.

For random parents: train the parent (the default small task), apply a random move, and
train the child twice with the same settings and seed: once from the inherited weights
(``netembed.train.net2net.inherit``), once from scratch. Report, per pair, the epochs each
child needs to reach its parent's test accuracy (0 = before any training) and the ratio.

    python experiments/net2net.py                     # 10 function-preserving + 10 other moves
    python experiments/net2net.py --pairs 5 --format json
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from netembed.spaces.nb101 import space
from netembed.spaces.nb101.transforms import neighbors
from netembed.train import (
    SMALL_DATA,
    SMALL_NETWORK,
    TrainConfig,
    build_network,
    digits,
    evaluate,
    train_cell,
    train_network,
)
from netembed.train.net2net import inherit


def epochs_to_reach(start: float, history: list[dict], target: float) -> int | None:
    """First epoch (0 = the starting weights) with test accuracy >= target; None if never."""
    if start >= target:
        return 0
    return next((h["epoch"] for h in history if h["test_accuracy"] >= target), None)


def run_pair(parent_cell, rng, data, child_epochs: int, preserving: bool, seed: int) -> dict | None:
    """Train a parent, then one child of a random move of the wanted kind, warm and from scratch."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_network(parent_cell, SMALL_NETWORK)
    parent = train_network(network, data, TrainConfig(seed=seed))
    moves = neighbors(network.cell)
    rng.shuffle(moves)
    for move in moves:
        child = inherit(network, move.action, seed=seed)
        if child.function_preserving != preserving:
            continue
        config = TrainConfig(epochs=child_epochs, seed=seed)
        start_warm = evaluate(child.network, data.test_images, data.test_labels)
        warm = train_network(child.network, data, config)
        scratch = train_cell(move.cell, data, SMALL_NETWORK, config)
        target = parent.test_accuracy
        return {
            "parent": parent_cell.hash,
            "action": repr(move.action),
            "child": move.cell.hash,
            "function_preserving": child.function_preserving,
            "parent_accuracy": target,
            "warm_start_accuracy": start_warm,
            "warm_accuracy": [h["test_accuracy"] for h in warm.history],
            "scratch_accuracy": [h["test_accuracy"] for h in scratch.history],
            "warm_epochs_to_parent": epochs_to_reach(start_warm, warm.history, target),
            "scratch_epochs_to_parent": epochs_to_reach(0.0, scratch.history, target),
        }
    return None


def summarise(rows: list[dict], child_epochs: int) -> dict:
    def censored(value):  # not reached within the budget: count one epoch past it
        return child_epochs + 1 if value is None else value

    warm = np.array([censored(r["warm_epochs_to_parent"]) for r in rows], dtype=float)
    scratch = np.array([censored(r["scratch_epochs_to_parent"]) for r in rows], dtype=float)
    return {
        "pairs": len(rows),
        "warm_mean_epochs": float(warm.mean()),
        "scratch_mean_epochs": float(scratch.mean()),
        "ratio_scratch_over_warm": float(scratch.mean() / max(warm.mean(), 1e-9)) if warm.mean() else None,
        "warm_reached": int(sum(r["warm_epochs_to_parent"] is not None for r in rows)),
        "scratch_reached": int(sum(r["scratch_epochs_to_parent"] is not None for r in rows)),
        "warm_faster": int((warm < scratch).sum()),
        "ties": int((warm == scratch).sum()),
        "mean_accuracy_after_1_epoch": {
            "warm": float(np.mean([r["warm_accuracy"][0] for r in rows])),
            "scratch": float(np.mean([r["scratch_accuracy"][0] for r in rows])),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=10, help="parent/move pairs of each kind")
    parser.add_argument("--child-epochs", type=int, default=TrainConfig().epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = digits(**SMALL_DATA)
    rng = np.random.default_rng(args.seed)
    report = {"data": data.name, "network": SMALL_NETWORK.to_dict(), "child_epochs": args.child_epochs}
    for preserving in (True, False):
        rows = []
        while len(rows) < args.pairs:
            parent_cell = space.cell_at(int(rng.integers(space.NUM_CELLS)))
            row = run_pair(parent_cell, rng, data, args.child_epochs, preserving, args.seed)
            if row is not None:
                rows.append(row)
                if args.format == "text":
                    print(
                        f"{row['action']:<55} parent {row['parent_accuracy']:.3f}  child starts {row['warm_start_accuracy']:.3f}"
                        f"  epochs to parent: warm {row['warm_epochs_to_parent']}, scratch {row['scratch_epochs_to_parent']}",
                        flush=True,
                    )
        key = "function_preserving" if preserving else "other_moves"
        report[key] = summarise(rows, args.child_epochs) | {"rows": rows}
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return
    for key in ("function_preserving", "other_moves"):
        s = report[key]
        print(
            f"{key.replace('_', ' ')}: {s['pairs']} pairs, epochs to the parent's accuracy (not reached = "
            f"{args.child_epochs + 1}): warm {s['warm_mean_epochs']:.2f}, scratch {s['scratch_mean_epochs']:.2f} "
            + (
                f"({s['ratio_scratch_over_warm']:.1f}x fewer warm)"
                if s["ratio_scratch_over_warm"]
                else "(warm: none needed)"
            )
            + f"; reached warm {s['warm_reached']}, scratch "
            f"{s['scratch_reached']}; warm faster in {s['warm_faster']}, ties {s['ties']}; accuracy after 1 epoch "
            f"warm {s['mean_accuracy_after_1_epoch']['warm']:.3f}, scratch {s['mean_accuracy_after_1_epoch']['scratch']:.3f}"
        )


if __name__ == "__main__":
    main()
