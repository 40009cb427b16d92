import json
from pathlib import Path

import numpy as np
import pytest
import torch

from netembed import Cell
from netembed.cli import main
from netembed.errors import NetembedError
from netembed.models.predictors import TIME_TRAINING, PredictorConfig
from netembed.spaces.nb101 import space, transforms
from netembed.spaces.nb101.inspect import parse_cell

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SMALL = '{"matrix": [[0, 1, 1], [0, 0, 1], [0, 0, 0]], "ops": ["input", "maxpool3x3", "output"]}'


@pytest.fixture
def no_table(tmp_path, monkeypatch):
    monkeypatch.setenv("NETEMBED_DATA", str(tmp_path / "absent"))


@pytest.fixture
def small_table(tmp_path, arrays, monkeypatch):
    """A synthetic table holding the 3-vertex cell and all its neighbours."""
    cell = parse_cell(SMALL)
    rows = np.sort([space.index_of(cell)] + [space.index_of(n.cell) for n in transforms.neighbors(cell)])
    folder = tmp_path / "table"
    folder.mkdir()
    np.savez(
        folder / "nb101_full.npz",
        hash=arrays.hashes[rows],
        adjacency=arrays.adjacency[rows],
        ops=arrays.ops[rows],
        num_vertices=arrays.num_vertices[rows],
        test_acc_108=np.linspace(0.8, 0.9, len(rows), dtype=np.float32),
        params=np.array([space.count_params(space.cell_at(int(r))) for r in rows]),
    )
    monkeypatch.setenv("NETEMBED_DATA", str(folder))
    return folder


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_without_and_with_the_table(capsys, no_table, small_table):
    code, out, _ = run(capsys, "info", "--format", "json", "--data", str(small_table))
    info = json.loads(out)
    assert code == 0 and info["space"]["cells"] == 423_624 and info["table"]["rows"] == 12
    assert info["space"]["by_vertices"]["7"] == 359_082


def test_info_says_where_to_put_the_table(capsys, no_table):
    code, out, _ = run(capsys, "info")
    assert code == 0 and "423,624 unique cells" in out and "NETEMBED_DATA" in out


def test_query_a_cell_as_json_text_file_or_hash(capsys, small_table, tmp_path):
    code, out, _ = run(capsys, "query", SMALL, "--format", "json")
    result = json.loads(out)
    assert code == 0 and result["hash"] == parse_cell(SMALL).hash
    assert result["params"] == space.count_params(parse_cell(SMALL)) == result["table"]["params"]
    path = tmp_path / "cell.json"
    path.write_text(SMALL)
    assert json.loads(run(capsys, "query", str(path), "--format", "json")[1])["hash"] == result["hash"]
    code, out, _ = run(capsys, "query", result["hash"])
    assert code == 0 and "test_acc_108" in out and result["hash"] in out


def test_query_without_the_table_still_describes_the_cell(capsys, no_table):
    code, out, _ = run(capsys, "query", SMALL, "--format", "json")
    assert code == 0 and "table" not in json.loads(out)


def test_neighbors(capsys, small_table):
    code, out, _ = run(capsys, "neighbors", SMALL, "--format", "json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 11 and all("test_acc_108" in r for r in rows)
    assert {r["family"] for r in rows} == {"widen", "deepen", "rewire"}
    for r in rows:
        Cell(r["matrix"], r["ops"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["query", "{not json"], "invalid JSON in argument"),
        (["query", '{"matrix": [[0]]}'], "exactly the keys 'matrix' and 'ops'"),
        (["query", "[1, 2]"], "exactly the keys 'matrix' and 'ops', got list"),
        (["query", '{"matrix": [[0, 1], [0, 0]], "ops": ["input", "conv"]}'], "ops[1] must be one of"),
        (["query", "0" * 32], "not found"),
        (["neighbors", '{"matrix": [[0, 1], [0, 1]], "ops": ["input", "output"]}'], "strictly upper-triangular"),
        (["data", "convert", "/nonexistent.tfrecord", "/tmp/out.npz", "--quiet"], "nonexistent"),
    ],
)
def test_user_mistakes_exit_2_with_one_line_and_no_traceback(capsys, no_table, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_unknown_hash_with_a_table(capsys, small_table):
    code, _, err = run(capsys, "query", "f" * 32)
    assert code == 2 and "no cell with hash ffffffff" in err


def test_demo_walks_uphill(capsys, no_table):
    code, out, _ = run(capsys, "demo", "--seed", "3", "--steps", "4")
    assert code == 0 and "fewest parameters" in out
    final = json.loads(out.strip().splitlines()[-1])
    start = space.random_cell(np.random.default_rng(3))
    assert space.count_params(Cell(final["matrix"], final["ops"])) < space.count_params(start)
    code, out, _ = run(capsys, "demo", "--seed", "3", "--steps", "4", "--format", "json")
    walk = json.loads(out)
    assert code == 0 and walk["cells"][-1] == final and walk["scored_by"] == "fewest parameters (no table found)"
    assert walk["scores"] == sorted(walk["scores"]) and len(walk["moves"]) == len(walk["cells"]) - 1


def test_parse_cell_errors_are_project_errors():
    with pytest.raises(NetembedError):
        parse_cell("{")


def test_embed_prints_the_shipped_encoders_embeddings(capsys, tmp_path):
    from netembed.models.encoder import CellEncoder

    path = tmp_path / "cells.json"
    path.write_text(f"[{SMALL}, {SMALL}]")
    code, out, _ = run(capsys, "embed", str(path), "--format", "json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 2 and rows[0] == rows[1]
    expected = CellEncoder.from_pretrained("encoder-nb101").embed([parse_cell(SMALL)])[0]
    assert rows[0]["hash"] == parse_cell(SMALL).hash
    assert np.allclose(rows[0]["embedding"], expected.numpy(), atol=1e-5)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["embed"], "needs a JSON file of cells, or --eval"),
        (["embed", "{}"], "must be a JSON list"),
        (["embed", "[1"], "invalid JSON"),
        (["embed", f"[{SMALL}]", "--model", "no-such-model"], "got 'no-such-model' (available: encoder-nb101,"),
    ],
)
def test_embed_mistakes(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err


def test_train_predictor_on_table_cells(capsys, small_table, tmp_path):
    from netembed.models.predictors import AccuracyPredictor

    out = tmp_path / "predictor"
    code, text, _ = run(
        capsys,
        "train-predictor",
        "--train-size",
        "8",
        "--test-size",
        "4",
        "--members",
        "1",
        "--steps",
        "5",
        "--out",
        str(out),
        "--format",
        "json",
    )
    result = json.loads(text)
    assert code == 0 and result["train_cells"] == 8 and result["test"]["cells"] == 4
    assert (out / "predicted_vs_true.png").exists()
    model = AccuracyPredictor.from_pretrained(out)
    assert model.predict([parse_cell(SMALL)])[0].shape == (1,)
    assert model.config.steps == 5 and model.config.epochs == 0  # --steps: exactly that many
    assert model.config.targets == "normal"


def test_train_predictor_on_a_users_own_cells(capsys, no_table, tmp_path):
    cells = tmp_path / "evaluated.json"
    spec = json.loads(SMALL)
    other = {"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}
    cells.write_text(json.dumps([{**spec, "value": 0.9}, {**other, "value": 0.8}]))
    code, text, _ = run(
        capsys,
        "train-predictor",
        "--cells",
        str(cells),
        "--members",
        "1",
        "--steps",
        "3",
        "--out",
        str(tmp_path / "p"),
        "--format",
        "json",
    )
    assert code == 0 and json.loads(text)["train_cells"] == 2 and "test" not in json.loads(text)


def test_train_predictor_learns_parameter_counts_without_a_table(capsys, no_table, tmp_path):
    from netembed.models import hub

    out = tmp_path / "prior"
    code, text, _ = run(
        capsys,
        "train-predictor",
        "--label",
        "params",
        "--train-size",
        "30",
        "--members",
        "1",
        "--steps",
        "3",
        "--out",
        str(out),
        "--format",
        "json",
    )
    assert code == 0 and json.loads(text)["train_cells"] == 30 and "test" not in json.loads(text)
    meta = hub.read_config(out)["meta"]
    assert meta["target"] == "params" and meta["space_sha256"] == space.space_checksum()
    config = hub.read_config(out)["config"]
    assert config["targets"] == "raw"  # log parameter counts themselves
    assert (
        config["readout"] == PredictorConfig().readout != TIME_TRAINING["readout"]
    )  # a prior needs the predictors' heads
    code, _, _ = run(
        capsys,
        "train-predictor",
        "--label",
        "params",
        "--train-size",
        "30",
        "--members",
        "1",
        "--steps",
        "1",
        "--readout",
        "mean",
        "--out",
        str(out),
        "--force",  # a model is there: replaced only when asked
        "--format",
        "json",
    )
    assert code == 0 and hub.read_config(out)["config"]["readout"] == "mean"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--label", "time"], "needs the training-time file"),
        (["--label", "params", "--cells", "mine.json"], "--label params learns random cells of the space"),
        (["--train-size", "1"], "--train-size must be in [2, 10], got 1"),
        (
            ["--label", "time", "--targets", "normal"],
            "--targets must be raw with --label time (it learns logs), got normal",
        ),
    ],
)
def test_train_predictor_mistakes(capsys, small_table, tmp_path, argv, message):
    code, _, err = run(capsys, "train-predictor", *argv, "--out", str(tmp_path / "p"))
    assert code == 2 and message in err


