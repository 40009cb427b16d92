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

from netembed._io import check_writable
from netembed.errors import NetembedError

__all__ = ["build_parser", "main"]


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


# -- commands: each calls the library with the options named like its parameters ----------------


def _named(args: argparse.Namespace, **given) -> dict:
    """The options by name, and what they give a library call: ``progress`` and ``announce``
    following ``--format``, the ``command``."""
    text = getattr(args, "format", "text") == "text"
    named = {**vars(args), "progress": text, "announce": (lambda line: print(line, flush=True)) if text else None}
    return named | {"command": "netembed " + " ".join(args.argv)} | given


def _call(function, named: dict):
    """``function``, or a spec's class, called with the values ``named`` like its parameters; a
    parameter whose annotation names a spec class gets one built alike when it is not named, and
    one whose default is a range of seeds gets the count named, from ``--seed-offset``."""
    import inspect
    from dataclasses import is_dataclass

    chosen, offset = {}, named.get("seed_offset", 0)
    for name, parameter in inspect.signature(function).parameters.items():
        spec = vars(sys.modules[function.__module__]).get(parameter.annotation)
        if name in named or is_dataclass(spec):
            chosen[name] = named[name] if name in named else _call(spec, named)
        if isinstance(parameter.default, range) and isinstance(chosen.get(name), int):
            chosen[name] = range(offset, offset + chosen[name])
    return function(**chosen)


def _print(args: argparse.Namespace, payload, text: str) -> None:
    print(json.dumps(payload, indent=2) if args.format == "json" else text)


def cmd_any(args: argparse.Namespace) -> None:
    """A command whose library call (``COMMANDS``' last source) returns a payload and its text."""
    from netembed.cli.options import COMMANDS, Library

    _print(args, *_call(Library(COMMANDS[args.name][-1]).value(), _named(args)))


def cmd_demo(args: argparse.Namespace) -> None:
    """A greedy walk over single moves, scored by the table (or by fewest parameters without it)."""
    from netembed.spaces.nb101 import transforms
    from netembed.spaces.nb101.table import load_table

    print(transforms.greedy_walk(args.seed, args.steps, load_table(args.data)).text(args.seed))


def cmd_convert(args: argparse.Namespace) -> None:
    from netembed.spaces.nb101.official import convert_tfrecord

    print(f"wrote {convert_tfrecord(args.source, args.output, progress=not args.quiet):,} cells to {args.output}")


def cmd_pretrain(args: argparse.Namespace) -> None:
    from netembed.runs.pretrain import write_pretrained

    print("wrote", _call(write_pretrained, _named(args)))


def cmd_train_predictor(args: argparse.Namespace) -> None:
    """Train an accuracy predictor, a time estimator or a prior; report it on held-out table cells."""
    from netembed.runs.surrogate import predictor_text, train_predictor

    payload = _call(train_predictor, _named(args))
    _print(args, payload, predictor_text(payload))


def search_spec(args: argparse.Namespace):
    """The ``SearchSpec`` a ``netembed search`` command line describes; warns of the options it
    sets that its evaluator or reward does not read."""
    from netembed.errors import warn
    from netembed.runs import SearchSpec
    from netembed.train.spec import TrainingSpec

    training = _call(TrainingSpec, vars(args))
    if args.evaluator != "train":
        given = [name for name, value in vars(training).items() if value != getattr(TrainingSpec(), name)]
        if given:
            options = ", ".join("--" + name.replace("_", "-") for name in given)
            warn(f"{options}: real training's options, ignored by the {args.evaluator} evaluator")
    if args.mode == "accuracy" and args.target is not None:
        warn(f"--cost-target {args.target:g}: ignored by --reward accuracy (soft and hard rewards use it)")
    return _call(SearchSpec, {**vars(args), "training": training if args.evaluator == "train" else None})


def cmd_search(args: argparse.Namespace) -> None:
    """A search with any method; logs every query so that --resume continues a killed run, or
    shares them with other workers through an Optuna study (--storage, --workers)."""
    from netembed.runs import run

    report = _call(run, _named(args, spec=search_spec(args)))
    _print(args, report.payload, report.text())


def cmd_train_cell(args: argparse.Namespace) -> None:
    """Train one cell's network on real images; rerun the same command to resume."""
    from netembed.spaces.nb101.inspect import parse_cell
    from netembed.spaces.nb101.table import load_table
    from netembed.train.spec import result_text, train_one

    payload, _ = _call(train_one, _named(args, cell=parse_cell(args.cell), bench=load_table(args.data)))
    _print(args, payload, result_text(payload))


def cmd_label(args: argparse.Namespace) -> None:
    """Random cells trained for real, several seeds each: a labelled task of one's own."""
    from netembed import spaces
    from netembed.train.labels import label_report, label_task

    table = spaces.get(args.space).find_table(args.data, required=False)
    _print(args, *label_report(_call(label_task, _named(args, bench=table)), args.out))


HANDLERS = {
    "demo": cmd_demo, "pretrain": cmd_pretrain, "train-predictor": cmd_train_predictor, "search": cmd_search,
    "train-cell": cmd_train_cell, "label": cmd_label, "data convert": cmd_convert,
}  # fmt: skip


# -- the parser ---------------------------------------------------------------------------------


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``argv``, only the command it names gets its options (fast start)."""
    from netembed.cli.options import COMMANDS, GROUPS, add_options

    parser = _Parser(prog="netembed", description=__doc__.split("\n\n")[0])
    parser.set_defaults(argv=list(argv or ()))
    commands = parser.add_subparsers(dest="command", required=True)
    groups = {group: commands.add_parser(group, help=text, description=text) for group, text in GROUPS.items()}
    subs = {group: sub.add_subparsers(dest="sub", required=True) for group, sub in groups.items()}
    words = [a for a in argv or () if not a.startswith("-")]
    for name, (help_text, *_) in COMMANDS.items():
        group, _, leaf = name.rpartition(" ")
        sub = (subs[group] if group else commands).add_parser(leaf, help=help_text, description=help_text)
        sub.set_defaults(handler=HANDLERS.get(name, cmd_any), name=name)
        if argv is None or words[: len(name.split())] == name.split():
            add_options(sub, name)
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
