"""Objectives derived from graphs, checked against the same bounds written by hand in PyTorch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

import graphmodel as gm
from inference.evaluate import bound, log_likelihood
from inference.losses import anneal
from inference.objectives import (
    choose_objective,
    derive,
    elbo,
    elbo_terms,
    iwae,
    max_likelihood,
    nll,
    renyi,
    training_loss,
)

B = 6


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def vae_graph(classifier: bool = False) -> gm.Graph:
    x = gm.Variable("x", (12,), support="binary", role="observed")
    z = gm.Variable("z", (3,))
    models = {}
    if classifier:
        label = gm.Variable("label", (), support="categorical", classes=2, role="observed")
        models["classifier"] = gm.Categorical(label, given=x, net=gm.MLP(16))
    return gm.Graph("vae", p=gm.Bernoulli(x, given=z, net=gm.MLP(16)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(16)), **models)


def binary(n: int = B) -> torch.Tensor:
    return torch.bernoulli(torch.full((n, 12), 0.5))


def mlp(module, *xs):
    """The factor's MLP written out from its nn.Linear weights (ReLU between layers)."""
    lin = [m for m in module.net.body if isinstance(m, torch.nn.Linear)]
    h = torch.cat(xs, -1)
    for layer in lin[:-1]:
        h = torch.relu(h @ layer.weight.T + layer.bias)
    return h @ lin[-1].weight.T + lin[-1].bias


def hand_vae(rt, x, kl: str):
    """The VAE's ELBO by hand: q(z|x) = N(loc, exp(raw)), p(x|z) = Bernoulli(logits), p(z) = N(0, 1)."""
    loc, raw = mlp(rt.factor_modules[2], x).split(3, -1)
    scale = raw.exp()
    z = loc + scale * torch.empty(x.shape[0], 3).normal_()
    logits = mlp(rt.factor_modules[0], z)
    rec = (x * logits - F.softplus(logits)).sum(-1)
    if kl == "analytic":
        return rec - 0.5 * (scale**2 + loc**2 - 1 - 2 * scale.log()).sum(-1)
    log_pz = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_qz = (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)
    return rec + log_pz - log_qz


# --- the VAE --------------------------------------------------------------------------------

@pytest.mark.parametrize("kl", ["analytic", "mc"])
def test_vae_elbo_equals_hand_written(kl):
    g = vae_graph()
    rt, x = g.build(), binary()
    torch.manual_seed(7)
    got = elbo(g, kl=kl).evaluate(rt, {"x": x})
    torch.manual_seed(7)
    want = hand_vae(rt, x, kl)
    assert got.shape == (B,)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_vae_formulas_exact():
    g = vae_graph()
    assert str(elbo(g)) == "E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)]"
    assert elbo(g).latex() == (r"\mathbb{E}_{q(z \mid x)}\left[\log p(x \mid z)\right] - "
                               r"\mathrm{KL}\left[q(z \mid x) \,\middle\|\, p(z)\right]")
    assert str(elbo(g, kl="mc")) == "E_q(z|x)[log p(x|z) + log p(z) − log q(z|x)]"
    assert elbo(g, kl="mc").latex() == (r"\mathbb{E}_{q(z \mid x)}\left[\log p(x \mid z) + \log p(z) "
                                        r"- \log q(z \mid x)\right]")
    assert str(training_loss(g)) == "−(E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)])"
    assert str(elbo(g, beta=anneal(0, 1, 10))) == "E_q(z|x)[log p(x|z)] − β·KL[q(z|x)‖p(z)]"
    assert str(elbo(g, free_bits=0.5)) == "E_q(z|x)[log p(x|z)] − max(λ, KL[q(z|x)‖p(z)])"
    assert str(iwae(g, 5)) == "E_q(z|x)[log 1/5 Σₖ p(x,zₖ)/q(zₖ|x)]"
    assert iwae(g, 5).latex() == (r"\mathbb{E}_{q(z \mid x)}\left[\log \frac{1}{5} \sum_{k=1}^{5} "
                                  r"\frac{p(x, z_{k})}{q(z_{k} \mid x)}\right]")
    assert str(renyi(g, 0.5, 5)) == "E_q(z|x)[1/(1−0.5) log 1/5 Σₖ (p(x,zₖ)/q(zₖ|x))^(1−0.5)]"
    assert elbo(g)._repr_latex_() == f"${elbo(g).latex()}$"


