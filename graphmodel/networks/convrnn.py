"""Convolutional recurrent cells (ConvGRU, ConvLSTM; Shi et al. 2015): spatial states.

A ConvGRU's state is a feature map ``(C, H, W)``; a ConvLSTM's is h and c stacked,
``(2, C, H, W)`` — the same one-variable design as the vector cells (``recurrent.py``).
The other parents are read onto the state's grid as ``maps.MapReader`` reads them: images of
the state's height and width (or an integer multiple of it, folded by space-to-depth) and
other cells' states (their h) concatenated on channels, anything else (vectors, classes)
flattened and broadcast over every pixel. Each gate is one convolution with "same" padding
over ``[inputs, state]``, so the kernel size is odd. A cell without its previous step among
its parents starts from a zero state (a boundary factor at t = 0).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GraphModelError
from ..options import Option
from ._fastcall import call
from .base import BIAS, NETWORKS, NetSpec, NetworkType, off_default
from .maps import MapReader, gather
from .recurrent import split_state

KERNEL = Option("kernel_size", "int", 3, "side of each gate's square kernel (odd: 'same' padding)",
                choices=(1, 3, 5, 7))


class _ConvCell(nn.Module):
    """The common part: gather the other parents into ``(batch, C_in, H, W)`` beside the state.

    Without its own previous step among the parents a cell starts from a zero state: the
    boundary factor at t = 0 of DRAW's and GQN's cores, whose first step reads no earlier one.
    """

    def __init__(self, inputs, heads, kind: str, state_nd: int):
        super().__init__()
        words = "(C, H, W)" if state_nd == 3 else "(2, C, H, W)"
        states = [k for k, i in enumerate(inputs) if i.is_state]
        if states:
            self.state_index, _ = split_state(inputs, heads, f"a {kind}", words)
        else:
            self.state_index = None
            if not inputs:
                raise GraphModelError(f"a {kind} needs at least one parent besides its previous state")
        shape = heads[0].shape
        if len(shape) != state_nd or (state_nd == 4 and shape[0] != 2):
            raise GraphModelError(f"a {kind}'s target must be shaped {words}, found {list(shape)}")
        self.state_shape, (self.H, self.W) = shape, shape[-2:]
        self.reader = MapReader(inputs, self.H, self.W, skip=states)
        self.in_channels = self.reader.channels

    def _inputs(self, xs):
        """``(x, state, batch)``: x ``(n, C_in, H, W)`` and the state ``(n, *state)`` (None: zeros)."""
        feats = self.reader.feats(xs)
        if self.state_index is None:
            x, batch = gather(feats)
            return x, None, batch
        s = xs[self.state_index]
        batch = s.shape[: s.dim() - len(self.state_shape)]
        x, batch = gather(feats, batch)
        return x, s.expand(*batch, *self.state_shape).reshape(-1, *self.state_shape), batch


class ConvGRUNet(_ConvCell):
    """``h[t] = ConvGRU(h[t-1], other parents)`` over a state ``(C, H, W)``."""

    def __init__(self, inputs, heads, kernel_size=3, bias=True):
        super().__init__(inputs, heads, "ConvGRU", 3)
        c, pad = self.state_shape[0], kernel_size // 2
        self.gates = nn.Conv2d(self.in_channels + c, 2 * c, kernel_size, padding=pad, bias=bias)
        self.candidate = nn.Conv2d(self.in_channels + c, c, kernel_size, padding=pad, bias=bias)

    def forward(self, *xs):
        x, h, batch = self._inputs(xs)
        if h is None:
            h = x.new_zeros(x.shape[0], *self.state_shape)
        r, z = torch.sigmoid(self.gates(torch.cat((x, h), dim=1))).chunk(2, dim=1)
        n = torch.tanh(self.candidate(torch.cat((x, r * h), dim=1)))
        return (((1 - z) * n + z * h).reshape(*batch, *self.state_shape),)


class ConvLSTMNet(_ConvCell):
    """``(h, c)[t] = ConvLSTM((h, c)[t-1], other parents)`` over a state ``(2, C, H, W)``."""

    def __init__(self, inputs, heads, kernel_size=3, bias=True):
        super().__init__(inputs, heads, "ConvLSTM", 4)
        c = self.state_shape[1]
        self.gates = nn.Conv2d(self.in_channels + c, 4 * c, kernel_size, padding=kernel_size // 2, bias=bias)

    def forward(self, *xs):
        x, s, batch = self._inputs(xs)
        if s is None:  # the first step: h and c are zero, so only the input's half of the gates acts
            i, f, o, g = call(self.gates, torch.cat((x, x.new_zeros(x.shape[0], self.state_shape[1], self.H, self.W)),
                                                     dim=1)).chunk(4, dim=1)
            c = torch.sigmoid(i) * torch.tanh(g)
        else:
            h, c = s[:, 0], s[:, 1]
            i, f, o, g = call(self.gates, torch.cat((x, h), dim=1)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return (torch.stack((h, c), dim=1).reshape(*batch, *self.state_shape),)


def _builder(cls):
    return lambda o, inputs, heads, trusted=False: cls(inputs, heads, o["kernel_size"], o["bias"])


def _describe(name: str):
    return lambda o: f"{name} {o.get('kernel_size', KERNEL.default)}×{o.get('kernel_size', KERNEL.default)}"


def _maps(k: int):
    """The inputs broadcast over the map, and ``k`` state-sized maps of gates."""
    def count(o, inputs, heads):
        state = sum(h.numel for h in heads)
        hw = heads[0].shape[-2] * heads[0].shape[-1] if heads and len(heads[0].shape) >= 2 else 1
        return sum(i.width if len(i.shape) == 3 else i.width * hw for i in inputs) + k * state
    return count


NETWORKS.register("ConvGRU", NetworkType("ConvGRU", build=_builder(ConvGRUNet), describe=_describe("ConvGRU"),
                                         options=(KERNEL, BIAS), activations=_maps(8)))
NETWORKS.register("ConvLSTM", NetworkType("ConvLSTM", build=_builder(ConvLSTMNet), describe=_describe("ConvLSTM"),
                                          options=(KERNEL, BIAS), activations=_maps(6)))


def ConvGRU(kernel_size: int = 3, bias: bool = True) -> NetSpec:
    """A convolutional GRU cell: the target ``(C, H, W)`` given its ``.prev`` and other parents."""
    return NetSpec("ConvGRU", off_default((KERNEL, kernel_size), (BIAS, bias)))


def ConvLSTM(kernel_size: int = 3, bias: bool = True) -> NetSpec:
    """A convolutional LSTM cell: the target ``(2, C, H, W)`` (h and c) given its ``.prev`` and others."""
    return NetSpec("ConvLSTM", off_default((KERNEL, kernel_size), (BIAS, bias)))
