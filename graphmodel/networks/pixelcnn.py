"""The gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
Decoders"): an autoregressive network over an image's pixels in raster order.

Two stacks of gated layers, ``tanh(W_f ∗ x + V_f c) ⊙ σ(W_g ∗ x + V_g c)``:

* the **vertical stack** ``V`` sees whole rows *above* a pixel. Layer 0 reads the input
  rows ``i − r … i − 1`` (a ``(r, k)`` kernel, ``r = k // 2``); later layers read their
  predecessor's rows ``i − r … i`` (``(r + 1, k)``). So ``V_l[i]`` depends on input rows
  ``< i`` only, and needs no shift before the horizontal stack reads it.
* the **horizontal stack** ``H`` sees the pixels to the *left* in the same row: layer 0 reads
  the input at columns ``j − r … j − 1`` (mask A: never the pixel itself), later layers read
  ``H_{l−1}`` at ``j − r … j`` (mask B), plus a 1×1 link from the vertical stack's
  pre-activation at the same position, and keep a residual connection.

Together they cover every earlier pixel (no blind spot). A 1×1 head (ReLU, conv, ReLU, conv)
turns ``H_L`` into each pixel's parameters. Other parents (a class label, a code ``z``) are
flattened and mapped linearly to a bias per layer and stack (the conditional PixelCNN).

The target is one channel: ``(H, W)`` or ``(1, H, W)``; a categorical target (grey levels
as classes) is read one-hot. Its order is the raster order, which is the natural order of
the flattened target, so an autoregressive factor samples it with ``order: "natural"``.
:mod:`graphmodel.fastgen` samples it in one pass's work (a cache per row and pixel).

Public names: :class:`PixelCNNNet` (the module), :func:`PixelCNN` (the spec,
``NetSpec("PixelCNN", ...)``) and :data:`PIXELCNN_OPTIONS`.

Example:
    >>> from graphmodel.networks import InputSpec, HeadSpec
    >>> net = PixelCNNNet(InputSpec("x", (1, 6, 6)), [HeadSpec("logits", (1, 6, 6))], channels=4, layers=2)
    >>> net(torch.zeros(2, 1, 6, 6))[0].shape
    torch.Size([2, 1, 6, 6])
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import GraphModelError
from ..options import Option
from .base import NETWORKS, HeadSpec, InputSpec, NetSpec, NetworkType, _flatten_inputs, _one_hot

#: The options of the ``"PixelCNN"`` network type (the typed declaration).
PIXELCNN_OPTIONS = (
    Option("channels", "int", 32, "feature maps of each stack (a gated layer computes twice as many)",
           minimum=1, maximum=4096),
    Option("layers", "int", 5, "gated layers (vertical and horizontal stack each)", minimum=1, maximum=256),
    Option("kernel_size", "int", 5, "an odd kernel width k: the vertical stack reads k columns and k//2 "
           "rows above, the horizontal stack k//2 pixels to the left", choices=(3, 5, 7, 9, 11)),
    Option("head", "int", 64, "width of the 1×1 output head's hidden layer", minimum=1, maximum=4096),
)


def gate(x: torch.Tensor) -> torch.Tensor:
    """``tanh(a) ⊙ σ(b)`` for the two halves ``a, b`` of the channels."""
    a, b = x.chunk(2, 1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One gated layer of both stacks (``first``: mask A, no residual).

    The weights are convolutions; :meth:`forward` runs them over whole images and
    :mod:`graphmodel.fastgen` runs the same weights on one row or one pixel.
    """

    def __init__(self, cin: int, channels: int, k: int, first: bool):
        super().__init__()
        r = k // 2
        self.first, self.r = first, r
        rows, cols = (r, r) if first else (r + 1, r + 1)  # first: strictly above / strictly left
        self.v = nn.Conv2d(cin, 2 * channels, (rows, k))
        self.h = nn.Conv2d(cin, 2 * channels, (1, cols))
        self.link = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.res = nn.Conv2d(channels, channels, 1)

    def forward(self, v: torch.Tensor, h: torch.Tensor, cv=None, ch=None):
        """``(V, H)`` of this layer from the previous one's (the input twice for the first)."""
        r, rows, cols = self.r, v.shape[-2], v.shape[-1]
        vp = F.conv2d(F.pad(v, (r, r, r, 0)), self.v.weight, self.v.bias)[..., :rows, :]
        hp = F.conv2d(F.pad(h, (r, 0, 0, 0)), self.h.weight, self.h.bias)[..., :cols]
        if cv is not None:
            vp = vp + cv
        hp = hp + F.conv2d(vp, self.link.weight, self.link.bias)
        if ch is not None:
            hp = hp + ch
        out = F.conv2d(gate(hp), self.res.weight, self.res.bias)
        return gate(vp), out if self.first else h + out