def test_terms_are_named_by_formula_and_share_one_sample():
    g = vae_graph()
    rt, x = g.build(), binary()
    value = elbo(g)(rt, {"x": x})
    assert list(value.terms) == ["E_q(z|x)[log p(x|z)]", "KL[q(z|x)‖p(z)]"]
    assert all(t.dim() == 0 and not t.requires_grad for t in value.terms.values())
    torch.testing.assert_close(value.total.detach(), value.terms["E_q(z|x)[log p(x|z)]"]
                               - value.terms["KL[q(z|x)‖p(z)]"])
    # two copies of the MC bound read one sample of z: the sum is exactly twice one copy
    torch.manual_seed(3)
    twice = (elbo(g, kl="mc") + elbo(g, kl="mc")).evaluate(rt, {"x": x})
    torch.manual_seed(3)
    once = elbo(g, kl="mc").evaluate(rt, {"x": x})
    torch.testing.assert_close(twice, 2 * once)


def test_iwae_k1_is_mc_elbo_and_renyi0_is_iwae():
    g = vae_graph()
    rt, x = g.build(), binary()
    torch.manual_seed(5)
    mc = elbo(g, kl="mc").evaluate(rt, {"x": x})
    torch.manual_seed(5)
    one = iwae(g, 1).evaluate(rt, {"x": x})
    torch.testing.assert_close(one, mc, atol=1e-5, rtol=1e-5)
    torch.manual_seed(6)
    a = iwae(g, 5).evaluate(rt, {"x": x})
    torch.manual_seed(6)
    b = renyi(g, 0.0, 5).evaluate(rt, {"x": x})
    torch.testing.assert_close(a, b)
    torch.manual_seed(6)
    r1 = renyi(g, 1.0, 5).evaluate(rt, {"x": x})  # α = 1: the average of 5 MC ELBOs
    assert torch.all(r1 <= a + 1e-5)


def test_iwae_bound_is_above_elbo_on_average(trained_vae):
    g, rt, data, _ = trained_vae
    with torch.no_grad():
        el = torch.stack([elbo(g).evaluate(rt, {"x": data}) for _ in range(4)]).mean()
        iw = torch.stack([iwae(g, 5).evaluate(rt, {"x": data}) for _ in range(4)]).mean()
        ll = log_likelihood(rt, g, {"x": data}, k=64, chunk=16).mean()
    assert iw > el + 0.01
    assert ll > iw


def test_gradients_reach_p_and_q_and_not_an_unrelated_model():
    g = vae_graph(classifier=True)
    rt = g.build()
    loss = training_loss(g)(rt, {"x": binary(), "label": torch.randint(0, 2, (B,))})
    loss.total.backward()
    for prm in rt.parameters_of("p", "q"):
        assert prm.grad is not None and prm.grad.abs().sum() > 0
    assert all(prm.grad is None for prm in rt.parameters_of("classifier"))


def test_beta_schedule_changes_the_kl_coefficient():
    g = vae_graph()
    rt, x = g.build(), binary()
    loss = elbo(g, beta=anneal(0.0, 1.0, 100))
    for step, beta in [(0, 0.0), (50, 0.5), (100, 1.0), (1000, 1.0)]:
        v = loss(rt, {"x": x}, step=step)
        rec, kl = v.terms["E_q(z|x)[log p(x|z)]"], v.terms["KL[q(z|x)‖p(z)]"]
        torch.testing.assert_close(v.total.detach(), rec - beta * kl)
    v = elbo(g, beta=2.0)(rt, {"x": x})
    torch.testing.assert_close(v.total.detach(), v.terms["E_q(z|x)[log p(x|z)]"] - 2 * v.terms["KL[q(z|x)‖p(z)]"])


