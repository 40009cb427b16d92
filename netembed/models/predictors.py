"""Surrogate predictors: an ensemble of cell encoders with regression heads (which see the cell's
embedding and, by default, the latent of its output vertex).

``AccuracyPredictor`` is trained with a mix of squared error and a pairwise ranking loss (a
search only needs the order of cells to be right) on the normal scores of the labels' ranks
(the table's few failed cells would otherwise dominate the squared error); with few labels its
mean is blended with a random forest and a Gaussian process on hand-made structure features
(``netembed.spaces.nb101.features.FeatureView``), a second view that errs differently. ``TimeEstimator``
predicts training seconds from the structure plus the exact parameter count, in log space. Both
return the ensemble's mean and standard deviation, and save/load like every model
(``netembed.models.hub``).

>>> import numpy as np
>>> from netembed import space
>>> cells = [space.cell_at(i) for i in range(40)]
>>> model = AccuracyPredictor(PredictorConfig(members=2, steps=20, epochs=0)).fit(cells, np.linspace(0.8, 0.9, 40))
>>> mean, std = model.predict(cells[:3])
>>> mean.shape, std.shape
((3,), (3,))
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from netembed import spaces
from netembed._fields import SEED, Flag, Int, Number, OneOf, check_fields
from netembed.errors import DivergedError, NetembedError
from netembed.models.encoder import ENCODER_RULES, CellEncoder, EncoderConfig
from netembed.models.graph import DenseCells, dense_arrays, dense_cells
from netembed.spaces.nb101 import features, space

__all__ = [
    "PREDICTOR_RULES",
    "READOUTS",
    "TARGETS",
    "TIME_TRAINING",
    "TRANSFER_TRAINING",
    "AccuracyPredictor",
    "LabelError",
    "PredictorConfig",
    "TimeEstimator",
]


TARGETS = ("normal", "raw")
#: what a predictor must share with another to start from its whole members
SHAPE = ("hidden", "layers", "embedding_dim", "head_hidden", "readout")
#: what a member's head sees of the encoder's vertex latents (``PredictorConfig.readout``)
READOUTS = ("mean+output", "mean")
_KNOTS = 256  # points of the normal-score -> label map a predictor keeps
#: ``PredictorConfig``'s fields and their ranges (the encoder's from ``ENCODER_RULES``; the search's
#: settings share some): bounds far beyond any useful predictor.
PREDICTOR_RULES = {
    **{name: ENCODER_RULES[name] for name in ("hidden", "layers", "embedding_dim", "space")},
    "head_hidden": Int(1, 4096),
    "members": Int(1, 100),
    "steps": Int(1, 10**7),
    "batch_size": Int(1, 2**20),
    "lr": Number(0, 10, open_low=True),
    "weight_decay": Number(0, 10),
    "ranking_weight": Number(0, 1000),
    "epochs": Int(0, 10**6),
    "forest": Number(0, 1),
    "source_labels": Number(0, 10**9),
    "source_agreement": Flag(),
    "view": OneOf(features.VIEWS),
    "targets": OneOf(TARGETS),
    "readout": OneOf(READOUTS),
    "seed": SEED,
}


class LabelError(NetembedError, ValueError):
    """Training labels that cannot be learned from (NaN, infinite, negative, mismatched, too few)."""


@dataclass(frozen=True)
class PredictorConfig:
    """Shape and training of a predictor. The encoder fields must match ``--init`` weights."""

    hidden: int = 32
    layers: int = 4
    embedding_dim: int = 16
    head_hidden: int = 64
    members: int = 5
    steps: int = 1500
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 1e-4
    ranking_weight: float = 3.0  # order matters more than scale to a search (measured: +0.015 Kendall at 424)
    # at least this many passes over the training cells: ranking keeps improving with passes, and
    # 1,500 steps are only 45 passes of 4,236 cells (measured on a validation split: 0.767 -> 0.811)
    epochs: int = 200
    # blend weight at 100 training cells of the structure-feature view (named for its first part,
    # a random forest), falling to 0 at 10,000 (``forest_weight``): a second view that errs
    # differently from the GNN; the best weights on a validation split are in the README
    forest: float = 0.7
    # what that view is made of (``features.VIEWS``): the mean of the forest and a Gaussian process,
    # or either alone
    view: str = "forest+gp"
    # what the members and the feature view learn: "normal", the normal scores of the labels' ranks
    # (a few very poor cells no longer dominate the squared error and the forest's splits), mapped back to
    # label units through the training labels' quantiles; or "raw", the labels themselves
    targets: str = "normal"
    # what the head sees: the mean of the vertex latents (the embedding) and the output vertex's
    # latent, where the cell's paths end (measured on a validation split: the GNN alone +0.012
    # Kendall at 100 and 424 cells, README), or the embedding alone ("mean")
    readout: str = "mean+output"
    # with more than 0, a fit that starts from a predictor of another data set (``for_transfer``)
    # keeps that source's members beside the fine-tuned ones, worth this many labels: the source's
    # weight in the mean is source_labels / (source_labels + n) after a fit on n labels, so a few
    # labels adjust what transferred instead of overwriting it
    source_labels: float = 0.0
    # with source_labels: the source is worth source_labels * sin^2(pi tau / 2) labels, where tau is
    # the Kendall tau of its calibrated members with the fit's own labels (they never trained on
    # them) and sin(pi tau / 2) the correlation tau implies: a source that ranks the new task well
    # keeps its weight, one that does not (another task, not another data set) gives way at once
    source_agreement: bool = False
    seed: int = 0
    space: str = spaces.DEFAULT  # the search space of the architectures it predicts (``netembed.spaces``)

    @property
    def encoder(self) -> EncoderConfig:
        return EncoderConfig(hidden=self.hidden, layers=self.layers, embedding_dim=self.embedding_dim, space=self.space)

    # -- the roles a predictor plays, by name -------------------------------------------------

    @classmethod
    def for_accuracy(cls, **fields) -> PredictorConfig:
        """An accuracy predictor (``AccuracyPredictor``): the defaults, as the README measures them."""
        return cls(**fields)

    @classmethod
    def for_time(cls, **fields) -> PredictorConfig:
        """A training-time estimator (``TimeEstimator``): ``TIME_TRAINING``'s settings."""
        return cls(**{**TIME_TRAINING, **fields})

    @classmethod
    def for_prior(cls, **fields) -> PredictorConfig:
        """A label-free prior (log parameter counts): trained like the time estimator, with the
        accuracy predictors' readout, since a prior hands its whole members to them."""
        return cls(**{**TIME_TRAINING, "readout": cls.readout, **fields})

    @classmethod
    def for_transfer(cls, **fields) -> PredictorConfig:
        """A predictor of a new data set that starts from a predictor of another (``init``):
        ``TRANSFER_TRAINING``'s settings."""
        return cls(**{**TRANSFER_TRAINING, **fields})

    @classmethod
    def for_search(
        cls,
        encoder: EncoderConfig,
        members: int,
        seed: int,
        prior: bool = False,
        targets: str = "raw",
        readout: str | None = None,
        forest: float = 0.0,
        view: str = "forest+gp",
    ) -> PredictorConfig:
        """The netembed search's online surrogate: an ensemble of ``members`` on ``encoder``'s shape.
        Its defaults (``controller.SurrogateSettings``): raw targets (normal-score targets searched
        worse fronts: experiments/README.md, pareto_variants.py), no feature view, and the
        embedding alone as the heads' input (``readout`` None; with the output vertex's latent the
        front search did worse), or with a ``prior``, whose whole members it starts from, the
        prior's readout."""
        return cls(
            hidden=encoder.hidden,
            layers=encoder.layers,
            embedding_dim=encoder.embedding_dim,
            members=members,
            forest=forest,
            view=view,
            targets=targets,
            seed=seed,
            readout=readout or (cls.readout if prior else "mean"),
            space=encoder.space,
        )

    def __post_init__(self) -> None:
        check_fields(self, PREDICTOR_RULES)

    def training_steps(self, cells: int) -> int:
        """Steps a fit on ``cells`` labelled cells takes: ``steps``, or ``epochs`` passes if more."""
        return max(self.steps, math.ceil(self.epochs * cells / self.batch_size))

    def forest_weight(self, cells: int) -> float:
        """Blend weight of the feature view after a fit on ``cells`` cells: ``forest`` at 100 cells
        (and fewer), falling linearly in log10(cells) to 0 at 10,000 (the GNN needs the hint less)."""
        return self.forest * float(np.clip(1 - math.log10(max(cells, 1) / 100) / 2, 0, 1))

    def source_weight(self, cells: int, agreement: float = 1.0) -> float:
        """The kept source members' share of the mean after a fit on ``cells`` labelled cells, with
        ``source_agreement`` of a source whose Kendall tau with them is ``agreement``."""
        worth = self.source_labels * (math.sin(math.pi / 2 * max(agreement, 0.0)) ** 2 if self.source_agreement else 1)
        return worth / (worth + cells) if worth else 0.0