def test_bench_predictors_writes_rows_csv_and_plot(capsys, tmp_path):
    arrays = space.space_arrays()
    folder = tmp_path / "full"
    folder.mkdir()
    rng = np.random.default_rng(0)
    np.savez(
        folder / "nb101_full.npz",
        hash=arrays.hashes,
        adjacency=arrays.adjacency,
        ops=arrays.ops,
        num_vertices=arrays.num_vertices,
        params=np.zeros(len(arrays), dtype=np.int64),
        test_acc_108=(0.8 + 0.02 * (arrays.ops == 0).sum(axis=1) + rng.normal(0, 0.002, len(arrays))),
    )
    code, out, _ = run(
        capsys,
        "bench",
        "predictors",
        "--data",
        str(folder),
        "--train-sizes",
        "40",
        "--seeds",
        "2",
        "--methods",
        "mlp",
        "gbt",
        "--test-size",
        "200",
        "--out",
        str(tmp_path / "r"),
        "--format",
        "json",
    )
    rows = json.loads(out)
    assert code == 0 and [r["method"] for r in rows] == ["mlp", "gbt"]
    assert {"method", "train_size", "kendall_tau", "spearman", "rmse", "fit_seconds", "kendall_tau_std"} <= set(rows[0])
    assert (tmp_path / "r" / "predictors.png").exists() and (tmp_path / "r" / "predictors_runs.csv").exists()


def test_bench_time_writes_rows_csv_and_plot(capsys, tmp_path):
    from tests.test_predictor_bench import synthetic_times

    arrays = space.space_arrays()
    seconds, params, flops = synthetic_times(len(arrays), 400)
    folder = tmp_path / "full"
    folder.mkdir()
    np.savez(
        folder / "nb101_full.npz",
        hash=arrays.hashes,
        adjacency=arrays.adjacency,
        ops=arrays.ops,
        num_vertices=arrays.num_vertices,
        params=params,
        flops=flops.astype(np.int64),
        test_acc_108=np.full(len(arrays), 0.9),
    )
    args = (
        "bench",
        "time",
        "--data",
        str(folder),
        "--train-sizes",
        "50",
        "--seeds",
        "1",
        "--methods",
        "params",
        "gbt",
        "--pool-size",
        "300",
        "--out",
        str(tmp_path / "r"),
        "--format",
        "json",
    )
    code, _, err = run(capsys, *args)
    assert code == 2 and "needs the training-time file" in err
    np.savez(
        folder / "nb101_train_time_20k.npz",
        index=np.arange(400),
        hash=arrays.hashes[:400],
        train_time_108=seconds[:400],
    )
    code, out, _ = run(capsys, *args)
    rows = json.loads(out)
    assert code == 0 and [r["method"] for r in rows] == ["params", "gbt"]
    assert {"method", "train_size", "kendall_tau", "kendall_tau_std", "mdape_percent", "fit_seconds"} <= set(rows[0])
    assert (tmp_path / "r" / "time.png").exists() and (tmp_path / "r" / "time_runs.csv").exists()


@pytest.fixture(scope="module")
def tiny_surrogate(tmp_path_factory):
    """An accuracy predictor trained by the project's own command on a few synthetic labels."""
    folder = tmp_path_factory.mktemp("surrogate")
    rng = np.random.default_rng(0)
    cells = [space.random_cell(rng) for _ in range(20)]
    labels = [
        {"matrix": c.matrix.tolist(), "ops": list(c.ops), "value": 0.8 + 0.01 * c.ops.count("conv3x3-bn-relu")}
        for c in cells
    ]
    (folder / "cells.json").write_text(json.dumps(labels))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NETEMBED_DATA", str(folder / "absent"))
        assert (
            main(
                [
                    "train-predictor",
                    "--cells",
                    str(folder / "cells.json"),
                    "--members",
                    "2",
                    "--steps",
                    "20",
                    "--out",
                    str(folder / "model"),
                ]
            )
            == 0
        )
    return folder / "model"


