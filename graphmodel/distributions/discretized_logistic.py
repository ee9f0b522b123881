"""A mixture of logistics discretized to an image's grey levels (Salimans et al. 2017, PixelCNN++).

Data convention: intensities are grey levels in ``[0, 1]`` (``k / (levels − 1)``), the
project's convention for images (``unit_interval``). Internally they are mapped to
``[−1, 1]``, where the components' locations and scales live, as in PixelCNN++: bin ``k``
covers ``x ± 1/(levels − 1)`` around ``x = 2k/(levels − 1) − 1``; the first bin extends to
−∞ and the last to +∞, so that the bins' probabilities sum to one.
"""

from __future__ import annotations

import math

import torch
from torch import distributions as D
from torch.distributions import constraints
from torch.nn import functional as F

from ..supports import grey_levels

#: below this bin mass, ``log(cdf⁺ − cdf⁻)`` loses its digits; the density at the bin's
#: centre times the bin width is used instead (PixelCNN++'s fallback)
_TINY_MASS = 1e-5


class DiscretizedLogisticMixture(D.Distribution):
    """``K`` logistic components per element, discretized to ``levels`` grey levels in ``[0, 1]``.

    Each element of the value is one intensity with its own mixture: the parameters have
    shape ``(batch..., K)`` and the batch shape is ``batch...`` (wrap it in ``Independent``
    for an image). The components' ``loc`` and ``scale`` are in the ``[−1, 1]`` space.

    Args:
        logits: mixture logits, ``(batch..., K)``.
        loc: component locations in ``[−1, 1]`` space, ``(batch..., K)``.
        scale: component scales (> 0), ``(batch..., K)``.
        levels: number of grey levels (256 for 8-bit images).

    Example:
        >>> d = DiscretizedLogisticMixture(torch.zeros(3), torch.tensor([-0.5, 0.0, 0.5]), torch.ones(3) * 0.1)
        >>> float(d.log_prob(torch.tensor(128 / 255)).exp()) > 0
        True
    """

    arg_constraints = {"logits": constraints.real, "loc": constraints.real, "scale": constraints.positive}
    has_rsample = False

    def __init__(self, logits, loc, scale, levels: int = 256, validate_args=None):
        self.logits, self.loc, self.scale = torch.broadcast_tensors(logits, loc, scale)
        self.levels = int(levels)
        super().__init__(self.logits.shape[:-1], validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return grey_levels(self.levels)

    def expand(self, batch_shape, _instance=None):
        shape = torch.Size(batch_shape) + self.logits.shape[-1:]
        return DiscretizedLogisticMixture(self.logits.expand(shape), self.loc.expand(shape),
                                          self.scale.expand(shape), self.levels)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_bins = _log_bins(value, self.loc, self.scale, self.levels)
        return torch.logsumexp(log_bins + F.log_softmax(self.logits, -1), -1)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            logits = self.logits.expand(shape + self.logits.shape[-1:])
            j = D.Categorical(logits=logits).sample().unsqueeze(-1)
            loc = self.loc.expand_as(logits).gather(-1, j).squeeze(-1)
            scale = self.scale.expand_as(logits).gather(-1, j).squeeze(-1)
            return _quantize(_logistic(loc, scale), self.levels)

    def bin_probs(self) -> torch.Tensor:
        """The probability of every grey level, ``(batch..., levels)`` (for checks and plots)."""
        grid = torch.arange(self.levels, dtype=self.loc.dtype, device=self.loc.device) / (self.levels - 1)
        grid = grid.reshape((self.levels,) + (1,) * len(self.batch_shape))
        return self.log_prob(grid).exp().movedim(0, -1)


def _log_bins(value, loc, scale, levels: int) -> torch.Tensor:
    """``log P(bin of value | component)`` for every component, ``(batch..., K)``.

    ``value`` is ``(batch...)`` in ``[0, 1]``; ``loc`` and ``scale`` are ``(batch..., K)`` in
    the ``[−1, 1]`` space.
    """
    half = 1.0 / (levels - 1)  # half a bin in [−1, 1] space
    k = (value * (levels - 1)).round().unsqueeze(-1)
    centred = (2 * value - 1).unsqueeze(-1) - loc
    plus = (centred + half) / scale
    minus = (centred - half) / scale
    log_cdf_plus = F.logsigmoid(plus)  # the first bin: P(X < x + half)
    log_sf_minus = F.logsigmoid(-minus)  # the last bin: P(X > x − half)
    mass = torch.sigmoid(plus) - torch.sigmoid(minus)
    mid = centred / scale
    log_pdf_mid = mid - scale.log() - 2 * F.softplus(mid)  # the logistic log-density at x
    inner = torch.where(mass > _TINY_MASS, mass.clamp_min(1e-12).log(), log_pdf_mid + math.log(2 * half))
    return torch.where(k <= 0, log_cdf_plus, torch.where(k >= levels - 1, log_sf_minus, inner))


def _logistic(loc, scale) -> torch.Tensor:
    """One draw of Logistic(loc, scale), by the inverse CDF (ends trimmed, as PixelCNN++ does)."""
    u = torch.rand(loc.shape, dtype=loc.dtype, device=loc.device).clamp(1e-5, 1 - 1e-5)
    return loc + scale * (u.log() - (-u).log1p())


def _quantize(x, levels: int) -> torch.Tensor:
    """``x`` in ``[−1, 1]`` (clipped) to the nearest grey level in ``[0, 1]``."""
    return ((x.clamp(-1, 1) + 1) / 2 * (levels - 1)).round() / (levels - 1)
