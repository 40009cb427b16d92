"""The netembed search method: a policy over transformations, conditioned on cell embeddings.

Each round the controller takes the best cells queried so far as parents, lists every
transformation of them (``transforms.neighbors``: widen / deepen / rewire), a few uniformly
random cells (a "jump" action, so it can leave a basin) and the neighbours of the candidates the
surrogate ranks first (a lookahead: two moves from a parent, for no query), and scores each candidate
with a small policy network. Its inputs per candidate: the child's embedding and the change
from the parent's (a frozen cell encoder: ``encoder-nb101`` with ``init``, else a seeded
random one), the kind of move, the parent's reward, and the mean and spread of an online
surrogate: an ``AccuracyPredictor`` ensemble trained only on this run's queries and refreshed
every round. The policy starts as an upper-confidence rule on the surrogate (its two prior
weights) and learns the rest by REINFORCE over each round's sampled batch (Plackett-Luce
log-likelihood of the batch drawn without replacement, a moving-average baseline and an
entropy bonus, as EAS does).

With a "pareto" ``objective`` the parents are the run's front of (accuracy, parameters), the
surrogate learns accuracy, and the policy's prior scores each candidate by the hypervolume it
would add to that front (parameter counts are exact and cost no query).

Its torch work runs on one thread (``netembed.threads.fixed``), whatever the process's count, so
that a seed asks the same cells on any machine at any load.

Mode: co-trained during the search from a label-free start; nothing in it has seen a label
that the run did not pay for, so its query counts are honest (docs/design.md). A warm start
(``prior`` trained on labels, ``prior_first``) is the exception that names its source.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from netembed import spaces
from netembed._fields import Instance, Int, Number, OneOf, check_fields
from netembed.models.encoder import CellEncoder, EncoderConfig
from netembed.models.predictors import PREDICTOR_RULES, READOUTS, AccuracyPredictor, PredictorConfig
from netembed.search import Evaluation, Method, SearchError
from netembed.search.objective import Objective, as_objective
from netembed.threads import fixed

__all__ = ["ControllerConfig", "NetembedSearch", "Policy", "SurrogateSettings", "candidate_kinds"]


def candidate_kinds(space: spaces.Space) -> tuple[str, ...]:
    """Candidate kinds: every move kind of the space, plus "jump" (a uniformly random architecture)."""
    return (*space.move_kinds, "jump")


@dataclass(frozen=True)
class SurrogateSettings:
    """What the controller's online surrogate learns and sees (``PredictorConfig.for_search``):
    ``targets``, ``readout`` (None: the embedding alone, or a prior's readout), and the weight and
    kind of the structure-feature view (``forest``, ``view``)."""

    targets: str = "raw"
    readout: str | None = None
    forest: float = 0.0
    view: str = "forest+gp"

    def __post_init__(self) -> None:
        rules = {name: PREDICTOR_RULES[name] for name in ("targets", "forest", "view")}
        check_fields(self, {**rules, "readout": OneOf((None, *READOUTS))}, SearchError)


@dataclass(frozen=True)
class ControllerConfig:
    """Settings of the netembed search (defaults measured on the table, see the README)."""

    initial: int = 10  # uniformly random cells before the policy takes over
    batch: int = 5  # cells proposed per round (the surrogate is refreshed between rounds)
    parents: int = 5  # best cells whose neighbours are candidates
    jumps: int = 100  # uniformly random candidates per round
    lookahead: int = 10  # the candidates ranked first by the prior rule whose own neighbours join them
    members: int = 3  # surrogate ensemble size
    fit_steps: int = 300  # surrogate training steps at the first round...
    refresh_steps: int = 100  # ...and per later round (continuing from the last weights)
    hidden: int = 32  # policy MLP width
    lr: float = 0.01  # policy learning rate
    entropy: float = 0.01  # entropy bonus
    baseline_decay: float = 0.8  # moving-average reward baseline
    mean_weight: float = 4.0  # prior: logit weight of the surrogate's standardised mean...
    std_weight: float = 2.0  # ...and of its standardised spread (optimism)
    surrogate: SurrogateSettings = SurrogateSettings()

    def __post_init__(self) -> None:
        count, number = Int(1, 10**6), Number(0, 10**6)
        check_fields(
            self,
            {
                "initial": count,
                "batch": count,
                "parents": count,
                "jumps": Int(0, 10**6),
                "lookahead": Int(0, 10**6),
                "members": PREDICTOR_RULES["members"],
                "fit_steps": PREDICTOR_RULES["steps"],
                "refresh_steps": Int(0, 10**7),
                "hidden": Int(1, 4096),
                "lr": number,
                "entropy": number,
                "baseline_decay": Number(0, 1, open_high=True),
                "mean_weight": number,
                "std_weight": number,
                "surrogate": Instance(SurrogateSettings),
            },
            SearchError,
        )


class Policy(nn.Module):
    """Logits of candidate transformations.

    ``logit = prior . (mean_z, std_z) + mlp(features)``; the MLP's last layer starts at zero,
    so an untrained policy is the surrogate's upper-confidence rule.

    Shapes: ``surrogate`` (N, 2), ``features`` (N, F) -> (N,).
    """

    def __init__(self, features: int, config: ControllerConfig):
        super().__init__()
        self.prior = nn.Parameter(torch.tensor([config.mean_weight, config.std_weight], dtype=torch.float32))
        self.mlp = nn.Sequential(nn.Linear(features, config.hidden), nn.Tanh(), nn.Linear(config.hidden, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, surrogate: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return surrogate @ self.prior + self.mlp(features).squeeze(-1)


def plackett_luce_log_prob(logits: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Log-probability of drawing ``order`` one by one without replacement from softmax(logits).

    Returns one term per draw (shape (len(order),)); their sum is the whole batch's log-probability.
    """
    terms, taken = [], []
    for index in order.tolist():
        remaining = torch.ones_like(logits, dtype=torch.bool)
        remaining[taken] = False
        terms.append(logits[index] - torch.logsumexp(logits[remaining], dim=0))
        taken.append(index)
    return torch.stack(terms)


class NetembedSearch(Method):
    """The project's own search method (see the module docstring). ``init`` names a label-free
    pretrained encoder (e.g. ``"encoder-nb101"``) for the policy's features and the surrogate;
    ``prior`` a predictor whole surrogate members start from: label-free (``"prior-nb101"``), or,
    on a task of one's own, one that has seen labels (``"surrogate-nb101/accuracy"``). With
    ``prior_first`` the initial cells are not random but those the prior ranks best, best first (a
    warm start that trusts its source; ``PRIOR_POOL``). ``space``: the search space
    (``netembed.spaces``; NAS-Bench-101 by default); ``init`` and ``prior`` must be models of it."""

    #: A prior ranks the whole space where it lists at most this many architectures, else this
    #: many random ones.
    PRIOR_POOL = 100_000

    @fixed()
    def __init__(
        self,
        rng: np.random.Generator,
        config: ControllerConfig = ControllerConfig(),
        init: str | None = None,
        objective: Objective | str = "reward",
        prior: str | None = None,
        space: spaces.Space | str | None = None,
        prior_first: bool = False,
    ):
        super().__init__(rng)
        objective = as_objective(objective)
        if prior_first and prior is None:
            raise SearchError("prior_first ranks the initial cells by a prior: name one (prior=...)")
        self.config, self.init, self.objective, self.prior = config, init, objective, prior
        self.prior_first, self._ranked = prior_first, None
        self.space = spaces.get(space)
        self.kinds = candidate_kinds(self.space)
        self.name = (
            "netembed"
            + ("+pretrained" if init else "")
            + ("+warm" if prior_first else "+prior" if prior else "")
            + ("+pareto" if self.pareto else "")
        )
        self._params: dict[str, int] = {}  # parameter counts of candidates (pareto objective)
        self._round_front: dict = {}  # the front a pareto round was planned against
        torch_seed = self._torch_seed = int(rng.integers(2**31))
        torch.manual_seed(torch_seed)
        self.encoder = CellEncoder.from_pretrained(init) if init else CellEncoder(EncoderConfig(space=self.space.name))
        self.encoder.eval()
        encoder = self.encoder.config
        if encoder.space != self.space.name:
            raise spaces.SpaceError(
                f"init must be an encoder of space {self.space.name}, got one of {encoder.space}: {init}"
            )
        surrogate = asdict(config.surrogate)
        if prior and surrogate["readout"] is None:  # the prior's readout, to start from all of its members
            surrogate["readout"] = AccuracyPredictor.shape_of(prior).get("readout")
        self.predictor = AccuracyPredictor(
            PredictorConfig.for_search(encoder, config.members, torch_seed % 100_000, prior=bool(prior), **surrogate)
        )
        self.policy = Policy(2 * encoder.embedding_dim + len(self.kinds) + 1, config)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.told: dict[str, Evaluation] = {}
        self.queue: list = []
        self.round: dict | None = None  # the last round's candidates, sampled order and rewards
        self.baseline: float | None = None
        self.fitted = False
        self._embeddings: dict[str, torch.Tensor] = {}

    def settings(self) -> dict:
        return {
            "method": self.name,
            "config": asdict(self.config),
            "init": self.init,
            "prior": self.prior,
            "objective": asdict(self.objective),
            "space": self.space.name,
        } | ({"prior_first": True} if self.prior_first else {})  # only then: earlier logs still resume

    @property
    def pareto(self) -> bool:
        """Whether this search grows a front (else it maximises the reward)."""
        return self.objective.kind == "pareto"

    # -- ask / tell --------------------------------------------------------------------------

    @fixed()  # one thread: sums split over threads differ in their last bits, and the choices with them
    def ask(self):
        if not self.queue:
            self.queue = self._plan()
        return self.queue.pop(0)

    @fixed()
    def tell(self, evaluation: Evaluation) -> None:
        self.told.setdefault(evaluation.cell.hash, evaluation)
        if self.round is not None and evaluation.cell.hash in self.round["pending"]:
            self.round["pending"].remove(evaluation.cell.hash)
            self.round["rewards"][evaluation.cell.hash] = (
                evaluation.reward
                if not self.pareto
                else float(
                    self.objective.gain(
                        self.round["front"], np.array([evaluation.accuracy]), np.array([float(evaluation.params)])
                    )[0]
                )
                / self.round["gain_scale"]
            )
            if not self.round["pending"]:
                self._learn()

    def observe(self, evaluation: Evaluation) -> None:
        # another worker's label: it trains the surrogate and may become a parent like our own
        self.tell(evaluation)

    # -- checkpoints -------------------------------------------------------------------------

    def state(self) -> dict | None:
        """Everything the next rounds depend on, between rounds (a round's batch half told is
        not a checkpoint: the log replays it). The encoder is rebuilt by the constructor."""
        if self.queue or self.round is not None:
            return None
        hashes = list(self._embeddings)
        return {
            "told": list(self.told),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "predictor": self.predictor.state_dict(),
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scalars": {
                "baseline": self.baseline,
                "fitted": self.fitted,
                "reward_mean": getattr(self, "reward_mean", None),
                "reward_std": getattr(self, "reward_std", None),
            },
            "embedded": hashes,
            "embeddings": torch.stack([self._embeddings[h] for h in hashes]) if hashes else torch.zeros(0),
        }

    def restore(self, state: dict, told: list[Evaluation]) -> None:
        if state["told"] != [e.cell.hash for e in told]:
            raise SearchError(f"{self.name}: the checkpoint was taken after other queries than the log's first")
        self.told = {e.cell.hash: e for e in told}
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.predictor.load_state_dict(state["predictor"])
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        for name, value in state["scalars"].items():
            if value is not None:
                setattr(self, name, value)
        self._embeddings = dict(zip(state["embedded"], state["embeddings"]))

    # -- a round -----------------------------------------------------------------------------

    def _plan(self) -> list:
        config = self.config
        if len(self.told) < config.initial:  # one at a time, so other workers' labels end it too
            return [self._prior_pick() if self.prior_first else self.space.random(self.rng)]
        self._refresh_surrogate()
        candidates, parents, kinds = self._candidates()
        predicted = self.predictor.predict(candidates)
        if config.lookahead:
            predicted = self._look_ahead(candidates, parents, kinds, predicted)
        surrogate, features = self._features(candidates, parents, kinds, predicted)
        with torch.no_grad():
            logits = self.policy(surrogate, features)
        # Gumbel-top-k draws a batch without replacement from softmax(logits), from our own rng.
        gumbel = torch.from_numpy(self.rng.gumbel(size=len(candidates))).float()
        order = torch.argsort(logits + gumbel, descending=True)[: config.batch]
        chosen = [candidates[i] for i in order.tolist()]
        self.round = {
            "surrogate": surrogate,
            "features": features,
            "order": order,
            **self._round_front,
            "hashes": [c.hash for c in chosen],
            "pending": {c.hash for c in chosen},
            "rewards": {},
        }
        return chosen

    def _prior_pick(self):
        """The next best cell by the prior's predicted accuracy that is not yet queried, of the whole
        space (``PRIOR_POOL`` at most) or of that many random cells drawn from a generator of their
        own (the run's own draws stay as they were)."""
        if self._ranked is None:
            if self.space.size is not None and self.space.size <= self.PRIOR_POOL:
                pool = self.space.enumerate()
            else:
                draws = np.random.default_rng(self._torch_seed)
                pool = list({c.hash: c for c in (self.space.random(draws) for _ in range(self.PRIOR_POOL))}.values())
            mean, _ = AccuracyPredictor.from_pretrained(self.prior).predict(pool)
            self._ranked = iter([pool[i] for i in np.argsort(-mean, kind="stable")])
        return next((cell for cell in self._ranked if cell.hash not in self.told), None) or self.space.random(self.rng)

    def _refresh_surrogate(self) -> None:
        cells = [e.cell for e in self.told.values()]
        rewards = np.array([self.objective.score(e) for e in self.told.values()])
        calibrate = bool(self.predictor.config.forest)  # raw scores suffice, but a forest blends in label units
        if not self.fitted:
            self.predictor.fit(
                cells, rewards, init=self.prior or self.init, steps=self.config.fit_steps, calibrate=calibrate
            )
            self.fitted = True
        elif self.config.refresh_steps:
            self.predictor.fit(cells, rewards, steps=self.config.refresh_steps, warm=True, calibrate=calibrate)
        self.reward_mean, self.reward_std = float(rewards.mean()), float(max(rewards.std(), 1e-6))

    def _candidates(self) -> tuple[list, list[Evaluation | None], list[str]]:
        seen, candidates, parents, kinds = set(self.told), [], [], []

        def add(cell, parent: Evaluation | None, kind: str) -> None:
            if cell.hash not in seen:
                seen.add(cell.hash)
                candidates.append(cell)
                parents.append(parent)
                kinds.append(kind)

        for parent in self._parents():
            for action, child in self.space.neighbors(parent.cell):
                add(child, parent, action.kind)
        for _ in range(self.config.jumps):
            add(self.space.random(self.rng), None, "jump")
        if len(candidates) < self.config.batch:  # a tiny, exhausted neighbourhood: jump until full
            for _ in range(100 * self.config.batch):
                add(self.space.random(self.rng), None, "jump")
                if len(candidates) >= self.config.batch:
                    break
        return candidates, parents, kinds

    def _look_ahead(
        self,
        candidates: list,
        parents: list[Evaluation | None],
        kinds: list[str],
        predicted: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Add the neighbours of the ``lookahead`` candidates that the policy's prior rule (the
        surrogate's upper confidence) ranks first: cells two moves from a parent, seen only through
        the surrogate. The best cells' own neighbourhoods run dry as a run goes on, and the one
        move to a top cell may start from a neighbour rather than a parent: this reaches a move
        further without a query (experiments/README.md, search_variants.py). They keep the
        queried parent they descend from. ``predicted``: the surrogate's (mean, std) of the
        candidates as given, if already computed; returns it for every candidate, only the added
        ones predicted here."""
        mean, std = predicted if predicted is not None else self.predictor.predict(candidates)
        prior = self._surrogate_columns(candidates, mean, std) @ np.array(
            [self.config.mean_weight, self.config.std_weight]
        )
        first = len(candidates)
        seen = set(self.told) | {c.hash for c in candidates}
        for i in np.argsort(-prior, kind="stable")[: self.config.lookahead].tolist():
            for action, child in self.space.neighbors(candidates[i]):
                if child.hash not in seen:
                    seen.add(child.hash)
                    candidates.append(child)
                    parents.append(parents[i])
                    kinds.append(action.kind if parents[i] is not None else "jump")
        if len(candidates) == first:
            return mean, std
        added_mean, added_std = self.predictor.predict(candidates[first:])
        return np.concatenate([mean, added_mean]), np.concatenate([std, added_std])

    def _surrogate_columns(self, candidates: list, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """The policy's two surrogate inputs per candidate (N, 2) from the surrogate's ``mean`` and
        ``std``: the standardised mean and spread of the reward, or for a front the hypervolume
        added at the mean and optimistically."""
        if not self.pareto:
            surrogate = np.stack([(mean - self.reward_mean) / self.reward_std, std / self.reward_std], 1)
            self._round_front = {}
        else:  # hypervolume each candidate would add if it scored its mean, and its optimistic mean + std
            front = self._front()
            params = np.array([self._param_count(c) for c in candidates], dtype=float)
            at_mean, optimistic = (
                self.objective.gain(front, mean, params),
                self.objective.gain(front, mean + std, params),
            )
            scale = max(float(optimistic.std()), 1e-12)
            surrogate = np.stack([at_mean / scale, (optimistic - at_mean) / scale], 1)
            self._round_front = {"front": front, "gain_scale": scale}
        return surrogate

    def _features(self, candidates, parents, kinds, predicted) -> tuple[torch.Tensor, torch.Tensor]:
        surrogate = torch.tensor(self._surrogate_columns(candidates, *predicted), dtype=torch.float32)
        child = self._embed(candidates)
        parent_cells = [p.cell if p is not None else c for p, c in zip(parents, candidates)]
        parent = self._embed(parent_cells)
        kind = torch.nn.functional.one_hot(torch.tensor([self.kinds.index(k) for k in kinds]), len(self.kinds)).float()
        parent_reward = torch.tensor(
            [[0.0 if p is None else (self.objective.score(p) - self.reward_mean) / self.reward_std] for p in parents],
            dtype=torch.float32,
        )
        return surrogate, torch.cat([child, child - parent, kind, parent_reward], dim=1)

    # -- the objective ------------------------------------------------------------------------

    def _parents(self) -> list[Evaluation]:
        return self.objective.parents(list(self.told.values()), self.config.parents)

    def _front(self) -> tuple[np.ndarray, np.ndarray]:
        parents = self._parents()
        return np.array([e.accuracy for e in parents]), np.array([float(e.params) for e in parents])

    def _param_count(self, cell) -> int:
        if cell.hash not in self._params:
            self._params[cell.hash] = self.space.count_params(cell)
        return self._params[cell.hash]

    def _embed(self, cells: list) -> torch.Tensor:
        missing = [c for c in dict.fromkeys(c for c in cells if c.hash not in self._embeddings)]
        if missing:
            with torch.no_grad():
                for cell, vector in zip(missing, self.encoder.embed(missing)):
                    self._embeddings[cell.hash] = vector
        return torch.stack([self._embeddings[c.hash] for c in cells])

    def _learn(self) -> None:
        """REINFORCE on the round's batch: advantage-weighted Plackett-Luce terms plus entropy."""
        round_, config = self.round, self.config
        rewards = np.array([round_["rewards"][h] for h in round_["hashes"]])
        scale = 1.0 if self.pareto else self.reward_std  # pareto gains are already scaled
        if self.baseline is None:
            self.baseline = 0.0 if self.pareto else self.reward_mean
        advantage = torch.tensor((rewards - self.baseline) / scale, dtype=torch.float32)
        logits = self.policy(round_["surrogate"], round_["features"])
        log_prob = plackett_luce_log_prob(logits, round_["order"])
        probabilities = torch.softmax(logits, dim=0)
        entropy = -(probabilities * torch.log_softmax(logits, dim=0)).sum()
        loss = -(advantage * log_prob).sum() - config.entropy * entropy
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.baseline = config.baseline_decay * self.baseline + (1 - config.baseline_decay) * float(rewards.mean())
        self.round = None