def search(capsys, tiny_surrogate, out, *argv):
    return run(
        capsys,
        "search",
        "--accuracy-model",
        str(tiny_surrogate),
        "--time-model",
        str(out / "no-time-model"),
        "--out",
        str(out),
        "--format",
        "json",
        *argv,
    )


def test_search_on_the_surrogate_prints_best_cells_and_writes_log_and_plot(capsys, no_table, tiny_surrogate, tmp_path):
    code, text, _ = search(capsys, tiny_surrogate, tmp_path / "s", "--method", "random", "--budget", "12")
    result = json.loads(text)
    assert code == 0 and result["queries"] == 12 and len(result["best"]) == 5
    rewards = [row["reward"] for row in result["best"]]
    assert rewards == sorted(rewards, reverse=True) and "true_accuracy" not in result["best"][0]
    assert len((tmp_path / "s" / "queries.jsonl").read_text().splitlines()) == 13  # header + 12 queries
    assert (tmp_path / "s" / "best_so_far.png").exists()
    assert json.loads((tmp_path / "s" / "result.json").read_text())["best"] == result["best"]


def test_a_resumed_search_ends_where_an_uninterrupted_one_does(capsys, no_table, tiny_surrogate, tmp_path):
    argv = ("--method", "regularized_evolution", "--seed", "3")
    _, whole, _ = search(capsys, tiny_surrogate, tmp_path / "whole", *argv, "--budget", "15")
    search(capsys, tiny_surrogate, tmp_path / "part", *argv, "--budget", "7")
    code, resumed, _ = search(capsys, tiny_surrogate, tmp_path / "part", *argv, "--budget", "15", "--resume")
    assert code == 0 and json.loads(resumed)["best"] == json.loads(whole)["best"]
    code, _, err = search(capsys, tiny_surrogate, tmp_path / "part", *argv, "--budget", "15")
    assert code == 2 and "already exists: pass --resume" in err
    code, _, err = search(capsys, tiny_surrogate, tmp_path / "part", "--method", "random", "--resume")
    assert code == 2 and "other settings (method" in err


def test_a_resumed_netembed_search_restores_its_checkpoint_and_asks_what_the_uninterrupted_run_asks(
    capsys, no_table, tiny_surrogate, tmp_path
):
    def asked(folder):
        rows = (folder / "queries.jsonl").read_text().splitlines()[1:]
        return [(q["hash"], q["reward"]) for q in map(json.loads, rows)]

    argv = ("--method", "netembed", "--seed", "2")
    search(capsys, tiny_surrogate, tmp_path / "whole", *argv, "--budget", "32")
    search(capsys, tiny_surrogate, tmp_path / "part", *argv, "--budget", "17")  # stops mid-round
    code, text, _ = search(capsys, tiny_surrogate, tmp_path / "part", *argv, "--budget", "32", "--resume")
    resumed = {"logged": 17, "restored": 15, "replayed": 2, "checkpoint": "restored"}
    assert code == 0 and json.loads(text)["resumed"] == resumed
    assert asked(tmp_path / "part") == asked(tmp_path / "whole")

    # a checkpoint that is not this log's, or not a whole state, is set aside: the whole log is
    # replayed, to the same cells
    search(capsys, tiny_surrogate, tmp_path / "other", "--method", "netembed", "--seed", "3", "--budget", "17")
    edited = torch.load(tmp_path / "whole" / "method_state.pt", weights_only=True)
    del edited["state"]["predictor"]["target_mean"]
    torch.save(edited, tmp_path / "edited.pt")
    for folder, seed, checkpoint, why in [
        (tmp_path / "part", "2", b"not a checkpoint", "unreadable checkpoint"),
        (tmp_path / "other", "3", (tmp_path / "whole" / "method_state.pt").read_bytes(), "checkpoint of another log"),
        (tmp_path / "whole", "2", (tmp_path / "edited.pt").read_bytes(), "checkpoint set aside: Error(s) in loading"),
    ]:
        (folder / "method_state.pt").write_bytes(checkpoint)
        budget = str(len(asked(folder)) + 3)
        code, text, _ = search(capsys, tiny_surrogate, folder, "--method", "netembed", "--seed", seed, "--budget", budget,
                               "--resume")  # fmt: skip
        assert code == 0 and json.loads(text)["resumed"]["checkpoint"].startswith(why)
    part, whole = asked(tmp_path / "part"), asked(tmp_path / "whole")
    assert len(part) == 35 and part == whole


def test_a_search_shared_by_worker_processes_is_rejoined_by_the_same_command(
    capsys, no_table, tiny_surrogate, tmp_path
):
    argv = ("--method", "random", "--workers", "2")
    code, text, _ = search(capsys, tiny_surrogate, tmp_path / "s", *argv, "--budget", "6")
    first = json.loads(text)
    assert code == 0 and first["queries"] == 6 and first["shared"]["workers"] == 2
    assert (tmp_path / "s" / "study.db").exists() and not (tmp_path / "s" / "queries.jsonl").exists()
    code, text, _ = search(capsys, tiny_surrogate, tmp_path / "s", *argv, "--budget", "9")  # a larger budget
    assert code == 0 and json.loads(text)["queries"] == 9
    code, _, err = search(capsys, tiny_surrogate, tmp_path / "s", *argv, "--seed", "1")
    assert code == 2 and "other settings (seed: [0] there, [1] now)" in err
    code, _, err = search(capsys, tiny_surrogate, tmp_path / "s", *argv, "--resume")
    assert code == 2 and "rejoined by rerunning the same command" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--workers", "0"], "--workers must be >= 1"),
        (["--storage", "nonsense://x"], "cannot open storage nonsense://x: Can't load plugin"),
    ],
)
def test_shared_search_mistakes(capsys, no_table, tiny_surrogate, tmp_path, argv, message):
    code, _, err = search(capsys, tiny_surrogate, tmp_path / "s", "--method", "random", *argv)
    assert code == 2 and message in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--reward", "soft"], "`Reward.target` is required in soft mode"),
        (["--reward", "soft", "--cost-target", "1500"], "needs a time estimator"),
        (["--evaluator", "table"], "NAS-Bench-101"),
        (["--method", "bayes"], "method must be one of"),
        (["--method", "tpe", "--objective", "pareto"], "tpe has no pareto objective"),
        (["--method", "tpe", "--warm-start", "prior-nb101"], "--warm-start is for the netembed methods, got method"),
        (["--budget", "0"], "budget queries must be a positive integer, got 0"),
    ],
)
def test_search_mistakes(capsys, no_table, tiny_surrogate, tmp_path, argv, message):
    code, _, err = search(capsys, tiny_surrogate, tmp_path / "s", *argv)
    assert code == 2 and message in err
    assert not (tmp_path / "s" / "queries.jsonl").exists()  # nothing half-started to trip a rerun


