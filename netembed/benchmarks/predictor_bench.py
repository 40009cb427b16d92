"""Side-by-side benchmark of accuracy predictors: the project's own and published-style baselines.

Every method sees the same training cells and is scored on the same held-out cells, per
(train size, seed): Kendall tau, Spearman, RMSE, fit and predict seconds. Baselines:

- ``mlp``: a multilayer perceptron on the flat encoding (21 edge bits + one-hot ops);
- ``gbt``: gradient-boosted trees on BANANAS' path encoding (which op sequences run from
  input to output; 364 indicators).

In another space (e.g. NAS-Bench-201) both baselines read the space's structure features
instead (``Space.feature_inputs``: NAS-Bench-201's one-hot op of each edge).

The project's rows are ``netembed`` (fresh encoder), ``netembed+pretrained`` (encoders start
from the label-free autoencoder ``encoder-<space>``) and ``netembed+prior`` (whole members start
from ``prior-nb101``, which learned log parameter counts of random cells: label-free too;
NAS-Bench-101 only). On labels the space's accuracy surrogate has not seen (NAS-Bench-201's
CIFAR-100 from the CIFAR-10 surrogate), two rows measure a transfer: ``zero-shot`` (the surrogate
as it is, no label used) and ``netembed+surrogate`` (``PredictorConfig.for_transfer``: fine-tuned
from it, its members kept beside).

``run_time_bench`` does the same for training-time estimators on the timed rows: the project's
``TimeEstimator`` against ``params`` (log-seconds linear in log-parameters) and ``gbt`` (trees on
the flat encoding, log parameters and log FLOPs), scored by Kendall tau and the median absolute
percentage error (MdAPE).

With ``runs_dir`` each finished (method, train size, seed) measurement is saved there as it
completes and reused by a later call with the same settings, so a killed grid resumes and a
grid can grow (more seeds, sizes or methods) without redoing what it has.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import cache, cached_property, partial
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau, spearmanr

from netembed import spaces
from netembed._io import atomic_write, check_writable, parse_json, save_figure
from netembed.benchmarks import stats
from netembed.errors import NetembedError
from netembed.models.predictors import AccuracyPredictor, PredictorConfig, TimeEstimator
from netembed.spaces.nb101 import space
from netembed.spaces.nb101.cell import OPS, Cell

__all__ = [
    "METHODS",
    "TIME_METHODS",
    "BenchError",
    "bench_predictors",
    "bench_time",
    "flat_features",
    "format_rows",
    "mdape_percent",
    "path_encoding",
    "plot_bench",
    "run_predictor_bench",
    "run_time_bench",
    "summarise",
    "write_bench",
]


class BenchError(NetembedError, ValueError):
    """Benchmark settings that cannot run (unknown method, too many training cells)."""


_PATH_OFFSETS = np.cumsum([0] + [len(OPS) ** k for k in range(6)])  # paths of 0..5 interior ops


def path_encoding(cell: Cell) -> np.ndarray:
    """Indicators of the op sequences along every input->output path (BANANAS), shape (364,)."""
    out = np.zeros(_PATH_OFFSETS[-1], dtype=np.float32)
    matrix, n = cell.matrix, cell.num_vertices
    codes = [OPS.index(op) if op in OPS else -1 for op in cell.ops]

    def walk(vertex: int, index: int, length: int) -> None:
        if vertex == n - 1:
            out[_PATH_OFFSETS[length] + index] = 1
            return
        for successor in np.flatnonzero(matrix[vertex]):
            if successor == n - 1:
                walk(successor, index, length)
            else:
                walk(successor, index * len(OPS) + codes[successor], length + 1)

    walk(0, 0, 0)
    return out


def flat_features(cell: Cell) -> np.ndarray:
    """21 canonical edge bits and a one-hot of each of the 5 interior op choices, shape (36,)."""
    flat = cell.to_flat()
    return np.concatenate([flat[:21], np.eye(len(OPS))[flat[21:]].ravel()]).astype(np.float32)


class CellRows:
    """Cells given by rows (of NAS-Bench-101's enumeration, or of ``archs``: another space's
    table), with each encoding computed once per run.

    ``params`` and ``flops`` (the table's columns at these rows) are only needed by time estimators.
    """

    def __init__(
        self,
        rows: np.ndarray,
        params: np.ndarray | None = None,
        flops: np.ndarray | None = None,
        archs: Sequence | None = None,
        space_name: str = "nb101",
    ):
        self.rows, self.space = rows, spaces.get(space_name)
        self.cells = [space.cell_at(int(r)) if archs is None else archs[int(r)] for r in rows]
        self.params, self.flops = params, flops
        self._nb101 = archs is None

    @cached_property
    def flat(self) -> np.ndarray:
        """NAS-Bench-101's flat encoding; another space's structure features."""
        if self._nb101:
            return np.stack([flat_features(c) for c in self.cells])
        return self.space.feature_inputs(self.cells)

    @cached_property
    def paths(self) -> np.ndarray:
        """NAS-Bench-101's path encoding; another space's structure features."""
        return np.stack([path_encoding(c) for c in self.cells]) if self._nb101 else self.flat

    def predict(self, model: AccuracyPredictor) -> np.ndarray:
        """``model``'s mean predictions (NAS-Bench-101: the fast path over its enumeration's rows)."""
        return model.predict_rows(self.rows)[0] if self._nb101 else model.predict(self.cells)[0]


def _fit_mlp(train: CellRows, y: np.ndarray, seed: int) -> Callable[[CellRows], np.ndarray]:
    torch.manual_seed(seed)
    x = torch.from_numpy(train.flat)
    mean, std = float(y.mean()), float(y.std()) or 1.0
    target = torch.from_numpy((y - mean) / std).float()
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 128),
        torch.nn.ReLU(),
        torch.nn.Linear(128, 1),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(1500):
        rows = torch.randperm(len(target), generator=generator)[:128]
        loss = torch.nn.functional.mse_loss(model(x[rows]).squeeze(-1), target[rows])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    @torch.no_grad()
    def predict(test: CellRows) -> np.ndarray:
        return model(torch.from_numpy(test.flat)).squeeze(-1).numpy() * std + mean

    return predict


def _fit_gbt(train: CellRows, y: np.ndarray, seed: int) -> Callable[[CellRows], np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingRegressor

    # small leaves: with 100 training cells the default (20 per leaf) leaves the sparse paths unsplit
    model = HistGradientBoostingRegressor(max_iter=500, learning_rate=0.05, min_samples_leaf=5, random_state=seed)
    model.fit(train.paths, y)
    return lambda test: model.predict(test.paths)


def _overrides(method: str, steps: int | None, batch_size: int | None) -> dict:
    """The ``PredictorConfig`` fields given for a ``netembed`` row: ``steps`` given are exactly that many."""
    given = {"steps": steps, "epochs": None if steps is None else 0, "batch_size": batch_size}
    return {k: v for k, v in given.items() if v is not None} if method.startswith("netembed") else {}


def _training(method: str, options: dict, role) -> dict:
    """A ``netembed`` row's whole training config (``role``: a ``PredictorConfig`` role such as
    ``PredictorConfig.for_time``), part of its saved settings: a run measured under other defaults
    is measured again."""
    if not method.startswith("netembed"):
        return {}
    config = asdict(role(**options))
    config.pop("seed")
    return {"config": config}


def _fit_netembed(init: str | None):
    def fit(train: CellRows, y: np.ndarray, seed: int, **training) -> Callable[[CellRows], np.ndarray]:
        start = _init(init, train.space.name)
        shape = {} if start is None else AccuracyPredictor.shape_of(start)  # to start from all of it
        config = _role(init)(**shape, **training, seed=seed, space=train.space.name)
        model = AccuracyPredictor(config).fit(train.cells, y, init=start)
        return lambda test: test.predict(model)

    return fit


def _zero_shot(train: CellRows, y: np.ndarray, seed: int) -> Callable[[CellRows], np.ndarray]:
    """The accuracy surrogate of the space as it is: trained on other labels, it sees none of these."""
    model = _surrogate(train.space.name)
    return lambda test: test.predict(model)


@cache
def _surrogate(space_name: str) -> AccuracyPredictor:
    """The space's accuracy surrogate, loaded once for every zero-shot row of a run."""
    return AccuracyPredictor.from_pretrained(_init(SURROGATE, space_name))


