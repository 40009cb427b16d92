"""Saving and loading trained models: ``config.json`` + ``model.safetensors`` in one directory.

``config.json`` holds a schema version, the model's type, its frozen config dataclass, the
sha256 of the weights and free-form ``meta`` (training command, data hash, measured quality),
so a directory rebuilds its own model. Loading never unpickles, checks the hash, validates the
config's fields, and matches keys, shapes and dtypes strictly before the model is allocated; it
refuses NaN and infinite weights. Writes are atomic: weights first, then the config that points to them.

Example::

    >>> import tempfile
    >>> from netembed.models.encoder import CellEncoder, EncoderConfig
    >>> config = EncoderConfig(hidden=8, layers=1, embedding_dim=4)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     directory = save_pretrained(CellEncoder(config), config, tmp, {"note": "demo"})
    ...     print(read_config(directory)["model_type"])
    ...     model, meta = load_pretrained(CellEncoder, directory, EncoderConfig)
    CellEncoder
    >>> model.config == config, meta
    (True, {'note': 'demo'})
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from netembed._io import atomic_write, parse_json
from netembed.errors import DataError

__all__ = [
    "PRETRAINED_ROOT",
    "SCHEMA_VERSION",
    "UPGRADES",
    "available",
    "load_pretrained",
    "load_weights",
    "read_config",
    "read_weights",
    "resolve",
    "save_pretrained",
]

SCHEMA_VERSION = 5
#: How an older schema's configs become this one's, by schema version and config class: the
#: fields added since, with the value every model saved under that version was trained with
#: (never the new default). Schema 1 -> 2: the predictors' feature view, training length,
#: targets and readout, added after the first predictors were saved. Schema 2 -> 3: the search
#: space, when NAS-Bench-201 joined (every earlier model is NAS-Bench-101's). Schema 3 -> 4: the
#: source a transferred predictor keeps (none before). Schema 4 -> 5: the source weighed by its
#: agreement with the labels (a fixed weight before).
UPGRADES: dict[int, dict[str, dict]] = {
    1: {"PredictorConfig": {"forest": 0.0, "epochs": 0, "targets": "raw", "view": "forest", "readout": "mean"}},
    2: {"EncoderConfig": {"space": "nb101"}, "PredictorConfig": {"space": "nb101"}},
    3: {"PredictorConfig": {"source_labels": 0.0}},
    4: {"PredictorConfig": {"source_agreement": False}},
}
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
PRETRAINED_ROOT = Path(__file__).resolve().parents[2] / "pretrained"
# field -> the JSON type it must have
_FIELDS = {"schema_version": int, "model_type": str, "config": dict, "weights_sha256": str, "meta": dict}


def trained_on(init: str | os.PathLike) -> str | None:
    """The labels a pretrained model learned, as its card names them (``meta.target``: e.g.
    "cifar10_val"; NAS-Bench-101's table "accuracy"), or None."""
    return read_config(resolve(init))["meta"].get("target")


def check_unseen(init: str, target: str, rows: str, error: type[Exception]) -> None:
    """A transfer from ``init`` must not be measured on the labels it learned: ``target`` names
    them as ``trained_on`` does, ``rows`` what would be in-sample; ``error`` the caller's error class."""
    source = trained_on(init)
    if source == target:
        raise error(
            f"{rows} start from {init}, trained on the {source} labels being measured: a transfer needs "
            f"another data set (e.g. --space nb201 --dataset cifar100), got {target}"
        )


def save_pretrained(
    model: torch.nn.Module, config: Any, directory: str | os.PathLike, meta: dict | None = None
) -> Path:
    """Write ``model`` (its state dict) and ``config`` (a dataclass instance) to ``directory``.

    Returns the directory, created if needed. ``meta`` must be JSON-serialisable.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise TypeError(f"config must be a dataclass instance, got {type(config).__name__}")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
    document = {
        "schema_version": SCHEMA_VERSION,
        "model_type": type(model).__name__,
        "config": dataclasses.asdict(config),
        "weights_sha256": "",
        "meta": meta,
    }
    json.dumps(document)  # fail on values JSON cannot hold before anything is written
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # safetensors refuses tensors that share memory (tied weights, views): store independent copies
    tensors = {key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()}
    weights = save(tensors)  # bytes, not save_file: that one creates the file 0600
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: Path(tmp).write_bytes(weights))
    document["weights_sha256"] = hashlib.sha256(weights).hexdigest()
    atomic_write(directory / CONFIG_FILE, lambda tmp: Path(tmp).write_text(json.dumps(document, indent=2) + "\n"))
    return directory


def read_config(directory: str | os.PathLike) -> dict:
    """The parsed ``config.json`` of a pretrained directory, with its fields and schema checked."""
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"pretrained directory must exist, got {str(directory)!r}")
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise DataError(f"pretrained directory must hold {CONFIG_FILE}, none in {directory}")
    try:
        document = parse_json(path.read_text(), path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} must be valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise DataError(f"{path} must hold a JSON object, got {type(document).__name__}")
    missing = [name for name in _FIELDS if name not in document]
    if missing:
        raise DataError(f"{path} must have the fields {list(_FIELDS)}, missing {missing}")
    version = document["schema_version"]
    if type(version) is not int or not 1 <= version <= SCHEMA_VERSION:  # type(): True == 1 in Python
        raise DataError(f"{path}: schema_version must be 1 to {SCHEMA_VERSION} (this netembed's), got {version!r}")
    for name, kind in _FIELDS.items():
        if not isinstance(document[name], kind):
            raise DataError(
                f"{path}: {name} must be a JSON {kind.__name__}, got {type(document[name]).__name__} {document[name]!r}"
            )
    return document


def load_pretrained(
    model_cls: type, directory: str | os.PathLike, config_cls: type, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, dict]:
    """Rebuild ``model_cls(config_cls(**config))`` from ``directory`` and load its weights strictly.

    Returns ``(model, meta)``; the model is on ``device`` and in eval mode.
    """
    directory = Path(directory)
    document = read_config(directory)
    config_path, weights = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if document["model_type"] != model_cls.__name__:
        raise DataError(f"{config_path}: model_type must be {model_cls.__name__!r}, got {document['model_type']!r}")
    if not weights.is_file():
        raise DataError(f"pretrained directory must hold {WEIGHTS_FILE}, none in {directory}")
    # every field must be present: a default filled in here may not be what the weights were trained
    # with. Only an older schema's config may lack the fields added since; its upgrade gives them
    # the value every model of that schema was trained with.
    added: dict = {}
    for version in range(document["schema_version"], SCHEMA_VERSION):
        added |= UPGRADES.get(version, {}).get(config_cls.__name__, {})
    fields = {**added, **document["config"]}  # saved values win
    known, given = {field.name for field in dataclasses.fields(config_cls)}, set(fields)
    unknown, missing = sorted(given - known), sorted(known - given)
    if unknown or missing:
        raise DataError(
            f"{config_path}: config must fit {config_cls.__name__}, got unknown keys {unknown}, missing keys {missing}"
        )
    try:
        config = config_cls(**fields)
        with torch.device("meta"):  # shapes and dtypes without storage: the file is checked before anything
            expected = model_cls(config).state_dict()  # is allocated, so a config edited to huge sizes costs nothing
    except (TypeError, ValueError) as exc:  # the dataclass's own validation (__post_init__), or the model's
        raise DataError(
            f"{config_path}: config must be a valid {config_cls.__name__} for {model_cls.__name__} ({exc})"
        ) from exc
    state, _ = read_weights(weights, document["weights_sha256"], CONFIG_FILE, model_cls.__name__, expected)
    model = model_cls(config)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), document["meta"]


def read_weights(
    path: Path, sha256: str, recorded_in: str, owner: str, expected: dict[str, torch.Tensor], prefix: str = ""
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Read the safetensors file ``path`` and check it against ``expected`` (a model's state dict;
    one built on the meta device will do): the one reader of saved weights.

    The file is read once and must have the sha256 ``sha256`` (recorded in the file named
    ``recorded_in``); it is parsed without unpickling anything. The tensors whose keys start
    with ``prefix`` (the prefix stripped) must be exactly ``expected``, key for key, shape for
    shape and dtype for dtype (``load_state_dict`` would silently cast an int64 tensor into a
    float32 parameter); other tensors (an optimizer's) are left to the caller. Every floating
    tensor of the file must be finite. Returns ``(state, tensors)``: the model's state and every
    tensor of the file, as saved. Any mismatch raises :class:`DataError` naming the file and
    ``owner`` (what the tensors are of), the missing and unexpected keys, or the tensor at fault.

    The sha256 detects a truncated, corrupted or replaced file; it cannot detect a deliberate
    edit, which can rewrite the hash beside it: the checks after it are what refuse such a file.
    """
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != sha256:
        raise DataError(
            f"{path} must have the sha256 recorded in {recorded_in} ({sha256}), got {digest}: "
            "truncated, modified or replaced"
        )
    try:
        tensors = load(raw)  # safetensors: no pickle, no code execution
    except SafetensorError as exc:
        raise DataError(f"{path} must be a readable safetensors file ({exc})") from exc
    state = {key[len(prefix) :]: value for key, value in tensors.items() if key.startswith(prefix)}
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise DataError(
            f"{path} must hold exactly the tensors of {owner}, got missing keys {missing}, unexpected keys {unexpected}"
        )
    for key in sorted(state):  # by name, not the file's layout: the same key is named first every time
        if state[key].shape != expected[key].shape:
            raise DataError(
                f"{path}: {key} must have shape {tuple(expected[key].shape)}, got {tuple(state[key].shape)}"
            )
        if state[key].dtype != expected[key].dtype:
            raise DataError(
                f"{path}: {key} must have dtype {_name(expected[key].dtype)}, got {_name(state[key].dtype)}"
            )
    for key in sorted(tensors):
        value = tensors[key]
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise DataError(f"{path}: {key} must hold finite values, got {bad} NaN or infinite of {value.numel()}")
    return state, tensors


def load_weights(
    model: torch.nn.Module, path: Path, sha256: str, recorded_in: str, owner: str, prefix: str = ""
) -> dict[str, torch.Tensor]:
    """Load the safetensors file ``path`` into ``model`` (already built), checked as ``read_weights``
    checks it. Returns every tensor of the file, as saved."""
    state, tensors = read_weights(path, sha256, recorded_in, owner, model.state_dict(), prefix)
    model.load_state_dict(state, strict=True)
    return tensors


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def available() -> list[str]:
    """Names of the pretrained directories (those holding a config.json) under ``pretrained/``."""
    if not PRETRAINED_ROOT.is_dir():
        return []
    return sorted(path.parent.relative_to(PRETRAINED_ROOT).as_posix() for path in PRETRAINED_ROOT.rglob(CONFIG_FILE))


def resolve(name_or_dir: str | os.PathLike) -> Path:
    """An existing directory as given, else a name (``"encoder-nb101"``,
    ``"surrogate-nb101/accuracy"``) looked up under the repository's ``pretrained/`` folder."""
    path = Path(name_or_dir)
    if path.is_dir():
        return path
    candidate = PRETRAINED_ROOT / path
    if candidate.is_dir():
        return candidate
    raise DataError(
        f"pretrained model must be a directory or a name under {PRETRAINED_ROOT}, "
        f"got {str(name_or_dir)!r} (available: {', '.join(available()) or 'none'})"
    )
