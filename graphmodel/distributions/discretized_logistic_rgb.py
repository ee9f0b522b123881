"""PixelCNN++'s discretized logistic mixture over RGB pixels, channels coupled (Salimans et al. 2017).

One mixture component is chosen per pixel for its three channels, and the means of the later
channels depend linearly on the earlier channels' values: ``μ_g = loc_g + α·r`` and
``μ_b = loc_b + β·r + γ·g``. The data convention is that of
:class:`~graphmodel.distributions.DiscretizedLogisticMixture`: grey levels in ``[0, 1]``,
components in the ``[−1, 1]`` space.
"""

from __future__ import annotations

import torch
from torch import distributions as D
from torch.distributions import constraints
from torch.nn import functional as F

from ..supports import grey_levels
from .discretized_logistic import _log_bins, _logistic, _quantize


class DiscretizedLogisticMixtureRGB(D.Distribution):
    """``K`` components per pixel over an image ``(3, H, W)`` whose channels are coupled.

    Args:
        logits: mixture logits per pixel, ``(batch..., H, W, K)``.
        loc: per-channel component locations in ``[−1, 1]`` space, ``(batch..., 3, H, W, K)``.
        scale: per-channel component scales (> 0), ``(batch..., 3, H, W, K)``.
        coeffs: ``α, β, γ`` in ``(−1, 1)`` along the channel dimension, ``(batch..., 3, H, W, K)``.
        levels: number of grey levels.

    The event is the whole image ``(3, H, W)``; ``log_prob`` sums over its pixels.
    """

    arg_constraints = {"logits": constraints.real, "loc": constraints.real, "scale": constraints.positive,
                       "coeffs": constraints.interval(-1.0, 1.0)}
    has_rsample = False

    def __init__(self, logits, loc, scale, coeffs, levels: int = 256, validate_args=None):
        self.logits, self.loc, self.scale, self.coeffs = logits, loc, scale, coeffs
        self.levels = int(levels)
        batch = torch.broadcast_shapes(logits.shape[:-3], loc.shape[:-4], scale.shape[:-4], coeffs.shape[:-4])
        super().__init__(batch, loc.shape[-4:-1], validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=3)
    def support(self):
        return constraints.independent(grey_levels(self.levels), 3)

    def expand(self, batch_shape, _instance=None):
        b = torch.Size(batch_shape)
        return DiscretizedLogisticMixtureRGB(self.logits.expand(b + self.logits.shape[-3:]),
                                             *(t.expand(b + t.shape[-4:]) for t in (self.loc, self.scale, self.coeffs)),
                                             self.levels)

    def _means(self, x) -> torch.Tensor:
        """The channels' component means given the image ``x`` in ``[−1, 1]``: ``(..., 3, H, W, K)``."""
        r, g = x[..., 0, :, :, None], x[..., 1, :, :, None]
        a, b, c = self.coeffs[..., 0, :, :, :], self.coeffs[..., 1, :, :, :], self.coeffs[..., 2, :, :, :]
        loc = self.loc
        return torch.stack((loc[..., 0, :, :, :].expand_as(a * r), loc[..., 1, :, :, :] + a * r,
                            loc[..., 2, :, :, :] + b * r + c * g), -4)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        means = self._means(2 * value - 1)
        per_channel = _log_bins(value, means, self.scale, self.levels)  # (..., 3, H, W, K)
        per_pixel = torch.logsumexp(per_channel.sum(-4) + F.log_softmax(self.logits, -1), -1)
        return per_pixel.sum((-2, -1))

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)  # (..., 3, H, W)
        with torch.no_grad():
            logits = self.logits.expand(shape[:-3] + self.logits.shape[-3:])
            j = D.Categorical(logits=logits).sample()  # (..., H, W)
            pick = j[..., None, :, :, None].expand(shape + (1,))

            def take(t):
                return t.expand(shape + t.shape[-1:]).gather(-1, pick).squeeze(-1)

            loc, scale, coeffs = take(self.loc), take(self.scale), take(self.coeffs)
            r = _quantize(_logistic(loc[..., 0, :, :], scale[..., 0, :, :]), self.levels)
            g_loc = loc[..., 1, :, :] + coeffs[..., 0, :, :] * (2 * r - 1)
            g = _quantize(_logistic(g_loc, scale[..., 1, :, :]), self.levels)
            b_loc = loc[..., 2, :, :] + coeffs[..., 1, :, :] * (2 * r - 1) + coeffs[..., 2, :, :] * (2 * g - 1)
            b = _quantize(_logistic(b_loc, scale[..., 2, :, :]), self.levels)
            return torch.stack((r, g, b), -3)
