"""The packages depend one way — editor → inference → graphmodel — and only the editor uses Qt."""

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
    "graphmodel": ("inference", "editor", *QT),
    "inference": ("editor", *QT),
}

_PROBE = """
import json, sys
import graphmodel
after_graphmodel = sorted(sys.modules)
import inference
print(json.dumps({"graphmodel": after_graphmodel, "inference": sorted(sys.modules)}))
"""


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.fixture(scope="module")
def loaded_modules():
    """Modules loaded by ``import graphmodel``, then by ``import inference``, in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    return {k: {_top(m) for m in v} for k, v in json.loads(run.stdout).items()}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_importing_loads_no_qt_and_no_higher_layer(package, loaded_modules):
    loaded = loaded_modules[package]
    assert package in loaded
    assert "PyQt6" not in loaded
    assert sorted(loaded & set(FORBIDDEN[package])) == []


def _imports(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_a_higher_layer_even_lazily(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    bad = [f"{path.relative_to(ROOT)}:{line}: import {name}" for path in files for line, name in _imports(path)
           if _top(name) in FORBIDDEN[package]]
    assert bad == []
