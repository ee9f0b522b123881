"""The flow kind of factor: in code, in the file, in the engine, the runtime and the objectives.

A flow factor is its family's distribution (the base) pushed through invertible steps; its
density is exact, so it is trained by likelihood or scored by the ELBO, never adversarially.
"""

from __future__ import annotations

import math

import pytest
import torch

import graphmodel as gm
from inference.elbo import adversarial_reason, elbo_terms
from inference.objectives import choose_objective


def _density(flow, shape=(2,)) -> gm.Graph:
    x = gm.Variable("x", shape, role="observed")
    return gm.Graph("flow", p=gm.Normal(x, loc=0.0, scale=1.0, flow=flow))


def _iaf_vae(flow=None) -> gm.Graph:
    x, z = gm.Variable("x", (6,), support="binary", role="observed"), gm.Variable("z", (3,))
    flow = flow if flow is not None else [gm.IAF(hidden=[16]), gm.Permute()]
    return gm.Graph("iaf", p=gm.Bernoulli(x, given=z, net=gm.MLP(16)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(16), flow=flow))


def _perturbed(g: gm.Graph):
    """The built graph with every weight moved off the identity the steps start at."""
    net = g.build()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return net.eval()


# --- code and file ------------------------------------------------------------------

def test_a_flow_is_written_as_steps_or_dicts():
    as_steps = _density([gm.Coupling(hidden=[8]), gm.Permute()])
    as_dicts = _density([{"type": "coupling", "hidden": [8], "mask": "auto", "flip": False, "context": False},
                         {"type": "permute", "order": "reverse", "seed": 0}])
    assert as_steps == as_dicts
    assert as_steps.factors[0].flow[0] == gm.FlowStep("coupling", {"hidden": [8], "mask": "auto", "flip": False,
                                                                   "context": False})


def test_flow_round_trips_through_the_file():
    g = _density([gm.ActNorm(), gm.MAF(hidden=[8]), gm.Permute(order="random", seed=3), {"type": "coupling"}])
    text = gm.dumps(g)
    again = gm.loads(text)
    assert again == g and gm.dumps(again) == text
    assert '"flow": [' in text and '{"type": "coupling"}' in text  # a file's own options are kept as written


def _file_with(flow) -> dict:
    import json

    d = json.loads(gm.dumps(_density([gm.Coupling()])))
    d["factors"][0]["flow"] = flow
    return d


@pytest.mark.parametrize("flow,message", [
    ("coupling", r"factors\[0\]\.flow: expected a list, found \"coupling\""),
    ([{"hidden": [8]}], r"factors\[0\]\.flow\[0\]: missing key 'type'"),
    ([{"type": "permute"}, {"type": "coupling", "hidden": [8, -1]}],
     r"factors\[0\]\.flow\[1\]\.hidden: expected a non-empty list of integers in \[1, 65536\], found -1"),
    ([{"type": "glow"}], r"factors\[0\]\.flow\[0\]\.type: unknown transform 'glow'; known: "),
    ([{"type": "iaf", "depth": 2}], r"factors\[0\]\.flow\[0\]\.depth: unknown option; known: hidden, context"),
    ([{"type": "coupling", "hidden": [8] * 100}], r"factors\[0\]\.flow\[0\]\.hidden: expected at most 64 entries"),
])
def test_bad_flows_in_a_file_are_named(flow, message):
    with pytest.raises(gm.GraphFileError, match=message):
        gm.fileio.graph_from_dict(_file_with(flow))


# --- the engine -------------------------------------------------------------------------

def test_engine_reports_what_a_flow_cannot_do():
    x = gm.Variable("x", (4,), support="binary", role="observed")
    bern = gm.Graph("b", p=gm.Bernoulli(x, logits=0.0, flow=[gm.Coupling()]))
    assert "a flow's base must be a continuous distribution on the reals" in str(bern.problems()[0])
    planar = _density([gm.Planar()])
    assert "flow[0]: planar has no closed-form inverse" in str(planar.problems()[0])
    channel = _density([gm.Permute(), gm.Coupling(mask="channel")], shape=(4,))
    assert "flow[1].mask: mask 'channel' needs an image event (C, H, W)" in str(channel.problems()[0])
    posterior = _iaf_vae([gm.Planar(), gm.Radial()])
    assert posterior.problems() == []  # in a posterior they score only their own samples


