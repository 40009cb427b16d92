"""The ``netembed`` command line. User mistakes print one line to stderr and exit with code 2.

Every command parses its options, makes one library call and prints what it returns. Options
are added only for the command being run, so ``netembed --help``, ``info`` and ``query`` start
without importing torch.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from netembed._io import check_writable, parse_json, read_text
from netembed.errors import NetembedError

__all__ = ["build_parser", "main"]


class UsageError(NetembedError):
    """A command-line argument that cannot be used."""


class _Parser(argparse.ArgumentParser):
    """argparse's parser, its mistakes on one line like every other error (exit code 2); the
    namespace gets ``prog``, the name of the command run (``netembed bench time``)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if not hasattr(namespace, "prog"):  # the innermost command's parser names it first
            namespace.prog = self.prog
        return namespace, extras

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]):
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:  # Python 3.11 gives []
            raise argparse.ArgumentError(action, "expected one argument, got '--'")
        return super()._get_values(action, arg_strings)


# -- arguments ----------------------------------------------------------------------------------


def parse_cell(text: str):
    """A cell from JSON text ``{"matrix": [[...]], "ops": [...]}`` or from a file holding it."""
    from netembed.cell import Cell

    source = "argument"
    if not text.lstrip().startswith(("{", "[")):  # not inline JSON: a file
        source, text = text, read_text(text, 'cell must be JSON like {"matrix": ..., "ops": ...} or a file holding it')
    try:
        spec = parse_json(text, "the cell argument" if source == "argument" else source)
    except json.JSONDecodeError as exc:
        raise UsageError(
            'cell must be JSON like {"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}, '
            f"got invalid JSON in {source} ({exc.msg} at position {exc.pos})"
        ) from exc
    if not isinstance(spec, dict) or set(spec) != {"matrix", "ops"}:
        got = sorted(spec) if isinstance(spec, dict) else type(spec).__name__
        raise UsageError(f"cell JSON must be an object with exactly the keys 'matrix' and 'ops', got {got}")
    return Cell(spec["matrix"], spec["ops"])


def _print(args: argparse.Namespace, payload, text: str) -> None:
    print(json.dumps(payload, indent=2) if args.format == "json" else text)


def _command_line() -> str:
    return "netembed " + " ".join(sys.argv[1:])


# -- commands -----------------------------------------------------------------------------------


def _elsewhere(args: argparse.Namespace, command: str, *inputs) -> bool:
    """Run ``command`` of ``netembed.spaces.inspect`` for a space other than NAS-Bench-101 (True), or not."""
    if args.space == "nb101":
        return False
    from netembed import spaces
    from netembed.spaces import inspect

    options = {"data": args.data} | ({"dataset": args.dataset} if hasattr(args, "dataset") else {})
    _print(args, *getattr(inspect, command)(spaces.get(args.space), *inputs, **options))
    return True


def cmd_info(args: argparse.Namespace) -> None:
    from netembed import space
    from netembed.bench import load_table

    if _elsewhere(args, "info"):
        return

    summary = {"space": space.summary()}
    lines = [
        f"NAS-Bench-101 space: {summary['space']['cells']:,} unique cells",
        "  by vertex count: " + ", ".join(f"{n}: {c:,}" for n, c in summary["space"]["by_vertices"].items()),
    ]
    bench = load_table(args.data)
    if bench is None:
        lines.append("table: not found (set NETEMBED_DATA to the folder holding nb101_full.npz)")
    else:
        table = summary["table"] = bench.summary()
        lines += [
            f"table: {table['path']} ({table['rows']:,} rows, {table['timed_rows']:,} with training time)",
            (
                f"  test accuracy (108 epochs, one repeat): best {table['best_test_acc_108']:.4f}, "
                f"mean {table['mean_test_acc_108']:.4f}, median {table['median_test_acc_108']:.4f}"
            ),
        ]
    _print(args, summary, "\n".join(lines))


def cmd_query(args: argparse.Namespace) -> None:
    from netembed import space
    from netembed.bench import load_table

    if _elsewhere(args, "query", args.cell):
        return

    is_hash = len(args.cell) == 32 and not args.cell.lstrip().startswith("{") and not Path(args.cell).is_file()
    bench = load_table(args.data, required=is_hash)
    cell = bench.cell(bench.row_of(args.cell)) if is_hash else parse_cell(args.cell)
    payload = {**cell.to_dict(), "params": space.count_params(cell)}
    if bench is not None:
        payload["table"] = bench.query(cell).__dict__
    lines = [
        f"hash    {cell.hash}",
        f"ops     {list(cell.ops)}",
        "matrix  " + "\n        ".join(map(str, cell.matrix.tolist())),
        f"params  {payload['params']:,}",
    ]
    lines += [f"{k:<15} {v}" for k, v in payload.get("table", {}).items() if k != "hash" and v is not None]
    _print(args, payload, "\n".join(lines))


