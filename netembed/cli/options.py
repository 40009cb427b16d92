"""The command line's options. Each is named like the parameter or spec field of the library job
it feeds (``COMMANDS`` names the jobs) and takes from there its default, its type and its help (a
field's ``documented`` one, or the job's docstring "Args:" entry); ``OPTIONS`` says the rest once,
and what differs for one command under a ``"command.option"`` key. Library modules are imported
only when a command's options are built."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import os
import re

CELL_HELP = 'JSON {"matrix": ..., "ops": ...} or a file holding it'


def seed(text: str) -> int:
    """The type of every seed option: an integer ``_fields.SEED`` accepts."""
    from netembed._fields import SEED

    try:
        value = int(text)
    except ValueError:
        value = None
    if not SEED.accepts(value):
        raise argparse.ArgumentTypeError(f"must be {SEED}, got {text!r}")
    return value


def per_cpu(text: str) -> int:
    """The type of ``--threads`` and of every ``--jobs``: ``netembed.threads.check``'s rule (an
    integer from 1 to 4 per CPU this process may use: more only queue for the same CPUs)."""
    from netembed.threads import ThreadsError, check

    try:
        return check(text)
    except ThreadsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


@dataclasses.dataclass(frozen=True)
class Library:
    """A library value, "module:NAME" under ``netembed``, imported when a command's options are
    built; with ``text``, that text naming its items in place of "{}"."""

    path: str
    text: str | None = None

    def value(self):
        module, name = self.path.split(":")
        found = getattr(importlib.import_module(f"netembed.{module}"), name)
        return found if self.text is None else self.text.format(", ".join(found))


def opt(*bases: dict, **keywords) -> dict:
    """argparse's keywords: those of ``bases``, then ``keywords``."""
    return {key: value for base in bases for key, value in base.items()} | keywords


def _predictor() -> dict:
    from netembed.models.predictors import PredictorConfig

    return {"members": PredictorConfig().members, "batch_size": PredictorConfig().batch_size}


# fmt: off
INTS, MANY = opt(type=int, nargs="+"), opt(nargs="+")
OPTIONS = {  # a help, or argparse's keywords; <name>: a positional; {c.NAME}: the default PredictorConfig's value
    "format": opt(choices=("text", "json"), default="text"),
    "data": "table folder or .npz (default: $NETEMBED_DATA, else ../shared/data/nb101)",
    "threads": opt(type=per_cpu, help="CPU threads for torch (default: $NETEMBED_THREADS, else the usable CPUs "
                   "not already busy)"),
    "space": opt(choices=Library("spaces:SPACES"), default=Library("spaces:DEFAULT"), help="search space"),
    "dataset": "nb201: the data set whose accuracies to read (default: cifar10)",
    "<cell>": CELL_HELP + " (nb201: its string, or its index)", "train-cell.<cell>": CELL_HELP,
    "query.<cell>": CELL_HELP + ", or an official hash (nb201: its string, or its index)",
    "seed": opt(type=seed), "seeds": opt(type=int), "seed_offset": opt(type=seed, default=0, help="first seed"),
    "split_seed": opt(type=seed), "jobs": opt(type=per_cpu), "steps": opt(type=int), "budget": opt(type=int),
    "methods": MANY, "out": {}, "<cells>": opt(nargs="?"), "eval": opt(dest="evaluate"),
    # train-predictor: its job's overrides of PredictorConfig
    "train-predictor.steps": "exactly this many training steps (default: {c.steps}, or {c.epochs} passes over "
                             "the cells when more; {c.steps} for time)",
    "ranking_weight": "pairwise ranking loss weight (default: {c.ranking_weight} for accuracy, 0 for time: plain "
                      "squared error on log-seconds measured best)",
    "targets": opt(choices=Library("models.predictors:TARGETS"), help="what an accuracy predictor learns "
                   "(default {c.targets}: normal scores of the labels' ranks; raw: the labels); time and params "
                   "learn logs (raw)"),
    "readout": opt(choices=Library("models.predictors:READOUTS"), help="what the heads see (default {c.readout}: "
                   "the embedding and the output vertex's latent; mean: the embedding alone, the time estimator's "
                   "default)"),
    # search: its spec's fields, nested ones too, under the names a user knows
    "evaluator": opt(choices=Library("search.evaluators:EVALUATORS")), "objective": opt(
        choices=Library("search.objective:KINDS")), "search.objective": opt(dest="kind"), "seconds": opt(type=float),
    "search.budget": opt(dest="queries", metavar="BUDGET"), "reward": opt(dest="mode", choices=Library(
        "search.objective:MODES")), "cost_target": opt(dest="target", metavar="T0", type=float),
    "label.space": opt(choices=Library("train.labels:TRAINED_SPACES"), help="whose random cells (nb201: its "
                       "network at the same scale, --stem-channels its C, --cells-per-stack its N)"),
    # compare, benchmarks, analyses, data
    "compare.methods": Library("runs:METHODS", "among {} (netembed+warm: nb201, a data set its surrogate was not "
                               "trained on)"),
    "train_sizes": INTS, "bench.seeds": "number of seeds",
    "bench.steps": "netembed's training steps, exactly (default {c.steps}, or {c.epochs} passes over the cells "
                   "when more)",
    "bench.batch_size": "netembed's batch (default {c.batch_size})",
    "bench time.steps": "netembed's training steps (default {c.steps})",
    "predictor_sizes": INTS, "time_sizes": INTS, "predictors": MANY, "timers": MANY, "search_seeds": opt(type=int),
    "searches": opt(MANY, help=Library("benchmarks.transfer_bench:SEARCHERS", "search rows among {}, every query "
                                       "a real training ('none': skip)")),
    "bench latency.methods": Library("benchmarks.latency_bench:METHODS", "{}"), "sizes": INTS,
    "train_devices": opt(type=names), "test_devices": opt(type=names), "embedding": opt(metavar="MODEL"),
}
TABLE = "format data threads space dataset"  # the options of a job on a space's table
TRAINING = "| images train_size label_noise split_seed epochs batch_size lr stem_channels stacks cells_per_stack device"
SEARCH = (f"{TABLE} method warm_start evaluator budget seconds seed reward cost cost_target latency_model "
          "latency_quantile objective top accuracy_model time_model out resume workers storage study worker inherit")
