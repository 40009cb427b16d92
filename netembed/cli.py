"""The ``netembed`` command line. User mistakes print one line to stderr and exit with code 2."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from netembed import space, transforms
from netembed._io import atomic_write, save_figure
from netembed.cell import Cell
from netembed.encoder import EncoderConfig
from netembed.errors import NetembedError
from netembed.predictors import READOUTS, TARGETS, PredictorConfig
from netembed.pretrain import PretrainConfig
from netembed.runs import METHODS
from netembed.train.trainer import SMALL_DATA, SMALL_NETWORK, TrainConfig

__all__ = ["main"]

ENCODER_DEFAULTS, PRETRAIN_DEFAULTS, TRAIN_DEFAULTS = EncoderConfig(), PretrainConfig(), TrainConfig()


class UsageError(NetembedError):
    """A command-line argument that cannot be used."""


# -- arguments ----------------------------------------------------------------------------------


def parse_cell(text: str) -> Cell:
    """A cell from JSON text ``{"matrix": [[...]], "ops": [...]}`` or from a file holding it."""
    source = "argument"
    if not text.lstrip().startswith("{") and Path(text).is_file():
        source, text = text, Path(text).read_text()
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f'cell must be JSON like {{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}}, '
            f"got invalid JSON in {source} ({exc.msg} at position {exc.pos})"
        ) from exc
    if not isinstance(spec, dict) or set(spec) != {"matrix", "ops"}:
        got = sorted(spec) if isinstance(spec, dict) else type(spec).__name__
        raise UsageError(f"cell JSON must be an object with exactly the keys 'matrix' and 'ops', got {got}")
    return Cell(spec["matrix"], spec["ops"])


def _load_bench(data: str | None, required: bool):
    from netembed.bench import Benchmark

    try:
        return Benchmark.load(data)
    except NetembedError:
        if required or data is not None:
            raise
        return None


def _cell_json(cell: Cell) -> dict:
    return {"hash": cell.hash, "matrix": cell.matrix.tolist(), "ops": list(cell.ops)}


def _print(args: argparse.Namespace, payload, text: str) -> None:
    print(json.dumps(payload, indent=2) if args.format == "json" else text)


# -- commands -----------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> None:
    arrays = space.space_arrays()
    vertices = {int(n): int(c) for n, c in zip(*np.unique(arrays.num_vertices, return_counts=True))}
    payload: dict = {"space": {"cells": len(arrays), "by_vertices": vertices, "cache": str(space.cache_dir())}}
    lines = [
        f"NAS-Bench-101 space: {len(arrays):,} unique cells",
        "  by vertex count: " + ", ".join(f"{n}: {c:,}" for n, c in vertices.items()),
    ]
    bench = _load_bench(args.data, required=False)
    if bench is None:
        lines.append("table: not found (set NETEMBED_DATA to the folder holding nb101_full.npz)")
    else:
        acc = bench.test_acc_108
        timed = 0 if bench.train_time_108 is None else int(np.count_nonzero(~np.isnan(bench.train_time_108)))
        payload["table"] = {
            "path": str(bench.source),
            "rows": len(bench),
            "best_test_acc_108": float(acc.max()),
            "mean_test_acc_108": float(acc.mean()),
            "median_test_acc_108": float(np.median(acc)),
            "timed_rows": timed,
        }
        lines += [
            f"table: {bench.source} ({len(bench):,} rows, {timed:,} with training time)",
            (
                f"  test accuracy (108 epochs, one repeat): best {acc.max():.4f}, "
                f"mean {acc.mean():.4f}, median {np.median(acc):.4f}"
            ),
        ]
    _print(args, payload, "\n".join(lines))


def cmd_query(args: argparse.Namespace) -> None:
    is_hash = len(args.cell) == 32 and not args.cell.lstrip().startswith("{") and not Path(args.cell).is_file()
    bench = _load_bench(args.data, required=is_hash)
    if is_hash:
        row = bench.row_of(args.cell)
        cell = bench.cell(row)
    else:
        cell = parse_cell(args.cell)
    payload = {**_cell_json(cell), "params": space.count_params(cell)}
    if bench is not None:
        payload["table"] = bench.query(cell).__dict__
    lines = [
        f"hash    {cell.hash}",
        f"ops     {list(cell.ops)}",
        "matrix  " + "\n        ".join(map(str, cell.matrix.tolist())),
        f"params  {payload['params']:,}",
    ]
    for name, value in payload.get("table", {}).items():
        if name != "hash" and value is not None:
            lines.append(f"{name:<15} {value}")
    _print(args, payload, "\n".join(lines))


def cmd_neighbors(args: argparse.Namespace) -> None:
    cell = parse_cell(args.cell)
    bench = _load_bench(args.data, required=False)
    rows = []
    for action, child in transforms.neighbors(cell):
        row = {"action": repr(action), "family": action.family, **_cell_json(child)}
        if bench is not None:
            row["test_acc_108"] = bench.query(child).test_acc_108
        rows.append(row)
    text = [f"{len(rows)} neighbours of {cell.hash}"]
    text += [
        f"  {r['family']:<7} {r['action']:<60} {r['hash']}"
        + (f"  {r['test_acc_108']:.4f}" if "test_acc_108" in r else "")
        for r in rows
    ]
    _print(args, rows, "\n".join(text))


def cmd_convert(args: argparse.Namespace) -> None:
    from netembed.bench.official import convert_tfrecord

    count = convert_tfrecord(args.source, args.output, progress=not args.quiet)
    print(f"wrote {count:,} cells to {args.output}")


def cmd_pretrain(args: argparse.Namespace) -> None:
    from netembed.encoder import EncoderConfig
    from netembed.pretrain import PretrainConfig, write_pretrained

    encoder_config = EncoderConfig(hidden=args.hidden, layers=args.layers, embedding_dim=args.embedding_dim)
    config = PretrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, kl_weight=args.kl_weight
    )
    work = Path(args.work) if args.work else Path(args.out).with_name(Path(args.out).name + ".checkpoint")
    command = "netembed " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("netembed") else None
    path = write_pretrained(args.out, work, encoder_config, config, device=args.device, command=command)
    print(f"wrote {path}")


def cmd_embed(args: argparse.Namespace) -> None:
    from netembed.encoder import CellEncoder

    if args.eval:
        from netembed.pretrain import evaluate_pretrained

        quality = evaluate_pretrained(args.model, out_dir=args.out, device=args.device, progress=args.format == "text")
        _print(args, quality, _quality_text(quality))
        return
    if args.cells is None:
        raise UsageError("embed needs a JSON file of cells, or --eval")
    try:
        specs = json.loads(Path(args.cells).read_text()) if Path(args.cells).is_file() else json.loads(args.cells)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f'cells must be a JSON list of {{"matrix": ..., "ops": ...}}, got invalid JSON ({exc.msg})'
        ) from exc
    if not isinstance(specs, list):
        raise UsageError(f'cells must be a JSON list of {{"matrix": ..., "ops": ...}}, got {type(specs).__name__}')
    cells = [parse_cell(json.dumps(spec)) for spec in specs]
    encoder = CellEncoder.from_pretrained(args.model, device=args.device)
    embeddings = encoder.embed(cells).tolist()
    rows = [{"hash": c.hash, "embedding": [round(v, 6) for v in e]} for c, e in zip(cells, embeddings)]
    _print(args, rows, "\n".join(f"{r['hash']}  " + " ".join(f"{v:+.3f}" for v in r["embedding"]) for r in rows))


def _quality_text(quality: dict) -> str:
    lines = [f"pretrained encoder: {quality['model']}"]
    rec = quality["reconstruction"]
    lines.append(
        f"reconstruction, held-out {rec['cells']:,} cells: ops {rec['ops_accuracy']:.5f}, "
        f"exact adjacency {rec['adjacency_accuracy']:.5f}, exact cell {rec['cell_accuracy']:.5f}"
    )
    for name in ("pretrained", "random_init"):
        sm = quality["smoothness"][name]
        lines.append(
            f"smoothness ({name}): |acc diff| to {sm['k']} nearest {sm['neighbour_gap']:.5f} vs random "
            f"{sm['random_gap']:.5f}, ratio {sm['ratio']:.3f}"
        )
    for name in ("pretrained", "random_init"):
        ed = quality["edit_distance"][name]
        lines.append(
            f"Spearman(embedding distance, move distance) ({name}): {ed['spearman']:.3f} over {ed['pairs']:,} pairs"
        )
    speed = quality["speed"]
    lines.append(
        f"embedding all {speed['cells']:,} cells: {speed['seconds']:.2f} s ({speed['cells_per_second']:,.0f} cells/s)"
    )
    lines += [f"wrote {path}" for path in quality.get("files", [])]
    return "\n".join(lines)


def cmd_locality(args: argparse.Namespace) -> None:
    """NAS-Bench-101's Figure 7 (RWA over single moves) and its embedding-space counterpart."""
    import time

    from netembed import analysis

    start = time.perf_counter()
    result = analysis.run_locality(
        walks=args.walks,
        length=args.length,
        max_lag=args.max_lag,
        seed=args.seed,
        out=args.out,
        data=args.data,
        permutations=args.permutations,
        bootstrap=args.bootstrap,
        progress=args.format == "text",
    )
    payload = {**result.to_dict(), "seconds": round(time.perf_counter() - start, 2), "out": str(args.out)}
    meta = result.meta
    lines = [
        analysis.format_table(result),
        f"distinct cells visited: {meta['distinct_cells_visited']:,}",
        (
            f"walk drift after {result.length} moves: mean vertices {meta.get('mean_vertices_first', float('nan')):.2f}"
            f" -> {meta.get('mean_vertices_last', float('nan')):.2f} (moves that prune lead to smaller cells)"
        ),
        f"wrote {Path(args.out) / 'rwa.csv'} and {Path(args.out) / 'rwa.png'}",
    ]
    if args.embedding:
        from netembed.bench import Benchmark
        from netembed.encoder import CellEncoder

        arrays = space.space_arrays()
        accuracy = Benchmark.load(args.data).test_acc_108
        encoder = CellEncoder.from_pretrained(args.embedding)
        embeddings = encoder.embed_arrays(arrays.adjacency, arrays.ops).numpy()
        near = analysis.embedding_locality(embeddings, accuracy, np.random.default_rng(args.seed))
        analysis.write_csv(near.rows(), Path(args.out) / "embedding_locality.csv")
        analysis.plot_locality(
            near,
            Path(args.out) / "embedding_locality.png",
            f"Accuracy correlation vs embedding distance ({args.embedding})",
        )
        payload["embedding"] = near.to_dict()
        lines += [
            "accuracy correlation of random cell pairs by embedding-distance bin (nearest first):",
            *(
                f"  bin {r['bin']:>2}  distance {r['mean_distance']:.3f}  correlation {r['correlation']:+.3f}  "
                f"|acc diff| {r['mean_abs_difference']:.4f}"
                for r in near.rows()
            ),
            f"wrote {Path(args.out) / 'embedding_locality.csv'} and {Path(args.out) / 'embedding_locality.png'}",
        ]
    _print(args, payload, "\n".join(lines))


