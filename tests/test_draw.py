"""DRAW: the Gaussian filterbanks against their definition, the canvas strip, and learning.

* With an N×N grid on an N×N image, unit stride, the centre in the middle and a tiny variance,
  the read's glimpse is the image itself (and the error image's), times γ; the write places the
  patch as it is, divided by γ, onto the previous canvas.
* ``examples/draw`` and ``draw_plain`` at CI size (8 steps, 64-unit LSTMs, 300 steps of Adam),
  and ``convdraw`` (4 steps of 8-channel maps): the test bound rises far above its value at
  initialization and above independent pixels (the training split's means); the ELBO shares
  p's canvas with q instead of computing it twice.
* ``graphmodel sample --strip`` and a training run draw the canvases over the steps.
"""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest
import torch
from conftest import load_example

import graphmodel as gm
from cli import main
from graphmodel.networks import HeadSpec, InputSpec
from graphmodel.networks.attention import DRAWReadNet, DRAWWriteNet
from inference.evaluate import bound
from inference.strips import columns, save_strip, strip_variables
from inference.trainer import Trainer, sample_observed

pytestmark = pytest.mark.usefixtures("one_thread")

N = 6


def _exact(bank, log_gamma: float) -> None:
    """Attention on the whole image: centre in the middle, stride 1, variance e⁻⁸, γ = e^log_gamma."""
    with torch.no_grad():
        bank.params.weight.zero_()
        bank.params.bias.copy_(torch.tensor([0.0, 0.0, -8.0, 0.0, log_gamma]))


def test_the_read_glimpse_of_a_full_grid_is_the_image_and_its_error():
    image = InputSpec("x", (1, N, N))
    net = DRAWReadNet([image, InputSpec("c", (1, N, N)), InputSpec("h", (2, 4))], [HeadSpec("value", (2 * N * N,))],
                      attention=True, grid=N)
    _exact(net.bank, math.log(2.0))
    x, c, h = torch.rand(3, 1, N, N), torch.randn(3, 1, N, N), torch.randn(3, 2, 4)
    (r,) = net(x, c, h)
    want = 2.0 * torch.cat((x.flatten(1), (x - torch.sigmoid(c)).flatten(1)), 1)
    torch.testing.assert_close(r, want, atol=1e-4, rtol=1e-4)
    plain = DRAWReadNet([image, InputSpec("c", (1, N, N))], [HeadSpec("value", (2 * N * N,))], attention=False)
    torch.testing.assert_close(plain(x, c)[0], want / 2)


def test_the_write_places_its_patch_onto_the_previous_canvas():
    net = DRAWWriteNet([InputSpec("c", (1, N, N), is_state=True), InputSpec("h", (2, 4))],
                       [HeadSpec("value", (1, N, N))], attention=True, grid=N)
    _exact(net.bank, math.log(4.0))
    prev, h = torch.randn(5, 1, N, N), torch.randn(5, 2, 4)
    (c,) = net(prev, h)
    patch = torch.nn.functional.linear(h[:, 0], net.patch.weight, net.patch.bias).view(5, 1, N, N)
    torch.testing.assert_close(c, prev + patch / 4.0, atol=1e-4, rtol=1e-4)


def test_a_read_without_the_canvas_is_refused_by_name():
    with pytest.raises(gm.GraphModelError, match=r"DRAWRead needs the image x and the canvas c\[t-1\], both "
                                                 r"\(C, H, W\) among its parents, found x\[1, 6, 6\], h\[2, 4\]"):
        DRAWReadNet([InputSpec("x", (1, N, N)), InputSpec("h", (2, 4))], [HeadSpec("value", (8,))])
    with pytest.raises(gm.GraphModelError, match="gives 8 values .* found a target shaped"):
        DRAWReadNet([InputSpec("x", (1, N, N)), InputSpec("c", (1, N, N)), InputSpec("h", (2, 4))],
                    [HeadSpec("value", (9,))])


def small(attention: bool) -> gm.Graph:
    return load_example("draw").build(attention=attention, steps=8, hidden=64, latent=8)


def _indep(train, test) -> float:
    p = train.mean(0).clamp(1e-3, 1 - 1e-3)
    return (test * p.log() + (1 - test) * (1 - p).log()).flatten(1).sum(-1).mean().item()


def _learn(g: gm.Graph, seed: int) -> tuple[float, float, Trainer]:
    """The test bound of ``g`` before and after 300 steps from training seed ``seed``."""
    g.training["seed"] = seed
    t = Trainer(g, config={"device": "cpu", "steps": 300, "epochs": None, "checkpoint_every": None,
                           "log_every": 300, "lr": 3e-3})
    test = {k: v[:200] for k, v in t.test_data.items()}
    torch.manual_seed(0)
    before = bound(t.runtime.eval(), g, test).mean().item()
    t.runtime.train()
    t.run()
    torch.manual_seed(0)
    after = bound(t.runtime.eval(), g, test).mean().item()
    return before, after, t


