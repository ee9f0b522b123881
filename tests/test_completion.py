"""Image completion (``inference/completion.py``, ``graphmodel sample --complete``): masks,
the observed pixels kept exactly, and completions of trained tiny models closer to the
originals than unconditional samples are — for an autoregressive model (exact, and
importance-resampled for a mask that is not a prefix of its order) and for a VAE
(pseudo-Gibbs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphmodel as gm
from cli import main
from inference.completion import complete_images, observed_mask, parse_indices

pytestmark = pytest.mark.usefixtures("one_thread")


def test_masks_name_the_observed_pixels():
    top = observed_mask("top-half", (1, 4, 4))
    assert top[0, :2].all() and not top[0, 2:].any()
    assert observed_mask("left-half", (16,)).reshape(4, 4)[:, :2].all()  # a flat square image too
    assert not observed_mask("right:1", (4, 4))[:, :3].any() and observed_mask("right:1", (4, 4))[:, 3].all()
    center = observed_mask("center", (1, 8, 8))[0]
    assert center[2:6, 2:6].all() and center.sum() == 16
    assert (observed_mask("border", (1, 8, 8)) == ~observed_mask("center", (1, 8, 8))).all()
    with pytest.raises(gm.GraphModelError, match="--observed: expected one of top-half"):
        observed_mask("top-third", (1, 4, 4))
    with pytest.raises(gm.GraphModelError, match="--observed top:9: expected 0 to 4 rows"):
        observed_mask("top:9", (1, 4, 4))
    with pytest.raises(gm.GraphModelError, match="not an image"):
        observed_mask("top-half", (5,))
    assert parse_indices("0,3-5", 10) == [0, 3, 4, 5]
    assert parse_indices("0-499:50", 500) == list(range(0, 500, 50))  # one of each digit of mnist5k's test split
    assert parse_indices("1,2-9:3", 10) == [1, 2, 5, 8]
    with pytest.raises(gm.GraphModelError, match="below 10"):
        parse_indices("2,10", 10)
    for bad in ("0-9:0", "3:2", "0-9:x"):
        with pytest.raises(gm.GraphModelError, match="0-499:50"):
            parse_indices(bad, 10)


def test_a_mask_file_is_checked(tmp_path):
    good, bad = tmp_path / "m.npy", tmp_path / "b.npy"
    a = np.zeros((4, 4), dtype=bool)
    a[0, 1] = True
    np.save(good, a)
    np.save(bad, a.astype(np.float32))
    m = observed_mask(str(good), (1, 4, 4))
    assert m.shape == (1, 4, 4) and m.sum() == 1 and m[0, 0, 1]
    with pytest.raises(gm.DataError, match=r"expected booleans shaped \(1, 4, 4\) or \(4, 4\), found float32"):
        observed_mask(str(bad), (1, 4, 4))


def _train(g, steps, data, lr=3e-3):
    from inference.objectives import training_loss

    torch.manual_seed(0)
    rt = g.build()
    loss, opt = training_loss(g), torch.optim.Adam(rt.parameters(), lr=lr)
    for _ in range(steps):
        batch = {k: v[torch.randint(len(v), (32,))] for k, v in data.items()}
        total = loss(rt, batch).total
        opt.zero_grad()
        total.backward()
        opt.step()
    return rt.eval()


@pytest.fixture(scope="module")
def digits():
    from inference.data import digits

    d = digits(binarize=False)["image2d"]
    return d[torch.randperm(len(d), generator=torch.Generator().manual_seed(1))]


def _closer_than_samples(rt, g, data, known, completions, var="x"):
    """Mean distance to the originals over the unknown pixels: completions vs fresh samples."""
    original, x = data
    unknown = ~known.reshape(-1)
    d_comp = (x.flatten(2) - original.flatten(1)[:, None]).abs()[..., unknown].mean()
    torch.manual_seed(1)
    with torch.no_grad():
        free = rt.p.sample(x.shape[0] * x.shape[1])[var].reshape(x.shape)
    d_free = (free.flatten(2) - original.flatten(1)[:, None]).abs()[..., unknown].mean()
    return d_comp.item(), d_free.item()


def test_an_autoregressive_model_completes_exactly_from_the_top_and_by_resampling_otherwise(digits):
    x = gm.Variable("x", (1, 8, 8), support="unit_interval", role="observed")
    g = gm.Graph("pp", p=gm.DiscretizedLogisticMixture(x, net=gm.PixelCNNpp(12, 1, 2, 0.0), autoregressive=True,
                                                       components=3, levels=17))
    rt = _train(g, 250, {"x": digits[100:]})
    test = {"x": digits[:100]}
    for spec, method in (("top-half", "autoregressive, exact"), ("left-half", "importance resampling among 4")):
        known = observed_mask(spec, (1, 8, 8))
        torch.manual_seed(0)
        var, original, comp, how = complete_images(g, rt, test, list(range(12)), known, 4, candidates=4)
        assert var == "x" and comp.shape == (12, 4, 1, 8, 8) and method in how
        kept = original[:, None].expand_as(comp)[:, :, known]
        assert torch.equal(comp[:, :, known], kept)  # the observed pixels, exactly
        ours, free = _closer_than_samples(rt, g, (original, comp), known, comp)
        assert ours < 0.8 * free, (spec, ours, free)


def test_a_vae_completes_by_pseudo_gibbs(digits):
    x = gm.Variable("x", (64,), support="binary", role="observed")
    z = gm.Variable("z", (8,))
    g = gm.Graph("vae", p=gm.Bernoulli(x, given=z, net=gm.MLP(128)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MLP(128)))
    binary = (digits.flatten(1) > 0.5).float()
    rt = _train(g, 600, {"x": binary[100:]})
    known = observed_mask("top-half", (64,))
    torch.manual_seed(0)
    var, original, comp, how = complete_images(g, rt, {"x": binary[:100]}, list(range(16)), known, 4, iterations=10)
    assert how.startswith("pseudo-Gibbs") and comp.shape == (16, 4, 64)
    assert torch.equal(comp[:, :, known], original[:, None].expand_as(comp)[:, :, known])
    ours, free = _closer_than_samples(rt, g, (original, comp), known, comp)
    assert ours < 0.8 * free, (ours, free)


def test_the_command_line_draws_completions(tmp_path, capsys):
    x = gm.Variable("x", (1, 8, 8), support="unit_interval", role="observed")
    g = gm.Graph("tiny", p=gm.DiscretizedLogisticMixture(x, net=gm.PixelCNNpp(4, 1, 1, 0.0), autoregressive=True,
                                                         components=2, levels=17),
                 data={"dataset": "digits", "options": {"binarize": False}, "bind": {"x": "image2d"},
                       "test_fraction": 0.2})
    path, ckpt, out = tmp_path / "tiny.json", tmp_path / "w.pt", tmp_path / "c.png"
    gm.save(g, path)
    gm.save_checkpoint(ckpt, g.build(), g)
    args = ["sample", str(path), "--checkpoint", str(ckpt), "-o", str(out), "--completions", "3"]
    assert main([*args, "--complete", "0,2-3", "--observed", "top:3"]) == 0
    said = capsys.readouterr().out
    assert "autoregressive, exact; 40 of 64 values of 'x' drawn" in said and out.stat().st_size > 0
    assert main([*args, "--given-top-half", "5"]) == 0
    assert "32 of 64" in capsys.readouterr().out
    assert main([*args, "--complete", "0", "--observed", "zigzag"]) != 0
    assert "--observed: expected one of top-half" in capsys.readouterr().err
