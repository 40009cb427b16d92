"""The one checker of config fields (``netembed._fields``)."""

from dataclasses import dataclass

import numpy as np
import pytest

from netembed._fields import Flag, Instance, Int, Number, OneOf, check, check_fields, documented_parameters
from netembed.errors import ConfigError, NetembedError, SearchError


@pytest.mark.parametrize(
    "rule, accepted, refused",
    [
        (Int(1, 4096), [1, 4096, np.int64(7)], [0, 4097, True, np.bool_(True), 2.0, 32.5, 1e12, "3", None]),
        (
            Number(0, 1, open_high=True),
            [0, 0.5, np.float32(0.25)],
            [1, 1.0, -0.1, float("nan"), float("inf"), True, "0.5", None, 10**400],
        ),
        (Number(0, 1, open_low=True), [1, 1e-9], [0, 0.0]),
        (OneOf(("mean", None)), ["mean", None], ["sum", 0, False, ["mean"]]),
        (Flag(), [True, False, np.bool_(False)], [0, 1, "true", None]),
        (Instance(dict), [{}, {"a": 1}], [[], None]),
    ],
)
def test_each_rule_accepts_its_values_only(rule, accepted, refused):
    assert all(rule.accepts(value) for value in accepted)
    assert not any(rule.accepts(value) for value in refused)


@pytest.mark.parametrize(
    "rule, text",
    [
        (Int(0, 10), "an integer in 0..10"),
        (Number(0, 1), "a number in [0, 1]"),
        (Number(0, 10, open_low=True, open_high=True), "a number in (0, 10)"),
        (Number(0.001, float("inf"), open_high=True), "a number in [0.001, inf)"),
        (OneOf(("a", None)), "one of a, None"),
        (Flag(), "true or false"),
        (Instance(dict), "a dict"),
    ],
)
def test_each_rule_says_what_it_wants(rule, text):
    assert str(rule) == text


def test_check_names_the_rule_and_the_value_in_the_error_asked_for():
    with pytest.raises(ConfigError, match=r"^width must be an integer in 1..4, got 5$"):
        check(5, Int(1, 4), "width")
    assert issubclass(ConfigError, NetembedError) and issubclass(ConfigError, ValueError)
    with pytest.raises(SearchError, match="got 'x'"):
        check("x", Int(1, 4), "width", SearchError)


@dataclass(frozen=True)
class Pair:
    width: int = 4
    depth: int = 2


def test_every_field_needs_a_rule():
    """A field added later cannot go unchecked: its config fails at once, whatever its values."""
    with pytest.raises(TypeError, match=r"Pair needs a rule for each field, got rules \['width'\]"):
        check_fields(Pair(), {"width": Int(1, 8)})
    check_fields(Pair(), {"width": Int(1, 8), "depth": Int(1, 8)})
    with pytest.raises(ConfigError, match=r"^Pair.depth must be an integer in 3..8, got 2$"):
        check_fields(Pair(), {"width": Int(1, 8), "depth": Int(3, 8)})


def _job(out="results/x", bootstrap: int = 200, quiet: bool = False):
    """Run it.

    Args:
        out: folder for the CSV and PNG files
        bootstrap: walk resamplings for the 95% interval
            (0: off)

    The rest of the docstring is not a parameter's.
    """


def test_a_jobs_docstring_documents_its_parameters_for_the_command_line():
    """Each "name: text" entry of the "Args:" section, continued lines joined; none without one."""
    assert documented_parameters(_job) == {
        "out": "folder for the CSV and PNG files",
        "bootstrap": "walk resamplings for the 95% interval (0: off)",
    }
    assert documented_parameters(check) == {} and documented_parameters(lambda: None) == {}


def test_the_command_lines_help_is_the_librarys():
    """An option's help is its job's docstring entry or its spec field's, shown as written (a %
    too); one option name, two jobs, two helps."""
    import argparse

    from netembed.benchmarks.analysis import locality
    from netembed.benchmarks.compare import compare_methods
    from netembed.cli import build_parser
    from netembed.search import Budget
    from netembed.search.objective import Objective

    def helps(*command: str) -> dict:
        sub = build_parser(list(command))._subparsers._group_actions[0].choices[command[0]]
        for word in command[1:]:
            sub = sub._subparsers._group_actions[0].choices[word]
        return {a.dest: a.help % vars(a) for a in sub._actions if isinstance(a, argparse.Action) and a.help}

    assert helps("analyze", "locality")["bootstrap"].startswith(documented_parameters(locality)["bootstrap"])
    assert "95% interval" in helps("analyze", "locality")["bootstrap"]
    assert helps("search")["seconds"] == Budget.__dataclass_fields__["seconds"].metadata["help"]
    assert helps("search")["queries"] == Budget.__dataclass_fields__["queries"].metadata["help"]
    assert helps("search")["kind"] == Objective.__dataclass_fields__["kind"].metadata["help"]
    assert helps("compare")["objective"] == documented_parameters(compare_methods)["objective"]