# each command: its help, its options' names (after "|", real training's), the specs and calls they are named after
COMMANDS = {  # (the last: the job the command calls, returning a payload and its text)
    "info": ("summary of the space and of the table", "format data space", "spaces.inspect:info"),
    "query": ("look up a cell (JSON matrix+ops, a JSON file, or an official hash)", "format data space dataset <cell>",
              "spaces.inspect:query"),
    "neighbors": ("every cell one widen/deepen/rewire move away", "format data space dataset <cell>",
                  "spaces.inspect:neighbors"),
    "demo": ("greedy walk over single moves from a random cell", "format data seed steps",
             "spaces.nb101.transforms:greedy_walk"),
    "pretrain": ("label-free pretraining of the cell encoder on the whole space",
                 "threads space out force work epochs batch_size lr seed kl_weight hidden layers embedding_dim device",
                 "models.pretrain:PretrainConfig", "models.encoder:EncoderConfig", "runs.pretrain:write_pretrained"),
    "embed": ("embeddings of cells from a pretrained encoder, or its quality (--eval)",
              "format threads <cells> model eval out device", "runs.pretrain:embed"),
    "train-predictor": ("train a surrogate (accuracy or training time)", (f"{TABLE} label train_size cells "
                        "test_size init members steps batch_size ranking_weight targets readout seed out force"),
                        "runs.surrogate:PredictorJob", _predictor, "runs.surrogate:train_predictor"),
    "search": ("search for good cells (progress bar, best cells, plot; --resume)", f"{SEARCH} {TRAINING}",
               "runs:SearchSpec", "train.spec:TrainingSpec", "runs:run"),
    "compare": ("every search method, same seeds and budget, on the table",
                f"{TABLE} methods seeds seed_offset budget jobs objective out", "benchmarks.compare:compare_methods"),
    "train-cell": ("train one cell's network on real images (resumable)",
                   f"format data threads <cell> seed out {TRAINING}", "train.spec:TrainingSpec", "train.spec:train_one"),
    "label": ("a labelled task of your own: random cells trained for real, seeds apart",
              f"format data space size seeds sample_seed jobs out {TRAINING}", "train.labels:LabelJob",
              "train.spec:TrainingSpec", "train.labels:label"),
    "bench predictors": ("accuracy predictors against baselines, same splits and seeds",
                         f"{TABLE} train_sizes seeds seed_offset methods test_size labels steps batch_size out",
                         "benchmarks.predictor_bench:bench_predictors"),
    "bench time": ("training-time estimators against baselines, same splits and seeds",
                   "format data threads train_sizes seeds seed_offset methods pool_size steps batch_size out",
                   "benchmarks.predictor_bench:bench_time"),
    "bench transfer": ("NAS-Bench-101's models on a task of your own (netembed label)", ("format data threads "
                       "labels predictor_sizes time_sizes seeds seed_offset predictors timers pool_size steps "
                       "searches search_seeds search_budget jobs out"), "benchmarks.transfer_bench:bench_transfer"),
    "bench latency": ("a new device's latencies from a few timings, each device held out",
                      "format data sizes seeds seed_offset methods train_devices test_devices out",
                      "benchmarks.latency_bench:bench_latency"),
    "analyze locality": ("random-walk autocorrelation of accuracy over single moves (RWA)",
                         "format data threads walks length max_lag seed permutations bootstrap embedding out",
                         "benchmarks.analysis:locality"),
    "data convert": ("official NAS-Bench-101 .tfrecord -> compact .npz (no TensorFlow)", "<source> <output> quiet",
                     "spaces.nb101.official:convert"),
}
# fmt: on
GROUPS = {"bench": "side-by-side benchmarks", "analyze": "analyses of the space", "data": "data set tools"}
TYPES = {"int": {"type": int}, "float": {"type": float}, "bool": {"action": "store_true"}}