def test_search_with_a_cost_keeps_the_pareto_front(capsys, no_table, tiny_surrogate, tmp_path):
    code, text, _ = search(
        capsys,
        tiny_surrogate,
        tmp_path / "s",
        "--method",
        "random",
        "--budget",
        "10",
        "--reward",
        "soft",
        "--cost",
        "params",
        "--cost-target",
        "1e6",
    )
    front = json.loads(text)["pareto_front"]
    assert code == 0 and front
    params = [f["params"] for f in front]
    accuracy = [f["accuracy"] for f in front]
    assert params == sorted(params) and accuracy == sorted(accuracy)  # cheaper points are less accurate


def test_a_search_under_a_hard_budget_reports_the_most_accurate_cell_that_fits(
    capsys, no_table, tiny_surrogate, tmp_path
):
    argv = ("--method", "random", "--budget", "12", "--reward", "hard", "--cost", "params", "--cost-target", "5e6")
    code, text, _ = search(capsys, tiny_surrogate, tmp_path / "s", *argv)
    row = json.loads(text)["within_budget"]
    logged = [json.loads(line) for line in (tmp_path / "s" / "queries.jsonl").read_text().splitlines()[1:]]
    fits = [q for q in logged if q["params"] <= 5e6]
    assert code == 0 and row["queried_within"] == len(fits) and (row["cost"], row["target"]) == ("params", 5e6)
    assert 0 < len(fits) < 12  # seed 0's random cells fall on both sides of the budget
    assert row["best"]["accuracy"] == max(q["accuracy"] for q in fits) and row["best"]["params"] <= 5e6


def test_compare_runs_every_method_and_reuses_finished_runs(capsys, tmp_path, arrays, monkeypatch):
    from netembed.benchmarks import compare

    folder = tmp_path / "full"
    folder.mkdir()
    accuracy = 0.85 + 0.02 * (arrays.ops == 0).sum(axis=1) / 5 + np.linspace(0, 0.001, len(arrays))
    np.savez(
        folder / "nb101_full.npz",
        hash=arrays.hashes,
        adjacency=arrays.adjacency,
        ops=arrays.ops,
        num_vertices=arrays.num_vertices,
        params=np.arange(len(arrays)) + 1000,
        test_acc_108=accuracy,
    )
    argv = (
        "compare",
        "--data",
        str(folder),
        "--methods",
        "random",
        "local_search",
        "--seeds",
        "2",
        "--budget",
        "30",
        "--out",
        str(tmp_path / "c"),
        "--format",
        "json",
    )
    code, text, _ = run(capsys, *argv)
    rows = json.loads(text)
    assert code == 0 and [r["method"] for r in rows] == ["random", "local_search"]
    assert {"method", "seeds", "budget", "median_queries_to_top", "by_budget"} <= set(rows[0])
    assert rows[0]["seeds"] == 2 and rows[0]["budget"] == 30 and list(rows[0]["by_budget"]) == ["30"]
    assert set(rows[0]["by_budget"]["30"]) == {
        "median_accuracy",
        "median_regret",
        "median_rank",
        "median_hypervolume_ratio",
    }
    assert rows[0]["by_budget"]["30"]["median_hypervolume_ratio"] == rows[0]["median_hypervolume_ratio"]
    for name in ("search.png", "search.json", "search_runs.csv", "runs/random-seed1.json"):
        assert (tmp_path / "c" / name).exists()
    one_run, reran = compare._one_run, []
    monkeypatch.setattr(compare, "_one_run", lambda task: pytest.fail(f"reran {task}"))
    code, again, _ = run(capsys, *argv)
    assert code == 0 and json.loads(again) == rows
    # a run saved by other settings (an older default) is run again, not mixed in
    saved = tmp_path / "c" / "runs" / "local_search-seed1.json"
    document = json.loads(saved.read_text())
    assert document["settings"] == {"method": "local_search", "space": "nb101"}
    saved.write_text(json.dumps(document | {"settings": {"method": "local_search", "older": True}}))
    monkeypatch.setattr(compare, "_one_run", lambda task: reran.append(task[:3]) or one_run(task))
    code, third, _ = run(capsys, *argv)
    timeless = [{k: v for k, v in r.items() if k != "search_seconds_per_query"} for r in json.loads(third)]
    assert code == 0 and reran == [("local_search", "reward", 1)]
    assert timeless == [{k: v for k, v in r.items() if k != "search_seconds_per_query"} for r in rows]
    assert json.loads(saved.read_text())["settings"] == {"method": "local_search", "space": "nb101"}


def test_compare_refuses_a_front_search_for_scalar_methods(capsys, no_table, tmp_path):
    code, _, err = run(
        capsys, "compare", "--objective", "pareto", "--methods", "random", "tpe", "--out", str(tmp_path / "c")
    )
    assert code == 2 and "tpe has no pareto objective" in err


def test_train_cell_trains_and_resumes(capsys, small_table, tmp_path):
    args = [
        "train-cell",
        SMALL,
        "--train-size",
        "100",
        "--epochs",
        "1",
        "--stem-channels",
        "4",
        "--stacks",
        "2",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "run"),
        "--format",
        "json",
    ]
    code, out, _ = run(capsys, *args)
    first = json.loads(out)
    assert code == 0 and first["epochs"] == 1 and 0 <= first["test_accuracy"] <= 1
    assert first["hash"] == parse_cell(SMALL).hash and first["train_seconds"] > 0
    from netembed.spaces.nb101.table import Benchmark

    assert first["table_test_accuracy"] == pytest.approx(
        Benchmark.load(small_table).query(parse_cell(SMALL)).test_acc_108
    )
    assert json.loads((tmp_path / "run" / "result.json").read_text()) == first
    code, out, _ = run(capsys, *args)  # everything already done: read back from the checkpoint
    assert code == 0 and json.loads(out)["history"] == first["history"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--epochs", "0"], "TrainConfig.epochs must be an integer in 1..1000000, got 0"),
        (["--stem-channels", "-2"], "NetworkConfig.stem_channels must be an integer in 1..4096, got -2"),
        (["--train-size", "3"], "train_size must be an integer in [10, 1697], got 3"),
        (["--images", "/no/such.npz"], "image data must be an .npz file, got '/no/such.npz': no such file"),
        (["--stacks", "5"], "image_size must be at least 2**(num_stacks - 1) = 16"),
    ],
)
def test_train_cell_mistakes(capsys, tmp_path, extra, message):
    code, _, err = run(capsys, "train-cell", SMALL, "--out", str(tmp_path / "run"), *extra)
    assert code == 2 and message in err
    assert not (tmp_path / "run").exists()


