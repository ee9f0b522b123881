"""The hot path's shortcuts give exactly what torch's general code gives.

graphmodel builds torch distributions without their constructors' per-call argument
handling, scores a Bernoulli likelihood, a Normal density and a Normal KL with fewer
passes, maps positive parameters with ``exp`` and samples without keeping distributions:
each is checked here against the general route (values equal where the arithmetic is
torch's own, close where it is rearranged, gradients included), and the VAE objective is
checked to compile without graph breaks.
"""

from __future__ import annotations

import pytest
import torch
from torch import distributions as D
from torch import nn

import graphmodel as gm
from graphmodel import families as F
from graphmodel import networks as N
from inference.objectives import training_loss


def _same(a, b):
    assert type(a) is type(b)
    assert vars(a).keys() == vars(b).keys()
    for k, x in vars(a).items():
        y = vars(b)[k]
        if isinstance(x, D.Distribution):
            _same(x, y)
        elif isinstance(x, torch.Tensor):
            assert torch.equal(x, y), k
        else:
            assert x == y, k


@pytest.mark.parametrize("name", ["Normal", "Laplace", "Bernoulli"])
@pytest.mark.parametrize("ndim", [0, 1, 2])
def test_filled_in_distributions_equal_torchs(name, ndim):
    fam = gm.FAMILIES.get(name)
    shape = (4, 3, 2)
    params = {k: torch.rand(shape) + 0.1 for k in fam.params}
    fast = fam.make(params, ndim)
    base = fam.dist(**params, validate_args=False)
    ref = D.Independent(base, ndim, validate_args=False) if ndim else base
    _same(fast, ref)
    v = fast.sample()
    torch.testing.assert_close(fast.log_prob(v), ref.log_prob(v), rtol=0, atol=0)


def test_unequal_parameter_shapes_use_torchs_constructor():
    fam = gm.FAMILIES.get("Normal")
    d = fam.make({"loc": torch.zeros(5, 3), "scale": torch.ones(3)}, 1)
    assert d.batch_shape == (5,) and d.event_shape == (3,)


def test_positive_parameters_map_like_the_transform():
    raw = torch.linspace(-30, 30, 101)
    for fam in (gm.FAMILIES.get(n) for n in gm.FAMILIES.names()):
        for k in fam.params:
            c = fam.constraint(k)
            fn = F.param_function(c)
            tf = F.param_transform(c)
            x = raw.reshape(-1, 1).expand(-1, 3) if k in ("logits", "concentration") else raw
            want = tf(x)
            got = x if fn is None else fn(x)
            assert torch.equal(got, want), (fam.name, k)


def test_bernoulli_log_density_is_torchs():
    logits = torch.randn(6, 5, 4, requires_grad=True)
    x = (torch.rand(6, 5, 4) < 0.5).float()
    for n in (1, 2):
        d = gm.FAMILIES.get("Bernoulli").make({"logits": logits}, n)
        torch.testing.assert_close(F.log_density(d, x), d.log_prob(x), rtol=0, atol=0)
    # a value that broadcasts falls back to torch
    d = gm.FAMILIES.get("Bernoulli").make({"logits": logits}, 1)
    torch.testing.assert_close(F.log_density(d, x[:1]), d.log_prob(x[:1]))


def test_normal_log_density_is_torchs():
    loc = torch.randn(7, 3, requires_grad=True)
    raw = torch.randn(7, 3, requires_grad=True)
    prior = D.Independent(D.Normal(torch.randn(3), torch.rand(3) + 0.5), 1)
    for value in (torch.randn(7, 3), torch.randn(5, 7, 3)):  # also with a leading sample dim
        for n in (0, 1):
            d = gm.FAMILIES.get("Normal").make({"loc": loc, "scale": raw.exp()}, n)
            ours = F.log_density(d, value)
            ref = d.log_prob(value)
            torch.testing.assert_close(ours, ref)
            g_ours = torch.autograd.grad(ours.sum(), (loc, raw), retain_graph=True)
            g_ref = torch.autograd.grad(ref.sum(), (loc, raw))
            for a, b in zip(g_ours, g_ref):
                torch.testing.assert_close(a, b)
        torch.testing.assert_close(F.log_density(prior, value), prior.log_prob(value))