def cmd_train_predictor(args: argparse.Namespace) -> None:
    """Train an accuracy predictor or a time estimator; report it on held-out table cells."""
    from scipy.stats import kendalltau, spearmanr

    from netembed.bench.table import TIME_FILE
    from netembed.predictor_bench import mdape_percent
    from netembed.predictors import TIME_TRAINING, AccuracyPredictor, PredictorConfig, TimeEstimator

    model_cls = TimeEstimator if args.target == "time" else AccuracyPredictor
    if args.target != "accuracy" and args.targets not in (None, "raw"):
        raise UsageError(f"--targets must be raw with --target {args.target} (it learns logs), got {args.targets}")
    if args.target == "params" and args.cells:
        raise UsageError(f"--target params learns random cells of the space (--train-size), got --cells {args.cells}")
    bench = _load_bench(args.data, required=args.cells is None and args.target != "params")
    rng = np.random.default_rng(args.seed)
    if args.target == "params":  # label-free: log parameter counts, computed from each cell's structure
        if not 2 <= args.train_size <= space.NUM_CELLS - 1:
            raise UsageError(f"--train-size must be in [2, {space.NUM_CELLS - 1}], got {args.train_size}")
        train_rows = rng.choice(space.NUM_CELLS, args.train_size, replace=False)
        cells = [space.cell_at(int(r)) for r in train_rows]
        labels = np.log([space.count_params(c) for c in cells])
    elif args.cells and args.cells.endswith(".jsonl"):  # a search's query log, e.g. times measured by real training
        from netembed.runs import read_log

        _, evaluations, _ = read_log(args.cells)
        labelled = [e for e in evaluations if (e.accuracy if args.target == "accuracy" else e.seconds) is not None]
        cells = [e.cell for e in labelled]
        labels = np.array([e.accuracy if args.target == "accuracy" else e.seconds for e in labelled], dtype=float)
        train_rows = np.array([bench.row_of(c) for c in cells if c in bench] if bench is not None else [], dtype=int)
    elif args.cells:  # the user's own evaluated cells: [{"matrix", "ops", "value"}]
        specs = json.loads(Path(args.cells).read_text())
        if not isinstance(specs, list) or not all(isinstance(s, dict) and "value" in s for s in specs):
            raise UsageError('--cells must hold a JSON list of {"matrix": ..., "ops": ..., "value": ...}')
        cells = [parse_cell(json.dumps({"matrix": s["matrix"], "ops": s["ops"]})) for s in specs]
        labels = np.array([s["value"] for s in specs], dtype=float)
        train_rows = np.array([bench.row_of(c) for c in cells if c in bench] if bench is not None else [], dtype=int)
    else:
        column = bench.test_acc_108 if args.target == "accuracy" else bench.train_time_108
        if column is None:
            raise UsageError("--target time needs the training-time file (nb101_train_time_20k.npz)")
        known = np.flatnonzero(~np.isnan(column))
        if not 2 <= args.train_size <= len(known) - 1:
            raise UsageError(f"--train-size must be in [2, {len(known) - 1}], got {args.train_size}")
        train_rows = rng.choice(known, args.train_size, replace=False)
        cells, labels = [bench.cell(int(r)) for r in train_rows], column[train_rows]
    training = {} if args.target == "accuracy" else TIME_TRAINING  # params: a smooth function of structure, as time
    if args.target == "params":  # a prior hands whole members to accuracy predictors: it needs their shape
        training = {**training, "readout": PredictorConfig().readout}
    given = {
        "ranking_weight": args.ranking_weight,
        "steps": args.steps,
        "epochs": None if args.steps is None else 0,
        "targets": args.targets,
        "readout": args.readout,
    }
    config = PredictorConfig(
        **{**training, **{k: v for k, v in given.items() if v is not None}},
        members=args.members,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    if not config.forest_weight(len(cells)):  # too many cells for the forest to count: no all-zero table
        config = dataclasses.replace(config, forest=0.0)
    model = model_cls(config).fit(cells, labels, init=args.init, progress=args.format == "text")
    meta = {
        "command": "netembed " + " ".join(sys.argv[1:]),
        "target": args.target,
        "train_cells": len(cells),
        "init": args.init,
        "train_rows_sha256": hashlib.sha256(train_rows.tobytes()).hexdigest(),
    }
    payload = {"out": str(args.out), "train_cells": len(cells)}
    if args.target == "params":
        meta["space_sha256"] = space.space_checksum()
    elif bench is not None:  # which table the labels and the held-out cells came from
        files = [bench.source] + ([bench.source.parent / TIME_FILE] if args.target == "time" else [])
        meta["data_sha256"] = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files if f.is_file()}
    if bench is not None:  # held-out quality on table cells it never saw
        column = (
            bench.test_acc_108
            if args.target == "accuracy"
            else bench.train_time_108
            if args.target == "time"
            else np.log(bench.params.astype(np.float64))
        )
        pool = np.setdiff1d(np.flatnonzero(~np.isnan(column)), train_rows)
        test = rng.choice(pool, min(args.test_size, len(pool)), replace=False)
        predicted, _ = model.predict_rows(test)
        truth = column[test]
        payload["test"] = {
            "cells": len(test),
            "kendall_tau": float(kendalltau(predicted, truth).statistic),
            "spearman": float(spearmanr(predicted, truth).statistic),
            "mdape_percent": mdape_percent(predicted, truth),
        }
        meta["quality"] = payload["test"]
        payload["plot"] = str(
            _plot_predictions(predicted, truth, Path(args.out) / "predicted_vs_true.png", args.target)
        )
    model.save_pretrained(args.out, meta)
    text = [f"wrote {args.out} ({model_cls.__name__}, {len(cells):,} training cells)"]
    if "test" in payload:
        t = payload["test"]
        text.append(
            f"held-out {t['cells']:,} cells: Kendall tau {t['kendall_tau']:.3f}, Spearman {t['spearman']:.3f}, "
            f"MdAPE {t['mdape_percent']:.2f}%; plot {payload['plot']}"
        )
    _print(args, payload, "\n".join(text))