def test_free_bits_clamp_the_batch_mean_kl():
    g = vae_graph()
    rt, x = g.build(), binary()
    for lam in (0.0, 50.0):
        v = elbo(g, free_bits=lam)(rt, {"x": x})
        rec, kl = v.terms["E_q(z|x)[log p(x|z)]"], v.terms["KL[q(z|x)‖p(z)]"]
        torch.testing.assert_close(v.total.detach(), rec - max(kl, torch.tensor(lam)))
    # below λ the KL gets no gradient: q learns from the reconstruction alone, as with β = 0
    grads = []
    for loss in (elbo(g, free_bits=50.0), elbo(g, beta=0.0)):
        rt.zero_grad()
        torch.manual_seed(1)
        loss(rt, {"x": x}).total.backward()
        grads.append([prm.grad.clone() for prm in rt.parameters_of("q")])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_composed_with_an_auxiliary_classifier():
    g = vae_graph(classifier=True)
    rt = g.build()
    batch = {"x": binary(), "label": torch.randint(0, 2, (B,))}
    loss = elbo(g) + 0.1 * nll(g, model="classifier")
    assert str(loss) == "E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)] + 0.1·(−log classifier(label|x))"
    assert loss.latex().endswith(r" + 0.1 \cdot \left(-\log \mathit{classifier}(\mathit{label} \mid x)\right)")
    torch.manual_seed(2)
    v = loss(rt, batch)
    torch.manual_seed(2)
    e = elbo(g)(rt, batch).total
    logits = mlp(rt.factor_modules[3], batch["x"])
    log_c = torch.log_softmax(logits, -1).gather(-1, batch["label"][:, None]).squeeze(-1)
    torch.testing.assert_close(v.total, e - 0.1 * log_c.mean())
    assert "log classifier(label|x)" in v.terms


# --- learning ------------------------------------------------------------------------------------

def prototypes(n: int = 256) -> torch.Tensor:
    protos = torch.tensor([[1.0] * 6 + [0.0] * 6, [0.0, 1.0] * 6])
    x = protos[torch.randint(0, 2, (n,))]
    flip = torch.rand(n, 12) < 0.05
    return torch.where(flip, 1 - x, x)


@pytest.fixture(scope="module")
def trained_vae():
    torch.manual_seed(0)
    g = vae_graph()
    rt, data = g.build(), prototypes()
    loss = training_loss(g)
    opt = torch.optim.Adam(rt.parameters(), lr=1e-2)
    history = []
    for step in range(200):
        idx = torch.randint(0, data.shape[0], (64,))
        v = loss(rt, {"x": data[idx]}, step=step)
        opt.zero_grad()
        v.total.backward()
        opt.step()
        history.append(v.total.item())
    return g, rt, data, history


def test_vae_learns(trained_vae):
    *_, history = trained_vae
    first, last = sum(history[:10]) / 10, sum(history[-10:]) / 10
    assert last < first - 2.0, (first, last)


# --- M2: an enumerated discrete latent --------------------------------------------------------

def m2_graph() -> gm.Graph:
    x = gm.Variable("x", (12,), support="binary", role="observed")
    y = gm.Variable("y", (10,), support="one_hot")
    z = gm.Variable("z", (3,))
    return gm.Graph(
        "m2",
        p=gm.Bernoulli(x, given=[y, z], net=gm.MLP(16)) * gm.OneHotCategorical(y, logits=[0.0] * 10)
        * gm.Normal(z, loc=0.0, scale=1.0),
        q=gm.Normal(z, given=[x, y], net=gm.MLP(16)) * gm.OneHotCategorical(y, given=x, net=gm.MLP(16)))


