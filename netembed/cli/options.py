"""The command line's options, one function per command; defaults come from the library's own
specs and configs, imported only when that command's options are built (``cli.build_parser``)."""

from __future__ import annotations

import argparse
import os

DATA_HELP = "table folder or .npz (default: $NETEMBED_DATA, else ../shared/data/nb101)"
CELL_HELP = 'JSON {"matrix": ..., "ops": ...} or a file holding it'


SEED_MAX = 2**32 - 1  # numpy's legacy and torch's seeds both take it; seeds + offsets stay far below 2**63


def seed(text: str) -> int:
    """The type of every seed option: an integer in [0, SEED_MAX]."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, {SEED_MAX}], got {text!r}")
    return value


def per_cpu(text: str) -> int:
    """The type of ``--threads`` and of every ``--jobs``: ``netembed.threads.check``'s rule (an
    integer from 1 to 4 per CPU this process may use: more only queue for the same CPUs)."""
    from netembed.threads import ThreadsError, check

    try:
        return check(text)
    except ThreadsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _Defaults(argparse.HelpFormatter):
    """Help that shows each option's default, where it has one the help does not already state."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)".lstrip()


def _common(sub: argparse.ArgumentParser, formats: bool = True, data: bool = True) -> None:
    sub.formatter_class = _Defaults
    if formats:
        sub.add_argument("--format", choices=("text", "json"), default="text")
    if data:
        sub.add_argument("--data", help=DATA_HELP)


def _threads(sub) -> None:
    sub.add_argument(
        "--threads", type=per_cpu,
        help="CPU threads for torch (default: $NETEMBED_THREADS, else the usable CPUs not already busy)",
    )  # fmt: skip


def _space(sub, dataset: bool = False) -> None:
    """``--space`` (and ``--dataset``): which search space, and which of its table's data sets."""
    from netembed.spaces import DEFAULT, SPACES

    sub.add_argument("--space", choices=tuple(SPACES), default=DEFAULT, help="search space")
    if dataset:
        sub.add_argument("--dataset", help="nb201: the data set whose accuracies to read (default: cifar10)")


def _seeds(sub, default: int, offset_type=None) -> None:
    """``--seeds N`` and ``--seed-offset K``: the seeds K .. K+N-1 (``cli.seed_range``)."""
    sub.add_argument("--seeds", type=int, default=default, help="number of seeds")
    sub.add_argument("--seed-offset", type=offset_type or seed, default=0, help="first seed")


def info(sub):
    _common(sub)
    _space(sub)


def query(sub):
    _common(sub)
    _space(sub, dataset=True)
    sub.add_argument("cell", help=CELL_HELP + ", or an official hash (nb201: its string, or its index)")


def neighbors(sub):
    _common(sub)
    _space(sub, dataset=True)
    sub.add_argument("cell", help=CELL_HELP + " (nb201: its string, or its index)")


def demo(sub):
    _common(sub, formats=False)
    sub.add_argument("--seed", type=seed, default=0)
    sub.add_argument("--steps", type=int, default=10)


def pretrain(sub):
    from netembed.models.encoder import EncoderConfig
    from netembed.models.pretrain import PretrainConfig

    encoder, config = EncoderConfig(), PretrainConfig()
    _common(sub, formats=False, data=False)
    _threads(sub)
    _space(sub)
    sub.add_argument(
        "--out", help="pretrained directory to write, new or empty, or --force (default: results/encoder-SPACE)"
    )
    sub.add_argument("--force", action="store_true", help="replace what --out holds (e.g. pretrained/encoder-nb101)")
    sub.add_argument("--work", help="checkpoint folder (default: OUT.checkpoint); rerun to resume")
    sub.add_argument("--epochs", type=int, default=config.epochs)
    sub.add_argument("--batch-size", type=int, default=config.batch_size)
    sub.add_argument("--lr", type=float, default=config.lr)
    sub.add_argument("--seed", type=seed, default=config.seed)
    sub.add_argument("--kl-weight", type=float, default=config.kl_weight)
    sub.add_argument("--hidden", type=int, default=encoder.hidden)
    sub.add_argument("--layers", type=int, default=encoder.layers)
    sub.add_argument("--embedding-dim", type=int, default=encoder.embedding_dim)
    sub.add_argument("--device", default="cpu")


def embed(sub):
    _common(sub, data=False)
    _threads(sub)
    sub.add_argument(
        "cells",
        nargs="?",
        help='JSON list of cells, {"matrix": ..., "ops": ...} (nb201: {"arch": ...}), a file or text',
    )
    sub.add_argument("--model", default="encoder-nb101", help="pretrained name or directory (its space's cells)")
    sub.add_argument("--eval", action="store_true", help="measure reconstruction, smoothness, edit distance, speed")
    sub.add_argument("--out", default="results/embedding", help="where --eval writes its PNG and JSON")
    sub.add_argument("--device", default="cpu")


