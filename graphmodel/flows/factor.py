"""The flow kind of factor: a base factor's distribution pushed through the flow's layers."""

from __future__ import annotations

from torch import nn
from torch.distributions import TransformedDistribution

from .layers import FlowLayer


class FlowFactorModule(nn.Module):
    """A flow factor: ``forward(*parents)`` is ``TransformedDistribution(base(*parents), steps)``.

    Args:
        base: the factor's own module (family and network: the base distribution), whose
            event is the target's shape.
        layers: the flow's steps, built for that shape (:func:`graphmodel.flows.build_layers`).

    Conditional steps read the same parents as the base. Each call builds fresh transforms (``cache_size=1``): scoring the sample a distribution
    just drew reads each step's cached input instead of inverting it, and nothing is kept
    between calls.
    """

    standard = False  # never the runtime's N(0, I) shortcut: the draw goes through the flow
    deterministic = False

    def __init__(self, base: nn.Module, layers: list[FlowLayer]):
        super().__init__()
        self.base = base
        self.label = base.label
        self.family = base.family  # (the base's: a flow defines no sampling temperature of its own)
        self.event_ndim = base.event_ndim
        self.steps = nn.ModuleList(layers)
        self._steps = tuple(layers)  # a tuple: ModuleList iteration is slow per call

    def forward(self, *parents):
        return TransformedDistribution(self.base.forward(*parents), [s.transform(parents) for s in self._steps],
                                       validate_args=False)
