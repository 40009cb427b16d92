"""The import graph of the ``netembed`` package has no cycle, and the core modules import no torch.

The graph is built from the source with :mod:`ast`, not by importing anything. An edge
``a -> b`` means module ``a`` imports module ``b`` (``import netembed.b``, ``from netembed
import b``, ``from netembed.b import name``; relative imports resolved). An import of a name
that is not a submodule (``from netembed import Cell``) is an edge to the package itself.
Parent packages run on import (``netembed.spaces.nb101.table`` runs ``netembed/__init__.py`` first)
but are not edges: Python initialises them before the child, so a package's ``__init__``
re-exporting its children is no cycle. Imports under ``if TYPE_CHECKING:`` never run and are
left out.

Two graphs are checked, and both must be acyclic:

- module level: imports that run when the module is imported (the top level, including
  ``if``/``try``/``with`` blocks and class bodies). A cycle here can fail outright, depending
  on which module is imported first.
- module and function level: the above plus imports inside functions and methods. A lazy
  import cannot fail at import time, but a cycle through one is still two modules that each
  need the other: a design cycle. ``ALLOWED_FUNCTION_CYCLES`` lists the ones accepted, each with
  its reason; it is empty.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "netembed"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Function-level import edges (importer, imported) allowed to close a cycle, with the reason.
ALLOWED_FUNCTION_CYCLES: dict[tuple[str, str], str] = {}

#: Modules that must import numpy only (never torch, even indirectly).
CORE = (
    "netembed.spaces.nb101.cell",
    "netembed.spaces.nb101.space",
    "netembed.spaces.nb101.transforms",
    "netembed.spaces.nb101.table",
    "netembed.spaces",
    "netembed.spaces.inspect",
    "netembed.spaces.nb101",
    "netembed.spaces.nb201",
    "netembed.spaces.nb201.params",
)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.Module) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """(import statement, inside a function?) for every import that can run."""
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:  # the else branch does run
                    visit_statement(other, in_function)
                continue
            visit_statement(child, in_function)

    def visit_statement(child: ast.AST, in_function: bool) -> None:
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            found.append((child, in_function))
        visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return found


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The package's modules an import statement loads (parent packages left out, see above)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:  # relative: from the importing module's package, up level - 1 more
            package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([base] if base else [])])
        names = []
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            names.append(submodule if submodule in known else base)
    return {name for name in names if name in known}


def import_graph(function_level: bool) -> dict[str, set[str]]:
    """module -> the package's modules it imports, at module level or (with ``function_level``) anywhere."""
    found = modules()
    known = set(found)
    graph: dict[str, set[str]] = {name: set() for name in found}
    for name, path in found.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, in_function in _imports(tree):
            if in_function and not function_level:
                continue
            for target in _targets(name, path, node, known):
                if target == name:
                    continue
                if in_function and (name, target) in ALLOWED_FUNCTION_CYCLES:
                    continue
                graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None when the graph is acyclic (iterative DFS)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_graph_sees_the_package():
    graph = import_graph(function_level=True)
    assert {
        "netembed",
        "netembed.spaces.nb101.cell",
        "netembed.spaces.nb101.space",
        "netembed.spaces.nb101.table",
        "netembed.train.trainer",
    } <= set(graph)
    assert "netembed.spaces.nb101.cell" in graph["netembed.spaces.nb101.space"]
    assert "netembed.spaces.nb101.cell" in graph["netembed.spaces.nb101.table"]


#: The layout's layers: what each package never imports, anywhere (a space knows no model, a model
#: no search, benchmark or run, training no table).
FORBIDDEN = {
    "netembed.spaces": ("netembed.models", "netembed.search", "netembed.runs", "netembed.benchmarks", "netembed.train"),
    "netembed.models": ("netembed.search", "netembed.runs", "netembed.benchmarks", "netembed.cli"),
    "netembed.train": (
        "netembed.spaces.nb101.table",
        "netembed.spaces.nb201.table",
        "netembed.search",
        "netembed.runs",
    ),
    "netembed.search": ("netembed.runs", "netembed.benchmarks", "netembed.cli"),
    "netembed.runs": ("netembed.cli",),
    "netembed.benchmarks": ("netembed.cli",),
}


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_each_layer_imports_only_the_layers_below_it():
    graph = import_graph(function_level=True)
    crossing = [
        f"{module} -> {target}"
        for layer, banned in FORBIDDEN.items()
        for module, targets in sorted(graph.items())
        if _under(module, layer)
        for target in sorted(targets)
        if any(_under(target, b) for b in banned)
    ]
    assert not crossing, "imports across the layers: " + ", ".join(crossing)
    assert {m for m in graph if m.count(".") == 1} >= set(FORBIDDEN)  # the layers are there to check


def test_find_cycle_reports_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("function_level", [False, True], ids=["module-level", "with-function-level"])
def test_no_import_cycle(function_level):
    cycle = find_cycle(import_graph(function_level))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_allowed_cycles_are_still_needed():
    """An allowance whose import is gone must be removed from the list."""
    graph = import_graph(function_level=True)
    for importer, imported in ALLOWED_FUNCTION_CYCLES:
        assert imported not in graph[importer]  # left out by import_graph: check the source has it
        tree = ast.parse(modules()[importer].read_text())
        known = set(modules())
        assert any(
            imported in _targets(importer, modules()[importer], node, known)
            for node, in_function in _imports(tree)
            if in_function
        ), f"{importer} no longer imports {imported}: remove it from ALLOWED_FUNCTION_CYCLES"


@pytest.mark.parametrize("module", CORE)
def test_core_modules_import_no_torch(module):
    """In a fresh interpreter (this one has torch loaded already), from this checkout's source."""
    code = (
        f"import json, sys, netembed, {module}; "
        "print(json.dumps({'file': netembed.__file__, 'modules': sorted(sys.modules)}))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT.parent), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT.parent, env=env
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert Path(loaded["file"]).resolve() == ROOT / "__init__.py"
    heavy = [name for name in loaded["modules"] if name.split(".")[0] in ("torch", "torch_geometric", "safetensors")]
    assert not heavy, f"{module} must not import torch, got {heavy[:5]}"