def _plot_predictions(predicted: np.ndarray, truth: np.ndarray, path: Path, target: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=110)
    ax.scatter(truth, predicted, s=2, alpha=0.4)
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="gray", lw=1)
    if target == "accuracy":
        ax.set(xlim=(0.8, high), ylim=(0.8, high))
    name = "log parameters" if target == "params" else target
    ax.set(xlabel=f"true {name}", ylabel=f"predicted {name}", title="held-out cells")
    return save_figure(fig, path)


def cmd_bench_predictors(args: argparse.Namespace) -> None:
    """Every predictor on the same splits and seeds; table, CSV, PNG, or JSON rows."""
    from netembed import predictor_bench

    bench = _load_bench(args.data, required=True)
    seeds = range(args.seed_offset, args.seed_offset + args.seeds)
    results = predictor_bench.run_predictor_bench(
        bench.test_acc_108,
        args.train_sizes,
        seeds,
        args.methods,
        test_size=args.test_size,
        progress=args.format == "text",
        steps=args.steps,
        batch_size=args.batch_size,
        runs_dir=Path(args.out) / "runs",
    )
    rows = predictor_bench.summarise(results)
    out = Path(args.out)
    plot = _write_bench(results, rows, out, "predictors", "Accuracy predictors, same splits and seeds")
    lines = [
        f"{'method':<22}{'train':>7}{'seeds':>6}{'Kendall tau':>18}{'Spearman':>10}{'RMSE':>9}{'fit s':>8}{'predict s':>10}"
    ]
    lines += [
        f"{r['method']:<22}{r['train_size']:>7}{r['seeds']:>6}{r['kendall_tau']:>11.3f} +- {r['kendall_tau_std']:.3f}"
        f"{r['spearman']:>10.3f}{r['rmse']:>9.4f}{r['fit_seconds']:>8.1f}{r['predict_seconds']:>10.1f}"
        for r in rows
    ]
    lines.append(f"wrote {out / 'predictors.csv'}, {out / 'predictors_runs.csv'} and {plot}")
    _print(args, rows, "\n".join(lines))


