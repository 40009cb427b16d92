"""The netembed controller: its settings, the batch likelihood, and that a policy update learns."""

import itertools
from dataclasses import replace

import numpy as np
import pytest
import torch

from netembed import Cell
from netembed._io import as_saved
from netembed.search.controller import (
    ControllerConfig,
    NetembedSearch,
    Policy,
    SurrogateSettings,
    plackett_luce_log_prob,
)
from netembed.search.evaluators import Measurement
from netembed.spaces import get as get_space
from netembed.spaces.nb101 import space

KINDS = (*get_space("nb101").move_kinds, "jump")
from netembed.search import Budget, Evaluation, SearchError, run_search
from netembed.spaces.nb101.transforms import neighbors

SMALL = ControllerConfig(initial=6, batch=4, parents=2, jumps=10, members=1, fit_steps=10, refresh_steps=5)


@pytest.mark.parametrize(
    "field, value, rule",
    [
        ("batch", 0, r"an integer in 1..1000000, got 0"),
        ("members", 1.5, r"an integer in 1..100, got 1.5"),
        ("jumps", -1, r"an integer in 0..1000000, got -1"),
        ("lookahead", 2.5, r"an integer in 0..1000000, got 2.5"),
        ("lr", float("nan"), r"a number in \[0, 1000000\], got nan"),
        ("entropy", -0.1, r"a number in \[0, 1000000\], got -0.1"),
        ("baseline_decay", 1.0, r"a number in \[0, 1\), got 1.0"),
        ("surrogate", {"targets": "raw"}, r"a SurrogateSettings, got \{'targets': 'raw'\}"),
    ],
)
def test_config_rules(field, value, rule):
    with pytest.raises(SearchError, match=f"^ControllerConfig.{field} must be {rule}$"):
        ControllerConfig(**{field: value})


@pytest.mark.parametrize(
    "field, value, rule",
    [("targets", "rank", "one of normal, raw"), ("readout", "sum", r"one of None, mean\+output, mean")],
)
def test_surrogate_settings_rules(field, value, rule):
    with pytest.raises(SearchError, match=f"^SurrogateSettings.{field} must be {rule}, got '{value}'$"):
        SurrogateSettings(**{field: value})


def test_plackett_luce_matches_brute_force():
    logits = torch.tensor([0.3, -1.0, 2.0, 0.5])
    order = torch.tensor([2, 0])
    p = torch.softmax(logits, 0).numpy()
    expected = p[2] * p[0] / (1 - p[2])
    assert np.isclose(plackett_luce_log_prob(logits, order).sum().exp().item(), expected, rtol=1e-5)
    # over every ordered pair, the probabilities sum to one
    total = sum(
        plackett_luce_log_prob(logits, torch.tensor(pair)).sum().exp().item()
        for pair in itertools.permutations(range(4), 2)
    )
    assert np.isclose(total, 1.0, rtol=1e-5)


def test_an_untrained_policy_is_the_surrogates_upper_confidence_rule():
    policy = Policy(features=5, config=ControllerConfig(mean_weight=4.0, std_weight=2.0))
    surrogate = torch.tensor([[1.0, 0.5], [-1.0, 0.0]])
    logits = policy(surrogate, torch.randn(2, 5))
    assert torch.allclose(logits, torch.tensor([5.0, -4.0]))


def test_policy_update_moves_probability_to_rewarded_candidates():
    """A toy problem: 40 candidates, the 10 with feature 0 set are the good ones (reward 1, the
    others 0). The surrogate knows nothing; REINFORCE alone must learn to prefer them."""
    method = NetembedSearch(np.random.default_rng(0), ControllerConfig(batch=8, lr=0.05))
    width = method.policy.mlp[0].in_features
    features = torch.randn(40, width, generator=torch.Generator().manual_seed(0)) * 0.1
    good = torch.arange(40) < 10
    features[:, 0] = good.float()
    surrogate = torch.zeros(40, 2)
    method.reward_mean, method.reward_std = 0.5, 0.5

    def good_mass():
        with torch.no_grad():
            return torch.softmax(method.policy(surrogate, features), 0)[good].sum().item()

    before = good_mass()
    rng = np.random.default_rng(1)
    for _ in range(30):
        order = torch.from_numpy(rng.permutation(40)[:8])
        hashes = [str(i) for i in order.tolist()]
        method.round = {
            "surrogate": surrogate,
            "features": features,
            "order": order,
            "hashes": hashes,
            "pending": set(),
            "rewards": {h: float(good[int(h)]) for h in hashes},
        }
        method._learn()
    assert before == pytest.approx(0.25, abs=1e-6)  # uniform at the start: 10 of 40
    assert good_mass() > 0.5


