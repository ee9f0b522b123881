"""Convolutional recurrent cells (ConvGRU, ConvLSTM; Shi et al. 2015): spatial states.

A ConvGRU's state is a feature map ``(C, H, W)``; a ConvLSTM's is h and c stacked,
``(2, C, H, W)`` — the same one-variable design as the vector cells (``recurrent.py``).
The other parents are read onto the state's grid as ``maps.MapReader`` reads them: images of
the state's height and width (or an integer multiple of it, folded by space-to-depth) and
other cells' states (their h) concatenated on channels, anything else (vectors, classes)
flattened and broadcast over every pixel. Each gate is one convolution with "same" padding
over ``[inputs, state]``, so the kernel size is odd.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GraphModelError
from ..options import Option
from ._fastcall import call
from ._state import pack, parts
from .base import BIAS, NETWORKS, NetSpec, NetworkType, off_default
from .maps import MapReader, gather
from .recurrent import split_state

KERNEL = Option("kernel_size", "int", 3, "side of each gate's square kernel (odd: 'same' padding)",
                choices=(1, 3, 5, 7))


class _ConvCell(nn.Module):
    """The common part: gather the other parents into ``(batch, C_in, H, W)`` beside the state."""

    def __init__(self, inputs, heads, kind: str, state_nd: int):
        super().__init__()
        words = "(C, H, W)" if state_nd == 3 else "(2, C, H, W)"
        self.state_index, _ = split_state(inputs, heads, f"a {kind}", words)
        shape = heads[0].shape
        if len(shape) != state_nd or (state_nd == 4 and shape[0] != 2):
            raise GraphModelError(f"a {kind}'s target must be shaped {words}, found {list(shape)}")
        self.state_shape, (self.H, self.W) = shape, shape[-2:]
        self.reader = MapReader(inputs, self.H, self.W, skip=(self.state_index,))
        self.in_channels = self.reader.channels

    def _inputs(self, xs):
        """``(x, state, batch)``: x ``(n, C_in, H, W)`` and the state ``(n, *state)``."""
        s = xs[self.state_index]
        batch = s.shape[: s.dim() - len(self.state_shape)]
        x, batch = gather(self.reader.feats(xs), batch)
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
        h, c = parts(xs[self.state_index], batch, s)
        i, f, o, g = call(self.gates, torch.cat((x, h), dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return (pack(h, c, batch, self.state_shape),)


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