def test_search_with_real_training(capsys, no_table, tmp_path):
    args = [
        "search",
        "--evaluator",
        "train",
        "--method",
        "random",
        "--train-size",
        "60",
        "--epochs",
        "1",
        "--stem-channels",
        "5",
        "--stacks",
        "2",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "run"),
        "--format",
        "json",
    ]
    code, out, _ = run(capsys, *args, "--budget", "2")
    first = json.loads(out)
    assert code == 0 and first["queries"] == 2 and first["settings"]["training"]["data"] == "digits60"
    assert all(0 <= r["accuracy"] <= 1 and r["seconds"] > 0 for r in first["best"])
    trained = sorted(p.name for p in (tmp_path / "run" / "networks").iterdir())
    assert trained == sorted(r["hash"] for r in first["best"])  # one checkpoint per trained cell
    code, out, _ = run(capsys, *args, "--budget", "3", "--resume")
    resumed = json.loads(out)
    assert code == 0 and resumed["queries"] == 3 and len(list((tmp_path / "run" / "networks").iterdir())) == 3
    code, _, err = run(capsys, *[a if a != "60" else "80" for a in args], "--budget", "3", "--resume")
    assert code == 2 and "other settings (training" in err
    # the measured seconds train a time estimator for this machine
    code, out, _ = run(
        capsys,
        "train-predictor",
        "--label",
        "time",
        "--cells",
        str(tmp_path / "run" / "queries.jsonl"),
        "--members",
        "1",
        "--steps",
        "5",
        "--out",
        str(tmp_path / "timer"),
        "--format",
        "json",
    )
    assert code == 0 and json.loads(out)["train_cells"] == 3


def test_search_with_real_training_inherits_weights(capsys, no_table, tmp_path):
    code, out, _ = run(
        capsys,
        "search",
        "--evaluator",
        "train",
        "--inherit",
        "--method",
        "local_search",
        "--budget",
        "6",
        "--train-size",
        "60",
        "--epochs",
        "1",
        "--stem-channels",
        "5",
        "--stacks",
        "2",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "run"),
        "--format",
        "json",
    )
    payload = json.loads(out)
    assert code == 0 and payload["settings"]["training"]["inherit"] is True
    inherited = payload["inherited_from"]
    assert inherited  # local search proposes neighbours of cells it already trained

    def trained_cell(digest: str) -> Cell:
        spec = json.loads((tmp_path / "run" / "networks" / digest / "checkpoint.json").read_text())["cell"]
        return Cell(spec["matrix"], spec["ops"])

    for child, parent in inherited.items():  # each parent is one move from its child
        assert trained_cell(child) in [n.cell for n in transforms.neighbors(trained_cell(parent))]


def test_a_python_spec_runs_the_search_the_command_line_runs(capsys, no_table, tiny_surrogate, tmp_path):
    import netembed

    code, text, _ = search(
        capsys, tiny_surrogate, tmp_path / "cli", "--method", "random", "--budget", "6", "--seed", "2"
    )
    assert code == 0
    spec = netembed.SearchSpec(
        method="random",
        budget=netembed.Budget(queries=6),
        seed=2,
        accuracy_model=str(tiny_surrogate),
        time_model=str(tmp_path / "python" / "no-time-model"),
    )
    report = netembed.run(spec, tmp_path / "python")
    from_cli = json.loads(text)
    assert [r["hash"] for r in report.payload["best"]] == [r["hash"] for r in from_cli["best"]]
    assert report.payload["spec"] == json.loads((tmp_path / "python" / "result.json").read_text())["spec"]
    assert report.payload["spec"]["method"] == "random" and report.payload["spec"]["budget"]["queries"] == 6


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"method": "bayes"}, "method must be one of"),
        ({"evaluator": "oracle"}, "evaluator must be one of surrogate, table, train, got 'oracle'"),
        ({"seed": -1}, "seed must be an integer >= 0, got -1"),
        ({"workers": 0}, "--workers must be >= 1 and --worker >= 0, got 0 and 0"),
        ({"method": "tpe", "objective": "pareto"}, "SearchSpec.objective must be an Objective"),
    ],
)
def test_a_search_spec_refuses_what_cannot_run(fields, message):
    from netembed.runs import SearchSpec

    with pytest.raises(NetembedError, match=message):
        SearchSpec(**fields)


def test_a_spec_never_shows_the_storage_password():
    from netembed.runs import SearchSpec

    spec = SearchSpec(storage="postgresql+psycopg://alice:S3cret@db.example/netembed", workers=2)
    assert "S3cret" not in json.dumps(spec.to_dict()) and spec.shared