def test_a_drawn_normal_sample_is_scored_from_its_noise():
    """``log N(μ + σε; μ, σ)`` from ε: torch's value, and torch's gradient through z and (μ, σ)."""
    upstream = torch.randn(6, 4, requires_grad=True)  # what the parameters are computed from
    loc, raw = upstream.sin() * 2, upstream.cos()
    d = gm.FAMILIES.get("Normal").make({"loc": loc, "scale": raw.exp()}, 1)
    z = F.draw(d)
    assert d._gm_noise[0] is z
    ours = F.log_density(d, z)
    ref = d.log_prob(z)  # torch's form, differentiated through z = μ + σε as well
    torch.testing.assert_close(ours, ref)
    # the gradient wrt what is upstream is the same, though ours never reads z
    g_ours, = torch.autograd.grad(ours.sum() + (z ** 2).sum(), upstream, retain_graph=True)
    g_ref, = torch.autograd.grad(ref.sum() + (z ** 2).sum(), upstream)
    torch.testing.assert_close(g_ours, g_ref)
    # any other value (even an equal copy) is scored the general way
    c = z.detach().clone()
    torch.testing.assert_close(F.log_density(d, c), d.log_prob(c))
    other = gm.FAMILIES.get("Normal").make({"loc": loc + 1, "scale": raw.exp()}, 1)
    torch.testing.assert_close(F.log_density(other, z), other.log_prob(z))


def test_normal_kl_is_torchs_and_broadcasts_the_prior():
    q = gm.FAMILIES.get("Normal").make({"loc": torch.randn(7, 3), "scale": torch.rand(7, 3) + 0.1}, 1)
    p = D.Independent(D.Normal(torch.randn(3), torch.rand(3) + 0.5), 1)
    torch.testing.assert_close(F.closed_form_kl(q, p), D.kl_divergence(q, p.expand((7,))), rtol=0, atol=0)
    assert F.closed_form_kl(q, D.Independent(D.Laplace(torch.zeros(3), torch.ones(3)), 1)) is None


def _prior(**params):
    z = gm.Variable("z", (3,))
    x = gm.Variable("x", (2,), role="observed")
    g = gm.Graph("g", p=gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, **params),
                 q=gm.Normal(z, given=x, net=gm.MLP(8)))
    return g.build().factor_modules[1]


def test_a_standard_normal_prior_takes_the_short_forms_with_torchs_values_and_gradients():
    prior = _prior(loc=0.0, scale=1.0)
    assert prior.standard
    upstream = torch.randn(7, 3, requires_grad=True)
    loc, scale = upstream.sin(), upstream.cos().exp()
    q = gm.FAMILIES.get("Normal").make({"loc": loc, "scale": scale}, 1)
    p = prior()
    assert p._gm_standard
    ref_p = D.Independent(D.Normal(torch.zeros(3), torch.ones(3)), 1)
    for ours, ref in ((F.closed_form_kl(q, p), D.kl_divergence(q, ref_p.expand((7,)))),
                      (F.log_density(p, loc * 3), ref_p.log_prob(loc * 3))):
        torch.testing.assert_close(ours, ref)
        g_ours, = torch.autograd.grad(ours.sum(), upstream, retain_graph=True)
        g_ref, = torch.autograd.grad(ref.sum(), upstream, retain_graph=True)
        torch.testing.assert_close(g_ours, g_ref)
    # only N(0, I) with constant parameters is flagged
    for params in ({"loc": 0.0, "scale": 2.0}, {"loc": 1.0, "scale": 1.0}, {"loc": gm.Learn(0.0), "scale": 1.0}):
        other = _prior(**params)
        assert not other.standard and not hasattr(other(), "_gm_standard")
        d = other()
        torch.testing.assert_close(F.log_density(d, loc), d.log_prob(loc))


