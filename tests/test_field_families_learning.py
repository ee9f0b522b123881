"""The field's families learn through the runtime, the derived objective and the trainer.

* grey digits (17 levels, ``binarize: false``) under a VAE whose decoder is a discretized
  logistic mixture or a 17-way quantized categorical: the test bound rises far above its start
  and above the test log-likelihood of the best model without a latent, each pixel's own
  histogram of the training digits.
* pen-offset-like 2-D data from three correlated clusters, fitted by maximum likelihood with a
  bivariate Normal mixture of free parameters: the fitted mixture scores the data far better
  than at its start and close to the generating mixture.
"""

from __future__ import annotations

import pytest
import torch
from torch import distributions as D

import graphmodel as gm
from inference.evaluate import bound
from inference.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: one torch thread

STEPS = 400
GREY = {"dataset": "digits", "options": {"binarize": False}, "bind": {"x": "image"}, "test_fraction": 0.2}


def _grey_vae(family: str, **options) -> gm.Graph:
    x = gm.Variable("x", (64,), support="unit_interval", role="observed")
    z = gm.Variable("z", (8,))
    return gm.Graph(family, p=gm.make_factor(family, x, given=z, net=gm.MLP(64), **options)
                    * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(64)), data=GREY,
                    training={"steps": STEPS, "batch_size": 64, "lr": 0.003})


def _pixel_histograms(train: torch.Tensor, test: torch.Tensor) -> float:
    """Mean test log-likelihood of independent per-pixel 17-level histograms (add-one smoothed)."""
    k_train, k_test = (train * 16).round().long(), (test * 16).round().long()
    counts = torch.stack([torch.bincount(k_train[:, i], minlength=17) for i in range(64)]).float() + 1
    log_p = (counts / counts.sum(-1, keepdim=True)).log()  # (64, 17)
    return log_p.gather(1, k_test.T).sum(0).mean().item()


def _test_bound(t: Trainer) -> float:
    torch.manual_seed(0)
    with torch.no_grad():
        return bound(t.runtime, t.graph, t.test_data).mean().item()


@pytest.mark.parametrize("family, options", [("DiscretizedLogisticMixture", {"components": 3, "levels": 17}),
                                             ("QuantizedCategorical", {"levels": 17})])
def test_grey_digit_decoders_learn(family, options):
    t = Trainer(_grey_vae(family, **options), config={"device": "cpu", "checkpoint_every": None, "seed": 0})
    x = t.test_data["x"]
    assert ((x * 16).round() == x * 16).all() and 0 < x.mean() < 1  # 17 grey levels
    start = _test_bound(t)
    t.run()
    end = _test_bound(t)
    marginal = _pixel_histograms(t.train_data["x"], x)
    print(f"\n{family}: test bound {start:.1f} → {end:.1f} nats (per-pixel histograms {marginal:.1f})")
    # a uniform guess over 17 levels scores 64·log(1/17) ≈ −181 nats
    assert end > start + 30 and end > marginal


def test_bivariate_mixture_fits_correlated_clusters_by_likelihood():
    torch.manual_seed(0)
    truth = D.MixtureSameFamily(
        D.Categorical(logits=torch.tensor([0.0, 0.5, -0.5])),
        D.MultivariateNormal(torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]]),
                             covariance_matrix=torch.tensor([[[0.5, 0.4], [0.4, 0.5]], [[0.3, -0.2], [-0.2, 0.4]],
                                                             [[0.2, 0.0], [0.0, 0.8]]])))
    data = truth.sample((3000,))
    d = gm.Variable("d", (2,), role="observed")
    means = [[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0]]
    g = gm.Graph("pen", p=gm.BivariateNormalMixture(d, components=3, logits=gm.Learn(0.0), loc=gm.Learn(means),
                                                    scale=gm.Learn(1.0), corr=gm.Learn(0.0)),
                 training={"steps": 600, "batch_size": 256, "lr": 0.03})
    t = Trainer(g, data={"d": data}, config={"device": "cpu", "checkpoint_every": None})
    test = t.test_data["d"]
    start = t.runtime.p.log_prob({"d": test}).mean().item()
    t.run()
    with torch.no_grad():
        end = t.runtime.p.log_prob({"d": test}).mean().item()
    best = truth.log_prob(test).mean().item()
    print(f"\nbivariate mixture: test log-likelihood {start:.2f} → {end:.2f} (generating mixture {best:.2f})")
    assert end > start + 0.5 and end > best - 0.05
