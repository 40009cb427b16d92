"""Variants of netembed's accuracy search, against the shipped controller, seed by seed.

    python experiments/search_variants.py [--variants before shipped parents10 pool lookahead30 jumps1000]
                                          [--seeds 30] [--seed-offset 0] [--budget 300] [--jobs 2]
                                          [--with results/compare90/runs] [--out results/search-variants]
    python experiments/search_variants.py --dataset cifar10 [--variants shipped pretrained ...] [...]

Each variant runs on seeds K..K+N-1 with the accounting of ``netembed compare`` (the same
evaluator, objective, budget and seeding); its runs are written in compare's format under
``OUT/runs`` and reused when rerun. The summary is compare's own (``compare.summarise``):
queries to a top-0.01% cell (Kaplan-Meier median, bootstrap 95% interval) and, when a
``--with`` folder holds ``regularized_evolution`` runs for the same seeds, the ratio paired
with it. A ``--with`` folder's ``netembed`` runs come in too (in ``results/compare90``: the
controller before the lookahead, i.e. the ``before`` variant's runs).

- ``before``: the controller before the lookahead (``lookahead=0``): candidates are the new
  neighbours of the 5 best cells and 100 random cells;
- ``shipped``: ``NetembedSearch()`` as shipped: the same, plus the neighbours of the 10
  candidates the prior rule ranks first (``lookahead=10``);
- ``parents10``: ``before`` with the 10 best cells as parents;
- ``pool``: ``before`` with parents taken best first until their unqueried neighbours number at
  least 400 (the 5 best cells' neighbourhoods run dry as a run goes on);
- ``lookahead30``: ``shipped`` with ``lookahead=30``;
- ``jumps1000``: ``before`` with 1,000 random candidates per round instead of 100.

With ``--dataset`` the runs search NAS-Bench-201 (that data set's validation column, compare's
accounting: queries to a top-10 architecture, the test accuracy of the pick), with these
variants, all of ``NetembedSearch(space="nb201")``:

- ``shipped``: as shipped; ``pretrained``: from the label-free ``encoder-nb201``;
- ``batch2``: 2 cells per round instead of 5 (the surrogate refreshed more often);
- ``jumps1000``: 1,000 random candidates per round instead of 100 (7% of the space);
- ``initial5``: 5 random cells before the policy instead of 10;
- ``jumps20000``: 20,000 random draws per round, i.e. about 72% of the space's architectures
  (the surrogate scores them all: the policy sees most of the space every round);
- ``jumps10``: 10 random candidates per round instead of 100 (the neighbourhoods of the best
  cells weigh more);
- ``batch2pretrained`` / ``batch1pretrained``: 2 or 1 cells per round, from ``encoder-nb201``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from netembed._io import as_saved
from netembed.benchmarks.compare import Run, format_summary, format_summary_nb201, summarise, summarise_nb201, table_run
from netembed.search.controller import ControllerConfig, NetembedSearch
from netembed.spaces.nb101.transforms import neighbors

#: The controller as shipped before the lookahead (``lookahead=0``), the base of most variants.
BEFORE = ControllerConfig(lookahead=0)


class Pool(NetembedSearch):
    """Parents best first until their unqueried neighbours number at least ``POOL``."""

    POOL = 400

    def _parents(self):
        ranked = sorted(self.told.values(), key=lambda e: (-e.reward, e.query))
        parents, fresh = [], set()
        for evaluation in ranked:
            parents.append(evaluation)
            fresh.update(n.cell.hash for n in neighbors(evaluation.cell) if n.cell.hash not in self.told)
            if len(parents) >= self.config.parents and len(fresh) >= self.POOL:
                break
        return parents


VARIANTS = {
    "before": lambda rng: NetembedSearch(rng, BEFORE),
    "shipped": lambda rng: NetembedSearch(rng),
    "parents10": lambda rng: NetembedSearch(rng, replace(BEFORE, parents=10)),
    "pool": lambda rng: Pool(rng, BEFORE),
    "lookahead30": lambda rng: NetembedSearch(rng, ControllerConfig(lookahead=30)),
    "jumps1000": lambda rng: NetembedSearch(rng, replace(BEFORE, jumps=1000)),
}

#: The NAS-Bench-201 variants (``--dataset``).
VARIANTS_NB201 = {
    "shipped": lambda rng: NetembedSearch(rng, space="nb201"),
    "pretrained": lambda rng: NetembedSearch(rng, init="encoder-nb201", space="nb201"),
    "batch2": lambda rng: NetembedSearch(rng, ControllerConfig(batch=2), space="nb201"),
    "jumps1000": lambda rng: NetembedSearch(rng, ControllerConfig(jumps=1000), space="nb201"),
    "initial5": lambda rng: NetembedSearch(rng, ControllerConfig(initial=5), space="nb201"),
    "jumps20000": lambda rng: NetembedSearch(rng, ControllerConfig(jumps=20_000), space="nb201"),
    "jumps10": lambda rng: NetembedSearch(rng, ControllerConfig(jumps=10), space="nb201"),
    "batch2pretrained": lambda rng: NetembedSearch(rng, ControllerConfig(batch=2), init="encoder-nb201", space="nb201"),
    "batch1pretrained": lambda rng: NetembedSearch(rng, ControllerConfig(batch=1), init="encoder-nb201", space="nb201"),
}

_BENCH, _DATASET = None, None


def _init(data: str | None, dataset: str | None = None) -> None:
    global _BENCH, _DATASET
    from netembed import spaces

    torch.set_num_threads(1)
    _BENCH, _DATASET = spaces.get("nb101" if dataset is None else "nb201").load_table(data), dataset


def _variants(dataset: str | None) -> dict:
    return VARIANTS if dataset is None else VARIANTS_NB201


def _one(task: tuple[str, int, int, str]) -> str:
    name, seed, budget, path = task
    method = _variants(_DATASET)[name](np.random.default_rng(seed))
    run = table_run(method, name, seed, budget, _BENCH, Path(path), settings=_settings(name, method), dataset=_DATASET)
    return f"{name} seed {seed}: {run.search_seconds:.0f} s"


def _settings(name: str, method: NetembedSearch) -> dict:
    """What a saved run must match to be reused: the variant and its controller's settings."""
    return as_saved({"variant": name, **method.settings()})


