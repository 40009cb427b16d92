"""Hardware-constrained search from 10 timings: a device's latencies predicted, not read.

    python experiments/constrained_search.py [--devices pixel3 samsung_s7 titanx_32]
        [--quantiles 0.25 0.5] [--seeds 10] [--budget 100] [--timings 10] [--dataset cifar10]
        [--method netembed] [--latency-quantile 0.95] [--jobs 2] [--out results/constrained]

For each held-out device, constraint and seed: a latency prior is learned from the table's
other devices (never the held-out one), adapted from ``--timings`` random architectures timed
on the device (``LatencyPrior.adapt``: those timings are the only latencies of that device the
run sees), and saved as a ``DeviceLatency``; then ``netembed.run`` searches the data set's
validation accuracy with ``--reward hard --cost latency:DEVICE --cost-target T`` reading the
model's milliseconds (``SearchSpec.latency_model``) at ``--latency-quantile`` of its predictive
spread (``SearchSpec.latency_quantile``: 0.5 its median, 0.95 an upper bound), T the device's
latency at that quantile of the table. The pick is the most accurate queried architecture whose
predicted latency is within T.
Reported per device and constraint, over seeds:

- how often the pick truly exceeds T (the table's column);
- the regret of the pick: the table's best test accuracy among architectures truly within T
  minus the pick's test accuracy, in points (a pick that truly exceeds T counts, as it is what a
  user would deploy);
- the regret of the best queried architecture (by validation) truly within T: what the search
  found, had the latencies been exact.

Each run's folder under ``OUT/runs`` is reused when rerun (``result.json`` present).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import netembed
from netembed import spaces
from netembed.models.latency import LatencyPrior
from netembed.search import Budget
from netembed.search.objective import Objective, Reward

_TABLE = None


def _init() -> None:
    global _TABLE
    import torch

    torch.set_num_threads(1)
    _TABLE = spaces.get("nb201").load_table()


def _device_model(table, device: str, timings: int, seed: int, folder: Path) -> Path:
    """The held-out device's latency model: a prior from the other devices, ``timings`` of its own."""
    space = spaces.get("nb201")
    features = space.feature_inputs([table.arch_at(i) for i in range(len(table))])
    others = {d: table.latency[d] for d in table.devices if d != device}
    rows = np.random.default_rng([seed, timings]).choice(len(table), timings, replace=False)
    prior = LatencyPrior.learn(features, others, space="nb201")
    model = prior.adapt(features[rows], np.asarray(table.latency[device], dtype=np.float64)[rows], device)
    model.save_pretrained(folder, {"timings": timings, "held_out": device, "prior_devices": list(others)})
    return folder


def _one(task: tuple) -> dict:
    device, quantile, seed, args = task
    table, out = _TABLE, Path(args["out"]) / "runs" / f"{device}-q{quantile}-seed{seed}"
    target = float(np.quantile(np.asarray(table.latency[device], dtype=np.float64), quantile))
    if not (out / "result.json").exists():
        model = _device_model(table, device, args["timings"], seed, out.with_name(out.name + ".model"))
        spec = netembed.SearchSpec(
            method=args["method"], evaluator="table", budget=Budget(queries=args["budget"]), seed=seed, space="nb201",
            dataset=args["dataset"], objective=Objective(reward=Reward("hard", f"latency:{device}", target)),
            latency_model=str(model), latency_quantile=args["latency_quantile"],
        )  # fmt: skip
        netembed.run(spec, out)
    return _scores(table, out, device, target, args["dataset"]) | {"device": device, "quantile": quantile}


def _scores(table, out: Path, device: str, target: float, dataset: str) -> dict:
    best = json.loads((out / "result.json").read_text())["within_budget"]["best"]
    latency, test, val = np.asarray(table.latency[device], dtype=np.float64), table.test[dataset], table.val[dataset]
    fits = latency <= target
    table_best = float(test[fits].max())
    log = [json.loads(line) for line in (out / "queries.jsonl").read_text().splitlines()]
    rows = [table.row_of(spaces.get("nb201").from_json({"arch": e["arch"]})) for e in log if "arch" in e]
    truly = [r for r in rows if fits[r]]
    return {
        "violates": None if best is None else bool(latency[table.row_of(best["arch"])] > target),
        "regret_pick": None if best is None else 100 * (table_best - float(test[table.row_of(best["arch"])])),
        "regret_fitting": None if not truly else 100 * (table_best - float(test[max(truly, key=lambda r: val[r])])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", nargs="+", default=["pixel3", "samsung_s7", "titanx_32"])
    parser.add_argument("--quantiles", type=float, nargs="+", default=[0.25, 0.5])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--timings", type=int, default=10)
    parser.add_argument("--dataset", default="cifar10")
    parser.add_argument("--method", default="netembed")
    parser.add_argument("--latency-quantile", type=float, default=netembed.SearchSpec.latency_quantile)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="results/constrained")
    args = parser.parse_args()
    from multiprocessing import get_context

    from netembed.errors import DataError

    try:
        spaces.get("nb201").load_table()
    except DataError as error:  # a fresh clone without the table: nothing to measure against
        print(f"constrained_search skipped: {error}")
        return
    settings = {k: getattr(args, k) for k in ("budget", "timings", "dataset", "method", "latency_quantile", "out")}
    tasks = [(d, q, s, settings) for d in args.devices for q in args.quantiles for s in range(args.seeds)]
    with get_context("spawn").Pool(args.jobs, initializer=_init) as pool:
        found = pool.map(_one, tasks)
    print(
        f"{args.method}, {args.budget} queries, latency from {args.timings} timings at the model's "
        f"{args.latency_quantile:g} quantile, {args.seeds} seeds, {args.dataset}"
    )
    print(f"{'device':<12}{'quantile':>9}{'violations':>12}{'regret of pick (median)':>25}{'best truly within':>19}")
    for device in args.devices:
        for quantile in args.quantiles:
            mine = [f for f in found if f["device"] == device and f["quantile"] == quantile]
            picks = [f for f in mine if f["violates"] is not None]
            fitting = [f["regret_fitting"] for f in mine if f["regret_fitting"] is not None]
            print(
                f"{device:<12}{quantile:>9}{sum(f['violates'] for f in picks):>6}/{len(mine):<5}"
                f"{np.median([f['regret_pick'] for f in picks]):>25.2f}{np.median(fitting):>19.2f}"
            )
    picks = [f for f in found if f["violates"] is not None]
    print(
        f"all: {sum(f['violates'] for f in picks)}/{len(found)} picks truly over the constraint; median regret "
        f"{np.median([f['regret_pick'] for f in picks]):.2f} points (pick), "
        f"{np.median([f['regret_fitting'] for f in found if f['regret_fitting'] is not None]):.2f} (best truly within)"
    )


if __name__ == "__main__":
    main()
