"""The engine's plan: deterministic factors shared across models, and a hot path free of
networkx and re-analysis."""

import importlib.util
from pathlib import Path

import networkx as nx
import pytest
import torch

import graphmodel as gm
from graphmodel.engine import analyze, compile_plan

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.build()


def test_inference_model_borrows_the_generative_recurrence():
    g = _example("vrnn")
    p_h = {i for i, f in enumerate(g.factors) if f.model == "p" and f.target == "h"}
    assert len(p_h) == 2  # the GRU step and the initial state
    q_members = set(analyze(g).members["q"])
    assert p_h <= q_members
    assert "h" not in gm.model_inputs(g, "q")  # computed, not asked for


def test_borrowed_state_is_the_generative_models_state():
    g = _example("vrnn")
    net = g.build()
    x = torch.randn(5, 6, 2)
    tq = net.q.trace({"x": x})
    # p, given q's x and z, recomputes h with the same GRU: identical values
    tp = net.p.trace({"x": x, "z": tq.values["z"]})
    torch.testing.assert_close(tp.values["h"], tq.values["h"], rtol=0, atol=0)
    # and the GRU's gradient flows from the inference model's log-density
    tq.log_probs["q(z|x,h)"].sum().backward()
    gru = [m for m in net.factor_modules if m.label.startswith("p(h|")][0]
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gru.parameters())


def test_observed_variables_are_never_borrowed():
    x = gm.Variable("x", (2,), role="observed")
    z = gm.Variable("z", (2,))
    g = gm.Graph("gan", p=gm.Deterministic(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                 critic=gm.Normal(z, given=x, net=gm.MLP(8)))
    assert gm.model_inputs(g, "critic") == ["x"]


def test_hot_path_uses_no_networkx_and_no_reanalysis(monkeypatch):
    g = _example("vrnn")
    net = g.build()
    plan = compile_plan(g, "p")

    def forbidden(*a, **k):
        raise AssertionError("networkx used on the hot path")

    for name in ("DiGraph", "find_cycle", "lexicographical_topological_sort", "topological_sort"):
        monkeypatch.setattr(nx, name, forbidden)
    monkeypatch.setattr("graphmodel.engine._analyze", forbidden)
    g._cache.clear()  # even a cleared cache must not be consulted by a built runtime
    s = net.p.sample(3)
    assert s["x"].shape == (3, 6, 2)
    assert torch.isfinite(net.p.log_prob(s)).all()
    assert net.p.plan == plan


def test_plan_slots_put_inputs_first():
    g = _example("cvae")
    plan = compile_plan(g, "p")
    assert plan.names[: len(plan.inputs)] == tuple(gm.model_inputs(g, "p"))
    assert set(plan.names[len(plan.inputs):]) == set(gm.ancestral_order(g, "p"))


@pytest.mark.parametrize("n", [1, 7])
def test_sample_with_given_adds_a_sample_dimension(n):
    g = _example("vae")
    net = g.build()
    x = torch.bernoulli(torch.full((4, 64), 0.3))
    values = net.q.sample(n, given={"x": x})
    assert values["z"].shape == (n, 4, 8)
    assert values["x"].shape == (n, 4, 64)
