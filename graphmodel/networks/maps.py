"""Feature-map networks: parents gathered onto one grid, a "same" convolution, a canvas write.

What a network over feature maps reads, relative to the grid ``(H, W)`` it works on
(:class:`MapReader`, which the convolutional cells use too):

* an image ``(C, H, W)``: its C channels;
* a ConvLSTM's state ``(2, C, H, W)``: its h (``[0]``), as DRAW's and GQN's cores read each
  other and their heads read them;
* an image ``k`` times larger on each side ``(C, kH, kW)``: folded onto the grid by
  space-to-depth (``C·k²`` channels; GQN's inference core reads the query view so — its
  strided convolution is a convolution over these channels);
* anything else (vectors, classes, other shapes): flattened and broadcast over every pixel.

``ConvMap`` is one "same"-padded convolution from the gathered maps to maps of the grid's
size (GQN's prior, posterior and observation heads, η). ``ConvWrite`` adds a transposed
convolution of the maps onto a canvas ``k`` times larger (GQN's ``u ← u + Δ(h)``): with its
own previous step among the parents it adds onto it, without (the first step) it starts
from a blank canvas.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import GraphModelError
from ..options import Option
from ..shapes import broadcast
from ._fastcall import call
from ._state import h_of
from .base import BIAS, NETWORKS, NetSpec, NetworkType, _flatten_inputs, off_default

ODD_KERNEL = Option("kernel_size", "int", 5, "side of the square kernel (odd: 'same' padding)",
                    choices=(1, 3, 5, 7))


class MapReader:
    """Which parents are maps on a grid ``(H, W)`` and how each is read (see the module)."""

    def __init__(self, inputs, H: int, W: int, skip=()):
        self.H, self.W = H, W
        self.maps: list[tuple[int, int]] = []  # (input index, fold factor: 1 same grid, 0 an LSTM state's h)
        vectors = []
        channels = 0
        for k, i in enumerate(inputs):
            if k in skip:
                continue
            s = i.shape
            if i.classes or len(s) not in (3, 4) or (len(s) == 4 and s[0] != 2):
                vectors.append(k)
            elif len(s) == 4 and s[2:] == (H, W):
                self.maps.append((k, 0))
                channels += s[1]
            elif len(s) == 3 and s[1] % H == 0 and s[2] % W == 0 and s[1] // H == s[2] // W:
                f = s[1] // H
                self.maps.append((k, f))
                channels += s[0] * f * f
            else:
                vectors.append(k)
        self.vectors = vectors
        self.vector_specs = [inputs[k] for k in vectors]
        self.channels = channels + sum(i.width for i in self.vector_specs)

    def feats(self, xs) -> list[torch.Tensor]:
        """Each parent as ``(batch..., C, H, W)`` (batches not yet broadcast)."""
        out = []
        for k, f in self.maps:
            x = xs[k]
            if not torch.is_floating_point(x):
                x = x.to(torch.get_default_dtype())
            if f == 0:
                x = h_of(x, -4)
            elif f > 1:
                x = F.pixel_unshuffle(x, f) if x.dim() > 3 else F.pixel_unshuffle(x[None], f)[0]
            out.append(x)
        if self.vectors:
            v = _flatten_inputs(self.vector_specs, tuple(xs[k] for k in self.vectors))
            out.append(v[..., None, None].expand(*v.shape, self.H, self.W))
        return out


def gather(feats: list[torch.Tensor], batch=None) -> tuple[torch.Tensor, tuple]:
    """Concatenate maps on channels as ``(n, C, H, W)``, their batches broadcast to ``batch``
    (with theirs); returns it and the batch."""
    batches = [f.shape[:-3] for f in feats]
    b = batches[0] if batch is None else batch
    if any(x != b for x in batches):
        b = broadcast(*batches, *(() if batch is None else (batch,)))
    x = feats[0] if len(feats) == 1 else torch.cat([f.expand(*b, *f.shape[-3:]) for f in feats], dim=-3)
    return x.expand(*b, *x.shape[-3:]).reshape(-1, *x.shape[-3:]), b


def _grid(heads, kind: str) -> tuple[int, int]:
    shapes = {h.shape[-2:] for h in heads if len(h.shape) == 3}
    if len(shapes) != 1 or any(len(h.shape) != 3 for h in heads):
        raise GraphModelError(f"a {kind}'s outputs must be maps (C, H, W) of one size, found "
                              f"{[list(h.shape) for h in heads]}")
    return shapes.pop()


class ConvMapNet(nn.Module):
    """One "same" convolution from the parents' maps to each head ``(C_h, H, W)``."""

    def __init__(self, inputs, heads, kernel_size=5, bias=True):
        super().__init__()
        H, W = _grid(heads, "ConvMap")
        self.reader = MapReader(inputs, H, W)
        if not self.reader.maps and not self.reader.vectors:
            raise GraphModelError("a ConvMap needs at least one parent")
        self.conv = nn.Conv2d(self.reader.channels, sum(h.shape[0] for h in heads), kernel_size,
                              padding=kernel_size // 2, bias=bias)
        self.splits = [h.shape[0] for h in heads]

    def forward(self, *xs):
        x, batch = gather(self.reader.feats(xs))
        y = call(self.conv, x).reshape(*batch, -1, self.reader.H, self.reader.W)
        return (y,) if len(self.splits) == 1 else tuple(y.split(self.splits, dim=-3))


class ConvWriteNet(nn.Module):
    """``canvas[t] = canvas[t-1] + ConvTranspose(maps)``, the canvas ``k`` times the maps' size."""

    def __init__(self, inputs, heads, bias=True):
        super().__init__()
        if len(heads) != 1 or len(heads[0].shape) != 3:
            raise GraphModelError(f"a ConvWrite's target is a canvas (C, H, W), found {[list(h.shape) for h in heads]}")
        C, H, W = heads[0].shape
        states = [k for k, i in enumerate(inputs) if i.is_state]
        self.prev = states[0] if states else None
        grids = {i.shape[-2:] for k, i in enumerate(inputs) if k != self.prev and len(i.shape) in (3, 4)
                 and not i.classes and H % i.shape[-2] == 0 and W % i.shape[-1] == 0
                 and H // i.shape[-2] == W // i.shape[-1]}
        if len(grids) != 1:
            found = ", ".join(f"{i.name}{list(i.shape)}" for i in inputs)
            raise GraphModelError(f"a ConvWrite needs maps of one size that divides its canvas {[C, H, W]} "
                                  f"evenly, found parents {found}")
        h, w = grids.pop()
        self.reader = MapReader(inputs, h, w, skip=states)
        f = H // h
        self.write = nn.ConvTranspose2d(self.reader.channels, C, f, stride=f, bias=bias)
        self.shape = heads[0].shape

    def forward(self, *xs):
        x, batch = gather(self.reader.feats(xs))
        delta = call(self.write, x).reshape(*batch, *self.shape)
        return (delta if self.prev is None else xs[self.prev] + delta,)


def _map_count(k: int):
    """Values kept per example: the gathered inputs and ``k`` output-sized maps."""
    def count(o, inputs, heads):
        return sum(i.width for i in inputs) + k * sum(h.numel for h in heads)
    return count


NETWORKS.register("ConvMap", NetworkType(
    "ConvMap", build=lambda o, inputs, heads, trusted=False: ConvMapNet(inputs, heads, o["kernel_size"], o["bias"]),
    describe=lambda o: f"ConvMap {o.get('kernel_size', 5)}×{o.get('kernel_size', 5)}",
    options=(ODD_KERNEL, BIAS), activations=_map_count(1)))
NETWORKS.register("ConvWrite", NetworkType(
    "ConvWrite", build=lambda o, inputs, heads, trusted=False: ConvWriteNet(inputs, heads, o["bias"]),
    options=(BIAS,), activations=_map_count(1)))


def ConvMap(kernel_size: int = 5, bias: bool = True) -> NetSpec:
    """One "same" convolution from the parents' maps to maps of the target's size."""
    return NetSpec("ConvMap", off_default((ODD_KERNEL, kernel_size), (BIAS, bias)))


def ConvWrite(bias: bool = True) -> NetSpec:
    """A canvas plus a transposed convolution of smaller maps (its first step: a blank canvas)."""
    return NetSpec("ConvWrite", off_default((BIAS, bias)))


__all__ = ["ConvMap", "ConvMapNet", "ConvWrite", "ConvWriteNet", "MapReader", "gather"]
