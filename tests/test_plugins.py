"""Plugins: a user's package registers a family; the CLI loads it with --plugin, only with --trust."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import graphmodel as gm
from graphmodel import plugins

ROOT = Path(__file__).resolve().parent.parent

PLUGIN = '''
"""A user's plugin: a Cauchy family."""
from torch import distributions as D

import graphmodel as gm

gm.FAMILIES.register("Cauchy", gm.Family("Cauchy", D.Cauchy, ("loc", "scale"), "real", frozenset({"real"})))
'''


@pytest.fixture
def plugin_graph(tmp_path) -> Path:
    """A plugin module ``my_gm_plugin`` in ``tmp_path`` and the VAE with a Cauchy prior."""
    (tmp_path / "my_gm_plugin.py").write_text(PLUGIN, encoding="utf-8")
    d = json.loads((ROOT / "examples" / "vae.json").read_text(encoding="utf-8"))
    prior = next(f for f in d["factors"] if f["model"] == "p" and f["target"] == "z")
    prior["family"] = "Cauchy"
    path = tmp_path / "cauchy_vae.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    return path


def cli(tmp_path, *args) -> subprocess.CompletedProcess:
    paths = [str(ROOT), str(tmp_path), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    return subprocess.run([sys.executable, "-m", "cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=tmp_path)


def test_unknown_family_suggests_a_plugin(plugin_graph, tmp_path):
    r = cli(tmp_path, "check", plugin_graph)
    assert r.returncode == 1
    assert "unknown family 'Cauchy'" in r.stderr and "--plugin package.module" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_plugin_is_refused_without_trust(plugin_graph, tmp_path):
    r = cli(tmp_path, "check", plugin_graph, "--plugin", "my_gm_plugin")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "graphmodel: error: --plugin my_gm_plugin: a plugin is code that runs when it loads; "
        "add --trust (Python: trusted=True) only if you trust the package"]


def test_trusted_plugin_loads_for_check_and_train(plugin_graph, tmp_path):
    r = cli(tmp_path, "check", plugin_graph, "--trust", "--plugin", "my_gm_plugin")
    assert r.returncode == 0, r.stderr
    assert "p(x,z) = p(x|z)p(z)" in r.stdout
    r = cli(tmp_path, "train", plugin_graph, "--trust", "--plugin", "my_gm_plugin", "--out", tmp_path / "run",
            "--steps", "3", "--quiet", "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run" / "checkpoint.pt").exists()


def test_missing_plugin_is_one_line(tmp_path):
    r = cli(tmp_path, "check", ROOT / "examples" / "vae.json", "--trust", "--plugin", "no_such_gm_plugin")
    assert r.returncode == 1
    assert r.stderr.startswith("graphmodel: error: cannot load plugin 'no_such_gm_plugin': ModuleNotFoundError")


def test_entry_points_load_only_when_trusted(monkeypatch):
    calls = []
    ep = SimpleNamespace(name="mine", value="mypkg:register", load=lambda: lambda: calls.append("registered"))
    monkeypatch.setattr(plugins.metadata, "entry_points",
                        lambda group: [ep] if group == plugins.GROUP else [])
    assert gm.load_plugins() == [] and calls == []
    assert gm.load_plugins(trusted=True) == ["mine"] and calls == ["registered"]
