"""The gmm_prior example learns: its bound improves, and its learned mixture prior explains the
encoded test digits better than a standard Normal does.

``python tests/test_gmm_prior.py [STEPS [SEED]]`` runs the same measurements at the file's own size
(and the VAE of ``examples/vae.json``, the same networks with a N(0, I) prior, for the same
budget) and prints the numbers that ``docs/RESULTS.md`` reports.
"""

from __future__ import annotations

import sys

import pytest
import torch
from conftest import load_example
from torch import distributions as D

from inference.evaluate import bound, log_likelihood
from inference.trainer import Trainer

CI_STEPS = 600

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread


def _trainer(name: str, steps: int, seed: int = 0) -> Trainer:
    over = {"device": "cpu", "checkpoint_every": None, "steps": steps, "epochs": None, "seed": seed}
    return Trainer(load_example(name).build(), config=over)


def _index(graph, model: str, target: str) -> int:
    return next(i for i, f in enumerate(graph.factors) if f.model == model and f.target == target)


def _mean_bound(t: Trainer) -> float:
    torch.manual_seed(0)
    with torch.no_grad():
        return bound(t.runtime, t.graph, t.test_data).mean().item()


def prior_fit(t: Trainer) -> tuple[float, float]:
    """Mean log-density of the encoded test digits (q's means) under the learned prior and
    under N(0, I)."""
    g, rt = t.graph, t.runtime
    with torch.no_grad():
        codes = rt.factor_modules[_index(g, "q", "z")](t.test_data["x"]).mean
        prior = rt.factor_modules[_index(g, "p", "z")]()
        normal = D.Independent(D.Normal(torch.zeros_like(codes), torch.ones_like(codes)), 1)
        return prior.log_prob(codes).mean().item(), normal.log_prob(codes).mean().item()


def measure(steps: int, seed: int = 0, k: int = 200) -> dict:
    t = _trainer("gmm_prior", steps, seed)
    start = _mean_bound(t)
    t.run()
    learned, standard = prior_fit(t)
    out = {"steps": steps, "bound at start": start, "bound": _mean_bound(t),
           "log p(codes), learned prior": learned, "log p(codes), N(0, I)": standard}
    if k:
        torch.manual_seed(0)
        out["test log-likelihood"] = log_likelihood(t.runtime, t.graph, t.test_data, k=k).mean().item()
    return out


def test_mixture_prior_learns_and_fits_the_codes_better_than_a_standard_normal():
    r = measure(CI_STEPS, k=0)
    print("\ngmm_prior, " + ", ".join(f"{k} {v:.2f}" for k, v in r.items() if k != "steps"))
    assert r["bound"] > r["bound at start"] + 10, "the bound must rise well above its start (about −50 nats)"
    assert r["log p(codes), learned prior"] > r["log p(codes), N(0, I)"] + 1.0


def test_the_prior_parameters_are_trained():
    t = _trainer("gmm_prior", 50)
    prior = t.runtime.factor_modules[_index(t.graph, "p", "z")]
    before = {k: v.detach().clone() for k, v in prior.named_parameters()}
    assert set(before) == {"raw_mixture_logits", "raw_loc", "raw_scale"}
    assert before["raw_loc"].shape == (10, 8) and before["raw_mixture_logits"].shape == (10,)
    t.run()
    assert all(not torch.equal(before[k], v) for k, v in prior.named_parameters())


if __name__ == "__main__":
    torch.set_num_threads(1)
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    print("gmm_prior", measure(steps, seed))
    base = _trainer("vae", steps, seed)
    base.run()
    torch.manual_seed(0)
    print("vae (N(0, I) prior)", {"steps": steps, "bound": _mean_bound(base),
                                  "test log-likelihood": log_likelihood(base.runtime, base.graph, base.test_data,
                                                                        k=200).mean().item()})