@pytest.mark.parametrize(
    "argv, message",
    [
        (["query", "missing.json"], "got 'missing.json': no such file"),
        (["neighbors", "missing.json"], "got 'missing.json': no such file"),
        (["embed", "missing.json"], "got 'missing.json': no such file"),
        (["query", "."], "got '.': not a file"),
    ],
)
def test_a_missing_file_is_named_as_missing(capsys, no_table, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_the_shipped_examples_are_read_as_the_readme_says(capsys, no_table):
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "examples"
    code, text, _ = run(capsys, "query", str(examples / "cell.json"), "--format", "json")
    assert code == 0 and json.loads(text)["params"] > 0
    rows = json.loads((examples / "evaluated_cells.json").read_text())
    assert len(rows) >= 10 and all(set(r) == {"matrix", "ops", "value"} and 0 < r["value"] <= 1 for r in rows)
    assert [Cell(r["matrix"], r["ops"]) for r in json.loads((examples / "cells.json").read_text())]


def test_pretrain_refuses_to_replace_a_model_without_force(capsys, tmp_path):
    shipped = tmp_path / "model"
    shipped.mkdir()
    (shipped / "config.json").write_text("{}")
    code, _, err = run(capsys, "pretrain", "--out", str(shipped), "--epochs", "1")
    assert code == 2 and "--out must be a new or empty directory" in err and "--force" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing written, no checkpoint folder
    assert (shipped / "config.json").read_text() == "{}"


def test_train_predictor_refuses_to_replace_a_model_without_force(capsys, no_table, tmp_path):
    """--out pretrained/surrogate-nb101/accuracy replaced the shipped model without a word."""
    import shutil

    from netembed.models import hub

    shipped = tmp_path / "pretrained" / "surrogate-nb101" / "accuracy"  # a copy: a failure here must not cost it
    shutil.copytree(hub.resolve("surrogate-nb101/accuracy"), shipped)
    before = {p.name: p.read_bytes() for p in shipped.iterdir()}
    argv = ["train-predictor", "--label", "params", "--train-size", "4", "--members", "1", "--steps", "1"]
    code, _, err = run(capsys, *argv, "--out", str(shipped))
    assert code == 2 and f"--out must be a new or empty directory, got {shipped} holding" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in shipped.iterdir()} == before
    code, _, _ = run(capsys, *argv, "--out", str(shipped), "--force")
    assert code == 0 and hub.read_config(shipped)["meta"]["target"] == "params"


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "--method", "random", "--budget", "1"],
        ["compare", "--methods", "random", "--seeds", "1", "--budget", "1"],
        ["train-cell", SMALL, "--epochs", "1"],
        ["label", "--size", "2", "--epochs", "1"],
        ["train-predictor", "--label", "params", "--train-size", "4", "--members", "1", "--steps", "1"],
        ["pretrain"],
        ["embed", "--eval"],
        ["analyze", "locality", "--walks", "1"],
        ["bench", "predictors", "--train-sizes", "2", "--test-size", "2", "--methods", "mlp"],
        ["bench", "time", "--train-sizes", "2", "--methods", "params"],
        ["bench", "transfer"],
    ],
)
@pytest.mark.parametrize("empty", ["", " "])
def test_an_empty_out_is_refused_by_every_command(capsys, small_table, tmp_path, monkeypatch, argv, empty):
    """--out '' wrote the run's files into the current folder."""
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.iterdir())
    code, out, err = run(capsys, *argv, "--out", empty)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert f"--out must name a folder this process can write, got {empty!r}: an empty name" in err
    assert sorted(tmp_path.iterdir()) == before  # nothing written here


def test_make_test_shows_why_tests_skip_and_starts_postgres():
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(["make", "-n", "test"], cwd=root, capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if "pytest" in x)
    assert any(a.startswith("-r") and "s" in a for a in line.split()) and line.startswith(".ci/with-postgres")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train-predictor", "--steps", "-5"], "--steps must be a positive integer, got -5"),
        (["train-predictor", "--members", "0"], "--members must be a positive integer, got 0"),
        (["train-predictor", "--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
        (["train-predictor", "--test-size", "0"], "--test-size must be a positive integer, got 0"),
        (["train-predictor", "--ranking-weight", "-1"], "--ranking-weight must be a finite number >= 0, got -1.0"),
        (["search", "--top", "-3"], "--top must be a positive integer, got -3"),
        (["search", "--seed", "-1"], "argument --seed: must be an integer in 0..4294967295, got '-1'"),
        (["search", "--worker", "-1"], "--workers must be >= 1 and --worker >= 0, got 1 and -1"),
        # an OverflowError, and numbers of threads, processes and workers no machine can use
        (["embed", "--threads", "99999999999999999999"], "argument --threads: must be an integer in [1, {limit}] (at"),
        (
            ["search", "--threads", "100000"],
            "argument --threads: must be an integer in [1, {limit}] (at most 4 per CPU",
        ),
        (["search", "--threads", "0"], "argument --threads: must be an integer in [1, {limit}]"),
        (["search", "--workers", "100000"], "--workers must be at most 64 (processes on one machine; more machines"),
        (["compare", "--jobs", "100000"], "argument --jobs: must be an integer in [1, {limit}] (at most 4 per CPU"),
        (["label", "--jobs", "100000"], "argument --jobs: must be an integer in [1, {limit}]"),
        (["bench", "transfer", "--jobs", "100000"], "argument --jobs: must be an integer in [1, {limit}]"),
    ],
)
def test_out_of_range_numbers_are_one_line_errors(capsys, no_table, tmp_path, argv, message):
    from netembed.threads import usable_cpus

    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "out"))
    assert code == 2 and message.format(limit=4 * usable_cpus()) in err and "Traceback" not in err, err
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_a_cells_file_that_is_not_utf8_is_a_one_line_error(capsys, no_table, tmp_path):
    bad = tmp_path / "cells.json"
    bad.write_bytes(b"\xff\xfe[")
    code, _, err = run(capsys, "train-predictor", "--cells", str(bad), "--out", str(tmp_path / "out"))
    assert code == 2 and "not UTF-8 text" in err and "Traceback" not in err


def test_train_predictor_refuses_bad_input_before_writing(capsys, no_table, tmp_path):
    code, _, err = run(
        capsys, "train-predictor", "--label", "params", "--train-size", "1", "--out", str(tmp_path / "o")
    )
    assert code == 2 and "--train-size must be in [2, " in err and not (tmp_path / "o").exists()


# -- what the command-line fuzz found (issue #22, tests/test_fuzz_cli.py) -----------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        # argparse's own mistakes printed the usage first: three lines and more
        (["train-predictor", "--steps", "abc"], "argument --steps: invalid int value: 'abc'"),
        (["bench", "time", "--seeds=--"], "argument --seeds: expected one argument, got '--'"),  # was a TypeError
        (["demo", "--seed", "-1"], "argument --seed: must be an integer in 0..4294967295, got '-1'"),  # numpy's
        (["demo", "--steps", "-1"], "--steps must be a whole number >= 0, got -1"),  # was a walk of no steps
        (["compare", "--seed-offset", "-1"], "argument --seed-offset: must be an integer in 0..4294967295"),
        (["embed", "[]", "--device", "CPU"], "--device must be cpu, cuda or cuda:N, got 'CPU'"),  # torch's
        (["embed", "[]", "--device", "meta"], "--device must be cpu, cuda or cuda:N, got 'meta'"),
        (["pretrain", "--embedding-dim", "0"], "EncoderConfig.embedding_dim must be an integer in 1..4096, got 0"),
        (["pretrain", "--out", ""], "--out must name a folder this process can write, got '': an empty name"),
        (["neighbors", '{"matrix": [[0, 1], [0, 0]], "ops": [[], "output"]}'], "ops[0] must be one of"),
    ],
)
def test_mistakes_the_fuzz_found_are_one_line_errors(capsys, no_table, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("where", ["a file", "a file/under"])
@pytest.mark.parametrize(
    "argv",
    [
        ["train-predictor", "--label", "params", "--train-size", "4", "--members", "1", "--steps", "1"],
        ["search", "--method", "random", "--budget", "1"],
        ["train-cell", SMALL, "--epochs", "1"],
        ["pretrain"],
        ["embed", "--eval"],
        ["analyze", "locality"],
        ["bench", "predictors", "--train-sizes", "2", "--test-size", "2", "--methods", "mlp"],
    ],
)
def test_an_unwritable_out_is_refused_before_any_work(capsys, small_table, tmp_path, monkeypatch, argv, where):
    """--out a file, or under one: said at once, not after the training (pretrain: hours)."""
    from netembed.models import pretrain
    from netembed.spaces.nb101 import transforms

    for module, name in ((pretrain, "pretrain"), (pretrain, "reconstruction"), (transforms, "move_graph")):
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("started the long work"))
    (tmp_path / "a file").write_text("x")
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / where))
    assert code == 2 and f"--out must name a folder this process can write, got '{tmp_path / where}'" in err, err
    assert err.rstrip().endswith(": a file" if where == "a file" else f"{tmp_path / 'a file'} is a file")


