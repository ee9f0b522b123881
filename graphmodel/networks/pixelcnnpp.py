"""PixelCNN++ (Salimans et al. 2017): an autoregressive image network without a blind spot.

The network reads its target image ``(C, H, W)`` and returns, for every pixel, parameters
that depend only on the pixels before it in raster order. Two streams carry that promise:
``u`` sees the rows above (convolutions padded from the top, "down-shifted"), ``ul`` the rows
above and the pixels to the left in the same row ("down-right-shifted"); both start shifted
by one so that no pixel sees itself. Gated residual blocks (``concat_elu``, a convolution,
dropout, a second convolution, a sigmoid gate) run at ``scales`` resolutions: an up pass
that halves the size by strided shifted convolutions and keeps every block's output, and a
down pass that doubles it by transposed ones, each block reading the kept output of its
mirror image (the shortcuts). Other parents (a class, or ``z`` for a PixelVAE) are
flattened and enter every block through one linear map, added before its gate.

The heads are read off one 1×1 convolution: a parameter shaped ``(C, H, W, *rest)`` (the
discretized logistic mixture's ``(1, H, W, K)``, a Bernoulli's ``(C, H, W)``, a softmax's
``(C, H, W, levels)``) gets ``C · prod(rest)`` output channels. The channels of one pixel
are read together (no coupling between them inside a pixel): a grey image has one channel,
so the order is exact; an RGB image needs the family's own channel coupling
(``DiscretizedLogisticMixture(rgb=True)``), which an autoregressive factor does not take.
The original's weight normalization and its data-dependent initialization are left out
(PyTorch's default initialization trains the sizes a CPU trains).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import GraphModelError
from ..options import Option
from ..shapes import broadcast
from ._fastcall import call
from .base import NETWORKS, HeadSpec, InputSpec, NetSpec, NetworkType, _flatten_inputs

PIXELCNNPP_OPTIONS = (
    Option("filters", "int", 32, "channels of every block (the paper: 160)", minimum=1, maximum=1024),
    Option("resnets", "int", 2, "gated residual blocks per resolution in the up pass (one more in the "
           "down pass, the paper: 5)", minimum=1, maximum=32),
    Option("scales", "int", 2, "resolutions: the image's, then halved by strided convolutions (the paper: 3)",
           minimum=1, maximum=6),
    Option("dropout", "float", 0.5, "dropout probability inside each block (0: none)", minimum=0.0, maximum=0.95),
)


def concat_elu(x: torch.Tensor) -> torch.Tensor:
    """``elu([x, −x])`` over the channels: a nonlinearity that keeps both signs' information."""
    return F.elu(torch.cat([x, -x], 1))


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """Move the image one row down (a zero row on top): each row then sees only those above."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


def shift_right(x: torch.Tensor) -> torch.Tensor:
    """Move the image one column right (a zero column on the left)."""
    return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]


class ShiftedConv(nn.Module):
    """A convolution padded so that an output sees only the rows above and, with ``right``,
    the pixels on its left: kernel ``(kh, kw)`` padded ``kh − 1`` rows on top and, centred
    (down-shifted) or on the left alone (down-right-shifted), ``kw − 1`` columns."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int], stride: int = 1, right: bool = False):
        super().__init__()
        kh, kw = kernel
        self.conv = nn.Conv2d(cin, cout, kernel, stride)
        self.pad = (kw - 1, 0, kh - 1, 0) if right else ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0)
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.conv._parameters
        return F.conv2d(F.pad(x, self.pad), p["weight"], p["bias"], self.stride)


class ShiftedDeconv(nn.Module):
    """A transposed convolution (stride 2) that doubles the size, cropped as :class:`ShiftedConv`
    pads: rows from the top, columns centred or from the left, to ``size``."""

    def __init__(self, channels: int, kernel: tuple[int, int], size: tuple[int, int], right: bool = False):
        super().__init__()
        self.conv = nn.ConvTranspose2d(channels, channels, kernel, 2, output_padding=1)
        self.rows, w = size
        left = 0 if right else (kernel[1] - 1) // 2
        self.cols = slice(left, left + w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.conv._parameters
        y = F.conv_transpose2d(x, p["weight"], p["bias"], 2, output_padding=1)
        return y[:, :, : self.rows, self.cols]


class GatedResnet(nn.Module):
    """``x + a · σ(b)``, ``[a, b] = conv(dropout(concat_elu(conv(concat_elu(x)) + nin(concat_elu(aux)))))
    + cond``: PixelCNN++'s block, its convolutions shifted as its stream's."""

    def __init__(self, filters: int, right: bool, aux: int, dropout: float):
        super().__init__()
        kernel = (2, 2) if right else (2, 3)
        self.conv1 = ShiftedConv(2 * filters, filters, kernel, right=right)
        self.aux = nn.Conv2d(2 * aux * filters, filters, 1) if aux else None
        self.conv2 = ShiftedConv(2 * filters, 2 * filters, kernel, right=right)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, aux: torch.Tensor | None, cond: torch.Tensor | None) -> torch.Tensor:
        c = call(self.conv1, concat_elu(x))
        if aux is not None:
            c = c + call(self.aux, concat_elu(aux))
        c = concat_elu(c)
        if self.dropout:
            c = F.dropout(c, self.dropout, self.training)
        c = call(self.conv2, c)
        if cond is not None:
            c = c + cond[:, :, None, None]
        a, b = c.chunk(2, 1)
        return x + a * torch.sigmoid(b)