def test_a_networks_log_scale_serves_the_kl_and_the_log_density_with_torchs_values_and_gradients():
    """σ = exp(raw): the factor keeps raw as log σ, and the KL and log-density read it."""
    z = gm.Variable("z", (3,))
    x = gm.Variable("x", (2,), role="observed")
    g = gm.Graph("g", p=gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MLP(8)))
    rt = g.build()
    q_mod = rt.factor_modules[2]
    xs = torch.randn(7, 2)
    d = q_mod(xs)
    _, raw = q_mod._params((xs,))
    assert torch.equal(d._gm_log_scale, raw)
    torch.testing.assert_close(raw.exp(), d.base_dist.scale, rtol=0, atol=0)
    prior = rt.factor_modules[1]()
    ref_q = D.Independent(D.Normal(d.base_dist.loc, d.base_dist.scale), 1)
    ref_p = D.Independent(D.Normal(torch.zeros(3), torch.ones(3)), 1).expand((7,))
    zs = F.draw(d)
    pairs = ((F.closed_form_kl(d, prior), D.kl_divergence(ref_q, ref_p)),  # the short KL
             (F.log_density(d, zs), ref_q.log_prob(zs)),  # its own sample, from the noise
             (F.log_density(d, zs.detach() + 0.5), ref_q.log_prob(zs.detach() + 0.5)))  # another value
    params = list(q_mod.parameters())
    for ours, ref in pairs:
        torch.testing.assert_close(ours, ref)
        g_ours = torch.autograd.grad(ours.sum(), params, retain_graph=True)
        g_ref = torch.autograd.grad(ref.sum(), params, retain_graph=True)
        for a, b in zip(g_ours, g_ref):
            torch.testing.assert_close(a, b)
    # a learned scale is kept too; a constant scale, a prior or another family keep nothing
    learned = gm.Graph("l", p=gm.Normal(z, given=x, net=gm.MLP(4), scale=gm.Learn(0.5))).build().factor_modules[0]
    torch.testing.assert_close(learned(xs)._gm_log_scale, torch.full((3,), 0.5).log())
    for g2 in (gm.Graph("c", p=gm.Normal(z, given=x, net=gm.MLP(4), scale=0.5)),
               gm.Graph("l", p=gm.Laplace(z, given=x, net=gm.MLP(4)))):
        assert not hasattr(g2.build().factor_modules[0](xs), "_gm_log_scale")
    assert not hasattr(prior, "_gm_log_scale")


def test_a_standard_normal_prior_draws_torchs_samples():
    """Sampled from, N(0, I) gives its noise itself: torch's values from the same random
    stream, whether the pass keeps the distribution (a trace) or not (``sample``)."""
    rt = gm.Graph("g", p=gm.Normal(gm.Variable("z", (3,)), loc=0.0, scale=1.0)).build()
    assert rt.factor_modules[0].standard
    torch.manual_seed(4)
    ref = D.Normal(torch.zeros(3), torch.ones(3)).rsample((5,))
    for draw in (lambda: rt.p.sample(5)["z"], lambda: rt.p.trace(n=5).values["z"]):
        torch.manual_seed(4)
        assert torch.equal(draw(), ref)
    torch.manual_seed(4)
    tr = rt.p.trace(n=5)
    torch.testing.assert_close(tr.log_probs["p(z)"], D.Normal(0.0, 1.0).log_prob(ref).sum(-1))


def test_draws_are_torchs_samples():
    normal = gm.FAMILIES.get("Normal").make({"loc": torch.randn(5, 3), "scale": torch.rand(5, 3) + 0.1}, 1)
    bern = gm.FAMILIES.get("Bernoulli").make({"logits": torch.randn(5, 3)}, 1)
    for d, ref in ((normal, normal.rsample), (bern, bern.sample)):
        torch.manual_seed(3)
        a = F.draw(d)
        torch.manual_seed(3)
        assert torch.equal(a, ref())
    assert "probs" in vars(bern.base_dist)  # torch's sample cached them; draw did not need to