def test_data_convert_checks_its_output_before_reading(capsys, tmp_path):
    (tmp_path / "in.tfrecord").write_bytes(b"x" * 100)
    code, _, err = run(capsys, "data", "convert", str(tmp_path / "in.tfrecord"), str(tmp_path), "--quiet")
    assert code == 2 and f"the output must name a file this process can write, got '{tmp_path}': a folder" in err


@pytest.mark.parametrize(
    "rows, message",
    [
        ('[{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"], "value": "abc"}]', "value must be a number"),
        ("[1]", "got entry 0: 1"),
        ('[{"matrix": [[0, 1], [0, 1]], "ops": ["input", "output"], "value": 1}]', "--cells entry 0: matrix must be"),
        ("{SMALL_0.5}, {TWO_0.5}", "labels must not all be equal (a predictor learns their order), got 2 labels"),
        ("{SMALL_0.5}, {SMALL_0.9}, {TWO_0.7}", "each cell once, got cell {hash} as entries 0 (value 0.5) and 1"),
    ],
)  # fmt: skip
def test_a_users_cells_are_checked_before_training(capsys, no_table, tmp_path, rows, message):
    """A value "abc" raised numpy's ValueError; constant labels trained a predictor whose Kendall
    tau is NaN; a cell given twice with two values was accepted silently."""
    small, two = json.loads(SMALL), {"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}
    for name, spec in (("SMALL", small), ("TWO", two)):
        for value in ("0.5", "0.9", "0.7"):
            rows = rows.replace(f"{{{name}_{value}}}", json.dumps({**spec, "value": float(value)}))
    (tmp_path / "cells.json").write_text(rows if rows.startswith("[") else f"[{rows}]")
    argv = ["--cells", str(tmp_path / "cells.json"), "--members", "1", "--steps", "1", "--out", str(tmp_path / "o")]
    code, _, err = run(capsys, "train-predictor", *argv)
    assert code == 2 and message.format(hash=parse_cell(SMALL).hash) in err, err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--test-size", "1"], "--test-size must be at least 2 (a rank correlation needs two cells), got 1"),  # NaN tau
        (["--train-size", "11"], "--train-size must be in [2, 10], got 11"),  # left one cell to test on: NaN tau
        (["--ranking-weight", "1e300"], "PredictorConfig.ranking_weight must be a number in [0, 1000], got 1e+300"),
    ],
)
def test_train_predictor_refuses_what_makes_its_figures_nan(capsys, small_table, tmp_path, argv, message):
    base = ["--train-size", "4", "--test-size", "4", "--members", "1", "--steps", "2", "--out", str(tmp_path / "o")]
    code, _, err = run(capsys, "train-predictor", *base, *argv)
    assert code == 2 and message in err, err


def test_train_cell_refuses_a_stem_too_narrow_for_the_cell(capsys, no_table, tmp_path):
    """Two vertices feed the output: one stem channel left one of them with none (torch's RuntimeError)."""
    cell = json.dumps(json.loads((EXAMPLES / "cell.json").read_text()))
    code, _, err = run(capsys, "train-cell", cell, "--stem-channels", "1", "--out", str(tmp_path / "run"))
    assert code == 2 and "--stem-channels must be at least 2 (the vertices feeding a cell's output" in err
    code, _, err = run(capsys, "search", "--evaluator", "train", "--stem-channels", "4", "--out", str(tmp_path / "s"))
    assert code == 2 and "--stem-channels must be at least 5 (the vertices feeding a cell's output split them" in err


def test_train_cell_refuses_labels_that_are_not_class_indices(capsys, no_table, tmp_path):
    images = {"train_images": np.ones((4, 8, 8)), "test_images": np.ones((2, 8, 8)), "test_labels": np.arange(2)}
    np.savez(tmp_path / "images.npz", train_labels=np.array([0, 1, 10**9, 1]), **images)
    code, _, err = run(
        capsys, "train-cell", SMALL, "--images", str(tmp_path / "images.npz"), "--out", str(tmp_path / "r")
    )
    assert code == 2 and "train labels must be integer class indices in [0, 999], got 1000000000" in err


def test_a_failed_compare_prints_its_error_on_a_line_of_its_own(capsys, small_table, tmp_path):
    """The progress bar was left open: the error was glued to it, and the bar drawn again after it."""
    argv = ["compare", "--methods", "random", "--seeds", "1", "--budget", "1", "--out", str(tmp_path / "c")]
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.split("\n")[-2].startswith("netembed compare: error: the table has no cell")


@pytest.mark.parametrize(
    "log",
    [
        b'{"netembed_log": 1}\n\xff\n',
        b'{"netembed_log": 1}\n[1]\n{"query": 1}\n',
        b'{"netembed_log": 1}\n{"query": 0}\n{"query": 1}\n',
        b'{"netembed_log": 1}\n{"query": 0, "hash": "HASH", "matrix": [[0, 1], [0, 0]], "accuracy": "abc"}\n{}\n',
    ],
)
@pytest.mark.parametrize("command", ["train-predictor --cells LOG", "search --resume --method random --out DIR"])
def test_a_broken_query_log_is_a_one_line_error(capsys, no_table, tmp_path, log, command):
    (tmp_path / "queries.jsonl").write_bytes(
        log.replace(b"HASH", Cell([[0, 1], [0, 0]], ["input", "output"]).hash.encode())
    )
    argv = command.replace("LOG", str(tmp_path / "queries.jsonl")).replace("DIR", str(tmp_path)).split()
    code, _, err = run(capsys, *argv, *(["--out", str(tmp_path / "p")] if "LOG" in command else []))
    assert code == 2 and err.count("\n") == 1


