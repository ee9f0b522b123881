"""Convolutional DRAW's read and write (Gregor et al. 2016), and a 'same' convolution onto maps.

ConvDRAW runs its encoder and decoder as ConvLSTMs over feature maps smaller than the image
(``convrnn.py``); these networks connect the maps and the image canvas:

* ``ConvRead``: ``[x, x − σ(c[t-1])]`` (its first two image parents, the canvas holding logits)
  through one convolution of kernel and stride s onto the target's map ``(C, h, w)``,
  s = H / h = W / w (patches of the image and of the error, read whole at every step).
* ``ConvWrite``: the decoder's map (a ConvLSTM's state ``(2, C, h, w)`` is read through its h;
  a map ``(C, h, w)`` as it is) through one transposed convolution of kernel and stride s onto
  the canvas ``(C_x, H, W)``, added to the target's previous step when that is a parent.
* ``ConvMap``: maps of the heads' size (a ConvLSTM's state as 2C channels) through one
  'same' convolution to each head, a map ``(C_head, h, w)`` — the latent's loc and scale from
  the encoder's state, or a prior's from the decoder's.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GraphModelError
from ..options import Option
from ._fastcall import call
from .attention import _batch_of, _images
from .base import BIAS, NETWORKS, InputSpec, NetSpec, NetworkType, off_default

KERNEL = Option("kernel_size", "int", 3, "side of the square kernel (odd: 'same' padding)", choices=(1, 3, 5, 7))


def _stride(image, target, kind: str) -> int:
    """s with ``image (·, H, W) = s × target (·, h, w)``, else a named error."""
    (big_h, big_w), (h, w) = image.shape[-2:], target[-2:]
    if len(target) != 3 or big_h % h or big_w % w or big_h // h != big_w // w:
        raise GraphModelError(f"{kind} maps {image.name}{list(image.shape)} onto a map (C, h, w) whose sides divide "
                              f"the image's by one stride, found {list(target)}")
    return big_h // h


def _maps(inputs, keep: list[int], h: int, w: int, kind: str) -> int:
    """Channels of the map parents ``keep`` (a stacked state ``(2, C, h, w)`` as 2C), checked."""
    bad = [inputs[k] for k in keep if len(inputs[k].shape) not in (3, 4) or inputs[k].shape[-2:] != (h, w)
           or inputs[k].classes]
    if bad or not keep:
        found = ", ".join(f"{i.name}{list(i.shape)}" for i in (bad or inputs))
        raise GraphModelError(f"{kind} reads feature maps (C, {h}, {w}) or ConvLSTM states (2, C, {h}, {w}), "
                              f"found {found}")
    return sum(inputs[k].width // (h * w) for k in keep)


class ConvReadNet(nn.Module):
    """``conv_s([x, x − σ(c[t-1])])`` onto the target's map."""

    def __init__(self, inputs, heads, bias=True):
        super().__init__()
        (self.ix, self.ic), rest = _images(inputs, "ConvRead", 2)
        if rest or len(heads) != 1:
            raise GraphModelError("ConvRead reads exactly the image x and the canvas c[t-1], and gives one map; "
                                  f"found parents {', '.join(i.name for i in inputs)}")
        image = inputs[self.ix]
        s = _stride(image, heads[0].shape, "ConvRead")
        self.shape, self.image_shape = heads[0].shape, image.shape
        self.nds = [3, 3]
        self.conv = nn.Conv2d(2 * image.shape[0], heads[0].shape[0], s, stride=s, bias=bias)

    def forward(self, *xs):
        x, canvas = xs[self.ix], xs[self.ic]
        batch = _batch_of((x, canvas), self.nds)
        both = torch.cat((x.expand(*batch, *self.image_shape), (x - torch.sigmoid(canvas)).expand(
            *batch, *self.image_shape)), -3)
        return (call(self.conv, both.reshape(-1, *both.shape[-3:])).reshape(*batch, *self.shape),)


