import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file
from torch import nn

from netembed.errors import DataError, NetembedError
from netembed.models import hub


@dataclass(frozen=True)
class TinyConfig:
    width: int = 4

    def __post_init__(self) -> None:
        if self.width < 1:
            raise ValueError(f"TinyConfig.width must be positive, got {self.width}")


class Tiny(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.config = config
        self.linear = nn.Linear(config.width, 2)
        self.register_buffer("scale", torch.arange(1.0, config.width + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x * self.scale)


class Other(Tiny):
    """Same tensors as Tiny, another model type."""


META = {"command": "netembed train --seed 0", "data_sha256": "ab" * 32, "quality": {"kendall_tau": 0.71}}


@pytest.fixture
def saved(tmp_path) -> Path:
    torch.manual_seed(0)
    model = Tiny(TinyConfig())
    with torch.no_grad():
        model.scale.mul_(3)  # a buffer that differs from its initial value: it must be saved too
    return hub.save_pretrained(model, model.config, tmp_path / "tiny", META)


def edit_config(directory: Path, **fields) -> None:
    path = directory / "config.json"
    document = json.loads(path.read_text())
    document.update(fields)
    path.write_text(json.dumps(document))


def rewrite_weights(directory: Path, data: bytes) -> None:
    """Replace model.safetensors and record its new sha256, so the check after the hash is the one tested."""
    (directory / "model.safetensors").write_bytes(data)
    edit_config(directory, weights_sha256=hashlib.sha256(data).hexdigest())


def save_tensors(directory: Path, tensors: dict) -> None:
    save_file(tensors, str(directory / "scratch"))
    rewrite_weights(directory, (directory / "scratch").read_bytes())


def leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(".tmp"))


# -- round trip -------------------------------------------------------------------------------


def test_round_trip_restores_outputs_buffers_and_meta(saved):
    torch.manual_seed(0)
    original = Tiny(TinyConfig())
    with torch.no_grad():
        original.scale.mul_(3)
    model, meta = hub.load_pretrained(Tiny, saved, TinyConfig)
    x = torch.randn(5, 4)
    assert torch.equal(model(x), original(x))
    assert torch.equal(model.scale, torch.tensor([3.0, 6.0, 9.0, 12.0]))
    assert model.config == TinyConfig() and meta == META
    assert not model.training


def test_config_json_holds_every_field(saved):
    document = hub.read_config(saved)
    assert document == {
        "schema_version": hub.SCHEMA_VERSION,
        "model_type": "Tiny",
        "config": {"width": 4},
        "weights_sha256": hashlib.sha256((saved / "model.safetensors").read_bytes()).hexdigest(),
        "meta": META,
    }
    # 1 -> 2: hub.UPGRADES[1] (fields predictors gained since schema 1); 2 -> 3: the space; 3 -> 4:
    # a transferred predictor's source; 4 -> 5: its weight by agreement
    assert hub.SCHEMA_VERSION == 5 and set(hub.UPGRADES) == {1, 2, 3, 4}
    assert sorted(path.name for path in saved.iterdir()) == ["config.json", "model.safetensors"]


def test_save_creates_nested_directories_and_returns_a_path(tmp_path):
    model = Tiny(TinyConfig())
    directory = hub.save_pretrained(model, model.config, str(tmp_path / "a" / "b"))
    assert directory == tmp_path / "a" / "b" and isinstance(directory, Path)
    assert hub.read_config(directory)["meta"] == {}


def test_saving_again_overwrites(saved):
    model = Tiny(TinyConfig())
    hub.save_pretrained(model, model.config, saved, {"run": 2})
    loaded, meta = hub.load_pretrained(Tiny, saved, TinyConfig)
    assert meta == {"run": 2} and torch.equal(loaded.linear.weight, model.linear.weight)
    assert leftovers(saved) == []


def test_load_moves_to_device_and_switches_to_eval(tmp_path):
    model = Tiny(TinyConfig()).train()
    hub.save_pretrained(model, model.config, tmp_path)
    loaded, _ = hub.load_pretrained(Tiny, tmp_path, TinyConfig, device=torch.device("cpu"))
    assert not loaded.training
    assert {tensor.device.type for tensor in loaded.state_dict().values()} == {"cpu"}


def test_saves_tied_and_non_contiguous_tensors(tmp_path):
    class Tied(nn.Module):
        def __init__(self, config: TinyConfig):
            super().__init__()
            self.config = config
            self.a = nn.Linear(config.width, config.width, bias=False)
            self.b = nn.Linear(config.width, config.width, bias=False)
            self.b.weight = self.a.weight  # shared storage: safetensors refuses it as is
            self.register_buffer("t", torch.arange(12.0).reshape(3, 4).t())  # a non-contiguous view

    model = Tied(TinyConfig())
    assert not model.t.is_contiguous()
    hub.save_pretrained(model, model.config, tmp_path)
    loaded, _ = hub.load_pretrained(Tied, tmp_path, TinyConfig)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_weights_are_plain_safetensors(saved):
    state = load_file(str(saved / "model.safetensors"))
    assert sorted(state) == ["linear.bias", "linear.weight", "scale"]


def test_written_files_get_the_usual_permissions(saved):
    """Not mkstemp's 0600: a shipped pretrained directory must be readable by others when the umask allows."""
    reference = saved / "reference"
    reference.write_text("x")
    for name in ("config.json", "model.safetensors"):
        assert (saved / name).stat().st_mode == reference.stat().st_mode


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=25, deadline=None)
@given(width=st.integers(1, 8), meta=st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_round_trip_property(width, meta):
    model = Tiny(TinyConfig(width))
    with tempfile.TemporaryDirectory() as tmp:
        hub.save_pretrained(model, model.config, tmp, meta)
        loaded, loaded_meta = hub.load_pretrained(Tiny, tmp, TinyConfig)
    assert loaded_meta == meta and loaded.config == model.config
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())