def toy(cell: Cell) -> Measurement:
    return Measurement(0.5 + 0.05 * sum(op == "conv3x3-bn-relu" for op in cell.ops), None, 1)


def reward(accuracy, **_):
    return accuracy


def test_search_is_seeded_resumable_and_only_asks_new_cells():
    def run(seed, replay=None, queries=26):
        method = NetembedSearch(np.random.default_rng(seed), SMALL)
        return run_search(method, toy, reward, Budget(queries=queries), seed=seed, replay=replay)

    first, again, other = run(0), run(0), run(1)
    assert [e.cell for e in first.evaluations] == [e.cell for e in again.evaluations]
    assert [e.cell for e in first.evaluations] != [e.cell for e in other.evaluations]
    resumed = run(0, replay=first.evaluations[:13])
    assert [e.cell for e in resumed.evaluations] == [e.cell for e in first.evaluations]
    assert len({e.cell.hash for e in first.evaluations}) == 26


def test_other_workers_labels_count_towards_the_random_start_and_train_the_surrogate():
    rng = np.random.default_rng(5)
    cells = [space.random_cell(rng) for _ in range(SMALL.initial + 3)]
    others = [Evaluation(c, toy(c).accuracy, None, 1, toy(c).accuracy, i) for i, c in enumerate(cells, 1)]
    method = NetembedSearch(np.random.default_rng(0), SMALL)
    for evaluation in others[: SMALL.initial - 1]:
        method.observe(evaluation)
    method.ask()  # the random start draws one cell at a time, so it ends as soon as the labels do
    assert method.queue == [] and method.round is None
    for evaluation in others[SMALL.initial - 1 :]:
        method.observe(evaluation)
    planned = method.ask()  # a round of the policy, on a surrogate fitted to every label observed
    assert method.round is not None and planned.hash in method.round["hashes"]
    assert len(method.told) == len(others) and method.fitted


def test_candidates_are_new_neighbours_of_the_best_cells_plus_jumps():
    method = NetembedSearch(np.random.default_rng(0), SMALL)
    result = run_search(method, toy, reward, Budget(queries=SMALL.initial))
    assert result.evaluations and method.told
    candidates, parents, kinds = method._candidates()
    assert not {c.hash for c in candidates} & set(method.told)
    assert set(kinds) <= set(KINDS) and kinds.count("jump") <= SMALL.jumps
    best = {e.cell.hash for e in sorted(method.told.values(), key=lambda e: -e.reward)[: SMALL.parents]}
    assert all(p.cell.hash in best for p, k in zip(parents, kinds) if k != "jump")


def test_lookahead_adds_the_neighbours_of_the_candidates_the_prior_rule_ranks_first():
    config = replace(SMALL, lookahead=3)
    method = NetembedSearch(np.random.default_rng(0), config)
    run_search(method, toy, reward, Budget(queries=config.initial))
    method._refresh_surrogate()
    candidates, parents, kinds = method._candidates()
    first = len(candidates)
    mean, std = method.predictor.predict(candidates)
    ranked = np.argsort(-(config.mean_weight * mean + config.std_weight * std), kind="stable")[:3].tolist()
    method._look_ahead(candidates, parents, kinds)
    expected = {}  # each new cell, with the queried cell its first move came from
    for i in ranked:
        for _, child in neighbors(candidates[i]):
            if child.hash not in method.told and child.hash not in {c.hash for c in candidates[:first]}:
                expected.setdefault(child.hash, parents[i])
    added = candidates[first:]
    assert added and {c.hash for c in added} == set(expected)
    assert len({c.hash for c in candidates}) == len(candidates)  # nothing twice
    assert all(parents[first + j] is expected[c.hash] for j, c in enumerate(added))
    assert set(kinds[first:]) <= set(KINDS)
    # lookahead=0 is the one-move rule: a round's candidates are the parents' neighbours and jumps
    plain = NetembedSearch(np.random.default_rng(0), replace(SMALL, lookahead=0))
    run_search(plain, toy, reward, Budget(queries=SMALL.initial))
    plain._refresh_surrogate()
    one_move = len(plain._candidates()[0])
    plain.ask()
    assert len(plain.round["surrogate"]) == one_move


