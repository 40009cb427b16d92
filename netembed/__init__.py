"""netembed: embedding-based neural architecture search on NAS-Bench-101.

The main objects, importable from here; all but ``Cell`` and the errors load on first use, so
``import netembed`` stays fast and torch-free:

- cells and the space: ``Cell``, ``space``, ``transforms``, ``Benchmark``, ``load_table``;
- surrogate predictors: ``PredictorJob`` and ``train_predictor`` (train one end to end),
  ``AccuracyPredictor``, ``TimeEstimator``, ``PredictorConfig``, ``CellEncoder``;
- search: ``SearchSpec`` and ``run`` (one search end to end, as ``netembed search`` does),
  ``Objective``, ``Reward``, ``Budget``, ``METHODS``, ``build_method``, ``run_search`` (the loop
  for a method you built), the evaluators ``TableEvaluator``, ``SurrogateEvaluator`` and
  ``RealTrainingEvaluator``, and ``TrainingSpec`` for real training.

>>> import netembed
>>> spec = netembed.SearchSpec(method="random", evaluator="table", budget=netembed.Budget(queries=50))
>>> spec.objective.kind, spec.budget.queries
('reward', 50)
"""

from importlib import import_module

from netembed.errors import (
    ConfigError,
    DataError,
    IllegalTransformError,
    InvalidCellError,
    NetembedError,
    OutOfSpaceError,
    SearchError,
    UnknownCellError,
)
from netembed.spaces.nb101.cell import Cell

#: Where each lazily loaded name lives.
_LAZY = {
    "space": "netembed.spaces.nb101.space",
    "transforms": "netembed.spaces.nb101.transforms",
    "Benchmark": "netembed.spaces.nb101.table",
    "load_table": "netembed.spaces.nb101.table",
    "PredictorJob": "netembed.runs.surrogate",
    "train_predictor": "netembed.runs.surrogate",
    "AccuracyPredictor": "netembed.models.predictors",
    "TimeEstimator": "netembed.models.predictors",
    "PredictorConfig": "netembed.models.predictors",
    "CellEncoder": "netembed.models.encoder",
    "SearchSpec": "netembed.runs",
    "run": "netembed.runs",
    "METHODS": "netembed.runs",
    "build_method": "netembed.runs",
    "Objective": "netembed.search.objective",
    "Reward": "netembed.search.objective",
    "Budget": "netembed.search",
    "run_search": "netembed.search",
    "TableEvaluator": "netembed.search.evaluators",
    "SurrogateEvaluator": "netembed.search.evaluators",
    "RealTrainingEvaluator": "netembed.search.evaluators",
    "TrainingSpec": "netembed.train.spec",
}

__all__ = [  # noqa: PLE0604 (the lazy names are _LAZY's keys)
    "Cell",
    "ConfigError",
    "DataError",
    "IllegalTransformError",
    "InvalidCellError",
    "NetembedError",
    "OutOfSpaceError",
    "SearchError",
    "UnknownCellError",
    *_LAZY,
]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'netembed' has no attribute {name!r}")
    module = import_module(_LAZY[name])
    value = module if module.__name__.endswith(f".{name}") else getattr(module, name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