# -- save rejects bad input before writing anything ---------------------------------------------


@pytest.mark.parametrize("config", [{"width": 4}, TinyConfig, None])
def test_save_requires_a_dataclass_instance(tmp_path, config):
    with pytest.raises(TypeError, match="config must be a dataclass instance"):
        hub.save_pretrained(Tiny(TinyConfig()), config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("meta, match", [(["not", "a", "dict"], "meta must be a dict"), ({"path": Path(".")}, "JSON")])
def test_save_requires_json_meta(tmp_path, meta, match):
    with pytest.raises(TypeError, match=match):
        hub.save_pretrained(Tiny(TinyConfig()), TinyConfig(), tmp_path / "out", meta)
    assert not (tmp_path / "out").exists()


# -- atomic writes --------------------------------------------------------------------------------


def failing_replace(monkeypatch, fail_on: int) -> None:
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_on:
            raise OSError("simulated crash")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def test_crash_before_config_leaves_no_config_and_no_temp_files(tmp_path, monkeypatch):
    failing_replace(monkeypatch, fail_on=2)  # weights are in place, the config is not
    with pytest.raises(OSError, match="simulated crash"):
        hub.save_pretrained(Tiny(TinyConfig()), TinyConfig(), tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.safetensors"]
    with pytest.raises(DataError, match="must hold config.json"):
        hub.load_pretrained(Tiny, tmp_path, TinyConfig)


def test_crash_while_writing_weights_leaves_nothing(tmp_path, monkeypatch):
    failing_replace(monkeypatch, fail_on=1)
    with pytest.raises(OSError, match="simulated crash"):
        hub.save_pretrained(Tiny(TinyConfig()), TinyConfig(), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_crash_while_overwriting_is_detected_not_loaded(saved, monkeypatch):
    """New weights under the old config: the sha256 check refuses the mix."""
    failing_replace(monkeypatch, fail_on=2)
    with pytest.raises(OSError, match="simulated crash"):
        hub.save_pretrained(Tiny(TinyConfig()), TinyConfig(), saved, {"run": 2})
    assert hub.read_config(saved)["meta"] == META and leftovers(saved) == []
    with pytest.raises(DataError, match="sha256"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


# -- every DataError ------------------------------------------------------------------------------


def test_data_error_is_a_netembed_value_error():
    assert issubclass(DataError, NetembedError) and issubclass(DataError, ValueError)


def test_missing_directory(tmp_path):
    with pytest.raises(DataError, match="pretrained directory must exist, got .*nowhere"):
        hub.read_config(tmp_path / "nowhere")
    with pytest.raises(DataError, match="must exist"):
        hub.load_pretrained(Tiny, tmp_path / "nowhere", TinyConfig)


def test_missing_config(saved):
    (saved / "config.json").unlink()
    with pytest.raises(DataError, match="must hold config.json, none in .*tiny"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


def test_missing_weights(saved):
    (saved / "model.safetensors").unlink()
    with pytest.raises(DataError, match="must hold model.safetensors, none in .*tiny"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


@pytest.mark.parametrize("text", ["{not json", "", "\xff\xfe"])
def test_config_not_json(saved, text):
    (saved / "config.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match="config.json must be valid JSON"):
        hub.read_config(saved)


@pytest.mark.parametrize("value, kind", [([1, 2], "list"), ("text", "str"), (None, "NoneType")])
def test_config_not_an_object(saved, value, kind):
    (saved / "config.json").write_text(json.dumps(value))
    with pytest.raises(DataError, match=f"config.json must hold a JSON object, got {kind}"):
        hub.read_config(saved)


@pytest.mark.parametrize("field", ["schema_version", "model_type", "config", "weights_sha256", "meta"])
def test_config_missing_field(saved, field):
    path = saved / "config.json"
    document = json.loads(path.read_text())
    del document[field]
    path.write_text(json.dumps(document))
    with pytest.raises(DataError, match=rf"missing \['{field}'\]"):
        hub.read_config(saved)


@pytest.mark.parametrize("version, shown", [(7, "7"), (0, "0"), ("1", "'1'"), (True, "True"), (1.5, "1.5")])
def test_wrong_schema_version(saved, version, shown):
    edit_config(saved, schema_version=version)
    with pytest.raises(
        DataError, match=rf"schema_version must be 1 to {hub.SCHEMA_VERSION} \(this netembed's\), got {shown}$"
    ):
        hub.load_pretrained(Tiny, saved, TinyConfig)


@pytest.mark.parametrize(
    "field, value, kind",
    [
        ("model_type", 3, "str"),
        ("config", [4], "dict"),
        ("weights_sha256", None, "str"),
        ("meta", "notes", "dict"),
    ],
)
def test_field_of_the_wrong_type(saved, field, value, kind):
    edit_config(saved, **{field: value})
    with pytest.raises(DataError, match=f"{field} must be a JSON {kind}"):
        hub.read_config(saved)


def test_wrong_model_type(saved):
    with pytest.raises(DataError, match="model_type must be 'Other', got 'Tiny'"):
        hub.load_pretrained(Other, saved, TinyConfig)


def test_truncated_weights_fail_the_hash(saved):
    weights = saved / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(DataError, match="model.safetensors must have the sha256 recorded in config.json"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


def test_modified_weights_fail_the_hash(saved):
    weights = saved / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one bit pattern of one float: still a valid file, different weights
    weights.write_bytes(bytes(data))
    with pytest.raises(DataError, match="sha256"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


def test_random_bytes_are_not_safetensors(saved):
    rewrite_weights(saved, os.urandom(256))
    with pytest.raises(DataError, match="model.safetensors must be a readable safetensors file"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


@pytest.mark.parametrize("keep", [0, 4, 40, -10])
def test_truncated_safetensors_with_matching_hash(saved, keep):
    data = (saved / "model.safetensors").read_bytes()
    rewrite_weights(saved, data[:keep])
    with pytest.raises(DataError, match="must be a readable safetensors file"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


def test_config_with_unknown_key(saved):
    edit_config(saved, config={"width": 4, "depth": 2})
    with pytest.raises(DataError, match=r"config must fit TinyConfig, got unknown keys \['depth'\], missing keys \[\]"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


def test_config_with_missing_key(saved):
    """Even a field with a default: the default may not be what the weights were trained with."""
    edit_config(saved, config={})
    with pytest.raises(DataError, match=r"unknown keys \[\], missing keys \['width'\]"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


@dataclass(frozen=True)
class GrownConfig:
    """TinyConfig after ``width`` was added with a new default: schema-1 configs without it had 4."""

    width: int = 8


def test_a_field_added_later_takes_its_older_schemas_value_not_its_default(saved, monkeypatch):
    monkeypatch.setitem(hub.UPGRADES, 1, {"GrownConfig": {"width": 4}})
    edit_config(saved, config={}, schema_version=1)
    model, _ = hub.load_pretrained(Tiny, saved, GrownConfig)
    assert model.config.width == 4 and torch.equal(model.scale, torch.arange(1.0, 5.0) * 3)
    edit_config(saved, schema_version=hub.SCHEMA_VERSION)  # a config of this schema must hold every field
    with pytest.raises(DataError, match=r"missing keys \['width'\]"):
        hub.load_pretrained(Tiny, saved, GrownConfig)


def test_config_rejected_by_its_dataclass(saved):
    edit_config(saved, config={"width": 0})
    with pytest.raises(DataError, match="config must be a valid TinyConfig .*width must be positive, got 0"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


def test_config_claiming_another_shape(saved):
    edit_config(saved, config={"width": 5})  # the sha256 covers the weights only, so it still matches
    with pytest.raises(DataError, match=r"linear.weight must have shape \(2, 5\), got \(2, 4\)"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


def test_unexpected_key(saved):
    state = load_file(str(saved / "model.safetensors"))
    save_tensors(saved, {**state, "extra": torch.zeros(1)})
    with pytest.raises(DataError, match=r"missing keys \[\], unexpected keys \['extra'\]"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


def test_missing_key(saved):
    state = load_file(str(saved / "model.safetensors"))
    del state["scale"]
    save_tensors(saved, state)
    with pytest.raises(DataError, match=r"missing keys \['scale'\], unexpected keys \[\]"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


# -- an edit that rewrites the sha256 beside the weights: the content checks refuse it ------------


def test_weights_of_another_dtype_are_refused_not_cast(saved):
    """load_state_dict would copy int64 weights into the float32 parameters (rounded to integers)."""
    state = load_file(str(saved / "model.safetensors"))
    save_tensors(saved, {**state, "linear.weight": state["linear.weight"].to(torch.int64)})
    with pytest.raises(DataError, match=r"model.safetensors: linear.weight must have dtype float32, got int64$"):
        hub.load_pretrained(Tiny, saved, TinyConfig)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_weights_are_refused(saved, value):
    state = load_file(str(saved / "model.safetensors"))
    state["scale"][1] = value
    save_tensors(saved, state)
    with pytest.raises(
        DataError, match=r"model.safetensors: scale must hold finite values, got 1 NaN or infinite of 4$"
    ):
        hub.load_pretrained(Tiny, saved, TinyConfig)


def test_non_finite_values_are_refused_beside_the_model_too(saved):
    """Tensors outside ``prefix`` (a checkpoint's optimizer state) must be finite as well."""
    state = load_file(str(saved / "model.safetensors"))
    save_tensors(
        saved,
        {f"model.{key}": value for key, value in state.items()} | {"optimizer.0": torch.tensor([0.0, float("nan")])},
    )
    with pytest.raises(DataError, match="optimizer.0 must hold finite values, got 1 NaN or infinite of 2"):
        hub.load_weights(
            Tiny(TinyConfig()),
            saved / "model.safetensors",
            hub.read_config(saved)["weights_sha256"],
            "config.json",
            "Tiny",
            "model.",
        )


class Recorded(Tiny):
    """Tiny, recording the device of every instance built."""

    built_on: ClassVar[list[str]] = []

    def __init__(self, config: TinyConfig):
        super().__init__(config)
        Recorded.built_on.append(self.linear.weight.device.type)


def test_the_weights_are_checked_against_the_config_before_the_model_is_allocated(tmp_path, monkeypatch):
    """A config edited to huge sizes must not allocate them: the model is first built on the meta
    device (shapes and dtypes, no storage), and only a file that fits it is loaded into a real one."""
    hub.save_pretrained(Recorded(TinyConfig()), TinyConfig(), tmp_path)
    monkeypatch.setattr(Recorded, "built_on", [])
    hub.load_pretrained(Recorded, tmp_path, TinyConfig)
    assert Recorded.built_on == ["meta", "cpu"]
    monkeypatch.setattr(Recorded, "built_on", [])
    edit_config(tmp_path, config={"width": 10**6})
    with pytest.raises(DataError, match=r"linear.weight must have shape \(2, 1000000\), got \(2, 4\)"):
        hub.load_pretrained(Recorded, tmp_path, TinyConfig)
    assert Recorded.built_on == ["meta"]


class Picky(Tiny):
    """A model with a rule of its own about its config."""

    def __init__(self, config: TinyConfig):
        if config.width == 3:
            raise ValueError(f"Picky needs a width other than 3, got {config.width}")
        super().__init__(config)


def test_config_rejected_by_the_model_is_a_data_error(tmp_path):
    hub.save_pretrained(Picky(TinyConfig()), TinyConfig(), tmp_path)
    edit_config(tmp_path, config={"width": 3})
    with pytest.raises(DataError, match=r"config must be a valid TinyConfig for Picky \(Picky needs a width other"):
        hub.load_pretrained(Picky, tmp_path, TinyConfig)


# -- names ------------------------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "pretrained"
    for name in ("encoder-nb101", "surrogate-nb101/accuracy", "surrogate-nb101/seconds"):
        hub.save_pretrained(Tiny(TinyConfig()), TinyConfig(), root / name)
    (root / "drafts").mkdir()  # no config.json: not offered as available
    monkeypatch.setattr(hub, "PRETRAINED_ROOT", root)
    return root


def test_default_root_is_the_repository_pretrained_folder():
    assert hub.PRETRAINED_ROOT == Path(__file__).resolve().parents[1] / "pretrained"


def test_resolve_returns_an_existing_directory_as_is(root, tmp_path):
    assert hub.resolve(tmp_path) == tmp_path
    assert hub.resolve(str(root / "encoder-nb101")) == root / "encoder-nb101"


def test_resolve_finds_names_under_pretrained(root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "pretrained" / "drafts")  # names must not depend on the working directory
    assert hub.resolve("encoder-nb101") == root / "encoder-nb101"
    assert hub.resolve("surrogate-nb101/accuracy") == root / "surrogate-nb101" / "accuracy"
    model, _ = hub.load_pretrained(Tiny, hub.resolve("surrogate-nb101/seconds"), TinyConfig)
    assert isinstance(model, Tiny)


def test_available_lists_folders_with_a_config(root):
    assert hub.available() == ["encoder-nb101", "surrogate-nb101/accuracy", "surrogate-nb101/seconds"]


def test_resolve_unknown_name_lists_what_is_available(root):
    with pytest.raises(
        DataError,
        match="got 'encoder-nb201' .*available: encoder-nb101, surrogate-nb101/accuracy, surrogate-nb101/seconds",
    ):
        hub.resolve("encoder-nb201")


def test_resolve_without_a_pretrained_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "PRETRAINED_ROOT", tmp_path / "absent")
    assert hub.available() == []
    with pytest.raises(DataError, match=r"available: none\)"):
        hub.resolve("encoder-nb101")