class _Member(nn.Module):
    def __init__(self, config: PredictorConfig, extra: int):
        super().__init__()
        self.encoder = CellEncoder(config.encoder)
        self.output_latent = config.readout == "mean+output"
        seen = config.embedding_dim * (2 if self.output_latent else 1) + extra
        self.head = nn.Sequential(nn.Linear(seen, config.head_hidden), nn.ReLU(), nn.Linear(config.head_hidden, 1))

    def forward(self, cells: DenseCells, extra: torch.Tensor) -> torch.Tensor:
        latents, _ = self.encoder.vertex_latents(cells)
        seen = [self.encoder.pool(latents, cells)]
        if self.output_latent:  # the output is the last present node of a graph view
            last = cells.mask.shape[1] - 1 - cells.mask.flip(1).int().argmax(dim=1)
            seen.append(latents[torch.arange(len(latents)), last])
        return self.head(torch.cat([*seen, extra], dim=-1)).squeeze(-1)


def _ranking_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Logistic loss over all ordered pairs of the batch whose targets differ."""
    difference = scores[:, None] - scores[None, :]
    order = (targets[:, None] > targets[None, :]).float()
    pairs = targets[:, None] != targets[None, :]
    if not pairs.any():
        return scores.sum() * 0
    return nn.functional.binary_cross_entropy_with_logits(difference[pairs], order[pairs])


@torch.no_grad()
def _least_squares(
    member: _Member,
    batch: DenseCells,
    extra: torch.Tensor,
    target: torch.Tensor,
    generator: torch.Generator,
    rows: int = 8192,
) -> torch.Tensor:
    """(scale, shift) minimising the squared error of ``scale * score + shift`` on training rows."""
    member.eval()
    sample = torch.randperm(len(target), generator=generator)[:rows]
    scores = member(batch[sample], extra[sample]).double()
    design = torch.stack([scores, torch.ones_like(scores)], dim=1)
    solution = torch.linalg.lstsq(design, target[sample].double().unsqueeze(1)).solution.squeeze(1)
    return solution.float()


class AccuracyPredictor(nn.Module):
    """Predicts test accuracy of cells; ``fit(cells, y)`` then ``predict(cells) -> (mean, std)``."""

    extra_features = 0

    def __init__(self, config: PredictorConfig = PredictorConfig()):
        super().__init__()
        self.config = config
        self.space = spaces.get(config.space)
        if config.forest and not self.space.feature_entries:
            self.space.feature_table()  # refuses, saying why
        # the fine-tuned members, then (with ``source_labels``) as many kept from the source
        count = config.members * (2 if config.source_labels else 1)
        self.members = nn.ModuleList(_Member(config, self.extra_features) for _ in range(count))
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))
        # Per member (scale, shift) of its scores: the ranking loss orders well but stretches the
        # scale, so each member is mapped back onto the labels by least squares after training.
        self.register_buffer("calibration", torch.tensor([[1.0, 0.0]] * count))
        if config.source_labels:  # each member's share of the mean
            self.register_buffer("member_weight", torch.full((count,), 1.0 / count, dtype=torch.float64))
        if config.targets == "normal":  # (normal score, label) knots: how predictions return to labels
            self.register_buffer("target_knots", torch.zeros(2, _KNOTS, dtype=torch.float64))
        if config.forest:
            # The feature view's prediction for every distinct feature vector of the space (in
            # standardised target units), and its blend weight for this fit: a fixed-size table, no
            # pickled trees.
            self.register_buffer("forest_table", torch.zeros(self.space.feature_entries))
            self.register_buffer("forest_weight", torch.zeros(()))

    # -- what subclasses change --------------------------------------------------------------

    def _extra(self, cells: Sequence) -> torch.Tensor:
        return torch.zeros(len(cells), 0)

    def _to_target(self, y: np.ndarray) -> np.ndarray:
        """The training labels -> what the members learn (called once per fit, with all of them)."""
        if self.config.targets == "raw":
            return y
        from scipy.stats import norm, rankdata

        probabilities = np.linspace(0.5, len(y) - 0.5, _KNOTS) / len(y)
        labels = np.interp(probabilities, (np.arange(len(y)) + 0.5) / len(y), np.sort(y))
        # strictly increasing, so that tied labels (accuracies come in steps of 1e-4) do not tie predictions
        labels = labels + 1e-6 * max(float(y.std()), 1e-12) * np.arange(_KNOTS) / _KNOTS
        self.target_knots.copy_(torch.from_numpy(np.stack([norm.ppf(probabilities), labels])))
        return norm.ppf((rankdata(y) - 0.5) / len(y))

    def _from_target(self, t: np.ndarray) -> np.ndarray:
        """What the members predict -> labels: the knots' piecewise-linear map, extended linearly
        beyond them with the slope of their outer tenths (so the best cells keep their order)."""
        if self.config.targets == "raw":
            return t
        scores, labels = self.target_knots.numpy()
        tail = _KNOTS // 10
        low_slope = (labels[tail] - labels[0]) / (scores[tail] - scores[0])
        high_slope = (labels[-1] - labels[-1 - tail]) / (scores[-1] - scores[-1 - tail])
        mapped = np.interp(t, scores, labels)
        below, above = t < scores[0], t > scores[-1]
        mapped[below] = labels[0] + (t[below] - scores[0]) * low_slope
        mapped[above] = labels[-1] + (t[above] - scores[-1]) * high_slope
        return mapped

    # -- training ----------------------------------------------------------------------------

    def fit(
        self,
        cells: Sequence,
        y,
        init: str | os.PathLike | None = None,
        progress: bool = False,
        steps: int | None = None,
        warm: bool = False,
        calibrate: bool = True,
    ) -> AccuracyPredictor:
        """Train every member from scratch, or from the pretrained weights ``init``, on (cells, y).

        ``init`` names a pretrained encoder (``encoder-nb101``: each member's encoder starts
        there) or a predictor of the same shape (``prior-nb101``: whole members start there).

        ``warm=True`` continues from the current weights instead (a search refreshing its
        predictor as labels arrive); ``steps`` overrides the configured number of steps.
        ``calibrate=False`` keeps the raw scores (only their order and spread matter to a search).
        """
        self._check_fit(init, warm, calibrate)
        target = self._standardised_targets(self.check_labels(cells, y))
        batch, extra = dense_cells(cells, self.space), self._extra(cells)
        from tqdm.auto import tqdm

        config = self.config
        steps = config.training_steps(len(target)) if steps is None else steps
        start_from = self._warm_start(init) if init is not None and not warm else None
        tuned = self.members[: config.members]
        for index, member in enumerate(tqdm(tuned, desc="ensemble", disable=not progress, leave=False)):
            seed = config.seed * 1000 + index + (len(target) * 7919 if warm else 0)
            generator = torch.Generator().manual_seed(seed)
            torch.manual_seed(seed)
            if not warm:
                for module in member.modules():
                    if module is not member and hasattr(module, "reset_parameters"):
                        module.reset_parameters()
                if start_from is not None:
                    start_from(index, member)
            self._train_member(index, member, batch, extra, target, steps, generator)
            if calibrate:
                self.calibration[index] = _least_squares(member, batch, extra, target, generator)
        if config.source_labels:
            self._keep_source(start_from, batch, extra, target)
        if config.forest:
            self._fit_forest(cells, target)
        return self.eval()

    def _check_fit(self, init, warm: bool, calibrate: bool) -> None:
        """``fit``'s arguments against the config: what the forest and a kept source need."""
        if not calibrate and self.config.forest:
            raise ValueError(
                "calibrate=False keeps raw scores, which cannot be blended with the forest's "
                f"labels: it needs PredictorConfig.forest=0, got {self.config.forest!r}"
            )
        if self.config.source_labels and (init is None or warm or not calibrate):
            raise ValueError(
                "PredictorConfig.source_labels keeps the members of the predictor a fit starts from: it "
                f"needs init (not warm, calibrated), got init={init!r}, warm={warm}, calibrate={calibrate}"
            )

    def _train_member(self, index: int, member: _Member, batch, extra, target, steps: int, generator) -> None:
        """``steps`` of squared error plus the ranking loss on random batches; NaN weights refused."""
        config = self.config
        optimizer = torch.optim.AdamW(member.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
        member.train()
        for _ in range(steps):
            rows = torch.randperm(len(target), generator=generator)[: config.batch_size]
            scores = member(batch[rows], extra[rows])
            loss = nn.functional.mse_loss(scores, target[rows])
            loss = loss + config.ranking_weight * _ranking_loss(scores, target[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if not all(torch.isfinite(p).all() for p in member.parameters()):
            raise DivergedError(
                f"training diverged: member {index}'s weights became NaN or infinite (ranking weight "
                f"{config.ranking_weight:g}, learning rate {config.lr:g}: too large?)"
            )

    @torch.no_grad()
    def _keep_source(self, start_from, batch: DenseCells, extra: torch.Tensor, target: torch.Tensor) -> None:
        """The source's members as they are, each mapped onto the new labels by least squares (the
        only thing they learn from them), weighted by ``PredictorConfig.source_weight``."""
        tuned = self.config.members
        generator = torch.Generator().manual_seed(self.config.seed * 1000 + len(self.members))
        for index in range(tuned, len(self.members)):
            start_from(index - tuned, self.members[index])
            self.calibration[index] = _least_squares(self.members[index], batch, extra, target, generator)
        self.weigh_source(self.config.source_weight(len(target), self._source_agreement(batch, extra, target)))

    @torch.no_grad()
    def _source_agreement(self, batch: DenseCells, extra: torch.Tensor, target: torch.Tensor) -> float:
        """The Kendall tau of the kept source members' calibrated mean with the fit's labels (0
        where it is undefined: fewer than two distinct labels or scores)."""
        from scipy.stats import kendalltau

        if not self.config.source_agreement:
            return 1.0
        kept = range(self.config.members, len(self.members))
        scores = torch.stack([self.members[i](batch, extra) for i in kept])
        scores = (scores * self.calibration[kept.start :, :1] + self.calibration[kept.start :, 1:]).mean(dim=0)
        tau = kendalltau(scores.numpy(), target.numpy()).statistic
        return float(tau) if np.isfinite(tau) else 0.0

    def weigh_source(self, share: float) -> None:
        """Give the kept source members ``share`` of the mean and the fine-tuned ones the rest."""
        tuned = self.config.members
        self.member_weight[:tuned] = (1 - share) / tuned
        self.member_weight[tuned:] = share / tuned

    def _standardised_targets(self, y: np.ndarray) -> torch.Tensor:
        """Checked labels -> what the members and the feature view learn, standardised (keeps the
        label <-> target map: the knots, mean and spread)."""
        target = torch.from_numpy(self._to_target(y)).float()
        self.target_mean.fill_(target.mean())
        self.target_std.fill_(target.std().clamp(min=1e-8) if len(target) > 1 else 1.0)
        return (target - self.target_mean) / self.target_std

    def _fit_forest(self, cells: Sequence, target: torch.Tensor) -> None:
        """The structure-feature view (a forest and a Gaussian process, ``features.FeatureView``),
        tabulated over the space's distinct feature vectors."""
        weight = self.config.forest_weight(len(target))
        self.forest_weight.fill_(weight)
        self.forest_table.zero_()
        if weight:
            view = features.FeatureView.fit(cells, target.numpy(), self.config.seed, self.config.view, self.space)
            self.forest_table.copy_(torch.from_numpy(view.predict(self.space.feature_table())))

    def _warm_start(self, init: str | os.PathLike) -> Callable[[int, _Member], None]:
        """How member ``index`` loads ``init``: the encoder of a pretrained encoder or autoencoder,
        or the whole member ``index`` (cycling) of a pretrained predictor of the same shape."""
        from netembed.models import hub

        directory = hub.resolve(init)
        found = self._init_type(hub.read_config(directory), directory)
        if found != type(self).__name__ and self.config.source_labels:
            raise NetembedError(
                f"PredictorConfig.source_labels keeps a source predictor's members: init must be a "
                f"{type(self).__name__}, got {found} in {directory}"
            )
        if found != type(self).__name__:
            encoder = CellEncoder.from_pretrained(directory)
            _same_space(encoder.config.space, self.config.space, directory)
            return lambda index, member: member.encoder.load_state_dict(encoder.state_dict())
        prior = type(self).from_pretrained(directory)
        _same_space(prior.config.space, self.config.space, directory)
        if self._shape(prior.config) != self._shape(self.config):
            raise NetembedError(
                f"init must have this predictor's shape {self._shape(self.config)}, "
                f"got {self._shape(prior.config)} in {directory}"
            )
        return lambda index, member: member.load_state_dict(prior.members[index % len(prior.members)].state_dict())

    @classmethod
    def _init_type(cls, document: dict, directory) -> str:
        """The model type of ``document``, the saved config in ``directory``: this class (its whole
        members start from it) or an encoder (the members' encoders do); another kind is refused by name."""
        found, kinds = document["model_type"], (cls.__name__, "CellEncoder", "CellAutoencoder")
        if found not in kinds:
            raise NetembedError(f"--init for {cls.__name__} must be {', '.join(kinds)}, got {found} in {directory}")
        return found

    @staticmethod
    def _shape(config: PredictorConfig) -> dict:
        return {f: getattr(config, f) for f in SHAPE}

    @classmethod
    def shape_of(cls, init: str | os.PathLike) -> dict:
        """The config fields a predictor of this class takes to start from all of ``init``: a
        predictor of this class (e.g. ``surrogate-nb101/accuracy``) gives its members' shape, an
        encoder its encoder's."""
        from netembed.models import hub

        directory = hub.resolve(init)
        document = hub.read_config(directory)  # read once: the type decides which fields to take
        fields = SHAPE if cls._init_type(document, directory) == cls.__name__ else ("hidden", "layers", "embedding_dim")
        return {f: document["config"][f] for f in fields if f in document["config"]}

    def check_labels(self, cells: Sequence, y) -> np.ndarray:
        """``y`` as float64 when ``fit`` can learn from it, else a ``LabelError`` naming the rule."""
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1:
            raise LabelError(f"labels must be one number per cell, got shape {y.shape}")
        if len(cells) != len(y):
            raise LabelError(f"cells and labels must have the same length, got {len(cells)} cells and {len(y)} labels")
        if len(y) < 2:
            raise LabelError(f"training needs at least 2 labelled cells, got {len(y)}")
        bad = np.flatnonzero(~np.isfinite(y) | (y < 0))
        if len(bad):
            raise LabelError(f"labels must be finite and non-negative, got {y[bad[0]]} at position {bad[0]}")
        kind = self.space.arch_type
        not_cells = [type(c).__name__ for c in cells if kind is not None and not isinstance(c, kind)]
        if not_cells:
            raise LabelError(f"cells must be {kind.__name__} objects ({self.space.name}), got a {not_cells[0]}")
        return y

    # -- prediction --------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, cells: Sequence, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
        """Mean (blended with the feature view's when it has weight) and standard deviation over the
        ensemble's GNN members, in the labels' units."""
        parts = []
        for start in range(0, len(cells), batch_size):
            chunk = cells[start : start + batch_size]
            parts.append(self._predict_dense(dense_cells(chunk, self.space), self._extra(chunk)))
        return self._summarise(
            np.concatenate(parts, axis=1) if parts else np.zeros((len(self.members), 0)),
            lambda: self.space.feature_index(cells),
        )

    @torch.no_grad()
    def predict_rows(self, rows: np.ndarray, batch_size: int = 16384) -> tuple[np.ndarray, np.ndarray]:
        """Predictions for rows of NAS-Bench-101's enumeration (the fast path for scoring that whole space)."""
        arrays = space.space_arrays()
        parts = []
        for start in range(0, len(rows), batch_size):
            chunk = np.asarray(rows[start : start + batch_size])
            extra = self._extra_rows(chunk)
            parts.append(self._predict_dense(dense_arrays(arrays.adjacency[chunk], arrays.ops[chunk]), extra))
        return self._summarise(
            np.concatenate(parts, axis=1) if parts else np.zeros((len(self.members), 0)),
            lambda: features.distinct_index_rows(rows),
        )

    def _extra_rows(self, rows: np.ndarray) -> torch.Tensor:
        return torch.zeros(len(rows), 0)

    def _predict_dense(self, batch: DenseCells, extra: torch.Tensor) -> np.ndarray:
        self.eval()
        scores = torch.stack([member(batch, extra) for member in self.members])
        scores = scores * self.calibration[:, :1] + self.calibration[:, 1:]
        return (scores * self.target_std + self.target_mean).numpy()

    def _summarise(
        self, per_member: np.ndarray, forest_index: Callable[[], np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and spread over the members; the mean blended with the feature view's when it has weight."""
        values = self._from_target(per_member.astype(np.float64))
        if self.config.source_labels:  # the kept source's members and the fine-tuned ones, weighted
            weights = self.member_weight.numpy()[:, None]
            mean = (weights * values).sum(axis=0)
            std = np.sqrt((weights * (values - mean) ** 2).sum(axis=0))
        else:
            mean, std = values.mean(axis=0), values.std(axis=0)
        weight = float(self.forest_weight) if self.config.forest else 0.0
        if weight and per_member.shape[1]:
            mean = (1 - weight) * mean + weight * self._view_labels(forest_index())
        return mean, std

    def _view_labels(self, index: np.ndarray) -> np.ndarray:
        """The feature view's predictions for entries ``index`` of ``features.distinct_table``, in
        the labels' units."""
        # look up first: converting the whole 225,385-entry table on every call would be wasted work
        view = self.forest_table.numpy()[index].astype(np.float64)
        return self._from_target(view * float(self.target_std) + float(self.target_mean))

    # -- saving ------------------------------------------------------------------------------

    def save_pretrained(self, directory, meta: dict | None = None):
        from netembed.models import hub

        return hub.save_pretrained(self, self.config, directory, meta)

    @classmethod
    def from_pretrained(cls, name_or_dir, device: str | torch.device = "cpu"):
        from netembed.models import hub

        model, _ = hub.load_pretrained(cls, hub.resolve(name_or_dir), PredictorConfig, device=device)
        return model


def _same_space(found: str, wanted: str, directory) -> None:
    if found != wanted:
        raise spaces.SpaceError(f"init must be a model of space {wanted}, got one of space {found} in {directory}")


#: How the time estimator trains by default: squared error only (the ranking loss cost it MdAPE),
#: ``steps`` exactly (times are smooth in the structure: 13 passes of 15,000 cells meet its
#: targets, 200 would take 15x longer), no forest (the parameter count is its second view) and
#: raw targets (it learns log-seconds, whose MdAPE is what matters); its heads see the embedding
#: alone (its figures were measured so; priors, trained like it, take the predictors' readout).
TIME_TRAINING = {"ranking_weight": 0.0, "epochs": 0, "forest": 0.0, "targets": "raw", "readout": "mean"}

#: How a predictor of a new data set trains from a predictor of another (``init``): briefly and
#: gently (100 steps at a quarter of the learning rate: a full fit on 20 labels overwrites what
#: transferred, Kendall 0.85 -> 0.66 on CIFAR-100), no feature view refit on those few labels, and
#: the source's members kept beside the fine-tuned ones, worth ``source_labels`` labels (chosen on
#: the reverse transfer, CIFAR-100 -> CIFAR-10: experiments/README.md).
TRANSFER_TRAINING = {
    "steps": 100, "epochs": 0, "lr": 5e-4, "forest": 0.0, "source_labels": 100.0, "source_agreement": True,
}  # fmt: skip


class TimeEstimator(AccuracyPredictor):
    """Predicts 108-epoch training seconds from the structure and the exact parameter count.

    Learns log-seconds (times span 284..5,411 s and errors are relative), with log-parameters
    as an input beside the embedding; ``predict`` returns seconds.
    """

    extra_features = 1

    def __init__(self, config: PredictorConfig = PredictorConfig(**TIME_TRAINING)):
        if config.targets != "raw":
            raise ValueError(
                f"TimeEstimator learns log-seconds: PredictorConfig.targets must be 'raw', got {config.targets!r}"
            )
        super().__init__(config)

    def _extra(self, cells: Sequence) -> torch.Tensor:
        return torch.tensor([[math.log(self.space.count_params(c)) - 15.0] for c in cells], dtype=torch.float32)

    def _extra_rows(self, rows: np.ndarray) -> torch.Tensor:
        return self._extra([space.cell_at(int(r)) for r in rows])

    def check_labels(self, cells, y) -> np.ndarray:
        y = super().check_labels(cells, y)
        if (y <= 0).any():
            raise LabelError(f"training times must be positive seconds, got {y[y <= 0][0]}")
        return y

    def _to_target(self, y: np.ndarray) -> np.ndarray:
        return np.log(y)

    def _from_target(self, t: np.ndarray) -> np.ndarray:
        return np.exp(t)
