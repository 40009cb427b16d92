"""A new device from a few timings: how well a device's latencies are ranked from N measured
architectures, every device of the table held out in turn.

For each test device and each (N, seed), N architectures are drawn at random and "measured" (their
latencies on that device are read from the table); every method is fitted on those N and ranks
all the other architectures of the table, scored by Spearman and Kendall tau against the
device's true latencies. The test device's column is read only at the N measured rows: a
method sees the other devices (``train_devices``, never the test device) in full, which is what a
model shipped from those devices would know. The baselines, fitted on the same N:

- ``params``: log latency linear in log parameters (the ranking of parameter counts);
- ``best_device``: the seen device whose latencies rank the N measured ones best (Spearman);
- ``nnls``: non-negative least squares of the N measured log latencies on the seen devices' log
  latencies and an intercept (a weighted mix of the devices it resembles).

The learned estimators (``netembed.models.latency``), their prior learned from the seen devices:

- ``prior``: the device's weights over the space's structure features, adapted from the N
  timings under the prior over devices (what a shipped model knows: no other device's timings
  of these architectures needed);
- ``prior+devices``: whichever of ``nnls``, ``prior`` and NNLS with the prior on its residual
  predicts the N measured architectures best, each left out in turn.

Runs on any table in the NAS-Bench-201 format: devices come from its ``latency_{device}`` columns.

>>> import numpy as np
>>> seen = np.log(np.array([[1.0, 2.0], [2.0, 3.0], [3.0, 7.0], [4.0, 5.0]]))  # two seen devices
>>> known = Known(seen, np.zeros(4), np.zeros((4, 1)), ("a", "b"))
>>> fitted = METHODS["nnls"](known, np.arange(3), np.log([2.0, 4.0, 6.0]))  # twice the first
>>> np.round(np.exp(fitted), 2).tolist()
[2.0, 4.0, 6.0, 8.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau, spearmanr

from netembed import spaces
from netembed._io import check_writable, save_figure
from netembed.benchmarks import stats
from netembed.errors import NetembedError
from netembed.models.latency import LatencyPrior

__all__ = ["METHODS", "BenchError", "LatencyScore", "bench_latency", "rank_agreement", "run_latency_bench", "summarise"]

#: Architectures measured on the test device, by default (the issue's adaptation sizes).
DEFAULT_SIZES = (5, 10, 20, 50)


class BenchError(NetembedError, ValueError):
    """Latency benchmark settings that cannot run (unknown device or method, too few timings)."""


# -- the methods: fit(what is known of every architecture, the measured rows, their measured log
#    latencies) -> predicted log latencies of every architecture


@dataclass
class Known:
    """What a method knows of every architecture of the table: the seen devices' log latencies
    (``devices``; never the tested device's), log parameter counts and structure features."""

    seen: np.ndarray
    log_params: np.ndarray
    features: np.ndarray
    devices: tuple[str, ...]
    _prior: LatencyPrior | None = None  # learned at its first use

    def prior(self) -> LatencyPrior:
        """The prior over devices learned from the seen devices (once per held-out device)."""
        if self._prior is None:
            columns = {d: np.exp(self.seen[:, j]) for j, d in enumerate(self.devices)}
            self._prior = LatencyPrior.learn(self.features, columns, space="seen")
        return self._prior


def _fit_params(known: Known, rows, measured) -> np.ndarray:
    slope, intercept = np.polyfit(known.log_params[rows], measured, 1)
    return slope * known.log_params + intercept


def _fit_best_device(known: Known, rows, measured) -> np.ndarray:
    agreement = [spearmanr(known.seen[rows, j], measured).statistic for j in range(known.seen.shape[1])]
    return known.seen[:, int(np.nanargmax(agreement))]


def _fit_nnls(known: Known, rows, measured) -> np.ndarray:
    from scipy.optimize import nnls

    columns = np.column_stack([known.seen, np.ones(len(known.seen))])
    weights, _ = nnls(columns[rows], measured)
    return columns @ weights


def _fit_prior(known: Known, rows, measured) -> np.ndarray:
    """The prior learned from the seen devices, adapted to the measured architectures."""
    return known.prior().adapt(known.features[rows], np.exp(measured)).log_ms(known.features)


def _fit_nnls_and_prior(known: Known, rows, measured) -> np.ndarray:
    """NNLS of the seen devices, its residual learned under the prior over devices."""
    prior, predicted = known.prior(), _fit_nnls(known, rows, measured)
    design = np.column_stack([np.ones(len(known.features)), known.features])
    return predicted + design @ prior.posterior(design[rows], measured - predicted[rows])


def _fit_prior_and_devices(known: Known, rows, measured) -> np.ndarray:
    """Whichever of NNLS, the prior, and NNLS with the prior on its residual predicts the measured
    architectures best when each is left out in turn (the measured ones alone decide)."""
    fits = (_fit_nnls, _fit_prior, _fit_nnls_and_prior)
    errors = [
        np.mean(
            [
                (fit(known, np.delete(rows, i), np.delete(measured, i))[rows[i]] - measured[i]) ** 2
                for i in range(len(rows))
            ]
        )
        for fit in fits
    ]
    return fits[int(np.argmin(errors))](known, rows, measured)


METHODS: dict[str, Callable] = {
    "params": _fit_params,
    "best_device": _fit_best_device,
    "nnls": _fit_nnls,
    "prior": _fit_prior,
    "prior+devices": _fit_prior_and_devices,
}


@dataclass(frozen=True)
class LatencyScore:
    """How one method, fitted on ``measured`` architectures timed on ``device`` (seed ``seed``),
    ranks that device's latencies on every other architecture of the table."""

    method: str
    device: str
    measured: int
    seed: int
    spearman: float
    kendall_tau: float


def _check(table, sizes, seeds, methods, train_devices, test_devices) -> tuple[list[str], list[str]]:
    """The devices to train on and to test, checked against the table; the other settings."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise BenchError(f"methods must be among {list(METHODS)}, got {unknown}")
    if not len(sizes) or min(sizes) < 2:
        raise BenchError(
            f"measured architectures must be at least 2 per size (a fit needs two timings), got {list(sizes)}"
        )
    if max(sizes) > len(table) - 2:
        raise BenchError(f"measured architectures must be at most {len(table) - 2}, got {max(sizes)}")
    if not len(seeds):
        raise BenchError("seeds must hold at least one seed, got none")
    if not table.devices:
        raise BenchError(f"{table.source} has no latency_{{device}} columns")
    train = list(table.devices if train_devices is None else [table.check_device(d) for d in train_devices])
    test = list(table.devices if test_devices is None else [table.check_device(d) for d in test_devices])
    if train_devices is not None and test_devices is not None and (both := sorted(set(train) & set(test))):
        raise BenchError(
            f"--train-devices and --test-devices must not share a device (a test device is never trained on), "
            f"got {', '.join(both)} in both"
        )
    for device in test:
        if not [d for d in train if d != device]:
            raise BenchError(f"testing {device} needs at least one other device to train on, got {train}")
    return train, test


def run_latency_bench(
    table,
    sizes: Sequence[int] = DEFAULT_SIZES,
    seeds: Sequence[int] = range(5),
    methods: Sequence[str] = tuple(METHODS),
    train_devices: Sequence[str] | None = None,
    test_devices: Sequence[str] | None = None,
    space_name: str = "nb201",
) -> list[LatencyScore]:
    """Every test device held out in turn (see the module docstring). ``train_devices`` None: all
    of the table's devices but the one tested; ``test_devices`` None: each of the table's devices."""
    train, test = _check(table, sizes, seeds, methods, train_devices, test_devices)
    space = spaces.get(space_name)
    archs = [table.arch_at(i) for i in range(len(table))]
    log_params, features = np.log([space.count_params(a) for a in archs]), space.feature_inputs(archs)
    logs = {d: np.log(np.asarray(table.latency[d], dtype=np.float64)) for d in {*train, *test}}
    results = []
    for device in test:
        others = tuple(d for d in train if d != device)  # never the test device
        known = Known(np.column_stack([logs[d] for d in others]), log_params, features, others)
        for size in sizes:
            for seed in seeds:
                rows = np.random.default_rng([seed, size]).choice(len(table), size, replace=False)
                rest = np.setdiff1d(np.arange(len(table)), rows)
                measured = logs[device][rows]  # the test device's column, read at the measured rows only
                for method in methods:
                    predicted = METHODS[method](known, rows, measured)[rest]
                    results.append(
                        LatencyScore(method, device, size, seed, *rank_agreement(predicted, logs[device][rest]))
                    )
    return results


def rank_agreement(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Spearman and Kendall tau; a constant prediction ranks nothing: 0 (where they are undefined)."""
    if np.ptp(predicted) == 0:
        return 0.0, 0.0
    return float(spearmanr(predicted, truth).statistic), float(kendalltau(predicted, truth).statistic)


def summarise(results: Sequence[LatencyScore]) -> tuple[list[dict], list[dict]]:
    """(rows per method and size: Spearman and Kendall tau averaged over devices and seeds, the
    95% t interval of the device mean over seeds, and the worst device's mean; rows per method,
    size and device: its mean over seeds)."""
    rows, per_device = [], []
    methods = list(dict.fromkeys(r.method for r in results))
    for method, size in sorted({(r.method, r.measured) for r in results}, key=lambda g: (methods.index(g[0]), g[1])):
        row, devices = _summary(method, size, [r for r in results if r.method == method and r.measured == size])
        rows.append(row)
        per_device += devices
    return rows, per_device


def _summary(method: str, size: int, mine: list[LatencyScore]) -> tuple[dict, list[dict]]:
    """One method and size: the mean row and the per-device rows."""
    by_device: dict[str, list[LatencyScore]] = {}
    for r in mine:
        by_device.setdefault(r.device, []).append(r)
    means = {d: float(np.mean([r.spearman for r in rs])) for d, rs in by_device.items()}
    seeds = sorted({r.seed for r in mine})
    over_seeds = [np.mean([r.spearman for r in mine if r.seed == s]) for s in seeds]
    low, high = stats.mean_interval(over_seeds)[1:] if len(seeds) > 1 else (None, None)
    worst = min(means, key=means.get)
    row = {
        "method": method,
        "measured": size,
        "devices": len(by_device),
        "seeds": len(seeds),
        "spearman": float(np.mean([r.spearman for r in mine])),
        "spearman_low": low,
        "spearman_high": high,
        "kendall_tau": float(np.mean([r.kendall_tau for r in mine])),
        "worst_device": worst,
        "worst_spearman": means[worst],
    }
    devices = [
        {
            "method": method,
            "measured": size,
            "device": d,
            "spearman": means[d],
            "kendall_tau": float(np.mean([r.kendall_tau for r in rs])),
        }
        for d, rs in by_device.items()
    ]
    return row, devices


def bench_latency(
    out: str | Path = "results/latency",
    sizes: Sequence[int] | None = DEFAULT_SIZES,
    seeds: Sequence[int] = range(5),
    methods: Sequence[str] | None = tuple(METHODS),
    data: str | Path | None = None,
    train_devices: Sequence[str] | None = None,
    test_devices: Sequence[str] | None = None,
    space_name: str = "nb201",
) -> tuple[list[dict], str]:
    """``netembed bench latency``: ``run_latency_bench`` on the table at ``data`` (None: the
    default place), ``out/latency.csv`` (means), ``out/latency_devices.csv`` (per device),
    ``out/latency_runs.csv`` and a plot. Returns the mean rows and the text a person reads.

    Args:
        sizes: architectures measured on the held-out device
        train_devices: devices A,B,... to learn from (default: all but the tested)
        test_devices: devices C,D,... to hold out in turn (default: every one)
    """
    from netembed.benchmarks.analysis import write_csv

    sizes, methods = sizes or DEFAULT_SIZES, methods or tuple(METHODS)
    out = check_writable(out)
    table = spaces.get(space_name).load_table(data)
    results = run_latency_bench(table, sizes, seeds, methods, train_devices, test_devices, space_name)
    rows, per_device = summarise(results)
    write_csv([r.__dict__ for r in results], out / "latency_runs.csv")
    write_csv(rows, out / "latency.csv")
    write_csv(per_device, out / "latency_devices.csv")
    plot = _plot(rows, out / "latency.png")
    return rows, "\n".join(
        [*_text(rows, per_device), f"wrote {out / 'latency.csv'}, {out / 'latency_devices.csv'} and {plot}"]
    )


def _text(rows: list[dict], per_device: list[dict]) -> list[str]:
    lines = [f"{'method':<13}{'measured':>9}{'Spearman':>10}{'95% interval':>18}{'Kendall':>9}  worst device"]
    for r in rows:
        interval = "" if r["spearman_low"] is None else f"[{r['spearman_low']:.3f}, {r['spearman_high']:.3f}]"
        lines.append(
            f"{r['method']:<13}{r['measured']:>9}{r['spearman']:>10.3f}{interval:>18}{r['kendall_tau']:>9.3f}"
            f"  {r['worst_device']} {r['worst_spearman']:.3f}"
        )
    devices = list(dict.fromkeys(r["device"] for r in per_device))
    methods = list(dict.fromkeys(r["method"] for r in per_device))
    size = 10 if any(r["measured"] == 10 for r in per_device) else per_device[0]["measured"]
    lines.append(f"\nSpearman per held-out device, {size} measured architectures:")
    width = max(13, *(len(m) + 2 for m in methods))
    lines.append(f"{'device':<16}" + "".join(f"{m:>{width}}" for m in methods))
    for d in devices:
        found = {r["method"]: r["spearman"] for r in per_device if r["device"] == d and r["measured"] == size}
        lines.append(f"{d:<16}" + "".join(f"{found[m]:>{width}.3f}" for m in methods))
    return lines


def _plot(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        ax.plot([r["measured"] for r in mine], [r["spearman"] for r in mine], marker="o", label=f"{method} (mean)")
        ax.plot(
            [r["measured"] for r in mine], [r["worst_spearman"] for r in mine], ls=":", color=ax.lines[-1].get_color()
        )
    ax.set(
        xscale="log", xlabel="architectures measured on the held-out device",
        ylabel="Spearman on the rest (dotted: worst device)", title="A new device from a few timings",
    )  # fmt: skip
    ax.legend(fontsize=8)
    return save_figure(fig, path)
