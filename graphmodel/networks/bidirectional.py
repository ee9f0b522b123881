"""The bidirectional sequence encoder: a whole sequence plate in, one summary out.

A factor outside a sequence plate whose network is a ``BiRNN`` reads its parents in that
plate whole, ``(batch..., T, *event)``, instead of reducing them step by step; the summary
(the forward direction's state at each sequence's last step and the backward direction's at
its first, concatenated) becomes the heads through one linear map. SketchRNN's encoder
(Ha & Eck 2018) is ``q(z | strokes)`` with such a network.

Sequences of varying length: the engine passes the plate's lengths ``(batch...)`` after the
parents (``None`` when every sequence has all T steps). The forward direction is read at
step ``length - 1``; the backward direction runs forwards over each sequence reversed within
its own length, so it starts at the sequence's true end and never reads the padding. Both
are index arithmetic on the device: no packing, no host read of the lengths.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GraphModelError
from ..options import Option
from ._fastcall import call
from ._fusedrnn import RNNLayer
from .base import BIAS, NETWORKS, Heads, NetSpec, NetworkType, _flatten_inputs, _total, off_default

_CELLS = ("lstm", "gru")
HIDDEN = Option("hidden", "int", 256, "the state size of each direction (the summary has twice as many values)",
                minimum=1, maximum=65536)
CELL = Option("cell", "str", "lstm", "the recurrent cell of both directions", choices=_CELLS)


def reversed_within(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``x`` ``(B, T, D)`` with each sequence's first ``lengths[b]`` steps in reverse order
    (the padding after them stays where it is).

    Example:
        >>> reversed_within(torch.arange(4.).reshape(1, 4, 1), torch.tensor([3]))[0, :, 0]
        tensor([2., 1., 0., 3.])
    """
    if lengths is None:
        return x.flip(1)
    t = torch.arange(x.shape[1], device=x.device)
    n = lengths.reshape(-1, 1).to(t.dtype)
    index = torch.where(t < n, n - 1 - t, t)  # (B, T)
    return x.gather(1, index.unsqueeze(-1).expand(x.shape))


def at_last(y: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``y`` ``(B, T, H)`` at each sequence's last step, ``(B, H)``."""
    if lengths is None:
        return y[:, -1]
    index = (lengths.reshape(-1, 1, 1).to(torch.long) - 1).clamp(min=0).expand(-1, 1, y.shape[-1])
    return y.gather(1, index).squeeze(1)


class BiRNNNet(nn.Module):
    """Two recurrent passes over the parents' whole sequences; a linear map of their summary.

    ``forward(*sequences, lengths=None)``: each parent ``(batch..., T, *event)``, all over the
    same plate; the optional trailing ``lengths`` ``(batch...)`` (what the engine appends).
    """

    def __init__(self, inputs, heads, hidden: int, cell: str, bias: bool = True):
        super().__init__()
        self.inputs = list(inputs)
        if not inputs:
            raise GraphModelError("a BiRNN needs at least one parent sequence as input")
        if any(i.is_state for i in inputs):
            raise GraphModelError("a BiRNN reads whole sequences from outside their plate, not a previous step")
        width = sum(i.width for i in inputs)
        self.forwards = RNNLayer(cell, width, hidden, bias)  # (nn.LSTM's parameters and names)
        self.backwards = RNNLayer(cell, width, hidden, bias)
        self.out = nn.Linear(2 * hidden, _total(heads), bias=bias)
        self.heads = Heads(heads)

    def forward(self, *xs):
        lengths = xs[len(self.inputs)] if len(xs) > len(self.inputs) else None
        # each step flattened per parent: the time dim is one more batch dim to the flattening
        x = _flatten_inputs(self.inputs, xs[: len(self.inputs)])
        batch, steps = x.shape[:-2], x.shape[-2]
        x = x.reshape(-1, steps, x.shape[-1])
        if lengths is not None:
            lengths = lengths.expand(batch).reshape(-1)
        mods = self._modules
        ahead = call(mods["forwards"], x)
        behind = call(mods["backwards"], reversed_within(x, lengths))
        summary = torch.cat((at_last(ahead, lengths), at_last(behind, lengths)), -1)
        y = call(mods["out"], summary)
        return mods["heads"].forward(y.reshape(*batch, y.shape[-1]))


def _build(options, inputs, heads, trusted=False):
    return BiRNNNet(inputs, heads, options["hidden"], options["cell"], options["bias"])


def _activations(o, inputs, heads) -> int:
    """Per step of the sequence: each direction's gates and states (a rough count)."""
    k = 6 if o["cell"] == "lstm" else 4
    return 2 * k * o["hidden"] + sum(i.width for i in inputs)


NETWORKS.register("BiRNN", NetworkType(
    "BiRNN", build=_build, describe=lambda o: f"BiRNN {o.get('cell', 'lstm').upper()} {o.get('hidden', 256)}×2",
    options=(HIDDEN, CELL, BIAS), activations=_activations, whole_sequence=True))


def BiRNN(hidden: int = 256, cell: str = "lstm", bias: bool = True) -> NetSpec:
    """A bidirectional encoder of whole sequences: ``BiRNN(256)`` (an LSTM each way, 256 units).

    Given to a factor outside a sequence plate whose parents lie in it (``q(z | x)`` with
    ``x`` in the plate): it reads each parent's whole sequence, masked to its length.
    """
    return NetSpec("BiRNN", {"hidden": hidden, "cell": cell, **off_default((BIAS, bias))})
