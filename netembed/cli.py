"""The ``netembed`` command line. User mistakes print one line to stderr and exit with code 2."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from netembed import space, transforms
from netembed.cell import Cell
from netembed.errors import NetembedError

__all__ = ["main"]


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
        raise UsageError(f"cell must be JSON like {{\"matrix\": [[0, 1], [0, 0]], \"ops\": [\"input\", \"output\"]}}, "
                         f"got invalid JSON in {source} ({exc.msg} at position {exc.pos})") from exc
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
    lines = [f"NAS-Bench-101 space: {len(arrays):,} unique cells",
             "  by vertex count: " + ", ".join(f"{n}: {c:,}" for n, c in vertices.items())]
    bench = _load_bench(args.data, required=False)
    if bench is None:
        lines.append("table: not found (set NETEMBED_DATA to the folder holding nb101_full.npz)")
    else:
        acc = bench.test_acc_108
        timed = 0 if bench.train_time_108 is None else int(np.count_nonzero(~np.isnan(bench.train_time_108)))
        payload["table"] = {"path": str(bench.source), "rows": len(bench), "best_test_acc_108": float(acc.max()),
                            "mean_test_acc_108": float(acc.mean()), "median_test_acc_108": float(np.median(acc)),
                            "timed_rows": timed}
        lines += [f"table: {bench.source} ({len(bench):,} rows, {timed:,} with training time)",
                  f"  test accuracy (108 epochs, one repeat): best {acc.max():.4f}, "
                  f"mean {acc.mean():.4f}, median {np.median(acc):.4f}"]
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
    lines = [f"hash    {cell.hash}", f"ops     {list(cell.ops)}", "matrix  " + "\n        ".join(map(str, cell.matrix.tolist())),
             f"params  {payload['params']:,}"]
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
    text += [f"  {r['family']:<7} {r['action']:<60} {r['hash']}" + (f"  {r['test_acc_108']:.4f}" if "test_acc_108" in r else "")
             for r in rows]
    _print(args, rows, "\n".join(text))


def cmd_convert(args: argparse.Namespace) -> None:
    from netembed.bench.tfrecord import convert_tfrecord

    count = convert_tfrecord(args.source, args.output, progress=not args.quiet)
    print(f"wrote {count:,} cells to {args.output}")


def cmd_demo(args: argparse.Namespace) -> None:
    """The main job while the search is being built: a greedy walk over single moves."""
    rng = np.random.default_rng(args.seed)
    bench = _load_bench(args.data, required=False)
    cell = Cell.random(rng)
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
