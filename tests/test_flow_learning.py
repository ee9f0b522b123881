"""The flow examples learn: each trains from its file and must show what it learned.

* ``realnvp`` (two moons) and ``maf`` (ring of eight Gaussians): the exact held-out
  log-likelihood beats, by a wide margin, the best Gaussian (mean and covariance fitted to
  the training data), which is what a flow that learned nothing but an affine map reaches.
* ``realnvp_digits`` (8×8 digits, 17 grey levels, uniformly dequantized): its held-out
  bound is more than a bit per dimension below the uniform distribution over the levels
  (log₂ 17 bits). (It does not beat independent per-pixel histograms of the levels on
  held-out images: ``docs/RESULTS.md``.)
* ``iaf_vae``: its test bound rises far above the bound at initialization, and its
  importance-sampled log-likelihood lies above its bound.

CI sizes (``CI``) keep each test to seconds on an idle core. ``python tests/test_flow_learning.py``
trains at the files' own sizes and prints the numbers ``docs/RESULTS.md`` reports.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time

import pytest
import torch
from conftest import load_example

import graphmodel as gm
from inference.evaluate import bound, log_likelihood
from inference.trainer import Trainer

CI = {"realnvp": 400, "maf": 600, "iaf_vae": 500, "realnvp_digits": 500}
#: nats per point a CI-trained flow must gain over the fitted Gaussian
MARGIN = {"realnvp": 0.8, "maf": 1.5}

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread


def trainer(name: str, steps: int | None = None, dataset: str | None = None, edit=None) -> Trainer:
    """The example trained as its file says, with ``steps`` and the 2-D ``dataset`` overridden
    (and the graph changed by ``edit``)."""
    over = {"device": "cpu", "checkpoint_every": None}
    if steps is not None:
        over.update(steps=steps, epochs=None)
    graph = load_example(name).build()
    if dataset is not None:
        graph.data = {**graph.data, "dataset": dataset}
    if edit is not None:
        graph = edit(graph)
    return Trainer(graph, config=over)


def gaussian_ll(train: torch.Tensor, test: torch.Tensor) -> float:
    """Mean held-out log-likelihood of the Gaussian fitted to ``train`` by maximum likelihood."""
    mean, cov = train.mean(0), torch.cov(train.T, correction=0)
    return torch.distributions.MultivariateNormal(mean, cov).log_prob(test).mean().item()


def density_result(name: str, steps: int | None, dataset: str | None = None) -> dict:
    t = trainer(name, steps, dataset)
    start = time.perf_counter()
    t.run()
    seconds = time.perf_counter() - start
    rt = t.runtime.eval()
    with torch.no_grad():
        ll = rt.p.log_prob({"x": t.test_data["x"]}).mean().item()
    return {"test_ll": ll, "gaussian_ll": gaussian_ll(t.train_data["x"], t.test_data["x"]),
            "steps": t.total_steps, "seconds": seconds}


@pytest.mark.parametrize("name", ["realnvp", "maf"])
def test_flow_density_beats_the_best_gaussian(name):
    r = density_result(name, CI[name])
    assert r["test_ll"] > r["gaussian_ll"] + MARGIN[name], r


class HandRealNVP(torch.nn.Module):
    """``examples/realnvp.py`` written by hand: ActNorm (initialised from the first batch), then
    couplings that alternately transform the second and the first coordinate, each an MLP
    2 → 64 → 64 → (s, t) with ``s = tanh(·)·scale`` and its last layer starting at zero."""

    def __init__(self, pairs: int = 4, hidden: int = 64):
        super().__init__()
        self.log_scale, self.bias = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
        self.nets, self.scales, self.masks = torch.nn.ModuleList(), torch.nn.ParameterList(), []
        for k in range(2 * pairs):
            net = torch.nn.Sequential(torch.nn.Linear(2, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                                      torch.nn.ReLU(), torch.nn.Linear(hidden, 4))
            torch.nn.init.zeros_(net[-1].weight)
            torch.nn.init.zeros_(net[-1].bias)
            self.nets.append(net)
            self.scales.append(torch.nn.Parameter(torch.ones(2)))
            self.masks.append(torch.tensor([1.0, 0.0]) if k % 2 == 0 else torch.tensor([0.0, 1.0]))

    def log_prob(self, x):
        ladj = x.new_zeros(x.shape[0])
        for net, scale, m in reversed(list(zip(self.nets, self.scales, self.masks))):
            s, t = net(x * m).chunk(2, -1)
            s, t = torch.tanh(s) * scale * (1 - m), t * (1 - m)
            x = (x - t) * torch.exp(-s)
            ladj = ladj + s.sum(-1)
        x = (x - self.bias) * torch.exp(-self.log_scale)
        ladj = ladj + self.log_scale.sum()
        return torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(-1) - ladj


def hand_realnvp_result(steps: int, batch_size: int = 256, lr: float = 1e-3, seed: int = 0) -> dict:
    """The hand-written RealNVP on the split the trainer makes of two moons, same budget."""
    t = trainer("realnvp", steps)
    x_train, x_test = t.train_data["x"], t.test_data["x"]
    torch.manual_seed(seed)
    model = HandRealNVP()
    with torch.no_grad():  # ActNorm's data-dependent initialisation, from the first batch
        first = x_train[torch.randperm(len(x_train))[:batch_size]]
        model.bias.copy_(first.mean(0))
        model.log_scale.copy_(first.std(0).log())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    per_epoch = len(x_train) // batch_size
    start = time.perf_counter()
    for step in range(steps):
        if step % per_epoch == 0:
            perm = torch.randperm(len(x_train))
        batch = x_train[perm[(step % per_epoch) * batch_size:(step % per_epoch + 1) * batch_size]]
        loss = -model.log_prob(batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        ll = model.log_prob(x_test).mean().item()
    return {"test_ll": ll, "steps": steps, "seconds": time.perf_counter() - start}


def pixel_histogram_bits(train: torch.Tensor, test: torch.Tensor, levels: int = 17) -> float:
    """Bits per pixel of held-out images under independent per-pixel histograms of the levels."""
    k_train = (train.flatten(1) * (levels - 1)).round().long()
    k_test = (test.flatten(1) * (levels - 1)).round().long()
    counts = torch.ones(k_train.shape[1], levels).scatter_add_(1, k_train.T, torch.ones(k_train.T.shape))
    probs = counts / counts.sum(1, keepdim=True)
    return -probs.log().gather(1, k_test.T).sum(0).mean().item() / (k_test.shape[1] * math.log(2))


def _maf_digits(graph):
    """``realnvp_digits`` with MAF steps (MADE 128, the order reversed between them) for the couplings."""
    flow = []
    for _ in range(4):
        flow += [gm.ActNorm(), gm.MAF(hidden=[128]), gm.Permute(order="reverse")]
    graph.factors[0] = dataclasses.replace(graph.factors[0], flow=tuple(flow))
    graph._changed()
    return graph


def digits_result(steps: int | None, maf: bool = False) -> dict:
    t = trainer("realnvp_digits", steps, edit=_maf_digits if maf else None)
    start = time.perf_counter()
    t.run()
    seconds = time.perf_counter() - start
    torch.manual_seed(0)
    x = t.test_data["x"]
    bits = -bound(t.runtime.eval(), t.graph, t.test_data).mean().item() / (x[0].numel() * math.log(2))
    return {"test_bits_per_dim": bits, "histogram_bits_per_dim": pixel_histogram_bits(t.train_data["x"], x),
            "steps": t.total_steps, "seconds": seconds}


def test_flow_on_dequantized_digits_learns():
    r = digits_result(CI["realnvp_digits"])
    assert r["test_bits_per_dim"] < math.log2(17) - 1, r


def vae_result(name: str, steps: int | None, k: int = 200) -> dict:
    t = trainer(name, steps)
    test = t.test_data
    torch.manual_seed(0)
    with torch.no_grad():
        before = bound(t.runtime.eval(), t.graph, test).mean().item()
    t.runtime.train()
    start = time.perf_counter()
    t.run()
    seconds = time.perf_counter() - start
    rt = t.runtime.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        after = bound(rt, t.graph, test).mean().item()
        ll = log_likelihood(rt, t.graph, test, k=k).mean().item()
    return {"bound_before": before, "test_bound": after, "test_ll": ll, "steps": t.total_steps, "seconds": seconds}


def test_iaf_vae_learns():
    r = vae_result("iaf_vae", CI["iaf_vae"], k=50)
    assert r["test_bound"] > r["bound_before"] + 15, r
    assert r["test_ll"] > r["test_bound"], r


if __name__ == "__main__":  # full-size numbers for docs/RESULTS.md
    torch.set_num_threads(1)
    for arg in sys.argv[1:] or ["realnvp", "maf", "realnvp:ring8", "maf:two_moons", "iaf_vae", "vae"]:
        name, _, dataset = arg.partition(":")
        if name == "hand_realnvp":
            r = hand_realnvp_result(4000)
        elif name in ("realnvp_digits", "maf_digits"):
            r = digits_result(None, maf=name == "maf_digits")
        elif name in ("realnvp", "maf"):
            r = density_result(name, None, dataset or None)
        else:
            r = vae_result(name, None)
        print(arg, {k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}, flush=True)