def train_predictor(sub):
    from netembed.models.predictors import READOUTS, TARGETS, PredictorConfig
    from netembed.runs.surrogate import LABELS, PredictorJob

    job, config = PredictorJob(), PredictorConfig()
    _common(sub)
    _threads(sub)
    _space(sub, dataset=True)
    sub.add_argument(
        "--label", default=job.label,
        help=f"{', '.join(LABELS)}, latency or latency:DEVICE (nb201). params: log parameter counts of random "
        "cells, computed (no table, no labels): a label-free prior for --init; latency: the prior over the table's "
        "devices; latency:DEVICE: a device adapted from --train-size timings or --cells [{\"arch\", \"value\"}] "
        "ms, --init a latency prior",
    )  # fmt: skip
    sub.add_argument("--train-size", type=int, default=job.train_size, help="random table cells to train on")
    sub.add_argument(
        "--cells", help='or: a JSON file of your evaluated cells [{"matrix", "ops", "value"}], '
        "or a search's queries.jsonl (its accuracies, or its seconds with --label time)",
    )  # fmt: skip
    sub.add_argument("--test-size", type=int, default=job.test_size, help="held-out table cells to report on")
    sub.add_argument(
        "--init", help="warm-start every member's encoder (encoder-nb101) or whole members from a predictor of "
        "the same shape (prior-nb101)",
    )  # fmt: skip
    sub.add_argument("--members", type=int, default=config.members)
    sub.add_argument(
        "--steps", type=int, help=f"exactly this many training steps (default: {config.steps}, or {config.epochs} "
        f"passes over the cells when more; {config.steps} for time)",
    )  # fmt: skip
    sub.add_argument("--batch-size", type=int, default=config.batch_size)
    sub.add_argument(
        "--ranking-weight", type=float, help=f"pairwise ranking loss weight (default: {config.ranking_weight:g} for "
        "accuracy, 0 for time: plain squared error on log-seconds measured best)",
    )  # fmt: skip
    sub.add_argument(
        "--targets", choices=TARGETS, help=f"what an accuracy predictor learns (default {config.targets}: normal "
        "scores of the labels' ranks; raw: the labels); time and params learn logs (raw)",
    )  # fmt: skip
    sub.add_argument(
        "--readout", choices=READOUTS, help=f"what the heads see (default {config.readout}: the embedding and the "
        "output vertex's latent; mean: the embedding alone, the time estimator's default)",
    )  # fmt: skip
    sub.add_argument("--seed", type=seed, default=job.seed)
    sub.add_argument(
        "--out", default="results/predictor", help="pretrained directory to write (new or empty, or --force)"
    )
    sub.add_argument("--force", action="store_true", help="replace what --out holds (e.g. pretrained/surrogate-nb101)")