def _vae(h=8):
    x = gm.Variable("x", (12,), support="binary", role="observed")
    z = gm.Variable("z", (3,))
    return gm.Graph("vae", p=gm.Bernoulli(x, given=z, net=gm.MLP(h)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(h)))


def test_sample_equals_the_traced_values():
    net = _vae().build()
    torch.manual_seed(1)
    a = net.p.sample(6)
    torch.manual_seed(1)
    b = net.p.trace(n=6, score=False).values
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kl", ["analytic", "mc"])
def test_the_elbo_compiles_without_graph_breaks(kl):
    g = _vae()
    g.objective = {"kind": "elbo", "kl": kl}
    net, loss = g.build(), training_loss(g)
    x = (torch.rand(4, 12) < 0.5).float()
    torch._dynamo.reset()
    try:
        explained = torch._dynamo.explain(lambda b: loss(net, {"x": b}).total)(x)
    finally:
        torch._dynamo.reset()
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


# --- layers called without nn.Module.__call__ ----------------------------------------------

def _mlp_factor():
    x = gm.Variable("x", (5,), role="observed")
    z = gm.Variable("z", (3,))
    return gm.Graph("g", p=gm.Normal(z, given=x, net=gm.MLP(8, 8))).build().factor_modules[0]


def _reference(mod, xs):
    """The same network through nn.Module.__call__ at every layer."""
    body = mod.net.body
    y = xs
    for layer in body:
        y = nn.Module.__call__(layer, y)
    return y


def test_layers_called_directly_compute_what_their_calls_compute():
    mod = _mlp_factor()
    xs = torch.randn(4, 5)
    torch.testing.assert_close(N.run_sequential(mod.net.body, xs), _reference(mod, xs), rtol=0, atol=0)


@pytest.mark.parametrize("where", ["layer", "pre", "body", "net", "global", "backward"])
def test_hooks_still_fire_on_the_direct_path(where):
    mod = _mlp_factor()
    seen = []
    layer = mod.net.body[2]
    hook = lambda m, args, out=None: seen.append(type(m).__name__)  # noqa: E731
    handle = {"layer": lambda: layer.register_forward_hook(hook),
              "pre": lambda: layer.register_forward_pre_hook(hook),
              "body": lambda: mod.net.body.register_forward_hook(hook),
              "net": lambda: mod.net.register_forward_hook(hook),
              "global": lambda: nn.modules.module.register_module_forward_hook(hook),
              "backward": lambda: layer.register_full_backward_hook(lambda m, gi, go: seen.append("grad"))}[where]()
    try:
        d = mod(torch.randn(4, 5))
        d.base_dist.loc.sum().backward()
    finally:
        handle.remove()
    assert seen, f"a {where} hook did not fire"
    if where == "global":
        assert seen.count("Linear") == 3  # at every layer, not only where the network is called
    seen.clear()
    mod(torch.randn(4, 5)).base_dist.loc.sum().backward()
    assert not seen  # removed: the direct path again


def test_functional_call_and_parametrizations_reach_the_direct_path():
    mod = _mlp_factor()
    xs = torch.randn(4, 5)
    first = mod.net.body[0]
    zero = {"net.body.0.weight": torch.zeros_like(first.weight), "net.body.0.bias": torch.zeros_like(first.bias)}
    swapped = torch.func.functional_call(mod, zero, (xs,))
    # a first layer of zeros: every row sees the same input, so every row gets the same parameters
    loc = swapped.base_dist.loc
    torch.testing.assert_close(loc, loc[:1].expand_as(loc))
    assert not torch.allclose(mod(xs).base_dist.loc, loc)  # the module's own weights are back
    torch.nn.utils.parametrize.register_parametrization(first, "weight", _Zero())
    loc = mod(xs).base_dist.loc
    torch.testing.assert_close(loc, loc[:1].expand_as(loc))


class _Zero(nn.Module):
    def forward(self, w):
        return torch.zeros_like(w)