class ConvWriteNet(nn.Module):
    """``c[t-1] + deconv_s(h)``: the decoder's map onto the canvas."""

    def __init__(self, inputs, heads, bias=True):
        super().__init__()
        states = [k for k, i in enumerate(inputs) if i.is_state]
        self.state = states[0] if states else None
        rest = [k for k in range(len(inputs)) if k != self.state]
        if len(rest) != 1 or len(heads) != 1:
            raise GraphModelError("ConvWrite reads one decoder map (and the canvas's previous step) and gives the "
                                  f"canvas; found parents {', '.join(i.name for i in inputs)}")
        self.k = rest[0]
        ctrl = inputs[self.k]
        if len(ctrl.shape) not in (3, 4) or ctrl.classes:
            raise GraphModelError(f"ConvWrite reads a map (C, h, w) or a ConvLSTM state (2, C, h, w), found "
                                  f"{ctrl.name}{list(ctrl.shape)}")
        self.lstm = len(ctrl.shape) == 4
        self.ctrl_nd, self.shape = len(ctrl.shape), heads[0].shape
        s = _stride(InputSpec(heads[0].name, heads[0].shape), ctrl.shape[-3:], "ConvWrite")
        self.deconv = nn.ConvTranspose2d(ctrl.shape[-3], heads[0].shape[0], s, stride=s, bias=bias)

    def forward(self, *xs):
        h = xs[self.k]
        if self.lstm:
            h = h.select(-4, 0)
        batch = h.shape[: h.dim() - 3]
        out = call(self.deconv, h.reshape(-1, *h.shape[-3:])).reshape(*batch, *self.shape)
        if self.state is not None:
            out = xs[self.state] + out
        return (out,)


class ConvMapNet(nn.Module):
    """One 'same' convolution from the parents' maps to every head's map."""

    def __init__(self, inputs, heads, kernel_size=3, bias=True):
        super().__init__()
        if any(len(hd.shape) != 3 or hd.shape[1:] != heads[0].shape[1:] for hd in heads):
            raise GraphModelError(f"ConvMap gives maps (C, h, w) of one size, found {[list(hd.shape) for hd in heads]}")
        h, w = heads[0].shape[1:]
        channels = _maps(inputs, list(range(len(inputs))), h, w, "ConvMap")
        self.stacked = [len(i.shape) == 4 for i in inputs]
        self.nds = [len(i.shape) for i in inputs]
        self.sizes, self.shapes = [hd.shape[0] for hd in heads], [hd.shape for hd in heads]
        self.conv = nn.Conv2d(channels, sum(self.sizes), kernel_size, padding=kernel_size // 2, bias=bias)

    def forward(self, *xs):
        batch = _batch_of(xs, self.nds)
        feats = [x.flatten(-4, -3) if four else x for x, four in zip(xs, self.stacked)]
        x = feats[0] if len(feats) == 1 else torch.cat([f.expand(*batch, *f.shape[-3:]) for f in feats], -3)
        y = call(self.conv, x.reshape(-1, *x.shape[-3:]))
        parts = (y,) if len(self.sizes) == 1 else y.split(self.sizes, dim=1)
        return tuple(p.reshape(*batch, *s) for p, s in zip(parts, self.shapes))


def _count(o, inputs, heads) -> int:
    return sum(i.width for i in inputs) + 2 * sum(h.numel for h in heads)


NETWORKS.register("ConvRead", NetworkType(
    "ConvRead", build=lambda o, inputs, heads, trusted=False: ConvReadNet(inputs, heads, o["bias"]),
    describe=lambda o: "conv read", options=(BIAS,), activations=_count))
NETWORKS.register("ConvWrite", NetworkType(
    "ConvWrite", build=lambda o, inputs, heads, trusted=False: ConvWriteNet(inputs, heads, o["bias"]),
    describe=lambda o: "conv write", options=(BIAS,), activations=_count))
NETWORKS.register("ConvMap", NetworkType(
    "ConvMap", build=lambda o, inputs, heads, trusted=False: ConvMapNet(inputs, heads, o["kernel_size"], o["bias"]),
    describe=lambda o: f"conv {o.get('kernel_size', 3)}×{o.get('kernel_size', 3)}", options=(KERNEL, BIAS),
    activations=_count))


def ConvRead(bias: bool = True) -> NetSpec:
    """ConvDRAW's read: ``(x, c[t-1])`` → a strided convolution of ``[x, x − σ(c[t-1])]``."""
    return NetSpec("ConvRead", off_default((BIAS, bias)))


def ConvWrite(bias: bool = True) -> NetSpec:
    """ConvDRAW's write: ``(c[t-1], h_dec)`` → the canvas plus a transposed convolution of h."""
    return NetSpec("ConvWrite", off_default((BIAS, bias)))


def ConvMap(kernel_size: int = 3, bias: bool = True) -> NetSpec:
    """A 'same' convolution from maps (or ConvLSTM states) to each parameter's map."""
    return NetSpec("ConvMap", off_default((KERNEL, kernel_size), (BIAS, bias)))
