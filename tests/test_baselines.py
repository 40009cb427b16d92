import itertools

import numpy as np
import pytest

from netembed import Cell
from netembed.search import Evaluation, SearchError
from netembed.search.baselines import (
    BASELINES,
    LocalSearch,
    RandomSearch,
    RegularizedEvolution,
    TPESearch,
    random_spec,
)
from netembed.spaces.nb101.cell import MAX_EDGES, MAX_VERTICES, OPS
from netembed.spaces.nb101.transforms import neighbors

C3 = OPS[0]


def toy_reward(cell: Cell) -> float:
    """More conv3x3 and more edges is better: optimum at 7 vertices, 9 edges, all conv3x3."""
    return cell.ops.count(C3) + cell.num_edges / MAX_EDGES


def evaluation(cell: Cell, reward: float, query: int = 1) -> Evaluation:
    return Evaluation(cell=cell, accuracy=reward, seconds=None, params=0, reward=reward, query=query)


def drive(method, steps: int, reward=toy_reward) -> list[Evaluation]:
    """The harness in small: ask, label new cells, answer repeats from the history, tell."""
    history: dict[str, Evaluation] = {}
    told = []
    for _ in range(steps):
        cell = method.ask()
        if cell.hash not in history:
            history[cell.hash] = evaluation(cell, reward(cell), query=len(history) + 1)
        method.tell(history[cell.hash])
        told.append(history[cell.hash])
    return told


def make(name: str, seed: int, **settings):
    return BASELINES[name](np.random.default_rng(seed), **settings)


STEPS = {"random": 50, "regularized_evolution": 130, "local_search": 80, "tpe": 40}


def test_registry_holds_exactly_the_four_baselines():
    assert set(BASELINES) == {"random", "regularized_evolution", "local_search", "tpe"}
    assert all(cls.name == name for name, cls in BASELINES.items())


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_baseline_asks_valid_cells_reproducibly(name):
    first = drive(make(name, 1), STEPS[name])
    again = drive(make(name, 1), STEPS[name])
    other = drive(make(name, 2), STEPS[name])
    for told in first:
        assert isinstance(told.cell, Cell)
        assert told.cell.num_vertices <= MAX_VERTICES and told.cell.num_edges <= MAX_EDGES
        assert Cell(told.cell.matrix, told.cell.ops) == told.cell
    assert [e.cell.hash for e in again] == [e.cell.hash for e in first]
    assert [e.cell.hash for e in other] != [e.cell.hash for e in first]


@pytest.mark.parametrize("name", sorted(STEPS))
def test_ask_and_tell_must_alternate_about_the_same_cell(name):
    method = make(name, 0)
    with pytest.raises(SearchError, match="tell must follow an ask"):
        method.tell(evaluation(random_spec(np.random.default_rng(5)), 0.0))
    cell = method.ask()
    with pytest.raises(SearchError, match="must alternate"):
        method.ask()
    stranger = next(n.cell for n in neighbors(cell))
    with pytest.raises(SearchError, match="cell of the last ask"):
        method.tell(evaluation(stranger, 0.0))
    method.tell(evaluation(cell, 0.0))
    assert isinstance(method.ask(), Cell)


# -- random_spec ---------------------------------------------------------------------------------


def test_random_spec_follows_nasbench_sampling_not_the_uniform_one():
    rng = np.random.default_rng(0)
    cells = [random_spec(rng) for _ in range(300)]
    sizes = np.array([cell.num_vertices for cell in cells])
    # coin-flip 7x7 specs only fit in 9 edges once pruned, so small cells dominate; uniform
    # sampling of the unique cells gives 7 vertices to 85% of them
    assert (sizes < MAX_VERTICES).mean() > 0.9
    assert len(set(sizes)) >= 4
    # many specs prune to the same small cell: repeats are common, unlike under space.random_cell
    assert len({cell.hash for cell in cells}) < 290


def test_random_search_asks_random_spec_cells():
    asked = [e.cell for e in drive(RandomSearch(np.random.default_rng(3)), 20)]
    rng = np.random.default_rng(3)
    assert asked == [random_spec(rng) for _ in range(20)]


# -- regularized evolution -----------------------------------------------------------------------


def test_evolution_starts_with_population_size_random_cells_then_mutates():
    method = RegularizedEvolution(np.random.default_rng(4))
    rng = np.random.default_rng(4)
    expected = [random_spec(rng) for _ in range(100)]
    for step, cell in enumerate(expected):
        assert method.ask() == cell
        assert method.last_mutation is None
        method.tell(evaluation(cell, toy_reward(cell), step + 1))
    method.ask()
    assert method.last_mutation is not None


def test_evolution_population_ages_out_the_oldest_and_keeps_repeats():
    method = RegularizedEvolution(np.random.default_rng(5), population_size=20, tournament_size=5)
    told = []
    for step, told_one in enumerate(drive_steps(method, 60)):
        told.append(told_one)
        assert len(method.population) == min(step + 1, 20)
        assert [member.cell for member in method.population] == [e.cell for e in told[-20:]]
    # repeats are told (free) and still join the population, as in the official code
    cells = [e.cell.hash for e in told]
    assert len(set(cells)) < len(cells)


def drive_steps(method, steps):
    """`drive`, one told evaluation at a time."""
    history: dict[str, Evaluation] = {}
    for _ in range(steps):
        cell = method.ask()
        history.setdefault(cell.hash, evaluation(cell, toy_reward(cell), len(history) + 1))
        method.tell(history[cell.hash])
        yield history[cell.hash]