class PixelCNNNet(nn.Module):
    """A gated PixelCNN: ``forward(x, *context)`` → one tensor per head.

    Args:
        target: the image ``x`` read autoregressively, ``(H, W)`` or ``(1, H, W)``; one-hot
            over its classes when it has some.
        heads: the outputs, each shaped ``(*target, *extra)``: ``prod(extra)`` parameters per
            pixel (Bernoulli logits: none extra; a categorical's logits: ``(K,)``).
        context: conditioning inputs, flattened and mapped to a bias of every gated layer.
        channels, layers, kernel_size, head: see :data:`PIXELCNN_OPTIONS`.
    Returns (forward):
        one tensor per head shaped ``(batch..., *head shape)``; pixel ``(i, j)``'s outputs
        depend only on the pixels before it in raster order, and on the context.
    """

    def __init__(self, target: InputSpec, heads: Sequence[HeadSpec], context: Sequence[InputSpec] = (),
                 channels: int = 32, layers: int = 5, kernel_size: int = 5, head: int = 64):
        super().__init__()
        S = tuple(target.shape)
        if _target_problem(S):
            raise GraphModelError(f"{_target_problem(S)} ('{target.name}')")
        bad = [h for h in heads if tuple(h.shape[: len(S)]) != S]
        if bad or not heads:
            found = ", ".join(f"{h.name}{h.shape}" for h in bad or heads)
            raise GraphModelError(f"a PixelCNN emits parameters per pixel of {target.name}, shaped "
                                  f"({', '.join(map(str, S))}, ...); found outputs {found or 'none'}")
        if kernel_size % 2 == 0:
            raise GraphModelError(f"a PixelCNN's kernel_size must be odd, found {kernel_size}")
        self.shape, self.target_nd, self.classes = S, len(S), target.classes
        self.height, self.width = S[-2], S[-1]
        self.dim = self.height * self.width
        self.cin, self.channels = target.classes or 1, channels
        self.kernel_size = kernel_size
        self.per_pixel = [h.numel // self.dim for h in heads]
        self.head_shapes = [tuple(h.shape) for h in heads]
        self.layers = nn.ModuleList(GatedLayer(self.cin if i == 0 else channels, channels, kernel_size, i == 0)
                                    for i in range(layers))
        self.head_in = nn.Conv2d(channels, head, 1)
        self.head_out = nn.Conv2d(head, sum(self.per_pixel), 1)
        self.context_specs = list(context)
        width = sum(c.width for c in context)
        # one bias per layer and stack, 2·channels each: (vertical, horizontal) × layers
        self.context = nn.Linear(width, layers * 4 * channels) if context else None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The target as the first layer reads it: ``(N, cin, H, W)``, batch dims flattened."""
        x = x.reshape(-1, self.height, self.width)
        if self.classes:
            return _one_hot(x, self.classes).to(self.head_in.weight.dtype).permute(0, 3, 1, 2)
        return x.to(self.head_in.weight.dtype).unsqueeze(1)

    def biases(self, context: tuple, lead) -> list | None:
        """Each layer's conditioning ``(vertical, horizontal)`` biases, ``(N, 2C, 1, 1)`` each."""
        if self.context is None:
            return None
        c = _flatten_inputs(self.context_specs, context)
        n = math.prod(lead)
        b = self.context(c.expand(*lead, c.shape[-1]).reshape(n, -1)).reshape(n, len(self.layers), 2, 2 * self.channels, 1, 1)
        return [(b[:, i, 0], b[:, i, 1]) for i in range(len(self.layers))]

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """The per-pixel parameters from ``H_L``: ReLU, 1×1 conv, ReLU, 1×1 conv."""
        h = F.conv2d(torch.relu(h), self.head_in.weight, self.head_in.bias)
        return F.conv2d(torch.relu(h), self.head_out.weight, self.head_out.bias)

    def split(self, out: torch.Tensor, lead) -> tuple[torch.Tensor, ...]:
        """``(N, E, H, W)`` → one tensor per head, ``(*lead, *head shape)``."""
        parts = out.split(self.per_pixel, dim=1) if len(self.per_pixel) > 1 else (out,)
        return tuple(p.permute(0, 2, 3, 1).reshape(*lead, *s) for p, s in zip(parts, self.head_shapes))

    def forward(self, x: torch.Tensor, *context: torch.Tensor):
        lead = self._lead(x, context)
        x = self.encode(x.expand(*lead, *self.shape))
        bias = self.biases(context, lead)
        v = h = x
        for i, layer in enumerate(self.layers):
            v, h = layer(v, h, *(bias[i] if bias else ()))
        return self.split(self.head(h), lead)

    def _lead(self, x: torch.Tensor, context: tuple) -> torch.Size:
        """The batch dims of the target and the context, broadcast."""
        lead = x.shape[: x.dim() - self.target_nd]
        shapes = [c.shape[: c.dim() - len(s.shape)] for c, s in zip(context, self.context_specs)]
        return torch.broadcast_shapes(lead, *shapes) if shapes else lead


# --- registration and the Python spec --------------------------------------------------

def _target_problem(shape: tuple) -> str | None:
    if len(shape) in (2, 3) and (len(shape) == 2 or shape[0] == 1) and 0 not in shape:
        return None
    return f"a PixelCNN reads a one-channel image, shaped (H, W) or (1, H, W); found {shape}"


_DEFAULTS = {o.name: o.default for o in PIXELCNN_OPTIONS}


def _build(options: dict, inputs: list[InputSpec], heads: list[HeadSpec], trusted: bool = False) -> PixelCNNNet:
    """The registry's builder: ``inputs[0]`` is the target itself (an autoregressive factor
    puts it first), the other inputs are the conditioning parents."""
    if not inputs:
        raise GraphModelError("a PixelCNN reads its target: use it in an autoregressive factor")
    return PixelCNNNet(inputs[0], heads, inputs[1:], options["channels"], options["layers"],
                       options["kernel_size"], options["head"])


def _describe(options: dict) -> str:
    o = {**_DEFAULTS, **options}
    return f"PixelCNN {o['layers']}×{o['channels']} k{o['kernel_size']}"


def _activations(options: dict, inputs: list, heads: list) -> int:
    """Per layer: both stacks' pre-activations (2C each) and gated outputs, the link and the
    residual (about 8C values a pixel); the head's two maps."""
    pixels = math.prod(inputs[0].shape) if inputs else 1
    return pixels * (options["layers"] * 8 * options["channels"] + 2 * options["head"]) + sum(
        h.numel for h in heads)


NETWORKS.register("PixelCNN", NetworkType(
    "PixelCNN", build=_build, describe=_describe, options=PIXELCNN_OPTIONS,
    activations=_activations, reads_target="natural",
    target_problem=_target_problem))


def PixelCNN(channels: int = 32, layers: int = 5, kernel_size: int = 5, head: int = 64) -> NetSpec:
    """A gated PixelCNN for an autoregressive factor over a one-channel image.

    Example:
        >>> PixelCNN(16, layers=3).to_dict()
        {'type': 'PixelCNN', 'channels': 16, 'layers': 3, 'kernel_size': 5, 'head': 64}
    """
    return NetSpec("PixelCNN", {"channels": channels, "layers": layers, "kernel_size": kernel_size, "head": head})
