"""Memory estimated from shapes before anything is allocated: small files that describe huge
models are refused by name, and ordinary graphs pass untouched."""

from __future__ import annotations

import json
import resource

import pytest
import torch

import graphmodel as gm
from cli import main
from graphmodel.budget import STATE_COPIES, ResourceError, estimate, guard, parse_size


def vae(z_shape=(8,), hidden=(64,), **training) -> gm.Graph:
    x = gm.Variable("x", (64,), support="binary", role="observed")
    z = gm.Variable("z", z_shape)
    return gm.Graph("v", p=gm.Bernoulli(x, given=z, net=gm.MLP(*hidden)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(*hidden)), training=training)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_the_estimate_counts_exactly_the_parameters_a_build_holds():
    for g in (vae(), gm.load("examples/gmm_prior.json"), gm.load("examples/vrnn.json"),
              gm.load("examples/made.json")):
        built = g.build()
        # the learned weights, and the constant parameters (a standard prior's μ and σ); not an
        # order-agnostic MADE's precomputed masks
        held = {id(p): p.numel() for p in built.parameters()}
        held.update({id(b): b.numel() for n, b in built.named_buffers() if "const_" in n or "sched_" in n})
        assert estimate(g).params == sum(held.values()), g.name


def test_activations_grow_with_the_width_and_the_steps():
    small, wide = estimate(vae(hidden=(64,))), estimate(vae(hidden=(640,)))
    assert wide.activation_bytes > small.activation_bytes
    seq = gm.load("examples/vrnn.json")
    longer = gm.loads(gm.dumps(seq).replace('"size": 6}', '"size": 24}'))
    assert estimate(longer).activation_bytes > 3 * estimate(seq).activation_bytes


@pytest.mark.parametrize("graph, words", [
    # a latent of 2^24 elements read and written by 400-wide layers: tens of GB of weights
    (lambda: vae(z_shape=(1 << 24,), hidden=(400,)), "the largest factor is"),
    # two hidden layers of 2^24: 10^14 weights
    (lambda: vae(hidden=(1 << 24, 1 << 24)), "parameters"),
])
def test_a_small_file_describing_a_huge_model_is_refused_before_allocating(graph, words):
    g = gm.loads(gm.dumps(graph()))  # from a file of a kilobyte or so
    assert len(gm.dumps(g)) < 4096
    before = peak_rss_mb()
    with pytest.raises(ResourceError, match=words):
        g.build()
    assert peak_rss_mb() - before < 200  # nothing of its size was allocated


def test_twelve_up_sampling_layers_are_refused_for_training_by_their_activations():
    x = gm.Variable("x", (1, 8, 8), support="binary", role="observed")
    z = gm.Variable("z", (4,))
    g = gm.Graph("deep", p=gm.Bernoulli(x, given=z, net=gm.DeconvDecoder([4] * 12, [16]))
                 * gm.Normal(z, loc=0.0, scale=1.0), q=gm.Normal(z, given=x, net=gm.MLP(16)),
                 data={"dataset": "digits", "bind": {"x": "image2d"}}, training={"batch_size": 128})
    est = estimate(g)
    assert est.activation_bytes > 5 * 10 ** 8  # 12 doublings from 1×1: 4096×4096 maps per example
    from inference.trainer import Trainer

    with pytest.raises(ResourceError, match=r"training needs about .* the largest factor is p\(x\|z\)"):
        Trainer(g)


def test_the_limit_comes_from_the_file_or_the_command_line(capsys, tmp_path):
    g = vae(hidden=(256,), batch_size=64)
    need = estimate(g).training_bytes(64)
    guard(g, 64, limit=10 * need)  # fits
    with pytest.raises(ResourceError, match="over the limit of"):
        guard(g, 64, limit=need // 2)
    g.training["max_memory"] = need // 2
    with pytest.raises(ResourceError):
        g.build() if STATE_COPIES * estimate(g).param_bytes > need // 2 else guard(g, 64)
    path = tmp_path / "v.json"
    gm.save(vae(hidden=(256,), batch_size=64), path)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "memory: " in out and "a training step of 64 examples needs about" in out
    assert main(["check", str(path), "--max-memory", "10kB"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "over the limit of 10.0 kB" in err
    assert main(["check", str(path), "--max-memory", "lots"]) == 1
    assert "--max-memory: expected a size in bytes" in capsys.readouterr().err


def test_a_huge_discriminator_is_refused_before_it_is_built(tmp_path):
    g = gm.load("examples/gan.json")
    g.objective = {**g.objective, "discriminator": {"type": "MLP", "hidden": [8192] * 64}}
    from inference.objectives import training_objective

    before = peak_rss_mb()
    with pytest.raises(ResourceError, match="objective.discriminator"):
        training_objective(g)
    assert peak_rss_mb() - before < 200


@pytest.mark.parametrize("text, expected", [("8GB", 8 * 10 ** 9), ("512MiB", 512 * 2 ** 20), ("1.5 kB", 1500),
                                            (1000, 1000)])
def test_sizes(text, expected):
    assert parse_size(text, "x") == expected


@pytest.mark.parametrize("bad", ["", "8 parsecs", -1, 0, True, 1.5, "-3GB"])
def test_bad_sizes_are_named(bad):
    with pytest.raises(gm.GraphModelError, match="x: expected a size in bytes"):
        parse_size(bad, "x")


def test_max_memory_in_the_training_section_is_checked():
    from inference.config import TrainConfig

    with pytest.raises(gm.GraphModelError, match="training.max_memory: expected a size"):
        TrainConfig.from_dict({"max_memory": "huge"})
    assert TrainConfig.from_dict({"max_memory": "2GB"}).max_memory == "2GB"
    assert json.loads(gm.dumps(vae(max_memory="2GB")))["training"]["max_memory"] == "2GB"


def test_ordinary_examples_are_not_measured_on_build(monkeypatch):
    """A graph far below the limit is passed on its crude bound: no network is built twice."""
    import graphmodel.budget as budget

    calls = []
    monkeypatch.setattr(budget, "_network_params", lambda *a: calls.append(a) or 0)
    for name in ("vae", "vrnn", "cvae", "gan", "made"):
        gm.load(f"examples/{name}.json").build()
    assert calls == []
    assert torch.get_default_dtype() == torch.float32


def test_a_flow_with_huge_couplings_is_refused_before_allocating():
    x = gm.Variable("x", (2,), role="observed")
    g = gm.Graph("f", p=gm.Normal(x, loc=0.0, scale=1.0, flow=[gm.Coupling(hidden=[1 << 16] * 4)]))
    before = peak_rss_mb()
    with pytest.raises(ResourceError, match=r"the largest factor is p\(x\)"):
        g.build()
    assert peak_rss_mb() - before < 200
    small = gm.load("examples/realnvp.json")
    built = small.build()
    held = sum(p.numel() for p in built.parameters())
    held += sum(b.numel() for n, b in built.named_buffers() if "const_" in n)
    assert estimate(small).params == held
