"""GQN (examples/gqn.py) and the pieces it needs: the feature-map networks, and p reading q's
values of the deterministic variables q computes with p's own factors."""

from __future__ import annotations

import importlib
import sys

import pytest
import torch
from conftest import EXAMPLES_DIR

import graphmodel as gm
from graphmodel.networks import HeadSpec, InputSpec, build_network
from inference.data import load_dataset
from inference.objectives import training_loss
from inference.trainer import Trainer

sys.path.insert(0, str(EXAMPLES_DIR))
import gqn  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
elbo = importlib.import_module("inference.elbo")  # (the package exports the function elbo under this name)

TINY = {"steps": 2, "hidden": 8, "latent": 2, "rep": 8, "canvas": 4, "tower": 8}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHMODEL_CACHE", str(tmp_path))


def scenes(n_scenes: int, seed: int) -> dict:
    f = load_dataset({"dataset": "scenes", "options": {"n_scenes": n_scenes, "views": 4, "seed": seed}})
    return {"x_c": f["context"], "v_c": f["context_view"], "x": f["query"], "v": f["query_view"]}


def test_maps_read_an_lstm_state_as_h_and_fold_a_larger_image():
    net = build_network(gm.ConvMap(1, bias=False), [InputSpec("g", (2, 3, 4, 4)), InputSpec("x", (1, 8, 8))],
                        [HeadSpec("loc", (2, 4, 4))])
    w = net.conv.weight[:, :, 0, 0]  # (2, 3 + 4): h's channels, then x's four folded phases
    g, x = torch.randn(5, 2, 3, 4, 4), torch.randn(5, 1, 8, 8)
    want = torch.einsum("oc,nchw->nohw", w[:, :3], g[:, 0]) + torch.einsum(
        "oc,nchw->nohw", w[:, 3:], torch.nn.functional.pixel_unshuffle(x, 2))
    assert torch.allclose(net(g, x)[0], want, atol=1e-5)


def test_a_canvas_write_adds_onto_the_previous_canvas():
    h = InputSpec("g", (2, 3, 4, 4))
    canvas = HeadSpec("value", (2, 16, 16))
    blank = build_network(gm.ConvWrite(), [h], [canvas])
    onto = build_network(gm.ConvWrite(), [InputSpec("u", (2, 16, 16), is_state=True), h], [canvas])
    onto.load_state_dict(blank.state_dict())
    g, u = torch.randn(3, 2, 3, 4, 4), torch.randn(3, 2, 16, 16)
    assert torch.allclose(onto(u, g)[0], u + blank(g)[0], atol=1e-6)
    with pytest.raises(gm.GraphModelError, match="a ConvWrite needs maps of one size that divides its canvas"):
        build_network(gm.ConvWrite(), [InputSpec("g", (3, 5, 5))], [canvas])


def test_p_reads_qs_values_of_what_q_computes_with_ps_factors(monkeypatch, cache):
    graph = gqn.build(**TINY)
    plan = elbo.elbo_terms(graph)
    assert {"r", "g"} <= set(plan.shared) and "u" not in plan.shared and "e" not in plan.shared
    rt = graph.build()
    tower = next(m.net for m in rt.factor_modules if type(m.net).__name__ == "GQNTowerNet")
    calls = []
    tower.register_forward_hook(lambda *a: calls.append(1))
    batch = {k: v[:4] for k, v in scenes(4, 0).items()}
    torch.manual_seed(0)
    once = training_loss(graph)(rt, batch).total
    assert len(calls) == 1  # the context views go through the tower once, in q
    monkeypatch.setattr(elbo, "_lent_states", lambda *a: [])
    torch.manual_seed(0)
    twice = training_loss(gm.loads(gm.dumps(graph)))(rt, batch).total
    assert len(calls) == 3 and torch.allclose(once, twice)


def prediction_error(t: Trainer, data: dict, draws: int = 4) -> float:
    """Mean squared error of the query view's mean given ``draws`` latents from the prior."""
    torch.manual_seed(0)
    with torch.no_grad():
        trace = t.runtime.p.trace({k: data[k] for k in ("x_c", "v_c", "v")}, n=draws, score=False)
        return float(((trace.dists["p(x|u[last])"].mean.mean(0) - data["x"]) ** 2).mean())


def test_gqn_learns_to_render_a_query_view(cache):
    graph = gqn.build(**TINY, train_steps=300)
    graph.data.update(options={"n_scenes": 120, "views": 4}, test_options={"n_scenes": 20, "seed": 1})
    t = Trainer(graph, config={"steps": 300, "batch_size": 16, "lr": 0.003, "device": "cpu", "checkpoint_every": None})
    test = t.test_data
    mean_image = float(((test["x"] - t.train_data["x"].mean(0)) ** 2).mean())
    before = prediction_error(t, test)
    t.run()
    after = prediction_error(t, test)
    print(f"\ngqn: prediction error {before:.4f} → {after:.4f}; the mean image's {mean_image:.4f}")
    assert after < 0.5 * before
    assert after < 1.05 * mean_image  # (at this size it learns the room and the pose, not yet the object)


def test_the_pool_representation_is_a_vector_that_the_cores_broadcast(cache):
    graph = gm.loads(gm.dumps(gqn.build(**TINY, representation="GQNPool")))
    assert graph.variables["r"].shape == (TINY["rep"],) and not graph.problems()
    rt = graph.build()
    batch = {k: v[:3] for k, v in scenes(3, 0).items()}
    value = training_loss(graph)(rt, batch).total
    value.backward()
    assert torch.isfinite(value) and all(p.grad is not None for p in rt.parameters())