def _load(path: Path, budget: int, settings: dict | None = None) -> Run | None:
    """The whole run at ``path``, if of ``settings`` (None: any, for another script's runs)."""
    if not path.exists():
        return None
    run = Run(**json.loads(path.read_text()))
    whole = run.budget == budget and len(run.accuracy) == budget
    return run if whole and (settings is None or run.settings == settings) else None


def _first(path: Path, budget: int) -> Run | None:
    """Another script's run at ``path`` cut to its first ``budget`` queries (a shorter one: None)."""
    if not path.exists():
        return None
    run = Run(**json.loads(path.read_text()))
    if len(run.accuracy) < budget:
        return None
    cut = {name: getattr(run, name)[:budget] for name in ("accuracy", "params", "test") if getattr(run, name)}
    return replace(run, budget=budget, **cut)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", help="search NAS-Bench-201 on this data set's validation column")
    parser.add_argument("--variants", nargs="+", help=f"default: all; {list(VARIANTS)} or {list(VARIANTS_NB201)}")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--seed-offset", type=int, default=0, help="run seeds K..K+N-1")
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--with", dest="with_", nargs="*", default=[], help="compare run folders to summarise beside")
    parser.add_argument("--out", default="results/search-variants")
    args = parser.parse_args()
    from multiprocessing import get_context

    from netembed import spaces
    from netembed.errors import DataError

    variants = _variants(args.dataset)
    args.variants = args.variants or list(variants)
    unknown = sorted(set(args.variants) - set(variants))
    if unknown:
        parser.error(f"--variants must be among {list(variants)}, got {unknown}")
    try:
        bench = spaces.get("nb101" if args.dataset is None else "nb201").load_table()
    except DataError as error:  # a fresh clone without the table: nothing to measure against
        print(f"search_variants skipped: {error}")
        return
    seeds = range(args.seed_offset, args.seed_offset + args.seeds)
    runs_dir = Path(args.out) / "runs"
    settings = {name: _settings(name, variants[name](np.random.default_rng(0))) for name in args.variants}
    todo = [
        (name, seed, args.budget, str(runs_dir / f"{name}-seed{seed}.json"))
        for seed in seeds
        for name in args.variants
        if _load(runs_dir / f"{name}-seed{seed}.json", args.budget, settings[name]) is None
    ]
    if todo:
        with get_context("spawn").Pool(args.jobs, initializer=_init, initargs=(None, args.dataset)) as pool:
            for line in pool.imap_unordered(_one, todo):
                print(line, flush=True)
    runs = []
    for folder in args.with_:
        for method in ("regularized_evolution", "netembed"):
            found = [_first(Path(folder) / f"{method}-seed{seed}.json", args.budget) for seed in seeds]
            runs += [run for run in found if run is not None]
    runs += [
        _load(runs_dir / f"{name}-seed{seed}.json", args.budget, settings[name])
        for name in args.variants
        for seed in seeds
    ]
    if args.dataset is None:
        print(format_summary(summarise(runs, bench)))
    else:
        print(format_summary_nb201(summarise_nb201(runs, bench, args.dataset), bench, args.dataset))


if __name__ == "__main__":
    main()