def cmd_bench_time(args: argparse.Namespace) -> None:
    """Training-time estimators on the timed rows, same splits and seeds; table, CSV, PNG, or JSON rows."""
    from netembed import predictor_bench

    bench = _load_bench(args.data, required=True)
    if bench.train_time_108 is None:
        raise UsageError("bench time needs the training-time file (nb101_train_time_20k.npz) beside the table")
    seeds = range(args.seed_offset, args.seed_offset + args.seeds)
    results = predictor_bench.run_time_bench(
        bench.train_time_108,
        bench.params,
        bench.flops,
        args.train_sizes,
        seeds,
        args.methods,
        pool_size=args.pool_size,
        progress=args.format == "text",
        steps=args.steps,
        batch_size=args.batch_size,
        runs_dir=Path(args.out) / "runs",
    )
    rows = predictor_bench.summarise(results)
    out = Path(args.out)
    plot = _write_bench(results, rows, out, "time", "Training-time estimators, same splits and seeds")
    lines = [f"{'method':<12}{'train':>7}{'seeds':>6}{'Kendall tau':>18}{'MdAPE %':>9}{'fit s':>8}{'predict s':>10}"]
    lines += [
        f"{r['method']:<12}{r['train_size']:>7}{r['seeds']:>6}{r['kendall_tau']:>11.3f} +- {r['kendall_tau_std']:.3f}"
        f"{r['mdape_percent']:>9.2f}{r['fit_seconds']:>8.1f}{r['predict_seconds']:>10.1f}"
        for r in rows
    ]
    lines.append(
        f"test: the {int(np.isfinite(bench.train_time_108).sum()) - args.pool_size:,} timed rows outside the "
        f"{args.pool_size:,}-row training pool; wrote {out / 'time.csv'}, {out / 'time_runs.csv'} and {plot}"
    )
    _print(args, rows, "\n".join(lines))


def _write_bench(results: list, rows: list[dict], out: Path, name: str, title: str) -> Path:
    """``out/NAME_runs.csv`` (one row per run), ``out/NAME.csv`` (means over seeds) and the plot."""
    from netembed.analysis import write_csv

    write_csv([r.__dict__ for r in results], out / f"{name}_runs.csv")
    write_csv(rows, out / f"{name}.csv")
    return _plot_predictor_bench(rows, out / f"{name}.png", title)