def cmd_neighbors(args: argparse.Namespace) -> None:
    from netembed import transforms
    from netembed.bench import load_table

    if _elsewhere(args, "neighbors", args.cell):
        return

    cell, bench = parse_cell(args.cell), load_table(args.data)
    rows = []
    for action, child in transforms.neighbors(cell):
        row = {"action": repr(action), "family": action.family, **child.to_dict()}
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


def cmd_demo(args: argparse.Namespace) -> None:
    """A greedy walk over single moves, scored by the table (or by fewest parameters without it)."""
    from netembed import transforms
    from netembed.bench import load_table

    walk = transforms.greedy_walk(args.seed, args.steps, load_table(args.data))
    print(f"greedy walk over widen/deepen/rewire moves, scored by {walk.scored_by}, seed {args.seed}")
    print(f"start  {walk.cells[0].hash}  score {walk.scores[0]:.4f}")
    for step, (action, cell, score) in enumerate(zip(walk.actions, walk.cells[1:], walk.scores[1:]), 1):
        print(f"step {step:<2} {action!r:<60} {cell.hash}  score {score:.4f}")
    if walk.stopped_early:
        print(f"local optimum after {len(walk.actions)} moves")
    print(json.dumps(walk.cells[-1].to_dict()))


def cmd_convert(args: argparse.Namespace) -> None:
    from netembed.bench.official import convert_tfrecord

    count = convert_tfrecord(args.source, args.output, progress=not args.quiet)
    print(f"wrote {count:,} cells to {args.output}")


def cmd_pretrain(args: argparse.Namespace) -> None:
    from netembed.encoder import EncoderConfig
    from netembed.pretrain import PretrainConfig, write_pretrained
    from netembed.train.spec import resolve_device

    encoder_config = EncoderConfig(
        hidden=args.hidden, layers=args.layers, embedding_dim=args.embedding_dim, space=args.space
    )
    config = PretrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, kl_weight=args.kl_weight
    )
    out = check_writable(
        args.out or f"results/encoder-{args.space}"
    )  # named before a checkpoint folder is named after it
    work = Path(args.work) if args.work else out.with_name(out.name + ".checkpoint")
    command = _command_line() if sys.argv[0].endswith("netembed") else None
    device = resolve_device(args.device)
    path = write_pretrained(out, work, encoder_config, config, device=device, command=command, force=args.force)
    print(f"wrote {path}")


def cmd_embed(args: argparse.Namespace) -> None:
    from netembed.encoder import CellEncoder
    from netembed.train.spec import resolve_device

    device = resolve_device(args.device)
    if args.eval:
        from netembed.pretrain import evaluate_pretrained, quality_text

        quality = evaluate_pretrained(args.model, out_dir=args.out, device=device, progress=args.format == "text")
        _print(args, quality, quality_text(quality))
        return
    if args.cells is None:
        raise UsageError("embed needs a JSON file of cells, or --eval")
    rule = 'cells must be a JSON list of {"matrix": ..., "ops": ...}'
    inline = args.cells.lstrip().startswith(("[", "{"))
    text = args.cells if inline else read_text(args.cells, f"{rule} or a file holding one")
    try:
        specs = parse_json(text, "the cells argument" if inline else args.cells)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{rule}, got invalid JSON ({exc.msg})") from exc
    if not isinstance(specs, list):
        raise UsageError(f"{rule}, got {type(specs).__name__}")
    encoder = CellEncoder.from_pretrained(args.model, device=device)
    space = encoder.space
    cells = [parse_cell(json.dumps(spec)) if space.name == "nb101" else space.from_json(spec) for spec in specs]
    embeddings = encoder.embed(cells).tolist()
    rows = [{"hash": c.hash, "embedding": [round(v, 6) for v in e]} for c, e in zip(cells, embeddings)]
    _print(args, rows, "\n".join(f"{r['hash']}  " + " ".join(f"{v:+.3f}" for v in r["embedding"]) for r in rows))