#: The space's accuracy surrogate (``{space}`` its name): ``netembed+surrogate`` starts from it and
#: ``zero-shot`` is it; both measure a transfer, so only on labels it has not seen (``check_unseen``).
SURROGATE = "surrogate-{space}/accuracy"
TRANSFERS = ("zero-shot", "netembed+surrogate")
#: The pretrained model each ``netembed`` row starts from, ``{space}`` its space's name.
INITS = {
    "netembed": None,
    "netembed+pretrained": "encoder-{space}",
    "netembed+prior": "prior-{space}",
    "netembed+surrogate": SURROGATE,
}
#: What each row starts from (``INITS``, and ``zero-shot``: the surrogate itself).
STARTS = {**INITS, "zero-shot": SURROGATE}
METHODS: dict[str, Callable] = {
    **{name: _fit_netembed(init) for name, init in INITS.items()},
    "zero-shot": _zero_shot,
    "mlp": _fit_mlp,
    "gbt": _fit_gbt,
}


def _role(init: str | None) -> Callable[..., PredictorConfig]:
    """A row's ``PredictorConfig`` role: a start from the accuracy surrogate is a transfer to new labels."""
    return PredictorConfig.for_transfer if init == SURROGATE else PredictorConfig.for_accuracy


def _init(template: str | None, space_name: str) -> str | None:
    return None if template is None else template.format(space=space_name)


