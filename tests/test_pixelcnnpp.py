"""PixelCNN++ (``graphmodel/networks/pixelcnnpp.py``): the raster order without a blind spot,
conditioning, the factor's validation, learning on the digits' grey levels, and the
benchmark's hand-written twin."""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import pytest
import torch

import graphmodel as gm
from graphmodel.networks import HeadSpec, InputSpec
from graphmodel.networks.pixelcnnpp import PixelCNNppNet

pytestmark = pytest.mark.usefixtures("one_thread")
BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _net(h, w, scales, context=()):
    heads = [HeadSpec("logits", (1, h, w, 3)), HeadSpec("loc", (1, h, w, 3))]
    return PixelCNNppNet(InputSpec("x", (1, h, w)), heads, list(context), 4, 1, scales, 0.0)


@pytest.mark.parametrize("h, w, scales", [(8, 8, 2), (7, 5, 3), (6, 6, 1)])
def test_each_pixel_sees_exactly_the_pixels_before_it(h, w, scales):
    """Raster order: pixel i's parameters depend on no pixel ≥ i, and (no blind spot) on every
    near pixel to its left in its row and on the pixels above it up to the right (the region a
    masked PixelCNN's vertical stack misses), at every resolution structure, odd sizes too."""
    torch.manual_seed(0)
    net = _net(h, w, scales)
    x = torch.rand(1, 1, h, w, requires_grad=True)
    logits, loc = net(x)
    for i in range(h):
        for j in range(w):
            (g,) = torch.autograd.grad(logits[0, 0, i, j].sum() + loc[0, 0, i, j].sum(), x, retain_graph=True)
            seen = g[0, 0] != 0
            assert not seen.flatten()[i * w + j:].any(), f"pixel ({i}, {j}) sees itself or a later pixel"
            assert seen[i, max(0, j - 3):j].all(), f"pixel ({i}, {j}) misses a near pixel on its left"
            for di, dj in ((1, -1), (1, 0), (1, 1), (2, 2), (2, -2)):
                if i - di >= 0 and 0 <= j + dj < w:
                    assert seen[i - di, j + dj], f"pixel ({i}, {j}) misses ({i - di}, {j + dj})"


def test_conditioning_reaches_every_pixel_and_broadcasts():
    torch.manual_seed(0)
    net = _net(4, 4, 2, [InputSpec("z", (3,))])
    x = torch.rand(5, 1, 4, 4)
    z = torch.randn(5, 3)
    a, _ = net(x, z)
    b, _ = net(x, z + 1)
    assert ((a - b).abs() > 0).all()  # z moves every pixel's parameters, the first one included
    many, _ = net(x, torch.randn(2, 5, 3))  # z with an extra sample dimension (k per image)
    assert many.shape == (2, 5, 1, 4, 4, 3)


def test_the_factor_is_checked_by_name():
    x = gm.Variable("x", (1, 8, 8), support="unit_interval", role="observed")
    flat = gm.Variable("x", (64,), support="unit_interval", role="observed")

    def problems(factor):
        return [p.message for p in gm.Graph("g", p=factor).problems()]

    assert problems(gm.DiscretizedLogisticMixture(x, net=gm.PixelCNNpp(8), autoregressive=True)) == []
    assert any("a PixelCNNpp reads the factor's own target; make the factor autoregressive" in m
               for m in problems(gm.DiscretizedLogisticMixture(x, net=gm.PixelCNNpp(8))))
    assert any("PixelCNNpp keeps its own order" in m and "'agnostic'" in m for m in problems(
        gm.DiscretizedLogisticMixture(x, net=gm.PixelCNNpp(8), autoregressive={"order": "agnostic"})))
    assert any("net.scales: expected" in m for m in problems(
        gm.DiscretizedLogisticMixture(x, net=gm.NetSpec("PixelCNNpp", {"scales": 0}), autoregressive=True)))
    with pytest.raises(gm.GraphModelError, match=r"a PixelCNNpp reads an image target .*x\(64,\)"):
        gm.Graph("g", p=gm.DiscretizedLogisticMixture(flat, net=gm.PixelCNNpp(8), autoregressive=True)).build()
    with pytest.raises(gm.GraphModelError, match="halves x.* below 1 pixel; give fewer scales"):
        gm.Graph("g", p=gm.DiscretizedLogisticMixture(x, net=gm.PixelCNNpp(8, scales=5),
                                                      autoregressive=True)).build()


