"""Masked networks (MADE, Germain et al. 2015): every output reads only earlier inputs.

A masked MLP maps a target ``x`` with ``D`` dimensions (plus optional conditioning inputs)
to parameters per dimension, such that the parameters of dimension ``d`` depend only on
the dimensions generated before ``d`` in an *order* (and on every conditioning input).
The network is then an autoregressive conditional in one pass: ``log p(x)`` is one call,
and a sample fills ``x`` one dimension per call.

Connectivity is carried by *degrees*. The target dimension generated ``r``-th has degree
``r`` (0-based rank); each hidden unit gets a degree in ``[min of the layer below, D − 2]``
and reads the units below whose degree is at most its own; the output for a dimension of
rank ``r`` reads the hidden units whose degree is below ``r``. Hidden degrees are spread
evenly for a fixed order (every ``d`` can read all earlier dimensions once a layer has
``D − 1`` units) or drawn at random (connectivity-agnostic training, resampled with the
order at every step).

Public names: :func:`natural_order`, :func:`random_order`, :func:`degrees`,
:func:`random_degrees`, :func:`masks_from_degrees`, :func:`order_masks`,
:class:`MaskedLinear`, :class:`MaskedMLPNet` (the module), :func:`MaskedMLP` (the
plain-data spec, ``NetSpec("MaskedMLP", ...)``) and :data:`MASKED_MLP_OPTIONS`.

Example:
    >>> from graphmodel.networks import InputSpec, HeadSpec
    >>> net = MaskedMLPNet(InputSpec("x", (4,)), [HeadSpec("logits", (4,))], hidden=(16,))
    >>> net(torch.zeros(2, 4))[0].shape
    torch.Size([2, 4])
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ..errors import GraphModelError
from ..options import Option
from ._fastcall import call
from .base import ACTIVATIONS, NETWORKS, HeadSpec, InputSpec, NetSpec, NetworkType, _flatten_inputs, mlp_activations

_linear = nn.functional.linear

#: The options of the ``"MaskedMLP"`` network type (the typed declaration).
MASKED_MLP_OPTIONS = (
    Option("hidden", "ints", [500], "widths of the masked hidden layers", minimum=1, nonempty=True),
    Option("activation", "str", "relu", "nonlinearity after each hidden layer", choices=tuple(ACTIVATIONS)),
)


# --- orders, degrees and masks ---------------------------------------------------------

def natural_order(dim: int, device=None) -> torch.Tensor:
    """``[0, 1, …, dim − 1]``: the dimension generated at each step."""
    return torch.arange(dim, device=device)


def random_order(dim: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """A uniformly random order of ``dim`` dimensions (``generator`` fixes it; its device
    must be ``device``'s)."""
    return torch.randperm(dim, generator=generator, device=device)


def _ranks(order: torch.Tensor) -> torch.Tensor:
    """The inverse permutation: ``ranks[d]`` is the step at which dimension ``d`` is generated."""
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(order.numel(), device=order.device)
    return ranks


def degrees(order: torch.Tensor, hidden: Sequence[int]) -> list[torch.Tensor]:
    """Degrees of the target's dimensions and of each hidden layer, spread evenly.

    Args:
        order: ``(D,)``, the dimension generated at each step.
        hidden: the hidden layers' widths.
    Returns:
        ``[ranks (D,), degrees of hidden layer 1, …]``; a hidden unit of degree ``k`` reads
        the target dimensions of rank ≤ ``k``. With ``D − 1`` units or more in every layer,
        each output reads every earlier dimension.
    """
    D = order.numel()
    out = [_ranks(order)]
    top = max(D - 1, 1)  # degrees 0 … D − 2 (a unit of degree D − 1 would feed no output)
    for width in hidden:
        out.append(torch.arange(width, device=order.device) % top)
    return out


def random_degrees(order: torch.Tensor, hidden: Sequence[int],
                   generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """Like :func:`degrees`, with each hidden unit's degree drawn uniformly from
    ``[min of the layer below, D − 2]`` (connectivity-agnostic training).

    The bounds stay tensors (no host read), so a draw on a GPU never waits for it.
    """
    D = order.numel()
    out = [_ranks(order)]
    low = torch.zeros((), dtype=torch.long, device=order.device)
    top = max(D - 1, 1)
    for width in hidden:
        u = torch.rand((width,), generator=generator, device=order.device)
        deg = (low + (u * (top - low)).long()).clamp_(max=top - 1)  # (u·n may round up to n)
        out.append(deg)
        low = deg.min()  # MADE: a unit never reads below the lowest degree beneath it
    return out


def masks_from_degrees(degs: Sequence[torch.Tensor], out_per_dim: Sequence[int] = (1,),
                       in_per_dim: int = 1) -> list[torch.Tensor]:
    """The masks of each masked layer, as ``(out, in)`` float tensors (1 = connected).

    Args:
        degs: ``[ranks (D,), hidden degrees…]`` from :func:`degrees` / :func:`random_degrees`.
        out_per_dim: outputs per target dimension, one entry per head; a head's outputs are
            laid out dimension-major, ``(D, per_dim)`` (a head shaped ``(*target, K)``
            flattened), and the heads follow one another.
        in_per_dim: input units per target dimension (a one-hot target has its classes).
    """
    ranks = degs[0]
    below = ranks.repeat_interleave(in_per_dim) if in_per_dim > 1 else ranks
    dtype = torch.get_default_dtype()
    masks = []
    for deg in degs[1:]:
        masks.append((deg[:, None] >= below[None, :]).to(dtype))
        below = deg
    out_rank = torch.cat([ranks.repeat_interleave(e) if e > 1 else ranks for e in out_per_dim])
    masks.append((out_rank[:, None] > below[None, :]).to(dtype))
    return masks


def order_masks(order: torch.Tensor, hidden: Sequence[int], out_per_dim: Sequence[int] = (1,),
                in_per_dim: int = 1, agnostic: bool = False,
                generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """The masks of a masked MLP for ``order``: evenly spread hidden degrees, or random ones
    when ``agnostic`` (drawn with ``generator``)."""
    degs = random_degrees(order, hidden, generator) if agnostic else degrees(order, hidden)
    return masks_from_degrees(degs, out_per_dim, in_per_dim)


# --- the network -----------------------------------------------------------------------

class MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a 0/1 mask ``(out, in)``.

    The layer keeps a default mask (a buffer, not saved: it follows from the order); a
    caller may pass another one per call, which is how order-agnostic training uses one
    set of weights with a fresh order at every step.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self.register_buffer("mask", torch.ones(out_features, in_features), persistent=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return _linear(x, self.weight * (self.mask if mask is None else mask), self.bias)


class MaskedMLPNet(nn.Module):
    """A masked MLP: ``forward(x, *context, masks=None)`` → one tensor per head.

    Args:
        target: the autoregressive input ``x`` (shape ``S``, ``D = prod(S)`` dimensions;
            one-hot over its classes when it has some).
        heads: the outputs, each shaped ``(*S, *extra)``: ``prod(extra)`` parameters per
            dimension (Bernoulli logits: none extra; a categorical's logits: ``(K,)``).
        context: conditioning inputs, flattened and connected to every hidden unit of the
            first layer and to every output (unmasked).
        hidden: the widths of the masked hidden layers.
        activation: a key of ``networks.ACTIVATIONS``.
        order: ``(D,)`` the default order (natural when ``None``), used when ``forward`` is
            given no masks.
    Returns (forward):
        one tensor per head shaped ``(batch..., *head shape)``; the outputs of dimension
        ``d`` depend only on the dimensions before ``d`` in the order, and on the context.
    """

    def __init__(self, target: InputSpec, heads: Sequence[HeadSpec], context: Sequence[InputSpec] = (),
                 hidden: Sequence[int] = (500,), activation: str = "relu", order: torch.Tensor | None = None):
        super().__init__()
        S = tuple(target.shape)
        self.dim = D = math.prod(S)
        bad = [h for h in heads if tuple(h.shape[: len(S)]) != S]
        if bad or not heads or D == 0:
            found = ", ".join(f"{h.name}{h.shape}" for h in bad or heads)
            raise GraphModelError(
                f"a MaskedMLP reads its target {target.name}{S} and emits parameters per dimension, "
                f"shaped ({', '.join(map(str, S))}, ...); found outputs {found or 'none'}")
        self.target_nd, self.classes = len(S), target.classes
        self.in_per_dim = target.classes or 1
        self.out_per_dim = tuple(h.numel // D for h in heads)
        self.hidden = tuple(hidden)
        self.head_sizes = [h.numel for h in heads]
        self.head_shapes = [tuple(h.shape) for h in heads]
        sizes = [D * self.in_per_dim, *self.hidden, sum(self.head_sizes)]
        self.layers = nn.ModuleList(MaskedLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = ACTIVATIONS[activation]()
        self.context_specs = list(context)
        width = sum(c.width for c in context)
        self.context_in = nn.Linear(width, sizes[1], bias=False) if context else None
        self.context_out = nn.Linear(width, sizes[-1], bias=False) if context else None
        self.set_order(natural_order(D) if order is None else order)

    def masks(self, order: torch.Tensor, agnostic: bool = False,
              generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """The masks for ``order`` (random connectivity when ``agnostic``), for ``forward``."""
        return order_masks(order, self.hidden, self.out_per_dim, self.in_per_dim, agnostic, generator)

    def set_order(self, order: torch.Tensor) -> None:
        """Make ``order`` (with evenly spread degrees) the default of ``forward``."""
        for layer, m in zip(self.layers, self.masks(order.to(self.layers[0].weight.device))):
            layer.mask = m

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The target as the first layer reads it: ``(batch..., D · in_per_dim)``."""
        if self.classes:
            one_hot = torch.zeros((*x.shape, self.classes), dtype=self.layers[0].weight.dtype, device=x.device)
            x = one_hot.scatter_(-1, x.long().unsqueeze(-1), 1.0)
            return x.flatten(-self.target_nd - 1)
        if not torch.is_floating_point(x):
            x = x.to(self.layers[0].weight.dtype)
        return x.flatten(-self.target_nd) if self.target_nd else x.unsqueeze(-1)

    def forward(self, x: torch.Tensor, *context: torch.Tensor, masks: Sequence[torch.Tensor] | None = None):
        mods = self._modules  # (read directly, as networks.MLPNet does: no __getattr__ per name)
        layers = list(mods["layers"]._modules.values())
        act = mods["act"]
        c = _flatten_inputs(self.context_specs, context) if self.context_specs else None
        h = self.encode(x)
        last = len(layers) - 1
        for i, layer in enumerate(layers):
            h = call(layer, h, None if masks is None else masks[i])
            if c is not None and i == 0:
                h = h + call(mods["context_in"], c)
            if i < last:
                h = call(act, h)
        if c is not None:
            h = h + call(mods["context_out"], c)
        batch = h.shape[:-1]
        parts = h.split(self.head_sizes, dim=-1) if len(self.head_sizes) > 1 else (h,)
        return tuple(p.reshape(*batch, *s) for p, s in zip(parts, self.head_shapes))


# --- registration and the Python spec --------------------------------------------------

_DEFAULTS = {o.name: o.default for o in MASKED_MLP_OPTIONS}


def _build(options: dict, inputs: list[InputSpec], heads: list[HeadSpec], trusted: bool = False) -> MaskedMLPNet:
    """The registry's builder: ``inputs[0]`` is the target itself (an autoregressive factor
    puts it first), the other inputs are the conditioning parents."""
    if not inputs:
        raise GraphModelError("a MaskedMLP reads its target: use it in an autoregressive factor")
    return MaskedMLPNet(inputs[0], heads, inputs[1:], options["hidden"], options["activation"])


def _describe(options: dict) -> str:
    return "MaskedMLP " + "-".join(str(h) for h in options.get("hidden", []))


NETWORKS.register("MaskedMLP", NetworkType(
    "MaskedMLP", build=_build, describe=_describe, options=MASKED_MLP_OPTIONS, reads_target=True,
    activations=lambda o, inputs, heads: mlp_activations(o["hidden"], heads)))


def MaskedMLP(*hidden: int, activation: str = "relu") -> NetSpec:
    """A masked MLP (MADE) for an autoregressive factor: ``MaskedMLP(500)``.

    Example:
        >>> MaskedMLP(500).to_dict()
        {'type': 'MaskedMLP', 'hidden': [500], 'activation': 'relu'}
    """
    return NetSpec("MaskedMLP", {"hidden": list(hidden or _DEFAULTS["hidden"]), "activation": activation})