DEEP = "[" * 50_000 + "]" * 50_000  # Python's JSON parser: RecursionError


@pytest.mark.parametrize(
    "where",
    ["cell", "cells", "train cells", "labels", "log row", "log header", "model config", "train-cell checkpoint"],
)
def test_json_nested_too_deeply_in_any_file_is_a_one_line_error_naming_it(
    capsys, no_table, tiny_surrogate, tmp_path, where
):
    """Each was a RecursionError traceback, exit code 1."""
    import shutil

    from netembed.models import hub

    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    log = tmp_path / "run" / "queries.jsonl"
    log.parent.mkdir()
    if where.startswith("log"):
        log.write_text(f'{{"netembed_log": 1}}\n{DEEP}\n' if where == "log row" else f"{DEEP}\n")
        deep = log
    if where == "model config":
        deep = tmp_path / "model" / "config.json"
        shutil.copytree(hub.resolve("encoder-nb101"), deep.parent)
        deep.write_text(DEEP)
    if where == "train-cell checkpoint":
        deep = tmp_path / "run" / "checkpoint.json"
        deep.write_text(DEEP)
        (tmp_path / "run" / "state.safetensors").write_bytes(b"x")
    argv = {
        "cell": ["query", str(deep)],
        "cells": ["embed", str(deep)],
        "train cells": ["train-predictor", "--cells", str(deep), "--out", str(tmp_path / "p")],
        "labels": ["bench", "transfer", "--labels", str(deep), "--out", str(tmp_path / "t")],
        "log row": ["train-predictor", "--cells", str(log), "--out", str(tmp_path / "p")],
        "log header": ["train-predictor", "--cells", str(log), "--out", str(tmp_path / "p")],
        "model config": ["embed", SMALL.join("[]"), "--model", str(deep.parent)],
        "train-cell checkpoint": ["train-cell", SMALL, "--epochs", "1", "--out", str(tmp_path / "run")],
    }[where]
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{deep} is nested too deeply to read" in err
    line = {"log row": "line 2 of ", "log header": "line 1 of "}.get(where, "")
    assert f"{line}{deep} is nested too deeply" in err
    if where.startswith("log"):  # and a search resuming it
        code, _, err = search(capsys, tiny_surrogate, log.parent, "--method", "random", "--resume")
        assert code == 2 and err.count("\n") == 1 and f"{line}{deep} is nested too deeply to read" in err, err


def test_ctrl_c_at_any_moment_is_one_line_and_exit_code_130(capsys, no_table, tmp_path, monkeypatch):
    """Ctrl-C while the models loaded was a KeyboardInterrupt traceback."""
    from netembed import cli, runs

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runs, "_load_models", interrupted)
    code, out, err = run(capsys, "search", "--method", "random", "--out", str(tmp_path / "s"))
    assert (code, out, err) == (130, "", "netembed search: interrupted\n")
    monkeypatch.setattr(cli, "build_parser", interrupted)  # before the command is known
    assert run(capsys, "search") == (130, "", "netembed: interrupted\n")


def test_a_full_disk_while_saving_the_checkpoint_is_one_line_and_a_resume_continues(
    capsys, no_table, tiny_surrogate, tmp_path, monkeypatch
):
    """A full disk while saving method_state.pt was a RuntimeError traceback."""
    import errno

    save = torch.save

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    argv = ("--method", "netembed", "--seed", "2", "--budget", "17")
    code, _, err = search(capsys, tiny_surrogate, tmp_path / "run", *argv)
    assert code == 2 and err.count("\n") == 1, err
    assert "method_state.pt (No space left on device); nothing is lost: every query is logged in " in err
    assert err.rstrip().endswith("free some disk space and rerun the same command with --resume")
    monkeypatch.setattr(torch, "save", save)
    code, text, _ = search(capsys, tiny_surrogate, tmp_path / "run", *argv, "--resume")
    assert code == 0 and json.loads(text)["queries"] == 17


def test_options_a_search_would_ignore_are_warned_of(capsys):
    """--epochs without real training and --cost-target without a cost in the reward do nothing: say so."""
    from netembed.cli import _call, build_parser
    from netembed.runs import SearchSpec

    def warnings(*argv: str) -> str:
        spec = _call(SearchSpec, vars(build_parser(["search", *argv]).parse_args(["search", *argv])))
        assert spec.training is None or spec.evaluator == "train"  # kept only where it is read
        return capsys.readouterr().err

    said = warnings("--evaluator", "table", "--epochs", "7", "--lr", "0.5", "--cost-target", "1500")
    assert "netembed: warning: --epochs, --lr: real training's options, ignored by the table evaluator" in said
    assert "netembed: warning: --cost-target 1500: ignored by --reward accuracy" in said
    assert warnings("--reward", "soft", "--cost-target", "1500") == ""
    assert warnings("--evaluator", "train", "--epochs", "3") == ""


def test_a_command_line_without_options_asks_for_the_librarys_defaults(monkeypatch):
    """Options take their defaults from the call or spec they are named after: parsed with no
    options, every command gives each parameter of its library call the library's own default
    (a range of seeds: its count), and ``netembed search`` describes ``SearchSpec()``."""
    import inspect

    from netembed.cli import _call, build_parser
    from netembed.cli.options import COMMANDS, Library
    from netembed.runs import SearchSpec

    monkeypatch.delenv("NETEMBED_STORAGE", raising=False)
    positionals = {"query": ["x"], "neighbors": ["x"], "train-cell": ["x"], "data convert": ["a", "b"]}
    checked = 0
    for name, (_, _, *sources) in COMMANDS.items():
        argv = [*name.split(), *positionals.get(name, [])]
        parsed = vars(build_parser(argv).parse_args(argv))
        for source in sources:
            call = Library(source).value() if isinstance(source, str) else None
            if call is None or isinstance(call, type):
                continue
            for parameter in inspect.signature(call).parameters.values():
                derived = parameter.name in ("command", "progress", "announce")  # not options: cli._named
                if parameter.name in parsed and not derived and parameter.default is not parameter.empty:
                    default = parameter.default
                    expected = len(default) if isinstance(default, range) else default
                    expected = list(expected) if isinstance(expected, (tuple, dict)) else expected
                    assert parsed[parameter.name] == expected, (name, parameter.name)
                    checked += 1
    assert checked > 60
    assert _call(SearchSpec, vars(build_parser(["search"]).parse_args(["search"]))) == SearchSpec()
