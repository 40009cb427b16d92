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

from netembed._io import check_writable
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


def _print(args: argparse.Namespace, payload, text: str) -> None:
    print(json.dumps(payload, indent=2) if args.format == "json" else text)


def _seed_range(args: argparse.Namespace, count: int | None = None) -> range:
    """The seeds ``--seed-offset`` .. ``--seed-offset + --seeds - 1`` (or ``count`` of them)."""
    return range(args.seed_offset, args.seed_offset + (args.seeds if count is None else count))


def _command_line() -> str:
    return "netembed " + " ".join(sys.argv[1:])


# -- commands -----------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace) -> None:
    from netembed import spaces
    from netembed.spaces import inspect

    _print(args, *inspect.info(spaces.get(args.space), data=args.data))


def cmd_query(args: argparse.Namespace) -> None:
    from netembed import spaces
    from netembed.spaces import inspect

    _print(args, *inspect.query(spaces.get(args.space), args.cell, data=args.data, dataset=args.dataset))


def cmd_neighbors(args: argparse.Namespace) -> None:
    from netembed import spaces
    from netembed.spaces import inspect

    _print(args, *inspect.neighbors(spaces.get(args.space), args.cell, data=args.data, dataset=args.dataset))


def cmd_demo(args: argparse.Namespace) -> None:
    """A greedy walk over single moves, scored by the table (or by fewest parameters without it)."""
    from netembed.spaces.nb101 import transforms
    from netembed.spaces.nb101.table import load_table

    print(transforms.greedy_walk(args.seed, args.steps, load_table(args.data)).text(args.seed))


def cmd_convert(args: argparse.Namespace) -> None:
    from netembed.spaces.nb101.official import convert_tfrecord

    count = convert_tfrecord(args.source, args.output, progress=not args.quiet)
    print(f"wrote {count:,} cells to {args.output}")


def cmd_pretrain(args: argparse.Namespace) -> None:
    from netembed.models.encoder import EncoderConfig
    from netembed.models.pretrain import PretrainConfig
    from netembed.runs.pretrain import write_pretrained
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
    from netembed.runs.pretrain import embed_cells
    from netembed.train.spec import resolve_device

    device = resolve_device(args.device)
    if args.eval:
        from netembed.benchmarks.quality import evaluate_pretrained, quality_text

        quality = evaluate_pretrained(args.model, out_dir=args.out, device=device, progress=args.format == "text")
        _print(args, quality, quality_text(quality))
        return
    if args.cells is None:
        raise UsageError("embed needs a JSON file of cells, or --eval")
    _print(args, *embed_cells(args.model, args.cells, device))


def cmd_locality(args: argparse.Namespace) -> None:
    """NAS-Bench-101's Figure 7 (RWA over single moves) and its embedding-space counterpart."""
    from netembed.benchmarks import analysis

    _print(args, *analysis.locality(
        args.out, walks=args.walks, length=args.length, max_lag=args.max_lag, seed=args.seed, data=args.data,
        permutations=args.permutations, bootstrap=args.bootstrap, embedding=args.embedding,
        progress=args.format == "text",
    ))  # fmt: skip


def cmd_train_predictor(args: argparse.Namespace) -> None:
    """Train an accuracy predictor, a time estimator or a prior; report it on held-out table cells."""
    from netembed.runs.surrogate import PredictorJob, predictor_text, train_predictor

    job = PredictorJob(
        label=args.label, cells=args.cells, train_size=args.train_size, test_size=args.test_size, init=args.init,
        members=args.members, steps=args.steps, batch_size=args.batch_size, ranking_weight=args.ranking_weight,
        targets=args.targets, readout=args.readout, seed=args.seed, data=args.data, space=args.space,
        dataset=args.dataset,
    )  # fmt: skip
    payload = train_predictor(job, args.out, command=_command_line(), progress=args.format == "text", force=args.force)
    _print(args, payload, predictor_text(payload))


def cmd_bench_predictors(args: argparse.Namespace) -> None:
    """Every predictor on the same splits and seeds; table, CSV, PNG, or JSON rows."""
    from netembed.benchmarks import predictor_bench

    _print(args, *predictor_bench.bench_predictors(
        args.out, args.train_sizes, _seed_range(args), args.methods,
        data=args.data, test_size=args.test_size, steps=args.steps, batch_size=args.batch_size,
        progress=args.format == "text", space_name=args.space, dataset=args.dataset, labels=args.labels,
    ))  # fmt: skip


def cmd_bench_time(args: argparse.Namespace) -> None:
    """Training-time estimators on the timed rows, same splits and seeds; table, CSV, PNG, or JSON rows."""
    from netembed.benchmarks import predictor_bench

    _print(args, *predictor_bench.bench_time(
        args.out, args.train_sizes, _seed_range(args), args.methods,
        data=args.data, pool_size=args.pool_size, steps=args.steps, batch_size=args.batch_size,
        progress=args.format == "text",
    ))  # fmt: skip


