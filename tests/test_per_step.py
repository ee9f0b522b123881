"""A factor with a network per step of its sequence plate (``per_step``): GQN's untied cores."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from conftest import EXAMPLES_DIR

import graphmodel as gm
from graphmodel.errors import GraphFileError, GraphModelError
from inference.trainer import Trainer

sys.path.insert(0, str(EXAMPLES_DIR))
import gqn  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"steps": 2, "hidden": 8, "latent": 2, "rep": 8, "canvas": 4, "tower": 8}


def _cores(rt, graph):
    return {f.target: m for f, m in zip(graph.factors, rt.factor_modules) if f.target in ("g", "e") and not f.init}


def test_untied_cores_round_trip_and_hold_a_network_per_step(tmp_path):
    graph = gqn.build(**TINY, shared_cores=False)
    path = tmp_path / "gqn.json"
    gm.save(graph, path)
    text = path.read_text()
    gm.save(gm.load(path), path)
    assert path.read_text() == text and text.count('"per_step": true') == 2
    assert '"per_step"' not in json.dumps(json.loads((EXAMPLES_DIR / "gqn.json").read_text()))  # shared: left out
    shared, untied = gqn.build(**TINY).build(), gm.load(path).build()
    cores = _cores(untied, graph)
    assert all(len(m.steps) == 2 for m in cores.values())
    one = sum(p.numel() for m in _cores(shared, graph).values() for p in m.parameters())
    count = sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in shared.parameters())
    assert count == one  # one more copy of both cores for the second step


def test_each_step_runs_its_own_core():
    graph = gqn.build(**TINY, shared_cores=False)
    rt = graph.build()
    given = {"x_c": torch.rand(3, 3, 3, 32, 32), "v_c": torch.rand(3, 3, 7), "v": torch.rand(3, 7)}
    torch.manual_seed(0)
    before = rt.p.sample(given=given)["g"]
    with torch.no_grad():
        for p in _cores(rt, graph)["g"].steps[1].parameters():
            p.add_(0.5)
    torch.manual_seed(0)
    after = rt.p.sample(given=given)["g"]
    assert torch.equal(before[:, 0], after[:, 0]) and not torch.allclose(before[:, 1], after[:, 1])


def test_bad_uses_are_refused_by_name(tmp_path):
    d = json.loads((EXAMPLES_DIR / "gqn.json").read_text())
    d["factors"][3]["per_step"] = "yes"
    (tmp_path / "bad.json").write_text(json.dumps(d))
    with pytest.raises(GraphFileError, match=r"factors\[3\]\.per_step: .*true or false"):
        gm.load(tmp_path / "bad.json")
    r = gm.Variable("r", (8,))
    x = gm.Variable("x", (8,), role="observed")
    graph = gm.Graph("g", p=gm.Normal(x, given=r, per_step=True) * gm.Normal(r, loc=0.0, scale=1.0))
    assert any("per_step: a network per step needs a target in a sequence plate" in str(p) for p in graph.problems())
    rt = gqn.build(**TINY, shared_cores=False).build()
    with pytest.raises(GraphModelError, match=r"p\(g\|.*network per step for the 2 steps of plate 'steps', found .* 3"):
        rt.p.sample(given={"x_c": torch.rand(1, 3, 3, 32, 32), "v_c": torch.rand(1, 3, 7), "v": torch.rand(1, 7)},
                    plate_sizes={"steps": 3})


def test_untied_cores_learn(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHMODEL_CACHE", str(tmp_path))
    graph = gqn.build(**TINY, train_steps=150, shared_cores=False)
    graph.data.update(options={"n_scenes": 60, "views": 4}, test_options={"n_scenes": 10, "seed": 1})
    t = Trainer(graph, config={"steps": 150, "batch_size": 16, "lr": 0.003, "device": "cpu", "checkpoint_every": None,
                               "log_every": 50})
    t.run()
    losses = [h["loss"] for h in t.history if "loss" in h]
    assert len(losses) >= 3 and losses[-1] < 0.8 * losses[0]
