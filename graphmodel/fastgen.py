"""Fast sampling of autoregressive factors: each new dimension costs only what it adds.

Naive sampling runs the whole network once per dimension: ``D`` full passes for a sample
of ``D`` dimensions. But an output of a masked network depends only on earlier dimensions,
so what earlier steps computed never changes; a cache keeps it and each step computes just
the new part (the idea of Ramachandran et al. 2017, "Fast Generation for Convolutional
Autoregressive Models"; written here for our own networks):

* :class:`MADECache` (a masked MLP): every unit's pre-activation is a sum over the units
  below it. A unit is *ready* once every target dimension it reads has been drawn (its
  readiness follows from the masks and the order); when the ``r``-th dimension is drawn,
  its input column is added to the first layer, and the units that just became ready pass
  their activations up. Over a whole sample that is one pass's multiply-adds.
* :class:`PixelCNNCache` (a gated PixelCNN): the vertical stack of row ``i`` reads rows
  above only, so it is computed once per row, for the whole row, when the row starts; the
  horizontal stack and the head are computed for one pixel from row buffers of each layer.

A cache computes the same numbers as the full pass (up to the order of floating-point
sums) and the sampler draws each dimension the same way on both paths, so under one seed
the cached and the naive samples are the same (``tests/test_fastgen.py``).
:class:`graphmodel.autoregressive.AutoregressiveDistribution` uses a cache wherever its
network has one (``sample``, ``complete``, so ``graphmodel sample`` and the trainer's
pictures too); :func:`naive` turns caches off (benchmarks, tests). A network type of
one's own registers its cache with :func:`register_cache`.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch.nn import functional as F

from .errors import GraphModelError
from .networks.base import _flatten_inputs
from .networks.masked import MaskedMLPNet
from .networks.pixelcnn import PixelCNNNet, gate

_CACHES: dict[type, Callable] = {}
_state = {"naive": False}


def register_cache(net_type: type, factory: Callable) -> None:
    """Sample networks of ``net_type`` with ``factory(net, x, context, masks, order)``, an
    object with ``next(d)`` (the raw outputs of dimension ``d``: one ``(batch..., *extra)``
    tensor per head) and ``push(d, value)`` (``value``: the drawn ``(batch...)``), called
    in ``order``. It may return ``None`` to sample naively."""
    _CACHES[net_type] = factory


@contextlib.contextmanager
def naive():
    """Within the block, sample with one full network pass per dimension (no cache)."""
    old, _state["naive"] = _state["naive"], True
    try:
        yield
    finally:
        _state["naive"] = old


def cache_for(net, x: torch.Tensor, context: tuple, masks, order: torch.Tensor):
    """The cache to sample ``net`` with (``None``: sample naively).

    Args:
        net: the factor's network.
        x: ``(batch..., *event)``, the target as it starts (known dimensions filled in).
        context: the conditioning parents' values.
        masks: a masked network's masks for this order (``None``: its own).
        order: ``(D,)`` the dimensions in the order they will be pushed.
    """
    factory = None if _state["naive"] else _CACHES.get(type(net))
    return None if factory is None else factory(net, x, context, masks, order)


def _readiness(masks: list[torch.Tensor], ready_in: torch.Tensor) -> list[torch.Tensor]:
    """Per layer, the rank after whose draw each unit is final (−1: from the start)."""
    out, below = [], ready_in
    for m in masks:
        out.append((m * (below + 1).to(m.dtype)).amax(1).long() - 1)
        below = out[-1]
    return out


def _groups(ready: torch.Tensor, ranks: int) -> list[torch.Tensor | None]:
    """Unit indices by readiness: ``groups[r + 1]`` = the units final after rank ``r``."""
    counts = torch.bincount(ready + 1, minlength=ranks + 1).tolist()
    parts = torch.argsort(ready, stable=True).split(counts)
    return [p if len(p) else None for p in parts]


class MADECache:
    """Incremental sampling of a :class:`~graphmodel.networks.masked.MaskedMLPNet`.

    The hidden layers' pre-activations are accumulated (a unit passes its activation up
    once it is final); the outputs of a dimension are computed when it is asked for, from
    the top hidden layer's final units (its mask reads no other).
    """

    def __init__(self, net: MaskedMLPNet, x, context, masks, order):
        layers = list(net.layers)
        masks = [lay.mask for lay in layers] if masks is None else list(masks)
        self.net, self.K = net, net.in_per_dim
        lead = x.shape[: x.dim() - net.target_nd]
        if net.context_specs:
            lead = torch.broadcast_shapes(lead, *(c.shape[: c.dim() - len(s.shape)]
                                                  for c, s in zip(context, net.context_specs)))
        self.lead, n = lead, max(1, lead.numel())
        weights = [lay.weight * m for lay, m in zip(layers, masks)]
        self.first, self.out_w = weights[0], weights[-1]
        D = order.numel()
        ranks = torch.empty_like(order)
        ranks[order] = torch.arange(D, device=order.device)
        ready = _readiness(masks[:-1], ranks.repeat_interleave(self.K) if self.K > 1 else ranks)
        # the hidden units of each layer final after each rank, with the weights from them
        # to the layer above (none for the top layer: its units are read row by row)
        self.steps = [[None if g is None else (g, weights[k + 1][:, g] if k + 1 < len(ready) else None)
                       for g in _groups(ready[k], D)] for k in range(len(ready))]
        self.a = [lay.bias.expand(n, -1).clone() for lay in layers[:-1]]  # hidden pre-activations
        self.top = self.a[-1].new_zeros(self.a[-1].shape)  # the top layer's final activations
        self.out_b = layers[-1].bias
        if net.context_specs:
            c = _flatten_inputs(net.context_specs, context)
            c = c.expand(*lead, c.shape[-1]).reshape(n, -1)
            self.a[0] += F.linear(c, net.context_in.weight)
            self.out_b = self.out_b + F.linear(c, net.context_out.weight)
        self.offsets = [0]
        for size in net.head_sizes:
            self.offsets.append(self.offsets[-1] + size)
        self.extras = [s[net.target_nd:] for s in net.head_shapes]
        self.rank = 0
        self._propagate(0)  # the units that read no target dimension

    def _propagate(self, group: int) -> None:
        act, last = self.net.act, len(self.steps) - 1
        for k, steps in enumerate(self.steps):
            step = steps[group]
            if step is None:
                continue
            units, w = step
            h = act(self.a[k][:, units])
            if k < last:
                self.a[k + 1] += F.linear(h, w)
            else:
                self.top[:, units] = h

    def next(self, d: int) -> tuple[torch.Tensor, ...]:
        out = []
        for k, extra in enumerate(self.extras):
            per = (self.offsets[k + 1] - self.offsets[k]) // self.net.dim
            rows = slice(self.offsets[k] + d * per, self.offsets[k] + (d + 1) * per)
            y = F.linear(self.top, self.out_w[rows], self.out_b[..., rows])
            out.append(y.reshape(*self.lead, *extra))
        return tuple(out)

    def push(self, d: int, value: torch.Tensor) -> None:
        v = value.reshape(-1)
        if self.K > 1:
            cols = self.first[:, d * self.K:(d + 1) * self.K]
            self.a[0] += cols.t()[v.long()]
        else:
            self.a[0] += v.to(self.a[0].dtype)[:, None] * self.first[:, d]
        self.rank += 1
        self._propagate(self.rank)


class PixelCNNCache:
    """Incremental sampling of a :class:`~graphmodel.networks.pixelcnn.PixelCNNNet` in raster
    order: the vertical stack row by row, the horizontal stack and the head pixel by pixel."""

    def __init__(self, net: PixelCNNNet, x, context):
        self.net = net
        self.lead = lead = net._lead(x, context)
        n, C, r = max(1, lead.numel()), net.channels, net.kernel_size // 2
        self.r, self.H, self.W = r, net.height, net.width
        ref = net.head_in.weight
        bias = net.biases(context, lead)
        self.bias = [(None, None)] * len(net.layers) if bias is None else bias
        # the input and each vertical stack, padded as the full pass pads them
        self.xb = ref.new_zeros(n, net.cin, self.H + r, self.W + 2 * r)
        self.vb = [ref.new_zeros(n, C, self.H + r, self.W + 2 * r) for _ in net.layers[:-1]]
        self.hb = [ref.new_zeros(n, C, self.W + r) for _ in net.layers]  # this row of each horizontal stack
        self.link: list[torch.Tensor] = []  # per layer, (W, n, 2C): the vertical stack's link into this row
        self.hw = [(lay.h.weight.flatten(1), lay.h.bias) for lay in net.layers]
        self.rw = [(lay.res.weight[:, :, 0, 0], lay.res.bias) for lay in net.layers]
        self.head = (net.head_in.weight[:, :, 0, 0], net.head_in.bias,
                     net.head_out.weight[:, :, 0, 0], net.head_out.bias)
        self.extras = [s[net.target_nd:] for s in net.head_shapes]
        self.expect = 0

    def _row(self, i: int) -> None:
        """The vertical stacks of row ``i`` (every row above it is drawn)."""
        r, W = self.r, self.W
        src = self.xb[:, :, i:i + r]
        self.link = []
        for k, layer in enumerate(self.net.layers):
            cv, ch = self.bias[k]
            vp = F.conv2d(src, layer.v.weight, layer.v.bias)
            if cv is not None:
                vp = vp + cv
            hp = F.conv2d(vp, layer.link.weight, layer.link.bias)
            if ch is not None:
                hp = hp + ch
            self.link.append(hp[:, :, 0].permute(2, 0, 1))
            if k < len(self.vb):
                self.vb[k][:, :, i + r, r:r + W] = gate(vp)[:, :, 0]
                src = self.vb[k][:, :, i:i + r + 1]

    def next(self, d: int) -> tuple[torch.Tensor, ...]:
        if d != self.expect:
            raise GraphModelError(f"a PixelCNN samples its pixels in raster order: expected pixel "
                                  f"{self.expect}, asked for {d}")
        i, j = divmod(d, self.W)
        if j == 0:
            self._row(i)
        r, h = self.r, None
        for k in range(len(self.hw)):
            src = self.xb[:, :, i + r, j:j + r] if k == 0 else self.hb[k - 1][:, :, j:j + r + 1]
            w, b = self.hw[k]
            hp = F.linear(src.reshape(src.shape[0], -1), w, b) + self.link[k][j]
            out = F.linear(gate(hp), *self.rw[k])
            h = out if k == 0 else self.hb[k - 1][:, :, j + r] + out
            self.hb[k][:, :, j + r] = h
        w1, b1, w2, b2 = self.head
        y = F.linear(torch.relu(F.linear(torch.relu(h), w1, b1)), w2, b2)
        parts = y.split(self.net.per_pixel, dim=1) if len(self.extras) > 1 else (y,)
        return tuple(p.reshape(*self.lead, *e) for p, e in zip(parts, self.extras))

    def push(self, d: int, value: torch.Tensor) -> None:
        i, j = divmod(d, self.W)
        v = value.reshape(-1)
        col = self.xb[:, :, i + self.r, j + self.r]
        if self.net.classes:
            col.zero_().scatter_(1, v.long()[:, None], 1.0)
        else:
            col.copy_(v[:, None])
        self.expect = d + 1


def _pixelcnn_cache(net, x, context, masks, order):
    natural = order.numel() == net.dim and bool((order == torch.arange(net.dim, device=order.device)).all())
    return PixelCNNCache(net, x, context) if natural else None


register_cache(MaskedMLPNet, MADECache)
register_cache(PixelCNNNet, _pixelcnn_cache)