def _init_weights(method: str, space_name: str) -> dict:
    """The sha256 of the pretrained weights a row starts from (a saved run of other weights is stale)."""
    from netembed.models import hub

    init = _init(STARTS.get(method), space_name)
    return {"init_sha256": hub.read_config(hub.resolve(init))["weights_sha256"]} if init else {}


# -- training-time estimators: fit(train CellRows, log-seconds, seed) -> predict(CellRows) -> log-seconds


def _fit_time_netembed(
    train: CellRows, log_seconds: np.ndarray, seed: int, **training
) -> Callable[[CellRows], np.ndarray]:
    model = TimeEstimator(PredictorConfig.for_time(**training, seed=seed)).fit(train.cells, np.exp(log_seconds))
    return lambda test: np.log(model.predict_rows(test.rows)[0])


def _fit_time_params(train: CellRows, log_seconds: np.ndarray, seed: int) -> Callable[[CellRows], np.ndarray]:
    if np.ptp(train.params) == 0:  # one parameter count: no slope to fit, the mean time
        return lambda test: np.full(len(test.rows), log_seconds.mean())
    slope, intercept = np.polyfit(np.log(train.params), log_seconds, 1)
    return lambda test: slope * np.log(test.params) + intercept


def _time_features(cells: CellRows) -> np.ndarray:
    """The flat encoding, log parameters and, where the cells have them (the table), log FLOPs."""
    logs = [np.log(cells.params)] + ([] if cells.flops is None else [np.log(cells.flops)])
    return np.column_stack([cells.flat, *logs])


