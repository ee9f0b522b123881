"""GQN's representation networks (Eslami et al. 2018): the tower and the pool.

Each reads one view — an image ``(3, S, S)`` and the camera's pose (a vector, or any other
parents, broadcast over the map) — and returns that view's contribution to the scene's
representation; the factor sums them over the views' plate (``reduce="sum"``), so that
``r = Σᵢ f(xᵢ, vᵢ)`` whatever the number of views.

* ``GQNTower``: two stride-2 convolutions take the image to a quarter of its side, with a
  residual 3×3 block at each scale; the pose joins at the quarter scale; a 1×1 convolution
  gives ``r`` as a map ``(C_r, S/4, S/4)`` — the target's shape says ``C_r``.
* ``GQNPool``: the tower's layers, then the mean over the map: ``r`` is a vector ``(C_r,)``
  (or ``(C_r, 1, 1)``), which the generator's cells broadcast over every pixel.

``channels`` is the width of the convolutions (256 in the paper; a CPU trains 32 to 64).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import GraphModelError
from ..options import Option
from ._fastcall import call
from .base import NETWORKS, NetSpec, NetworkType, _flatten_inputs, off_default

CHANNELS = Option("channels", "int", 64, "width of the tower's convolutions (the paper's is 256)",
                  minimum=2, maximum=1024)


class _Tower(nn.Module):
    """The layers both representation networks share; ``features(*parents)`` is ``(n, C, S/4, S/4)``."""

    def __init__(self, inputs, kind: str, out: int, channels: int):
        super().__init__()
        images = [k for k, i in enumerate(inputs) if len(i.shape) == 3 and not i.classes]
        if len(images) != 1 or inputs[images[0]].shape[1] % 4 or inputs[images[0]].shape[2] % 4:
            found = ", ".join(f"{i.name}{list(i.shape)}" for i in inputs)
            raise GraphModelError(f"a {kind} needs exactly one image (C, H, W) with sides divisible by 4 "
                                  f"among its parents, found {found}")
        self.image = images[0]
        self.others = [k for k in range(len(inputs)) if k != self.image]
        self.other_specs = [inputs[k] for k in self.others]
        c, self.side = inputs[self.image].shape[0], inputs[self.image].shape[1:]
        w, half = channels, max(channels // 2, 1)
        extra = sum(i.width for i in self.other_specs)
        self.down1 = nn.Conv2d(c, w, 2, stride=2)
        self.block1 = nn.Conv2d(w, half, 3, padding=1)
        self.down2 = nn.Conv2d(half, w, 2, stride=2)
        self.skip2 = nn.Conv2d(w, w, 2, stride=2)
        self.block2 = nn.Conv2d(w + extra, half, 3, padding=1)
        self.mix2 = nn.Conv2d(half, w, 3, padding=1)
        self.skip3 = nn.Conv2d(w + extra, w, 3, padding=1)
        self.out = nn.Conv2d(w, out, 1)

    def features(self, xs):
        x = xs[self.image]
        batch = x.shape[:-3]
        if self.others:
            v = _flatten_inputs(self.other_specs, tuple(xs[k] for k in self.others))
            batch = torch.broadcast_shapes(batch, v.shape[:-1])
            x = x.expand(*batch, *x.shape[-3:])
        x = x.reshape(-1, *x.shape[-3:])
        a = F.relu(call(self.down1, x))
        a = F.relu(call(self.down2, F.relu(call(self.block1, a)))) + F.relu(call(self.skip2, a))
        if self.others:
            v = v.expand(*batch, v.shape[-1]).reshape(-1, v.shape[-1], 1, 1)
            a = torch.cat((a, v.expand(-1, -1, *a.shape[-2:])), dim=1)
        a = F.relu(call(self.mix2, F.relu(call(self.block2, a)))) + F.relu(call(self.skip3, a))
        return call(self.out, a), batch


class GQNTowerNet(_Tower):
    """``r_i = tower(x_i, v_i)``, a map ``(C_r, S/4, S/4)`` (one per head: a Normal's loc and scale)."""

    def __init__(self, inputs, heads, channels=64):
        ok = all(len(h.shape) == 3 for h in heads)
        super().__init__(inputs, "GQNTower", sum(h.shape[0] for h in heads) if ok else 1, channels)
        want = (self.side[0] // 4, self.side[1] // 4)
        if not ok or any(h.shape[1:] != want for h in heads):
            raise GraphModelError(f"a GQNTower's target is a map (C, {want[0]}, {want[1]}) (a quarter of the "
                                  f"image's side), found {[list(h.shape) for h in heads]}")
        self.shapes = [h.shape for h in heads]

    def forward(self, *xs):
        r, batch = self.features(xs)
        if len(self.shapes) == 1:
            return (r.reshape(*batch, *self.shapes[0]),)
        return tuple(p.reshape(*batch, *s) for p, s in zip(r.split([s[0] for s in self.shapes], 1), self.shapes))


class GQNPoolNet(_Tower):
    """``r_i = mean over the map of tower(x_i, v_i)``, a vector ``(C_r,)`` (or ``(C_r, 1, 1)``)."""

    def __init__(self, inputs, heads, channels=64):
        if not all(len(h.shape) == 1 or (len(h.shape) == 3 and h.shape[1:] == (1, 1)) for h in heads):
            raise GraphModelError(f"a GQNPool's target is a vector (C,) or (C, 1, 1), found "
                                  f"{[list(h.shape) for h in heads]}")
        super().__init__(inputs, "GQNPool", sum(h.shape[0] for h in heads), channels)
        self.shapes = [h.shape for h in heads]

    def forward(self, *xs):
        r, batch = self.features(xs)
        r = r.mean(dim=(-2, -1))
        if len(self.shapes) == 1:
            return (r.reshape(*batch, *self.shapes[0]),)
        return tuple(p.reshape(*batch, *s) for p, s in zip(r.split([s[0] for s in self.shapes], -1), self.shapes))


def _activations(o, inputs, heads) -> int:
    """Values kept per view: about five maps of ``channels`` at half the side and five at a quarter."""
    side = max((i.shape[1] * i.shape[2] for i in inputs if len(i.shape) == 3), default=1)
    return o["channels"] * side * (5 // 4 + 5 // 16 + 1) + sum(h.numel for h in heads)


for _name, _cls in (("GQNTower", GQNTowerNet), ("GQNPool", GQNPoolNet)):
    NETWORKS.register(_name, NetworkType(
        _name, build=lambda o, inputs, heads, trusted=False, cls=_cls: cls(inputs, heads, o["channels"]),
        describe=lambda o, name=_name: f"{name} {o.get('channels', CHANNELS.default)}",
        options=(CHANNELS,), activations=_activations))


def GQNTower(channels: int = 64) -> NetSpec:
    """GQN's tower representation: one view's image and pose to a map a quarter of its side."""
    return NetSpec("GQNTower", off_default((CHANNELS, channels)))


def GQNPool(channels: int = 64) -> NetSpec:
    """GQN's pool representation: the tower, averaged over the map to a vector."""
    return NetSpec("GQNPool", off_default((CHANNELS, channels)))