def _plot_predictor_bench(rows: list[dict], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        ax.errorbar(
            [r["train_size"] for r in mine],
            [r["kendall_tau"] for r in mine],
            yerr=[r["kendall_tau_std"] for r in mine],
            marker="o",
            capsize=3,
            label=method,
        )
    ax.set(xscale="log", xlabel="training cells", ylabel="Kendall tau on held-out cells", title=title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _reward(args: argparse.Namespace):
    from netembed.reward import Reward

    return Reward(mode=args.reward, cost=args.cost, target=args.target)


def _load_surrogates(args: argparse.Namespace, need_accuracy: bool):
    """The pretrained accuracy predictor and time estimator (either may be missing unless required)."""
    from netembed.predictors import AccuracyPredictor, TimeEstimator

    models = []
    for cls, name, required in (
        (AccuracyPredictor, args.accuracy_model, need_accuracy),
        (TimeEstimator, args.time_model, False),
    ):
        try:
            models.append(cls.from_pretrained(name))
        except NetembedError:
            if required:
                raise
            models.append(None)
    return models


def _search_setup(args: argparse.Namespace):
    """What every process of a search needs: the table (if any), reward, budget, pretrained
    surrogates, the evaluator, and the run's settings (which a resumed or shared run must match)."""
    from netembed.search import Budget, SurrogateEvaluator, TableEvaluator

    bench = _load_bench(args.data, required=args.evaluator == "table")
    reward = _reward(args)
    budget = Budget(queries=args.budget, seconds=args.seconds)
    predictor, timer = _load_surrogates(args, need_accuracy=args.evaluator == "surrogate")
    if reward.mode != "accuracy" and reward.cost == "seconds" and timer is None:  # table times cover 20k cells only
        raise UsageError(f"a {reward.mode} reward on seconds needs a time estimator, none found at {args.time_model}")
    if args.evaluator == "table":
        evaluator = TableEvaluator(bench, time_estimator=timer)
    elif args.evaluator == "train":
        from netembed.train.evaluator import RealTrainingEvaluator

        data, network, config, device = _training_setup(args)
        evaluator = RealTrainingEvaluator(
            data, network, config, device, checkpoint_root=Path(args.out) / "networks", inherit=args.inherit
        )
    else:
        evaluator = SurrogateEvaluator(predictor, timer)
    settings = {
        "method": args.method,
        "objective": args.objective,
        "seed": args.seed,
        "evaluator": args.evaluator,
        "reward": reward.describe(),
        "cost": reward.cost,
        "accuracy_model": args.accuracy_model if args.evaluator == "surrogate" else None,
        "time_model": args.time_model if timer is not None else None,
        "budget": {"queries": args.budget, "seconds": args.seconds},
    }
    if args.evaluator == "train":
        settings["training"] = evaluator.describe()
    return bench, reward, budget, predictor, evaluator, settings


def _shared_storage(args: argparse.Namespace) -> str:
    """The study's storage: --storage, else an SQLite file in --out (one machine, many processes)."""
    if args.storage:
        return args.storage
    Path(args.out).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(Path(args.out) / 'study.db').resolve()}"


def _worker_parts(args: argparse.Namespace, settings: dict, worker: int):
    """A worker's connection to the study and its own method (seeded from --seed and its index)."""
    from netembed.runs import build_method
    from netembed.study import SharedStudy, worker_seed

    shared = SharedStudy(_shared_storage(args), args.study, settings)
    return shared, build_method(args.method, worker_seed(args.seed, worker), args.objective)


def _search_worker(options: dict, worker: int) -> None:
    """One process of ``search --workers N``: its own evaluator and method, the shared study."""
    import os

    import torch

    from netembed.study import run_worker

    args = argparse.Namespace(**options)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.workers))
    try:
        _, reward, budget, _, evaluator, settings = _search_setup(args)
        shared, method = _worker_parts(args, settings, worker)
        run_worker(method, evaluator, reward, budget, shared, worker)
    except NetembedError as exc:
        print(f"netembed search: worker {worker}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def _shared_search(args: argparse.Namespace, reward, budget, evaluator, settings, text: bool):
    """``search --storage URL`` / ``--workers N``: workers sharing one Optuna study (netembed.study)."""
    import multiprocessing
    import time

    from tqdm.auto import tqdm

    from netembed.study import run_worker

    if args.resume:
        raise UsageError("--resume is for one-process runs; a shared study is rejoined by rerunning the same command")
    if args.workers < 1 or args.worker < 0:
        raise UsageError(f"--workers must be >= 1 and --worker >= 0, got {args.workers} and {args.worker}")
    shared, method = _worker_parts(args, settings, args.worker)  # a bad method name: nothing runs
    if text:
        there = len(shared.labels())
        print(
            f"{method.name} search, {args.workers} worker(s) sharing study {args.study!r} in {shared.safe_url}, "
            f"seed {args.seed}, {evaluator.name} evaluator, reward {reward.describe()}"
            + (f"; {there} queries already there" if there else ""),
            flush=True,
        )
    started = time.perf_counter()
    if args.workers == 1:
        mine = run_worker(method, evaluator, reward, budget, shared, args.worker, progress=text)
        overhead = mine.search_seconds / max(1, len(mine.evaluations))
    else:
        options = {k: v for k, v in vars(args).items() if k != "handler"}
        context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch or DB state
        workers = [context.Process(target=_search_worker, args=(options, args.worker + k)) for k in range(args.workers)]
        for process in workers:
            process.start()
        bar = tqdm(
            total=budget.queries,
            desc=f"{method.name} x{args.workers}",
            unit="query",
            disable=not text,
            dynamic_ncols=True,
        )
        try:
            while any(p.is_alive() for p in workers):
                with shared.connection():
                    labels = shared.labels()
                bar.n = len(labels)
                if labels:
                    bar.set_postfix(best=f"{max(e.reward for e in labels.values()):.4f}", refresh=False)
                bar.refresh()
                time.sleep(1.0)
        except KeyboardInterrupt:
            for process in workers:
                process.join()
            raise UsageError(
                f"interrupted; every finished query is in study {args.study!r}: rerun the same command to continue"
            ) from None
        finally:
            bar.close()
        failed = [(args.worker + k, p.exitcode) for k, p in enumerate(workers) if p.exitcode != 0]
        if failed:
            raise UsageError(
                f"worker(s) {', '.join(f'{w} (exit code {c})' for w, c in failed)} stopped early; every "
                f"finished query is in study {args.study!r}: rerun the same command to continue"
            )
        overhead = None  # spread over processes; the wall time below says what a user waits
    result = shared.result(method.name, args.seed)
    return (
        result,
        {
            "storage": shared.safe_url,
            "study": args.study,
            "workers": args.workers,
            "wall_seconds": time.perf_counter() - started,
        },
        overhead,
    )


def cmd_search(args: argparse.Namespace) -> None:
    """A search with any method; logs every query so that --resume continues a killed run, or
    shares them with other workers through an Optuna study (--storage, --workers)."""
    from netembed.reward import pareto_front
    from netembed.runs import QueryLog, best_rows, build_method
    from netembed.search import run_search

    bench, reward, budget, predictor, evaluator, settings = _search_setup(args)
    out = Path(args.out)
    text = args.format == "text"
    if args.storage or args.workers != 1:
        result, sharing, overhead = _shared_search(args, reward, budget, evaluator, settings, text)
    else:
        method = build_method(args.method, args.seed, args.objective)  # before the log: a bad name writes nothing
        log_path = out / "queries.jsonl"
        log = QueryLog.resume(log_path, settings) if args.resume else QueryLog.start(log_path, settings)
        if text:
            where = f"{len(log.evaluations)} logged queries replayed, " if log.evaluations else ""
            print(
                f"{method.name} search, seed {args.seed}, {evaluator.name} evaluator, reward {reward.describe()}; "
                f"{where}log {log_path}",
                flush=True,
            )
        try:
            result = run_search(
                method,
                evaluator,
                reward,
                budget,
                seed=args.seed,
                replay=log.evaluations,
                on_query=log.append,
                progress=text,
            )
        except KeyboardInterrupt:
            raise UsageError(
                f"interrupted after {len(log.evaluations)} queries, all logged in {log_path}; "
                f"continue with the same command and --resume"
            ) from None
        sharing, overhead = None, result.search_seconds / max(1, len(result.evaluations))
    rows = best_rows(result.evaluations, args.top, bench=bench, predictor=predictor)
    payload = {
        "settings": settings,
        "queries": len(result.evaluations),
        "search_seconds_per_query": overhead,
        "best": rows,
    }
    if sharing is not None:
        payload["shared"] = sharing
    else:
        payload["evaluator_seconds"] = result.evaluator_seconds
    cost_name = "params" if args.objective == "pareto" else reward.cost
    if reward.mode != "accuracy" or args.objective == "pareto":  # multi-objective: keep the front of what was queried
        cost = np.array([getattr(e, cost_name) or np.nan for e in result.evaluations], dtype=float)
        known = np.flatnonzero(np.isfinite(cost))
        front = known[pareto_front(np.array([result.evaluations[i].accuracy for i in known]), cost[known])]
        payload["pareto_front"] = [
            _cell_json(result.evaluations[i].cell)
            | {"accuracy": result.evaluations[i].accuracy, cost_name: float(cost[i])}
            for i in front
        ]
    if getattr(evaluator, "inherit", False) and not (sharing and sharing["workers"] > 1):
        # which cells started from a parent's weights (this process's; worker processes keep their own)
        payload["inherited_from"] = evaluator.parents
    payload["plot"] = str(_plot_search(result, rows, bench, out / "best_so_far.png"))
    atomic_write(out / "result.json", lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2)))
    done = (
        f"search overhead {overhead:.3f} s/query"
        if overhead is not None
        else f"{sharing['workers']} workers, {sharing['wall_seconds']:.1f} s wall time"
    )
    if sharing is None:
        done += f" (evaluator {result.evaluator_seconds:.1f} s in all)"
    lines = [
        f"\n{len(result.evaluations)} queries, {done}. Best cells by reward "
        + {
            "surrogate": "(pred: the pretrained surrogates the search used; true: the table, unseen by the search):",
            "table": "(pred acc: the pretrained surrogate; true: the table):",
            "train": f"(reward and seconds: measured by training on {settings.get('training', {}).get('data')}; "
            "pred acc: the pretrained surrogate; true: the table's CIFAR-10 figures):",
        }[args.evaluator]
    ]
    lines.append(
        f"{'#':>2} {'hash':<33}{'reward':>7}{'pred acc':>9}{'true acc':>9}{'rank':>8}{'seconds':>8}"
        f"{'true s':>7}{'params':>11}  ops"
    )

    def show(value, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for i, r in enumerate(rows, 1):
        lines.append(
            f"{i:>2} {r['hash']:<33}{r['reward']:>7.4f}{show(r['predicted_accuracy'], '.4f'):>9}"
            f"{show(r.get('true_accuracy'), '.4f'):>9}{show(r.get('true_rank'), ','):>8}"
            f"{show(r['seconds'], '.0f' if (r['seconds'] or 0) >= 100 else '.2f'):>8}{show(r.get('true_seconds'), '.0f'):>7}{r['params']:>11,}  "
            + " ".join(o.replace("-bn-relu", "") for o in r["ops"][1:-1])
        )
    best = rows[0] if rows else None
    if best is not None:
        lines.append(f"best cell: {json.dumps({'matrix': best['matrix'], 'ops': best['ops']})}")
    if "pareto_front" in payload:
        lines.append(
            f"Pareto front (accuracy vs {cost_name}) of the queried cells: {len(payload['pareto_front'])} cells "
            f"(in {out / 'result.json'})"
        )
    if bench is None:
        lines.append("(no table found: true accuracies not shown; set NETEMBED_DATA to see them)")
    lines.append(f"wrote {out / 'result.json'} and {payload['plot']}")
    _print(args, payload, "\n".join(lines))


def _plot_search(result, rows: list[dict], bench, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    queries = np.arange(1, len(result.evaluations) + 1)
    ax.plot(queries, result.best_so_far("reward"), label="best reward so far")
    ax.plot(queries, result.best_so_far("accuracy"), label="best evaluator accuracy so far", ls="--")
    if bench is not None:  # true accuracy of the best-reward cell so far (the table is not used by the search)
        best, truth = None, []
        for e in result.evaluations:
            if best is None or e.reward > best.reward:
                best = e
            truth.append(bench.query(best.cell).test_acc_108 if best.cell in bench else np.nan)
        ax.plot(queries, truth, label="true test accuracy of that cell", ls=":")
    ax.set(xlabel="queries", ylabel="value", title=f"{result.method} (seed {result.seed})")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def cmd_compare(args: argparse.Namespace) -> None:
    """Every method, same seeds and budget, on the table; CSV, PNG, table or JSON rows."""
    from netembed import compare

    compare.check_methods(args.methods, args.objective)
    bench = _load_bench(args.data, required=True)
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    runs = compare.run_compare(
        args.methods,
        seeds,
        args.budget,
        args.out,
        data=args.data,
        jobs=args.jobs,
        progress=args.format == "text",
        objective=args.objective,
    )
    rows = compare.summarise(runs, bench)
    out = Path(args.out)
    csv = compare.write_runs_csv(runs, out / "search_runs.csv")
    plot = compare.plot_runs(runs, out / "search.png", float(bench.test_acc_108.max()))
    atomic_write(out / "search.json", lambda tmp: Path(tmp).write_text(json.dumps(rows, indent=2)))
    text = compare.format_summary(rows) + f"\nwrote {csv}, {out / 'search.json'} and {plot}"
    _print(args, rows, text)


def _image_data(args: argparse.Namespace):
    from netembed.train import digits, load_npz

    if args.images == "digits":
        return digits(args.train_size, args.label_noise, seed=args.split_seed)
    return load_npz(args.images)


def _device(name: str | None) -> str:
    import torch

    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device must be a device this machine has, got {name!r} (no CUDA here)")
    return name


def _training_setup(args: argparse.Namespace):
    """Image data, network scale, training settings and device from the real-training options."""
    from netembed.train import NetworkConfig

    data = _image_data(args)
    try:
        network = NetworkConfig(
            stem_channels=args.stem_channels,
            num_stacks=args.stacks,
            cells_per_stack=args.cells_per_stack,
            num_classes=max(10, data.num_classes),
            in_channels=data.in_channels,
            image_size=data.image_size,
        )
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    return data, network, config, _device(args.device)


def cmd_train_cell(args: argparse.Namespace) -> None:
    """Train one cell's network on real images; rerun the same command to resume."""
    from netembed.train import train_cell

    cell = parse_cell(args.cell)
    data, network, config, device = _training_setup(args)
    out = Path(args.out)
    if args.format == "text":
        print(
            f"training {cell.hash} on {data.name} ({len(data.train_images):,} train / {len(data.test_images):,} "
            f"test images, {data.image_size}x{data.image_size}) for {config.epochs} epochs on {device}; "
            f"checkpoints in {out}",
            flush=True,
        )
    try:
        result = train_cell(cell, data, network, config, device, checkpoint_dir=out, progress=args.format == "text")
    except KeyboardInterrupt:
        raise UsageError(
            f"interrupted; finished epochs are checkpointed in {out}: rerun the same command to resume"
        ) from None
    payload = (
        _cell_json(cell)
        | result.to_dict()
        | {"data": data.name, "network": network.to_dict(), "device": device, "checkpoint": str(out)}
    )
    bench = _load_bench(args.data, required=False)
    if bench is not None and cell in bench:
        payload["table_test_accuracy"] = float(bench.query(cell).test_acc_108)
    atomic_write(out / "result.json", lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2)))
    table = (
        f"; table (CIFAR-10, full network): {payload['table_test_accuracy']:.4f}"
        if "table_test_accuracy" in payload
        else ""
    )
    text = (
        f"test accuracy {result.test_accuracy:.4f} after {result.epochs} epochs, {result.train_seconds:.1f} s of "
        f"training, {result.params:,} parameters{table}\n"
        + "\n".join(
            f"  epoch {h['epoch']:>3}  loss {h['loss']:.4f}  test accuracy {h['test_accuracy']:.4f}  "
            f"{h['seconds']:.2f} s"
            for h in result.history
        )
        + f"\nwrote {out / 'result.json'}"
    )
    _print(args, payload, text)


