"""Recurrent cells: a network whose target's previous step is one of its parents (the state)."""

from __future__ import annotations

from torch import nn

from ..errors import GraphModelError
from ..shapes import broadcast
from .base import NETWORKS, NetSpec, NetworkType, _flatten_inputs


class GRUCellNet(nn.Module):
    """``h[t] = GRU(h[t-1], other parents)``: the target's previous step is the state."""

    def __init__(self, inputs, heads):
        super().__init__()
        states = [i for i in inputs if i.is_state]
        if len(states) != 1 or len(heads) != 1 or len(heads[0].shape) != 1 or states[0].shape != heads[0].shape:
            raise GraphModelError(
                "a GRUCell needs one vector target and its own previous step among the parents "
                f"(e.g. h given h[t-1]), found parents {[str(i.name) for i in inputs]}"
            )
        self.state_index = inputs.index(states[0])
        self.others = [i for i in inputs if not i.is_state]
        if not self.others:
            raise GraphModelError("a GRUCell needs at least one parent besides its previous state")
        self.cell = nn.GRUCell(sum(i.width for i in self.others), heads[0].shape[0])

    def forward(self, *xs):
        h = xs[self.state_index]
        x = _flatten_inputs(self.others, tuple(v for k, v in enumerate(xs) if k != self.state_index))
        if x.shape[:-1] != h.shape[:-1]:
            batch = broadcast(x.shape[:-1], h.shape[:-1])
            x, h = x.expand(*batch, x.shape[-1]), h.expand(*batch, h.shape[-1])
        batch = h.shape[:-1]
        return (self.cell(x.reshape(-1, x.shape[-1]), h.reshape(-1, h.shape[-1])).reshape(*batch, -1),)


def _build_gru(options, inputs, heads, trusted=False):
    return GRUCellNet(inputs, heads)




NETWORKS.register("GRUCell", NetworkType("GRUCell", {}, lambda o: [], _build_gru, lambda o: "GRUCell"))


def GRUCell() -> NetSpec:
    return NetSpec("GRUCell", {})
