"""The network registry and what every network shares: the plain-data specs
(:class:`InputSpec`, :class:`HeadSpec`, :class:`NetSpec`), :class:`NetworkType`,
:data:`NETWORKS`, :func:`build_network`, and the pieces the built-in networks reuse
(flattening parents, splitting heads, MLP layers).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from ..errors import GraphModelError
from ..options import Option, with_defaults
from ..registry import Registry
from ..shapes import broadcast


@dataclass(frozen=True)
class InputSpec:
    """One parent as a network sees it."""

    name: str
    shape: tuple[int, ...]
    classes: int | None = None  # categorical parents are fed one-hot
    is_state: bool = False  # the target's own previous step (recurrent cells)

    @property
    def width(self) -> int:
        return math.prod(self.shape) * (self.classes or 1)


@dataclass(frozen=True)
class HeadSpec:
    """One raw output of a network: a family parameter and its shape."""

    name: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class NetSpec:
    """A network as plain data: a registered type name and its options."""

    type: str
    options: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"type": self.type, **self.options}

    def __str__(self) -> str:
        return NETWORKS.get(self.type).describe(self.options) if self.type in NETWORKS else self.type


@dataclass(frozen=True)
class NetworkType:
    """A registered network: its typed options, a builder and a one-line description.

    ``options`` is the one declaration of what the type accepts (:class:`~graphmodel.options.Option`):
    ``defaults`` and ``check`` derive from it, and the file loader, the editor's inspector,
    the palette and the exported script read it. ``build(options, inputs, heads, trusted)``
    returns the module, given every option (defaults filled in). ``describe(options)`` is
    the short caption (the type's name when not given).

    Given together with ``options``, ``defaults`` adds free-form keys that no option kind
    describes (a user module's ``kwargs``) and ``check`` adds a check the schema cannot say
    (a reference's form); both are then extras, run after the schema's. Without ``options``
    (the first wave's form, ``NetworkType(name, defaults, check, build, describe)``) they are
    the whole declaration, as before.

    Example:
        >>> t = NetworkType("Tiny", build=lambda o, i, h, trusted=False: None,
        ...                 options=(Option("bias", "bool", True, "learn a bias"),))
        >>> t.defaults, t.check({"bias": 1})
        ({'bias': True}, [('bias', 'expected true or false, found 1')])
    """

    name: str
    defaults: dict | None = None
    check: Callable[[dict], list] | None = None
    build: Callable[..., nn.Module] | None = None
    describe: Callable[[dict], str] | None = None
    options: tuple[Option, ...] = ()
    #: ``activations(options, inputs, heads)``: how many values one example's run keeps for
    #: the backward pass, from the shapes alone (``graphmodel.budget`` reads it before anything
    #: is allocated); ``None``: estimated as the inputs and the heads
    activations: Callable[[dict, list, list], int] | None = None
    #: the network reads the factor's own target (first input) and keeps an autoregressive
    #: order: only an autoregressive factor takes it (MaskedMLP, PixelCNNpp)
    reads_target: bool = False

    def activation_count(self, options: dict, inputs: list, heads: list) -> int:
        """:attr:`activations` with the defaults filled in (a rough count when undeclared)."""
        if self.activations is None:
            return sum(i.width for i in inputs) + sum(h.numel for h in heads)
        return int(self.activations({**self.defaults, **options}, inputs, heads))

    def __post_init__(self):
        if self.build is None:
            raise TypeError(f"network type {self.name!r}: build is required")
        if self.describe is None:
            object.__setattr__(self, "describe", lambda _options, name=self.name: name)
        if self.options or (self.defaults is None and self.check is None):
            extra_check = self.check
            object.__setattr__(self, "defaults", {**with_defaults(self.options, {}), **(self.defaults or {})})
            object.__setattr__(self, "check", lambda o: _schema_check(self.options, o, extra_check))
        elif self.defaults is None or self.check is None:
            raise TypeError(f"network type {self.name!r}: give options (or defaults and check)")


    def json_schema(self) -> dict:
        """The ``net`` object of this type as a JSON Schema (for editors' completion of files)."""
        props = {"type": {"const": self.name}, **{o.name: o.to_json_schema() for o in self.options}}
        props.update({k: {} for k in self.defaults if k not in props})  # free-form keys: any value
        return {"type": "object", "properties": props, "required": ["type"], "additionalProperties": False}


def mlp_activations(widths, heads: list) -> int:
    """Values an MLP keeps per example: each hidden layer's output before and after its
    nonlinearity, and the heads."""
    return 2 * sum(widths) + sum(h.numel for h in heads)


def _schema_check(schema: tuple[Option, ...], options: dict, extra) -> list:
    """Every declared option's problem in ``options`` (defaults filled in), then ``extra``'s."""
    out = [(o.name, msg) for o in schema if (msg := o.check(options.get(o.name, o.default)))]
    return out + (extra(options) if extra is not None and not out else [])


NETWORKS: Registry[NetworkType] = Registry("network")

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "sigmoid": nn.Sigmoid,
}


# --- options shared by several types --------------------------------------------------

#: the nonlinearity after each hidden layer (and each convolution)
ACTIVATION = Option("activation", "str", "relu", "the nonlinearity after each hidden layer",
                    choices=tuple(ACTIVATIONS))
#: an additive bias in every layer (off: e.g. before a normalization of one's own)
BIAS = Option("bias", "bool", True, "learn an additive bias in every layer")


def off_default(*pairs: tuple[Option, object]) -> dict:
    """``{name: value}`` for each ``(option, value)`` whose value is not the option's default:
    what a Python constructor writes for an option that files written before it lack."""
    return {o.name: v for o, v in pairs if v != o.default}


def hidden_option(default: list[int]) -> Option:
    """The widths of the fully connected hidden layers (none: one linear map)."""
    return Option("hidden", "ints", default, "widths of the fully connected hidden layers", minimum=1)


def _check_keys(options: dict, defaults: dict) -> list:
    return [(k, f"unknown option; known: {', '.join(defaults) or 'none'}") for k in options if k not in defaults]


# --- shared pieces ---------------------------------------------------------------------

def _one_hot(x: torch.Tensor, classes: int) -> torch.Tensor:
    """``F.one_hot(x, classes)`` as floats, without its range check (on a CPU it reads the
    indices' min and max on the host at every call; the data were checked when bound, and
    an index out of range still fails in ``scatter_``)."""
    out = torch.zeros((*x.shape, classes), dtype=torch.get_default_dtype(), device=x.device)
    return out.scatter_(-1, x.long().unsqueeze(-1), 1.0)



def _flatten_inputs(inputs: list[InputSpec], xs: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Flatten every parent to ``(batch..., width)`` (one-hot for classes) and concatenate."""
    if len(xs) == 1 and len(inputs[0].shape) == 1 and not inputs[0].classes and torch.is_floating_point(xs[0]):
        return xs[0]  # one real vector: nothing to do
    flat = []
    for spec, x in zip(inputs, xs):
        if spec.classes:
            x = _one_hot(x, spec.classes)
            nd = len(spec.shape) + 1
        else:
            nd = len(spec.shape)
            if not torch.is_floating_point(x):
                x = x.to(torch.get_default_dtype())
        flat.append(x.flatten(-nd) if nd else x.unsqueeze(-1))
    if len(flat) == 1:
        return flat[0]
    batch = flat[0].shape[:-1]
    if any(f.shape[:-1] != batch for f in flat[1:]):
        batch = broadcast(*(f.shape[:-1] for f in flat))
        flat = [f.expand(*batch, f.shape[-1]) for f in flat]
    return torch.cat(flat, dim=-1)


def _mlp_layers(sizes: list[int], activation: str, bias: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b, bias=bias), ACTIVATIONS[activation]()]
    return layers


class Heads(nn.Module):
    """Split a ``(batch..., total)`` tensor into heads of their declared shapes."""

    def __init__(self, heads: list[HeadSpec]):
        super().__init__()
        self.sizes = [h.numel for h in heads]
        self.shapes = [h.shape for h in heads]
        self.vectors = all(len(s) == 1 for s in self.shapes)  # the split parts need no reshape

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.vectors:
            # (the tensor method itself: torch.split's Python wrapper costs more than the split)
            return (y,) if len(self.sizes) == 1 else tuple(y.split_with_sizes(self.sizes, dim=-1))
        batch = y.shape[:-1]
        if len(self.sizes) == 1:
            return (y.reshape(*batch, *self.shapes[0]),)
        parts = y.split_with_sizes(self.sizes, dim=-1)
        return tuple(p.reshape(*batch, *s) for p, s in zip(parts, self.shapes))


def _total(heads: list[HeadSpec]) -> int:
    return sum(h.numel for h in heads)


class UserNetAdapter(nn.Module):
    """Wrap a user's ``nn.Module``: its output (a tensor, tuple or dict) becomes the heads."""

    def __init__(self, module: nn.Module, heads: list[HeadSpec]):
        super().__init__()
        self.module = module
        self.names = [h.name for h in heads]

    def forward(self, *xs):
        y = self.module(*xs)
        if isinstance(y, torch.Tensor):
            return (y,)
        if isinstance(y, dict):
            return tuple(y[n] for n in self.names)
        return tuple(y)



def check_options(spec: NetSpec) -> list[tuple[str, str]]:
    """Every problem with a spec's options as ``(key, message)``; unknown type included."""
    if spec.type not in NETWORKS:
        return [("type", f"unknown network {spec.type!r}; known: {', '.join(NETWORKS.names())}")]
    t = NETWORKS.get(spec.type)
    return _check_keys(spec.options, t.defaults) + t.check({**t.defaults, **spec.options})


def build_network(spec, inputs: list[InputSpec], heads: list[HeadSpec], trusted: bool = False) -> nn.Module:
    """Build the module for a spec (or wrap a user's module instance)."""
    if isinstance(spec, nn.Module):
        return UserNetAdapter(spec, heads)
    t = NETWORKS.get(spec.type)
    try:
        return t.build({**t.defaults, **spec.options}, inputs, heads, trusted)
    except RuntimeError as e:  # torch: "you tried to allocate N bytes" (CPU), "Tried to allocate" (CUDA)
        asked = re.search(r"(?:you )?tried to allocate \S+ [A-Za-z]+", str(e), re.IGNORECASE)
        if asked is None:
            raise
        raise GraphModelError(f"the {spec.type} network does not fit in memory ({asked.group(0)}); "
                              "give it smaller widths") from None