def _training(sub, seed_help: str | None = None) -> None:
    """Options of real training, shared by train-cell and search --evaluator train."""
    from netembed.train.spec import TrainingSpec

    spec = TrainingSpec()
    group = sub.add_argument_group("real training")
    group.add_argument(
        "--images", default=spec.images,
        help="digits (scikit-learn's, offline) or an .npz with train_images, train_labels, test_images, test_labels",
    )  # fmt: skip
    group.add_argument("--train-size", type=int, default=spec.train_size, help="digits images to train on")
    group.add_argument("--label-noise", type=float, default=spec.label_noise)
    group.add_argument("--split-seed", type=seed, default=spec.split_seed, help="digits train/test split")
    group.add_argument("--epochs", type=int, default=spec.epochs)
    group.add_argument("--batch-size", type=int, default=spec.batch_size)
    group.add_argument("--lr", type=float, default=spec.lr)
    group.add_argument(
        "--stem-channels", type=int, default=spec.stem_channels,
        help="128 with --stacks 3 --cells-per-stack 3 is NAS-Bench-101's full network",
    )  # fmt: skip
    group.add_argument("--stacks", type=int, default=spec.stacks)
    group.add_argument("--cells-per-stack", type=int, default=spec.cells_per_stack)
    group.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def search(sub):
    from netembed.runs import METHODS, SearchSpec
    from netembed.search.evaluators import EVALUATORS
    from netembed.search.objective import COSTS, KINDS, MODES

    spec = SearchSpec()
    _common(sub)
    _threads(sub)
    _space(sub, dataset=True)
    sub.add_argument("--method", default=spec.method, help=", ".join(METHODS))
    sub.add_argument(
        "--warm-start", help="a pretrained predictor whose best-ranked cells are queried first, then the netembed "
        "surrogate starts from it and fine-tunes on the run's labels (surrogate-nb101/accuracy: it has seen CIFAR-10 "
        "labels; for a task of your own, not the table)",
    )  # fmt: skip
    sub.add_argument(
        "--evaluator", choices=EVALUATORS, default=spec.evaluator,
        help="surrogate: pretrained predictors, no table needed; table: NAS-Bench-101 labels; train: train each "
        "cell's network (see the real training options)",
    )  # fmt: skip
    sub.add_argument("--budget", type=int, default=spec.budget.queries, help="queries (new cells labelled)")
    sub.add_argument("--seconds", type=float, help="and/or a wall-time budget")
    sub.add_argument("--seed", type=seed, default=spec.seed)
    sub.add_argument(
        "--reward", choices=MODES, default=spec.objective.reward.mode,
        help="accuracy, or MnasNet's accuracy * (cost / target)^w, soft or hard",
    )  # fmt: skip
    sub.add_argument(
        "--cost", default=spec.objective.reward.cost,
        help=f"{', '.join(COSTS)} (nb201: a device of its table, e.g. latency:pixel3)",
    )  # fmt: skip
    sub.add_argument("--cost-target", type=float, help="T0 of the soft/hard reward, in units of --cost")
    sub.add_argument(
        "--latency-model", help="nb201: a device's latency model (train-predictor --label latency:DEVICE) whose "
        "predictions a latency:DEVICE cost reads instead of the table's column",
    )  # fmt: skip
    sub.add_argument(
        "--latency-quantile", type=float, default=spec.latency_quantile,
        help="the quantile of --latency-model's predictive spread the cost reads (0.5: its median)",
    )  # fmt: skip
    sub.add_argument(
        "--objective", choices=KINDS, default=spec.objective.kind,
        help="pareto: grow the front of accuracy vs parameters (netembed and random)",
    )  # fmt: skip
    sub.add_argument("--top", type=int, default=5, help="best cells to print")
    sub.add_argument("--accuracy-model", help="pretrained name or directory (default: surrogate-SPACE/accuracy)")
    sub.add_argument("--time-model", help="pretrained name or directory (default: surrogate-SPACE/time)")
    sub.add_argument("--out", default="results/search", help="folder for the query log, result and plot")
    sub.add_argument("--resume", action="store_true", help="continue the run logged in --out")
    sub.add_argument(
        "--workers", type=int, default=spec.workers,
        help="worker processes sharing one Optuna study (in --storage, else OUT/study.db); rerunning the same "
        "command rejoins the study. 1 (the default) without --storage: one process, a query log, no study",
    )  # fmt: skip
    sub.add_argument(
        "--storage", default=os.environ.get("NETEMBED_STORAGE"),
        help="an Optuna RDB storage URL shared by workers on any machines, e.g. postgresql+psycopg://user@host/db "
        "(each machine runs the same command); default $NETEMBED_STORAGE, which keeps a password out of ps",
    )  # fmt: skip
    sub.add_argument("--study", default=spec.study, help="the study's name in --storage")
    sub.add_argument(
        "--worker", type=int, default=spec.worker,
        help="this process's worker index (its method is seeded --seed + 10,000 * index); with --workers N, the "
        "first of N; give each machine its own",
    )  # fmt: skip
    _training(sub)
    sub.add_argument(
        "--inherit", action="store_true",
        help="with --evaluator train: start each cell from the weights of a trained cell one move away (Net2Net), "
        "when there is one",
    )  # fmt: skip


def compare(sub):
    from netembed.runs import COLD_METHODS, METHODS

    _common(sub)
    _threads(sub)
    _space(sub, dataset=True)
    sub.add_argument(
        "--methods", nargs="+", default=list(COLD_METHODS),
        help=f"among {', '.join(METHODS)} (netembed+warm: nb201, a data set its surrogate was not trained on)",
    )  # fmt: skip
    _seeds(sub, 30)
    sub.add_argument("--budget", type=int, default=300, help="queries per run")
    sub.add_argument("--jobs", type=per_cpu, default=1, help="parallel processes")
    sub.add_argument(
        "--objective", choices=("reward", "pareto"), default="reward",
        help="reward: best test accuracy; pareto: front of accuracy vs parameters (random, netembed)",
    )  # fmt: skip
    sub.add_argument("--out", default="results/compare", help="folder for runs/, CSV, JSON and PNG; rerun to resume")


