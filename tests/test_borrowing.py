"""Deterministic variables shared between models, in both directions: p computing a
variable with q's network, and the autoencoder, whose decoder is given q's code z = f(x)."""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F
from conftest import load_example
from test_learning import train_by_hand
from torch import nn

import cli
import graphmodel as gm
from graphmodel.engine import analyze
from inference.evaluate import log_likelihood, report
from inference.objectives import derive, training_loss
from inference.trainer import Trainer

x = gm.Variable("x", (4,), role="observed")
z = gm.Variable("z", (2,))
h = gm.Variable("h", (3,))


def _check(capsys, tmp_path, g):
    path = tmp_path / "g.json"
    gm.save(g, path)
    code = cli.main(["check", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_p_computes_a_deterministic_variable_of_q_with_qs_network(capsys, tmp_path):
    """q defines h = f(z) from its latent; p reads h. p has z too (its prior), so it computes h
    itself with q's network and samples on its own; the ELBO is derived (it was a KeyError)."""
    g = gm.Graph("shared", p=gm.Normal(x, given=h, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MLP(8)) * gm.Deterministic(h, given=z, net=gm.MLP(8)))
    q_h = next(i for i, f in enumerate(g.factors) if f.model == "q" and f.target == "h")
    assert g.problems() == [] and q_h in analyze(g).members["p"]
    assert gm.ancestral_order(g, "p") == ["z", "h", "x"] and gm.model_inputs(g, "p") == []
    assert str(derive(g)) == "E_q(h,z|x)[log p(x|h)] − KL[q(z|x)‖p(z)]"
    net = g.build()
    s = net.p.sample(5)
    f_h = net.factor_modules[q_h]
    torch.testing.assert_close(s["h"], f_h(s["z"]).mean)  # q's network, on p's own z
    loss = training_loss(g)
    value = loss(net, {"x": torch.randn(7, 4)})
    assert torch.isfinite(value.total)
    value.total.backward()
    assert all(p.grad is not None for p in f_h.parameters())
    code, out, err = _check(capsys, tmp_path, g)
    assert code == 0 and err == ""
    assert "  computes h with q's deterministic factor q(h|z) (borrowed: one network for both models)" in out


def test_a_cycle_through_latents_is_reported_in_one_line(capsys, tmp_path):
    """p(z|h) with q's h = f(z): p would read a function of its own sample. That cycle is the
    user's, and check says so in one line (naming the borrowed variable), without a traceback."""
    g = gm.Graph("loop", p=gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, given=h, net=gm.MLP(8)),
                 q=gm.Normal(z, given=x, net=gm.MLP(8)) * gm.Deterministic(h, given=z, net=gm.MLP(8)))
    code, out, err = _check(capsys, tmp_path, g)
    assert code == 1 and out == "" and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and "model 'p' has a cycle: " in lines[0]
    assert "(through 'h', which 'p' borrows from q(h|z))" in lines[0]


def test_the_autoencoder_is_a_decoder_given_qs_code(capsys, tmp_path):
    g = load_example("autoencoder").build()
    assert g.problems() == []  # not "model 'p' has a cycle: x → z → x"
    assert gm.model_inputs(g, "p") == ["z"] and gm.ancestral_order(g, "p") == ["x"]
    assert all(g.factors[i].model == "p" for i in analyze(g).members["p"])  # nothing borrowed
    assert str(derive(g)) == "E_q(z|x)[log p(x|z)]"
    code, out, err = _check(capsys, tmp_path, g)
    assert code == 0 and err == ""
    assert ("  reads z from q(z|x), a function of the data 'p' generates (borrowing it would close a cycle): "
            "'p' decodes q's codes and cannot be sampled on its own") in out.splitlines()
    assert "objective: E_q(z|x)[log p(x|z)]" in out
    assert ("  q(z|x) is deterministic, a point z = f(x): the objective is the reconstruction log p(x|z) at that "
            "point (nothing is sampled, so there is no KL)") in out.splitlines()


class HandAutoencoder(nn.Module):
    """The autoencoder of ``examples/autoencoder.py`` in plain PyTorch: one-hidden-layer ReLU
    MLPs, an 8-D code, Bernoulli logits."""

    def __init__(self, x_dim: int = 64, z_dim: int = 8, hidden: int = 128):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(x_dim, hidden), nn.ReLU(), nn.Linear(hidden, z_dim))
        self.dec = nn.Sequential(nn.Linear(z_dim, hidden), nn.ReLU(), nn.Linear(hidden, x_dim))

    def log_density(self, x):
        """``log p(x|z=f(x))`` per example."""
        return -F.binary_cross_entropy_with_logits(self.dec(self.enc(x)), x, reduction="none").sum(-1)


