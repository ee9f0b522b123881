"""Affine autoregressive flow steps on a masked network: MAF and IAF.

Both compute ``(shift, log-scale)`` of each element from the elements before it in the
order, with one pass of a MADE network (:class:`graphmodel.networks.masked.MaskedMLPNet`):

- MAF (Papamakarios et al. 2017) conditions on the *output*: scoring data is one pass
  (``u = (x − m(x))·exp(−s(x))``), drawing a sample takes one pass per element.
- IAF (Kingma et al. 2016) conditions on the *input*: drawing (and scoring that draw, the
  ELBO's need) is one pass (``y = u·exp(s(u)) + m(u)``), scoring other values takes one pass
  per element.

Either direction is exact; only the cost differs. ``log|det ∂y/∂u| = Σ s``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..networks import HeadSpec, InputSpec
from ..networks.masked import MaskedMLPNet
from .layers import FlowLayer


class AffineAutoregressive(FlowLayer):
    """An affine autoregressive step over the flattened event, in the natural order.

    Args:
        event_shape: the target's event shape.
        name: names the step in errors.
        hidden: widths of the masked network's hidden layers.
        conditions_on_output: ``True`` for MAF, ``False`` for IAF.
        context: the parents the masked network also reads (unmasked), as
            :class:`graphmodel.networks.InputSpec`; empty for an unconditional step.
    """

    def __init__(self, event_shape, name, hidden, conditions_on_output: bool, context=()):
        super().__init__(event_shape, name)
        d = self.dim
        self.conditional = bool(context)
        self.net = MaskedMLPNet(InputSpec("x", (d,)), [HeadSpec("shift", (d,)), HeadSpec("log_scale", (d,))],
                                context=list(context), hidden=hidden)
        last = self.net.layers[-1]
        nn.init.zeros_(last.weight)  # the step starts as the identity
        nn.init.zeros_(last.bias)
        self.scale = nn.Parameter(torch.ones(d))
        self.on_output = conditions_on_output

    def _shift_log_scale(self, v, context):
        m, s = self.net(v, *context)
        return m, torch.tanh(s) * self.scale

    def _one_pass(self, u, context):
        m, s = self._shift_log_scale(u, context)
        return u * torch.exp(s) + m, s.sum(-1)

    def _one_pass_inverse(self, y, context):
        m, s = self._shift_log_scale(y, context)
        return (y - m) * torch.exp(-s), s.sum(-1)

    def _sequential(self, given, solve_for_output: bool, context):
        """Fill the unknown side element by element: one network pass per element.

        ``solve_for_output``: find ``y`` with ``y = u·exp(s(y)) + m(y)`` given ``u`` (MAF's
        sampling); otherwise find ``u`` with ``given = u·exp(s(u)) + m(u)`` (IAF's scoring).
        After pass ``i`` the first ``i + 1`` elements are exact, since element ``i`` reads
        only the elements before it.
        """
        out = torch.zeros_like(given)
        for _ in range(self.dim):
            m, s = self._shift_log_scale(out, context)
            out = given * torch.exp(s) + m if solve_for_output else (given - m) * torch.exp(-s)
        m, s = self._shift_log_scale(out, context)
        return out, s.sum(-1)

    def forward(self, x, *context):
        flat = self._flat(x)
        y, ladj = self._sequential(flat, True, context) if self.on_output else self._one_pass(flat, context)
        return self._unflat(y), ladj

    def inverse(self, y, *context):
        flat = self._flat(y)
        x, ladj = self._one_pass_inverse(flat, context) if self.on_output else self._sequential(flat, False, context)
        return self._unflat(x), ladj
