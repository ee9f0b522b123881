"""Image networks: a strided convolutional encoder and a transposed-convolution decoder."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import GraphModelError
from ..options import Option
from ._fastcall import run_sequential
from .base import (
    ACTIVATION,
    ACTIVATIONS,
    BIAS,
    NETWORKS,
    Heads,
    NetSpec,
    NetworkType,
    _flatten_inputs,
    _mlp_layers,
    _total,
    hidden_option,
    mlp_activations,
    off_default,
)

#: the convolutions' kernel: stride 2 and padding (k - 1) // 2 halve (or double) the size
#: whatever k is (a transposed one adds an output row and column for odd k)
KERNEL = Option("kernel_size", "int", 4, "side of each convolution's square kernel (stride 2)", minimum=1, maximum=15)


class ConvEncoderNet(nn.Module):
    """Strided convolutions over one image parent; other parents join after flattening."""

    def __init__(self, inputs, heads, channels, hidden, activation, kernel_size=4, bias=True):
        super().__init__()
        images = [i for i in inputs if len(i.shape) == 3 and not i.classes]
        if len(images) != 1:
            found = ", ".join(f"{i.name}{i.shape}" for i in inputs)
            raise GraphModelError(
                f"a ConvEncoder needs exactly one parent shaped (channels, height, width), found {found}"
            )
        self.image_index = inputs.index(images[0])
        self.others = [i for i in inputs if i is not images[0]]
        c, h, w = images[0].shape
        convs: list[nn.Module] = []
        for out in channels:
            if h < 2 or w < 2:
                raise GraphModelError(
                    f"a ConvEncoder with {len(channels)} layers halves {images[0].name}{images[0].shape} "
                    "below 1 pixel; use fewer channels entries"
                )
            pad = (kernel_size - 1) // 2
            convs += [nn.Conv2d(c, out, kernel_size, stride=2, padding=pad, bias=bias), ACTIVATIONS[activation]()]
            c, h, w = out, (h + 2 * pad - kernel_size) // 2 + 1, (w + 2 * pad - kernel_size) // 2 + 1
        self.convs = nn.Sequential(*convs)
        flat = c * h * w  # (Conv2d's output size, computed: nothing runs while sizing)
        sizes = [flat + sum(i.width for i in self.others), *hidden]
        self.body = nn.Sequential(*_mlp_layers(sizes, activation, bias), nn.Linear(sizes[-1], _total(heads), bias=bias))
        self.image_shape = images[0].shape
        self.heads = Heads(heads)

    def forward(self, *xs):
        img = xs[self.image_index]
        batch = img.shape[:-3]
        feat = run_sequential(self.convs, img.reshape(-1, *self.image_shape)).reshape(*batch, -1)
        if self.others:
            rest = [x for k, x in enumerate(xs) if k != self.image_index]
            feat = torch.cat([feat, _flatten_inputs(self.others, tuple(rest))], dim=-1)
        return self.heads.forward(run_sequential(self.body, feat))


def _build_conv(options, inputs, heads, trusted=False):
    return ConvEncoderNet(inputs, heads, options["channels"], options["hidden"], options["activation"],
                          options["kernel_size"], options["bias"])


class DeconvDecoderNet(nn.Module):
    """Vector parents → feature map → transposed convolutions up to the target's size."""

    def __init__(self, inputs, heads, channels, hidden, activation, kernel_size=4, bias=True):
        super().__init__()
        spatial = {h.shape[1:3] for h in heads if len(h.shape) >= 3}
        if len(spatial) != 1 or any(len(h.shape) < 3 for h in heads):
            found = ", ".join(f"{h.name}{h.shape}" for h in heads)
            raise GraphModelError(
                f"a DeconvDecoder needs targets shaped (channels, height, width), found {found}"
            )
        self.inputs = list(inputs)
        (H, W), n_up = spatial.pop(), len(channels)
        self.h0, self.w0 = math.ceil(H / 2**n_up), math.ceil(W / 2**n_up)
        self.H, self.W = H, W
        sizes = [sum(i.width for i in inputs), *hidden]
        self.fc = nn.Sequential(
            *_mlp_layers(sizes, activation, bias), nn.Linear(sizes[-1], channels[0] * self.h0 * self.w0, bias=bias),
            ACTIVATIONS[activation](),
        )
        ups: list[nn.Module] = []
        for a, b in zip(channels, [*channels[1:], channels[-1]]):
            ups += [nn.ConvTranspose2d(a, b, kernel_size, stride=2, padding=(kernel_size - 1) // 2,
                                       output_padding=kernel_size % 2, bias=bias), ACTIVATIONS[activation]()]
        self.ups = nn.Sequential(*ups)
        # each head (C, H, W, *extra) comes from C*prod(extra) output channels
        self.head_channels = [math.prod(h.shape) // (H * W) for h in heads]
        self.head_shapes = [h.shape for h in heads]
        self.out = nn.Conv2d(channels[-1], sum(self.head_channels), kernel_size=1)
        self.c0 = channels[0]

    def forward(self, *xs):
        z = _flatten_inputs(self.inputs, xs)
        batch = z.shape[:-1]
        y = run_sequential(self.fc, z).reshape(-1, self.c0, self.h0, self.w0)
        y = self.out(run_sequential(self.ups, y))[:, :, : self.H, : self.W]
        outs = []
        for part, shape in zip(torch.split(y, self.head_channels, dim=1), self.head_shapes):
            c, extra = shape[0], shape[3:]
            part = part.reshape(-1, c, *extra, self.H, self.W)
            if extra:
                part = part.movedim((-2, -1), (1, 2))
            outs.append(part.reshape(*batch, *shape))
        return tuple(outs)


def _build_deconv(options, inputs, heads, trusted=False):
    return DeconvDecoderNet(inputs, heads, options["channels"], options["hidden"], options["activation"],
                            options["kernel_size"], options["bias"])


def _conv_activations(o, inputs, heads) -> int:
    """Each strided layer halves the image: its outputs before and after the nonlinearity."""
    image = next((i for i in inputs if len(i.shape) == 3 and not i.classes), None)
    total = 0
    if image is not None:
        _, h, w = image.shape
        for c in o["channels"]:
            h, w = max(h // 2, 1), max(w // 2, 1)
            total += 2 * c * h * w
    return total + mlp_activations(o["hidden"], heads)


def _deconv_activations(o, inputs, heads) -> int:
    """The first map, then each transposed layer's doubled map, then the heads' 1×1 layer."""
    spatial = [h.shape[1:3] for h in heads if len(h.shape) >= 3]
    if not spatial:
        return mlp_activations(o["hidden"], heads)
    (H, W), channels = spatial[0], o["channels"]
    h, w = math.ceil(H / 2 ** len(channels)), math.ceil(W / 2 ** len(channels))
    total = mlp_activations(o["hidden"], []) + 2 * channels[0] * h * w
    for c in [*channels[1:], channels[-1]]:
        h, w = 2 * h, 2 * w
        total += 2 * c * h * w
    return total + sum(hd.numel for hd in heads) * max(1, (h * w) // max(1, H * W))


def _channels(default: list[int], what: str) -> Option:
    return Option("channels", "ints", default, what, minimum=1, nonempty=True)


NETWORKS.register("ConvEncoder", NetworkType(
    "ConvEncoder", build=_build_conv, describe=lambda o: "ConvEncoder " + "-".join(map(str, o.get("channels", []))),
    options=(_channels([32, 64], "output channels of each strided convolution (each halves the image)"),
             hidden_option([256]), ACTIVATION, KERNEL, BIAS), activations=_conv_activations))
NETWORKS.register("DeconvDecoder", NetworkType(
    "DeconvDecoder", build=_build_deconv,
    describe=lambda o: "DeconvDecoder " + "-".join(map(str, o.get("channels", []))),
    options=(_channels([64, 32], "input channels of each transposed convolution (each doubles the image)"),
             hidden_option([256]), ACTIVATION, KERNEL, BIAS), activations=_deconv_activations))


def ConvEncoder(channels=(32, 64), hidden=(256,), activation: str = "relu", kernel_size: int = 4,
                bias: bool = True) -> NetSpec:
    """Strided convolutions over an image parent, then fully connected layers."""
    return NetSpec("ConvEncoder", {"channels": list(channels), "hidden": list(hidden), "activation": activation,
                                   **off_default((KERNEL, kernel_size), (BIAS, bias))})


def DeconvDecoder(channels=(64, 32), hidden=(256,), activation: str = "relu", kernel_size: int = 4,
                  bias: bool = True) -> NetSpec:
    """Fully connected layers to a small feature map, then transposed convolutions up to the target."""
    return NetSpec("DeconvDecoder", {"channels": list(channels), "hidden": list(hidden), "activation": activation,
                                     **off_default((KERNEL, kernel_size), (BIAS, bias))})
