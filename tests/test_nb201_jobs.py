"""Every job on NAS-Bench-201: encoder, predictors, baselines, the controller, a search end to end
(from Python and the command line), on a synthetic table in the benchmark's format."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import netembed
from netembed import spaces
from netembed.errors import DataError, SearchError
from netembed.models.encoder import CellEncoder, EncoderConfig
from netembed.models.graph import cells_to_batch, dense_cells
from netembed.models.predictors import AccuracyPredictor, PredictorConfig
from netembed.search import Budget, run_search
from netembed.search.baselines import BASELINES, RegularizedEvolution
from netembed.search.controller import ControllerConfig, NetembedSearch
from netembed.search.evaluators import Measurement, NB201TableEvaluator
from netembed.search.objective import Objective, Reward
from netembed.spaces import SpaceError
from netembed.spaces.nb201 import Arch, Table

from .test_spaces import synthetic_table

NB201 = spaces.get("nb201")
SMALL = ControllerConfig(initial=5, jumps=20, lookahead=3, fit_steps=30, refresh_steps=10, members=2)


@pytest.fixture(scope="module")
def table_path(tmp_path_factory):
    return synthetic_table(tmp_path_factory.mktemp("nb201") / "nb201.npz")


@pytest.fixture(scope="module")
def table(table_path) -> Table:
    return Table.load(table_path)


def convs(arch: Arch) -> float:
    """A made-up accuracy: more 3x3 convs is better."""
    return 0.5 + arch.ops.count("nor_conv_3x3") / 20


class Made:
    name = "made-up"

    def __call__(self, arch: Arch) -> Measurement:
        return Measurement(convs(arch), None, NB201.count_params(arch))


# -- encoder and predictors ------------------------------------------------------------------------


def test_the_encoder_reads_nb201_graph_views_sparse_and_dense_alike():
    torch.manual_seed(0)
    encoder = CellEncoder(EncoderConfig(space="nb201")).eval()
    archs = [NB201.random(np.random.default_rng(s)) for s in range(12)]
    with torch.no_grad():
        dense, sparse = encoder(dense_cells(archs, NB201)), encoder(cells_to_batch(archs, NB201))
    assert torch.allclose(dense, sparse, atol=1e-5)
    assert torch.allclose(encoder.embed(archs[:1]), encoder.embed(archs)[:1], atol=1e-6)


def test_the_shipped_encoders_name_their_spaces():
    # encoder-nb101 was saved before spaces (schema 1): its upgrade makes it NAS-Bench-101's
    assert CellEncoder.from_pretrained("encoder-nb101").config.space == "nb101"
    encoder = CellEncoder.from_pretrained("encoder-nb201")
    assert encoder.config.space == "nb201" and encoder.embed(NB201.enumerate()[:3]).shape == (3, 16)


def test_a_config_names_its_space_and_another_space_is_refused(tmp_path):
    with pytest.raises(SpaceError, match="space must be one of nb101, nb201"):
        CellEncoder(EncoderConfig(space="nb999"))
    nb101_encoder = CellEncoder(EncoderConfig())
    nb101_encoder.save_pretrained(tmp_path / "enc")
    archs = [NB201.random(np.random.default_rng(s)) for s in range(8)]
    model = AccuracyPredictor(PredictorConfig(space="nb201", members=1, steps=2, epochs=0, forest=0.0))
    with pytest.raises(SpaceError, match="init must be a model of space nb201, got one of space nb101"):
        model.fit(archs, np.linspace(0.5, 0.9, 8), init=tmp_path / "enc")
    with pytest.raises(SpaceError, match="init must be an encoder of space nb201, got one of nb101"):
        NetembedSearch(np.random.default_rng(0), init=str(tmp_path / "enc"), space="nb201")


def test_a_predictor_learns_nb201_with_its_feature_view(table):
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(table))
    archs = [table.arch_at(int(r)) for r in rows[:300]]
    labels = table.val["cifar10"][rows[:300]]
    model = AccuracyPredictor(PredictorConfig(space="nb201", members=2, steps=150, epochs=0)).fit(archs, labels)
    assert float(model.forest_weight) > 0  # the structure-feature view blends in at 300 labels
    test = [table.arch_at(int(r)) for r in rows[300:800]]
    mean, std = model.predict(test)
    from scipy.stats import kendalltau

    assert kendalltau(mean, table.val["cifar10"][rows[300:800]]).statistic > 0.6 and (std >= 0).all()
    with pytest.raises(Exception, match="cells must be Arch objects \\(nb201\\), got a Cell"):
        model.fit([spaces.get("nb101").random(rng)] * 2, [0.5, 0.6])


# -- methods ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_every_baseline_searches_nb201_in_the_harness(name):
    method = BASELINES[name](np.random.default_rng(1), space="nb201")
    result = run_search(method, Made(), Objective("reward"), Budget(queries=40), seed=1)
    assert len(result.evaluations) == 40 and all(isinstance(e.cell, Arch) for e in result.evaluations)
    assert method.settings()["space"] == "nb201"


def test_evolution_sizes_its_population_for_nb201_budgets_and_mutates_one_edge():
    method = RegularizedEvolution(np.random.default_rng(0), space="nb201")
    assert (method.population_size, method.tournament_size) == (10, 3)
    result = run_search(method, Made(), Objective("reward"), Budget(queries=30))
    parent, child = method.last_mutation
    assert sum(a != b for a, b in zip(parent.cell.ops, child.ops)) == 1
    assert max(convs(e.cell) for e in result.evaluations) > min(convs(e.cell) for e in result.evaluations)


def test_the_controller_searches_nb201_with_its_move_kinds():
    method = NetembedSearch(np.random.default_rng(0), SMALL, space="nb201")
    assert method.kinds == (*NB201.move_kinds, "jump") and method.settings()["space"] == "nb201"
    result = run_search(method, Made(), Objective("reward"), Budget(queries=30), seed=0)
    assert len({e.cell for e in result.evaluations}) == 30
    assert max(convs(e.cell) for e in result.evaluations[10:]) >= max(convs(e.cell) for e in result.evaluations[:10])


# -- a search end to end ---------------------------------------------------------------------------


def test_a_search_reads_validation_and_reports_the_test_accuracy_of_its_picks(table_path, table, tmp_path):
    spec = netembed.SearchSpec(
        method="regularized_evolution", evaluator="table", budget=Budget(queries=25), space="nb201",
        dataset="imagenet16", data=str(table_path),
    )  # fmt: skip
    report = netembed.run(spec, tmp_path / "run")
    best = report.rows[0]
    row = table.row_of(best["arch"])
    assert best["accuracy"] == pytest.approx(float(table.val["imagenet16"][row]))
    assert best["test_accuracy"] == pytest.approx(float(table.test["imagenet16"][row]))
    assert "12 epochs" in report.text() and best["arch"] in report.text()
    logged = [json.loads(line) for line in (tmp_path / "run" / "queries.jsonl").read_text().splitlines()]
    assert logged[0]["space"] == "nb201" and logged[0]["dataset"] == "imagenet16" and "arch" in logged[1]
    longer = netembed.SearchSpec(**{**spec.__dict__, "budget": Budget(queries=35)})
    resumed = netembed.run(longer, tmp_path / "run", resume=True)
    assert [e.cell for e in resumed.result.evaluations[:25]] == [e.cell for e in report.result.evaluations]
    assert len(resumed.result.evaluations) == 35


def test_a_latency_cost_reads_the_devices_column_and_the_pick_is_checked_against_the_table(table_path, table, tmp_path):
    latency = table.latency["phone_x"]
    target = float(np.median(latency))
    spec = netembed.SearchSpec(
        method="random", evaluator="table", budget=Budget(queries=20), space="nb201", data=str(table_path),
        objective=Objective(reward=Reward("hard", "latency:phone_x", target)),
    )  # fmt: skip
    report = netembed.run(spec, tmp_path / "run")
    for e in report.result.evaluations:
        row = table.row_of(e.cell)
        assert e.latency == pytest.approx(float(latency[row]))
        assert e.reward == pytest.approx(e.accuracy * min(1.0, target / e.latency))
    within = report.payload["within_budget"]
    fits = [e for e in report.result.evaluations if e.latency <= target]
    assert within["queried_within"] == len(fits) > 0
    best = within["best"]
    assert best["accuracy"] == max(e.accuracy for e in fits) and best["latency"] <= target
    row, test = table.row_of(best["arch"]), table.test["cifar10"]
    assert best["true_accuracy"] == pytest.approx(float(test[row]))
    assert best["table_best_within"] == pytest.approx(float(test[latency <= target].max()))
    assert best["true_rank_within"] == 1 + int(np.count_nonzero(test[latency <= target] > test[row]))
    assert "ms" in report.text() and "whose best is" in report.text()
    # the log keeps each query's latency: a resumed run replays them as they were
    longer = netembed.SearchSpec(**{**spec.__dict__, "budget": Budget(queries=25)})
    resumed = netembed.run(longer, tmp_path / "run", resume=True)
    assert [e.latency for e in resumed.result.evaluations[:20]] == [e.latency for e in report.result.evaluations]


def test_a_latency_constraint_can_read_a_model_adapted_from_ten_timings_and_the_pick_is_checked(
    table_path, table, tmp_path
):
    """The search reads the model's milliseconds at its 0.95 quantile (by default), never the
    table's column; the report names the model, its quantile and its 10 timings, and checks the
    pick against the column."""
    from netembed.models.latency import LatencyPrior

    archs = [table.arch_at(i) for i in range(len(table))]
    features = NB201.feature_inputs(archs)
    column = table.latency["phone_x"].astype(np.float64)
    # a prior from made-up devices (the synthetic table's two devices are the same one)
    others = {f"d{k}": column ** (0.5 + k / 4) * np.exp(0.1 * k * features[:, 0]) for k in range(4)}
    rows = np.random.default_rng(0).choice(len(table), 10, replace=False)
    model = LatencyPrior.learn(features, others, space="nb201").adapt(features[rows], column[rows], "phone_x")
    model.save_pretrained(tmp_path / "phone_x", {"timings": 10})
    target = float(np.median(column))
    spec = netembed.SearchSpec(
        method="random", evaluator="table", budget=Budget(queries=20), space="nb201", data=str(table_path),
        objective=Objective(reward=Reward("hard", "latency:phone_x", target)), latency_model=str(tmp_path / "phone_x"),
    )  # fmt: skip
    report = netembed.run(spec, tmp_path / "run")
    features = NB201.feature_inputs([e.cell for e in report.result.evaluations])
    assert [e.latency for e in report.result.evaluations] == pytest.approx(model.ms(features, 0.95))
    assert (model.ms(features, 0.95) > model.ms(features)).all()  # an upper bound: the spread is not zero
    median = netembed.run(netembed.SearchSpec(**{**spec.__dict__, "latency_quantile": 0.5}), tmp_path / "median")
    assert [e.latency for e in median.result.evaluations] == pytest.approx(model.ms(features))
    assert [e.latency for e in report.result.evaluations] != pytest.approx(
        [float(column[table.row_of(e.cell)]) for e in report.result.evaluations]
    )  # the model's, not the table's
    within = report.payload["within_budget"]["best"]
    assert within["latency"] <= target and within["true_cost"] == pytest.approx(column[table.row_of(within["arch"])])
    assert report.payload["settings"]["latency_model"] == {
        "model": str(tmp_path / "phone_x"), "timings": 10, "quantile": 0.95
    }  # fmt: skip
    assert "at its 0.95 quantile, adapted from 10 timings" in report.text()
    with pytest.raises(SearchError, match="must predict nb201 latencies on fpga .*got nb201 latencies on phone_x"):
        netembed.run(
            netembed.SearchSpec(
                **{**spec.__dict__, "objective": Objective(reward=Reward("hard", "latency:fpga", 1.0))}
            ),
            tmp_path / "other",
        )
    with pytest.raises(SearchError, match="--latency-model predicts a latency:DEVICE cost, got --cost 'params'"):
        netembed.SearchSpec(**{**spec.__dict__, "objective": Objective(reward=Reward("hard", "params", 1e6))})
    for bad in (1.0, 0, True, "0.9"):
        with pytest.raises(SearchError, match=f"--latency-quantile must be in \\(0, 1\\), got {bad!r}"):
            netembed.SearchSpec(**{**spec.__dict__, "latency_quantile": bad})
    assert not (tmp_path / "other").exists()


def test_a_surrogate_searches_nb201_without_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("NETEMBED_NB201_DATA", str(tmp_path / "absent.npz"))
    spec = netembed.SearchSpec(method="random", budget=Budget(queries=6), space="nb201")
    assert spec.evaluator == "surrogate" and spec.models[0] == "surrogate-nb201/accuracy"
    report = netembed.run(spec, tmp_path / "run")
    predictor = AccuracyPredictor.from_pretrained("surrogate-nb201/accuracy")
    cells = [e.cell for e in report.result.evaluations]
    predicted = np.clip(predictor.predict(cells)[0], 0, 1)
    assert [e.accuracy for e in report.result.evaluations] == pytest.approx(predicted.tolist(), abs=1e-6)
    assert [e.params for e in report.result.evaluations] == [NB201.count_params(c) for c in cells]
    assert report.payload["settings"]["dataset"] == "cifar10" and report.rows[0]["test_accuracy"] is None
    assert "no table found" in report.text() and "a surrogate's prediction" in report.text()


def test_workers_share_a_nb201_study_and_its_trials_show_the_edges(table_path, tmp_path):
    import optuna

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    spec = netembed.SearchSpec(
        method="random", evaluator="table", budget=Budget(queries=8), space="nb201", data=str(table_path),
        storage=storage,
    )  # fmt: skip
    report = netembed.run(spec, tmp_path / "run")
    assert len(report.result.evaluations) == 8
    trials = optuna.load_study(study_name="netembed", storage=storage).get_trials()
    assert all(
        NB201.from_params(t.params).hash == t.user_attrs["claim"]["hash"] == t.user_attrs["arch"] for t in trials
    )
    assert set(trials[0].params) == {"edge_0_1", "edge_0_2", "edge_1_2", "edge_0_3", "edge_1_3", "edge_2_3"}
    other = netembed.SearchSpec(method="random", budget=Budget(queries=8), storage=storage)  # nb101, no table
    with pytest.raises(SearchError, match="was started with other settings .*space"):
        netembed.run(other, tmp_path / "other")


@pytest.mark.parametrize(
    ("fields", "error", "rule"),
    [
        ({"evaluator": "train"}, SearchError, "a nb201 search reads its table or a surrogate: evaluator must be"),
        ({"space": "nb101", "dataset": "cifar10"}, SearchError, "--dataset is for nb201"),
        ({"space": "nb301"}, SpaceError, "space must be one of nb101, nb201"),
        ({"objective": Objective(reward=Reward("soft", "seconds", 100.0))}, SearchError, "nb201 has no training times"),
        (
            {"evaluator": "surrogate", "objective": Objective(reward=Reward("hard", "latency:fpga", 3.0))},
            SearchError,
            "a latency cost is read from the table \\(evaluator 'table'\\) or predicted by --latency-model, got evaluator 'surrogate'",
        ),
        (
            {"space": "nb101", "objective": Objective(reward=Reward("hard", "latency:fpga", 3.0))},
            SearchError,
            "NAS-Bench-101 has no latencies: --cost must be seconds or params, got 'latency:fpga'",
        ),
    ],
)
def test_a_search_spec_refuses_what_the_space_cannot_do(fields, error, rule):
    with pytest.raises(error, match=rule):
        netembed.SearchSpec(**{"evaluator": "table", "space": "nb201", **fields})


def test_an_unknown_data_set_is_refused_naming_the_ones_there(table):
    with pytest.raises(DataError, match="data set must be one of cifar10, imagenet16 .*got 'cifar100'"):
        NB201TableEvaluator(table, "cifar100")


def _cli(*args):
    env = {"PATH": "/usr/bin:/bin", "NETEMBED_THREADS": "1", "HOME": "/tmp"}
    return subprocess.run(
        [sys.executable, "-m", "netembed.cli", *args], check=False, capture_output=True, text=True, env=env, timeout=300
    )


def test_the_command_line_queries_and_searches_nb201(table_path, table, tmp_path):
    data = ["--space", "nb201", "--data", str(table_path)]
    info = _cli("info", *data, "--format", "json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["table"]["devices"] == ["fpga", "phone_x"]
    query = _cli("query", *data, "17", "--dataset", "imagenet16", "--format", "json")
    assert query.returncode == 0, query.stderr
    payload = json.loads(query.stdout)
    assert payload["index"] == 17 and payload["arch"] == table.arch_at(17).hash
    assert payload["val"] == {"imagenet16": pytest.approx(float(table.val["imagenet16"][17]))}
    near = _cli("neighbors", *data, payload["arch"], "--format", "json")
    assert near.returncode == 0 and len(json.loads(near.stdout)) == 24
    search = _cli("search", *data, "--evaluator", "table", "--budget", "12", "--method", "random",
                  "--out", str(tmp_path / "s"), "--format", "json")  # fmt: skip
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)["queries"] == 12
    compared = _cli("compare", *data, "--dataset", "imagenet16", "--methods", "random", "tpe", "--seeds", "1",
                    "--budget", "15", "--out", str(tmp_path / "c"), "--format", "json")  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    assert [r["method"] for r in json.loads(compared.stdout)] == ["random", "tpe"]
    for args, rule in (
        (("query", *data, "|x~0|"), "architecture string must have 3 nodes"),
        (("query", *data, "1", "--dataset", "svhn"), "data set must be one of cifar10, imagenet16"),
        (
            (
                "search",
                *data,
                "--evaluator",
                "table",
                "--reward",
                "hard",
                "--cost",
                "latency:tpu",
                "--cost-target",
                "2",
                "--out",
                str(tmp_path / "t"),
            ),
            "device must be one of fpga, phone_x",
        ),
        (
            ("search", *data, "--dataset", "imagenet16", "--out", str(tmp_path / "t")),
            "the surrogate surrogate-nb201/accuracy predicts cifar10 validation accuracy",
        ),
        (
            ("search", *data, "--accuracy-model", "surrogate-nb101/accuracy", "--out", str(tmp_path / "t")),
            "a nb201 search needs models of its space",
        ),
    ):
        refused = _cli(*args)
        assert refused.returncode == 2 and rule in refused.stderr and "Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "t").exists()


def test_compare_runs_nb201_side_by_side_and_reports_the_test_accuracy_of_the_picks(table_path, table, tmp_path):
    from netembed.benchmarks import compare

    methods, seeds = ["random", "regularized_evolution"], [0, 1]
    runs = compare.run_compare(
        methods, seeds, 30, tmp_path / "c", data=str(table_path), progress=False, space="nb201", dataset="cifar10"
    )
    assert all(len(r.accuracy) == len(r.test) == 30 for r in runs)
    pairs = set(zip(table.val["cifar10"].tolist(), table.test["cifar10"].tolist()))
    assert all((a, t) in pairs for r in runs for a, t in zip(r.accuracy, r.test))  # each query's own row
    rows, text = compare.write_report(runs, table, tmp_path / "c", "cifar10")
    goal = float(np.sort(table.val["cifar10"])[-10])
    assert [r["method"] for r in rows] == methods and rows[0]["goal"] == goal
    for row in rows:
        mine = [r for r in runs if r.method == row["method"]]
        picks = [r.test[int(np.argmax(r.accuracy[:30]))] for r in mine]
        assert row["test_of_pick"]["30"] == pytest.approx(np.mean(picks))
        assert row["reached_top"] == sum(max(r.accuracy) >= goal for r in mine)
    assert "12-epoch" in text and (tmp_path / "c" / "search.png").exists()
    reused = compare.run_compare(
        methods, seeds, 30, tmp_path / "c", data=str(table_path), progress=False, space="nb201", dataset="cifar10"
    )
    assert [r.accuracy for r in reused] == [r.accuracy for r in runs]
    with pytest.raises(SearchError, match="objective reward"):
        compare.run_compare(methods, seeds, 30, tmp_path / "d", data=str(table_path), space="nb201",
                            dataset="cifar10", objective="pareto")  # fmt: skip


def test_compare_runs_a_warm_netembed_only_on_labels_its_surrogate_has_not_seen(table_path, tmp_path):
    """netembed+warm starts from surrogate-nb201 (CIFAR-10 labels): a transfer to another data set
    is compared, the data set it was trained on (or NAS-Bench-101's table) is refused."""
    from netembed.benchmarks import compare

    def warm(dataset: str, out: str):
        return compare.run_compare(
            ["netembed+warm"], [0], 3, tmp_path / out, data=str(table_path), progress=False, space="nb201",
            dataset=dataset,
        )  # fmt: skip

    [run] = warm("imagenet16", "ok")
    assert run.settings["prior"] == "surrogate-nb201/accuracy" and run.settings["prior_first"] is True
    assert len(run.accuracy) == 3
    with pytest.raises(SearchError, match="trained on the cifar10_val labels being measured"):
        warm("cifar10", "refused")
    assert not (tmp_path / "refused").exists()
    with pytest.raises(SearchError, match="a transfer needs another data set"):
        compare.check_methods(["random", "netembed+warm"], "reward")
