"""Variants of netembed's front search that were tried and not shipped, against the shipped rule.

    python experiments/pareto_variants.py [--variants shipped more_parents alternate wide accuracy prior forest ...]
                                          [--seeds 8] [--seed-offset 0] [--budget 300] [--out results/pareto-variants]

Each variant runs on seeds K..K+N-1 of the table (``--seed-offset``, ``--seeds``; the same
accounting as ``netembed compare --objective pareto``) and the median hypervolume ratio of the
queried cells is printed at 50, 100, 150 and 300 queries. Finished runs are kept under ``--out`` and reused.

Every variant, ``shipped`` included, is the controller as it was when these were measured:
without the lookahead (``ControllerConfig(lookahead=0)``); the front search with it, the
default since, is not measured here.

- ``shipped``: ``NetembedSearch(objective="pareto")`` as shipped then;
- ``more_parents``: parents are the front plus the 5 most accurate cells;
- ``alternate``: every other round maximises accuracy alone (the reward rule), with its own baseline;
- ``wide``: 1,000 random candidates per round instead of 100;
- ``accuracy``: the accuracy-only search (``objective="reward"``, the reward being accuracy);
- ``prior``: the surrogate's members start from the label-free ``prior-nb101`` (log parameter counts;
  measured with the previous prior, whose heads saw the embedding alone: commit 73cb2c4);
- ``phased``: the accuracy-only search for the first 120 queries, then the shipped rule;
- ``normal``: the surrogate learns normal scores of the accuracies' ranks (``targets="normal"``);
- ``forest``: the surrogate is calibrated and blends a random forest on the structure features,
  as ``AccuracyPredictor`` did before the Gaussian process joined it (weight 0.6 at 100 labels
  and fewer, 0.46 at 300);
- ``feature_view``: the same with ``AccuracyPredictor``'s default view and weight (the forest
  and the Gaussian process; 0.7 at 100 labels, 0.53 at 300);
- ``readout``: the surrogate's heads see the output vertex's latent beside the embedding
  (``readout="mean+output"``, the predictors' default).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from netembed._io import atomic_write
from netembed.benchmarks.compare import median_hypervolume_ratio, true_front
from netembed.errors import DataError
from netembed.models.predictors import PredictorConfig
from netembed.search import Budget, run_search
from netembed.search.controller import ControllerConfig, NetembedSearch, SurrogateSettings
from netembed.search.evaluators import TableEvaluator
from netembed.search.objective import Objective, pareto_front
from netembed.spaces.nb101.table import Benchmark


class MoreParents(NetembedSearch):
    def _parents(self):
        told = list(self.told.values())
        front = pareto_front(np.array([e.accuracy for e in told]), np.array([float(e.params) for e in told]))
        parents = {told[i].cell.hash: told[i] for i in front}
        for e in sorted(told, key=lambda e: (-e.accuracy, e.query))[:5]:
            parents.setdefault(e.cell.hash, e)
        return list(parents.values())


class Alternate(NetembedSearch):
    def _plan(self):
        if len(self.told) >= self.config.initial:
            self._rounds = getattr(self, "_rounds", 0) + 1
            baselines = self.__dict__.setdefault("_baselines", {})
            baselines[self.objective.kind] = self.baseline
            self.objective = Objective("reward" if self._rounds % 2 == 0 else "pareto")
            self.baseline = baselines.get(self.objective.kind)
        return super()._plan()


class Phased(NetembedSearch):
    """Accuracy alone for the first ``switch`` queries (to find a top cell early), then the front."""

    switch = 120

    def _plan(self):
        if not self.pareto and len(self.told) >= self.switch:
            self.objective, self.baseline = Objective("pareto"), None
        return super()._plan()


#: The controller these variants were measured with: as shipped before the lookahead.
BEFORE = ControllerConfig(lookahead=0)


def surrogate(**settings) -> ControllerConfig:
    """The controller with other settings for its online surrogate."""
    return replace(BEFORE, surrogate=SurrogateSettings(**settings))


VARIANTS = {
    "shipped": lambda rng: NetembedSearch(rng, BEFORE, objective="pareto"),
    "more_parents": lambda rng: MoreParents(rng, BEFORE, objective="pareto"),
    "alternate": lambda rng: Alternate(rng, BEFORE, objective="pareto"),
    "wide": lambda rng: NetembedSearch(rng, replace(BEFORE, jumps=1000), objective="pareto"),
    "accuracy": lambda rng: NetembedSearch(rng, BEFORE, objective="reward"),
    "prior": lambda rng: NetembedSearch(rng, BEFORE, objective="pareto", prior="prior-nb101"),
    "forest": lambda rng: NetembedSearch(rng, surrogate(forest=0.6, view="forest"), objective="pareto"),
    "feature_view": lambda rng: NetembedSearch(
        rng, surrogate(forest=PredictorConfig().forest, view=PredictorConfig().view), objective="pareto"
    ),
    "phased": lambda rng: Phased(rng, BEFORE, objective="reward"),
    "normal": lambda rng: NetembedSearch(rng, surrogate(targets="normal"), objective="pareto"),
    "readout": lambda rng: NetembedSearch(rng, surrogate(readout="mean+output"), objective="pareto"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--seed-offset", type=int, default=0, help="run seeds K..K+N-1")
    parser.add_argument("--budget", type=int, default=300)
    parser.add_argument("--out", default="results/pareto-variants")
    args = parser.parse_args()
    try:
        bench = Benchmark.load()
    except DataError as error:  # a fresh clone without the table: nothing to measure against
        print(f"pareto_variants skipped: {error}")
        return
    torch.set_num_threads(1)
    front = true_front(bench)
    checkpoints = [c for c in (50, 100, 150, 300) if c <= args.budget]
    print(f"{'variant':<14}" + "".join(f"{'HV ratio @' + str(c):>16}" for c in checkpoints))
    for name in args.variants:
        runs = []
        for seed in range(args.seed_offset, args.seed_offset + args.seeds):
            path = Path(args.out) / f"{name}-seed{seed}-budget{args.budget}.json"
            if not path.exists():
                result = run_search(
                    VARIANTS[name](np.random.default_rng(seed)),
                    TableEvaluator(bench),
                    lambda accuracy, **_: accuracy,
                    Budget(queries=args.budget),
                    seed=seed,
                )
                text = json.dumps(
                    {
                        "accuracy": [e.accuracy for e in result.evaluations],
                        "params": [e.params for e in result.evaluations],
                    }
                )
                atomic_write(path, lambda tmp, text=text: Path(tmp).write_text(text))
            runs.append(SimpleNamespace(**json.loads(path.read_text())))
        ratios = [median_hypervolume_ratio(runs, front, c) for c in checkpoints]
        print(f"{name:<14}" + "".join(f"{r:>16.4f}" for r in ratios), flush=True)


if __name__ == "__main__":
    main()
