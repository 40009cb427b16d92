"""The package's public surface: every advertised name resolves, and importing it stays torch-free."""

from __future__ import annotations

import subprocess
import sys

import netembed


def test_every_public_name_resolves():
    for name in netembed.__all__:
        assert getattr(netembed, name) is not None, name
    assert (
        netembed.SearchSpec.__module__ == "netembed.runs"
        and netembed.spaces.nb101.space.__name__ == "netembed.spaces.nb101.space"
    )


def test_an_unknown_name_is_an_attribute_error():
    try:
        netembed.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("netembed.no_such_thing resolved")


def _loads_torch(code: str) -> bool:
    probe = f"{code}\nimport sys; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.split()[-1] == "True"


def test_importing_the_package_and_its_specs_loads_no_torch():
    assert not _loads_torch("import netembed; netembed.SearchSpec(); netembed.Objective(); netembed.Budget(queries=1)")


def test_the_command_line_starts_without_torch_for_help_info_and_query():
    for argv in (["--help"], ["info", "--help"], ["query", "--help"]):
        code = f"from netembed import cli\ntry:\n    cli.main({argv!r})\nexcept SystemExit:\n    pass"
        assert not _loads_torch(code), argv
    # a command that trains builds its options from torch-backed configs: the probe can tell
    assert _loads_torch("from netembed import cli; cli.build_parser(['pretrain'])")
