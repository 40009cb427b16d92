"""The query log of a one-process search: JSON lines that make a killed run resumable.

The log is a header with the run's settings, then one line per query, each flushed to disk as
soon as the evaluator answers. A killed run loses at most the query in flight; ``resume``
replays the logged queries into a fresh method (same name, seed and settings), which re-asks
the same cells and is told the logged answers without calling the evaluator, and then
continues. A line that is not JSON (a crash mid-write) is left out, with a warning, when no query
is missing around it; a damaged line where a query should be is named by its number.

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

from netembed.errors import warn
from netembed.search import Evaluation, SearchError, evaluation_from_record

__all__ = ["LOG_VERSION", "STATE_FILE", "QueryLog", "read_log"]

LOG_VERSION = 1
STATE_FILE = "method_state.pt"  # the method's checkpoint, beside the log
STATE_VERSION = 1


def _space(settings: dict):
    """The search space a log's settings name (logs from before spaces are NAS-Bench-101's)."""
    from netembed import spaces

    return spaces.get(settings.get("space", spaces.DEFAULT))


def _evaluation_json(e: Evaluation, space) -> dict:
    return {
        "query": e.query,
        "hash": e.cell.hash,
        **space.to_json(e.cell),
        **e.record(),
        "reward": e.reward,
    }


def _evaluation_from_json(row, where: str, query: int, space) -> Evaluation:
    """The evaluation on one line of the log, which must be query number ``query`` in ``space``."""
    from netembed.errors import NetembedError

    keys = ("query", "hash", *space.json_keys, "accuracy", "seconds", "params", "reward")
    if not isinstance(row, dict) or any(key not in row for key in keys):
        raise SearchError(f"{where} must be a logged query with {', '.join(keys)}, got {str(row)[:80]}")
    if row["query"] != query:
        raise SearchError(f"{where} must be query {query}, got query {row['query']!r}")
    try:
        source = f"query {query} of the log"
        return evaluation_from_record(row, row["reward"], query, row["hash"], source, "the log", space)
    except (NetembedError, TypeError, ValueError) as exc:
        raise SearchError(f"{where} is not a valid logged query: {exc}") from None


def read_log(path: str | os.PathLike) -> tuple[dict, list[Evaluation], list[str], bool]:
    """A query log's header, its evaluations, the lines left out (each ``"line N (why)"``), and
    whether it must be rewritten before appending.

    A line that is not JSON (a write cut short when a run died, or an edit) is left out when the
    rows around it say no query is missing: rows must number their queries 1, 2, 3, ... A row
    numbered past a query that is missing blames the damaged line before it, by its own number;
    a row that is JSON but not a whole query is named by its own number too. A whole last row
    without its newline is kept (the rewrite adds it)."""
    from netembed._io import parse_json, read_text
    from netembed.errors import NetembedError

    path = Path(path)
    if not path.is_file():
        raise SearchError(f"no query log at {path}")
    try:
        lines = read_text(path, "a query log must be UTF-8 JSON lines").split("\n")
        header = parse_json(lines[0], f"line 1 of {path}")
    except json.JSONDecodeError as exc:
        raise SearchError(f"{path} does not start with a netembed log header ({exc.msg})") from None
    except NetembedError as exc:
        raise SearchError(str(exc)) from None
    if not isinstance(header, dict) or header.get("netembed_log") != LOG_VERSION:
        got = header.get("netembed_log") if isinstance(header, dict) else header
        raise SearchError(f"{path} has log version {got!r}, this netembed writes {LOG_VERSION}")
    evaluations, dropped, damaged = [], [], None  # damaged: the first line left out since the last row
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        where = f"line {number} of {path}"
        try:
            row = parse_json(line, where)
        except json.JSONDecodeError as exc:
            why = f"not JSON: {exc.msg} at column {exc.colno}"
            dropped.append(f"line {number} ({why})")
            damaged = damaged or (number, why)
            continue
        except NetembedError as exc:
            raise SearchError(str(exc)) from None
        query = len(evaluations) + 1
        shown = row.get("query") if isinstance(row, dict) else None
        if damaged is not None and type(shown) is int and shown > query:  # the damaged line held query `query`
            raise SearchError(
                f"line {damaged[0]} of {path} is damaged ({damaged[1]}), and with it query {query}: the next row, "
                f"line {number}, is query {shown}"
            )
        damaged = None
        evaluations.append(_evaluation_from_json(row, where, query, _space(header)))
    return header, evaluations, dropped, bool(dropped) or bool(lines[-1].strip())


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
            header, evaluations, dropped, rewrite = read_log(path)
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
        if rewrite:  # without the lines left out, so that appends start on a fresh line
            if dropped:
                warn(
                    f"rewriting {path} without {', '.join(dropped)}: a write cut short, or an edit; the queries "
                    "around them are numbered without a gap"
                )
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
        try:
            atomic_write(self.state_path, lambda tmp: torch.save(document, tmp))
        except (OSError, RuntimeError) as exc:  # a full disk: torch's writer raises RuntimeError
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else (str(exc).splitlines() or ["?"])[0]
            raise SearchError(
                f"could not save the method's checkpoint {self.state_path} ({why}); nothing is lost: every "
                f"query is logged in {self.path}: free some disk space and rerun the same command with --resume"
            ) from None

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
        self._write_line(_evaluation_json(evaluation, _space(self.settings)))

    def _write_line(self, row: dict, mode: str = "a") -> None:
        with open(self.path, mode) as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def _rewrite(self, header: dict) -> None:
        from netembed._io import atomic_write

        space = _space(self.settings)
        text = "".join(json.dumps(r) + "\n" for r in [header, *(_evaluation_json(e, space) for e in self.evaluations)])
        atomic_write(self.path, lambda tmp: Path(tmp).write_text(text))