def train_cell(sub):
    _common(sub)
    _threads(sub)
    sub.add_argument("cell", help=CELL_HELP)
    sub.add_argument("--seed", type=seed, default=0, help="initial weights and shuffles")
    _training(sub)
    sub.add_argument("--out", default="results/train-cell", help="checkpoint folder and result.json")


def label(sub):
    from netembed.train.labels import LabelJob

    job = LabelJob()
    _common(sub)
    sub.add_argument(
        "--size", type=int, default=job.size,
        help="random cells in the set (any size starts with the same cells: a larger --size extends a set)",
    )  # fmt: skip
    sub.add_argument("--seeds", type=int, default=job.seeds, help="training seeds per cell (0, 1, ...)")
    sub.add_argument("--sample-seed", type=int, default=job.sample_seed, help="which random cells")
    sub.add_argument("--jobs", type=per_cpu, default=job.jobs, help="trainings at a time, one thread each")
    _training(sub)
    sub.add_argument("--out", default="results/labels", help="folder for runs.jsonl and labels.json; rerun to resume")


def bench(sub, cli):
    from netembed.models.predictors import PredictorConfig

    config = PredictorConfig()
    steps_help = f"netembed's training steps, exactly (default {config.steps}, or {config.epochs} passes over the cells when more)"
    batch_help = f"netembed's batch (default {config.batch_size})"
    benches = sub.add_subparsers(dest="bench", required=True)
    preds = benches.add_parser("predictors", help="accuracy predictors against baselines, same splits and seeds")
    preds.set_defaults(handler=cli.cmd_bench_predictors)
    _common(preds)
    _threads(preds)
    _space(preds, dataset=True)
    preds.add_argument(
        "--train-sizes", type=int, nargs="+", help="default: nb101 100 172 424 4236; nb201 78 156 469 781 1563"
    )
    _seeds(preds, 5)
    preds.add_argument(
        "--methods",
        nargs="+",
        help="default: netembed netembed+pretrained netembed+prior (nb101) mlp gbt, and on "
        "labels surrogate-SPACE has not seen zero-shot netembed+surrogate",
    )
    preds.add_argument(
        "--test-size",
        type=int,
        help="held-out cells (default: nb101 50,000; nb201 all outside a pool of twice the largest training size)",
    )
    preds.add_argument(
        "--labels", help='nb201: your own [{"arch", "value"}] accuracies (e.g. from real training) instead of the table'
    )
    preds.add_argument("--steps", type=int, help=steps_help)
    preds.add_argument("--batch-size", type=int, help=batch_help)
    preds.add_argument("--out", default="results/predictors")
    timing = benches.add_parser("time", help="training-time estimators against baselines, same splits and seeds")
    timing.set_defaults(handler=cli.cmd_bench_time)
    _common(timing)
    _threads(timing)
    timing.add_argument("--train-sizes", type=int, nargs="+", default=[100, 424, 15_000])
    _seeds(timing, 3)
    timing.add_argument("--methods", nargs="+", default=["netembed", "params", "gbt"])
    timing.add_argument(
        "--pool-size",
        type=int,
        default=15_000,
        help="timed rows training sets are drawn from; the rest are the test set",
    )
    timing.add_argument("--steps", type=int, help=f"netembed's training steps (default {config.steps})")
    timing.add_argument("--batch-size", type=int, help=batch_help)
    timing.add_argument("--out", default="results/time")
    _transfer(benches.add_parser("transfer", help="NAS-Bench-101's models on a task of your own (netembed label)"), cli)
    _latency(
        benches.add_parser("latency", help="a new device's latencies from a few timings, each device held out"), cli
    )


