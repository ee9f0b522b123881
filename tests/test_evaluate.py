"""Evaluation of trained graphs: the likelihood with the prior as proposal, and what
``graphmodel evaluate`` prints for graphs whose objective is a game (GAN, AVB)."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import load_example

import graphmodel as gm
from inference.cli import main
from inference.evaluate import prior_log_likelihood, report
from inference.trainer import Trainer

CPU = {"device": "cpu", "checkpoint_every": None, "log_every": 10, "seed": 0}


def linear_gaussian() -> gm.Graph:
    """x = z + noise: the marginal is N(0, (1 + 0.5²) I), known exactly."""
    x, z = gm.Variable("x", (3,), role="observed"), gm.Variable("z", (3,))
    return gm.Graph("lin", p=gm.Normal(x, given=z, net=gm.Identity(), scale=0.5) * gm.Normal(z, loc=0.0, scale=1.0))


def test_the_prior_as_proposal_estimates_the_exact_marginal():
    g = linear_gaussian()
    data = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    exact = torch.distributions.Normal(0.0, math.sqrt(1.25)).log_prob(data).sum(-1)
    torch.manual_seed(0)
    few = prior_log_likelihood(g.build(), g, {"x": data}, k=5, chunk=2)
    torch.manual_seed(0)
    many = prior_log_likelihood(g.build(), g, {"x": data}, k=20000, chunk=3000)
    assert few.shape == many.shape == (6,)
    torch.testing.assert_close(many, exact, atol=0.1, rtol=0.0)
    assert (few - exact).abs().mean() > (many - exact).abs().mean()  # more samples, closer


def test_the_prior_as_proposal_refuses_a_generator_without_density():
    x, z = gm.Variable("x", (2,), role="observed"), gm.Variable("z", (2,))
    g = gm.Graph("gan", p=gm.Deterministic(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0))
    with pytest.raises(gm.GraphModelError, match=r"factor p\(x\|z\) is deterministic: 'x' has no density"):
        prior_log_likelihood(g.build(), g, {"x": torch.zeros(4, 2)})
    with pytest.raises(gm.GraphModelError, match="k must be a positive integer, found 0"):
        prior_log_likelihood(g.build(), g, {"x": torch.zeros(4, 2)}, k=0)


def _trained(tmp_path, name: str, steps: int = 20) -> tuple:
    """The example graph trained a few steps, saved with its checkpoint."""
    g = load_example(name).build()
    t = Trainer(g, config={**CPU, "steps": steps, "batch_size": 64})
    t.run()
    gm.save(g, tmp_path / f"{name}.json")
    t.save(tmp_path / "checkpoint.pt")
    return t, tmp_path / f"{name}.json", tmp_path / "checkpoint.pt"


def _values(out: str) -> dict:
    """``label: value`` lines as a dict (labels may hold ': ' themselves)."""
    return {line.rsplit(": ", 1)[0]: line.rsplit(": ", 1)[1] for line in out.splitlines()}


def test_evaluate_a_gan_restores_its_discriminator_and_says_there_is_no_likelihood(tmp_path, capsys):
    t, graph, checkpoint = _trained(tmp_path, "gan")
    assert main(["evaluate", str(graph), "--checkpoint", str(checkpoint)]) == 0
    out = capsys.readouterr().out
    lines, values = out.splitlines(), _values(out)
    # a term that draws no noise: the discriminator on the test data, as the trainer has it
    real = next(k for k in values if k.startswith("test discriminator: E_data[log D(x)]"))
    with torch.no_grad():
        want = t.players[0].loss(t.runtime, t.test_data, t.step).terms[real.removeprefix("test discriminator: ")]
    assert float(values[real]) == pytest.approx(float(want), abs=1e-4)
    assert "test generator: loss" in values and "test discriminator: loss" in values
    assert lines[-1] == ("test log-likelihood: none: factor p(x|z) is deterministic: "
                         "'x' is an implicit generator output with no density")


def test_evaluate_avb_scores_the_likelihood_with_the_prior(tmp_path, capsys):
    t, graph, checkpoint = _trained(tmp_path, "avb")
    assert main(["evaluate", str(graph), "--checkpoint", str(checkpoint), "--k", "2000"]) == 0
    values = _values(capsys.readouterr().out)
    assert {"test adversary: loss", "test model: loss", "test model: E_q(z|x)[T(x,z)]"} <= set(values)
    ll = float(values["test log-likelihood (importance-sampled from the prior, k=2000)"].removesuffix(" nats"))
    torch.manual_seed(0)
    here = prior_log_likelihood(t.runtime, t.graph, t.test_data, k=2000).mean().item()
    assert -3.0 < ll < 0 and ll == pytest.approx(here, abs=0.05)


def test_a_checkpoint_without_the_games_networks_is_refused(tmp_path):
    t, _, _ = _trained(tmp_path, "gan", steps=1)
    with pytest.raises(gm.GraphModelError, match="does not hold this game's own networks"):
        report(t.runtime, t.graph, t.test_data, 10, extra={})
