"""The query log of a one-process search: JSON lines that make a killed run resumable.

The log is a header with the run's settings, then one line per query, each flushed to disk as
soon as the evaluator answers. A killed run loses at most the query in flight; ``resume``
replays the logged queries into a fresh method (same name, seed and settings), which re-asks
the same cells and is told the logged answers without calling the evaluator, and then
continues. A torn last line (a crash mid-write) is dropped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from netembed.search import Evaluation, SearchError, evaluation_from_record

__all__ = ["LOG_VERSION", "QueryLog", "read_log"]

LOG_VERSION = 1


def _evaluation_json(e: Evaluation) -> dict:
    return {
        "query": e.query,
        "hash": e.cell.hash,
        "matrix": e.cell.matrix.tolist(),
        "ops": list(e.cell.ops),
        "accuracy": e.accuracy,
        "seconds": e.seconds,
        "params": e.params,
        "reward": e.reward,
    }


def _evaluation_from_json(row: dict) -> Evaluation:
    return evaluation_from_record(
        row, row["reward"], row["query"], row["hash"], f"query {row['query']} of the log", "the log"
    )


def read_log(path: str | os.PathLike) -> tuple[dict, list[Evaluation], bool]:
    """A query log's header, its evaluations, and whether its last line was torn (a run that
    died while writing it; that line is dropped)."""
    path = Path(path)
    if not path.is_file():
        raise SearchError(f"no query log at {path}")
    lines = path.read_text().split("\n")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise SearchError(f"{path} does not start with a netembed log header ({exc.msg})") from None
    if not isinstance(header, dict) or header.get("netembed_log") != LOG_VERSION:
        got = header.get("netembed_log") if isinstance(header, dict) else header
        raise SearchError(f"{path} has log version {got!r}, this netembed writes {LOG_VERSION}")
    evaluations, body = [], lines[1:]
    for number, line in enumerate(body):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if number >= len(body) - 2:  # torn last line: the query in flight when the run died
                break
            raise SearchError(f"line {number + 2} of {path} is not JSON") from None
        evaluations.append(_evaluation_from_json(row))
    return header, evaluations, bool(body and body[-1].strip())


@dataclass
class QueryLog:
    """``queries.jsonl`` of one run: ``start`` (new) or ``resume`` (existing), then ``append`` per query."""

    path: Path
    settings: dict
    evaluations: list[Evaluation]

    @classmethod
    def start(cls, path: str | os.PathLike, settings: dict) -> QueryLog:
        path = Path(path)
        if path.exists():
            raise SearchError(f"{path} already exists: pass --resume to continue that run, or another --out")
        path.parent.mkdir(parents=True, exist_ok=True)
        log = cls(path, settings, [])
        log._write_line({"netembed_log": LOG_VERSION, **settings}, mode="x")
        return log

    @classmethod
    def resume(cls, path: str | os.PathLike, settings: dict) -> QueryLog:
        """The logged queries, after checking the log was written with the same ``settings``
        (the budget may differ: a run can be resumed with a larger one)."""
        path = Path(path)
        try:
            header, evaluations, torn = read_log(path)
        except SearchError as exc:
            raise SearchError(f"cannot resume: {exc}") from None
        logged = {k: v for k, v in header.items() if k not in ("netembed_log", "budget")}
        wanted = {k: v for k, v in settings.items() if k != "budget"}
        if logged != wanted:
            diff = sorted(k for k in set(logged) | set(wanted) if logged.get(k) != wanted.get(k))
            raise SearchError(
                f"cannot resume: the log at {path} was written with other settings ({', '.join(diff)}: "
                f"{[logged.get(k) for k in diff]} in the log, {[wanted.get(k) for k in diff]} now)"
            )
        log = cls(path, settings, evaluations)
        if torn:  # rewrite without the torn line so appends start on a fresh line
            log._rewrite(header)
        return log

    def append(self, evaluation: Evaluation) -> None:
        self.evaluations.append(evaluation)
        self._write_line(_evaluation_json(evaluation))

    def _write_line(self, row: dict, mode: str = "a") -> None:
        with open(self.path, mode) as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _rewrite(self, header: dict) -> None:
        from netembed._io import atomic_write

        text = "".join(json.dumps(r) + "\n" for r in [header, *map(_evaluation_json, self.evaluations)])
        atomic_write(self.path, lambda tmp: Path(tmp).write_text(text))