def test_evolution_children_differ_from_parents_in_a_few_raw_bits():
    method = RegularizedEvolution(np.random.default_rng(6), population_size=30, tournament_size=5)
    distances = []
    for told in drive_steps(method, 330):
        if method.last_mutation is not None:
            parent, child = method.last_mutation
            assert method.population[-1].cell == child == told.cell
            distances.append(int((method.population[-1].spec != parent.spec).sum()))
            # the raw spec is what produced the cell (unpruned), and it is a valid spec
            assert Cell.from_flat(method.population[-1].spec) == child
    # official rates: 21 bits at 1/7 and 5 ops at 1/5, so about 4 changes before validity
    assert 1 <= np.mean(distances) <= 6
    assert max(distances) <= 15


def test_evolution_parent_is_the_tournament_winner():
    # a tournament of the whole population always picks its best member
    method = RegularizedEvolution(np.random.default_rng(7), population_size=15, tournament_size=15)
    drive(method, 15)
    best = max(member.reward for member in method.population)
    method.ask()
    parent, _ = method.last_mutation
    assert parent.reward == best and parent in method.population


def test_evolution_improves_on_its_random_start():
    told = drive(RegularizedEvolution(np.random.default_rng(8)), 400)
    rewards = np.array([e.reward for e in told])
    assert rewards[-100:].mean() > rewards[:100].mean() + 0.5


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"population_size": 0}, "population_size"),
        ({"population_size": 5, "tournament_size": 6}, "tournament_size"),
        ({"mutation_rate": 0}, "mutation_rate"),
        ({"edge_mutation_prob": 1.5}, "edge_mutation_prob"),
    ],
)
def test_evolution_rejects_settings_that_cannot_run(settings, match):
    with pytest.raises(SearchError, match=match):
        RegularizedEvolution(np.random.default_rng(0), **settings)


# -- local search --------------------------------------------------------------------------------


def test_local_search_evaluates_all_neighbors_then_moves_to_the_best():
    method = LocalSearch(np.random.default_rng(9))
    start = method.ask()
    method.tell(evaluation(start, toy_reward(start)))
    assert method.current == (start, toy_reward(start))
    expected = {n.cell.hash for n in neighbors(start)}
    asked = []
    for _ in expected:
        cell = method.ask()
        asked.append(cell)
        method.tell(evaluation(cell, toy_reward(cell)))
    assert {cell.hash for cell in asked} == expected and len(asked) == len(expected)
    best = max(toy_reward(cell) for cell in asked)
    assert best > toy_reward(start)  # the toy objective always has an uphill move from a random cell
    moved_to, reward = method.current
    assert reward == best and toy_reward(moved_to) == best and moved_to in asked
    nxt = method.ask()
    assert nxt.hash in {n.cell.hash for n in neighbors(moved_to)}
    assert method.restarts == 0


def test_local_search_restarts_at_a_local_optimum():
    method = LocalSearch(np.random.default_rng(10))
    start = method.ask()

    def peak(cell: Cell) -> float:  # the start is a strict local optimum
        return 1.0 if cell == start else 0.0

    method.tell(evaluation(start, peak(start)))
    for _ in range(len(neighbors(start))):
        cell = method.ask()
        assert cell != start
        method.tell(evaluation(cell, peak(cell)))
    assert method.restarts == 1
    fresh = method.ask()
    method.tell(evaluation(fresh, peak(fresh)))
    assert method.current[0] == fresh


def test_local_search_only_moves_uphill_between_restarts():
    method = LocalSearch(np.random.default_rng(11))
    path = []
    for _ in drive_steps(method, 300):
        path.append((method.restarts, method.current))
    moves = 0
    for (restarts, current), (next_restarts, next_current) in itertools.pairwise(path):
        if current is None or next_current is None:  # a restart: the next start is not a move
            assert next_current is not None or next_restarts == restarts + 1
            continue
        assert next_restarts == restarts
        if next_current[0] != current[0]:
            assert next_current[1] > current[1]
            moves += 1
    assert moves > 0 and path[-1][0] > 0


# -- TPE -----------------------------------------------------------------------------------------


def test_tpe_resamples_invalid_draws_and_maps_params_in_flat_order():
    method = TPESearch(np.random.default_rng(12))
    told = drive(method, 40)
    assert method.invalid_samples > 0  # about a quarter of uniform draws are not cells
    trials = method.study.trials
    assert len(trials) == 40 + method.invalid_samples
    valid = [t for t in trials if t.value != -np.inf]
    assert len(valid) == 40
    for trial, told_one in zip(valid, told):
        flat = [trial.params[f"e{k}"] for k in range(21)] + [OPS.index(trial.params[f"op{k}"]) for k in range(5)]
        assert Cell.from_flat(flat) == told_one.cell
        assert trial.value == told_one.reward
    assert all(Cell.from_flat(told_one.cell.to_flat()) == told_one.cell for told_one in told)


def test_tpe_falls_back_to_random_spec_when_stuck_on_invalid_draws():
    method = TPESearch(np.random.default_rng(13), max_invalid=1)
    told = drive(method, 30)
    assert method.fallbacks > 0
    assert len(method.study.trials) == 30 + method.invalid_samples
    assert all(isinstance(e.cell, Cell) for e in told)


def test_tpe_rejects_settings_that_cannot_run():
    with pytest.raises(SearchError, match="n_startup_trials"):
        TPESearch(np.random.default_rng(0), n_startup_trials=-1)
    with pytest.raises(SearchError, match="max_invalid"):
        TPESearch(np.random.default_rng(0), max_invalid=0)
