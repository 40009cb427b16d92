"""What ``netembed info``, ``query`` and ``neighbors`` print for NAS-Bench-101 (the functions of
:mod:`netembed.spaces.inspect` call these for ``nb101``): each returns the JSON payload and the
text a person reads. A cell argument is its JSON ``{"matrix": ..., "ops": ...}``, a file holding
it, or (``query``, with the table) its official hash. NAS-Bench-101's table has one data set,
CIFAR-10: ``dataset`` is taken for the same signature as other spaces', and not read.
"""

from __future__ import annotations

import json
from pathlib import Path

from netembed._io import parse_json, read_text
from netembed.errors import InvalidCellError
from netembed.spaces.nb101 import space, transforms
from netembed.spaces.nb101.cell import Cell
from netembed.spaces.nb101.table import load_table

__all__ = ["info", "neighbors", "parse_cell", "query"]


def parse_cell(text: str) -> Cell:
    """A cell from JSON text ``{"matrix": [[...]], "ops": [...]}`` or from a file holding it."""
    source = "argument"
    if not text.lstrip().startswith(("{", "[")):  # not inline JSON: a file
        source, text = text, read_text(text, 'cell must be JSON like {"matrix": ..., "ops": ...} or a file holding it')
    try:
        spec = parse_json(text, "the cell argument" if source == "argument" else source)
    except json.JSONDecodeError as exc:
        raise InvalidCellError(
            'cell must be JSON like {"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}, '
            f"got invalid JSON in {source} ({exc.msg} at position {exc.pos})"
        ) from exc
    if not isinstance(spec, dict) or set(spec) != {"matrix", "ops"}:
        got = sorted(spec) if isinstance(spec, dict) else type(spec).__name__
        raise InvalidCellError(f"cell JSON must be an object with exactly the keys 'matrix' and 'ops', got {got}")
    return Cell(spec["matrix"], spec["ops"])


def info(data=None) -> tuple[dict, str]:
    """The space's cell counts and, when the table is found, its size and accuracies."""
    summary = {"space": space.summary()}
    lines = [
        f"NAS-Bench-101 space: {summary['space']['cells']:,} unique cells",
        "  by vertex count: " + ", ".join(f"{n}: {c:,}" for n, c in summary["space"]["by_vertices"].items()),
    ]
    bench = load_table(data)
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
    return summary, "\n".join(lines)


def query(text: str, data=None, dataset: str | None = None) -> tuple[dict, str]:
    """A cell (JSON, a file, or an official hash) with its parameter count and, when the table
    is found, its row."""
    is_hash = len(text) == 32 and not text.lstrip().startswith("{") and not Path(text).is_file()
    bench = load_table(data, required=is_hash)
    cell = bench.cell(bench.row_of(text)) if is_hash else parse_cell(text)
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
    return payload, "\n".join(lines)


def neighbors(text: str, data=None, dataset: str | None = None) -> tuple[list, str]:
    """Every cell one widen/deepen/rewire move away, with its test accuracy when the table is found."""
    cell, bench = parse_cell(text), load_table(data)
    rows = []
    for action, child in transforms.neighbors(cell):
        row = {"action": repr(action), "family": action.family, **child.to_dict()}
        if bench is not None:
            row["test_acc_108"] = bench.query(child).test_acc_108
        rows.append(row)
    lines = [f"{len(rows)} neighbours of {cell.hash}"]
    lines += [
        f"  {r['family']:<7} {r['action']:<60} {r['hash']}"
        + (f"  {r['test_acc_108']:.4f}" if "test_acc_108" in r else "")
        for r in rows
    ]
    return rows, "\n".join(lines)
