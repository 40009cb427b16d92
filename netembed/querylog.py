"""The query log of a one-process search: JSON lines that make a killed run resumable.

The log is a header with the run's settings, then one line per query, each flushed to disk as
soon as the evaluator answers. A killed run loses at most the query in flight; ``resume``
replays the logged queries into a fresh method (same name, seed and settings), which re-asks
the same cells and is told the logged answers without calling the evaluator, and then
continues. A torn last line (a crash mid-write) is dropped.

A method that keeps a state (``Method.state``: the netembed controller, whose every round
refits a surrogate) is also checkpointed beside the log, atomically, after the log line of its
last label: a resume restores it and replays only the queries logged after it, so it costs
seconds instead of the run's whole compute. A checkpoint that does not match its log (another
run's, edited, unreadable) is set aside and the log replayed from the start, which is slower
but asks the same cells.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from netembed.search import Evaluation, SearchError, evaluation_from_record

__all__ = ["LOG_VERSION", "STATE_FILE", "QueryLog", "read_log"]

LOG_VERSION = 1
STATE_FILE = "method_state.pt"  # the method's checkpoint, beside the log
STATE_VERSION = 1


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


_ROW_KEYS = ("query", "hash", "matrix", "ops", "accuracy", "seconds", "params", "reward")


def _evaluation_from_json(row, where: str, query: int) -> Evaluation:
    """The evaluation on one line of the log, which must be query number ``query``."""
    from netembed.errors import NetembedError

    if not isinstance(row, dict) or any(key not in row for key in _ROW_KEYS):
        raise SearchError(f"{where} must be a logged query with {', '.join(_ROW_KEYS)}, got {str(row)[:80]}")
    if row["query"] != query:
        raise SearchError(f"{where} must be query {query}, got query {row['query']!r}")
    try:
        return evaluation_from_record(row, row["reward"], query, row["hash"], f"query {query} of the log", "the log")
    except (NetembedError, TypeError, ValueError) as exc:
        raise SearchError(f"{where} is not a valid logged query: {exc}") from None


def read_log(path: str | os.PathLike) -> tuple[dict, list[Evaluation], bool]:
    """A query log's header, its evaluations, and whether it must be rewritten before appending:
    a torn line (a write cut short when a run died) is dropped, a whole last row without its
    newline kept. Rows must number their queries 1, 2, 3, ...: a torn line is only skipped when
    the rows around it say no query is missing."""
    from netembed._io import read_text
    from netembed.errors import NetembedError

    path = Path(path)
    if not path.is_file():
        raise SearchError(f"no query log at {path}")
    try:
        lines = read_text(path, "a query log must be UTF-8 JSON lines").split("\n")
    except NetembedError as exc:
        raise SearchError(str(exc)) from None
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        raise SearchError(f"{path} does not start with a netembed log header ({exc.msg})") from None
    if not isinstance(header, dict) or header.get("netembed_log") != LOG_VERSION:
        got = header.get("netembed_log") if isinstance(header, dict) else header
        raise SearchError(f"{path} has log version {got!r}, this netembed writes {LOG_VERSION}")
    evaluations, torn = [], False
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            torn = True
            continue
        evaluations.append(_evaluation_from_json(row, f"line {number} of {path}", len(evaluations) + 1))
    return header, evaluations, torn or bool(lines[-1].strip())


def _resumable(settings: dict) -> dict:
    """The settings a resumed run must share (the budget may grow)."""
    return {k: v for k, v in settings.items() if k not in ("netembed_log", "budget")}


def _digest(evaluations: list[Evaluation]) -> str:
    """What a checkpoint must have seen: the logged queries' cells and rewards, in order."""
    text = "\n".join(f"{e.cell.hash} {e.reward!r}" for e in evaluations)
    return hashlib.sha256(text.encode()).hexdigest()


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
        log.state_path.unlink(missing_ok=True)  # a deleted run's checkpoint
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
        logged, wanted = _resumable(header), _resumable(settings)
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

    @property
    def state_path(self) -> Path:
        return self.path.with_name(STATE_FILE)

    def save_state(self, state: dict, queries: int) -> None:
        """Checkpoint a method that has been told the first ``queries`` logged labels."""
        import torch

        from netembed._io import atomic_write

        document = {
            "netembed_state": STATE_VERSION,
            "settings": _resumable(self.settings),
            "queries": queries,
            "log": _digest(self.evaluations[:queries]),
            "state": state,
        }
        atomic_write(self.state_path, lambda tmp: torch.save(document, tmp))

    def saved_state(self) -> tuple[dict | None, int, str]:
        """The method's checkpoint and how many logged labels it has seen, when it belongs to
        this log: ``(state, queries, "")``, else ``(None, 0, why not)``."""
        import pickle

        import torch

        if not self.state_path.exists():
            return None, 0, "no checkpoint"
        try:
            document = torch.load(self.state_path, weights_only=True)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
            return None, 0, f"unreadable checkpoint ({type(exc).__name__})"
        if not isinstance(document, dict) or document.get("netembed_state") != STATE_VERSION:
            return None, 0, "checkpoint of another version"
        queries = document.get("queries")
        if (
            document.get("settings") != _resumable(self.settings)
            or not isinstance(queries, int)
            or not 0 < queries <= len(self.evaluations)
            or document.get("log") != _digest(self.evaluations[:queries])
        ):
            return None, 0, "checkpoint of another log"
        return document["state"], queries, ""

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