def cmd_locality(args: argparse.Namespace) -> None:
    """NAS-Bench-101's Figure 7 (RWA over single moves) and its embedding-space counterpart."""
    import time

    from netembed import analysis

    if args.embedding:  # a wrong name fails now, not after the walks
        from netembed import hub

        hub.resolve(args.embedding)
    start, out = time.perf_counter(), Path(args.out)
    result = analysis.run_locality(
        walks=args.walks, length=args.length, max_lag=args.max_lag, seed=args.seed, out=out, data=args.data,
        permutations=args.permutations, bootstrap=args.bootstrap, progress=args.format == "text",
    )  # fmt: skip
    payload = {**result.to_dict(), "seconds": round(time.perf_counter() - start, 2), "out": str(out)}
    near = None
    if args.embedding:
        near = analysis.run_embedding_locality(args.embedding, seed=args.seed, out=out, data=args.data)
        payload["embedding"] = near.to_dict()
    _print(args, payload, analysis.locality_text(result, near, out))


def cmd_train_predictor(args: argparse.Namespace) -> None:
    """Train an accuracy predictor, a time estimator or a prior; report it on held-out table cells."""
    from netembed.surrogate import PredictorJob, train_predictor

    job = PredictorJob(
        label=args.label, cells=args.cells, train_size=args.train_size, test_size=args.test_size, init=args.init,
        members=args.members, steps=args.steps, batch_size=args.batch_size, ranking_weight=args.ranking_weight,
        targets=args.targets, readout=args.readout, seed=args.seed, data=args.data, space=args.space,
        dataset=args.dataset,
    )  # fmt: skip
    payload = train_predictor(job, args.out, command=_command_line(), progress=args.format == "text", force=args.force)
    text = [f"wrote {args.out} ({payload['model']}, {payload['train_cells']:,} training cells)"]
    if "test" in payload:
        t = payload["test"]
        mdape = f", MdAPE {t['mdape_percent']:.2f}%" if "mdape_percent" in t else f" ({t['labels']})"
        text.append(
            f"held-out {t['cells']:,} cells: Kendall tau {t['kendall_tau']:.3f}, Spearman {t['spearman']:.3f}"
            f"{mdape}; plot {payload['plot']}"
        )
    _print(args, payload, "\n".join(text))


def cmd_bench_predictors(args: argparse.Namespace) -> None:
    """Every predictor on the same splits and seeds; table, CSV, PNG, or JSON rows."""
    from netembed import predictor_bench
    from netembed.bench import load_table

    out = check_writable(args.out)
    bench = load_table(args.data, required=True)
    results = predictor_bench.run_predictor_bench(
        bench.test_acc_108, args.train_sizes, range(args.seed_offset, args.seed_offset + args.seeds), args.methods,
        test_size=args.test_size, progress=args.format == "text", steps=args.steps, batch_size=args.batch_size,
        runs_dir=out / "runs",
    )  # fmt: skip
    rows = predictor_bench.summarise(results)
    plot = predictor_bench.write_bench(results, rows, out, "predictors", "Accuracy predictors, same splits and seeds")
    table = predictor_bench.format_rows(rows, ("spearman", "rmse"))
    _print(args, rows, f"{table}\nwrote {out / 'predictors.csv'}, {out / 'predictors_runs.csv'} and {plot}")


def cmd_bench_time(args: argparse.Namespace) -> None:
    """Training-time estimators on the timed rows, same splits and seeds; table, CSV, PNG, or JSON rows."""
    import numpy as np

    from netembed import predictor_bench
    from netembed.bench import load_table

    out = check_writable(args.out)
    bench = load_table(args.data, required=True)
    if bench.train_time_108 is None:
        raise UsageError("bench time needs the training-time file (nb101_train_time_20k.npz) beside the table")
    results = predictor_bench.run_time_bench(
        bench.train_time_108, bench.params, bench.flops, args.train_sizes,
        range(args.seed_offset, args.seed_offset + args.seeds), args.methods, pool_size=args.pool_size,
        progress=args.format == "text", steps=args.steps, batch_size=args.batch_size, runs_dir=out / "runs",
    )  # fmt: skip
    rows = predictor_bench.summarise(results)
    plot = predictor_bench.write_bench(results, rows, out, "time", "Training-time estimators, same splits and seeds")
    test = int(np.isfinite(bench.train_time_108).sum()) - args.pool_size
    table = predictor_bench.format_rows(rows, ("mdape_percent",))
    _print(
        args, rows, f"{table}\ntest: the {test:,} timed rows outside the {args.pool_size:,}-row training pool; "
        f"wrote {out / 'time.csv'}, {out / 'time_runs.csv'} and {plot}",
    )  # fmt: skip