@pytest.mark.parametrize("attention", [True, False], ids=["attention", "plain"])
def test_draw_learns_at_ci_size(attention):
    g = small(attention)
    # A 2×2 read glimpse learns slowly: at this size it only nears independent pixels, and where
    # one run ends moves by ±7 nats with the seed (benchmarks/RESULTS.md), so two runs' mean is
    # held to that bound; the model that reads whole images passes them by far in any run.
    runs = [_learn(g, seed) for seed in ((0, 1) if attention else (0,))]
    for before, after, _ in runs:
        assert after > before + 250
    after = sum(a for _, a, _ in runs) / len(runs)
    t = runs[-1][2]
    indep = _indep(t.train_data["x"], t.test_data["x"][:200])
    if attention:
        assert after > indep - 15  # (docs/RESULTS.md: it passes them only after hundreds more steps)
    else:
        assert after > indep + 5  # better than independent pixels
    values = sample_observed(g, t.runtime, 4, extra=("c",))
    steps = values["c"].flatten(2)
    assert values["c"].shape == (4, 8, 1, 28, 28)
    assert all((steps[:, k] - steps[:, k - 1]).abs().amax() > 0 for k in range(1, 8))  # every step writes


def test_convdraw_learns_at_ci_size():
    """ConvDRAW (4 steps of 8-channel 7×7 maps, a learned prior per step) beats independent pixels."""
    g = load_example("convdraw").build(steps=4, channels=8, latent=2)
    t = Trainer(g, config={"device": "cpu", "steps": 250, "epochs": None, "checkpoint_every": None,
                           "log_every": 250, "lr": 3e-3})
    test = {k: v[:200] for k, v in t.test_data.items()}
    torch.manual_seed(0)
    before = bound(t.runtime.eval(), g, test).mean().item()
    t.runtime.train()
    t.run()
    torch.manual_seed(0)
    after = bound(t.runtime.eval(), g, test).mean().item()
    assert after > before + 250
    assert after > _indep(t.train_data["x"], test["x"]) + 40
    assert strip_variables(g) == ["c"]


def test_the_elbo_gives_p_the_canvas_q_computed():
    from inference.elbo import elbo_terms

    plan = elbo_terms(small(True))
    assert {"z", "h", "c"} <= set(plan.shared)


def test_strip_columns_and_variables():
    assert columns(16) == list(range(16)) and columns(64)[:3] == [0, 4, 8] and columns(64)[-1] == 63
    assert strip_variables(small(True)) == ["c"]
    assert strip_variables(load_example("vrnn").build()) == []


def test_sample_strip_and_the_training_run_draw_the_canvas(tmp_path):
    g = small(True)
    g.training.update(steps=2, log_every=1)
    path = tmp_path / "draw.json"
    gm.save(g, path)
    assert main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet", "--threads", "1"]) == 0
    assert (tmp_path / "run" / "strip.png").stat().st_size > 1000
    out = tmp_path / "strip.png"
    assert main(["sample", str(path), "--checkpoint", str(tmp_path / "run" / "checkpoint.pt"), "-o", str(out),
                 "-n", "4", "--strip"]) == 0
    assert out.stat().st_size > 1000
    assert not save_strip({"x": torch.zeros(2, 1, 28, 28)}, g, tmp_path / "none.png")


@pytest.mark.parametrize("attention", [True, False], ids=["attention", "plain"])
def test_the_hand_written_draw_of_the_benchmark_is_the_same_model(attention):
    """``benchmarks/draw.py``'s DRAW, given graphmodel's weights and the same noise, has the same ELBO."""
    bench = runpy.run_path(str(Path(__file__).resolve().parent.parent / "benchmarks" / "draw.py"))
    g = small(attention)
    rt = g.build()
    hand = bench["hand_for"](g)
    bench["copy_weights"](hand, rt, g)
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.3))
    torch.manual_seed(3)
    ours = bound(rt, g, {"x": x})
    torch.manual_seed(3)
    rec, _, kl = hand.run(x)
    torch.testing.assert_close(ours, rec - kl, atol=1e-3, rtol=1e-4)


def test_the_hand_written_convdraw_of_the_benchmark_is_the_same_model():
    """``benchmarks/convdraw.py``'s ConvDRAW, given graphmodel's weights and the same noise, has the same ELBO."""
    bench = runpy.run_path(str(Path(__file__).resolve().parent.parent / "benchmarks" / "convdraw.py"))
    g = load_example("convdraw").build(steps=3, channels=8, latent=2)
    rt = g.build()
    hand = bench["twin"](g, rt)
    x = torch.bernoulli(torch.full((5, 1, 28, 28), 0.3))
    torch.manual_seed(3)
    ours = bound(rt, g, {"x": x})
    torch.manual_seed(3)
    rec, _, kl = hand.run(x)
    torch.testing.assert_close(ours, rec - kl, atol=1e-3, rtol=1e-4)