def _latency(sub, cli):
    from netembed.benchmarks.latency_bench import DEFAULT_SIZES, METHODS

    sub.set_defaults(handler=cli.cmd_bench_latency)
    _common(sub)  # --data: a table in NAS-Bench-201's format (default: ../shared/data/nb201/nb201.npz)
    sub.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=list(DEFAULT_SIZES),
        help="architectures measured on the held-out device",
    )
    _seeds(sub, 5)
    sub.add_argument("--methods", nargs="+", default=list(METHODS), help=", ".join(METHODS))
    sub.add_argument("--train-devices", type=_names, help="devices A,B,... to learn from (default: all but the tested)")
    sub.add_argument("--test-devices", type=_names, help="devices C,D,... to hold out in turn (default: every one)")
    sub.add_argument("--out", default="results/latency")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _transfer(sub, cli):
    from netembed.benchmarks.transfer_bench import DEFAULT_SEARCHES, PREDICTORS, SEARCHERS, TIMERS

    sub.set_defaults(handler=cli.cmd_bench_transfer)
    _common(sub)
    _threads(sub)
    sub.add_argument("--labels", default="results/labels/labels.json", help="the labelled set netembed label wrote")
    sub.add_argument("--predictor-sizes", type=int, nargs="+", default=[20, 50, 100, 200])
    sub.add_argument("--time-sizes", type=int, nargs="+", default=[10, 20, 50, 200], help="timed cells")
    _seeds(sub, 5, offset_type=int)
    sub.add_argument("--predictors", nargs="+", default=list(PREDICTORS), help="accuracy rows ('none': skip)")
    sub.add_argument("--timers", nargs="+", default=list(TIMERS), help="time-estimator rows ('none': skip)")
    sub.add_argument("--pool-size", type=int, default=500, help="cells training sets are drawn from; the rest test")
    sub.add_argument("--steps", type=int, help="netembed rows' training steps, exactly (default: their role's)")
    sub.add_argument(
        "--searches", nargs="+", default=list(DEFAULT_SEARCHES),
        help=f"search rows among {', '.join(SEARCHERS)}, every query a real training ('none': skip)",
    )  # fmt: skip
    sub.add_argument("--search-seeds", type=int, default=10, help="seeds of each search row")
    sub.add_argument("--search-budget", type=int, default=100, help="queries of each search")
    sub.add_argument("--jobs", type=per_cpu, default=1, help="searches at a time, one thread each")
    sub.add_argument("--out", default="results/transfer")


def analyze(sub, cli):
    analyses = sub.add_subparsers(dest="analysis", required=True)
    loc = analyses.add_parser("locality", help="random-walk autocorrelation of accuracy over single moves (RWA)")
    loc.set_defaults(handler=cli.cmd_locality)
    _common(loc)
    _threads(loc)
    loc.add_argument("--walks", type=int, default=1000)
    loc.add_argument("--length", type=int, default=100, help="moves per walk")
    loc.add_argument("--max-lag", type=int, default=20)
    loc.add_argument("--seed", type=seed, default=0)
    loc.add_argument("--permutations", type=int, default=200, help="random pairings per lag for the noise band")
    loc.add_argument("--bootstrap", type=int, default=200, help="walk resamplings for the 95%% interval (0: off)")
    loc.add_argument(
        "--embedding", metavar="MODEL", help="also: accuracy correlation vs distance in this encoder's space"
    )
    loc.add_argument("--out", default="results/locality", help="folder for the CSV and PNG files")


def data(sub, cli):
    tools = sub.add_subparsers(dest="data_command", required=True)
    convert = tools.add_parser("convert", help="official NAS-Bench-101 .tfrecord -> compact .npz (no TensorFlow)")
    convert.set_defaults(handler=cli.cmd_convert)
    convert.add_argument("source", help="nasbench_only108.tfrecord or nasbench_full.tfrecord")
    convert.add_argument("output", help="the .npz to write (atomically)")
    convert.add_argument("--quiet", action="store_true", help="no progress bar")


def commands(cli) -> dict:
    """Every command: its handler in ``cli``, its one-line help and the function adding its options."""

    def grouped(add):
        return lambda sub: add(sub, cli)

    return {
        "info": (cli.cmd_info, "summary of the space and of the table", info),
        "query": (cli.cmd_query, "look up a cell (JSON matrix+ops, a JSON file, or an official hash)", query),
        "neighbors": (cli.cmd_neighbors, "every cell one widen/deepen/rewire move away", neighbors),
        "demo": (cli.cmd_demo, "greedy walk over single moves from a random cell", demo),
        "pretrain": (cli.cmd_pretrain, "label-free pretraining of the cell encoder on the whole space", pretrain),
        "embed": (cli.cmd_embed, "embeddings of cells from a pretrained encoder, or its quality (--eval)", embed),
        "train-predictor": (cli.cmd_train_predictor, "train a surrogate (accuracy or training time)", train_predictor),
        "search": (cli.cmd_search, "search for good cells (progress bar, best cells, plot; --resume)", search),
        "compare": (cli.cmd_compare, "every search method, same seeds and budget, on the table", compare),
        "train-cell": (cli.cmd_train_cell, "train one cell's network on real images (resumable)", train_cell),
        "label": (cli.cmd_label, "a labelled task of your own: random cells trained for real, seeds apart", label),
        "bench": (None, "side-by-side benchmarks", grouped(bench)),
        "analyze": (None, "analyses of the space", grouped(analyze)),
        "data": (None, "data set tools", grouped(data)),
    }
