"""One test per validation error: each message names the node and what was expected/found.

Also the registries: unknown names list the known ones, duplicates need ``override=True``,
and a newly registered family or network type works end to end.
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import distributions as D
from torch import nn

import graphmodel as gm
from graphmodel.families import REAL_LIKE

U = gm.Variable("u", (2,), role="input")
Z = gm.Variable("z", (3,))


def _only_problem(g):
    problems = g.problems()
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def _fails_to_build(g, problem):
    with pytest.raises(gm.ValidationError) as err:
        g.build()
    assert problem.message in str(err.value)
    assert problem in err.value.problems


def test_cycle_lists_the_cycle():
    a, b = gm.Variable("a", (2,)), gm.Variable("b", (2,))
    g = gm.Graph("cyclic", p=gm.Normal(a, given=b, net=gm.MLP(8)) * gm.Normal(b, given=a, net=gm.MLP(8)))
    problem = _only_problem(g)
    assert problem.message == "model 'p' has a cycle: a → b → a"
    assert problem.variable == "a"
    assert gm.ancestral_order(g, "p") == []
    _fails_to_build(g, problem)


def test_lagged_edges_make_no_cycle():
    """h[t-1] → z → h is a recurrence, not a cycle."""
    time = gm.Plate("time", 4, kind="sequence")
    h, z = gm.Variable("h", (4,), plate="time"), gm.Variable("z", (2,), plate="time")
    g = gm.Graph("rnn", plates=[time],
                 p=gm.Normal(z, given=h, net=gm.MLP(8)) * gm.Deterministic(h, given=(h.prev, z.prev), net=gm.GRUCell())
                 * gm.Deterministic(h, value=0.0, init=True))
    assert g.problems() == []
    assert gm.ancestral_order(g, "p") == ["h", "z"]


def test_undefined_parent():
    g = gm.Graph("undefined", p=gm.Normal(Z, given="w", net=gm.MLP(8)))
    problem = _only_problem(g)
    assert problem.message == "factor p(z|w): parent 'w' is not a declared variable"
    assert (problem.variable, problem.factor) == ("w", 0)
    _fails_to_build(g, problem)


def test_two_factors_for_one_variable_in_one_model():
    g = gm.Graph("twice", p=gm.Normal(Z, loc=0.0, scale=1.0) * gm.Laplace(Z, loc=0.0, scale=1.0))
    problem = _only_problem(g)
    assert problem.message == "variable 'z' has two factors in model 'p': p(z) and p(z)"
    assert (problem.variable, problem.factor) == ("z", 1)
    # one factor per model is fine: p and q each define z
    assert gm.Graph("ok", p=gm.Normal(Z, loc=0.0, scale=1.0), q=gm.Laplace(Z, loc=0.0, scale=1.0)).problems() == []


def test_constant_parameter_of_the_wrong_shape():
    g = gm.Graph("bad_shape", p=gm.Normal(Z, loc=[0.0, 1.0], scale=1.0))
    problem = _only_problem(g)
    assert problem.message.startswith("factor p(z): parameter 'loc' has shape (2,), expected (3,)")
    assert (problem.variable, problem.factor) == ("z", 0)
    # a shape that broadcasts is fine
    assert gm.Graph("ok", p=gm.Normal(Z, loc=[0.5], scale=1.0)).problems() == []


def test_user_network_output_of_the_wrong_shape_fails_at_build():
    x = gm.Variable("x", (3,), "binary", "observed")
    g = gm.Graph("user_net", p=gm.Bernoulli(x, given=U, net=nn.Linear(2, 5)))
    assert g.problems() == []  # the module's output is only known when it runs
    with pytest.raises(gm.ShapeError) as err:
        g.build()
    msg = str(err.value)
    assert msg.startswith("factor p(x|u): network output 'logits'")
    assert "has shape (2, 5), expected (2, 3)" in msg
    # the right output shape builds and samples
    ok = gm.Graph("user_net", p=gm.Bernoulli(x, given=U, net=nn.Linear(2, 3))).build()
    assert ok.p.sample(given={"u": torch.randn(4, 2)})["x"].shape == (4, 3)


def test_user_network_with_too_few_outputs():
    g = gm.Graph("user_net", p=gm.Normal(Z, given=U, net=nn.Linear(2, 3)))
    with pytest.raises(gm.ShapeError, match=r"^factor p\(z\|u\): the network returned 1 outputs, expected 2 "
                                            r"\(loc, scale\)"):
        g.build()


@pytest.mark.parametrize("family, accepts", [("Bernoulli", "binary, unit_interval"), ("Categorical", "categorical")])
def test_family_over_a_variable_of_another_support(family, accepts):
    x = gm.Variable("x", (3,))
    g = gm.Graph("support", p=gm.make_factor(family, x, given=U, net=gm.MLP(8)))
    problem = _only_problem(g)
    assert problem.message == (f"factor p(x|u): {family} cannot score 'x' with support 'real'; "
                               f"{family} accepts {accepts}")
    assert (problem.variable, problem.factor) == ("x", 0)


def test_lagged_parent_outside_a_sequence_plate():
    g = gm.Graph("lag", p=gm.Normal(Z, given=Z.prev, net=gm.MLP(8)) * gm.Normal(Z, loc=0.0, scale=1.0, init=True))
    messages = [p.message for p in g.problems()]
    assert ("factor p(z|z[t-1]): parent 'z[t-1]' reads a previous step, so 'z' and 'z' must share a "
            "sequence plate") in messages
    assert "factor p(z[0]): init=True is for variables in a sequence plate, and 'z' is not in one" in messages


def test_lag_without_an_initial_factor():
    time = gm.Plate("time", 4, kind="sequence")
    z = gm.Variable("z", (3,), plate="time")
    g = gm.Graph("no_init", plates=[time], p=gm.Normal(z, given=z.prev, net=gm.MLP(8)))
    problem = _only_problem(g)
    assert problem.message == ("factor p(z|z[t-1]): 'z' reads its previous step, so it needs an initial "
                               "factor for t=0 (init=True) in model 'p'")
    assert (problem.variable, problem.factor) == ("z", 0)


def test_plate_parent_without_reduce():
    views = gm.Plate("views", 3)
    x_c, r = gm.Variable("x_c", (2,), plate="views"), gm.Variable("r", (4,))
    factor = {"given": x_c, "net": gm.MLP(8)}
    g = gm.Graph("no_reduce", plates=[views],
                 p=gm.Deterministic(r, **factor) * gm.Normal(x_c, loc=0.0, scale=1.0))
    problem = _only_problem(g)
    assert problem.message == ("factor p(r|x_c): parents in plate 'views' feed 'r', which is outside it; "
                               "give reduce='sum' or 'mean'")
    assert (problem.variable, problem.factor) == ("r", 0)
    fixed = gm.Graph("reduce", plates=[views],
                     p=gm.Deterministic(r, reduce="sum", **factor) * gm.Normal(x_c, loc=0.0, scale=1.0))
    assert fixed.problems() == []
    assert fixed.build().p.sample(5)["r"].shape == (5, 4)


def _known(registry):
    return "known: " + ", ".join(registry.names())


def test_unknown_family():
    with pytest.raises(gm.GraphModelError) as err:
        gm.make_factor("Cauchy", Z, loc=0.0, scale=1.0)
    assert str(err.value) == f"unknown family 'Cauchy'; {_known(gm.FAMILIES)}"
    # in a file, the error names the place
    doc = gm.Graph("file", p=gm.Normal(Z, loc=0.0, scale=1.0)).to_dict()
    doc["factors"][0]["family"] = "Cauchy"
    with pytest.raises(gm.GraphFileError) as err:
        gm.loads(json.dumps(doc))
    assert str(err.value) == (f"factors[0]: factor p(z): unknown family 'Cauchy'; {_known(gm.FAMILIES)} "
                              "(a plugin's family? load its package with --plugin package.module)")


def test_unknown_network():
    g = gm.Graph("net", p=gm.Normal(Z, given=U, net=gm.NetSpec("Transformer", {})))
    problem = _only_problem(g)
    assert problem.message == f"factor p(z|u): net.type: unknown network 'Transformer'; {_known(gm.NETWORKS)}"
    with pytest.raises(gm.GraphModelError, match="^unknown network 'Transformer'; known: .*MLP"):
        gm.NETWORKS.get("Transformer")


@pytest.fixture
def registries():
    """The family and network registries, put back as they were after the test."""
    saved = [(r, dict(r._entries)) for r in (gm.FAMILIES, gm.NETWORKS)]
    yield gm.FAMILIES, gm.NETWORKS
    for r, entries in saved:  # Registry has no unregister; tests must not leak their entries
        r._entries.clear()
        r._entries.update(entries)


def test_duplicate_registration_needs_override(registries):
    families, networks = registries
    normal, mlp = families.get("Normal"), networks.get("MLP")
    with pytest.raises(gm.GraphModelError, match="^family 'Normal' is already registered; pass override=True"):
        families.register("Normal", gm.FAMILIES.get("Laplace"))
    with pytest.raises(gm.GraphModelError, match="^network 'MLP' is already registered; pass override=True"):
        networks.register("MLP", networks.get("Identity"))
    assert families.get("Normal") is normal and networks.get("MLP") is mlp
    laplace = families.get("Laplace")
    families.register("Normal", laplace, override=True)
    assert families.get("Normal") is laplace


def test_a_registered_family_works_end_to_end(registries):
    families, _ = registries
    families.register("StudentT", gm.Family("StudentT", D.StudentT, ("df", "loc", "scale"), "real", REAL_LIKE))
    w = gm.Variable("w", (2,))
    f = gm.make_factor("StudentT", Z, given=w, net=gm.MLP(16))
    g = gm.Graph("student", p=f * gm.Normal(w, loc=0.0, scale=1.0))
    assert g.problems() == []
    assert gm.loads(gm.dumps(g)) == g
    net = g.build()
    values = net.p.sample(6)
    assert values["z"].shape == (6, 3)
    params = net.factor_modules[0].params(values["w"])
    assert (params["df"] > 0).all() and (params["scale"] > 0).all()
    ref = D.Independent(D.StudentT(params["df"], params["loc"], params["scale"]), 1)
    torch.testing.assert_close(net.p.log_prob_terms(values)["p(z|w)"], ref.log_prob(values["z"]),
                               atol=1e-6, rtol=1e-6)


class TinyLinear(nn.Module):
    """One linear layer from the flattened parents to every head."""

    def __init__(self, inputs, heads, bias):
        super().__init__()
        self.heads = heads
        self.linear = nn.Linear(sum(i.width for i in inputs), sum(h.numel for h in heads), bias=bias)

    def forward(self, *xs):
        x = torch.cat([x.flatten(1) for x in xs], dim=-1)
        parts = self.linear(x).split([h.numel for h in self.heads], dim=-1)
        return tuple(p.reshape(-1, *h.shape) for p, h in zip(parts, self.heads))


def _check_tiny(options):
    bias = options.get("bias")
    return [] if isinstance(bias, bool) else [("bias", f"expected true or false, found {bias!r}")]


def test_a_registered_network_type_works_end_to_end(registries):
    _, networks = registries
    networks.register("TinyLinear", gm.NetworkType(
        "TinyLinear", {"bias": True}, _check_tiny,
        lambda options, inputs, heads, trusted=False: TinyLinear(inputs, heads, options["bias"]),
        lambda options: "TinyLinear"))
    g = gm.Graph("tiny", p=gm.Normal(Z, given=U, net=gm.NetSpec("TinyLinear", {"bias": False})))
    assert g.problems() == []
    assert gm.loads(gm.dumps(g)) == g
    net = g.build()
    module = net.factor_modules[0].net
    assert isinstance(module, TinyLinear) and module.linear.bias is None
    z = net.p.sample(given={"u": torch.randn(4, 2)})["z"]
    assert z.shape == (4, 3)
    bad = gm.Graph("tiny", p=gm.Normal(Z, given=U, net=gm.NetSpec("TinyLinear", {"bias": "yes", "width": 3})))
    assert [p.message for p in bad.problems()] == [
        "factor p(z|u): net.width: unknown option; known: bias",
        "factor p(z|u): net.bias: expected true or false, found 'yes'",
    ]