def train_hand(x_train, steps: int, batch_size: int, lr: float, seed: int) -> HandAutoencoder:
    return train_by_hand(HandAutoencoder, HandAutoencoder.log_density, x_train, steps, batch_size, lr, seed)


def measure(steps: int, seed: int = 0):
    """Train the example and the hand-written autoencoder alike; their test numbers."""
    g = load_example("autoencoder").build()
    trainer = Trainer(g, config={"steps": steps, "log_every": 50, "seed": seed})
    losses, warnings = [], []
    trainer.subscribe(lambda e: losses.append(e.loss) if type(e).__name__ == "StepMetrics" else None)
    trainer.subscribe(lambda e: warnings.append(e) if type(e).__name__ == "TrainWarning" else None)
    trainer.run()
    x_test, x_train = trainer.test_data["x"], trainer.train_data["x"]
    net = trainer.runtime
    hand = train_hand(x_train, steps, trainer.config.batch_size, trainer.config.lr, seed)
    with torch.no_grad():
        code = net.q.trace({"x": x_test}).values["z"]
        recon = net.p.trace({"x": x_test, "z": code}).dists["p(x|z)"].mean
        out = {"steps": steps, "seed": seed,
               "ours: test log p(x|z=f(x))": float(-training_loss(g)(net, {"x": x_test}).total),
               "hand-written: test log p(x|z=f(x))": float(hand.log_density(x_test).mean()),
               "ours: squared error per pixel": float(((recon - x_test) ** 2).mean()),
               "hand-written: squared error per pixel": float(((torch.sigmoid(hand.dec(hand.enc(x_test)))
                                                                - x_test) ** 2).mean()),
               "mean training image: squared error per pixel": float(((x_train.mean(0) - x_test) ** 2).mean())}
    return out, trainer, losses, warnings


def test_the_autoencoder_learns_to_reconstruct_digits(one_thread):
    numbers, trainer, losses, warnings = measure(600)
    assert losses[-1] < 0.5 * losses[0], losses
    error = numbers["ours: squared error per pixel"]
    assert error < 0.5 * numbers["mean training image: squared error per pixel"], numbers
    # as good as the same autoencoder written by hand, trained alike
    assert numbers["ours: test log p(x|z=f(x))"] > numbers["hand-written: test log p(x|z=f(x))"] - 1.0, numbers
    g, net, x_test = trainer.graph, trainer.runtime, trainer.test_data["x"]
    # its samples are reconstructions: the decoder given q's codes of data
    assert warnings == [] and trainer.sample(8)["x"].shape == (8, 64)
    lines = dict((label, value) for label, value, _ in report(net, g, {"x": x_test}, k=5))
    assert lines["test reconstruction log-density"] < 0 and lines["test log-likelihood"].startswith(
        "none: model 'p' reads 'z' without a prior over it")
    with pytest.raises(gm.GraphModelError, match="no likelihood to estimate"):
        log_likelihood(net, g, {"x": x_test}, k=5)


if __name__ == "__main__":  # the full-size numbers of docs/RESULTS.md
    torch.set_num_threads(1)
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else load_example("autoencoder").build().training["steps"]
    for seed in (0, 1, 2):
        print(measure(steps, seed)[0], flush=True)
