"""The identity network: the single parent passed through, reshaped to the single head."""

from __future__ import annotations

from torch import nn

from ..errors import GraphModelError
from .base import NETWORKS, NetSpec, NetworkType


class IdentityNet(nn.Module):
    """Pass the single parent through, reshaped to the single head."""

    def __init__(self, inputs, heads):
        super().__init__()
        if len(inputs) != 1 or len(heads) != 1 or inputs[0].width != heads[0].numel or inputs[0].classes:
            raise GraphModelError(
                "an Identity network needs one parent and one output of the same size, found "
                f"parents {[(i.name, i.shape) for i in inputs]} and outputs {[(h.name, h.shape) for h in heads]}"
            )
        self.in_nd, self.shape = len(inputs[0].shape), heads[0].shape

    def forward(self, x):
        batch = x.shape[: x.dim() - self.in_nd]
        return (x.reshape(*batch, *self.shape),)


def _build_identity(options, inputs, heads, trusted=False):
    return IdentityNet(inputs, heads)


NETWORKS.register("Identity", NetworkType("Identity", build=_build_identity,
                                          activations=lambda o, inputs, heads: 0))


def Identity() -> NetSpec:
    """The single parent as the single head (same size; reshaped)."""
    return NetSpec("Identity", {})