def test_lookahead_reuses_the_rounds_predictions_and_predicts_only_the_cells_it_adds(monkeypatch):
    """``_look_ahead(..., predicted)`` (what a round does, having predicted its candidates) gives
    the same cells, parents, kinds, means and spreads as predicting the candidates again, and asks
    the surrogate only about the cells it adds."""
    config = replace(SMALL, lookahead=3, members=2)  # two members: a spread that is not zero
    method = NetembedSearch(np.random.default_rng(0), config)
    run_search(method, toy, reward, Budget(queries=config.initial))
    method._refresh_surrogate()
    candidates, parents, kinds = method._candidates()
    first, predict = len(candidates), method.predictor.predict
    predicted = predict(candidates)
    assert (predicted[1] > 0).all()
    asked = []

    def spy(cells, *args, **kwargs):
        asked.append([c.hash for c in cells])
        return predict(cells, *args, **kwargs)

    monkeypatch.setattr(method.predictor, "predict", spy)
    reused = (list(candidates), list(parents), list(kinds))
    reused_mean, reused_std = method._look_ahead(*reused, predicted)
    added = [c.hash for c in reused[0][first:]]
    assert added and asked == [added]  # only the added cells: the round's predictions are reused
    asked.clear()
    fresh = (list(candidates), list(parents), list(kinds))
    fresh_mean, fresh_std = method._look_ahead(*fresh)
    assert asked == [[c.hash for c in candidates], added]
    assert [c.hash for c in fresh[0]] == [c.hash for c in reused[0]] and fresh[2] == reused[2]
    assert all(a is b for a, b in zip(fresh[1], reused[1], strict=True))
    assert np.array_equal(reused_mean, fresh_mean) and np.array_equal(reused_std, fresh_std)
    # and each candidate's figures are its own: the surrogate's for the whole list at once
    whole_mean, whole_std = predict(reused[0])
    assert len(reused_mean) == len(reused[0]) and np.allclose(reused_mean, whole_mean, atol=1e-5)
    assert np.allclose(reused_std, whole_std, atol=1e-5)


def test_settings_hold_everything_but_the_seed_that_decides_the_search():
    settings = NetembedSearch(np.random.default_rng(0), SMALL).settings()
    assert NetembedSearch(np.random.default_rng(1), SMALL).settings() == settings
    assert as_saved(settings)["config"]["lookahead"] == SMALL.lookahead and settings["method"] == "netembed"
    others = [
        NetembedSearch(np.random.default_rng(0), replace(SMALL, lookahead=0)),
        NetembedSearch(np.random.default_rng(0), SMALL, objective="pareto"),
    ]
    assert all(other.settings() != settings for other in others)


