"""Locality of the search space: does one move change accuracy a little or a lot?

Two views of the same question:

- **random-walk autocorrelation (RWA)**, as in NAS-Bench-101 (Ying et al. 2019, section 5.2,
  Figure 7): walk the move graph (one widen/deepen/rewire move per step) and correlate the
  accuracy at step ``t`` with the accuracy at step ``t + lag``, pooled over many walks. A
  correlation inside the band of *random independent pairs* is indistinguishable from noise;
  the paper finds that this happens beyond about 6 moves.
- **embedding locality**: for random pairs of cells, the correlation of their accuracies as a
  function of the Euclidean distance between their embeddings (any ``(N, d)`` array).

Imports numpy only; matplotlib is imported inside :func:`plot_locality`. Every random draw
comes from the ``rng`` you pass.

>>> import numpy as np
>>> ring = ring_graph(50)                           # 50 vertices, each linked to its two neighbours
>>> rng = np.random.default_rng(0)
>>> rows = random_walks(ring, walks=200, length=30, rng=rng)
>>> rows.shape
(200, 31)
>>> smooth = np.sin(2 * np.pi * np.arange(50) / 50)  # values vary slowly along the ring
>>> rwa = random_walk_autocorrelation(smooth[rows], max_lag=5, rng=rng)
>>> bool(rwa.correlation[0] > 0.95), bool(rwa.correlation[0] > rwa.correlation[-1])
(True, True)
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netembed._io import atomic_write, check_writable
from netembed.errors import DataError, NetembedError

__all__ = [
    "AnalysisError",
    "Autocorrelation",
    "EmbeddingLocality",
    "embedding_locality",
    "format_table",
    "locality_text",
    "plot_locality",
    "random_walk_autocorrelation",
    "random_walk_rows",
    "random_walks",
    "ring_graph",
    "run_embedding_locality",
    "run_locality",
    "write_csv",
]

Graph = tuple[np.ndarray, np.ndarray]
#: Two-sided 95% quantile of the standard normal (the analytic noise band is +-Z95 / sqrt(pairs)).
Z95 = 1.959963984540054


class AnalysisError(NetembedError, ValueError):
    """An argument the locality analysis cannot use (shape, length, NaN, out-of-range lag...)."""


# -- walks --------------------------------------------------------------------------------------


def ring_graph(n: int) -> Graph:
    """A ring of ``n`` vertices in CSR form, each linked to its predecessor and successor (for tests
    and examples).

    >>> ring_graph(4)[1].tolist()
    [3, 1, 0, 2, 1, 3, 2, 0]
    """
    if n < 3:
        raise AnalysisError(f"a ring needs n >= 3 vertices, got {n}")
    vertices = np.arange(n)
    indices = np.stack([(vertices - 1) % n, (vertices + 1) % n], axis=1).ravel()
    return np.arange(0, 2 * n + 1, 2, dtype=np.int64), indices.astype(np.int32)


def _check_graph(graph: Graph) -> tuple[np.ndarray, np.ndarray]:
    try:
        indptr, indices = graph
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"graph must be a CSR pair (indptr, indices), got {type(graph).__name__}") from exc
    indptr, indices = np.asarray(indptr), np.asarray(indices)
    if indptr.ndim != 1 or indices.ndim != 1 or len(indptr) < 2:
        raise AnalysisError(
            f"graph must be CSR: 1-D indptr with at least 2 entries and 1-D indices, "
            f"got shapes {indptr.shape} and {indices.shape}"
        )
    if not (np.issubdtype(indptr.dtype, np.integer) and np.issubdtype(indices.dtype, np.integer)):
        raise AnalysisError(f"graph indptr and indices must be integers, got {indptr.dtype} and {indices.dtype}")
    if indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
        raise AnalysisError(
            f"graph indptr must rise from 0 to len(indices)={len(indices)}, got {indptr[0]} .. {indptr[-1]}"
        )
    n = len(indptr) - 1
    if len(indices) and (indices.min() < 0 or indices.max() >= n):
        raise AnalysisError(f"graph indices must be rows in [0, {n}), got {indices.min()} .. {indices.max()}")
    return indptr, indices


def random_walks(
    graph: Graph, walks: int, length: int, rng: np.random.Generator, start: int | np.ndarray | None = None
) -> np.ndarray:
    """Many random walks at once: each step goes to a uniformly random out-neighbour.

    ``start`` is one row for every walk, an array of one row per walk, or None for uniformly
    random rows. A walk that reaches a row without out-neighbours raises :class:`AnalysisError`.

    Shapes:
        graph: CSR (indptr (N + 1,), indices (E,)); returns (walks, length + 1) int64 rows,
        column 0 being the start.
    """
    indptr, indices = _check_graph(graph)
    n = len(indptr) - 1
    _check_walks(walks, length)
    if start is None:
        current = rng.integers(0, n, size=walks)
    else:
        current = np.broadcast_to(np.asarray(start), (walks,)) if np.ndim(start) == 0 else np.asarray(start)
        if current.shape != (walks,) or not np.issubdtype(current.dtype, np.integer):
            raise AnalysisError(f"start must be one integer row or {walks} of them, got {np.asarray(start)!r:.80}")
        if current.min() < 0 or current.max() >= n:
            raise AnalysisError(f"start rows must be in [0, {n}), got {current.min()} .. {current.max()}")
    out = np.empty((walks, length + 1), dtype=np.int64)
    out[:, 0] = current
    degree = np.diff(indptr)
    for step in range(1, length + 1):
        current = out[:, step - 1]
        counts = degree[current]
        if (counts == 0).any():
            row = int(current[np.flatnonzero(counts == 0)[0]])
            raise AnalysisError(f"a walk reached row {row}, which has no out-neighbours (every row needs one)")
        choice = (rng.random(walks) * counts).astype(np.int64)  # uniform in [0, counts)
        out[:, step] = indices[indptr[current] + np.minimum(choice, counts - 1)]
    return out


def random_walk_rows(graph: Graph, length: int, rng: np.random.Generator, start: int | None = None) -> np.ndarray:
    """One random walk of ``length`` steps over the move graph; returns ``length + 1`` rows.

    >>> random_walk_rows(ring_graph(10), 3, np.random.default_rng(1), start=0).tolist()
    [0, 1, 2, 1]
    """
    return random_walks(graph, 1, length, rng, start=start)[0]


# -- autocorrelation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Autocorrelation:
    """Random-walk autocorrelation, one entry per lag ``1 .. max_lag``.

    ``correlation``: Pearson correlation of (f(x_t), f(x_{t+lag})) pooled over every walk and t;
    ``pairs``: how many pairs it is computed from; ``noise_low``/``noise_high``: the 2.5% and
    97.5% quantiles of the correlation of as many random independent pairs (the same values,
    paired by permutation); ``analytic_noise``: the normal approximation 1.96 / sqrt(pairs);
    ``ci_low``/``ci_high``: a 95% bootstrap interval of ``correlation`` over whole walks (it
    accounts for pairs of one walk not being independent; NaN when not computed);
    ``first_lag_in_noise``: the first lag whose correlation lies inside the permutation band
    (None when none does).

    Shapes:
        every array: (max_lag,).
    """

    lags: np.ndarray
    correlation: np.ndarray
    pairs: np.ndarray
    noise_low: np.ndarray
    noise_high: np.ndarray
    analytic_noise: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    first_lag_in_noise: int | None
    walks: int
    length: int
    meta: Mapping[str, object] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """One dict per lag, for :func:`write_csv`."""
        return [
            {
                "lag": int(lag),
                "correlation": float(self.correlation[i]),
                "pairs": int(self.pairs[i]),
                "noise_low": float(self.noise_low[i]),
                "noise_high": float(self.noise_high[i]),
                "analytic_noise": float(self.analytic_noise[i]),
                "ci_low": float(self.ci_low[i]),
                "ci_high": float(self.ci_high[i]),
                "in_noise": bool(self.noise_low[i] <= self.correlation[i] <= self.noise_high[i]),
            }
            for i, lag in enumerate(self.lags)
        ]

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "walks": self.walks,
            "length": self.length,
            "first_lag_in_noise": self.first_lag_in_noise,
            "lags": self.rows(),
            **({"meta": dict(self.meta)} if self.meta else {}),
        }


def _finite_values(values: np.ndarray, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name} must be numbers, got {type(values).__name__} ({exc})") from exc
    bad = ~np.isfinite(array)
    if bad.any():
        raise AnalysisError(f"{name} must be finite, got {int(bad.sum())} NaN or infinite values")
    return array


def _standardize(x: np.ndarray, axis: int = -1) -> np.ndarray:
    centred = x - x.mean(axis=axis, keepdims=True)
    scale = np.sqrt((centred**2).mean(axis=axis, keepdims=True))
    with np.errstate(invalid="ignore", divide="ignore"):
        return centred / scale


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant."""
    if len(x) < 2:
        return float("nan")
    return float(np.mean(_standardize(x) * _standardize(y)))