def cmd_demo(args: argparse.Namespace) -> None:
    """The main job while the search is being built: a greedy walk over single moves."""
    rng = np.random.default_rng(args.seed)
    bench = _load_bench(args.data, required=False)
    cell = space.random_cell(rng)
    score = (lambda c: bench.query(c).test_acc_108) if bench else (lambda c: -space.count_params(c))
    what = "table test accuracy" if bench else "fewest parameters (no table found)"
    print(f"greedy walk over widen/deepen/rewire moves, scored by {what}, seed {args.seed}")
    print(f"start  {cell.hash}  score {score(cell):.4f}")
    for step in range(1, args.steps + 1):
        moves = transforms.neighbors(cell)
        best_action, best = max(moves, key=lambda m: score(m.cell))
        if score(best) <= score(cell):
            print(f"local optimum after {step - 1} moves")
            break
        cell = best
        print(f"step {step:<2} {best_action!r:<60} {cell.hash}  score {score(cell):.4f}")
    print(json.dumps(_cell_json(cell)))


# -- entry point --------------------------------------------------------------------------------


def _add_training_args(sub: argparse.ArgumentParser) -> None:
    """Options of real training, shared by train-cell and search --evaluator train."""
    group = sub.add_argument_group("real training")
    group.add_argument(
        "--images",
        default="digits",
        help="digits (scikit-learn's, offline) or an .npz with train_images, train_labels, test_images, test_labels",
    )
    group.add_argument("--train-size", type=int, default=SMALL_DATA["train_size"], help="digits images to train on")
    group.add_argument("--label-noise", type=float, default=SMALL_DATA["label_noise"])
    group.add_argument("--split-seed", type=int, default=0, help="digits train/test split")
    group.add_argument("--epochs", type=int, default=TRAIN_DEFAULTS.epochs)
    group.add_argument("--batch-size", type=int, default=TRAIN_DEFAULTS.batch_size)
    group.add_argument("--lr", type=float, default=TRAIN_DEFAULTS.learning_rate)
    group.add_argument(
        "--stem-channels",
        type=int,
        default=SMALL_NETWORK.stem_channels,
        help="128 with --stacks 3 --cells-per-stack 3 is NAS-Bench-101's full network",
    )
    group.add_argument("--stacks", type=int, default=SMALL_NETWORK.num_stacks)
    group.add_argument("--cells-per-stack", type=int, default=SMALL_NETWORK.cells_per_stack)
    group.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netembed", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler, help: str, formats: bool = True, data: bool = True):
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        if formats:
            sub.add_argument("--format", choices=("text", "json"), default="text")
        if data:
            sub.add_argument("--data", help="table folder or .npz (default: $NETEMBED_DATA, else ../shared/data/nb101)")
        return sub

    command("info", cmd_info, "summary of the space and of the table")
    query = command("query", cmd_query, "look up a cell (JSON matrix+ops, a JSON file, or an official hash)")
    query.add_argument("cell")
    near = command("neighbors", cmd_neighbors, "every cell one widen/deepen/rewire move away")
    near.add_argument("cell", help='JSON {"matrix": ..., "ops": ...} or a file holding it')
    demo = command("demo", cmd_demo, "greedy walk over single moves from a random cell", formats=False)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--steps", type=int, default=10)

    pre = command(
        "pretrain",
        cmd_pretrain,
        "label-free pretraining of the cell encoder on the whole space",
        formats=False,
        data=False,
    )
    pre.add_argument("--out", default="pretrained/encoder-nb101", help="pretrained directory to write")
    pre.add_argument("--work", help="checkpoint folder (default: OUT.checkpoint); rerun to resume")
    pre.add_argument("--epochs", type=int, default=PRETRAIN_DEFAULTS.epochs)
    pre.add_argument("--batch-size", type=int, default=PRETRAIN_DEFAULTS.batch_size)
    pre.add_argument("--lr", type=float, default=PRETRAIN_DEFAULTS.lr)
    pre.add_argument("--seed", type=int, default=PRETRAIN_DEFAULTS.seed)
    pre.add_argument("--kl-weight", type=float, default=PRETRAIN_DEFAULTS.kl_weight)
    pre.add_argument("--hidden", type=int, default=ENCODER_DEFAULTS.hidden)
    pre.add_argument("--layers", type=int, default=ENCODER_DEFAULTS.layers)
    pre.add_argument("--embedding-dim", type=int, default=ENCODER_DEFAULTS.embedding_dim)
    pre.add_argument("--device", default="cpu")
    embed = command(
        "embed", cmd_embed, "embeddings of cells from a pretrained encoder, or its quality (--eval)", data=False
    )
    embed.add_argument("cells", nargs="?", help='JSON list of {"matrix": ..., "ops": ...} (a file or text)')
    embed.add_argument("--model", default="encoder-nb101", help="pretrained name or directory")
    embed.add_argument("--eval", action="store_true", help="measure reconstruction, smoothness, edit distance, speed")
    embed.add_argument("--out", default="results/embedding", help="where --eval writes its PNG and JSON")
    embed.add_argument("--device", default="cpu")

    train = command("train-predictor", cmd_train_predictor, "train a surrogate (accuracy or training time)")
    train.add_argument(
        "--target",
        choices=("accuracy", "time", "params"),
        default="accuracy",
        help="params: log parameter counts of random cells, computed (no table, no labels): "
        "a label-free prior for --init",
    )
    train.add_argument("--train-size", type=int, default=424, help="random table cells to train on")
    train.add_argument(
        "--cells",
        help='or: a JSON file of your evaluated cells [{"matrix", "ops", "value"}], '
        "or a search's queries.jsonl (its accuracies, or its seconds with --target time)",
    )
    train.add_argument("--test-size", type=int, default=50_000, help="held-out table cells to report on")
    train.add_argument(
        "--init",
        help="warm-start every member's encoder (encoder-nb101) or whole members "
        "from a predictor of the same shape (prior-nb101)",
    )
    train.add_argument("--members", type=int, default=PredictorConfig().members)
    train.add_argument(
        "--steps",
        type=int,
        help=f"exactly this many training steps (default: {PredictorConfig().steps}, "
        f"or {PredictorConfig().epochs} passes over the cells when more; {PredictorConfig().steps} for time)",
    )
    train.add_argument("--batch-size", type=int, default=PredictorConfig().batch_size)
    train.add_argument(
        "--ranking-weight",
        type=float,
        help=f"pairwise ranking loss weight (default: {PredictorConfig().ranking_weight:g} for accuracy, "
        "0 for time: plain squared error on log-seconds measured best)",
    )
    train.add_argument(
        "--targets",
        choices=TARGETS,
        help=f"what an accuracy predictor learns (default {PredictorConfig().targets}: normal scores of the "
        "labels' ranks; raw: the labels); time and params learn logs (raw)",
    )
    train.add_argument(
        "--readout",
        choices=READOUTS,
        help=f"what the heads see (default {PredictorConfig().readout}: the embedding and the output "
        "vertex's latent; mean: the embedding alone, the time estimator's default)",
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", default="results/predictor", help="pretrained directory to write")

    search = command("search", cmd_search, "search for good cells (progress bar, best cells, plot; --resume)")
    search.add_argument(
        "--method",
        default="netembed",
        help="netembed, netembed+pretrained, random, regularized_evolution, local_search or tpe",
    )
    search.add_argument(
        "--evaluator",
        choices=("surrogate", "table", "train"),
        default="surrogate",
        help="surrogate: pretrained predictors, no table needed; table: NAS-Bench-101 labels; "
        "train: train each cell's network (see the real training options)",
    )
    search.add_argument("--budget", type=int, default=100, help="queries (new cells labelled)")
    search.add_argument("--seconds", type=float, help="and/or a wall-time budget")
    search.add_argument("--seed", type=int, default=0)
    search.add_argument(
        "--reward",
        choices=("accuracy", "soft", "hard"),
        default="accuracy",
        help="accuracy, or MnasNet's accuracy * (cost / target)^w, soft or hard",
    )
    search.add_argument("--cost", choices=("seconds", "params"), default="seconds")
    search.add_argument("--target", type=float, help="T0 of the soft/hard reward, in units of --cost")
    search.add_argument(
        "--objective",
        choices=("reward", "pareto"),
        default="reward",
        help="pareto: grow the front of accuracy vs parameters (netembed and random)",
    )
    search.add_argument("--top", type=int, default=5, help="best cells to print")
    search.add_argument("--accuracy-model", default="surrogate-nb101/accuracy")
    search.add_argument("--time-model", default="surrogate-nb101/time")
    search.add_argument("--out", default="results/search", help="folder for the query log, result and plot")
    search.add_argument("--resume", action="store_true", help="continue the run logged in --out")
    search.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing one Optuna study (in --storage, else OUT/study.db); "
        "rerunning the same command rejoins the study",
    )
    search.add_argument(
        "--storage",
        help="an Optuna RDB storage URL shared by workers on any machines, e.g. "
        "postgresql+psycopg://user:pass@host/db (each machine runs the same command)",
    )
    search.add_argument("--study", default="netembed", help="the study's name in --storage")
    search.add_argument(
        "--worker",
        type=int,
        default=0,
        help="this process's worker index (its method is seeded --seed + 10,000 * index); with --workers N, "
        "the first of N; give each machine its own",
    )
    _add_training_args(search)
    search.add_argument(
        "--inherit",
        action="store_true",
        help="with --evaluator train: start each cell from the weights of a trained cell one move "
        "away (Net2Net), when there is one",
    )
    comp = command("compare", cmd_compare, "every search method, same seeds and budget, on the table")
    comp.add_argument("--methods", nargs="+", default=list(METHODS))
    comp.add_argument("--seeds", type=int, default=30, help="number of seeds")
    comp.add_argument("--seed-offset", type=int, default=0, help="first seed")
    comp.add_argument("--budget", type=int, default=300, help="queries per run")
    comp.add_argument("--jobs", type=int, default=1, help="parallel processes")
    comp.add_argument(
        "--objective",
        choices=("reward", "pareto"),
        default="reward",
        help="reward: best test accuracy; pareto: front of accuracy vs parameters (random, netembed)",
    )
    comp.add_argument("--out", default="results/compare", help="folder for runs/, CSV, JSON and PNG; rerun to resume")

    tcell = command("train-cell", cmd_train_cell, "train one cell's network on real images (resumable)")
    tcell.add_argument("cell", help='JSON {"matrix": ..., "ops": ...} or a file holding it')
    tcell.add_argument("--seed", type=int, default=0, help="initial weights and shuffles")
    _add_training_args(tcell)
    tcell.add_argument("--out", default="results/train-cell", help="checkpoint folder and result.json")

    bench_cmds = commands.add_parser("bench", help="side-by-side benchmarks").add_subparsers(
        dest="bench", required=True
    )
    preds = bench_cmds.add_parser("predictors", help="accuracy predictors against baselines, same splits and seeds")
    preds.set_defaults(handler=cmd_bench_predictors)
    preds.add_argument("--train-sizes", type=int, nargs="+", default=[100, 172, 424, 4236])
    preds.add_argument("--seeds", type=int, default=5, help="number of seeds")
    preds.add_argument("--seed-offset", type=int, default=0, help="first seed")
    preds.add_argument(
        "--methods", nargs="+", default=["netembed", "netembed+pretrained", "netembed+prior", "mlp", "gbt"]
    )
    preds.add_argument("--test-size", type=int, default=50_000)
    preds.add_argument(
        "--steps",
        type=int,
        help=f"netembed's training steps, exactly (default {PredictorConfig().steps}, "
        f"or {PredictorConfig().epochs} passes over the cells when more)",
    )
    preds.add_argument("--batch-size", type=int, help=f"netembed's batch (default {PredictorConfig().batch_size})")
    preds.add_argument("--out", default="results/predictors")
    preds.add_argument("--data", help="table folder or .npz (default: $NETEMBED_DATA, else ../shared/data/nb101)")
    preds.add_argument("--format", choices=("text", "json"), default="text")

    timing = bench_cmds.add_parser("time", help="training-time estimators against baselines, same splits and seeds")
    timing.set_defaults(handler=cmd_bench_time)
    timing.add_argument("--train-sizes", type=int, nargs="+", default=[100, 424, 15_000])
    timing.add_argument("--seeds", type=int, default=3, help="number of seeds")
    timing.add_argument("--seed-offset", type=int, default=0, help="first seed")
    timing.add_argument("--methods", nargs="+", default=["netembed", "params", "gbt"])
    timing.add_argument(
        "--pool-size",
        type=int,
        default=15_000,
        help="timed rows training sets are drawn from; the rest are the test set",
    )
    timing.add_argument("--steps", type=int, help=f"netembed's training steps (default {PredictorConfig().steps})")
    timing.add_argument("--batch-size", type=int, help=f"netembed's batch (default {PredictorConfig().batch_size})")
    timing.add_argument("--out", default="results/time")
    timing.add_argument("--data", help="table folder or .npz (default: $NETEMBED_DATA, else ../shared/data/nb101)")
    timing.add_argument("--format", choices=("text", "json"), default="text")

    analyze = commands.add_parser("analyze", help="analyses of the space").add_subparsers(
        dest="analysis", required=True
    )
    loc = analyze.add_parser("locality", help="random-walk autocorrelation of accuracy over single moves (RWA)")
    loc.set_defaults(handler=cmd_locality)
    loc.add_argument("--walks", type=int, default=1000)
    loc.add_argument("--length", type=int, default=100, help="moves per walk")
    loc.add_argument("--max-lag", type=int, default=20)
    loc.add_argument("--seed", type=int, default=0)
    loc.add_argument("--permutations", type=int, default=200, help="random pairings per lag for the noise band")
    loc.add_argument("--bootstrap", type=int, default=200, help="walk resamplings for the 95%% interval (0: off)")
    loc.add_argument(
        "--embedding", metavar="MODEL", help="also: accuracy correlation vs distance in this encoder's space"
    )
    loc.add_argument("--out", default="results/locality", help="folder for the CSV and PNG files")
    loc.add_argument("--data", help="table folder or .npz (default: $NETEMBED_DATA, else ../shared/data/nb101)")
    loc.add_argument("--format", choices=("text", "json"), default="text")

    data = commands.add_parser("data", help="data set tools").add_subparsers(dest="data_command", required=True)
    convert = data.add_parser("convert", help="official NAS-Bench-101 .tfrecord -> compact .npz (no TensorFlow)")
    convert.add_argument("source", help="nasbench_only108.tfrecord or nasbench_full.tfrecord")
    convert.add_argument("output", help="the .npz to write (atomically)")
    convert.add_argument("--quiet", action="store_true", help="no progress bar")
    convert.set_defaults(handler=cmd_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (NetembedError, OSError) as exc:
        print(f"netembed {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