def cmd_bench_latency(args: argparse.Namespace) -> None:
    """A new device from a few timings: each device held out in turn; table, CSV, PNG, or JSON rows."""
    from netembed.benchmarks.latency_bench import bench_latency

    _print(args, *bench_latency(
        args.out, args.sizes, _seed_range(args), args.methods, data=args.data,
        train_devices=args.train_devices, test_devices=args.test_devices,
    ))  # fmt: skip


def cmd_bench_transfer(args: argparse.Namespace) -> None:
    """NAS-Bench-101's models on a labelled task of one's own, cold against warm, same splits and seeds."""
    from netembed.benchmarks.transfer_bench import bench_transfer

    _print(args, *bench_transfer(
        args.labels, args.out, seeds=_seed_range(args), pool_size=args.pool_size,
        predictors=args.predictors, predictor_sizes=args.predictor_sizes, timers=args.timers,
        time_sizes=args.time_sizes, searches=args.searches, search_budget=args.search_budget, jobs=args.jobs,
        search_seeds=_seed_range(args, args.search_seeds), steps=args.steps,
        progress=args.format == "text",
    ))  # fmt: skip


def _training_spec(args: argparse.Namespace, inherit: bool = False):
    from netembed.train.spec import TrainingSpec

    return TrainingSpec(
        images=args.images, train_size=args.train_size, label_noise=args.label_noise, split_seed=args.split_seed,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, stem_channels=args.stem_channels,
        stacks=args.stacks, cells_per_stack=args.cells_per_stack, device=args.device, inherit=inherit,
    )  # fmt: skip


def _ignored_options(args: argparse.Namespace) -> None:
    """Warn of the options a search line sets that its evaluator or reward does not read."""
    from dataclasses import fields

    from netembed.errors import warn
    from netembed.train.spec import TrainingSpec

    if args.evaluator != "train":
        default = TrainingSpec()
        given = [
            f.name for f in fields(TrainingSpec) if getattr(args, f.name, None) not in (None, getattr(default, f.name))
        ]
        if given:
            options = ", ".join("--" + name.replace("_", "-") for name in given)
            warn(f"{options}: real training's options, ignored by the {args.evaluator} evaluator")
    if args.reward == "accuracy" and args.cost_target is not None:
        warn(f"--cost-target {args.cost_target:g}: ignored by --reward accuracy (soft and hard rewards use it)")


def search_spec(args: argparse.Namespace):
    """The ``SearchSpec`` a ``netembed search`` command line describes."""
    from netembed.runs import SearchSpec
    from netembed.search import Budget
    from netembed.search.objective import Objective, Reward

    _ignored_options(args)

    return SearchSpec(
        method=args.method, evaluator=args.evaluator,
        objective=Objective(args.objective, Reward(mode=args.reward, cost=args.cost, target=args.cost_target)),
        budget=Budget(queries=args.budget, seconds=args.seconds), seed=args.seed,
        accuracy_model=args.accuracy_model, time_model=args.time_model,
        training=_training_spec(args, args.inherit) if args.evaluator == "train" else None, data=args.data,
        workers=args.workers, worker=args.worker, storage=args.storage, study=args.study, warm_start=args.warm_start,
        space=args.space, dataset=args.dataset, latency_model=args.latency_model,
        latency_quantile=args.latency_quantile,
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
    from netembed.benchmarks.compare import compare_methods

    text = args.format == "text"
    _print(args, *compare_methods(
        args.methods, _seed_range(args), args.budget, args.out, data=args.data,
        jobs=args.jobs, progress=text, objective=args.objective, space=args.space, dataset=args.dataset,
        announce=(lambda line: print(line, flush=True)) if text else None,
    ))  # fmt: skip


def cmd_train_cell(args: argparse.Namespace) -> None:
    """Train one cell's network on real images; rerun the same command to resume."""
    from netembed.spaces.nb101.inspect import parse_cell
    from netembed.spaces.nb101.table import load_table
    from netembed.train.spec import result_text, train_one

    text = args.format == "text"
    payload, _ = train_one(
        parse_cell(args.cell), _training_spec(args), args.seed, args.out, bench=load_table(args.data), progress=text,
        announce=(lambda line: print(line, flush=True)) if text else None,
    )  # fmt: skip
    _print(args, payload, result_text(payload))


def cmd_label(args: argparse.Namespace) -> None:
    """Random cells trained for real, several seeds each: a labelled task of one's own."""
    from netembed.spaces.nb101.table import load_table
    from netembed.train.labels import LabelJob, label_report, label_task

    text = args.format == "text"
    job = LabelJob(
        size=args.size, seeds=args.seeds, sample_seed=args.sample_seed, training=_training_spec(args), jobs=args.jobs
    )
    document = label_task(
        job, args.out, bench=load_table(args.data), progress=text,
        announce=(lambda line: print(line, flush=True)) if text else None,
    )  # fmt: skip
    _print(args, *label_report(document, args.out))


# -- the parser ---------------------------------------------------------------------------------


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``argv``, only the command it names gets its options (fast start)."""
    from netembed.cli import options

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
    from netembed.runs.study import scrub

    return scrub(str(exc), args.storage)
