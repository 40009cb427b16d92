"""How long a killed netembed search takes to resume: from the controller's checkpoint against
replaying the whole log, side by side, after 100 and 300 queries on the table.

    python experiments/bench_resume.py [--queries 100 300] [--seed 0] [--repeats 3] [--format json]

For each size it runs one search to that many queries, then resumes it to the same budget
(restore or replay, then the report; no new query) from the checkpoint (best of ``--repeats``)
and with the checkpoint removed (the whole log replayed, once: it costs the run's compute), and
checks that a resume one round further asks what an uninterrupted run asks.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
import time
from pathlib import Path

import netembed
from netembed.runs.querylog import STATE_FILE
from netembed.spaces.nb101.table import load_table


def _timed(spec, out: Path, resume: bool) -> tuple[float, dict]:
    started = time.perf_counter()
    report = netembed.run(spec, out, resume=resume)
    return time.perf_counter() - started, report.payload


def _asked(out: Path) -> list[tuple[str, float]]:
    rows = (out / "queries.jsonl").read_text().splitlines()[1:]
    return [(q["hash"], q["reward"]) for q in map(json.loads, rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, nargs="+", default=[100, 300])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    if load_table() is None:  # a fresh clone without the table: nothing to measure against
        print("bench_resume skipped: no NAS-Bench-101 table (set NETEMBED_DATA)")
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for queries in args.queries:
            spec = netembed.SearchSpec(evaluator="table", budget=netembed.Budget(queries=queries), seed=args.seed)
            run_seconds, _ = _timed(spec, Path(tmp) / f"run{queries}", resume=False)
            restored = []
            for repeat in range(args.repeats):
                out = Path(tmp) / f"copy{queries}-{repeat}"
                shutil.copytree(Path(tmp) / f"run{queries}", out)
                seconds, payload = _timed(spec, out, resume=True)
                restored.append(seconds)
            replay_dir = Path(tmp) / f"replay{queries}"
            shutil.copytree(Path(tmp) / f"run{queries}", replay_dir)
            (replay_dir / STATE_FILE).unlink()
            replay_seconds, replayed = _timed(spec, replay_dir, resume=True)
            # one round further from the checkpoint, against an uninterrupted run of that length
            longer = dataclasses.replace(spec, budget=netembed.Budget(queries=queries + 5))
            netembed.run(longer, out, resume=True)
            netembed.run(longer, Path(tmp) / f"whole{queries}")
            rows.append(
                {
                    "queries": queries,
                    "run_seconds": run_seconds,
                    "resume_seconds_checkpoint": min(restored),
                    "resume_seconds_replay": replay_seconds,
                    "restored": payload["resumed"]["restored"],
                    "replayed": replayed["resumed"]["replayed"],
                    "same_queries_as_uninterrupted": _asked(out) == _asked(Path(tmp) / f"whole{queries}"),
                }
            )
            if args.format == "text":
                row = rows[-1]
                print(
                    f"after {queries} queries (the run took {run_seconds:.1f} s): resume {row['resume_seconds_checkpoint']:.1f} s "
                    f"from the checkpoint (best of {args.repeats}; {row['restored']} restored), "
                    f"{replay_seconds:.1f} s replaying the log; same queries as an uninterrupted run: "
                    f"{row['same_queries_as_uninterrupted']}",
                    flush=True,
                )
    if args.format == "json":
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