def test_the_file_refuses_bad_options_with_their_path():
    text = gm.dumps(gm.Graph("g", p=gm.DiscretizedLogisticMixture(
        gm.Variable("x", (1, 4, 4), support="unit_interval", role="observed"), net=gm.PixelCNNpp(8),
        autoregressive=True)))
    assert gm.dumps(gm.loads(text)) == text
    with pytest.raises(gm.GraphFileError, match=r"factors\[0\]\.net\.dropout: .*0\.95"):
        gm.loads(text.replace('"dropout": 0.5', '"dropout": 2.0'))


def _digits(n_test=200):
    from inference.data import digits

    x = digits(binarize=False)["image2d"]
    g = torch.Generator().manual_seed(0)
    x = x[torch.randperm(len(x), generator=g)]
    return x[n_test:], x[:n_test]


def test_it_learns_the_digits_grey_levels():
    """A tiny PixelCNN++ beats the best model of independent pixels (each pixel's own
    histogram of the 17 levels, fitted on the training digits) on held-out digits."""
    torch.manual_seed(0)
    train, test = _digits()
    x = gm.Variable("x", (1, 8, 8), support="unit_interval", role="observed")
    g = gm.Graph("pp", p=gm.DiscretizedLogisticMixture(x, net=gm.PixelCNNpp(12, 1, 2, 0.0), autoregressive=True,
                                                       components=3, levels=17))
    rt = g.build()
    opt = torch.optim.Adam(rt.parameters(), lr=3e-3)
    for _ in range(250):
        batch = train[torch.randint(len(train), (32,))]
        loss = -rt.p.log_prob({"x": batch}).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        nll = -rt.eval().p.log_prob({"x": test}).mean().item()
    levels = (train * 16).round().long().flatten(1)
    counts = torch.stack([torch.bincount(levels[:, d], minlength=17) for d in range(64)]) + 0.5
    probs = counts / counts.sum(1, keepdim=True)
    t = (test * 16).round().long().flatten(1)
    independent = -probs.log().gather(1, t.T).T.sum(1).mean().item()
    assert nll < independent - 10, (nll, independent)
    with torch.no_grad():
        samples = rt.p.sample(4)["x"]
    assert samples.shape == (4, 1, 8, 8) and ((samples * 16 - (samples * 16).round()).abs() < 1e-5).all()


def test_the_hand_written_twin_has_the_same_size_and_the_step_benchmark_runs(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    threads = torch.get_num_threads()
    import pixelcnnpp_compare as bench

    try:
        g = bench.example()
        g.factors[0] = dataclasses.replace(g.factors[0], net=gm.PixelCNNpp(6, 1, 2, 0.5))
        g._changed()
        monkeypatch.setattr(bench, "example", lambda: g)
        hand, ours = bench.hand_model(g), g.build()
        assert sum(p.numel() for p in hand.parameters()) == sum(p.numel() for p in ours.parameters())
        records = bench.time_steps(2, compile_ok=False, batch_size=8, log=lambda *_: None)
        assert [r["impl"] for r in records] == ["pytorch", "graphmodel"]
        assert records[0]["ratio"] == 1.0 and all(r["median_ms"] > 0 for r in records)
        hand.eval()
        x = torch.randint(0, 17, (3, 1, 8, 8)) / 16
        lp = hand.log_prob(x)
        assert lp.shape == (3,) and torch.isfinite(lp).all() and (lp < 0).all()
        assert math.isfinite(hand.sample(2, 8, 8).sum().item())
    finally:
        torch.set_num_threads(threads)
        sys.modules.pop("pixelcnnpp_compare", None)
        sys.modules.pop("pixelcnnpp_hand", None)


def test_the_pixelvae_example_beats_its_plain_vae_and_uses_z():
    """``examples/pixelvae.json`` at CI size (300 steps): a better test ELBO than the plain VAE
    of the same encoder (``pixelvae.plain()``) on the same batches, with a KL term that has not
    collapsed (free bits keep it from 0)."""
    import importlib.util

    from conftest import EXAMPLES_DIR

    from inference.evaluate import bound
    from inference.trainer import Trainer

    spec = importlib.util.spec_from_file_location("pixelvae_example", EXAMPLES_DIR / "pixelvae.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = {}
    for name, graph in (("pixelvae", gm.load(EXAMPLES_DIR / "pixelvae.json")), ("plain", example.plain())):
        t = Trainer(graph, config={"device": "cpu", "steps": 300, "epochs": None, "checkpoint_every": None,
                                   "log_every": 300, "sample_every": None})
        metrics = t.run()
        with torch.no_grad():
            elbo = bound(t.runtime.eval(), t.graph, t.test_data).mean().item()
        kl = next(v for k, v in metrics.items() if k.startswith("test KL"))
        out[name] = (elbo, kl)
    assert out["pixelvae"][0] > out["plain"][0] + 2, out
    assert out["pixelvae"][1] > 2.0, out  # nats of KL: z is used
