"""A categorical over an image's grey levels: value ``v`` in ``[0, 1]`` is class ``round(v·(K−1))``.

The 256-way softmax of PixelRNN/PixelCNN (van den Oord et al. 2016), for data kept as
intensities in ``[0, 1]`` (the project's image convention): the variable stays
``unit_interval``; ``log_prob`` reads the class of each grey level and ``sample`` returns
grey levels, so the same data feeds a Bernoulli, a discretized logistic or this family.
"""

from __future__ import annotations

import torch
from torch import distributions as D
from torch.distributions import constraints
from torch.nn import functional as F

from ..supports import grey_levels


class QuantizedCategorical(D.Distribution):
    """A softmax over ``K = logits.shape[-1]`` grey levels ``0, 1/(K−1), …, 1``.

    Args:
        logits: unnormalized log-probabilities of the levels, ``(batch..., K)``, ``K ≥ 2``.

    Example:
        >>> d = QuantizedCategorical(torch.tensor([0.0, 0.0, 10.0]))
        >>> float(d.sample())
        1.0
    """

    arg_constraints = {"logits": constraints.real}
    has_rsample = False

    def __init__(self, logits, validate_args=None):
        self.logits = logits
        super().__init__(logits.shape[:-1], validate_args=validate_args)

    @property
    def levels(self) -> int:
        return self.logits.shape[-1]

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return grey_levels(self.levels)

    def expand(self, batch_shape, _instance=None):
        return QuantizedCategorical(self.logits.expand(torch.Size(batch_shape) + self.logits.shape[-1:]))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        k = (value * (self.levels - 1)).round().long().clamp(0, self.levels - 1)
        logp = F.log_softmax(self.logits, -1)
        k, logp = torch.broadcast_tensors(k.unsqueeze(-1), logp)
        return logp.gather(-1, k[..., :1]).squeeze(-1)

    def sample(self, sample_shape=()):
        with torch.no_grad():
            k = D.Categorical(logits=self.logits).sample(torch.Size(sample_shape))
            return k.to(self.logits.dtype) / (self.levels - 1)

    @property
    def mean(self):
        grid = torch.linspace(0, 1, self.levels, dtype=self.logits.dtype, device=self.logits.device)
        return (self.logits.softmax(-1) * grid).sum(-1)

    def entropy(self):
        logp = F.log_softmax(self.logits, -1)
        return -(logp.exp() * logp).sum(-1)


@D.register_kl(QuantizedCategorical, QuantizedCategorical)
def _kl_quantized(p: QuantizedCategorical, q: QuantizedCategorical) -> torch.Tensor:
    """``KL[p‖q]`` of two softmaxes over the same levels: ``Σ_k p_k (log p_k − log q_k)``."""
    log_p, log_q = F.log_softmax(p.logits, -1), F.log_softmax(q.logits, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)
