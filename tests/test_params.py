"""Where a factor's parameters come from: tied networks, parameters on a schedule, sampling
temperature and the map that makes a raw value positive."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import graphmodel as gm
from graphmodel.errors import GraphFileError, GraphModelError, ShapeError
from graphmodel.families import log_density
from graphmodel.positive import SOFTPLUS_FLOOR
from inference.trainer import Trainer

X, Y, W = (gm.Variable(n, (6,), "real", "observed") for n in ("x", "y", "w"))
Z = gm.Variable("z", (3,))


def tied_graph(net="writer", networks=None, **extra) -> gm.Graph:
    """Two observations written by one network from the same latent, as DRAW's write is shared."""
    networks = {"writer": gm.MLP(16)} if networks is None else networks
    return gm.Graph("tied", networks=networks,
                    p=gm.Normal(X, given=Z, net=net) * gm.Normal(Y, given=Z, net=net)
                    * gm.Normal(Z, loc=0.0, scale=1.0),
                    q=gm.Normal(Z, given=[X, Y], net=gm.MLP(16)), **extra)


class Writer(nn.Module):
    """The very layers an ``MLP(16)`` builds for 3 inputs and heads loc (6,), scale (6,)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 12))

    def forward(self, z):
        loc, scale = self.body(z).split(6, -1)
        return loc, scale


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- tied networks ---------------------------------------------------------------------------


def test_a_tied_network_is_one_module_in_the_file_and_in_code():
    text = gm.dumps(tied_graph())
    assert '"networks": {\n    "writer": {"type": "MLP", "hidden": [16], "activation": "relu"}' in text
    assert text.count('"net": "writer"') == 2
    loaded = gm.loads(text)
    assert gm.dumps(loaded) == text  # save → load → save: the same bytes
    built = loaded.build()
    p_x, p_y = built.factor_modules[0], built.factor_modules[1]
    assert p_x.net is p_y.net
    shared = Writer()
    in_code = gm.Graph("tied", p=gm.Normal(X, given=Z, net=shared) * gm.Normal(Y, given=Z, net=shared)
                       * gm.Normal(Z, loc=0.0, scale=1.0), q=gm.Normal(Z, given=[X, Y], net=gm.MLP(16))).build()
    untied = tied_graph(net=gm.MLP(16), networks={}).build()
    assert count(built) == count(in_code) == count(untied) - count(p_x.net)
    # a named nn.Module instance is tied as well
    assert count(tied_graph(networks={"writer": Writer()}).build()) == count(in_code)


def test_a_gradient_step_through_two_factors_updates_the_one_module():
    rt = gm.loads(gm.dumps(tied_graph())).build()
    net = rt.factor_modules[0].net
    values = {"x": torch.randn(5, 6), "y": torch.randn(5, 6), "z": torch.randn(5, 3)}
    terms = rt.p.log_prob_terms(values)
    grads = [torch.autograd.grad(terms[label].sum(), net.parameters(), retain_graph=True)
             for label in ("p(x|z)", "p(y|z)")]
    assert all(g.abs().sum() > 0 for gs in grads for g in gs)  # each factor reaches the module
    opt = torch.optim.SGD(rt.parameters_of("p"), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == len(list(net.parameters()))  # listed once
    before = [w.detach().clone() for w in net.parameters()]
    (-rt.p.log_prob(values).sum()).backward()
    for w, gx, gy in zip(net.parameters(), *grads):
        torch.testing.assert_close(w.grad, -(gx + gy))  # both factors' gradients, summed
    opt.step()
    assert all(not torch.equal(b, w) for b, w in zip(before, net.parameters()))
    assert rt.factor_modules[1].net is net


def test_tied_weights_survive_a_state_dict_and_a_checkpoint(tmp_path):
    g = tied_graph()
    a = g.build()
    with torch.no_grad():
        for w in a.parameters():
            w.add_(torch.randn_like(w))
    b = g.build()
    b.load_state_dict(a.state_dict())
    gm.save_checkpoint(tmp_path / "c.pt", a, g)
    c = g.build()
    gm.load_checkpoint(tmp_path / "c.pt", g, c)
    z = torch.randn(4, 3)
    for rt in (b, c):
        assert rt.factor_modules[0].net is rt.factor_modules[1].net
        for k in (0, 1):
            torch.testing.assert_close(rt.factor_modules[k].params(z)["loc"], a.factor_modules[k].params(z)["loc"])


def test_a_checkpoint_of_other_shared_networks_is_refused(tmp_path):
    g = tied_graph()
    gm.save_checkpoint(tmp_path / "c.pt", g.build(), g)
    other = tied_graph(networks={"writer": gm.MLP(8)})
    with pytest.raises(GraphModelError, match="made for a different graph"):
        gm.load_checkpoint(tmp_path / "c.pt", other, other.build())
    from inference.trainer import graph_structure, structure_difference

    assert structure_difference(graph_structure(g), graph_structure(other)) == (
        "networks.writer.hidden: [16] in the checkpoint's graph, [8] in this graph")


def test_tied_factors_that_need_different_shapes_are_refused_by_name():
    g = gm.Graph("bad", networks={"writer": gm.MLP(16)},
                 p=gm.Normal(X, given=Z, net="writer") * gm.Normal(W, given=[Z, Z], net="writer")
                 * gm.Normal(Z, loc=0.0, scale=1.0))
    with pytest.raises(ShapeError) as e:
        g.build()
    msg = str(e.value)
    assert "\n" not in msg and "network 'writer' is tied to factors p(x|z) and p(w|z,z)" in msg
    assert "p(x|z) reads (3,) and emits loc (6,), scale (6,)" in msg and "p(w|z,z) reads (3,), (3,)" in msg


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["factors"][0].update(net="wrter"),
     "factors[0].net: no network 'wrter' in 'networks'; declared: writer"),
    (lambda d: d["networks"]["writer"].update(hidden=[0]), "networks.writer.hidden: "),
    (lambda d: d["networks"].update({"2x": d["networks"]["writer"]}), "networks: network name must be"),
    (lambda d: d.update(networks=[]), "networks: expected an object, found []"),
])
def test_the_networks_section_is_checked_with_named_errors(edit, message):
    d = tied_graph().to_dict()
    edit(d)
    from graphmodel.fileio import graph_from_dict

    with pytest.raises(GraphFileError) as e:
        graph_from_dict(d)
    assert str(e.value).startswith(message)


def test_an_unknown_network_name_in_code_is_a_problem():
    g = tied_graph(networks={"other": gm.MLP(8)})
    assert any("net 'writer' is not in the graph's networks; networks: other" in str(p) for p in g.problems())


# --- parameters on a schedule ----------------------------------------------------------------


def annealed_graph() -> gm.Graph:
    return gm.Graph("annealed", p=gm.Normal(X, given=Z, scale=gm.Annealed(2.0, 0.5, 6))
                    * gm.Normal(Z, loc=0.0, scale=1.0), q=gm.Normal(Z, given=X, net=gm.MLP(8)))


def test_a_scale_follows_its_schedule_during_training(one_thread):
    g = gm.loads(gm.dumps(annealed_graph()))
    t = Trainer(g, {"x": torch.randn(64, 6)}, {"steps": 10, "batch_size": 16, "log_every": 5, "device": "cpu",
                                              "checkpoint_every": None})
    mod = t.runtime.factor_modules[0]
    seen = []
    for _ in range(10):
        t.run(steps=1)
        seen.append(mod.params(torch.zeros(1, 3))["scale"].tolist())
    # set before each step s: 2.0 − 1.5·s/6 until step 6, then 0.5
    assert [row[0] for row in seen] == pytest.approx([2.0 - 1.5 * min(s, 6) / 6 for s in range(10)])
    assert all(len(set(row)) == 1 for row in seen)
    # what the training step scored is that value: the model's log-density at the last step
    d = t.runtime.factor_modules[0](torch.zeros(2, 3))
    assert torch.allclose(d.base_dist.scale, torch.tensor(0.5))


def test_a_scheduled_parameter_round_trips_and_is_checked():
    text = gm.dumps(annealed_graph())
    assert '"scale": {"schedule": "anneal", "start": 2.0, "end": 0.5, "steps": 6}' in text
    assert gm.dumps(gm.loads(text)) == text
    assert gm.loads(text).factors[0].params["scale"] == gm.Annealed(2.0, 0.5, 6)
    assert str(annealed_graph().p) == "p(x,z) = p(x|z)p(z)"  # the factorization reads as before
    for old, new, message in (('"steps": 6}', '"steps": 0}', "factors[0].params.scale.steps: expected a positive"),
                              ('"start": 2.0', '"start": [2.0]', "factors[0].params.scale.start: expected a finite"),
                              ('"anneal"', '"cosine"', "factors[0].params.scale.schedule: expected one of anneal")):
        with pytest.raises(GraphFileError, match="^" + re.escape(message)):
            gm.loads(text.replace(old, new))
    problems = gm.Graph("neg", p=gm.Normal(X, loc=0.0, scale=gm.Annealed(1.0, -0.5, 10))).problems()
    assert any("parameter 'scale' follows anneal(1, -0.5, 10), whose values leave its support" in str(p)
               for p in problems)


def test_schedules_make_the_training_step_wait_for_nothing():
    from test_trainer import _syncing_ops_of_steps

    t = Trainer(annealed_graph(), {"x": torch.randn(64, 6)}, {"steps": 10, "batch_size": 16, "log_every": 10,
                                                             "device": "cpu", "checkpoint_every": None})
    t.run(steps=2)
    assert _syncing_ops_of_steps(t, range(2, 5)) == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_schedules_on_a_gpu_make_no_synchronizing_call():
    from test_trainer import _no_sync_allowed

    t = Trainer(annealed_graph(), {"x": torch.randn(64, 6)}, {"steps": 10, "batch_size": 16, "log_every": 10,
                                                             "device": "cuda", "checkpoint_every": None})
    t.run(steps=2)
    with _no_sync_allowed():
        for step in range(2, 8):  # across the schedule's change and its end
            t._train_step(step)
    assert t.runtime.factor_modules[0].sched_scale.device.type == "cuda"


@settings(max_examples=60, deadline=None)
@given(st.floats(0.01, 100.0), st.floats(0.01, 100.0), st.integers(1, 10**6), st.integers(-5, 2 * 10**6))
def test_any_schedule_round_trips_and_stays_between_its_ends(start, end, steps, step):
    g = gm.Graph("s", p=gm.Normal(X, loc=0.0, scale=gm.Annealed(start, end, steps)))
    text = gm.dumps(g)
    assert gm.dumps(gm.loads(text)) == text and gm.loads(text) == g
    rt = gm.loads(text).build()
    rt.set_step(step)
    value = rt.factor_modules[0].sched_scale[0].item()
    assert min(start, end) * (1 - 1e-6) <= value <= max(start, end) * (1 + 1e-6)
    if step >= steps:
        assert value == pytest.approx(end)


def test_a_checkpoint_keeps_the_scheduled_value(tmp_path):
    g = annealed_graph()
    a = g.build()
    a.set_step(3)
    gm.save_checkpoint(tmp_path / "c.pt", a, g)
    b = g.build()
    b.set_step(6)
    gm.load_checkpoint(tmp_path / "c.pt", g, b)
    assert b.factor_modules[0].sched_scale[0].item() == pytest.approx(1.25)
    b.set_step(6)  # after a load, the next step writes its value again
    assert b.factor_modules[0].sched_scale[0].item() == pytest.approx(0.5)


# --- sampling temperature --------------------------------------------------------------------


def categorical_graph() -> gm.Graph:
    c = gm.Variable("c", (), "categorical", "latent", classes=4)
    return gm.Graph("cat", p=gm.Categorical(c, logits=[0.0, 1.0, 2.0, 0.5]) * gm.Normal(X, given=c, net=gm.MLP(8)))


def test_temperature_one_gives_todays_samples():
    for g in (tied_graph(), categorical_graph()):
        rt = g.build()
        torch.manual_seed(3)
        plain = rt.p.sample(50)
        torch.manual_seed(3)
        warm = rt.p.sample(50, temperature=1.0)
        assert all(torch.equal(plain[k], warm[k]) for k in plain)


def test_lower_temperature_reduces_the_spread():
    rt = tied_graph().build()
    stds = {tau: rt.p.sample(20000, temperature=tau)["z"].std().item() for tau in (1.0, 0.25)}
    assert stds[1.0] == pytest.approx(1.0, abs=0.03)
    assert stds[0.25] == pytest.approx(0.5, abs=0.02)  # a Normal's σ·√τ
    # the very draw: μ + σ√τ·ε with the same noise
    z = torch.randn(7, 3)
    torch.manual_seed(5)
    x = rt.p.sample(given={"z": z}, temperature=0.25)["x"]
    torch.manual_seed(5)
    params = rt.factor_modules[0].params(z)
    torch.testing.assert_close(x, params["loc"] + 0.5 * params["scale"] * torch.randn(7, 6))
    cat = categorical_graph().build()
    counts = {tau: torch.bincount(cat.p.sample(4000, temperature=tau)["c"], minlength=4) / 4000 for tau in (1.0, 0.2)}
    assert counts[0.2][2] > 0.95 > counts[1.0][2] > 0.5  # logits ÷ τ: the mode takes over


def test_families_without_a_temperature_refuse_it_by_factor():
    u = gm.Variable("u", (2,), "unit_interval", "observed")
    rt = gm.Graph("beta", p=gm.Beta(u, concentration1=2.0, concentration0=3.0)).build()
    rt.p.sample(4)
    with pytest.raises(GraphModelError, match=r"^factor p\(u\): Beta defines no sampling temperature; "
                                              "sample with temperature 1$"):
        rt.p.sample(4, temperature=0.5)
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(GraphModelError, match="^temperature: expected a positive number"):
            rt.p.sample(4, temperature=bad)


# --- positive maps ---------------------------------------------------------------------------


def test_softplus_is_a_per_parameter_choice_in_code_and_in_the_file():
    g = gm.Graph("sp", p=gm.Normal(X, given=Z, net=gm.MLP(8)) * gm.Normal(Z, loc=0.0, scale=gm.Learn(0.3),
                                                                        positive="softplus"),
                 q=gm.Normal(Z, given=X, net=gm.MLP(8), positive={"scale": "softplus"}))
    text = gm.dumps(g)
    assert text.count('"positive": {"scale": "softplus"}') == 2 and gm.dumps(gm.loads(text)) == text
    rt = gm.loads(text).build()
    x = torch.randn(5, 6)
    raw = rt.factor_modules[2].net(x)[1]
    q = rt.factor_modules[2](x)
    torch.testing.assert_close(q.base_dist.scale, F.softplus(raw) + SOFTPLUS_FLOOR)
    assert not hasattr(q, "_gm_log_scale")  # the kept log σ is exp's alone
    assert hasattr(rt.factor_modules[0](torch.randn(5, 3)), "_gm_log_scale")
    z = q.rsample()
    torch.testing.assert_close(log_density(q, z), q.log_prob(z))
    prior = rt.factor_modules[1]()
    torch.testing.assert_close(prior.base_dist.scale, torch.full((3,), 0.3))  # Learn starts at its value
    assert rt.factor_modules[1].raw_scale.detach() == pytest.approx(math.log(math.expm1(0.3 - SOFTPLUS_FLOOR)))


@pytest.mark.parametrize("positive, message", [
    ({"scale": "relu"}, 'factors[0].positive.scale: expected one of exp, softplus, found "relu"'),
    ({"loc": "softplus"}, "factors[0].positive: Normal has no positive parameter 'loc'; its positive parameters: scale"),
    ([], "factors[0].positive: expected an object, found []"),
])
def test_a_bad_positive_map_in_the_file_is_named(positive, message):
    d = gm.Graph("g", p=gm.Normal(X, given=Z, net=gm.MLP(8)) * gm.Normal(Z, loc=0.0, scale=1.0)).to_dict()
    d["factors"][0]["positive"] = positive
    from graphmodel.fileio import graph_from_dict

    with pytest.raises(GraphFileError) as e:
        graph_from_dict(d)
    assert str(e.value) == message


def test_a_bad_positive_map_in_code_is_named():
    with pytest.raises(GraphModelError, match="^factor x: positive: Normal has no positive parameter 'loc'"):
        gm.Normal(X, given=Z, positive={"loc": "exp"})
    with pytest.raises(GraphModelError, match="^factor x: positive.scale: expected one of exp, softplus, found 'sq'"):
        gm.Normal(X, given=Z, positive="sq")
    with pytest.raises(GraphModelError, match="^factor x: positive='softplus', but Bernoulli has no positive"):
        gm.Bernoulli(gm.Variable("x", (6,), "binary"), given=Z, positive="softplus")


def test_a_vae_with_a_softplus_encoder_scale_learns(one_thread):
    from inference.data import digits
    from inference.evaluate import bound

    x = gm.Variable("x", (64,), "binary", "observed")
    z = gm.Variable("z", (4,))
    g = gm.Graph("vae", p=gm.Bernoulli(x, given=z, net=gm.MLP(64)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MLP(64), positive="softplus"))
    t = Trainer(g, {"x": digits()["image"]}, {"steps": 400, "batch_size": 64, "lr": 3e-3, "device": "cpu",
                                              "log_every": 400, "checkpoint_every": None})
    with torch.no_grad():
        before = bound(t.runtime, g, t.test_data).mean().item()
    t.run()
    with torch.no_grad():
        after = bound(t.runtime, g, t.test_data).mean().item()
    assert before < -40 and after > -30, (before, after)


def test_the_exported_script_rebuilds_tied_scheduled_and_softplus_factors(tmp_path):
    pytest.importorskip("PyQt6")
    import runpy

    from editor.export import script

    g = gm.Graph("all", networks={"writer": gm.MLP(16)},
                 p=gm.Normal(X, given=Z, net="writer") * gm.Normal(Y, given=Z, net="writer")
                 * gm.Normal(W, given=Z, scale=gm.Annealed(2.0, 0.7, 100)) * gm.Normal(Z, loc=0.0, scale=1.0),
                 q=gm.Normal(Z, given=[X, Y], net=gm.MLP(16), positive="softplus"))
    (tmp_path / "all.py").write_text(script(g))
    assert runpy.run_path(str(tmp_path / "all.py"))["build"]() == g
