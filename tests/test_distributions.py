"""The distributions of ``graphmodel.distributions`` against direct computations.

The catalogue in ``test_families.py`` runs the generic checks over their families; these
tests check the numbers: bin probabilities against the logistic's CDF and a numerical
integral of its density, the bivariate mixture against torch's ``MultivariateNormal``,
and each sampler's histogram against the probabilities it should follow.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import distributions as D

from graphmodel.distributions import (
    BivariateNormalMixture,
    DiscretizedLogisticMixture,
    DiscretizedLogisticMixtureRGB,
    QuantizedCategorical,
)

F64 = torch.float64


def _dlm(levels=256, scale=(0.05, 0.2, 0.6), loc=(-0.9, 0.1, 1.3)):
    return DiscretizedLogisticMixture(torch.tensor([0.3, -1.0, 0.5], dtype=F64), torch.tensor(loc, dtype=F64),
                                      torch.tensor(scale, dtype=F64), levels=levels)


@pytest.mark.parametrize("levels", [256, 16, 2])
def test_discretized_logistic_bins_sum_to_one(levels):
    probs = _dlm(levels).bin_probs()
    assert probs.shape == (levels,)
    assert (probs > 0).all()
    # bins of mass under 1e-5 take the density × width (the fallback), a relative error of
    # order (width/scale)², so the sum is 1 to well within 1e-6
    torch.testing.assert_close(probs.sum(), torch.tensor(1.0, dtype=F64), atol=1e-6, rtol=0)
    wide = _dlm(levels, scale=(2.0, 3.0, 5.0)).bin_probs()  # no bin under the fallback's threshold
    torch.testing.assert_close(wide.sum(), torch.tensor(1.0, dtype=F64), atol=1e-12, rtol=0)


def _logistic_cdf(x, mu, s):
    return torch.sigmoid((x - mu) / s)


def test_discretized_logistic_edge_bins_reach_infinity():
    levels, half = 256, 1 / 255
    d = DiscretizedLogisticMixture(torch.zeros(1, dtype=F64), torch.tensor([0.95], dtype=F64),
                                   torch.tensor([0.1], dtype=F64), levels)
    mu, s = torch.tensor(0.95, dtype=F64), torch.tensor(0.1, dtype=F64)
    first = d.log_prob(torch.tensor(0.0, dtype=F64)).exp()
    last = d.log_prob(torch.tensor(1.0, dtype=F64)).exp()
    torch.testing.assert_close(first, _logistic_cdf(-1 + half, mu, s))  # P(X < −1 + half)
    torch.testing.assert_close(last, 1 - _logistic_cdf(1 - half, mu, s))  # P(X > 1 − half)
    assert last > 0.3  # the mass beyond 1 piles onto the last level


def test_discretized_logistic_matches_numerical_integration():
    d = _dlm()
    weights = torch.softmax(d.logits, -1)
    half = 1 / 255
    for k in (1, 40, 128, 200, 254):
        x = 2 * k / 255 - 1
        grid = torch.linspace(x - half, x + half, 4001, dtype=F64)
        pdf = sum(w * torch.sigmoid((grid - m) / s) * torch.sigmoid(-(grid - m) / s) / s
                  for w, m, s in zip(weights, d.loc, d.scale))
        integral = torch.trapezoid(pdf, grid)
        got = d.log_prob(torch.tensor(k / 255, dtype=F64)).exp()
        torch.testing.assert_close(got, integral, rtol=1e-6, atol=1e-12)


def test_discretized_logistic_tiny_bin_mass_falls_back_to_the_density():
    loc, scale = torch.tensor([0.0], requires_grad=True), torch.tensor([0.002], requires_grad=True)
    d = DiscretizedLogisticMixture(torch.zeros(1), loc, scale)
    v = torch.tensor(100 / 255)  # 108 scales from the centre: the bin's CDF difference is below float's reach
    lp = d.log_prob(v)
    x = 2 * v - 1
    z = (x - 0.0) / 0.002
    want = z - math.log(0.002) - 2 * torch.nn.functional.softplus(z) + math.log(2 / 255)
    assert torch.isfinite(lp)
    torch.testing.assert_close(lp, want, rtol=1e-5, atol=1e-3)
    lp.backward()
    assert torch.isfinite(loc.grad).all() and torch.isfinite(scale.grad).all()


def test_discretized_logistic_samples_follow_the_bin_probabilities():
    d = _dlm(levels=8, scale=(0.1, 0.3, 0.5), loc=(-0.5, 0.2, 0.9))
    n = 40000
    s = d.sample((n,))
    assert d.support.check(s).all()
    freq = torch.bincount((s * 7).round().long(), minlength=8).double() / n
    assert (freq - d.bin_probs()).abs().max() < 0.012


def test_quantized_categorical_reads_grey_levels_as_classes():
    logits = torch.randn(3, 4, 256)
    d = QuantizedCategorical(logits)
    v = torch.randint(0, 256, (3, 4)).float() / 255
    ref = D.Categorical(logits=logits).log_prob((v * 255).round().long())
    torch.testing.assert_close(d.log_prob(v), ref)
    torch.testing.assert_close(d.mean, (logits.softmax(-1) * torch.linspace(0, 1, 256)).sum(-1))


def test_quantized_categorical_samples_are_grey_levels_with_the_softmax_frequencies():
    logits = torch.tensor([0.0, 1.0, 2.0, -1.0, 0.5])
    d = QuantizedCategorical(logits)
    s = d.sample((40000,))
    assert d.support.check(s).all() and s.min() >= 0 and s.max() <= 1
    freq = torch.bincount((s * 4).round().long(), minlength=5).float() / len(s)
    assert (freq - logits.softmax(-1)).abs().max() < 0.01


def test_quantized_categorical_kl_is_the_categorical_kl():
    p, q = torch.randn(3, 17), torch.randn(3, 17)
    torch.testing.assert_close(D.kl_divergence(QuantizedCategorical(p), QuantizedCategorical(q)),
                               D.kl_divergence(D.Categorical(logits=p), D.Categorical(logits=q)))


def _bivariate_params(batch=(4,), m=3):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(*batch, m, generator=g), torch.randn(*batch, m, 2, generator=g),
            torch.rand(*batch, m, 2, generator=g) + 0.2, torch.rand(*batch, m, generator=g) * 1.8 - 0.9)


def _torch_mixture(logits, loc, scale, corr, tau=1.0):
    sx, sy = scale[..., 0], scale[..., 1]
    cov = torch.stack((torch.stack((sx * sx, corr * sx * sy), -1), torch.stack((corr * sx * sy, sy * sy), -1)), -2)
    return D.MixtureSameFamily(D.Categorical(logits=logits / tau), D.MultivariateNormal(loc, covariance_matrix=cov * tau))


def test_bivariate_mixture_matches_multivariate_normal_mixture():
    params = _bivariate_params()
    d, ref = BivariateNormalMixture(*params), _torch_mixture(*params)
    v = torch.randn(7, 4, 2) * 2
    torch.testing.assert_close(d.log_prob(v), ref.log_prob(v), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(d.mean, ref.mean)
    assert d.event_shape == (2,) and d.batch_shape == (4,)


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_bivariate_mixture_samples_with_temperature_as_sketch_rnn(tau):
    params = _bivariate_params(batch=(), m=2)
    d = BivariateNormalMixture(*params, temperature=tau)
    s = d.sample((60000,))
    ref = _torch_mixture(*params, tau=tau)  # logits / τ, covariances × τ
    torch.testing.assert_close(s.mean(0), ref.mean, atol=0.03, rtol=0)
    torch.testing.assert_close(torch.cov(s.T), ref.variance.diag_embed() + _off_diag(ref), atol=0.05, rtol=0)


def _off_diag(mix: D.MixtureSameFamily) -> torch.Tensor:
    """The mixture's covariance minus its diagonal (law of total covariance)."""
    w = mix.mixture_distribution.probs
    mu, cov = mix.component_distribution.mean, mix.component_distribution.covariance_matrix
    m = (w[:, None] * mu).sum(0)
    total = (w[:, None, None] * (cov + (mu - m)[:, :, None] * (mu - m)[:, None, :])).sum(0)
    return total - total.diag().diag_embed()


