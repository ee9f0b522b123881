"""The documentation tells the truth: the site builds with warnings as errors, every Python
block of the tutorials runs, the notebook runs from a fresh kernel, and the references name
every key the loader accepts and every command the CLI has."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from dataclasses import fields

import pytest
from conftest import ROOT

DOCS = ROOT / "docs"
#: the tutorials with Python to run (the editor's and torchrun's show windows and shell commands)
TUTORIALS = sorted(p for p in (DOCS / "tutorials").glob("*.md") if "```python" in p.read_text(encoding="utf-8"))


def _env():
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "NO_MKDOCS_2_WARNING": "1"}


def test_the_site_builds_with_warnings_as_errors(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                           "-d", str(tmp_path / "site")], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (tmp_path / "site" / "tutorials" / "first-graph" / "index.html").exists()
    api = (tmp_path / "site" / "reference" / "api" / "index.html").read_text(encoding="utf-8")
    assert "Trainer" in api and "training_objective" in api  # the reference is made from docstrings


@pytest.mark.parametrize("page", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_every_python_block_of_a_tutorial_runs(page, tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    script = tmp_path / "page.py"
    script.write_text("import torch\ntorch.set_num_threads(1)\n" + "\n".join(blocks), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_notebook_runs_from_a_fresh_kernel(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(DOCS / "notebooks" / "quickstart.ipynb", as_version=4)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = _env()["PYTHONPATH"]  # (the kernel is a child of this process)
    try:
        nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = old
    kinds = [set(o.get("data", {})) for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert any("image/svg+xml" in k for k in kinds)  # the graph drew itself
    assert any("text/latex" in k for k in kinds)     # the model typeset itself
    assert sum("image/png" in k for k in kinds) >= 3  # inline plots before and after training
    streams = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    if importlib.util.find_spec("ipywidgets") is None:  # the text bar, without tqdm's "IProgress not found"
        assert "train: 100%" in streams and "IProgress" not in streams
    else:
        assert any("application/vnd.jupyter.widget-view+json" in k for k in kinds)  # the widget bar


def test_the_file_reference_names_every_key_the_loader_accepts():
    from graphmodel.fileio import _FACTOR_KEYS
    from inference.config import TrainConfig
    from inference.data import DATASETS
    from inference.datasection import OBJECTS, SETTINGS
    from inference.objectives import OBJECTIVES, TERMS

    text = (DOCS / "reference" / "file-format.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`([A-Za-z_0-9]+)[`(:]", text))
    wanted = {f.name for f in fields(TrainConfig) if not f.name.startswith("_")}
    wanted |= {o.name for o in SETTINGS} | set(OBJECTS) | set(_FACTOR_KEYS) | set(DATASETS)
    for kind in OBJECTIVES:
        wanted |= {kind, *OBJECTIVES.get(kind).options}
    wanted |= {"formula", "constants", *TERMS}
    assert sorted(wanted - named) == []


def test_the_cli_reference_names_every_command():
    from cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = (DOCS / "reference" / "cli.md").read_text(encoding="utf-8")
    assert sorted(c for c in sub.choices if f"graphmodel {c}" not in text) == []


def test_docs_link_only_to_pages_that_exist():
    for page in DOCS.rglob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+?)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if not target.startswith(("http", "mailto")):
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to missing {target}"
