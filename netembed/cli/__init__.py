"""The ``netembed`` command line. User mistakes print one line to stderr and exit with code 2.

Every command parses its options, calls one library job and prints what it returns (a payload
and its text). Options are added only for the command being run, so ``netembed --help``,
``info`` and ``query`` start without importing torch.
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
    """argparse's parser, its mistakes on one line like every other error (exit code 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def _get_values(self, action: argparse.Action, arg_strings: list[str]):
        if action.option_strings and action.nargs is None and arg_strings == ["--"]:  # Python 3.11 gives []
            raise argparse.ArgumentError(action, "expected one argument, got '--'")
        return super()._get_values(action, arg_strings)


# -- the call: each command calls one library job with the options named like its parameters ----


def _named(args: argparse.Namespace) -> dict:
    """The options by name, and what they give a library call: ``progress`` and ``announce``
    following ``--format``, the ``command``."""
    text = getattr(args, "format", "text") == "text"
    named = {**vars(args), "progress": text, "announce": (lambda line: print(line, flush=True)) if text else None}
    return named | {"command": "netembed " + " ".join(args.argv)}


def _spec(module: str, annotation) -> type | None:
    """The spec class a parameter's annotation names ("TrainingSpec | None" too): one of its
    module's names, or of netembed's."""
    import dataclasses

    import netembed

    name = str(annotation).split("|")[0].strip()
    found = vars(sys.modules[module]).get(name) or (getattr(netembed, name) if name in netembed.__all__ else None)
    return found if dataclasses.is_dataclass(found) else None


def _call(function, named: dict):
    """``function``, or a spec's class, called with the values ``named`` like its parameters; a
    parameter whose annotation names a spec class gets one built alike when it is not named, and
    one whose default is a range of seeds gets the count named, from ``--seed-offset``."""
    import inspect

    chosen, offset = {}, named.get("seed_offset", 0)
    for name, parameter in inspect.signature(function).parameters.items():
        spec = _spec(function.__module__, parameter.annotation)
        if name in named or spec:
            chosen[name] = named[name] if name in named else _call(spec, named)
        if isinstance(parameter.default, range) and isinstance(chosen.get(name), int):
            chosen[name] = range(offset, offset + chosen[name])
    return function(**chosen)


def run_command(args: argparse.Namespace) -> None:
    """Call the command's job (``COMMANDS``' last source) and print its result, a payload and its
    text: the payload as JSON with ``--format json``, else the text."""
    from netembed.cli.options import COMMANDS, Library

    if isinstance(getattr(args, "out", None), str) and not args.out.strip():
        check_writable(args.out)  # an empty --out would write into the current folder: refused
    if hasattr(args, "threads"):  # before torch is imported: it reads OMP_NUM_THREADS then
        from netembed import threads

        threads.configure(args.threads)
    payload, text = _call(Library(COMMANDS[args.name][-1]).value(), _named(args))
    print(json.dumps(payload, indent=2) if getattr(args, "format", "text") == "json" else text)


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
        sub.set_defaults(name=name)
        if argv is None or words[: len(name.split())] == name.split():
            add_options(sub, name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv, prog = list(sys.argv[1:] if argv is None else argv), "netembed"
    try:
        try:
            args = build_parser(argv).parse_args(argv)
        except SystemExit as exc:  # --help, or a mistake argparse found (one line: _Parser.error)
            return exc.code
        prog = f"netembed {args.name}"
        try:
            run_command(args)
        except (NetembedError, OSError) as exc:
            from netembed.runs.study import scrub  # a driver's message may quote the storage URL's secrets

            print(f"{prog}: error: {scrub(str(exc), getattr(args, 'storage', None))}", file=sys.stderr)
            return 2
    except KeyboardInterrupt:  # Ctrl-C anywhere (loading models, parsing, the work): one line
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return 0
