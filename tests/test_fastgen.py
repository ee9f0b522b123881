"""Cached sampling (``graphmodel/fastgen.py``) is exact: under one seed it draws the samples
that naive sampling (a full network pass per dimension) draws, for the gated PixelCNN and for
MADE, with parents, grey levels, orders, ensembles and completions; each step's parameters
equal the full pass's; and it does far less work (counted in network passes, not timed)."""

from __future__ import annotations

import contextlib

import pytest
import torch

import graphmodel as gm
from graphmodel import fastgen
from graphmodel.autoregressive import complete

pytestmark = pytest.mark.usefixtures("one_thread")

C = gm.Variable("c", (), support="categorical", classes=3, role="input")
IMG = gm.Variable("x", (1, 7, 6), support="binary", role="observed")
GREY = gm.Variable("x", (7, 6), support="unit_interval", role="observed")
VEC = gm.Variable("x", (10,), support="binary", role="observed")
LEVELS = gm.Variable("x", (6,), support="categorical", classes=4, role="observed")
REAL = gm.Variable("x", (5,), role="observed")

CASES = {
    "pixelcnn": lambda: gm.Bernoulli(IMG, net=gm.PixelCNN(6, layers=3, kernel_size=3, head=8), autoregressive=True),
    # the pixelcnn example's shape: 8 gated layers of kernel 5 (a field wider than the image)
    "pixelcnn-deep": lambda: gm.Bernoulli(IMG, net=gm.PixelCNN(6, layers=8, kernel_size=5, head=8),
                                          autoregressive=True),
    "pixelcnn-label": lambda: gm.Bernoulli(IMG, given=C, net=gm.PixelCNN(6, layers=2, head=8), autoregressive=True),
    "pixelcnn-levels": lambda: gm.QuantizedCategorical(GREY, levels=5, net=gm.PixelCNN(6, layers=2, head=8),
                                                       autoregressive=True),
    "made": lambda: gm.Bernoulli(VEC, net=gm.MaskedMLP(16, 12), autoregressive=True),
    "made-random-label": lambda: gm.Categorical(LEVELS, given=C, net=gm.MaskedMLP(16),
                                                autoregressive={"order": "random", "seed": 3}),
    "made-agnostic": lambda: gm.Bernoulli(VEC, net=gm.MaskedMLP(16, 16),
                                          autoregressive={"order": "agnostic", "ensemble": 3}),
}


def runtime(name: str):
    torch.manual_seed(0)
    rt = gm.Graph("g", p=CASES[name]()).build().eval()
    for p in rt.parameters():  # a far from uniform density: draws depend on the parameters
        p.data.mul_(3)
    return rt


def draw(rt, naive: bool, seed: int = 5):
    given = {"c": torch.arange(12) % 3} if rt.factor_modules[0].parent_ndims else None
    torch.manual_seed(seed)
    with torch.no_grad(), (fastgen.naive() if naive else contextlib.nullcontext()):
        return rt.p.sample(None if given else 12, given)["x"]


@pytest.mark.parametrize("name", CASES)
def test_cached_samples_are_the_naive_samples(name):
    rt = runtime(name)
    cached, naive = draw(rt, False), draw(rt, True)
    assert torch.equal(cached, naive)
    assert not torch.equal(cached, draw(rt, False, seed=6))  # (the draws do depend on the seed)


@pytest.mark.parametrize("name", ["pixelcnn-label", "made-random-label"])
def test_each_step_of_the_cache_gives_the_full_pass_parameters(name):
    rt = runtime(name)
    mod = rt.factor_modules[0]
    torch.manual_seed(1)
    c = torch.arange(4) % 3
    x = mod(c).sample()  # a sample to read the dimensions of, one by one
    order = mod.orders[0]
    cache = fastgen.cache_for(mod.net, x, (c,), None, order)
    assert cache is not None
    for d in order.tolist():
        for got, want in zip(cache.next(d), mod.raw_at(x, (c,), None, d)):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
        cache.push(d, x.reshape(4, -1)[:, d])


def test_a_normal_target_samples_the_same_values_up_to_rounding():
    torch.manual_seed(0)
    rt = gm.Graph("g", p=gm.Normal(REAL, net=gm.MaskedMLP(16), scale=gm.Learn([0.5, 1, 1, 2, 1]),
                                   autoregressive=True)).build()
    torch.testing.assert_close(draw(rt, False), draw(rt, True))


@pytest.mark.parametrize("name", ["pixelcnn", "pixelcnn-deep", "made"])
def test_completion_on_the_cached_path_keeps_the_given_pixels_and_matches_the_naive_one(name):
    rt = runtime(name)
    shape = rt.factor_modules[0].event_shape
    known = torch.zeros(shape, dtype=torch.bool)
    known.view(-1)[: known.numel() // 2] = True  # the top half (the first half of the order)
    values = (torch.rand(4, *shape) > 0.5).float()
    torch.manual_seed(2)
    cached = complete(rt, "x", known, values, n=4)
    torch.manual_seed(2)
    with fastgen.naive():
        naive = complete(rt, "x", known, values, n=4)
    assert torch.equal(cached, naive) and torch.equal(cached[:, known], values[:, known])


@pytest.mark.parametrize("name", ["pixelcnn", "made"])
def test_the_cache_runs_no_full_pass_and_the_naive_path_one_per_dimension(name):
    rt = runtime(name)
    passes: list = []
    hook = rt.factor_modules[0].net.register_forward_hook(lambda *_: passes.append(1))
    draw(rt, False)
    assert passes == []
    draw(rt, True)
    hook.remove()
    assert len(passes) == rt.factor_modules[0].dim


def test_a_pixelcnn_cache_refuses_another_order():
    rt = runtime("pixelcnn")
    mod = rt.factor_modules[0]
    x = torch.zeros(2, *mod.event_shape)
    assert fastgen.cache_for(mod.net, x, (), None, torch.arange(mod.dim).flip(0)) is None
    cache = fastgen.cache_for(mod.net, x, (), None, torch.arange(mod.dim))
    cache.next(0)
    cache.push(0, torch.ones(2))
    with pytest.raises(gm.GraphModelError, match="raster order: expected pixel 1, asked for 5"):
        cache.next(5)
