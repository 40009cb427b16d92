"""Latency models end to end: ``netembed train-predictor --label latency`` and ``latency:DEVICE``.

- ``latency``: the prior over the devices of the table (``LatencyPrior.learn`` on every
  ``latency_{device}`` column); its card names the devices and carries its leave-one-device-out
  quality: each device held out in turn, the prior learned from the others, adapted from 10
  timings (5 seeds), Spearman on the rest (``netembed bench latency``'s ``prior`` row).
- ``latency:DEVICE`` with ``--init PRIOR``: one device adapted from ``train_size`` of its timings
  (random architectures of the table's column) or from ``cells`` (a JSON file
  ``[{"arch": ..., "value": milliseconds}]``), measured on every other architecture of the table
  when it has the device's column. A device the prior has learned from is refused: its figure
  would be in-sample.
"""

from __future__ import annotations

import hashlib

import numpy as np

from netembed import spaces
from netembed._io import check_new_folder, file_hashes
from netembed.models.latency import LatencyError, LatencyPrior

__all__ = ["latency_text", "train_latency"]

#: Timings per held-out device and seeds of the leave-one-device-out figure on a prior's card.
CARD_TIMINGS, CARD_SEEDS = 10, 5


def train_latency(job, out, command: str | None = None, force: bool = False) -> dict:
    """Learn the prior (``job.label`` "latency") or adapt a device ("latency:DEVICE"); returns what
    was written (``out``, the devices or timings, and the measured quality)."""
    space = spaces.get(job.space)
    if job.label == "latency":
        return _learn_prior(job, space, out, command, force)
    return _adapt_device(job, space, job.label.split(":", 1)[1], out, command, force)


def _learn_prior(job, space, out, command, force) -> dict:
    from netembed.benchmarks.latency_bench import run_latency_bench, summarise

    table = space.load_table(job.data)
    if len(table.devices) < 3:
        raise LatencyError(
            "a prior over devices needs at least three latency columns (two to learn from while one is held out "
            f"for its card's figure), got {list(table.devices)}"
        )
    features = space.feature_inputs([table.arch_at(i) for i in range(len(table))])
    prior = LatencyPrior.learn(features, {d: table.latency[d] for d in table.devices}, space=space.name)
    held_out = run_latency_bench(table, [CARD_TIMINGS], range(CARD_SEEDS), ["prior"], space_name=space.name)
    rows, per_device = summarise(held_out)
    quality = {
        "leave_one_device_out": f"each device held out, the prior learned from the others, adapted from "
        f"{CARD_TIMINGS} random timings, {CARD_SEEDS} seeds, Spearman on the rest",
        "spearman": rows[0]["spearman"],
        "worst_device": rows[0]["worst_device"],
        "worst_spearman": rows[0]["worst_spearman"],
        "per_device": {r["device"]: r["spearman"] for r in per_device},
    }
    out = check_new_folder(out, force)
    meta = {"command": command, "target": "latency", "devices": list(table.devices), "quality": quality}
    meta["data_sha256"] = file_hashes(table.source)
    prior.save_pretrained(out, meta)
    return {"out": str(out), "model": "LatencyPrior", "devices": list(table.devices), "test": quality}


def _adapt_device(job, space, device: str, out, command, force) -> dict:
    from netembed.benchmarks.latency_bench import rank_agreement

    if job.init is None:
        raise LatencyError(f"--label latency:{device} adapts a prior over devices: pass --init (e.g. latency-nb201)")
    prior = LatencyPrior.from_pretrained(job.init)
    if prior.config.space != space.name:
        raise LatencyError(f"--init must be a prior of space {space.name}, got one of {prior.config.space}: {job.init}")
    if device in prior.config.devices:
        raise LatencyError(
            f"{job.init} has learned from {device} itself (its devices: {', '.join(prior.config.devices)}): a figure "
            f"for it would be in-sample; learn a prior without it (netembed bench latency holds each out in turn)"
        )
    table = space.find_table(job.data, required=job.cells is None)
    column = None if table is None or device not in table.devices else np.asarray(table.latency[device])
    if job.cells is None and column is None:
        raise LatencyError(f"device must be one of the table's {', '.join(table.devices)} or --cells, got {device!r}")
    if job.cells is not None:
        archs, ms = space.read_values(job.cells, "milliseconds", LatencyError)
        rows = None if table is None else np.array([table.row_of(a) for a in archs])
    else:
        if not 2 <= job.train_size <= len(table) - 2:
            raise LatencyError(f"--train-size must be in [2, {len(table) - 2}], got {job.train_size}")
        rows = np.random.default_rng(job.seed).choice(len(table), job.train_size, replace=False)
        archs, ms = [table.arch_at(int(r)) for r in rows], column[rows]
    adapted = prior.adapt(space.feature_inputs(archs), ms, device=device)
    out = check_new_folder(out, force)
    meta = {"command": command, "target": f"latency:{device}", "timings": len(archs), "init": job.init}
    payload = {"out": str(out), "model": "DeviceLatency", "timings": len(archs)}
    if column is not None and rows is not None:  # every other architecture of the table's column
        rest = np.setdiff1d(np.arange(len(table)), rows)
        predicted = adapted.log_ms(space.feature_inputs([table.arch_at(int(r)) for r in rest]))
        spearman, kendall = rank_agreement(predicted, np.log(column[rest]))
        meta["quality"] = payload["test"] = {"architectures": len(rest), "spearman": spearman, "kendall_tau": kendall}
        meta["train_rows_sha256"] = hashlib.sha256(np.sort(rows).tobytes()).hexdigest()
    adapted.save_pretrained(out, meta)
    return payload


def latency_text(payload: dict) -> str:
    """What ``netembed train-predictor`` prints of a latency model's payload."""
    if payload["model"] == "LatencyPrior":
        t = payload["test"]
        return (
            f"wrote {payload['out']} (LatencyPrior over {len(payload['devices'])} devices: "
            f"{', '.join(payload['devices'])})\nleave-one-device-out from {CARD_TIMINGS} timings: mean Spearman "
            f"{t['spearman']:.3f}, worst {t['worst_device']} {t['worst_spearman']:.3f}"
        )
    text = f"wrote {payload['out']} (DeviceLatency, adapted from {payload['timings']} timings)"
    if "test" in payload:
        t = payload["test"]
        text += (
            f"\nthe table's other {t['architectures']:,} architectures: Spearman {t['spearman']:.3f}, "
            f"Kendall tau {t['kendall_tau']:.3f}"
        )
    return text
