"""A residual MLP: a first layer, residual blocks that start as the identity, the heads; and,
optionally, ``½‖v‖²`` of one parent added to every output.

It is the adversary of adversarial variational Bayes (Mescheder et al. 2017, the toy
experiment): ``T(x, z)`` estimates ``log q(z|x) − log p(z)``, and for a standard normal prior
``−log p(z) = ½‖z‖² + const`` is known; with ``square: "z"`` the network adds that part itself
and learns only the rest. In a file::

    "adversary": {"type": "ResidualMLP", "width": 256, "blocks": 5, "activation": "elu",
                  "init": "glorot", "square": "z"}

Each block is ``h ← act(h + W₂·act(W₁·h))`` with ``W₂`` (and its bias) zero at the start, so
a deep stack begins as the one-layer network and trains as such at first.
"""

from __future__ import annotations

from torch import nn

from ..errors import GraphModelError
from ..options import Option
from ._fastcall import rowwise, run_sequential
from .base import (
    ACTIVATIONS,
    INIT,
    NETWORKS,
    Heads,
    NetSpec,
    NetworkType,
    _flatten_inputs,
    _total,
    initialize,
    off_default,
)

WIDTH = Option("width", "int", 256, "width of the first layer and of every residual block", minimum=1)
BLOCKS = Option("blocks", "int", 5, "number of residual blocks", minimum=0, maximum=1000)
RES_ACTIVATION = Option("activation", "str", "elu", "the nonlinearity after the first layer and in each block",
                        choices=tuple(ACTIVATIONS))
SQUARE = Option("square", "str", "", "a parent whose ½‖v‖² is added to every output (AVB's adversary: "
                "−log N(z; 0, I) up to a constant); empty: none")


class ResidualBlock(nn.Module):
    """``act(h + W₂·act(W₁·h))``, with ``W₂`` zero at the start (the block is the identity's act)."""

    def __init__(self, width: int, activation: str):
        super().__init__()
        self.branch = nn.Sequential(nn.Linear(width, width), ACTIVATIONS[activation](), nn.Linear(width, width))
        last = self.branch[2]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        last._gm_zero = True  # (an initialization option leaves it at zero)
        self.act = ACTIVATIONS[activation]()

    def forward(self, h):
        return self.act(h + run_sequential(self.branch, h))


class ResidualMLPNet(nn.Module):
    """Concatenate the flattened parents; a first layer, residual blocks, one linear map to
    every head; plus ``½‖v‖²`` of the ``square`` parent on every output."""

    def __init__(self, inputs, heads, width: int, blocks: int, activation: str, square: str = ""):
        super().__init__()
        self.inputs = list(inputs)
        in_dim = sum(i.width for i in inputs)
        if in_dim == 0:
            raise GraphModelError("a ResidualMLP needs at least one parent as input")
        names = [i.name for i in inputs]
        if square and square not in names:
            raise GraphModelError(f"ResidualMLP option square: expected one of its parents ({', '.join(names)}), "
                                  f"found {square!r}")
        spec = inputs[names.index(square)] if square else None
        if spec is not None and spec.classes:
            raise GraphModelError(f"ResidualMLP option square: '{square}' is categorical; ½‖v‖² needs real values")
        self.square = names.index(square) if square else -1
        self.square_nd = len(spec.shape) if spec is not None else 0
        self.body = nn.Sequential(nn.Linear(in_dim, width), ACTIVATIONS[activation](),
                                  *(ResidualBlock(width, activation) for _ in range(blocks)),
                                  nn.Linear(width, _total(heads)))
        self.heads = Heads(heads)

    def forward(self, *xs):
        mods = self._modules
        y = rowwise(mods["body"], _flatten_inputs(self.inputs, xs))
        if self.square >= 0:
            v = xs[self.square]
            sq = v.square().flatten(v.dim() - self.square_nd) if self.square_nd else v.square().unsqueeze(-1)
            y = y + 0.5 * sq.sum(-1, keepdim=True)
        return mods["heads"].forward(y)


def _build(options, inputs, heads, trusted=False):
    net = ResidualMLPNet(inputs, heads, options["width"], options["blocks"], options["activation"],
                         options["square"])
    return initialize(net, options["init"])


def _describe(o) -> str:
    text = f"ResidualMLP {o.get('width', WIDTH.default)}×{o.get('blocks', BLOCKS.default)}"
    return text + (f" + ½‖{o['square']}‖²" if o.get("square") else "")


def _activations(o, inputs, heads) -> int:
    """Per example: the first layer's output before and after its nonlinearity, four values
    per unit in each block (W₁h, its act, the sum, its act), and the heads."""
    return (2 + 4 * o["blocks"]) * o["width"] + sum(h.numel for h in heads)


NETWORKS.register("ResidualMLP", NetworkType("ResidualMLP", build=_build, describe=_describe,
                                             options=(WIDTH, BLOCKS, RES_ACTIVATION, INIT, SQUARE),
                                             activations=_activations))


def ResidualMLP(width: int = 256, blocks: int = 5, activation: str = "elu", init: str = "default",
                square: str = "") -> NetSpec:
    """A residual MLP: ``ResidualMLP(256, 5, square="z")`` is AVB's adversary ``T(x, z)``.

    ``init`` and ``square`` are written to the file only when not their defaults.
    """
    return NetSpec("ResidualMLP", {"width": width, "blocks": blocks, "activation": activation,
                                   **off_default((INIT, init), (SQUARE, square))})


__all__ = ["ResidualBlock", "ResidualMLP", "ResidualMLPNet"]
