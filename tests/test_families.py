"""Generic checks over every registered distribution family.

``CASES`` is the catalogue: for each family a target variable, constant parameters and the
torch distribution a person would write by hand for them. Every case is run with constant
parameters, with parameters from a network over a parent, and with learnable parameters, and
saved to a file and read back; a family registered in ``gm.FAMILIES`` without a case here fails
``test_catalogue_covers_every_family``. A case of a family with options (a mixture's number of
components) gives them in ``options``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pytest
import torch
from conftest import load_example
from torch import distributions as D
from torch import nn

import graphmodel as gm
from graphmodel.distributions import DiscretizedLogisticMixture, DiscretizedLogisticMixtureRGB, QuantizedCategorical

N = 5
TEMPERATURE = 0.5  # the documented default of the relaxed families


@dataclass(frozen=True)
class Case:
    family: str
    var: gm.Variable
    params: dict  # constants, in each parameter's own space
    ref: Callable[[dict], D.Distribution] | None  # torch by hand from the parameter tensors
    options: dict = field(default_factory=dict)  # the factor's family options

    @property
    def fam(self) -> gm.Family:
        return gm.FAMILIES.get(self.family).with_options(self.options)

    def __str__(self) -> str:
        extra = "".join(f",{k}" for k in self.params if k not in self.fam.params)
        return f"{self.family}{self.var.shape}{extra}" + "".join(f",{k}={v}" for k, v in self.options.items())


def _temp(p):
    return p.get("temperature", torch.tensor(TEMPERATURE))


CASES = [
    Case("Normal", gm.Variable("v", (3,)), {"loc": [0.0, 1.0, -1.0], "scale": 0.5},
         lambda p: D.Independent(D.Normal(p["loc"], p["scale"]), 1)),
    Case("Normal", gm.Variable("v", ()), {"loc": 1.0, "scale": 2.0},
         lambda p: D.Normal(p["loc"], p["scale"])),
    Case("Laplace", gm.Variable("v", (3,)), {"loc": 0.5, "scale": [0.5, 1.0, 2.0]},
         lambda p: D.Independent(D.Laplace(p["loc"], p["scale"]), 1)),
    Case("Bernoulli", gm.Variable("v", (2, 3), "binary"), {"logits": [[0.2, -1.0, 2.0], [0.0, 3.0, -2.0]]},
         lambda p: D.Independent(D.Bernoulli(logits=p["logits"]), 2)),
    Case("Categorical", gm.Variable("v", (2,), "categorical", classes=4),
         {"logits": [[0.0, 1.0, 2.0, -1.0], [1.0, 1.0, -3.0, 0.5]]},
         lambda p: D.Independent(D.Categorical(logits=p["logits"]), 1)),
    Case("OneHotCategorical", gm.Variable("v", (5,), "one_hot"), {"logits": [0.0, 1.0, 2.0, -1.0, 0.5]},
         lambda p: D.OneHotCategorical(logits=p["logits"])),
    Case("RelaxedOneHotCategorical", gm.Variable("v", (5,), "simplex"), {"logits": [0.0, 1.0, 2.0, -1.0, 0.5]},
         lambda p: D.RelaxedOneHotCategorical(_temp(p), logits=p["logits"])),
    Case("RelaxedBernoulli", gm.Variable("v", (3,), "unit_interval"), {"logits": [0.3, -0.5, 1.0]},
         lambda p: D.Independent(D.RelaxedBernoulli(_temp(p), logits=p["logits"]), 1)),
    Case("RelaxedBernoulli", gm.Variable("v", (3,), "unit_interval"), {"logits": [0.3, -0.5, 1.0], "temperature": 0.7},
         lambda p: D.Independent(D.RelaxedBernoulli(_temp(p), logits=p["logits"]), 1)),
    Case("Beta", gm.Variable("v", (3,), "unit_interval"), {"concentration1": 2.0, "concentration0": [1.5, 2.0, 3.0]},
         lambda p: D.Independent(D.Beta(p["concentration1"], p["concentration0"]), 1)),
    Case("Gamma", gm.Variable("v", (3,), "positive"), {"concentration": [1.0, 2.0, 3.0], "rate": 2.0},
         lambda p: D.Independent(D.Gamma(p["concentration"], p["rate"]), 1)),
    Case("Dirichlet", gm.Variable("v", (2, 4), "simplex"),
         {"concentration": [[1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 2.0, 1.0]]},
         lambda p: D.Independent(D.Dirichlet(p["concentration"]), 1)),
    Case("Deterministic", gm.Variable("v", (3,)), {"value": [1.0, -2.0, 3.0]}, None),
    Case("Mixture", gm.Variable("v", (3,)),
         {"mixture_logits": [0.0, 1.0, -1.0], "loc": [[0.0, 1.0, -1.0], [2.0, 0.0, 1.0], [-2.0, -1.0, 0.5]],
          "scale": 0.5},
         lambda p: D.MixtureSameFamily(D.Categorical(logits=p["mixture_logits"]),
                                       D.Independent(D.Normal(p["loc"], p["scale"].expand(p["loc"].shape)), 1)),
         {"components": 3}),
    Case("Mixture", gm.Variable("v", (4,), "binary"),
         {"mixture_logits": [0.5, -0.5], "logits": [[2.0, -2.0, 1.0, 0.0], [-1.0, 3.0, 0.0, -2.0]]},
         lambda p: D.MixtureSameFamily(D.Categorical(logits=p["mixture_logits"]),
                                       D.Independent(D.Bernoulli(logits=p["logits"]), 1)),
         {"components": 2, "component": "Bernoulli"}),
    Case("DiscretizedLogisticMixture", gm.Variable("v", (4,), "unit_interval"),
         {"logits": [0.0, 1.0, -1.0], "loc": [-0.5, 0.0, 0.7], "scale": [0.2, 0.1, 0.3]},
         lambda p: D.Independent(DiscretizedLogisticMixture(
             *torch.broadcast_tensors(p["logits"], p["loc"], p["scale"], torch.zeros(4, 1))[:3], levels=16), 1),
         {"components": 3, "levels": 16}),
    Case("DiscretizedLogisticMixture", gm.Variable("v", (3, 2, 2), "unit_interval"),
         {"logits": [0.0, 1.0], "loc": [-0.3, 0.4], "scale": [0.2, 0.5], "coeffs": [0.5, -0.5]},
         lambda p: DiscretizedLogisticMixtureRGB(
             *(p[k].expand(s) if p[k].dim() == 1 else p[k] for k, s in (("logits", (2, 2, 2)), ("loc", (3, 2, 2, 2)), ("scale", (3, 2, 2, 2)),
                                           ("coeffs", (3, 2, 2, 2)))), levels=32),
         {"components": 2, "levels": 32, "rgb": True}),
    Case("BivariateNormalMixture", gm.Variable("v", (2,)),
         {"logits": [0.0, 1.0], "loc": [[0.0, 1.0], [-1.0, 0.5]], "scale": [[0.5, 1.0], [1.5, 0.3]],
          "corr": [0.5, -0.3]},
         lambda p: D.MixtureSameFamily(D.Categorical(logits=p["logits"]),
                                       D.MultivariateNormal(p["loc"], covariance_matrix=_covariance(p))),
         {"components": 2}),
    Case("QuantizedCategorical", gm.Variable("v", (2, 3), "unit_interval"),
         {"logits": [[[0.0, 1.0, 2.0, -1.0, 0.5]] * 3, [[1.0, 0.0, 0.0, 0.0, -2.0]] * 3]},
         lambda p: D.Independent(QuantizedCategorical(p["logits"]), 2), {"levels": 5}),
]
CASE_IDS = [str(c) for c in CASES]


def _covariance(p) -> torch.Tensor:
    """The 2×2 covariance of each bivariate component, ``[[σx², ρσxσy], [ρσxσy, σy²]]``."""
    sx, sy, rho = p["scale"][..., 0], p["scale"][..., 1], p["corr"]
    row0 = torch.stack((sx * sx, rho * sx * sy), -1)
    row1 = torch.stack((rho * sx * sy, sy * sy), -1)
    return torch.stack((row0, row1), -2)


def _tensors(params: dict) -> dict:
    return {k: torch.as_tensor(v, dtype=torch.get_default_dtype()) for k, v in params.items()}


def _base(d: D.Distribution) -> D.Distribution:
    return d.base_dist if isinstance(d, D.Independent) else d


def _close(actual, expected):
    torch.testing.assert_close(actual, expected, atol=1e-6, rtol=1e-6)


def _value_shape(case):
    return (N, *case.var.shape)


def test_catalogue_covers_every_family():
    assert {c.family for c in CASES} == set(gm.FAMILIES.names())


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_constant_parameters(case):
    g = gm.Graph("one", p=gm.make_factor(case.family, case.var, **case.params, **case.options))
    assert g.problems() == []
    net = g.build()
    trace = net.p.trace(n=N)
    v = trace.values["v"]
    assert tuple(v.shape) == _value_shape(case)
    if case.ref is None:  # a point mass: the value itself, and no log-density term
        _close(v, _tensors(case.params)["value"].expand(v.shape))
        assert trace.log_probs == {}
        return
    ref = case.ref(_tensors(case.params))
    assert tuple(ref.event_shape) == case.var.shape
    assert type(_base(trace.dists["p(v)"])) is case.fam.dist
    assert ref.support.check(v).all(), "samples must lie in the family's support"
    assert gm.SUPPORTS.get(case.fam.support).constraint.check(v).all(), "samples must lie in the declared support"
    assert torch.isfinite(trace.log_probs["p(v)"]).all()
    if case.var.support == "categorical":
        assert v.dtype == torch.long
    _close(trace.log_probs["p(v)"], ref.log_prob(v))
    _close(net.p.log_prob({"v": v}), ref.log_prob(v))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_network_parameters(case):
    u = gm.Variable("u", (2,), role="input")
    family = case.fam
    fixed = {k: v for k, v in case.params.items() if k not in family.params}  # e.g. a temperature
    g = gm.Graph("one", p=gm.make_factor(case.family, case.var, given=u, net=gm.MLP(16), **fixed, **case.options))
    assert g.problems() == []
    net = g.build()
    u_value = torch.randn(N, 2)
    trace = net.p.trace({"u": u_value})
    v = trace.values["v"]
    assert tuple(v.shape) == _value_shape(case)
    params = net.factor_modules[0].params(u_value)
    for k in family.params:
        assert tuple(params[k].shape) == (N, *family.param_shape(k, case.var)), k
        assert family.constraint(k).check(params[k]).all(), f"{k} must satisfy its constraint"
    other = net.factor_modules[0].params(torch.randn(N, 2))
    assert not all(torch.equal(params[k], other[k]) for k in family.params), "the network must read u"
    if case.ref is None:
        _close(v, params["value"])
        assert trace.log_probs == {}
        return
    for k, value in _tensors(fixed).items():
        _close(params[k], value)
    ref = case.ref(params)
    _close(trace.log_probs["p(v|u)"], ref.log_prob(v))
    _close(net.p.log_prob({"u": u_value, "v": v}), ref.log_prob(v))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_learnable_parameters(case):
    g = gm.Graph("one", p=gm.make_factor(case.family, case.var, **{k: gm.Learn(v) for k, v in case.params.items()},
                                         **case.options))
    net = g.build()
    learned = list(net.parameters())
    assert len(learned) == len(case.params)
    assert all(isinstance(w, nn.Parameter) and w.requires_grad for w in learned)
    assert net.parameters_of("p") == learned
    family = case.fam
    start = net.factor_modules[0].params()
    for k, v in _tensors(case.params).items():
        torch.testing.assert_close(start[k], v.expand(family.param_shape(k, case.var)), atol=1e-5, rtol=1e-5)
    if case.ref is None:  # a point mass passes gradients through its sample
        loss = net.p.sample(N)["v"].sum()
    else:
        with torch.no_grad():
            data = net.p.sample(N)
        loss = -net.p.log_prob(data).sum()
    loss.backward()
    for w in learned:
        assert w.grad is not None and torch.isfinite(w.grad).all()
        assert w.grad.abs().sum() > 0


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_file_round_trip(case, tmp_path):
    u = gm.Variable("u", (2,), role="input")
    factors = [gm.make_factor(case.family, case.var, **case.params, **case.options)]
    fixed = {k: v for k, v in case.params.items() if k not in case.fam.params}
    factors.append(gm.make_factor(case.family, case.var, given=u, net=gm.MLP(8), **fixed, **case.options))
    for f in factors:
        g = gm.Graph("one", p=f)
        text = gm.dumps(g)
        back = gm.loads(text)
        assert back == g and gm.dumps(back) == text
        assert back.factors[0].family_options == case.options
        assert back.problems() == []
        back.build()


def _factor_index(g, model, target):
    return next(i for i, f in enumerate(g.factors) if f.model == model and f.target == target)


def test_vae_joint_log_prob_is_the_sum_of_factors_by_hand():
    g = load_example("vae").build()
    net = g.build()
    x = torch.bernoulli(torch.full((N, 64), 0.3))
    z = net.q.sample(given={"x": x})["z"]
    assert z.shape == (N, 8)
    positive = D.transform_to(D.constraints.positive)

    (logits,) = net.factor_modules[_factor_index(g, "p", "x")].net(z)
    log_px = D.Independent(D.Bernoulli(logits=logits), 1).log_prob(x)
    log_pz = D.Independent(D.Normal(torch.zeros(8), torch.ones(8)), 1).log_prob(z)
    _close(net.p.log_prob({"x": x, "z": z}), log_px + log_pz)
    terms = net.p.log_prob_terms({"x": x, "z": z})
    _close(terms["p(x|z)"], log_px)
    _close(terms["p(z)"], log_pz)

    loc, raw_scale = net.factor_modules[_factor_index(g, "q", "z")].net(x)
    log_qz = D.Independent(D.Normal(loc, positive(raw_scale)), 1).log_prob(z)
    _close(net.q.log_prob({"x": x, "z": z}), log_qz)