def cmd_bench_transfer(args: argparse.Namespace) -> None:
    """NAS-Bench-101's models on a labelled task of one's own, cold against warm, same splits and seeds."""
    from netembed import predictor_bench, transfer_bench

    labelled, out = transfer_bench.LabelledSet(args.labels), Path(args.out)
    seeds = range(args.seed_offset, args.seed_offset + args.seeds)
    common = {"seeds": seeds, "pool_size": args.pool_size, "runs_dir": out / "runs", "steps": args.steps}
    common["progress"] = args.format == "text"
    payload, text = {"labels": args.labels, "sha256": labelled.sha256, "cells": len(labelled.rows)}, []
    search_seeds = range(args.seed_offset, args.seed_offset + args.search_seeds)
    if args.searches != ["none"]:  # refused before the predictor rows' work
        transfer_bench.check_search(labelled, args.searches, search_seeds, args.search_budget, args.jobs)
    for part, name, methods, sizes, columns, title in [
        ("accuracy", "predictors", args.predictors, args.predictor_sizes, ("spearman",),
         "Accuracy predictors on your task"),
        ("time", "time", args.timers, args.time_sizes, ("mdape_percent",), "Training-time estimators of this machine"),
    ]:  # fmt: skip
        if methods == ["none"]:
            continue
        results = transfer_bench.run_transfer(labelled, part, train_sizes=sizes, methods=methods, **common)
        payload[name] = rows = predictor_bench.summarise(results)
        plot = predictor_bench.write_bench(results, rows, out, f"transfer_{name}", title)
        text += [
            f"{title} ({len(labelled.rows) - args.pool_size:,} test cells):",
            predictor_bench.format_rows(rows, columns),
        ]
        text.append(f"wrote {out / f'transfer_{name}.csv'} and {plot}")
    if args.searches != ["none"]:
        runs = transfer_bench.run_transfer_search(
            labelled, out, args.searches, search_seeds, args.search_budget, args.jobs, progress=args.format == "text"
        )
        payload["search"] = rows = transfer_bench.summarise_search(runs, labelled)
        csv, plot = transfer_bench.write_search(runs, labelled, out)
        text += [
            f"Search on your task ({args.search_seeds} seeds, {args.search_budget} queries):",
            transfer_bench.format_search(rows, labelled),
            f"wrote {csv}, {plot} and the runs in {out / 'runs'}",
        ]
    text.append(transfer_bench.SEEN)
    _print(args, payload, "\n".join(text))


def _training_spec(args: argparse.Namespace, inherit: bool = False):
    from netembed.train.spec import TrainingSpec

    return TrainingSpec(
        images=args.images, train_size=args.train_size, label_noise=args.label_noise, split_seed=args.split_seed,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, stem_channels=args.stem_channels,
        stacks=args.stacks, cells_per_stack=args.cells_per_stack, device=args.device, inherit=inherit,
    )  # fmt: skip


def search_spec(args: argparse.Namespace):
    """The ``SearchSpec`` a ``netembed search`` command line describes."""
    from netembed.objective import Objective, Reward
    from netembed.runs import SearchSpec
    from netembed.search import Budget

    return SearchSpec(
        method=args.method, evaluator=args.evaluator,
        objective=Objective(args.objective, Reward(mode=args.reward, cost=args.cost, target=args.cost_target)),
        budget=Budget(queries=args.budget, seconds=args.seconds), seed=args.seed,
        accuracy_model=args.accuracy_model, time_model=args.time_model,
        training=_training_spec(args, args.inherit) if args.evaluator == "train" else None, data=args.data,
        workers=args.workers, worker=args.worker, storage=args.storage, study=args.study, warm_start=args.warm_start,
        space=args.space, dataset=args.dataset,
    )  # fmt: skip


def cmd_search(args: argparse.Namespace) -> None:
    """A search with any method; logs every query so that --resume continues a killed run, or
    shares them with other workers through an Optuna study (--storage, --workers)."""
    from netembed.runs import run

    text = args.format == "text"
    announce = (lambda line: print(line, flush=True)) if text else None
    report = run(search_spec(args), args.out, resume=args.resume, top=args.top, progress=text, announce=announce)
    _print(args, report.payload, report.text())


def cmd_compare(args: argparse.Namespace) -> None:
    """Every method, same seeds and budget, on the table; CSV, PNG, table or JSON rows."""
    from netembed import compare, spaces

    compare.check_methods(args.methods, args.objective, args.space, args.dataset)  # before the table loads
    table = spaces.get(args.space).load_table(args.data)
    dataset = None if args.space == "nb101" else table.check_dataset(args.dataset or table.datasets[0])
    seeds = list(range(args.seed_offset, args.seed_offset + args.seeds))
    text = args.format == "text"
    runs = compare.run_compare(
        args.methods, seeds, args.budget, args.out, data=args.data, jobs=args.jobs, progress=text,
        objective=args.objective, announce=(lambda line: print(line, flush=True)) if text else None,
        space=args.space, dataset=dataset,
    )  # fmt: skip
    _print(args, *compare.write_report(runs, table, args.out, dataset))