def test_bivariate_mixture_at_low_temperature_picks_the_likeliest_mean():
    logits, loc, scale, corr = torch.tensor([2.0, 0.0]), torch.tensor([[1.0, -1.0], [5.0, 5.0]]), \
        torch.ones(2, 2), torch.tensor([0.9, 0.0])
    s = BivariateNormalMixture(logits, loc, scale, corr, temperature=0.01).sample((2000,))
    assert (s - loc[0]).abs().max() < 0.5


def _rgb_pixel(levels=4, k=3):
    g = torch.Generator().manual_seed(1)
    shape = (3, 1, 1, k)
    return DiscretizedLogisticMixtureRGB(torch.randn(1, 1, k, generator=g, dtype=F64),
                                         torch.randn(*shape, generator=g, dtype=F64) * 0.5,
                                         torch.rand(*shape, generator=g, dtype=F64) * 0.4 + 0.1,
                                         torch.rand(*shape, generator=g, dtype=F64) * 1.8 - 0.9, levels=levels)


def _all_pixels(levels):
    grid = torch.tensor(list(itertools.product(range(levels), repeat=3)), dtype=F64) / (levels - 1)
    return grid.reshape(-1, 3, 1, 1)


def test_rgb_mixture_sums_to_one_over_every_colour_and_couples_the_channels():
    d = _rgb_pixel()
    v = _all_pixels(4)
    torch.testing.assert_close(d.log_prob(v).exp().sum(), torch.tensor(1.0, dtype=F64), atol=1e-9, rtol=0)
    # by hand: one component for the pixel, green's mean shifted by α·r, blue's by β·r + γ·g
    x = v[7]
    r, g = 2 * x[0, 0, 0] - 1, 2 * x[1, 0, 0] - 1
    a, b, c = d.coeffs[0, 0, 0], d.coeffs[1, 0, 0], d.coeffs[2, 0, 0]
    means = torch.stack((d.loc[0, 0, 0], d.loc[1, 0, 0] + a * r, d.loc[2, 0, 0] + b * r + c * g))
    log_comp = torch.stack([
        sum(DiscretizedLogisticMixture(torch.zeros(1, dtype=F64), means[ch, j:j + 1], d.scale[ch, 0, 0, j:j + 1], 4)
            .log_prob(x[ch, 0, 0]) for ch in range(3)) for j in range(3)])
    want = torch.logsumexp(log_comp + torch.log_softmax(d.logits[0, 0], -1), 0)
    torch.testing.assert_close(d.log_prob(x), want)


def test_rgb_mixture_samples_follow_its_probabilities():
    d = _rgb_pixel(levels=3)
    n = 40000
    s = d.sample((n,))
    assert s.shape == (n, 3, 1, 1) and d.support.check(s).all()
    index = ((s[:, :, 0, 0] * 2).round().long() * torch.tensor([9, 3, 1])).sum(-1)
    freq = torch.bincount(index, minlength=27).double() / n
    assert (freq - d.log_prob(_all_pixels(3)).exp()).abs().max() < 0.012
