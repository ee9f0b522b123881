"""The packages depend one way — cli → editor → inference → graphmodel — and only the editor uses Qt."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

QT = ("PyQt6", "PyQt5", "PySide6", "PySide2", "pyqtgraph")
FORBIDDEN = {
    "graphmodel": ("inference", "editor", "cli", *QT),
    "inference": ("editor", "cli", *QT),
    "editor": ("cli",),
}

_PROBE = """
import json, sys
import graphmodel
after_graphmodel = sorted(sys.modules)
import inference
after_inference = sorted(sys.modules)
import cli
print(json.dumps({"graphmodel": after_graphmodel, "inference": after_inference, "cli": sorted(sys.modules)}))
"""


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.fixture(scope="module")
def loaded_modules():
    """Modules loaded by ``import graphmodel``, then ``import inference``, then ``import cli``,
    in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    return {k: {_top(m) for m in v} for k, v in json.loads(run.stdout).items()}


@pytest.mark.parametrize("package", ["graphmodel", "inference", "cli"])
def test_importing_loads_no_qt_and_no_higher_layer(package, loaded_modules):
    """The command line loads the editor (and Qt) only when ``edit`` or ``demo`` runs."""
    loaded = loaded_modules[package]
    assert package in loaded
    assert "PyQt6" not in loaded and "editor" not in loaded
    assert sorted(loaded & set(FORBIDDEN.get(package, ()))) == []


#: Imports by name (``importlib.import_module("...")``) that cross the layers on purpose:
#: (importing file, module) → why. ``python -m graphmodel`` runs the command line, which
#: sits above every package; it is looked up only when that runs, so importing
#: ``graphmodel`` never loads it.
EXEMPT = {
    ("graphmodel/__main__.py", "cli"): "python -m graphmodel runs the command line",
}

_BY_NAME = ("import_module", "__import__")


def _imports(source: str, filename: str = "<string>"):
    """``(line, module)`` for every import statement in ``source`` and every import by a
    literal name: ``importlib.import_module("m")``, ``import_module("m")``, ``__import__("m")``.
    (A name computed at run time cannot be checked here; the fresh-interpreter test above
    still sees what importing a package loads.)"""
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in _BY_NAME:
                yield node.lineno, node.args[0].value


def _crossings(package: str) -> list[tuple[str, int, str]]:
    """``(file, line, module)`` for each import in ``package`` of a layer it must not import."""
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    return [(path.relative_to(ROOT).as_posix(), line, name) for path in files
            for line, name in _imports(path.read_text(encoding="utf-8"), str(path))
            if _top(name) in FORBIDDEN[package]]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_higher_layer_even_lazily_or_by_name(package):
    bad = [f"{path}:{line}: import {name}" for path, line, name in _crossings(package)
           if (path, name) not in EXEMPT]
    assert bad == []


def test_the_one_exemption_is_still_needed():
    """``python -m graphmodel`` reaches the command line by name and only through the
    documented exemption: if it stops doing so, the exemption goes too."""
    found = {(path, name) for package in FORBIDDEN for path, _, name in _crossings(package)}
    assert found == set(EXEMPT)


@pytest.mark.parametrize("source, expected", [
    ("import editor.app", ["editor.app"]),
    ("from PyQt6 import QtCore", ["PyQt6"]),
    ("import importlib\nimportlib.import_module('editor.app')", ["importlib", "editor.app"]),
    ("from importlib import import_module\nimport_module('pyqtgraph')", ["importlib", "pyqtgraph"]),
    ("mod = __import__('PyQt6.QtWidgets')", ["PyQt6.QtWidgets"]),
    ("from . import sibling\nname = 'editor'\nimportlib.import_module(name)", []),  # relative; computed
])
def test_imports_by_name_are_seen(source, expected):
    assert [name for _, name in _imports(source)] == expected


# --- no import cycle between modules --------------------------------------------------------------

PACKAGES = ("graphmodel", "inference", "editor", "cli")


def _module_name(path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node, known: set) -> list[str]:
    """The modules an import statement names (``from pkg import sub`` → ``pkg.sub`` when
    that is a module, else ``pkg``), relative imports resolved; only our own modules."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = module if is_package else module.rpartition(".")[0]
        for _ in range(max(node.level - 1, 0)):
            base = base.rpartition(".")[0]
        head = node.module if node.level == 0 else ".".join(x for x in (base, node.module) if x)
        names = [f"{head}.{a.name}" if f"{head}.{a.name}" in known else head for a in node.names]
    return [n for n in names if n in known]


def import_graph() -> dict:
    """Module → the modules it imports (at the top or inside a function), for our packages."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    known = set(files)
    graph = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = {t for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                       for t in _resolve(name, is_package, node, known) if t != name}
    return graph


def cycles(graph: dict) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's, iteratively)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


#: a package's ``__init__`` re-exports its modules, and a module may import a sibling through
#: the package (``from graphmodel import GraphModelError``): such a cycle through an
#: ``__init__`` is how Python packages are built, not a dependency between two modules
def _without_package_inits(graph: dict) -> dict:
    inits = {m for m in graph if (ROOT / m.replace(".", "/") / "__init__.py").exists()}
    return {m: {t for t in ts if t not in inits} for m, ts in graph.items() if m not in inits}


def test_no_import_cycle_between_modules():
    found = cycles(_without_package_inits(import_graph()))
    assert found == [], "import cycles: " + "; ".join(" ↔ ".join(c) for c in found)


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
