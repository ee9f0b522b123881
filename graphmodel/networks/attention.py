"""DRAW's read and write (Gregor et al. 2015): Gaussian-filterbank attention over an image canvas.

A grid of N×N Gaussian filters is placed on an image ``(C, H, W)`` by five numbers a linear map
reads from a controller (the decoder's state): the centre (g̃x, g̃y), the stride δ̃, the
variance σ² and the intensity γ, each unconstrained (the log of the last three). With A = W and
B = H pixels, ``gx = (A+1)/2·(g̃x+1)``, ``gy = (B+1)/2·(g̃y+1)``, ``δ = (max(A,B)−1)/(N−1)·δ̃``,
and filter i's mean is ``g + (i − N/2 − 1/2)·δ`` (i = 1..N); each filter row is normalized
over the pixels. ``Fy x Fxᵀ`` is an N×N glimpse; ``Fyᵀ w Fx`` places an N×N patch ``w``.

* ``DRAWRead`` reads the image ``x`` and the canvas ``c[t-1]`` (its first two image parents, in
  that order) and returns ``γ·[Fy x Fxᵀ, Fy x̂ Fxᵀ]`` flattened, with the error image
  ``x̂ = x − σ(c[t-1])`` (the canvas holds logits). Without attention it returns ``[x, x̂]``
  (and reads no controller: give it only the image and the canvas).
* ``DRAWWrite`` returns the canvas: ``(1/γ)·Fyᵀ w Fx`` with the patch ``w`` a linear map of the
  controller (without attention, the whole image is that linear map), added to the target's
  previous step when that is a parent (``c = c[t-1] + write(h)``).

The controller is every other parent, flattened; an LSTM's state ``(2, H)`` (h and c stacked,
``recurrent.py``) is read through its h, as DRAW's attention reads ``h_dec``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GraphModelError
from ..options import Option
from ..shapes import broadcast
from ._fastcall import call
from ._state import h_of
from .base import NETWORKS, NetSpec, NetworkType, off_default

ATTENTION = Option("attention", "bool", True, "read/write through an N×N grid of Gaussian filters "
                   "(false: the whole image)")


def _grid(default: int) -> Option:
    return Option("grid", "int", default, "side N of the N×N grid of Gaussian filters", minimum=1, maximum=64)


def _is_lstm_state(spec) -> bool:
    return len(spec.shape) == 2 and spec.shape[0] == 2 and not spec.classes


class _Controller(nn.Module):
    """The parents that steer the attention (an LSTM state through its h), flattened to one vector."""

    def __init__(self, specs, kind: str):
        super().__init__()
        self.lstm = [_is_lstm_state(s) for s in specs]
        self.nds = [len(s.shape) for s in specs]
        self.width = sum(s.shape[1] if lstm else s.width for s, lstm in zip(specs, self.lstm))
        if any(s.classes for s in specs):
            raise GraphModelError(f"{kind}: the controller parents must be real, found classes in "
                                  f"{', '.join(s.name for s in specs if s.classes)}")

    def forward(self, xs, batch, n: int) -> torch.Tensor:
        """``(n, width)``: each parent broadcast to ``batch`` and flattened to ``n = batch.numel()`` rows."""
        parts = []
        for x, lstm, nd in zip(xs, self.lstm, self.nds):
            x = h_of(x, -2) if lstm else x.flatten(-nd) if nd > 1 else x
            if x.dim() != 2 or x.shape[0] != n:  # (one batch dim of n rows already: nothing to do)
                x = x.expand(*batch, x.shape[-1]).reshape(n, -1)
            parts.append(x)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


class Filterbank(nn.Module):
    """The five attention numbers from the controller, and the filterbanks ``Fx (n, N, W)``,
    ``Fy (n, N, H)`` and the intensity ``γ (n, 1, 1, 1)`` they give."""

    def __init__(self, width: int, grid: int, height: int, image_width: int):
        super().__init__()
        self.params = nn.Linear(width, 5)
        self.N, self.H, self.W = grid, height, image_width
        self.register_buffer("offsets", torch.arange(grid, dtype=torch.get_default_dtype()) - grid / 2 + 0.5,
                             persistent=False)
        self.register_buffer("rows", torch.arange(1, height + 1, dtype=torch.get_default_dtype()), persistent=False)
        self.register_buffer("cols", torch.arange(1, image_width + 1, dtype=torch.get_default_dtype()),
                             persistent=False)

    def forward(self, h: torch.Tensor):
        gx, gy, log_var, log_delta, log_gamma = call(self.params, h).unbind(-1)
        gx = (self.W + 1) / 2 * (gx + 1)
        gy = (self.H + 1) / 2 * (gy + 1)
        delta = (max(self.H, self.W) - 1) / max(self.N - 1, 1) * log_delta.exp()
        half_inv_var = 0.5 * (-log_var).exp()
        fx = self._bank(gx, delta, half_inv_var, self.cols)
        fy = self._bank(gy, delta, half_inv_var, self.rows)
        return fx, fy, log_gamma.exp()[:, None, None, None]

    def _bank(self, centre, delta, half_inv_var, pixels):
        mu = centre[:, None] + self.offsets * delta[:, None]  # (n, N)
        e = -(pixels - mu[..., None]).square() * half_inv_var[:, None, None]
        # Weights below e^-60 (1e-26) are exact zeros, not subnormal floats: on a CPU every op that
        # touches a subnormal runs many times slower, and a far pixel's weight otherwise carries
        # them through the glimpse's products and their gradients (a quarter of a step). What
        # they added to any filter is below float32's resolution of its sum.
        f = torch.where(e > -60, e.exp(), 0)
        return f / (f.sum(-1, keepdim=True) + 1e-8)  # each filter sums to one over the pixels


def _images(inputs, kind: str, want: int):
    """The indices of the first ``want`` image parents ``(C, H, W)`` (not the target's own previous
    step), and the rest."""
    imgs = [k for k, i in enumerate(inputs) if len(i.shape) == 3 and not i.classes and not i.is_state]
    if len(imgs) < want or any(inputs[k].shape != inputs[imgs[0]].shape for k in imgs[:want]):
        found = ", ".join(f"{i.name}{list(i.shape)}" for i in inputs)
        need = "the image x and the canvas c[t-1], both (C, H, W)" if want == 2 else "an image"
        raise GraphModelError(f"{kind} needs {need} among its parents, found {found}")
    return imgs[:want], [k for k in range(len(inputs)) if k not in imgs[:want]]


def _batch_of(xs, nds):
    batch = xs[0].shape[: xs[0].dim() - nds[0]]
    for x, nd in zip(xs[1:], nds[1:]):
        b = x.shape[: x.dim() - nd]
        if b != batch:
            batch = broadcast(batch, b)
    return batch


class DRAWReadNet(nn.Module):
    """``r = γ·[Fy x Fxᵀ, Fy x̂ Fxᵀ]`` (or ``[x, x̂]``) flattened, ``x̂ = x − σ(c[t-1])``."""

    def __init__(self, inputs, heads, attention=True, grid=2):
        super().__init__()
        (ix, ic), rest = _images(inputs, "DRAWRead", 2)
        self.ix, self.ic, self.rest = ix, ic, rest
        c, h, w = inputs[ix].shape
        self.image_shape = (c, h, w)
        self.attention = attention
        self.nds = [len(i.shape) for i in inputs]
        width = 2 * c * (grid * grid if attention else h * w)
        if len(heads) != 1 or heads[0].numel != width:
            raise GraphModelError(
                f"DRAWRead of {inputs[ix].name}{list(inputs[ix].shape)} with "
                f"{f'a {grid}×{grid} grid' if attention else 'no attention'} gives {width} values "
                f"(x's glimpse and the error's), found a target shaped {[list(hd.shape) for hd in heads]}")
        self.out_shape = heads[0].shape
        if attention:
            if not rest:
                raise GraphModelError("DRAWRead with attention needs a controller parent (the decoder's "
                                      "state h_dec[t-1]) besides the image and the canvas")
            self.controller = _Controller([inputs[k] for k in rest], "DRAWRead")
            self.bank = Filterbank(self.controller.width, grid, h, w)

    def forward(self, *xs):
        batch = _batch_of(xs, self.nds)
        n = batch.numel()
        x, canvas = xs[self.ix], xs[self.ic]
        err = x - torch.sigmoid(canvas)
        if x.dim() != 4 or err.dim() != 4 or x.shape[0] != n or err.shape[0] != n:  # (else both are (n, C, H, W))
            x = x.expand(*batch, *self.image_shape).reshape(n, *self.image_shape)
            err = err.expand(*batch, *self.image_shape).reshape(n, *self.image_shape)
        if not self.attention:
            return (torch.cat((x.reshape(n, -1), err.reshape(n, -1)), -1).reshape(*batch, *self.out_shape),)
        fx, fy, gamma = self.bank(self.controller([xs[k] for k in self.rest], batch, n))
        both = torch.cat((x, err), 1)  # (n, 2C, H, W): one pair of products for both images
        glimpse = fy[:, None] @ both @ fx[:, None].transpose(-1, -2) * gamma
        return (glimpse.reshape(*batch, *self.out_shape),)


class DRAWWriteNet(nn.Module):
    """``c = c[t-1] + (1/γ)·Fyᵀ w Fx`` (or ``+ W h``), ``w`` an N×N patch linear in the controller."""

    def __init__(self, inputs, heads, attention=True, grid=5):
        super().__init__()
        if len(heads) != 1:
            raise GraphModelError("DRAWWrite gives one value, the canvas")
        shape = heads[0].shape
        states = [k for k, i in enumerate(inputs) if i.is_state]
        self.state = states[0] if states else None
        rest = [k for k in range(len(inputs)) if k != self.state]
        if not rest:
            raise GraphModelError("DRAWWrite needs a controller parent (the decoder's state h_dec)")
        self.rest, self.shape, self.attention = rest, shape, attention
        self.nds = [len(i.shape) for i in inputs]
        self.controller = _Controller([inputs[k] for k in rest], "DRAWWrite")
        if attention:
            if len(shape) != 3:
                raise GraphModelError(f"DRAWWrite with attention writes an image (C, H, W), found a target "
                                      f"shaped {list(shape)}")
            self.patch_shape = (shape[0], grid, grid)
            self.patch = nn.Linear(self.controller.width, shape[0] * grid * grid)
            self.bank = Filterbank(self.controller.width, grid, shape[1], shape[2])
        else:
            self.patch = nn.Linear(self.controller.width, heads[0].numel)

    def forward(self, *xs):
        ctrl_xs = [xs[k] for k in self.rest]
        batch = _batch_of(ctrl_xs, [self.nds[k] for k in self.rest])
        n = batch.numel()
        h = self.controller(ctrl_xs, batch, n)
        w = call(self.patch, h)
        if self.attention:
            fx, fy, gamma = self.bank(h)
            w = fy[:, None].transpose(-1, -2) @ w.reshape(n, *self.patch_shape) @ fx[:, None] / gamma
        out = w.reshape(*batch, *self.shape)
        if self.state is not None:
            out = xs[self.state] + out
        return (out,)


def _activations(o, inputs, heads) -> int:
    """The inputs, the two filterbanks and the heads (an estimate for the memory budget)."""
    imgs = [i for i in inputs if len(i.shape) == 3]
    side = sum(i.shape[1] + i.shape[2] for i in imgs[:1]) or sum(h.shape[-1] + h.shape[-2] for h in heads
                                                                   if len(h.shape) == 3)
    return sum(i.width for i in inputs) + 2 * sum(h.numel for h in heads) + 2 * o["grid"] * side


def _describe(name: str, default: int):
    def text(o):
        if not o.get("attention", True):
            return f"{name} (no attention)"
        n = o.get("grid", default)
        return f"{name} {n}×{n}"
    return text


READ_OPTIONS = (ATTENTION, _grid(2))
WRITE_OPTIONS = (ATTENTION, _grid(5))
NETWORKS.register("DRAWRead", NetworkType(
    "DRAWRead", build=lambda o, inputs, heads, trusted=False: DRAWReadNet(inputs, heads, o["attention"], o["grid"]),
    describe=_describe("read", 2), options=READ_OPTIONS, activations=_activations))
NETWORKS.register("DRAWWrite", NetworkType(
    "DRAWWrite", build=lambda o, inputs, heads, trusted=False: DRAWWriteNet(inputs, heads, o["attention"], o["grid"]),
    describe=_describe("write", 5), options=WRITE_OPTIONS, activations=_activations))


def DRAWRead(attention: bool = True, grid: int = 2) -> NetSpec:
    """DRAW's read: given ``(x, c[t-1], h_dec[t-1])``, x's and the error image's N×N glimpses."""
    return NetSpec("DRAWRead", off_default((ATTENTION, attention), (READ_OPTIONS[1], grid)))


def DRAWWrite(attention: bool = True, grid: int = 5) -> NetSpec:
    """DRAW's write: given ``(c[t-1], h_dec)``, the canvas plus an N×N patch placed by attention."""
    return NetSpec("DRAWWrite", off_default((ATTENTION, attention), (WRITE_OPTIONS[1], grid)))