def test_pareto_objective_grows_the_front_from_its_members():
    from netembed.search.objective import pareto_front

    def sized(cell: Cell) -> Measurement:  # accuracy rises with size, parameters too: a real trade-off
        params = 1_000_000 * cell.num_vertices + 1_000 * sum(op == "conv3x3-bn-relu" for op in cell.ops)
        return Measurement(
            min(0.99, 0.8 + 0.02 * cell.num_vertices + 0.01 * cell.ops.count("conv3x3-bn-relu")), None, params
        )

    method = NetembedSearch(np.random.default_rng(0), SMALL, objective="pareto")
    assert method.name == "netembed+pareto"
    result = run_search(method, sized, reward, Budget(queries=18))
    told = list(method.told.values())
    front = pareto_front(np.array([e.accuracy for e in told]), np.array([float(e.params) for e in told]))
    assert [e.cell.hash for e in method._parents()] == [told[i].cell.hash for i in front]
    assert len({e.cell.hash for e in result.evaluations}) == 18
    gains = method.objective.gain(method._front(), np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    assert gains[0] == 0 and gains[1] > 0  # below the reference adds nothing; a perfect tiny cell adds area
    with pytest.raises(SearchError, match="objective must be one of reward, pareto, got 'front'"):
        NetembedSearch(np.random.default_rng(0), SMALL, objective="front")


def test_the_surrogate_starts_from_a_label_free_prior(tmp_path, monkeypatch):
    from netembed.models.predictors import AccuracyPredictor, PredictorConfig
    from netembed.spaces.nb101 import space

    cells = [space.cell_at(i) for i in range(0, 4000, 100)]
    prior = AccuracyPredictor(PredictorConfig(members=1, steps=5, epochs=0)).fit(
        cells, np.log([space.count_params(c) for c in cells])
    )
    prior.save_pretrained(tmp_path / "prior")
    started, warm_start = [], AccuracyPredictor._warm_start

    def spy(predictor, init):
        started.append(init)
        return warm_start(predictor, init)

    monkeypatch.setattr(AccuracyPredictor, "_warm_start", spy)
    method = NetembedSearch(np.random.default_rng(0), SMALL, prior=str(tmp_path / "prior"))
    assert method.name == "netembed+prior"
    run_search(method, toy, reward, Budget(queries=SMALL.initial + 2 * SMALL.batch))
    assert started == [str(tmp_path / "prior")]  # the first fit starts from it; later refreshes continue


def test_a_warm_start_takes_the_readout_of_the_predictor_it_starts_from(tmp_path):
    from netembed.models.predictors import AccuracyPredictor, PredictorConfig

    cells = [space.cell_at(i) for i in range(0, 4000, 100)]
    labelled = AccuracyPredictor(PredictorConfig(members=1, steps=5, epochs=0, readout="mean", forest=0.0))
    labelled.fit(cells, np.linspace(0.8, 0.9, len(cells))).save_pretrained(tmp_path / "surrogate")
    method = NetembedSearch(np.random.default_rng(0), SMALL, prior=str(tmp_path / "surrogate"))
    assert method.predictor.config.readout == "mean"  # surrogate-nb101's shape: "mean+output" would not load
    result = run_search(method, toy, reward, Budget(queries=SMALL.initial + SMALL.batch))
    assert len(result.evaluations) == SMALL.initial + SMALL.batch and method.fitted


def test_a_warm_start_queries_the_cells_its_prior_ranks_best_first_then_searches_on():
    """NAS-Bench-201 lists its 15,625 architectures: the prior ranks them all, and the initial
    cells are its best, best first; the policy takes over after them with its own new cells."""
    from netembed.models.predictors import AccuracyPredictor

    nb201 = get_space("nb201")
    archs = nb201.enumerate()
    mean, _ = AccuracyPredictor.from_pretrained("surrogate-nb201/accuracy").predict(archs)
    best_first = [archs[i].hash for i in np.argsort(-mean, kind="stable")[: SMALL.initial]]

    def by_convs(arch) -> Measurement:
        return Measurement(0.5 + 0.05 * arch.hash.count("conv_3x3"), None, 1)

    method = NetembedSearch(
        np.random.default_rng(3), SMALL, prior="surrogate-nb201/accuracy", space="nb201", prior_first=True
    )
    result = run_search(method, by_convs, reward, Budget(queries=SMALL.initial + SMALL.batch))
    asked = [e.cell.hash for e in result.evaluations]
    assert asked[: SMALL.initial] == best_first
    assert len(set(asked)) == len(asked) and method.fitted  # then the policy's round, new cells only
    assert method.settings()["prior_first"] is True
    assert "prior_first" not in NetembedSearch(np.random.default_rng(3), SMALL).settings()  # older logs resume


def test_a_prior_first_start_needs_a_prior_and_leaves_a_large_spaces_own_draws_alone(tmp_path, monkeypatch):
    """A space too large to rank whole: the prior ranks random cells drawn from a generator of
    their own, so that the ranking takes nothing from the run's generator."""
    from netembed.models.predictors import AccuracyPredictor, PredictorConfig

    with pytest.raises(SearchError, match="prior_first ranks the initial cells by a prior"):
        NetembedSearch(np.random.default_rng(0), SMALL, prior_first=True)
    cells = [space.cell_at(i) for i in range(0, 4000, 100)]
    sizes = np.log([space.count_params(c) for c in cells])
    AccuracyPredictor(PredictorConfig(members=1, steps=5, epochs=0)).fit(cells, sizes).save_pretrained(tmp_path / "p")
    monkeypatch.setattr(NetembedSearch, "PRIOR_POOL", 200)
    warm = NetembedSearch(np.random.default_rng(0), SMALL, prior=str(tmp_path / "p"), prior_first=True)
    first = [warm.ask(), warm.ask()]  # asked before told (another worker's pace): still two cells
    for cell in first:
        warm.tell(Evaluation(cell, 0.5, None, 1, 0.5, len(warm.told) + 1))
    first.append(warm.ask())
    predicted = AccuracyPredictor.from_pretrained(tmp_path / "p").predict(first)[0]
    assert list(predicted) == sorted(predicted, reverse=True) and len({c.hash for c in first}) == 3
    cold = NetembedSearch(np.random.default_rng(0), SMALL, prior=str(tmp_path / "p"))
    assert warm.rng.bit_generator.state == cold.rng.bit_generator.state  # the ranking drew nothing of the run's
