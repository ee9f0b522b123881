"""A mixture of bivariate Normals over pen offsets ``(Δx, Δy)`` (Graves 2013; Ha & Eck 2018, SketchRNN).

Each component has two means, two standard deviations and a correlation ``ρ ∈ (−1, 1)``.
Sampling takes a temperature ``τ`` as SketchRNN does: the mixture logits are divided by
``τ`` and the variances multiplied by ``τ`` (``τ → 0``: the most likely component's mean).
"""

from __future__ import annotations

import math

import torch
from torch import distributions as D
from torch.distributions import constraints
from torch.nn import functional as F

#: ``1 − ρ²`` is kept above this, so that a correlation that rounds to ±1 stays finite
_MIN_ONE_MINUS_RHO2 = 1e-6
_LOG_2PI = math.log(2 * math.pi)


class BivariateNormalMixture(D.Distribution):
    """``M`` bivariate Normal components over the last dimension (of size 2) of the value.

    Args:
        logits: mixture logits, ``(batch..., M)``.
        loc: component means, ``(batch..., M, 2)``.
        scale: component standard deviations (> 0), ``(batch..., M, 2)``.
        corr: component correlations in ``(−1, 1)``, ``(batch..., M)``.
        temperature: the sampling temperature ``τ > 0`` (``log_prob`` ignores it).

    Example:
        >>> d = BivariateNormalMixture(torch.zeros(3), torch.zeros(3, 2), torch.ones(3, 2), torch.zeros(3))
        >>> tuple(d.sample((5,)).shape)
        (5, 2)
    """

    arg_constraints = {"logits": constraints.real, "loc": constraints.real, "scale": constraints.positive,
                       "corr": constraints.interval(-1.0, 1.0)}
    support = constraints.independent(constraints.real, 1)
    has_rsample = False

    def __init__(self, logits, loc, scale, corr, temperature: float = 1.0, validate_args=None):
        batch = torch.broadcast_shapes(logits.shape[:-1], loc.shape[:-2], scale.shape[:-2], corr.shape[:-1])
        m = logits.shape[-1]
        self.logits = logits.expand(batch + (m,))
        self.loc, self.scale = loc.expand(batch + (m, 2)), scale.expand(batch + (m, 2))
        self.corr = corr.expand(batch + (m,))
        self.temperature = float(temperature)
        super().__init__(batch, torch.Size((2,)), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        b = torch.Size(batch_shape)
        return BivariateNormalMixture(self.logits.expand(b + self.logits.shape[-1:]),
                                      self.loc.expand(b + self.loc.shape[-2:]),
                                      self.scale.expand(b + self.scale.shape[-2:]),
                                      self.corr.expand(b + self.corr.shape[-1:]), self.temperature)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        d = (value.unsqueeze(-2) - self.loc) / self.scale  # (..., M, 2)
        dx, dy = d[..., 0], d[..., 1]
        rho = self.corr
        one_minus = (1 - rho.square()).clamp_min(_MIN_ONE_MINUS_RHO2)
        quad = (dx.square() + dy.square() - 2 * rho * dx * dy) / one_minus
        log_norm = -_LOG_2PI - self.scale.log().sum(-1) - 0.5 * one_minus.log()
        return torch.logsumexp(F.log_softmax(self.logits, -1) + log_norm - 0.5 * quad, -1)

    def sample(self, sample_shape=()):
        shape = torch.Size(sample_shape) + self.batch_shape
        tau = self.temperature
        with torch.no_grad():
            logits = (self.logits / tau).expand(shape + self.logits.shape[-1:])
            j = D.Categorical(logits=logits).sample()
            pick = j.reshape(j.shape + (1, 1)).expand(shape + (1, 2))
            loc = self.loc.expand(shape + self.loc.shape[-2:]).gather(-2, pick).squeeze(-2)
            scale = self.scale.expand(shape + self.scale.shape[-2:]).gather(-2, pick).squeeze(-2) * math.sqrt(tau)
            rho = self.corr.expand(shape + self.corr.shape[-1:]).gather(-1, j.unsqueeze(-1)).squeeze(-1)
            e = torch.randn(shape + (2,), dtype=loc.dtype, device=loc.device)
            ex = e[..., 0]
            ey = rho * e[..., 0] + (1 - rho.square()).clamp_min(0).sqrt() * e[..., 1]
            return loc + scale * torch.stack((ex, ey), -1)

    @property
    def mean(self):
        return (self.logits.softmax(-1).unsqueeze(-1) * self.loc).sum(-2)