def _fit_time_gbt(train: CellRows, log_seconds: np.ndarray, seed: int) -> Callable[[CellRows], np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(max_iter=500, learning_rate=0.05, min_samples_leaf=5, random_state=seed)
    model.fit(_time_features(train), log_seconds)
    return lambda test: model.predict(_time_features(test))


TIME_METHODS: dict[str, Callable] = {"netembed": _fit_time_netembed, "params": _fit_time_params, "gbt": _fit_time_gbt}


@dataclass(frozen=True)
class PredictorScore:
    """How well one method, trained on ``train_size`` cells with ``seed``, ranks and predicts the
    held-out labels (saved under ``runs_dir`` as ``"measurement"``). Not a cell's labels: that is
    :class:`netembed.search.evaluators.Measurement`."""

    method: str
    train_size: int
    seed: int
    kendall_tau: float
    spearman: float
    rmse: float
    fit_seconds: float
    predict_seconds: float
    mdape_percent: float | None = None  # time estimators only


def _check_grid(methods, train_sizes, seeds, steps, batch_size, runs_dir) -> None:
    """The settings both benchmarks share, before any fit; ``runs_dir`` must be writable."""
    if len(set(methods)) < len(methods):
        raise BenchError(f"methods must each be named once, got {list(methods)}")
    if not len(train_sizes) or min(train_sizes) < 2:
        raise BenchError(f"train sizes must be at least 2 cells each, got {list(train_sizes)}")
    if not len(seeds):
        raise BenchError("seeds must hold at least one seed, got none")
    for name, value in (("steps", steps), ("batch size", batch_size)):
        if value is not None and value < 1:
            raise BenchError(f"{name} must be a positive integer, got {value}")
    if runs_dir is not None:
        check_writable(runs_dir, "runs_dir")


def run_predictor_bench(
    accuracy: np.ndarray,
    train_sizes: Sequence[int],
    seeds: Sequence[int],
    methods: Sequence[str],
    test_size: int = 50_000,
    progress: bool = True,
    split_seed: int = 0,
    steps: int | None = None,
    batch_size: int | None = None,
    runs_dir: str | Path | None = None,
    archs: Sequence | None = None,
    space_name: str = "nb101",
) -> list[PredictorScore]:
    """Train every method on the same random cells per (size, seed); score on one fixed test set.
    ``steps`` and ``batch_size`` override the ``netembed`` rows' training (default:
    ``PredictorConfig``'s); ``runs_dir``: save and reuse each measurement (see the module docstring).
    ``accuracy`` is by row of NAS-Bench-101's enumeration, or of ``archs`` (the architectures of
    another space's table, ``space_name``)."""
    from tqdm.auto import tqdm

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise BenchError(f"methods must be among {list(METHODS)}, got {unknown}")
    _check_grid(methods, train_sizes, seeds, steps, batch_size, runs_dir)
    if not 2 <= test_size < len(accuracy):
        raise BenchError(
            f"test size must be in [2, {len(accuracy) - 1}] (a rank correlation needs two cells), got {test_size}"
        )
    order = np.random.default_rng(split_seed).permutation(len(accuracy))
    test_rows, pool = np.sort(order[:test_size]), order[test_size:]
    if max(train_sizes) > len(pool):
        raise BenchError(
            f"train sizes must be at most {len(pool)} (cells outside the test set), got {max(train_sizes)}"
        )
    test = CellRows(test_rows, archs=archs, space_name=space_name)
    truth = accuracy[test_rows]
    results, labels = [], _fingerprint(accuracy)
    # read once; a missing init fails before any fit
    starts = {method: _init_weights(method, space_name) for method in methods}
    grid = [(n, s, m) for n in train_sizes for s in seeds for m in methods]
    for size, seed, method in tqdm(grid, desc="predictors", disable=not progress):
        train_rows = np.random.default_rng(1000 + seed).choice(pool, size, replace=False)
        train = CellRows(train_rows, archs=archs, space_name=space_name)
        options = _overrides(method, steps, batch_size)
        fit = partial(METHODS[method], train, accuracy[train_rows], seed, **options)
        settings = {
            **({} if space_name == "nb101" else {"space": space_name}),
            "benchmark": "accuracy",
            "labels": labels,
            "test_size": test_size,
            "split_seed": split_seed,
            **options,
            **_training(method, options, _role(INITS.get(method))),
            **starts[method],
        }
        results.append(
            _saved(runs_dir, method, size, seed, settings, partial(_measure, method, size, seed, fit, test, truth))
        )
    return results


def run_time_bench(
    seconds: np.ndarray,
    params: np.ndarray,
    flops: np.ndarray,
    train_sizes: Sequence[int],
    seeds: Sequence[int],
    methods: Sequence[str],
    pool_size: int = 15_000,
    progress: bool = True,
    split_seed: int = 0,
    steps: int | None = None,
    batch_size: int | None = None,
    runs_dir: str | Path | None = None,
) -> list[PredictorScore]:
    """Time estimators on the timed rows (``seconds`` NaN elsewhere): train on N of a fixed pool of
    ``pool_size`` rows per (size, seed), score on every other timed row. ``steps`` and
    ``batch_size`` override the ``netembed`` estimator's training (default: ``PredictorConfig``'s)."""
    from tqdm.auto import tqdm

    unknown = [m for m in methods if m not in TIME_METHODS]
    if unknown:
        raise BenchError(f"methods must be among {list(TIME_METHODS)}, got {unknown}")
    _check_grid(methods, train_sizes, seeds, steps, batch_size, runs_dir)
    if flops is None:
        raise BenchError(
            "the time benchmark needs the table's flops column (for the gbt baseline), got a table without it"
        )
    timed = np.flatnonzero(np.isfinite(seconds))
    if not 0 < pool_size < len(timed) - 1:
        raise BenchError(
            f"pool size must be in [1, {len(timed) - 2}] (two timed rows left to test on), got {pool_size}"
        )
    order = np.random.default_rng(split_seed).permutation(timed)
    pool, test_rows = order[:pool_size], np.sort(order[pool_size:])
    if max(train_sizes) > len(pool):
        raise BenchError(f"train sizes must be at most the pool of {len(pool)} timed rows, got {max(train_sizes)}")

    def cell_set(rows: np.ndarray) -> CellRows:
        return CellRows(rows, params[rows].astype(np.float64), flops[rows].astype(np.float64))

    test, truth = cell_set(test_rows), seconds[test_rows]
    results, labels = [], _fingerprint(seconds)
    grid = [(n, s, m) for n in train_sizes for s in seeds for m in methods]
    for size, seed, method in tqdm(grid, desc="time estimators", disable=not progress):
        train = cell_set(np.sort(np.random.default_rng(1000 + seed).choice(pool, size, replace=False)))
        options = _overrides(method, steps, batch_size)
        fit = partial(TIME_METHODS[method], train, np.log(seconds[train.rows]), seed, **options)
        settings = {
            "benchmark": "time",
            "labels": labels,
            "pool_size": pool_size,
            "split_seed": split_seed,
            **options,
            **_training(method, options, PredictorConfig.for_time),
        }
        results.append(
            _saved(
                runs_dir,
                method,
                size,
                seed,
                settings,
                partial(_measure, method, size, seed, fit, test, truth, from_prediction=np.exp),
            )
        )
    return results


def mdape_percent(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Median absolute percentage error, in percent."""
    return float(np.median(np.abs(predicted / truth - 1)) * 100)


def _measure(
    method: str,
    size: int,
    seed: int,
    fit: Callable[[], Callable[[CellRows], np.ndarray]],
    test: CellRows,
    truth: np.ndarray,
    from_prediction: Callable | None = None,
) -> PredictorScore:
    """Fit, predict ``test`` and score against ``truth``, timing both. ``from_prediction`` maps a
    method's outputs onto the labels (time estimators predict log-seconds); only they get an MdAPE."""
    start = time.perf_counter()
    predict = fit()
    fitted = time.perf_counter()
    predicted = np.asarray(predict(test), dtype=np.float64)
    done = time.perf_counter()
    if from_prediction is not None:
        predicted = from_prediction(predicted)
    return PredictorScore(
        method,
        size,
        seed,
        float(kendalltau(predicted, truth).statistic),
        float(spearmanr(predicted, truth).statistic),
        float(np.sqrt(np.mean((predicted - truth) ** 2))),
        fitted - start,
        done - fitted,
        None if from_prediction is None else mdape_percent(predicted, truth),
    )


def _fingerprint(labels: np.ndarray) -> str:
    """Identifies the labels a saved run was measured on (another table must not reuse it)."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.float64).tobytes()).hexdigest()[:16]


def _saved(
    runs_dir: str | Path | None,
    method: str,
    size: int,
    seed: int,
    settings: dict,
    measure: Callable[[], PredictorScore],
) -> PredictorScore:
    """The measurement saved under ``runs_dir`` for these settings, else ``measure()``, saved atomically."""
    if runs_dir is None:
        return measure()
    path = Path(runs_dir) / f"{settings['benchmark']}-{method}-{size}-{seed}.json"
    try:
        saved = parse_json(path.read_text(), path)  # a DataError of parse_json is a ValueError
        if saved["settings"] == settings:
            return PredictorScore(**saved["measurement"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent, unreadable or from other settings: measure again
    measurement = measure()
    text = json.dumps({"settings": settings, "measurement": asdict(measurement)})
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
    return measurement


def summarise(results: Sequence[PredictorScore]) -> list[dict]:
    """One row per (method, train size): means over seeds, and the spread of Kendall tau.

    ``kendall_tau_low`` / ``kendall_tau_high``: Student's t 95% interval of the mean Kendall tau
    over seeds (``stats.mean_interval``; a bootstrap is too narrow with the usual 3 to 5 seeds),
    ``None`` with a single seed (or a NaN tau). ``kendall_tau_std`` is the plain spread (population std).
    """
    rows = []
    for method in dict.fromkeys(r.method for r in results):
        for size in sorted({r.train_size for r in results if r.method == method}):
            group = [r for r in results if r.method == method and r.train_size == size]
            taus = np.array([r.kendall_tau for r in group])
            low, high = stats.mean_interval(taus)[1:] if len(taus) > 1 and np.isfinite(taus).all() else (None, None)
            rows.append(
                {
                    "method": method,
                    "train_size": size,
                    "seeds": len(group),
                    "kendall_tau": float(taus.mean()),
                    "kendall_tau_std": float(taus.std()),
                    "kendall_tau_low": low,
                    "kendall_tau_high": high,
                    "spearman": float(np.mean([r.spearman for r in group])),
                    "rmse": float(np.mean([r.rmse for r in group])),
                    "fit_seconds": float(np.mean([r.fit_seconds for r in group])),
                    "predict_seconds": float(np.mean([r.predict_seconds for r in group])),
                }
            )
            if group[0].mdape_percent is not None:
                rows[-1]["mdape_percent"] = float(np.mean([r.mdape_percent for r in group]))
    return rows


#: Training sizes by space: NAS-Bench-101's published grid; NAS-Bench-201's 0.5, 1, 3, 5 and 10%
#: of its architectures (the sizes papers report, e.g. PINAT).
DEFAULT_SIZES = {"nb101": [100, 172, 424, 4236], "nb201": [78, 156, 469, 781, 1563]}


def bench_predictors(
    out: str | Path = "results/predictors",
    train_sizes: Sequence[int] | None = None,
    seeds: Sequence[int] = range(5),
    methods: Sequence[str] | None = None,
    data: str | Path | None = None,
    test_size: int | None = None,
    steps: int | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    space: str = "nb101",
    dataset: str | None = None,
    labels: str | None = None,
) -> tuple[list[dict], str]:
    """``netembed bench predictors``: ``run_predictor_bench`` on the table at ``data`` (None: the
    default folder), its measurements kept in ``out/runs`` and ``write_bench``'s files in ``out``.
    NAS-Bench-101: its test accuracies, tested on ``test_size`` cells (None: 50,000). Another space:
    ``dataset``'s validation accuracies (None: the table's first), or the accuracies of a user's
    ``labels`` file (``[{"arch", "value"}]``, e.g. from real training; no table needed), tested on
    every architecture outside a pool of twice the largest training size (``test_size`` None), so
    that each seed's training set differs at every size. ``train_sizes`` and ``methods`` None:
    ``DEFAULT_SIZES`` and every method the space has. Returns ``summarise``'s rows and the text a
    person reads.

    Args:
        train_sizes: default: nb101 100 172 424 4236; nb201 78 156 469 781 1563
        methods: default: netembed netembed+pretrained netembed+prior (nb101) mlp gbt, and on labels
            surrogate-SPACE has not seen zero-shot netembed+surrogate
        test_size: held-out cells (default: nb101 50,000; nb201 all outside a pool of twice the largest
            training size)
        labels: nb201: your own [{"arch", "value"}] accuracies (e.g. from real training) instead of the table
    """
    from netembed.models import hub

    train_sizes = train_sizes or DEFAULT_SIZES.get(space, DEFAULT_SIZES["nb201"])
    out = check_writable(out)
    if labels is not None:
        archs, accuracy, target = *_labelled_file(labels, space), "own"
        title = f"{space} predictors of {Path(labels).name}, same splits and seeds"
    elif space == "nb101":
        table = spaces.get(space).load_table(data)
        accuracy, archs, title = table.test_acc_108, None, "Accuracy predictors, same splits and seeds"
        test_size = 50_000 if test_size is None else test_size
        target = "accuracy"
    else:
        table = spaces.get(space).load_table(data)
        dataset = table.check_dataset(dataset or table.datasets[0])
        accuracy, archs = table.val[dataset], [table.arch_at(i) for i in range(len(table))]
        title = f"{space} {dataset} validation accuracy predictors, same splits and seeds"
        target = f"{dataset}_val"
    if test_size is None:
        test_size = len(accuracy) - 2 * max(train_sizes, default=0)
    surrogate = _init(SURROGATE, space)
    if methods is None:  # every method the space has; the transfers on labels their source has not seen
        unseen = hub.trained_on(surrogate) != target
        methods = [m for m in METHODS if (space == "nb101" or m != "netembed+prior") and (unseen or m not in TRANSFERS)]
    elif set(methods) & set(TRANSFERS):
        hub.check_unseen(surrogate, target, " and ".join(sorted(set(methods) & set(TRANSFERS))), BenchError)
    results = run_predictor_bench(
        accuracy, train_sizes, seeds, methods, test_size=test_size, progress=progress, steps=steps,
        batch_size=batch_size, runs_dir=out / "runs", archs=archs, space_name=space,
    )  # fmt: skip
    rows = summarise(results)
    plot = write_bench(results, rows, out, "predictors", title)
    text = format_rows(rows, ("spearman", "rmse"))
    return rows, f"{text}\nwrote {out / 'predictors.csv'}, {out / 'predictors_runs.csv'} and {plot}"


def _labelled_file(path: str, space_name: str) -> tuple[list, np.ndarray]:
    """A user's ``[{"arch", "value"}]`` accuracies of a space whose architectures are named by a
    string (NAS-Bench-101's own labelled cells: ``netembed bench transfer --labels``)."""
    if space_name == "nb101":
        raise BenchError(
            f"--labels is a file of another space's [{{arch, value}}] (NAS-Bench-101 cells: netembed bench "
            f"transfer --labels), got --space nb101 with {path}"
        )
    archs, accuracy = spaces.get(space_name).read_values(path, "accuracy", BenchError)
    bad = np.flatnonzero(~np.isfinite(accuracy) | (accuracy < 0))
    if len(bad):
        raise BenchError(
            f"{path}: accuracies must be finite and non-negative, got {accuracy[bad[0]]} at entry {bad[0]}"
        )
    return archs, accuracy


def bench_time(
    out: str | Path = "results/time",
    train_sizes: Sequence[int] = (100, 424, 15_000),
    seeds: Sequence[int] = range(3),
    methods: Sequence[str] = ("netembed", "params", "gbt"),
    data: str | Path | None = None,
    pool_size: int = 15_000,
    steps: int | None = None,
    batch_size: int | None = None,
    progress: bool = True,
) -> tuple[list[dict], str]:
    """``netembed bench time``: ``run_time_bench`` on the table's timed rows, as ``bench_predictors``.

    Args:
        pool_size: timed rows training sets are drawn from; the rest are the test set
    """
    from netembed.spaces.nb101.table import load_table

    out = check_writable(out)
    bench = load_table(data, required=True)
    if bench.train_time_108 is None:
        raise BenchError("bench time needs the training-time file (nb101_train_time_20k.npz) beside the table")
    results = run_time_bench(
        bench.train_time_108, bench.params, bench.flops, train_sizes, seeds, methods, pool_size=pool_size,
        progress=progress, steps=steps, batch_size=batch_size, runs_dir=out / "runs",
    )  # fmt: skip
    rows = summarise(results)
    plot = write_bench(results, rows, out, "time", "Training-time estimators, same splits and seeds")
    test = int(np.isfinite(bench.train_time_108).sum()) - pool_size
    table = format_rows(rows, ("mdape_percent",))
    return rows, (
        f"{table}\ntest: the {test:,} timed rows outside the {pool_size:,}-row training pool; "
        f"wrote {out / 'time.csv'}, {out / 'time_runs.csv'} and {plot}"
    )


def write_bench(results: list, rows: list[dict], out: Path, name: str, title: str) -> Path:
    """``out/NAME_runs.csv`` (one row per run), ``out/NAME.csv`` (means over seeds) and the plot."""
    from netembed.benchmarks.analysis import write_csv

    out = Path(out)
    write_csv([r.__dict__ for r in results], out / f"{name}_runs.csv")
    write_csv(rows, out / f"{name}.csv")
    return plot_bench(rows, out / f"{name}.png", title)


def plot_bench(rows: list[dict], path: Path, title: str) -> Path:
    """Kendall tau against training cells, one line per method: the mean over seeds with its 95%
    t interval as error bars (none where there is no interval: a single seed, or a NaN tau)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        means = np.array([r["kendall_tau"] for r in mine])
        low = np.array([r["kendall_tau"] if r["kendall_tau_low"] is None else r["kendall_tau_low"] for r in mine])
        high = np.array([r["kendall_tau"] if r["kendall_tau_high"] is None else r["kendall_tau_high"] for r in mine])
        ax.errorbar(
            [r["train_size"] for r in mine],
            means,
            yerr=[means - low, high - means],
            marker="o",
            capsize=3,
            label=method,
        )
    ax.set(xscale="log", xlabel="training cells", ylabel="Kendall tau on held-out cells (95% CI)", title=title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


#: How ``format_rows`` shows each optional column: header and format.
_COLUMNS = {"spearman": ("Spearman", ".3f"), "rmse": ("RMSE", ".4f"), "mdape_percent": ("MdAPE %", ".2f")}


def format_rows(rows: list[dict], columns: tuple[str, ...]) -> str:
    """``summarise``'s rows as a table: Kendall tau (mean +- std, and its 95% interval where there
    is one), then ``columns``, then the fit and prediction seconds."""
    width = max([len("method"), *(len(r["method"]) for r in rows)]) + 2
    head = f"{'method':<{width}}{'train':>7}{'seeds':>6}{'Kendall tau':>18}{'95% interval':>17}"
    lines = [head + "".join(f"{_COLUMNS[c][0]:>10}" for c in columns) + f"{'fit s':>8}{'predict s':>10}"]
    for r in rows:
        low, high = r.get("kendall_tau_low"), r.get("kendall_tau_high")
        interval = "-" if low is None or high is None else f"[{low:.3f}, {high:.3f}]"
        lines.append(
            f"{r['method']:<{width}}{r['train_size']:>7}{r['seeds']:>6}{r['kendall_tau']:>11.3f} +- "
            f"{r['kendall_tau_std']:.3f}{interval:>17}"
            + "".join(f"{r[c]:>10{_COLUMNS[c][1]}}" for c in columns)
            + f"{r['fit_seconds']:>8.1f}{r['predict_seconds']:>10.1f}"
        )
    return "\n".join(lines)
