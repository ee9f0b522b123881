"""Multimodal models: JMVAE-kl and MVAE on image and label of the 8x8 digits, and the
product-of-experts network that MVAE's posterior is made of."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import cli
import graphmodel as gm
from graphmodel.networks import HeadSpec, InputSpec, build_network

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
D = 3

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread


@pytest.fixture
def multimodal(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import multimodal

    yield multimodal
    sys.modules.pop("multimodal", None)


def poe(n: int = 2, prior: bool = True):
    inputs = [InputSpec(f"e{i}", (2 * D,)) for i in range(n)]
    return build_network(gm.ProductOfExperts(prior), inputs, [HeadSpec("loc", (D,)), HeadSpec("scale", (D,))])


def test_experts_multiply_in_closed_form():
    torch.manual_seed(0)
    a, b = torch.randn(5, 2 * D), torch.randn(5, 2 * D)
    loc, log_scale = poe()(a, b)
    ta, tb = torch.exp(-2 * a[:, D:]), torch.exp(-2 * b[:, D:])
    precision = 1 + ta + tb  # the prior expert N(0, 1) and the two experts
    assert torch.allclose(loc, (ta * a[:, :D] + tb * b[:, :D]) / precision, atol=1e-6)
    assert torch.allclose(log_scale, -0.5 * precision.log(), atol=1e-6)
    # the product of the densities is, up to a constant, the density of the product
    z = torch.randn(5, D)
    n = torch.distributions.Normal
    product = n(0, 1).log_prob(z) + n(a[:, :D], a[:, D:].exp()).log_prob(z) + n(b[:, :D], b[:, D:].exp()).log_prob(z)
    one = n(loc, log_scale.exp()).log_prob(z)
    z2 = torch.randn(5, D)
    product2 = n(0, 1).log_prob(z2) + n(a[:, :D], a[:, D:].exp()).log_prob(z2) + n(b[:, :D], b[:, D:].exp()).log_prob(z2)
    assert torch.allclose(product - product2, one - n(loc, log_scale.exp()).log_prob(z2), atol=1e-5)


def test_a_missing_expert_is_left_out_row_by_row():
    torch.manual_seed(0)
    a, b = torch.randn(4, 2 * D), torch.randn(4, 2 * D)
    b[1:3] = float("nan")
    loc, log_scale = poe()(a, b)
    alone_loc, alone_log_scale = poe(1)(a)
    assert torch.isfinite(loc).all() and torch.isfinite(log_scale).all()
    assert torch.allclose(loc[1:3], alone_loc[1:3]) and torch.allclose(log_scale[1:3], alone_log_scale[1:3])
    assert not torch.allclose(loc[0], alone_loc[0])
    both = torch.full((2, 2 * D), float("nan"))
    loc, log_scale = poe()(both, both)
    assert torch.equal(loc, torch.zeros(2, D)) and torch.equal(log_scale, torch.zeros(2, D))  # the prior
    loc, log_scale = poe(prior=False)(both, both)
    assert torch.isfinite(loc).all() and torch.equal(log_scale, torch.zeros(2, D))


def test_missing_experts_pass_no_nan_into_the_gradient():
    a = torch.randn(4, 2 * D, requires_grad=True)
    b = torch.randn(4, 2 * D, requires_grad=True)
    loc, log_scale = poe()(a, torch.where(torch.arange(4)[:, None] < 2, b, float("nan")))
    (loc.sum() + log_scale.sum()).backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()
    assert torch.equal(b.grad[2:], torch.zeros(2, 2 * D)) and b.grad[:2].abs().sum() > 0


@pytest.mark.parametrize("inputs, heads, match", [
    ([InputSpec("e", (5,))], [HeadSpec("loc", (D,)), HeadSpec("scale", (D,))], r"each parent a real vector \(6,\).*'e', \(5,\)"),
    ([], [HeadSpec("loc", (D,)), HeadSpec("scale", (D,))], "no parent"),
    ([InputSpec("e", (2 * D,))], [HeadSpec("probs", (D,))], "gives a Normal's loc and scale"),
])
def test_a_product_of_experts_refuses_what_it_cannot_multiply(inputs, heads, match):
    with pytest.raises(gm.GraphModelError, match=match):
        build_network(gm.ProductOfExperts(), inputs, heads)


def test_the_file_loader_names_a_bad_option_of_the_network():
    text = Path("examples/mvae.json").read_text().replace('"prior": true', '"prior": "yes"', 1)
    with pytest.raises(gm.GraphFileError, match=r"factors\[\d\]\.net\.prior: expected true or false, found 'yes'"):
        gm.loads(text)


def test_check_prints_the_jmvae_formula(capsys):
    assert cli.main(["check", "examples/jmvae.json"]) == 0
    out = capsys.readouterr().out
    assert "− α·(KL[q(z|x,w)‖qx(z|x)] + KL[q(z|x,w)‖qw(z|w)])" in out
    assert "formula: elbo(p, q) - alpha * (kl(q, qx) + kl(q, qw))" in out
    assert "not used" not in out


def test_jmvae_generates_from_the_label_alone_where_the_plain_elbo_cannot(multimodal):
    gen, inferred = multimodal.run("jmvae", steps=500)
    plain, _ = multimodal.run("jmvae", "elbo(p, q)", steps=150)
    assert gen > 0.6 and inferred > 0.5, (gen, inferred)
    assert plain < 0.3 and gen > plain + 0.3, (plain, gen)


def test_mvae_infers_from_each_modality_alone_better_than_its_plain_elbo(multimodal):
    gen, inferred = multimodal.run("mvae", steps=600)
    _, plain = multimodal.run("mvae", multimodal.PLAIN["mvae"], steps=600)
    assert gen > 0.3 and inferred > 0.5, (gen, inferred)
    assert inferred > plain + 0.2, (plain, inferred)


def test_a_product_of_experts_asks_for_the_exp_map_of_its_scale():
    net = '"net": {"type": "ProductOfExperts", "prior": true}'
    text = Path("examples/mvae.json").read_text().replace(net, net + ', "positive": {"scale": "softplus"}', 1)
    with pytest.raises(gm.GraphFileError, match=r"factors\[\d\]: factor q\(z\|ex,ew\): positive.scale: a "
                       r"ProductOfExperts network emits log σ, the raw value of the map 'exp'; found 'softplus'"):
        gm.loads(text)