def _sizes(h: int, w: int, scales: int, target: InputSpec) -> list[tuple[int, int]]:
    """Each resolution's ``(height, width)``: stride 2 with the shifted padding gives ``⌈s / 2⌉``."""
    out = [(h, w)]
    for _ in range(scales - 1):
        if min(out[-1]) < 2:
            raise GraphModelError(f"a PixelCNNpp with {scales} scales halves {target.name}{target.shape} "
                                  "below 1 pixel; give fewer scales")
        out.append(((out[-1][0] + 1) // 2, (out[-1][1] + 1) // 2))
    return out


class PixelCNNppNet(nn.Module):
    """PixelCNN++ over an image target ``(C, H, W)``, conditioned on the other parents.

    Args:
        target: the target as the network reads it (first input of an autoregressive factor).
        heads: the family's parameters, each shaped ``(C, H, W, *rest)``.
        context: the conditioning parents (any shapes; flattened, categorical one-hot).
        filters, resnets, scales, dropout: see :data:`PIXELCNNPP_OPTIONS`.
    """

    def __init__(self, target: InputSpec, heads: list[HeadSpec], context: list[InputSpec],
                 filters: int = 32, resnets: int = 2, scales: int = 2, dropout: float = 0.5):
        super().__init__()
        if len(target.shape) != 3:
            raise GraphModelError(f"a PixelCNNpp reads an image target (channels, height, width), "
                                  f"found {target.name}{target.shape}")
        C, H, W = self.image = tuple(target.shape)
        bad = [h for h in heads if tuple(h.shape[:3]) != self.image]
        if bad or not heads:
            found = ", ".join(f"{h.name}{h.shape}" for h in bad or heads) or "none"
            raise GraphModelError(f"a PixelCNNpp emits parameters per pixel, shaped ({C}, {H}, {W}, ...); "
                                  f"found outputs {found}")
        self.classes = target.classes
        self.heads = [(h.numel // (H * W), tuple(h.shape[3:])) for h in heads]
        self.head_shapes = [tuple(h.shape) for h in heads]
        sizes = _sizes(H, W, scales, target)
        nf = filters
        self.u_in = ShiftedConv(C + 1, nf, (2, 3))  # (+1: a channel of ones marks the padding)
        self.ul_in_down = ShiftedConv(C + 1, nf, (1, 3))
        self.ul_in_right = ShiftedConv(C + 1, nf, (2, 1), right=True)
        up, down = nn.ModuleList(), nn.ModuleList()
        for _ in range(scales):
            up.append(nn.ModuleList(GatedResnet(nf, bool(r), r, dropout) for _ in range(resnets) for r in (0, 1)))
        self.shrink = nn.ModuleList(nn.ModuleList([ShiftedConv(nf, nf, (2, 3), 2), ShiftedConv(nf, nf, (2, 2), 2, True)])
                                    for _ in range(scales - 1))
        for s in reversed(range(scales)):
            n = resnets + (s < scales - 1)  # (the lowest resolution has no shrink output to read)
            down.append(nn.ModuleList(GatedResnet(nf, bool(r), 1 + r, dropout) for _ in range(n) for r in (0, 1)))
        self.grow = nn.ModuleList(nn.ModuleList([ShiftedDeconv(nf, (2, 3), sizes[s - 1]),
                                                 ShiftedDeconv(nf, (2, 2), sizes[s - 1], True)])
                                  for s in reversed(range(1, scales)))
        self.up, self.down = up, down
        self.out = nn.Conv2d(nf, sum(r for r, _ in self.heads), 1)
        self.context_specs = list(context)
        n_blocks = sum(len(b) for b in up) + sum(len(b) for b in down)
        width = sum(c.width for c in context)
        self.cond = nn.Linear(width, n_blocks * 2 * nf) if context else None
        self.cond_width = 2 * nf

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The target in ``[−1, 1]`` with a channel of ones: ``(N, C + 1, H, W)``."""
        x = x.reshape(-1, *self.image)
        if not torch.is_floating_point(x):
            x = x.to(self.out.weight.dtype) / max(self.classes - 1, 1)
        ones = torch.ones_like(x[:, :1])
        return torch.cat([2 * x - 1, ones], 1)

    def forward(self, x: torch.Tensor, *context: torch.Tensor) -> tuple[torch.Tensor, ...]:
        lead = x.shape[:-3]
        conds = None
        if self.context_specs:
            c = _flatten_inputs(self.context_specs, context)
            if c.shape[:-1] != lead:
                lead = broadcast(lead, c.shape[:-1])
                x, c = x.expand(*lead, *self.image), c.expand(*lead, c.shape[-1])
            conds = call(self.cond, c.reshape(-1, c.shape[-1])).split(self.cond_width, -1)
        h = self._trunk(self.encode(x), conds)
        return self._heads(call(self.out, F.elu(h)), lead)

    def _trunk(self, x: torch.Tensor, conds) -> torch.Tensor:
        """The two streams through the up and the down pass; the ``ul`` stream at the end."""
        mods = self._modules
        u = shift_down(call(mods["u_in"], x))
        ul = shift_down(call(mods["ul_in_down"], x)) + shift_right(call(mods["ul_in_right"], x))
        us, uls, k = [u], [ul], 0
        for s, blocks in enumerate(mods["up"]):
            for i in range(0, len(blocks), 2):
                u = call(blocks[i], u, None, None if conds is None else conds[k])
                ul = call(blocks[i + 1], ul, u, None if conds is None else conds[k + 1])
                us.append(u)
                uls.append(ul)
                k += 2
            if s < len(self.shrink):
                u, ul = call(self.shrink[s][0], u), call(self.shrink[s][1], ul)
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        for s, blocks in enumerate(mods["down"]):
            for i in range(0, len(blocks), 2):
                u = call(blocks[i], u, us.pop(), None if conds is None else conds[k])
                ul = call(blocks[i + 1], ul, torch.cat([u, uls.pop()], 1), None if conds is None else conds[k + 1])
                k += 2
            if s < len(self.grow):
                u, ul = call(self.grow[s][0], u), call(self.grow[s][1], ul)
        return ul

    def _heads(self, y: torch.Tensor, lead) -> tuple[torch.Tensor, ...]:
        """``(N, Σ r, H, W)`` → each head ``(*lead, C, H, W, *rest)``."""
        C, H, W = self.image
        parts = y.split([r for r, _ in self.heads], 1) if len(self.heads) > 1 else (y,)
        out = []
        for p, (_, rest) in zip(parts, self.heads):
            p = p.reshape(*lead, C, *rest, H, W)
            out.append(p.movedim((-2, -1), (len(lead) + 1, len(lead) + 2)) if rest else p)
        return tuple(out)


# --- registration and the Python spec --------------------------------------------------

def _build(options: dict, inputs: list[InputSpec], heads: list[HeadSpec], trusted: bool = False) -> PixelCNNppNet:
    """The registry's builder: ``inputs[0]`` is the target (an autoregressive factor puts it first)."""
    if not inputs:
        raise GraphModelError("a PixelCNNpp reads its target: use it in an autoregressive factor")
    return PixelCNNppNet(inputs[0], heads, inputs[1:], options["filters"], options["resnets"],
                         options["scales"], options["dropout"])


def _describe(options: dict) -> str:
    return f"PixelCNN++ {options.get('filters', 32)}×{options.get('resnets', 2)}×{options.get('scales', 2)}"


def _activations(options: dict, inputs: list, heads: list) -> int:
    """Per block about ten values per filter and pixel (two concat_elus, two convolutions,
    dropout's mask, the gate), at each resolution's size."""
    if not inputs or len(inputs[0].shape) != 3:
        return sum(i.width for i in inputs) + sum(h.numel for h in heads)
    _, h, w = inputs[0].shape
    n, s = options["resnets"], options["scales"]
    pixels = sum(math.ceil(h / 2 ** k) * math.ceil(w / 2 ** k) * (4 * n + 2 * (k < s - 1)) for k in range(s))
    return 10 * options["filters"] * pixels + sum(x.numel for x in heads)


NETWORKS.register("PixelCNNpp", NetworkType(
    "PixelCNNpp", build=_build, describe=_describe, options=PIXELCNNPP_OPTIONS, activations=_activations,
    reads_target="natural"))


def PixelCNNpp(filters: int = 32, resnets: int = 2, scales: int = 2, dropout: float = 0.5) -> NetSpec:
    """PixelCNN++ for an autoregressive factor over an image: ``PixelCNNpp(filters=64, scales=3)``.

    Example:
        >>> PixelCNNpp(16).to_dict()
        {'type': 'PixelCNNpp', 'filters': 16, 'resnets': 2, 'scales': 2, 'dropout': 0.5}
    """
    return NetSpec("PixelCNNpp", {"filters": filters, "resnets": resnets, "scales": scales, "dropout": dropout})