def cmd_train_cell(args: argparse.Namespace) -> None:
    """Train one cell's network on real images; rerun the same command to resume."""
    from netembed.train.spec import train_one

    text = args.format == "text"
    payload, result = train_one(
        parse_cell(args.cell), _training_spec(args), args.seed, args.out, data=args.data, progress=text,
        announce=(lambda line: print(line, flush=True)) if text else None,
    )  # fmt: skip
    table = payload.get("table_test_accuracy")
    lines = [
        f"test accuracy {result.test_accuracy:.4f} after {result.epochs} epochs, {result.train_seconds:.1f} s of "
        f"training, {result.params:,} parameters"
        + ("" if table is None else f"; table (CIFAR-10, full network): {table:.4f}")
    ]
    lines += [
        f"  epoch {h['epoch']:>3}  loss {h['loss']:.4f}  test accuracy {h['test_accuracy']:.4f}  {h['seconds']:.2f} s"
        for h in result.history
    ]
    lines.append(f"wrote {Path(args.out) / 'result.json'}")
    _print(args, payload, "\n".join(lines))


def cmd_label(args: argparse.Namespace) -> None:
    """Random cells trained for real, several seeds each: a labelled set of one's own task."""
    from netembed.bench import load_table
    from netembed.train.labels import LABELS_FILE, LabelJob, label_task

    text = args.format == "text"
    job = LabelJob(
        size=args.size, seeds=args.seeds, sample_seed=args.sample_seed, training=_training_spec(args), jobs=args.jobs
    )
    document = label_task(
        job, args.out, bench=load_table(args.data), progress=text,
        announce=(lambda line: print(line, flush=True)) if text else None,
    )  # fmt: skip
    figures, path = document["figures"], Path(args.out) / LABELS_FILE
    lines = [
        (
            f"{figures['cells']:,} cells x {args.seeds} seeds: mean accuracy {figures['accuracy_min']:.4f}.."
            f"{figures['accuracy_max']:.4f} (std {figures['accuracy_std']:.4f}), median training "
            f"{figures['median_seconds']:.2f} s per cell on this machine"
        )
    ]
    if "seed_kendall_tau" in figures:
        lines.append(
            f"seed 0 vs seed 1: Kendall tau {figures['seed_kendall_tau']:.3f} (Spearman {figures['seed_spearman']:.3f}), "
            "the ceiling of any predictor of this task"
        )
    if "table_kendall_tau" in figures:
        lines.append(f"against the table's CIFAR-10 accuracy: Kendall tau {figures['table_kendall_tau']:.3f}")
    lines.append(f"wrote {path} (sha256 of its cells {document['sha256'][:16]}...)")
    _print(args, {"labels": str(path), "sha256": document["sha256"], "figures": figures}, "\n".join(lines))


# -- the parser ---------------------------------------------------------------------------------


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``argv``, only the command it names gets its options (fast start)."""
    from netembed import _cli_options as options

    parser = _Parser(prog="netembed", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    only = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for name, (handler, help_text, add_options) in options.commands(sys.modules[__name__]).items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        if handler is not None:  # a group's subcommands set their own
            sub.set_defaults(handler=handler)
        if only is None or only == name:
            add_options(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = None
    try:
        try:
            args = build_parser(argv).parse_args(argv)
        except SystemExit as exc:  # --help, or a mistake argparse found (one line: _Parser.error)
            return exc.code
        try:
            if isinstance(getattr(args, "out", None), str) and not args.out.strip():
                check_writable(args.out)  # an empty --out would write into the current folder: refused
            if hasattr(args, "threads"):  # before torch is imported: it reads OMP_NUM_THREADS then
                from netembed import threads

                threads.configure(args.threads)
            args.handler(args)
        except (NetembedError, OSError) as exc:
            print(f"{args.prog}: error: {_shown(exc, args)}", file=sys.stderr)
            return 2
    except KeyboardInterrupt:  # Ctrl-C anywhere (loading models, parsing, the work): one line
        print(f"{getattr(args, 'prog', 'netembed')}: interrupted", file=sys.stderr)
        return 130
    return 0


def _shown(exc: BaseException, args: argparse.Namespace) -> str:
    """An error's message, without the secrets of the command's storage URL (a driver's message
    may quote them in any form)."""
    if not getattr(args, "storage", None):
        return str(exc)
    from netembed.study import scrub

    return scrub(str(exc), args.storage)


if __name__ == "__main__":
    sys.exit(main())
