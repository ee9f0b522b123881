"""What families declare (options, supports, enumeration, relaxation, closed-form KLs) and
how the registries behave when an entry is replaced."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import distributions as D

import graphmodel as gm
from graphmodel.families import Family
from graphmodel.registry import Registry
from inference import elbo
from inference.elbo import _closed_form, elbo_terms


def test_every_support_is_backed_by_a_torch_constraint():
    for name in gm.SUPPORTS:
        s = gm.SUPPORTS.get(name)
        assert isinstance(s.constraint, D.constraints.Constraint) and s.help
    assert gm.SUPPORTS.get("binary").constraint.check(torch.tensor([0.0, 1.0, 0.5])).tolist() == [True, True, False]
    assert not gm.SUPPORTS.get("simplex").constraint.check(torch.tensor([0.5, 0.6]))
    for fam in map(gm.FAMILIES.get, gm.FAMILIES):
        assert fam.support in gm.SUPPORTS and all(a in gm.SUPPORTS for a in fam.accepts), fam.name


def test_a_variable_cannot_declare_a_support_only_families_sample():
    with pytest.raises(gm.GraphModelError, match="unknown support 'grey_levels'; known: real, positive"):
        gm.Variable("x", (4,), "grey_levels")


def test_capabilities_are_declared():
    get = gm.FAMILIES.get
    assert {n for n in gm.FAMILIES if get(n).enumerable} == {"Bernoulli", "Categorical", "OneHotCategorical"}
    assert {n: get(n).relaxation for n in gm.FAMILIES if get(n).relaxation} == {
        "Bernoulli": "RelaxedBernoulli", "OneHotCategorical": "RelaxedOneHotCategorical"}
    assert all(get(get(n).relaxation).reparameterized for n in gm.FAMILIES if get(n).relaxation)
    assert {"Normal", "Laplace"} <= set(get("Normal").kl_partners())
    assert get("Mixture").kl_partners() == () and not get("Mixture").reparameterized
    assert get("Categorical").values(gm.Variable("c", (), "categorical", classes=3)).tolist() == [0, 1, 2]
    assert get("Categorical").values(gm.Variable("c", (2,), "categorical", classes=3)) is None


def test_a_scalar_binary_latent_is_enumerated_and_a_vector_one_scored():
    x = gm.Variable("x", (12,), support="binary", role="observed")
    b = gm.Variable("b", (), support="binary")
    g = gm.Graph("sb", p=gm.Bernoulli(x, given=b, net=gm.MLP(16)) * gm.Bernoulli(b, logits=0.0),
                 q=gm.Bernoulli(b, given=x, net=gm.MLP(16)))
    assert str(elbo(g)) == "Σ_b q(b|x)[log p(x|b) + log p(b)] + H[q(b|x)]"
    rt, xv = g.build(), torch.bernoulli(torch.full((5, 12), 0.4))
    got = elbo(g).evaluate(rt, {"x": xv})
    m = rt.factor_modules
    log_q1 = torch.nn.functional.logsigmoid(m[2].net(xv)[0])
    q = torch.stack((1 - log_q1.exp(), log_q1.exp()), -1)
    log_px = torch.stack([D.Independent(D.Bernoulli(logits=m[0].net(torch.full((5,), float(k)))[0]), 1).log_prob(xv)
                          for k in (0, 1)], -1)
    want = (q * (log_px + math.log(0.5) - q.log())).sum(-1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    bv = gm.Variable("b", (3,), support="binary")
    g2 = gm.Graph("sb", p=gm.Bernoulli(x, given=bv, net=gm.MLP(16)) * gm.Bernoulli(bv, logits=0.0),
                  q=gm.Bernoulli(bv, given=x, net=gm.MLP(16)))
    assert [lat.treatment for lat in elbo_terms(g2).latents] == ["score"]  # 2³ joint values: scored, as before
    assert [lat.treatment for lat in elbo_terms(g2, discrete="relax").latents] == ["relax"]


def test_family_options_in_code():
    z = gm.Variable("z", (3,))
    f = gm.Mixture(z, components=4, component="Laplace", mixture_logits=gm.Learn(0.0), loc=gm.Learn(0.0), scale=1.0)
    assert f.family_options == {"components": 4, "component": "Laplace"}
    fam = gm.FAMILIES.get("Mixture").with_options(f.family_options)
    assert fam.params == ("mixture_logits", "loc", "scale") and fam.param_shape("loc", z) == (4, 3)
    assert fam.param_shape("mixture_logits", z) == (4,)
    with pytest.raises(gm.GraphModelError, match="Mixture option 'components': expected an integer in"):
        gm.Mixture(z, components=0, mixture_logits=0.0, loc=0.0, scale=1.0)
    with pytest.raises(gm.GraphModelError, match="option 'component': expected a registered family other than"):
        gm.Mixture(z, component="Nope", mixture_logits=0.0, loc=0.0, scale=1.0)
    with pytest.raises(gm.GraphModelError, match="Mixture has no parameter 'loc'; known: mixture_logits, logits"):
        gm.Mixture(z, component="Bernoulli", mixture_logits=0.0, loc=0.0, scale=1.0)


def test_validation_names_bad_options_and_targets():
    z = gm.Variable("z", (3,))
    bad = gm.Factor("z", "Mixture", params={"mixture_logits": gm.Const(0.0), "loc": gm.Const(0.0),
                                             "scale": gm.Const(1.0)}, family_options={"components": "ten"})
    g = gm.Graph("m", variables=[z], p=bad)
    assert [str(p) for p in g.problems()] == [
        "factor p(z): family_options.components: expected an integer in [1, 1024], found 'ten'"]
    pen = gm.Variable("pen", (5, 3))
    g = gm.Graph("s", p=gm.BivariateNormalMixture(pen, given=gm.Variable("u", (2,), role="input")))
    assert "needs 'pen' to end in a dimension of 2 (Δx, Δy), found shape (5, 3)" in str(g.problems()[0])


def test_registry_copy_is_independent_and_override_refreshes_cached_answers():
    copy = gm.FAMILIES.copy()
    copy.register("Extra", gm.FAMILIES.get("Normal"))
    assert "Extra" in copy and "Extra" not in gm.FAMILIES
    saved = gm.FAMILIES.copy()
    z = gm.Variable("z", (2,))
    try:
        gm.FAMILIES.register("Gauss", gm.FAMILIES.get("Normal"))
        assert _closed_form("Normal", "Gauss", z)
        version = gm.FAMILIES.version
        gm.FAMILIES.register("Gauss", Family("Gauss", D.Cauchy, ("loc", "scale"), "real", frozenset({"real"})),
                             override=True)
        assert gm.FAMILIES.version > version
        assert not _closed_form("Normal", "Gauss", z), "a replaced family must not be served from the cache"
    finally:
        gm.FAMILIES._entries = saved._entries


def test_registry_items_keep_registration_order():
    r: Registry[int] = Registry("thing")
    r.register("b", 1)
    r.register("a", 2)
    assert r.items() == [("b", 1), ("a", 2)] and r.names() == ["a", "b"]


def test_exported_script_keeps_family_options(tmp_path):
    import runpy

    from editor.export import script

    g = gm.load(Path(__file__).resolve().parent.parent / "examples" / "gmm_prior.json")
    out = tmp_path / "gmm_script.py"
    out.write_text(script(g), encoding="utf-8")
    assert "components=10, component='Normal'" in out.read_text(encoding="utf-8")
    assert runpy.run_path(str(out))["build"]() == g


def test_validation_sees_a_family_registered_after_a_first_check():
    saved = gm.FAMILIES.copy()
    z = gm.Variable("z", (2,))
    g = gm.Graph("late", variables=[z], p=gm.Factor("z", "Later", params={"loc": gm.Const(0.0),
                                                                            "scale": gm.Const(1.0)}))
    assert "unknown family 'Later'" in str(g.problems()[0])
    try:
        gm.FAMILIES.register("Later", gm.FAMILIES.get("Normal"))  # what a plugin's import does
        assert g.problems() == []
    finally:
        gm.FAMILIES._entries = saved._entries
