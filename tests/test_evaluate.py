"""Evaluation of trained graphs: the likelihood with the prior as proposal, what
``graphmodel evaluate`` prints for graphs whose objective is a game (GAN, AVB), the bound and
the log-likelihood from the same samples (the bound never above), every estimate with its
standard error, bits/dim with its convention, and a VAE with an autoregressive decoder."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import load_example

import graphmodel as gm
from cli import main
from inference.evaluate import Estimate, importance_sampled, prior_log_likelihood, report
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


def estimate(text: str) -> tuple[float, float]:
    """``"-1.2345 ± 0.0123 nats"`` → ``(-1.2345, 0.0123)``."""
    mean, se = text.split(" ")[0], text.split(" ± ")[1].split(" ")[0]
    return float(mean), float(se)


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
    ll, se = estimate(values["test log-likelihood (importance-sampled from the prior, k=2000)"])
    assert 0 < se < 0.5
    torch.manual_seed(0)
    here = prior_log_likelihood(t.runtime, t.graph, t.test_data, k=2000).mean().item()
    assert -3.0 < ll < 0 and ll == pytest.approx(here, abs=0.05)


def test_a_checkpoint_without_the_games_networks_is_refused(tmp_path):
    t, _, _ = _trained(tmp_path, "gan", steps=1)
    with pytest.raises(gm.GraphModelError, match="does not hold this game's own networks"):
        report(t.runtime, t.graph, t.test_data, 10, extra={})


# --- estimates with their standard errors; the bound and the likelihood from the same samples --

def test_an_estimate_is_the_mean_with_its_standard_error_over_examples():
    values = torch.tensor([-3.0, -1.0, -2.0, -6.0])
    e = Estimate.of(values)
    assert float(e) == -3.0 and e.n == 4
    assert e.se == pytest.approx(values.std().item() / 2)  # (n − 1 in the variance; √4 = 2)
    bits = -e / (4 * math.log(2))
    assert float(bits) == pytest.approx(3.0 / 4 / math.log(2)) and bits.se == pytest.approx(e.se / 4 / math.log(2))
    assert str(e) == f"-3.0000 ± {e.se:.4f}" and math.isnan(Estimate.of(torch.tensor([1.0])).se)


def four_point_vae(steps: int = 300) -> Trainer:
    """The AVB toy's decoder with a Gaussian posterior: the four-point VAE, briefly trained."""
    avb = load_example("avb").build()
    x, z = avb.variables["x"], avb.variables["z"]
    g = gm.Graph("vae4", p=gm.Bernoulli(x, given=z, net=gm.MLP(64)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MLP(64, 64)), data=avb.data, training=avb.training)
    t = Trainer(g, config={**CPU, "steps": steps, "test_fraction": 0.0})
    t.run()
    return t


def test_the_bound_is_never_above_the_likelihood_and_k_samples_steady_it():
    """On the four points the bound, from one sample per example, once printed above the
    log-likelihood. Both now come from the same k samples: the mean of the log-weights can
    never exceed their log-mean-exp, per example; and averaging k samples shrinks the
    bound's spread over evaluation seeds."""
    t = four_point_vae()
    data = {"x": torch.eye(4).repeat(8, 1)}  # each point 8 times: 32 examples
    for seed in range(3):
        torch.manual_seed(seed)
        lower, ll = importance_sampled(t.runtime, t.graph, data, k=50, chunk=7)
        assert lower.shape == ll.shape == (32,) and bool((lower <= ll + 1e-6).all())
    assert -math.log(4) - 1.0 < ll.mean().item() < 0  # (the optimum is −ln 4; a trained decoder is near)

    def spread(k: int) -> float:
        means = []
        for seed in range(8):
            torch.manual_seed(seed)
            means.append(importance_sampled(t.runtime, t.graph, data, k=k)[0].mean().item())
        return float(torch.tensor(means).std())

    assert spread(100) < 0.3 * spread(1), (spread(100), spread(1))


def test_a_vae_whose_decoder_is_autoregressive_is_scored_by_importance_sampling():
    """p(x|z) a MADE over 3 binary pixels given a 1-D z (PixelVAE's shape in miniature): the
    importance-sampled estimate agrees with log p(x) integrated over z on a fine grid."""
    x, z = gm.Variable("x", (3,), support="binary", role="observed"), gm.Variable("z", (1,))
    g = gm.Graph("arvae", p=gm.Bernoulli(x, given=z, net=gm.MaskedMLP(16), autoregressive=True)
                 * gm.Normal(z, loc=0.0, scale=1.0), q=gm.Normal(z, given=x, net=gm.MLP(16)))
    torch.manual_seed(0)
    rt = g.build()
    xs = torch.tensor([[0.0, 1, 1], [1, 0, 0], [1, 1, 1], [0, 0, 0]])
    grid = torch.linspace(-8, 8, 4001).unsqueeze(-1)
    with torch.no_grad():
        joint = torch.stack([rt.p.log_prob({"x": v.expand(len(grid), 3), "z": grid}) for v in xs])
    exact = torch.logsumexp(joint, 1) + math.log(16 / 4000)
    torch.manual_seed(1)
    lower, ll = importance_sampled(rt, g, {"x": xs}, k=20000)
    torch.testing.assert_close(ll, exact, atol=0.03, rtol=0.0)
    assert bool((lower < ll).all())
    lines = {label: v for label, v, _ in report(rt, g, {"x": xs}, 200)}
    assert lines["test bits/dim convention"] == "−log₂ P of the discrete values per dimension (x: discrete, binary)"
    ll200 = lines["test log-likelihood (importance-sampled, k=200)"]
    assert lines["test NLL per dimension (importance-sampled)"] == pytest.approx(-ll200 / 3 / math.log(2))


def test_evaluate_prints_every_estimate_with_its_standard_error(tmp_path, capsys):
    t = four_point_vae(steps=50)
    gm.save(t.graph, tmp_path / "vae4.json")
    t.save(tmp_path / "checkpoint.pt")
    assert main(["evaluate", str(tmp_path / "vae4.json"), "--checkpoint", str(tmp_path / "checkpoint.pt"),
                 "--k", "30"]) == 0
    out, err = capsys.readouterr()
    values = _values(out)
    assert "one standard error of the mean over the" in err
    split = out.split(" ", 1)[0]  # ("test", or "train" where the file holds no test split)
    lower = values[f"{split} bound (ELBO, mean over k=30 samples)"]
    ll = values[f"{split} log-likelihood (importance-sampled, k=30)"]
    (b, b_se), (v, v_se) = estimate(lower), estimate(ll)
    assert b <= v < 0 and 0 < b_se < 1 and 0 < v_se < 1
    bits = values[f"{split} NLL per dimension (importance-sampled)"]
    assert estimate(bits)[0] == pytest.approx(-v / 4 / math.log(2), abs=1e-3)


def test_a_flow_reports_bits_of_a_density_and_says_so():
    g = load_example("realnvp").build()
    t = Trainer(g, config={**CPU, "steps": 1})
    lines = {label: v for label, v, _ in report(t.runtime, g, t.test_data, 1)}
    nll = lines["test NLL"]
    assert isinstance(nll, Estimate) and nll.se > 0
    assert lines["test NLL per dimension"] == pytest.approx(nll / 2 / math.log(2))
    assert lines["test bits/dim convention"].startswith("−log₂ of a density per dimension (")
    assert "not comparable" in lines["test bits/dim convention"]
