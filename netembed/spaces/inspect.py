"""What ``netembed info``, ``query`` and ``neighbors`` print for any space: each returns the JSON
payload and the text a person reads (the command line prints one of them). NAS-Bench-101's
answers are its own (:mod:`netembed.spaces.nb101.inspect`); these functions pass them on.

An architecture argument is its string, its JSON form, a file holding either, or (with the
table) its index in the benchmark.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from netembed import spaces
from netembed._io import parse_json, read_text
from netembed.errors import DataError, InvalidCellError

__all__ = ["from_json", "info", "neighbors", "parse_arch", "parse_list", "query"]


def parse_arch(space: spaces.Space, text: str, table=None):
    """An architecture from the command line: an index (needs the table), JSON, a string, or a file."""
    stripped = text.strip()
    if stripped.isdigit():
        if table is None:
            raise DataError(f"an architecture index needs the {space.name} table, none found (pass --data)")
        return table.arch_at(int(stripped))
    if not stripped.startswith(("{", "[", "|")) and Path(stripped).is_file():
        stripped = read_text(stripped, f"a {space.name} architecture file").strip()
    if stripped.startswith(("{", "[")):
        try:
            return space.from_json(parse_json(stripped, "the architecture argument"))
        except json.JSONDecodeError as exc:
            raise InvalidCellError(f"architecture JSON is invalid ({exc.msg} at position {exc.pos})") from exc
    return space.from_json(stripped)


def parse_list(text: str) -> list:
    """The JSON list of architectures an argument holds, inline or in a file; its items are read
    by ``from_json`` (the space is known later: a pretrained encoder's, once loaded)."""
    rule = 'cells must be a JSON list of {"matrix": ..., "ops": ...}'
    inline = text.lstrip().startswith(("[", "{"))
    document = text if inline else read_text(text, f"{rule} or a file holding one")
    try:
        values = parse_json(document, "the cells argument" if inline else text)
    except json.JSONDecodeError as exc:
        raise InvalidCellError(f"{rule}, got invalid JSON ({exc.msg})") from exc
    if not isinstance(values, list):
        raise InvalidCellError(f"{rule}, got {type(values).__name__}")
    return values


def _own(space: spaces.Space):
    """NAS-Bench-101's own answers (its cells, hashes and table are its own), None for any other space."""
    if space.name != "nb101":
        return None
    from netembed.spaces.nb101 import inspect as nb101

    return nb101


def from_json(space: spaces.Space, value):
    """One item of ``parse_list``: an architecture of ``space`` (NAS-Bench-101's read as a cell argument)."""
    if own := _own(space):
        return own.parse_cell(json.dumps(value))
    return space.from_json(value)


def _columns(record, dataset: str | None) -> dict:
    picked = {"val": record.val, "test": record.test}
    if dataset is not None:
        picked = {split: {dataset: values[dataset]} for split, values in picked.items()}
    return {**picked, "latency_ms": record.latency}


def info(space: str | spaces.Space, data=None) -> tuple[dict, str]:
    space = spaces.get(space)
    if own := _own(space):
        return own.info(data)
    every = space.enumerate()
    summary = {"space": {"name": space.name, "architectures": space.size}}
    lines = [f"{space.name} space: {space.size:,} architectures"]
    if hasattr(every[0], "isomorphism_key"):
        classes, disconnected = len({a.isomorphism_key for a in every}), sum(not a.connected for a in every)
        summary["space"] |= {"isomorphism_classes": classes, "disconnected": disconnected}
        lines.append(f"  {classes:,} isomorphism classes, {disconnected} with no path from input to output")
    table = space.find_table(data, required=False)
    if table is None:
        lines.append(f"table: not found (pass --data PATH to the {space.name} table)")
    else:
        best = {d: {"val": float(table.val[d].max()), "test": float(np.nanmax(table.test[d]))} for d in table.datasets}
        summary["table"] = {
            "path": str(table.source),
            "rows": len(table),
            "datasets": best,
            "devices": list(table.devices),
        }
        lines.append(f"table: {table.source} ({len(table):,} rows; accuracies after 12 epochs)")
        lines += [f"  {d}: best validation {b['val']:.4f}, best test {b['test']:.4f}" for d, b in best.items()]
        lines.append(f"  latency on {len(table.devices)} devices: {', '.join(table.devices)}")
    return summary, "\n".join(lines)


def query(space: str | spaces.Space, cell: str, data=None, dataset: str | None = None) -> tuple[dict, str]:
    space = spaces.get(space)
    if own := _own(space):
        return own.query(cell, data, dataset)
    table = space.find_table(data, required=cell.strip().isdigit() or dataset is not None)
    arch = parse_arch(space, cell, table)
    payload = {**space.to_json(arch), "params": space.count_params(arch)}
    lines = [f"arch    {arch.hash}", f"params  {payload['params']:,}"]
    if table is not None:
        if dataset is not None:
            table.check_dataset(dataset)
        record = table.record(arch)
        payload |= {"index": record.index, **_columns(record, dataset)}
        lines.insert(1, f"index   {record.index}")
        for split in ("val", "test"):
            lines += [f"{d}_{split:<5} {v:.4f}" for d, v in payload[split].items()]
        lines += [f"latency {device:<14} {ms:.3f} ms" for device, ms in record.latency.items()]
    return payload, "\n".join(lines)


def neighbors(space: str | spaces.Space, cell: str, data=None, dataset: str | None = None) -> tuple[list, str]:
    space = spaces.get(space)
    if own := _own(space):
        return own.neighbors(cell, data, dataset)
    table = space.find_table(data, required=cell.strip().isdigit() or dataset is not None)
    arch = parse_arch(space, cell, table)
    if table is not None:
        dataset = table.check_dataset(dataset or table.datasets[0])
    rows = []
    for action, child in space.neighbors(arch):
        row = {"kind": action.kind, **space.to_json(child)}
        if table is not None:
            row[f"{dataset}_val"] = float(table.val[dataset][table.row_of(child)])
        rows.append(row)
    shown = f" ({dataset} validation accuracy, 12 epochs)" if table is not None else ""
    lines = [f"{len(rows)} neighbours of {arch.hash}{shown}"]
    lines += [
        f"  {r['kind']:<12} {r.get('arch', '')}" + (f"  {r[f'{dataset}_val']:.4f}" if table is not None else "")
        for r in rows
    ]
    return rows, "\n".join(lines)
