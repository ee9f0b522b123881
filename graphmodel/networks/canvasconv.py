"""Convolutional DRAW's read (Gregor et al. 2016); its write and the 'same' convolution onto
maps are ``maps.ConvWrite`` and ``maps.ConvMap``, which GQN's generator shares.

ConvDRAW runs its encoder and decoder as ConvLSTMs over feature maps smaller than the image
(``convrnn.py``); these networks connect the maps and the image canvas:

* ``ConvRead``: ``[x, x − σ(c[t-1])]`` (its first two image parents, the canvas holding logits)
  through one convolution of kernel and stride s onto the target's map ``(C, h, w)``,
  s = H / h = W / w (patches of the image and of the error, read whole at every step).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GraphModelError
from ._fastcall import call
from .attention import _batch_of, _images
from .base import BIAS, NETWORKS, NetSpec, NetworkType, off_default


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


def _count(o, inputs, heads) -> int:
    return sum(i.width for i in inputs) + 2 * sum(h.numel for h in heads)


NETWORKS.register("ConvRead", NetworkType(
    "ConvRead", build=lambda o, inputs, heads, trusted=False: ConvReadNet(inputs, heads, o["bias"]),
    describe=lambda o: "conv read", options=(BIAS,), activations=_count))


def ConvRead(bias: bool = True) -> NetSpec:
    """ConvDRAW's read: ``(x, c[t-1])`` → a strided convolution of ``[x, x − σ(c[t-1])]``."""
    return NetSpec("ConvRead", off_default((BIAS, bias)))