def _lag_pairs(values: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    return values[:, :-lag].ravel(), values[:, lag:].ravel()


def _check_walks(walks, length) -> None:
    if not isinstance(walks, (int, np.integer)) or walks < 1:
        raise AnalysisError(f"walks must be a positive integer, got {walks!r}")
    if not isinstance(length, (int, np.integer)) or length < 0:
        raise AnalysisError(f"length must be a non-negative integer (steps per walk), got {length!r}")


def _check_lag(max_lag, steps: int) -> None:
    if not isinstance(max_lag, (int, np.integer)) or not 1 <= max_lag < steps:
        raise AnalysisError(
            f"max_lag must be an integer in [1, walk length - 1] = [1, {steps - 1}] "
            f"(each walk has {steps} values), got {max_lag!r}"
        )


def _check_resampling(permutations, bootstrap, rng) -> None:
    if rng is not None and not (isinstance(permutations, (int, np.integer)) and permutations >= 20):
        raise AnalysisError(f"permutations must be >= 20 for a 95% band, got {permutations}")
    if not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0 or bootstrap == 1:
        raise AnalysisError(f"bootstrap must be 0 (off) or >= 2 resamplings, got {bootstrap}")


def random_walk_autocorrelation(
    values_along_walks: np.ndarray,
    max_lag: int,
    rng: np.random.Generator | None = None,
    permutations: int = 200,
    bootstrap: int = 200,
) -> Autocorrelation:
    """Autocorrelation of a function along random walks, with the noise level of random pairs.

    ``values_along_walks[w, t]`` is f at step t of walk w (a 1-D array is one walk). Every
    walk must be longer than ``max_lag`` steps. ``permutations`` random pairings give the
    empirical noise band (at least 20 needed when ``rng`` is given); ``bootstrap``
    resamplings of whole walks give ``ci_low``/``ci_high``. Without ``rng`` only the analytic
    band is computed and used for ``first_lag_in_noise``.

    Shapes:
        values_along_walks: (walks, length + 1) or (length + 1,); results: (max_lag,).
    """
    values = _finite_values(values_along_walks, "values_along_walks")
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2:
        raise AnalysisError(f"values_along_walks must be 1-D or 2-D (walks, steps), got shape {values.shape}")
    walks, steps = values.shape
    if walks == 0:
        raise AnalysisError(f"values_along_walks must hold at least one walk, got shape {values.shape}")
    _check_lag(max_lag, steps)
    if np.ptp(values) == 0:
        raise AnalysisError("values_along_walks must not be constant (a correlation needs variance)")
    _check_resampling(permutations, bootstrap, rng)

    lags = np.arange(1, max_lag + 1)
    correlation = np.array([_pearson(*_lag_pairs(values, lag)) for lag in lags])
    pairs = walks * (steps - lags)
    analytic = Z95 / np.sqrt(pairs)
    noise_low, noise_high = -analytic, analytic.copy()
    ci_low = np.full(max_lag, np.nan)
    ci_high = np.full(max_lag, np.nan)
    if rng is not None:
        for i, lag in enumerate(lags):
            noise_low[i], noise_high[i] = _permutation_band(*_lag_pairs(values, lag), permutations, rng)
        if bootstrap and walks >= 2:
            ci_low, ci_high = _bootstrap_interval(values, lags, bootstrap, rng)
    inside = (correlation >= noise_low) & (correlation <= noise_high)
    first = int(lags[np.argmax(inside)]) if inside.any() else None
    return Autocorrelation(
        lags=lags,
        correlation=correlation,
        pairs=pairs,
        noise_low=noise_low,
        noise_high=noise_high,
        analytic_noise=analytic,
        ci_low=ci_low,
        ci_high=ci_high,
        first_lag_in_noise=first,
        walks=walks,
        length=steps - 1,
    )


def _permutation_band(x: np.ndarray, y: np.ndarray, permutations: int, rng: np.random.Generator) -> tuple[float, float]:
    """2.5% and 97.5% quantiles of corr(x, y[perm]): the same values, paired at random.

    Permuting y keeps its mean and spread, so the standardised arrays are computed once.
    """
    xs, ys = _standardize(x), _standardize(y)
    # einsum, not @: a BLAS call per replicate makes its threads spin up and down (many times slower)
    null = np.array([np.einsum("i,i->", xs, rng.permutation(ys)) for _ in range(permutations)]) / len(xs)
    low, high = np.quantile(null, [0.025, 0.975])
    return float(low), float(high)


def _bootstrap_interval(
    values: np.ndarray, lags: np.ndarray, resamplings: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile interval of each lag's correlation, resampling whole walks with replacement.

    Works on per-walk sums (count, sum x, sum y, sum x^2, sum y^2, sum xy), so one resampling is
    a matrix product instead of a pass over every pair.
    """
    walks, steps = values.shape
    centred = values - values.mean()
    stats = np.empty((6, walks, len(lags)))
    for i, lag in enumerate(lags):
        x, y = centred[:, :-lag], centred[:, lag:]
        stats[:, :, i] = [
            np.full(walks, steps - lag),
            x.sum(1),
            y.sum(1),
            (x * x).sum(1),
            (y * y).sum(1),
            (x * y).sum(1),
        ]
    counts = rng.multinomial(walks, np.full(walks, 1.0 / walks), size=resamplings).astype(np.float64)
    n, sx, sy, sxx, syy, sxy = (counts @ s for s in stats)  # each (resamplings, lags)
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = (n * sxy - sx * sy) / np.sqrt((n * sxx - sx**2) * (n * syy - sy**2))
    return np.nanquantile(draws, 0.025, axis=0), np.nanquantile(draws, 0.975, axis=0)


# -- embedding locality -------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddingLocality:
    """Value correlation of random cell pairs, binned by embedding distance (equal-count bins).

    Per bin: ``distance_low``/``distance_high`` (its distance range), ``mean_distance``,
    ``correlation`` (Pearson over the bin's pairs taken in both orders, so it does not depend on
    which cell of a pair is first; NaN if the bin's values are constant), ``mean_abs_difference``
    of the values, and ``pairs``.

    Shapes:
        every array: (bins,).
    """

    distance_low: np.ndarray
    distance_high: np.ndarray
    mean_distance: np.ndarray
    correlation: np.ndarray
    mean_abs_difference: np.ndarray
    pairs: np.ndarray

    def rows(self) -> list[dict]:
        return [
            {
                "bin": i,
                "distance_low": float(self.distance_low[i]),
                "distance_high": float(self.distance_high[i]),
                "mean_distance": float(self.mean_distance[i]),
                "correlation": float(self.correlation[i]),
                "mean_abs_difference": float(self.mean_abs_difference[i]),
                "pairs": int(self.pairs[i]),
            }
            for i in range(len(self.pairs))
        ]

    def to_dict(self) -> dict:
        return {"bins": self.rows()}


def embedding_locality(
    embeddings: np.ndarray,
    values: np.ndarray,
    rng: np.random.Generator,
    pairs: int = 200_000,
    bins: int = 20,
) -> EmbeddingLocality:
    """How alike are the values of two cells, as a function of the distance between their embeddings?

    Draws ``pairs`` random pairs of distinct rows, sorts them by Euclidean distance and cuts
    them into ``bins`` bins of equal count (distance quantiles; ties may straddle two bins).
    A good embedding for search shows a high correlation in the nearest bin, falling towards 0.

    Shapes:
        embeddings: (N, d) floats; values: (N,); results: (bins,).
    """
    emb = _finite_values(embeddings, "embeddings")
    if emb.ndim != 2:
        raise AnalysisError(f"embeddings must be a 2-D (N, d) array, got shape {emb.shape}")
    vals = _finite_values(values, "values")
    if vals.ndim != 1 or len(vals) != len(emb):
        raise AnalysisError(f"values must be 1-D with one value per embedding row ({len(emb)}), got shape {vals.shape}")
    if len(emb) < 2:
        raise AnalysisError(f"embeddings must have at least 2 rows to form pairs, got {len(emb)}")
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise AnalysisError(f"bins must be a positive integer, got {bins!r}")
    if not isinstance(pairs, (int, np.integer)) or pairs < 2 * bins:
        raise AnalysisError(f"pairs must be an integer >= 2 * bins = {2 * bins}, got {pairs!r}")
    n = len(emb)
    first = rng.integers(0, n, size=pairs)
    second = (first + rng.integers(1, n, size=pairs)) % n  # a uniformly random *other* row
    distance = np.linalg.norm(emb[first] - emb[second], axis=1)
    order = np.argsort(distance, kind="stable")
    groups = np.array_split(order, bins)
    low, high, mean_d, corr, mad, count = (np.empty(bins) for _ in range(6))
    for b, group in enumerate(groups):
        d, a, c = distance[group], vals[first[group]], vals[second[group]]
        low[b], high[b], mean_d[b] = d.min(), d.max(), d.mean()
        corr[b] = _pearson(np.concatenate([a, c]), np.concatenate([c, a]))
        mad[b] = np.abs(a - c).mean()
        count[b] = len(group)
    return EmbeddingLocality(low, high, mean_d, corr, mad, count.astype(np.int64))


# -- output -------------------------------------------------------------------------------------


def format_table(result: Autocorrelation) -> str:
    """The RWA as a text table (lag, correlation, pairs, noise band, bootstrap interval)."""
    lines = [
        f"random-walk autocorrelation: {result.walks:,} walks x {result.length} moves",
        f"{'lag':>3}  {'corr':>7}  {'pairs':>9}  {'noise band (perm.)':>19}  {'analytic':>8}  {'95% CI (walks)':>17}",
    ]
    for row in result.rows():
        mark = "  <- noise" if row["in_noise"] else ""
        lines.append(
            f"{row['lag']:>3}  {row['correlation']:>7.4f}  {row['pairs']:>9,}  "
            f"[{row['noise_low']:>+7.4f}, {row['noise_high']:>+7.4f}]  {row['analytic_noise']:>8.4f}  "
            f"[{row['ci_low']:>+7.4f}, {row['ci_high']:>+7.4f}]{mark}"
        )
    first = result.first_lag_in_noise
    lines.append(
        f"first lag inside the noise band: {first}"
        if first is not None
        else f"no lag up to {len(result.lags)} is inside the noise band"
    )
    return "\n".join(lines)


def write_csv(rows: Iterable[Mapping[str, object]], path: str | os.PathLike) -> Path:
    """Write dicts as CSV (header from the first row's keys), atomically: temp file + os.replace.

    Accepts a result object too (anything with ``.rows()``).
    """
    if hasattr(rows, "rows"):
        rows = rows.rows()
    rows = list(rows)
    if not rows:
        raise AnalysisError("rows must hold at least one row (the header comes from its keys), got none")
    fields = list(rows[0])
    for i, row in enumerate(rows):
        if list(row) != fields:
            raise AnalysisError(f"every row must have the keys {fields}, row {i} has {list(row)}")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = buffer.getvalue()
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def plot_locality(result: Autocorrelation | EmbeddingLocality, path: str | os.PathLike, title: str = "") -> Path:
    """A PNG of either result: correlation per lag with its noise band, or per distance bin."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no backend switch

    figure = Figure(figsize=(6.4, 4.2), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.axhline(0.0, color="0.6", linewidth=0.8)
    if isinstance(result, Autocorrelation):
        lags = result.lags
        axes.fill_between(
            lags,
            result.noise_low,
            result.noise_high,
            color="tab:red",
            alpha=0.25,
            label="95% band of random pairs (permutation)",
        )
        axes.plot(
            lags, result.analytic_noise, color="tab:red", linestyle=":", linewidth=1, label=r"$\pm 1.96/\sqrt{pairs}$"
        )
        axes.plot(lags, -result.analytic_noise, color="tab:red", linestyle=":", linewidth=1)
        if np.isfinite(result.ci_low).all():
            error = np.vstack([result.correlation - result.ci_low, result.ci_high - result.correlation])
            axes.errorbar(
                lags,
                result.correlation,
                yerr=np.clip(error, 0, None),
                color="tab:blue",
                marker="o",
                markersize=4,
                capsize=2,
                label="correlation (95% CI over walks)",
            )
        else:
            axes.plot(lags, result.correlation, color="tab:blue", marker="o", markersize=4, label="correlation")
        if result.first_lag_in_noise is not None:
            axes.axvline(
                result.first_lag_in_noise,
                color="0.3",
                linestyle="--",
                linewidth=1,
                label=f"first lag in noise: {result.first_lag_in_noise}",
            )
        axes.set_xlabel("distance along the walk (moves)")
        axes.set_ylabel("autocorrelation of test accuracy")
        axes.set_xticks(lags if len(lags) <= 25 else lags[:: max(1, len(lags) // 20)])
    elif isinstance(result, EmbeddingLocality):
        axes.plot(
            result.mean_distance,
            result.correlation,
            color="tab:blue",
            marker="o",
            markersize=4,
            label="correlation of values",
        )
        axes.set_xlabel("embedding distance (mean of equal-count bin)")
        axes.set_ylabel("correlation of values")
        twin = axes.twinx()
        twin.plot(
            result.mean_distance,
            result.mean_abs_difference,
            color="tab:orange",
            marker="s",
            markersize=3,
            label="mean |value difference|",
        )
        twin.set_ylabel("mean |value difference|")
        twin.legend(loc="upper center", fontsize=8)
    else:
        raise AnalysisError(f"result must be an Autocorrelation or EmbeddingLocality, got {type(result).__name__}")
    axes.set_title(title, fontsize=10)
    axes.legend(loc="upper right", fontsize=8)
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format="png"))


# -- the experiment -----------------------------------------------------------------------------


def run_locality(
    *,
    walks: int = 1000,
    length: int = 100,
    max_lag: int = 20,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    graph: Graph | None = None,
    values: np.ndarray | None = None,
    data: str | os.PathLike | None = None,
    permutations: int = 200,
    bootstrap: int = 200,
    progress: bool = False,
) -> Autocorrelation:
    """NAS-Bench-101 Figure 7: RWA of test accuracy along random walks of single moves.

    Builds the move graph (about 90 s) unless ``graph`` is given and reads ``test_acc_108`` from
    the table (``data``, default location) unless ``values`` is given; a missing table raises
    :class:`~netembed.errors.DataError`. With ``out``, writes ``rwa.csv`` and ``rwa.png`` there.
    Timings and settings are in ``result.meta``.
    """
    _check_walks(walks, length)  # the settings and the folder before the move graph's 90 s
    _check_lag(max_lag, length + 1)
    _check_resampling(permutations, bootstrap, rng=True)
    if out is not None:
        check_writable(out)
    timings: dict[str, float] = {}
    if values is None:
        values = _table_accuracy(data)
    if graph is None:
        from netembed.spaces.nb101 import transforms

        start = time.perf_counter()
        graph = transforms.move_graph(progress=progress)
        timings["move_graph_s"] = time.perf_counter() - start
    values = _finite_values(values, "values")
    rows_in_graph = len(graph[0]) - 1
    if values.shape != (rows_in_graph,):
        raise AnalysisError(f"values must have one entry per graph row ({rows_in_graph}), got shape {values.shape}")
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    rows = random_walks(graph, walks, length, rng)
    timings["walks_s"] = time.perf_counter() - start
    start = time.perf_counter()
    result = random_walk_autocorrelation(values[rows], max_lag, rng, permutations=permutations, bootstrap=bootstrap)
    timings["autocorrelation_s"] = time.perf_counter() - start
    degree = np.diff(graph[0])
    meta = {
        "seed": seed,
        "permutations": permutations,
        "bootstrap": bootstrap,
        "distinct_cells_visited": len(np.unique(rows)),
        # where the walks go: the move graph is directed (pruning moves have no single-move
        # reverse), so walks can drift away from the uniform distribution they start from
        "mean_out_degree_first": round(float(degree[rows[:, 0]].mean()), 3),
        "mean_out_degree_last": round(float(degree[rows[:, -1]].mean()), 3),
        **_vertex_drift(rows, rows_in_graph),
        **{k: round(v, 3) for k, v in timings.items()},
    }
    result = dataclasses.replace(result, meta=meta)
    if out is not None:
        out = Path(out)
        write_csv(result.rows(), out / "rwa.csv")
        plot_locality(result, out / "rwa.png", f"NAS-Bench-101 RWA: {walks:,} walks x {length} moves, seed {seed}")
    return result


def run_embedding_locality(
    model: str, *, seed: int = 0, out: str | os.PathLike, data: str | os.PathLike | None = None
) -> EmbeddingLocality:
    """The counterpart of ``run_locality`` in a pretrained encoder's space: accuracy correlation of
    random cell pairs by embedding distance; writes ``embedding_locality.csv`` and ``.png`` in ``out``."""
    from netembed.models.encoder import CellEncoder
    from netembed.spaces.nb101 import space

    arrays = space.space_arrays()
    accuracy = _table_accuracy(data)
    embeddings = CellEncoder.from_pretrained(model).embed_arrays(arrays.adjacency, arrays.ops).numpy()
    near = embedding_locality(embeddings, accuracy, np.random.default_rng(seed))
    out = Path(out)
    write_csv(near.rows(), out / "embedding_locality.csv")
    plot_locality(near, out / "embedding_locality.png", f"Accuracy correlation vs embedding distance ({model})")
    return near


def locality_text(result: Autocorrelation, near: EmbeddingLocality | None, out: str | os.PathLike) -> str:
    """``run_locality``'s (and ``run_embedding_locality``'s) figures and files as lines of text."""
    out, meta, nan = Path(out), result.meta, float("nan")
    lines = [
        format_table(result),
        f"distinct cells visited: {meta['distinct_cells_visited']:,}",
        (
            f"walk drift after {result.length} moves: mean vertices {meta.get('mean_vertices_first', nan):.2f}"
            f" -> {meta.get('mean_vertices_last', nan):.2f} (moves that prune lead to smaller cells)"
        ),
        f"wrote {out / 'rwa.csv'} and {out / 'rwa.png'}",
    ]
    if near is not None:
        lines.append("accuracy correlation of random cell pairs by embedding-distance bin (nearest first):")
        lines += [
            f"  bin {r['bin']:>2}  distance {r['mean_distance']:.3f}  correlation {r['correlation']:+.3f}  "
            f"|acc diff| {r['mean_abs_difference']:.4f}"
            for r in near.rows()
        ]
        lines.append(f"wrote {out / 'embedding_locality.csv'} and {out / 'embedding_locality.png'}")
    return "\n".join(lines)


def _vertex_drift(rows: np.ndarray, graph_rows: int) -> dict[str, float]:
    """Mean vertex count at the first and last step, when the graph is the whole space."""
    from netembed.spaces.nb101 import space

    if graph_rows != space.NUM_CELLS:
        return {}
    vertices = space.space_arrays().num_vertices
    return {
        "mean_vertices_first": round(float(vertices[rows[:, 0]].mean()), 3),
        "mean_vertices_last": round(float(vertices[rows[:, -1]].mean()), 3),
    }


def _table_accuracy(data: str | os.PathLike | None) -> np.ndarray:
    """test_acc_108 in space-row order; the table must hold exactly the enumerated cells."""
    from netembed.spaces.nb101 import space
    from netembed.spaces.nb101.table import Benchmark

    bench = Benchmark.load(data)
    hashes = space.space_arrays().hashes
    if len(bench) != len(hashes) or not np.array_equal(bench.hashes, hashes):
        raise DataError(
            f"the table at {bench.source} must hold exactly the {len(hashes):,} cells of the space in hash order "
            f"to align with the move graph, got {len(bench):,} rows"
        )
    return np.asarray(bench.test_acc_108, dtype=np.float64)


def locality(
    out="results/locality", embedding: str | None = None, data=None, seed: int = 0, progress: bool = True,
    walks: int = 1000, length: int = 100, max_lag: int = 20, permutations: int = 200, bootstrap: int = 200,
):  # fmt: skip
    """``netembed analyze locality``: ``run_locality`` and, with a pretrained ``embedding``,
    ``run_embedding_locality``; returns the payload and the text.

    Args:
        out: folder for the CSV and PNG files
        embedding: also: accuracy correlation vs distance in this encoder's space
        length: moves per walk
        permutations: random pairings per lag for the noise band
        bootstrap: walk resamplings for the 95% interval (0: off)
    """
    import time

    if embedding:  # a wrong name fails now, not after the walks
        from netembed.models import hub

        hub.resolve(embedding)
    start, out = time.perf_counter(), Path(out)
    result = run_locality(
        seed=seed, out=out, data=data, progress=progress, walks=walks, length=length, max_lag=max_lag,
        permutations=permutations, bootstrap=bootstrap,
    )  # fmt: skip
    payload = {**result.to_dict(), "seconds": round(time.perf_counter() - start, 2), "out": str(out)}
    near = None
    if embedding:
        near = run_embedding_locality(embedding, seed=seed, out=out, data=data)
        payload["embedding"] = near.to_dict()
    return payload, locality_text(result, near, out)