def test_m2_unlabeled_enumeration_equals_brute_force_sum():
    g = m2_graph()
    rt, x = g.build(), binary()
    loss = elbo(g)
    assert str(loss) == ("Σ_y q(y|x)[E_q(z|x,y)[log p(x|y,z) + log p(y)] − KL[q(z|x,y)‖p(z)]] + H[q(y|x)]")
    torch.manual_seed(4)
    got = loss.evaluate(rt, {"x": x})
    # by hand: every label k, z_k ~ q(z|x,y=k) (one draw for all labels), then Σ_k q(k|x)[ELBO_k] + H
    torch.manual_seed(4)
    m = rt.factor_modules
    K = 10
    ys = torch.eye(K)[:, None, :].expand(K, B, K)
    xs = x.expand(K, B, 12)
    loc, raw = mlp(m[3], xs, ys).split(3, -1)
    z = loc + raw.exp() * torch.empty(K, B, 3).normal_()
    log_w = torch.log_softmax(mlp(m[4], x), -1)  # (B, K)
    total = -(log_w.exp() * log_w).sum(-1)
    for k in range(K):
        q_z = Normal(loc[k], raw[k].exp())
        rec = Bernoulli(logits=mlp(m[0], ys[k], z[k])).log_prob(x).sum(-1)
        elbo_k = rec + math.log(1 / K) - kl_divergence(q_z, Normal(0.0, 1.0)).sum(-1)
        total = total + log_w[:, k].exp() * elbo_k
    torch.testing.assert_close(got, total, atol=1e-5, rtol=1e-5)


def test_m2_labeled_batch_reads_y_as_data():
    g = m2_graph()
    rt, x = g.build(), binary()
    y = F.one_hot(torch.randint(0, 10, (B,)), 10).float()
    loss = elbo(g)
    assert str(loss.expand({"x", "y"})) == "E_q(z|x,y)[log p(x|y,z) + log p(y)] − KL[q(z|x,y)‖p(z)]"
    lab, unl = loss(rt, {"x": x, "y": y}), loss(rt, {"x": x})
    assert "H[q(y|x)]" in unl.terms and "H[q(y|x)]" not in lab.terms
    assert torch.isfinite(lab.total) and torch.isfinite(unl.total)
    unl.total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in rt.factor_modules[4].parameters())


@pytest.mark.parametrize("discrete", ["relax", "score"])
def test_m2_relaxed_and_score_function(discrete):
    g = m2_graph()
    rt, x = g.build(), binary()
    loss = elbo(g, discrete=discrete)
    assert [lat.treatment for lat in elbo_terms(g, discrete=discrete).latents] == ["analytic", discrete]
    v = loss(rt, {"x": x})
    assert torch.isfinite(v.total) and "KL[q(y|x)‖p(y)]" in v.terms
    v.total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in rt.parameters_of("q"))


def test_gumbel_softmax_family_is_reparameterized():
    x = gm.Variable("x", (12,), support="binary", role="observed")
    y = gm.Variable("y", (4,), support="simplex")
    g = gm.Graph("gs", p=gm.Bernoulli(x, given=y, net=gm.MLP(16)) * gm.RelaxedOneHotCategorical(y, logits=[0.0] * 4),
                 q=gm.RelaxedOneHotCategorical(y, given=x, net=gm.MLP(16)))
    assert str(elbo(g)) == "E_q(y|x)[log p(x|y) + log p(y) − log q(y|x)]"
    rt = g.build()
    v = elbo(g)(rt, {"x": binary()})
    v.total.backward()
    assert torch.isfinite(v.total)
    assert all(p.grad is not None for p in rt.parameters_of("q"))