# --- the runtime ------------------------------------------------------------------------

def test_density_is_normalized_on_a_grid():
    torch.manual_seed(0)
    g = _density([gm.ActNorm(), gm.Coupling(hidden=[16]), gm.Permute(), gm.MAF(hidden=[16]),
                  gm.Conv1x1(), gm.Coupling(hidden=[16], flip=True)])
    net = _perturbed(g)
    ticks = torch.linspace(-8, 8, 401)
    grid = torch.stack(torch.meshgrid(ticks, ticks, indexing="xy"), -1).reshape(-1, 2)
    with torch.no_grad():
        mass = net.p.log_prob({"x": grid}).exp().sum() * (ticks[1] - ticks[0]) ** 2
    assert abs(mass.item() - 1) < 0.02


def test_image_flow_samples_and_scores_by_change_of_variables():
    torch.manual_seed(1)
    g = _density([gm.ActNorm(), gm.Coupling(hidden=[16]), gm.Conv1x1(), gm.Coupling(hidden=[16], mask="channel")],
                 shape=(2, 3, 3))
    net = _perturbed(g)
    x = net.p.sample(5)["x"]
    assert x.shape == (5, 2, 3, 3)
    lp = net.p.log_prob({"x": x})
    again = net.p.log_prob({"x": x.clone()})  # not the drawn tensor: scored by inverting
    torch.testing.assert_close(lp, again, atol=1e-4, rtol=1e-4)
    # by hand: invert step by step, add the log-determinants to the base's log-density
    mod = net.factor_modules[0]
    u, ladj = x, 0
    for layer in reversed(mod._steps):
        u, step_ladj = layer.inverse(u)
        ladj = ladj + step_ladj
    base = torch.distributions.Normal(0.0, 1.0).log_prob(u).sum((-3, -2, -1))
    torch.testing.assert_close(lp, base - ladj, atol=1e-4, rtol=1e-4)


def test_checkpoint_weights_restore_the_same_density(tmp_path):
    g = _density([gm.ActNorm(), gm.Coupling(hidden=[8])])
    net = _perturbed(g)
    x = torch.randn(7, 2)
    gm.save_checkpoint(tmp_path / "c.pt", net, g)
    other = g.build()
    gm.load_checkpoint(tmp_path / "c.pt", g, other)
    torch.testing.assert_close(other.eval().p.log_prob({"x": x}), net.p.log_prob({"x": x}))


# --- objectives ---------------------------------------------------------------------------

def test_an_iaf_posterior_is_scored_by_monte_carlo_never_adversarially():
    g = _iaf_vae()
    assert adversarial_reason(g) is None
    assert choose_objective(g) == "elbo"
    plan = elbo_terms(g)
    assert [(lat.variable, lat.treatment, lat.analytic) for lat in plan.latents] == [("z", "mc", False)]
    plain = _iaf_vae([])
    assert [lat.treatment for lat in elbo_terms(plain).latents] == ["analytic"]
    with pytest.raises(gm.GraphModelError, match="no closed form"):
        from inference.elbo import elbo
        elbo(g, kl="analytic")


def test_a_flow_posteriors_trace_scores_its_own_sample_exactly():
    torch.manual_seed(2)
    g = _iaf_vae([gm.IAF(hidden=[16]), gm.Permute(), gm.IAF(hidden=[16])])
    net = _perturbed(g)
    x = torch.bernoulli(torch.full((4, 6), 0.5))
    tr = net.q.trace({"x": x})
    z = tr.values["z"]
    # the same density, found again by inverting the IAF steps one element at a time
    torch.testing.assert_close(tr.log_probs["q(z|x)"], net.q.log_prob({"x": x, "z": z.clone()}),
                               atol=1e-4, rtol=1e-4)


