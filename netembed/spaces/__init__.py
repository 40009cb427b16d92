"""Search spaces: the one place a space is defined (:class:`Space`, the protocol).

Two ship: ``nb101`` (NAS-Bench-101, the default everywhere) and ``nb201`` (NAS-Bench-201). A
space of one's own is a :class:`Space` subclass; pass the object wherever a space name is taken,
or ``register`` it so that saved models and runs can name it.

>>> get("nb201").size, get().name
(15625, 'nb101')
"""

from __future__ import annotations

from importlib import import_module

from netembed.spaces.base import Neighbor, Space, SpaceError

__all__ = ["DEFAULT", "SPACES", "Neighbor", "Space", "SpaceError", "get", "name_of", "register"]

DEFAULT = "nb101"
#: The shipped spaces by name, and the class of each (imported on first use).
SPACES = {"nb101": ("netembed.spaces.nb101", "NB101Space"), "nb201": ("netembed.spaces.nb201", "NB201Space")}
_LOADED: dict[str, Space] = {}


def register(space: Space) -> Space:
    """Make ``space`` known by its name, and return it. A name taken by another class is refused;
    the same class defined again (a notebook cell run twice) replaces the space registered."""
    if not isinstance(space, Space):
        raise SpaceError(f"a space must be a netembed.spaces.Space, got {type(space).__name__}")
    if space.name in SPACES and type(space).__module__ != SPACES[space.name][0]:
        raise SpaceError(f"space name {space.name!r} is netembed's own; name yours otherwise")
    known = _LOADED.get(space.name)
    if known is not None and _class_name(known) != _class_name(space):
        raise SpaceError(f"space name {space.name!r} is taken by {type(known).__name__}")
    _LOADED[space.name] = space
    return space


def _class_name(space: Space) -> str:
    return f"{type(space).__module__}.{type(space).__qualname__}"


def get(space: str | Space | None = None) -> Space:
    """The space of a name (None: ``nb101``) or the space itself; an unknown name is refused
    naming the known ones."""
    if isinstance(space, Space):
        return register(space)
    name = DEFAULT if space is None else space
    if name not in _LOADED:
        if name not in SPACES:
            known = sorted({*SPACES, *_LOADED})
            raise SpaceError(f"space must be one of {', '.join(known)}, got {name!r}")
        module, cls = SPACES[name]
        _LOADED[name] = getattr(import_module(module), cls)()
    return _LOADED[name]


def name_of(space: str | Space | None) -> str:
    return get(space).name