def test_single_categorical_latent_enumerates_exactly():
    x = gm.Variable("x", (12,), support="binary", role="observed")
    c = gm.Variable("c", (), support="categorical", classes=4)
    g = gm.Graph("mixture", p=gm.Bernoulli(x, given=c, net=gm.MLP(16)) * gm.Categorical(c, logits=[0.0] * 4),
                 q=gm.Categorical(c, given=x, net=gm.MLP(16)))
    assert str(elbo(g)) == "Σ_c q(c|x)[log p(x|c) + log p(c)] + H[q(c|x)]"
    rt, x = g.build(), binary()
    got = elbo(g).evaluate(rt, {"x": x})  # no sampling at all
    log_q = torch.log_softmax(mlp(rt.factor_modules[2], x), -1)
    cs = F.one_hot(torch.arange(4), 4).float()
    log_px = torch.stack([Bernoulli(logits=mlp(rt.factor_modules[0], cs[k].expand(B, 4))).log_prob(x).sum(-1)
                          for k in range(4)], -1)
    want = (log_q.exp() * (log_px + math.log(1 / 4) - log_q)).sum(-1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    exact = (log_px + math.log(1 / 4)).logsumexp(-1)
    assert torch.all(got <= exact + 1e-5)


def test_closed_form_kl_only_where_p_parents_precede_the_sample():
    x = gm.Variable("x", (12,), support="binary", role="observed")
    z1, z2 = gm.Variable("z1", (3,)), gm.Variable("z2", (2,))
    p = (gm.Bernoulli(x, given=z1, net=gm.MLP(16)) * gm.Normal(z1, given=z2, net=gm.MLP(16))
         * gm.Normal(z2, loc=0.0, scale=1.0))
    bottom_up = gm.Graph("bu", p=p, q=gm.Normal(z1, given=x, net=gm.MLP(16)) * gm.Normal(z2, given=z1, net=gm.MLP(16)))
    top_down = gm.Graph("td", p=p, q=gm.Normal(z1, given=[x, z2], net=gm.MLP(16)) * gm.Normal(z2, given=x, net=gm.MLP(16)))
    # bottom-up, p(z1|z2) reads z2 ~ q(z2|z1), which depends on z1's own sample: Monte Carlo
    assert [(lat.variable, lat.treatment) for lat in elbo_terms(bottom_up).latents] == [("z1", "mc"), ("z2", "analytic")]
    assert [(lat.variable, lat.treatment) for lat in elbo_terms(top_down).latents] == [
        ("z1", "analytic"), ("z2", "analytic")]
    assert str(elbo(top_down)) == ("E_q(z1,z2|x)[log p(x|z1)] − E_q(z1,z2|x)[KL[q(z1|x,z2)‖p(z1|z2)]] "
                                   "− KL[q(z2|x)‖p(z2)]")
    with pytest.raises(gm.GraphModelError, match=r"kl='analytic' but KL\[q\(z1\|x\)‖p\(z1\|z2\)\]"):
        elbo(bottom_up, kl="analytic")
    for g in (bottom_up, top_down):  # closed form and Monte Carlo agree in expectation
        rt, x1 = g.build(), binary(1)
        with torch.no_grad():
            xs = x1.expand(4000, 12)
            a, m = elbo(g).evaluate(rt, {"x": xs}).mean(), elbo(g, kl="mc").evaluate(rt, {"x": xs}).mean()
        assert abs(a - m) < 0.15, (a, m)


def test_binary_latent_gets_score_function_gradients():
    x = gm.Variable("x", (12,), support="binary", role="observed")
    b = gm.Variable("b", (4,), support="binary")
    g = gm.Graph("sbn", p=gm.Bernoulli(x, given=b, net=gm.MLP(16)) * gm.Bernoulli(b, logits=0.0),
                 q=gm.Bernoulli(b, given=x, net=gm.MLP(16)))
    assert [lat.treatment for lat in elbo_terms(g).latents] == ["score"]
    rt, x = g.build(), binary()
    v = elbo(g)(rt, {"x": x})
    # the surrogate adds gradients, not value
    torch.testing.assert_close(v.total.detach(), v.terms["E_q(b|x)[log p(x|b)]"] - v.terms["KL[q(b|x)‖p(b)]"])
    v.total.backward()
    assert all(prm.grad is not None and prm.grad.abs().sum() > 0 for prm in rt.parameters_of("q"))


# --- a sequence: VRNN ----------------------------------------------------------------------------

def vrnn_graph() -> gm.Graph:
    time = gm.Plate("time", 4, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (3,), plate="time")
    h = gm.Variable("h", (8,), plate="time")

    def state():
        return (gm.Deterministic(h, given=[h.prev, x.prev, z.prev], net=gm.GRUCell())
                * gm.Deterministic(h, value=0.0, init=True))

    p = gm.Normal(x, given=[z, h], net=gm.MLP(16)) * gm.Normal(z, given=h, net=gm.MLP(16)) * state()
    q = gm.Normal(z, given=[x, h], net=gm.MLP(16)) * state()
    return gm.Graph("vrnn", plates=[time], p=p, q=q)


def test_vrnn_elbo_is_the_sum_of_per_step_terms():
    g = vrnn_graph()
    rt, x = g.build(), torch.randn(B, 4, 2)
    loss = elbo(g)
    assert str(loss) == "E_q(z,h|x)[Σₜ log p(xₜ|zₜ,hₜ)] − E_q(z,h|x)[Σₜ KL[q(zₜ|xₜ,hₜ)‖p(zₜ|hₜ)]]"
    torch.manual_seed(9)
    got = loss.evaluate(rt, {"x": x})
    torch.manual_seed(9)
    m = rt.factor_modules  # 0 p(x|z,h) 1 p(z|h) 2 p(h|...) 3 p(h0) 4 q(z|x,h) 5 q(h|...) 6 q(h0)
    hq, zs, qs = torch.zeros(B, 8), [], []
    for t in range(4):  # q draws every z_t, its state from its own GRU
        if t:
            hq = m[5](hq, x[:, t - 1], zs[-1]).value
        qs.append(m[4](x[:, t], hq))
        zs.append(qs[-1].rsample())
    hp, want = torch.zeros(B, 8), torch.zeros(B)
    for t in range(4):  # p recomputes its own state from x and q's z
        if t:
            hp = m[2](hp, x[:, t - 1], zs[t - 1]).value
        want = want + m[0](zs[t], hp).log_prob(x[:, t]) - kl_divergence(qs[t], m[1](hp))
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    mc = elbo(g, kl="mc")(rt, {"x": x})
    assert torch.isfinite(mc.total)
    mc.total.backward()  # p's own recurrent state learns too
    assert all(prm.grad is not None and prm.grad.abs().sum() > 0 for prm in rt.parameters_of("p", "q"))


# --- derive, choose, validate ----------------------------------------------------------------------

def test_derive_reads_the_objective_section():
    g = vae_graph()
    assert choose_objective(g) == "elbo"
    assert str(derive(g)) == str(elbo(g))
    assert str(derive(g, {"kind": "iwae", "k": 5})) == str(iwae(g, 5))
    assert str(derive(g, {"kind": "renyi", "alpha": 0.5, "k": 5})) == str(renyi(g, 0.5, 5))
    assert str(derive(g, {"kind": "elbo", "kl": "mc"})) == str(elbo(g, kl="mc"))
    g.objective = {"kind": "elbo", "beta": {"schedule": "anneal", "start": 0.0, "end": 1.0, "steps": 10}}
    rt = g.build()
    v0, v1 = training_loss(g)(rt, {"x": binary()}, step=0), training_loss(g)(rt, {"x": binary()}, step=10)
    assert "β" in str(derive(g)) and torch.isfinite(v0.total) and torch.isfinite(v1.total)


@pytest.mark.parametrize("objective, message", [
    ({"kind": "iwae", "k": 0}, "objective.k: expected a positive integer, found 0"),
    ({"kind": "iwae", "k": 2.5}, "objective.k: expected a positive integer, found 2.5"),
    ({"kind": "elbo", "kl": "exact"}, "objective.kl: expected one of auto, analytic, mc, found 'exact'"),
    ({"kind": "elbo", "beta": -1}, "objective.beta: expected a number >= 0, found -1"),
    ({"kind": "elbo", "k": 3}, "objective.k: unknown option for 'elbo'"),
    ({"kind": "wgan"}, "objective.kind: expected one of avb, elbo, gan, iwae, ml, renyi, vaegan, found 'wgan'"),
    ({"kind": "renyi", "alpha": "half"}, "objective.alpha: expected a number, found 'half'"),
])
def test_objective_validation_names_the_key(objective, message):
    with pytest.raises(gm.GraphModelError, match=message.replace("(", r"\(").replace(")", r"\)")):
        derive(vae_graph(), objective)


def test_maximum_likelihood_for_a_fully_observed_graph():
    x = gm.Variable("x", (5,), support="binary", role="observed")
    g = gm.Graph("ml", p=gm.Bernoulli(x, logits=gm.Learn(0.3)))
    assert choose_objective(g) == "ml"
    assert str(training_loss(g)) == "−log p(x)" and str(max_likelihood(g)) == "log p(x)"
    assert str(derive(g, {"kind": "ml"})) == "log p(x)"
    rt, data = g.build(), binary()[:, :5]
    v = training_loss(g)(rt, {"x": data})
    want = -Bernoulli(logits=torch.tensor(0.3)).log_prob(data).sum(-1).mean()
    torch.testing.assert_close(v.total, want)
    exact = -nll(g).evaluate(rt, {"x": data}).detach()
    torch.testing.assert_close(log_likelihood(rt, g, {"x": data}), exact)
    torch.testing.assert_close(bound(rt, g, {"x": data}), exact)
    with pytest.raises(gm.DataError, match="the batch has no 'x'"):
        nll(g)(rt, {"y": data})


def test_adversarial_graphs_get_their_game_and_no_bound():
    x = gm.Variable("x", (12,), role="observed")
    z = gm.Variable("z", (3,))
    gan = gm.Graph("gan", p=gm.Deterministic(x, given=z, net=gm.MLP(16)) * gm.Normal(z, loc=0.0, scale=1.0))
    assert choose_objective(gan) == "gan"  # the game itself: tests/test_adversarial.py
    with pytest.raises(gm.GraphModelError, match=r"factor p\(x\|z\) is deterministic.*GAN.*kind 'gan'"):
        max_likelihood(gan)
    e = gm.Variable("e", (3,))
    avb = gm.Graph("avb", p=gm.Normal(x, given=z, net=gm.MLP(16)) * gm.Normal(z, loc=0.0, scale=1.0),
                   q=gm.Deterministic(z, given=[x, e], net=gm.MLP(16)) * gm.Normal(e, loc=0.0, scale=1.0))
    assert choose_objective(avb) == "avb"
    with pytest.raises(gm.GraphModelError, match=r"factor q\(z\|x,e\) is deterministic.*AVB.*kind 'avb'"):
        elbo(avb)
    assert choose_objective(vrnn_graph()) == "elbo"  # deterministic recurrent state is not adversarial


def test_latent_without_inference_is_explained():
    x = gm.Variable("x", (12,), support="binary", role="observed")
    z = gm.Variable("z", (3,))
    g = gm.Graph("p_only", p=gm.Bernoulli(x, given=z, net=gm.MLP(16)) * gm.Normal(z, loc=0.0, scale=1.0))
    with pytest.raises(gm.GraphModelError, match=r"scores latent 'z' and no inference model infers it"):
        derive(g)


# --- evaluation -------------------------------------------------------------------------------------

def test_evaluation_returns_per_example_values():
    g = vae_graph()
    rt, x = g.build(), binary()
    b = bound(rt, g, {"x": x})
    ll = log_likelihood(rt, g, {"x": x}, k=20, chunk=7)
    assert b.shape == ll.shape == (B,) and not b.requires_grad and not ll.requires_grad
    assert torch.isfinite(ll).all() and torch.isfinite(b).all()
    torch.manual_seed(1)
    one = log_likelihood(rt, g, {"x": x}, k=1)
    torch.manual_seed(1)
    torch.testing.assert_close(one, iwae(g, 1).evaluate(rt, {"x": x}).detach())
    m2 = m2_graph()
    rt2 = m2.build()
    assert torch.isfinite(log_likelihood(rt2, m2, {"x": x}, k=10)).all()
    assert bound(rt2, m2, {"x": x}).shape == (B,)