def test_a_fully_observed_flow_trains_by_maximum_likelihood():
    """Two couplings learn a shifted, stretched Gaussian to within 0.05 nats of its entropy."""
    from inference.trainer import train

    g = _density([gm.Coupling(hidden=[16]), gm.Coupling(hidden=[16], flip=True)])
    assert adversarial_reason(g) is None and choose_objective(g) == "ml"
    torch.manual_seed(3)
    sd = torch.tensor([0.5, 2.0])
    data = {"x": torch.randn(2000, 2) * sd + torch.tensor([2.0, -1.0])}
    best = -(0.5 * math.log(2 * math.pi) + sd.log() + 0.5).sum().item()  # E log p under the truth
    before = g.build().p.log_prob(data).mean().item()
    t = train(g, data, steps=300, batch_size=100, lr=0.02, log_every=300, test_fraction=0.0)
    after = t.runtime.eval().p.log_prob(data).mean().item()
    assert before < best - 1 and after > best - 0.05


def test_check_prints_the_flow(capsys, tmp_path):
    from cli import main

    gm.save(_iaf_vae(), tmp_path / "g.json")
    assert main(["check", str(tmp_path / "g.json")]) == 0
    assert "flow q(z|x): Normal → iaf → permute" in capsys.readouterr().out


# --- uniform dequantization -------------------------------------------------------------

def _grey(levels: int = 5) -> gm.Graph:
    x = gm.Variable("x", (3,), support="unit_interval", role="observed")
    return gm.Graph("grey", p=gm.Normal(x, loc=0.5, scale=0.3, flow=[gm.Coupling(hidden=[8])]),
                    objective={"kind": "ml", "dequantize": {"x": levels}})


def test_dequantized_likelihood_scores_jittered_data_minus_the_bin_volume():
    from inference.objectives import derive

    g = _grey()
    net = g.build().eval()
    x = torch.randint(0, 5, (6, 3)).float() / 4
    loss = derive(g)
    assert str(loss) == "log p(x) (dequantized x)"
    torch.manual_seed(4)
    value = loss.evaluate(net, {"x": x})
    torch.manual_seed(4)
    jittered = (x * 4 + torch.rand_like(x)) / 5
    torch.testing.assert_close(value, net.p.log_prob({"x": jittered}) - 3 * math.log(5))


@pytest.mark.parametrize("dequantize,message", [
    ({"y": 17}, r"objective.dequantize.y: expected a continuous variable the model scores \(x\), found 'y'"),
    ({"x": 1}, r"objective.dequantize.x: expected a number of levels in \[2, 65536\], found 1"),
    ([17], r"objective.dequantize: expected an object variable → number of levels, found \[17\]"),
])
def test_bad_dequantization_is_named(dequantize, message):
    from inference.objectives import derive

    g = _grey()
    with pytest.raises(gm.GraphModelError, match=message):
        derive(g, {"kind": "ml", "dequantize": dequantize})


def test_a_conditional_step_needs_parents_and_reads_them():
    g = _density([gm.Coupling(context=True)])
    assert "flow[0].context: the step reads the factor's parents, and the factor has none" in str(g.problems()[0])
    torch.manual_seed(5)
    net = _perturbed(_iaf_vae([gm.IAF(hidden=[16], context=True), gm.Permute(), gm.IAF(hidden=[16], context=True)]))
    x = torch.bernoulli(torch.full((4, 6), 0.5))
    tr = net.q.trace({"x": x})
    z = tr.values["z"]
    torch.testing.assert_close(tr.log_probs["q(z|x)"], net.q.log_prob({"x": x, "z": z.clone()}), atol=1e-4, rtol=1e-4)
    # the same z under another x: the base and the steps both change the density
    assert not torch.allclose(net.q.log_prob({"x": 1 - x, "z": z}), tr.log_probs["q(z|x)"])


def test_a_2d_density_gets_a_density_picture(tmp_path):
    from inference.plots import density_grid, density_variable, save_density

    g = _density([gm.Coupling(hidden=[8])])
    net = g.build()
    assert density_variable(g) == ("p", "x") and density_variable(_iaf_vae()) is None
    lp = density_grid(net, "p", "x", torch.tensor([-3.0, -3.0]), torch.tensor([3.0, 3.0]), n=50)
    assert lp.shape == (50, 50) and lp[25, 25] > lp[0, 0]  # a standard normal at start: highest near 0
    assert save_density(net, g, tmp_path / "d.png", {"x": torch.randn(100, 2)})
    assert (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    assert not save_density(_iaf_vae().build(), _iaf_vae(), tmp_path / "none.png")