def from_library(*sources) -> dict:
    """By name, the argparse keywords (default, type, help) of the fields and parameters of the
    specs and functions among ``sources`` ("module:NAME", or a function here giving defaults)."""
    from netembed._fields import documented_parameters

    found = {}
    for source in sources:
        value = Library(source).value() if isinstance(source, str) else source()
        if isinstance(value, dict):
            found |= {name: found.get(name, {}) | {"default": default} for name, default in value.items()}
        elif dataclasses.is_dataclass(value):
            found |= _fields(value)
        else:
            helps = {name: {"help": text} for name, text in documented_parameters(value).items()}
            found |= {p.name: _typed(p.annotation, p.default) | helps.get(p.name, {})
                      for p in inspect.signature(value).parameters.values()}  # fmt: skip
    return found


def _fields(spec) -> dict:
    """``from_library`` of a spec's class or instance; a field whose default is a spec gives its fields."""
    found = {}
    for f in dataclasses.fields(spec):
        default = f.default if isinstance(spec, type) else getattr(spec, f.name)
        found |= _fields(default) if dataclasses.is_dataclass(default) else {}
        found[f.name] = _typed(f.type, default) | ({"help": f.metadata["help"]} if "help" in f.metadata else {})
    return found


def _typed(annotation, default) -> dict:
    keywords = dict(TYPES.get(str(annotation).split("|")[0].strip(), {}))
    if isinstance(default, range):  # seeds: their count from --seed-offset
        keywords["default"] = len(default)
    elif default not in (dataclasses.MISSING, inspect.Parameter.empty):
        keywords["default"] = default
    return keywords


def _keywords(name: str, command: str, library: dict) -> dict:
    """Option ``name``'s argparse keywords: ``OPTIONS``' for every command and for the command's
    group, the library's (its help wins over theirs), then ``OPTIONS``' for this command."""

    def given(key: str) -> dict:
        value = OPTIONS.get(key, {})
        return {"help": value} if isinstance(value, (str, Library)) else value

    group, own = command.split()[0], given(f"{command}.{name}")
    shared = given(name) | (given(f"{group}.{name}") if group != command else {})
    found = library.get(own.get("dest", shared.get("dest", name.strip("<>"))), {})
    keywords = found | shared | own
    if "help" in found and "help" not in own:
        keywords["help"] = found["help"]
    keywords = {key: value.value() if isinstance(value, Library) else value for key, value in keywords.items()}
    if "choices" in keywords:
        keywords["choices"] = tuple(keywords["choices"])
    if isinstance(keywords.get("default"), (tuple, dict)):
        keywords["default"] = list(keywords["default"])
    if "help" in keywords:  # argparse formats helps with %: the library's are plain text
        keywords["help"] = keywords["help"].replace("%", "%%")
    if "{c." in keywords.get("help", ""):
        from netembed.models.predictors import PredictorConfig

        config = PredictorConfig()
        keywords["help"] = re.sub(r"\{c\.(\w+)\}", lambda match: f"{getattr(config, match[1])}", keywords["help"])
    return keywords


def add_options(sub: argparse.ArgumentParser, name_of_command: str) -> None:
    """Add the options of the command ``name_of_command`` to its parser ``sub``."""
    _, option_names, *sources = COMMANDS[name_of_command]
    library, target = from_library(*sources), sub
    for name in option_names.split():
        if name == "|":
            target = sub.add_argument_group("real training")
            continue
        keywords = _keywords(name, name_of_command, library)
        if name.startswith("<"):
            target.add_argument(name.strip("<>"), **keywords)
        else:
            target.add_argument("--" + name.replace("_", "-"), **{"dest": name, **keywords})
    if "storage" in option_names:  # read when the parser is built: a password stays out of ps
        sub.set_defaults(storage=os.environ.get("NETEMBED_STORAGE"))
    sub.formatter_class = _Defaults


class _Defaults(argparse.HelpFormatter):
    """Help that shows each option's default, where it has one the help does not already state."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)".lstrip()
