"""The one checker of config fields: each config dataclass gives every field a rule (its type and
range) and checks them all in ``__post_init__``, before any model is built from it, so a value
read from an edited ``config.json`` or ``checkpoint.json`` is refused in one line that names the
rule and the value ("EncoderConfig.hidden must be an integer in 1..4096, got 1000000000000.0")
instead of allocating terabytes or failing deep inside torch.

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Demo:
...     width: int = 4
...
...     def __post_init__(self) -> None:
...         check_fields(self, {"width": Int(1, 64)})
>>> Demo(width=True)
Traceback (most recent call last):
netembed.errors.ConfigError: Demo.width must be an integer in 1..64, got True
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from netembed.errors import ConfigError

__all__ = [
    "SEED",
    "Flag",
    "Instance",
    "Int",
    "Number",
    "OneOf",
    "check",
    "check_fields",
    "documented",
    "documented_parameters",
]


@dataclass(frozen=True)
class Int:
    """An integer in ``low..high`` (both included): not a bool, not a float however round."""

    low: int
    high: int

    def accepts(self, value) -> bool:
        return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and self.low <= value <= self.high

    def __str__(self) -> str:
        return f"an integer in {self.low}..{self.high}"


@dataclass(frozen=True)
class Number:
    """A finite int or float (not a bool) from ``low`` to ``high``; ``open_low`` / ``open_high``
    leave that end out."""

    low: float
    high: float
    open_low: bool = False
    open_high: bool = False

    def accepts(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return False
        # an int is finite (and may be too large for math.isfinite's float)
        if not isinstance(value, (int, np.integer)) and not math.isfinite(value):
            return False
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return above and below

    def __str__(self) -> str:
        low, high = (f"{end:g}" if isinstance(end, float) else str(end) for end in (self.low, self.high))
        return f"a number in {'(' if self.open_low else '['}{low}, {high}{')' if self.open_high else ']'}"


@dataclass(frozen=True)
class OneOf:
    """One of ``choices``."""

    choices: tuple

    def accepts(self, value) -> bool:
        return any(type(value) is type(choice) and value == choice for choice in self.choices)

    def __str__(self) -> str:
        return f"one of {', '.join(map(str, self.choices))}"


@dataclass(frozen=True)
class Flag:
    """True or false (JSON's, not 0 or 1)."""

    def accepts(self, value) -> bool:
        return isinstance(value, (bool, np.bool_))

    def __str__(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Text:
    """A short name: letters, digits and ``_-+.`` (a space's name, say), 1 to 64 characters."""

    def accepts(self, value) -> bool:
        return isinstance(value, str) and 0 < len(value) <= 64 and all(c.isalnum() or c in "_-+." for c in value)

    def __str__(self) -> str:
        return "a name of 1 to 64 letters, digits or _-+."


@dataclass(frozen=True)
class Instance:
    """An instance of ``kind`` (a nested config)."""

    kind: type

    def accepts(self, value) -> bool:
        return isinstance(value, self.kind)

    def __str__(self) -> str:
        return f"a {self.kind.__name__}"


#: Seeds: what every generator the project seeds accepts (scikit-learn's ``random_state`` is the narrowest).
SEED = Int(0, 2**32 - 1)


def check(value, rule, what: str, error: type[Exception] = ConfigError) -> None:
    """Raise ``error("WHAT must be RULE, got VALUE")`` unless ``rule`` accepts ``value``. The default,
    ``ConfigError``, is a ``NetembedError`` (the command line prints it as one line) and a ``ValueError``."""
    if not rule.accepts(value):
        raise error(f"{what} must be {rule}, got {value!r}")


def documented(default, help: str, **keywords):
    """A dataclass field with its meaning in a sentence (the command line shows it as the option's help)."""
    return dataclasses.field(default=default, metadata={"help": help}, **keywords)


def documented_parameters(function) -> dict[str, str]:
    """What ``function``'s parameters mean, as its docstring's "Args:" section says (``name: text``,
    continued on lines indented deeper): the command line shows each as its option's help."""
    import inspect

    _, _, section = (inspect.getdoc(function) or "").partition("\nArgs:\n")
    found, name = {}, None
    for line in section.splitlines():
        if not line.startswith("    "):
            break
        if line.startswith("        "):
            found[name] += " " + line.strip()
        else:
            name, _, text = line.strip().partition(": ")
            found[name] = text
    return found


def check_fields(config, rules: dict, error: type[Exception] = ConfigError) -> None:
    """Check each field of the dataclass instance ``config`` against ``rules`` (field name -> rule),
    in their order. Every field must have a rule, so a field added later cannot go unchecked."""
    fields = {field.name for field in dataclasses.fields(config)}
    if fields != set(rules):
        raise TypeError(f"{type(config).__name__} needs a rule for each field, got rules {sorted(rules)}")
    for name, rule in rules.items():
        check(getattr(config, name), rule, f"{type(config).__name__}.{name}", error)
