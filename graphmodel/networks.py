"""Built-in networks described by plain data, and the network registry.

A network spec is ``NetSpec(type, options)``, e.g. ``MLP(400)`` ==
``NetSpec("MLP", {"hidden": [400], "activation": "relu"})``. It holds no weights: when a
graph is built, :func:`build_network` sizes it from the parents' shapes (the inputs) and
the family's parameter shapes (the heads), and returns an ``nn.Module`` whose
``forward(*parents)`` returns one raw (unconstrained) tensor per head, each shaped
``(batch..., *head_shape)``.
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.nn.modules import module as _nn_module

from .errors import GraphModelError, TrustError
from .registry import Registry
from .shapes import broadcast

_linear = nn.functional.linear


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
    """A registered network: its default options, an option checker and a builder.

    ``check(options)`` returns ``[(key, message)]`` for bad options (empty when fine);
    ``build(options, inputs, heads, trusted)`` returns the module.
    """

    name: str
    defaults: dict
    check: Callable[[dict], list]
    build: Callable[..., nn.Module]
    describe: Callable[[dict], str]


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


# --- option checking -------------------------------------------------------------------

def _is_pos_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _check_int_list(options: dict, key: str, allow_empty: bool = True) -> list:
    v = options.get(key)
    if not isinstance(v, list) or not all(_is_pos_int(h) for h in v) or (not allow_empty and not v):
        bad = next((h for h in v if not _is_pos_int(h)), v) if isinstance(v, list) else v
        return [(key, f"expected a list of positive integers, found {bad!r}")]
    return []


def _check_activation(options: dict) -> list:
    a = options.get("activation")
    if not isinstance(a, str) or a not in ACTIVATIONS:
        return [("activation", f"expected one of {', '.join(ACTIVATIONS)}, found {a!r}")]
    return []


def _check_keys(options: dict, defaults: dict) -> list:
    return [(k, f"unknown option; known: {', '.join(defaults) or 'none'}") for k in options if k not in defaults]


def _checker(*list_keys: str, nonempty: tuple[str, ...] = ()):
    def check(options: dict) -> list:
        out = []
        for k in list_keys:
            out += _check_int_list(options, k, allow_empty=k not in nonempty)
        if "activation" in options:
            out += _check_activation(options)
        return out

    return check


# --- shared pieces ---------------------------------------------------------------------

def _one_hot(x: torch.Tensor, classes: int) -> torch.Tensor:
    """``F.one_hot(x, classes)`` as floats, without its range check (on a CPU it reads the
    indices' min and max on the host at every call; the data were checked when bound, and
    an index out of range still fails in ``scatter_``)."""
    out = torch.zeros((*x.shape, classes), dtype=torch.get_default_dtype(), device=x.device)
    return out.scatter_(-1, x.long().unsqueeze(-1), 1.0)


def _hooked(m: nn.Module) -> bool:
    """Whether calling ``m`` does more than ``m.forward``: hooks on it, or ``m.compile()``."""
    return bool(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks) \
        or m._compiled_call_impl is not None


def _hooked_anywhere() -> bool:
    """Global module hooks, or a TorchScript trace (which records each module call)."""
    g = _nn_module
    return bool(g._global_forward_hooks or g._global_forward_pre_hooks or g._global_backward_hooks
                or g._global_backward_pre_hooks) or torch._C._get_tracing_state() is not None


def call(m: nn.Module, *xs):
    """``m(*xs)``: through ``forward`` itself where nothing hooks it (see :func:`run_sequential`)."""
    if _hooked(m) or _hooked_anywhere():
        return m(*xs)
    return m.forward(*xs)


def run_sequential(seq: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``seq(x)``, calling each layer's ``forward`` itself where nothing hooks it.

    ``nn.Module.__call__`` checks for hooks at every call, which costs a small layer more
    than its own work (two Python frames and a few dict reads a layer, for each of a step's
    dozen layers). Where no hook is registered (on the layer or globally) and the module is
    not compiled on its own, ``__call__`` would call ``forward`` and nothing else, so this
    does; anything hooked goes through ``__call__`` as usual.
    """
    if _hooked_anywhere() or _hooked(seq):
        return seq(x)
    for m in seq._modules.values():
        if _hooked(m):
            x = m(x)
        elif type(m) is nn.Linear and "weight" in m._parameters:
            # Linear.forward's own call without its frame and attribute lookups (an exact
            # Linear: a parametrized one is a subclass; functional_call swaps these entries)
            p = m._parameters
            x = _linear(x, p["weight"], p["bias"])
        else:
            x = m.forward(x)
    return x


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


def _mlp_layers(sizes: list[int], activation: str) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
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


# --- MLP -------------------------------------------------------------------------------

class MLPNet(nn.Module):
    """Concatenate the flattened parents, apply hidden layers, emit every head."""

    def __init__(self, inputs, heads, hidden, activation):
        super().__init__()
        self.inputs = list(inputs)
        in_dim = sum(i.width for i in inputs)
        if in_dim == 0:
            raise GraphModelError("an MLP needs at least one parent as input")
        sizes = [in_dim, *hidden]
        self.body = nn.Sequential(*_mlp_layers(sizes, activation), nn.Linear(sizes[-1], _total(heads)))
        self.heads = Heads(heads)

    def forward(self, *xs):
        mods = self._modules  # (read directly: nn.Module.__getattr__ is a Python call per name)
        return mods["heads"].forward(run_sequential(mods["body"], _flatten_inputs(self.inputs, xs)))


def _build_mlp(options, inputs, heads, trusted=False):
    return MLPNet(inputs, heads, options["hidden"], options["activation"])


def _describe_mlp(o):
    return "MLP " + "-".join(str(h) for h in o.get("hidden", [])) if o.get("hidden") else "Linear"


# --- conv encoder ----------------------------------------------------------------------

class ConvEncoderNet(nn.Module):
    """Strided convolutions over one image parent; other parents join after flattening."""

    def __init__(self, inputs, heads, channels, hidden, activation):
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
            convs += [nn.Conv2d(c, out, kernel_size=4, stride=2, padding=1), ACTIVATIONS[activation]()]
            c, h, w = out, h // 2, w // 2
        self.convs = nn.Sequential(*convs)
        with torch.no_grad():
            flat = self.convs(torch.zeros(1, *images[0].shape)).numel()
        sizes = [flat + sum(i.width for i in self.others), *hidden]
        self.body = nn.Sequential(*_mlp_layers(sizes, activation), nn.Linear(sizes[-1], _total(heads)))
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
    return ConvEncoderNet(inputs, heads, options["channels"], options["hidden"], options["activation"])


# --- deconv decoder --------------------------------------------------------------------

class DeconvDecoderNet(nn.Module):
    """Vector parents → feature map → transposed convolutions up to the target's size."""

    def __init__(self, inputs, heads, channels, hidden, activation):
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
            *_mlp_layers(sizes, activation), nn.Linear(sizes[-1], channels[0] * self.h0 * self.w0),
            ACTIVATIONS[activation](),
        )
        ups: list[nn.Module] = []
        for a, b in zip(channels, [*channels[1:], channels[-1]]):
            ups += [nn.ConvTranspose2d(a, b, kernel_size=4, stride=2, padding=1), ACTIVATIONS[activation]()]
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
    return DeconvDecoderNet(inputs, heads, options["channels"], options["hidden"], options["activation"])


# --- recurrent cell --------------------------------------------------------------------

class GRUCellNet(nn.Module):
    """``h[t] = GRU(h[t-1], other parents)``: the target's previous step is the state."""

    def __init__(self, inputs, heads):
        super().__init__()
        states = [i for i in inputs if i.is_state]
        if len(states) != 1 or len(heads) != 1 or len(heads[0].shape) != 1 or states[0].shape != heads[0].shape:
            raise GraphModelError(
                "a GRUCell needs one vector target and its own previous step among the parents "
                f"(e.g. h given h[t-1]), found parents {[str(i.name) for i in inputs]}"
            )
        self.state_index = inputs.index(states[0])
        self.others = [i for i in inputs if not i.is_state]
        if not self.others:
            raise GraphModelError("a GRUCell needs at least one parent besides its previous state")
        self.cell = nn.GRUCell(sum(i.width for i in self.others), heads[0].shape[0])

    def forward(self, *xs):
        h = xs[self.state_index]
        x = _flatten_inputs(self.others, tuple(v for k, v in enumerate(xs) if k != self.state_index))
        if x.shape[:-1] != h.shape[:-1]:
            batch = broadcast(x.shape[:-1], h.shape[:-1])
            x, h = x.expand(*batch, x.shape[-1]), h.expand(*batch, h.shape[-1])
        batch = h.shape[:-1]
        return (self.cell(x.reshape(-1, x.shape[-1]), h.reshape(-1, h.shape[-1])).reshape(*batch, -1),)


def _build_gru(options, inputs, heads, trusted=False):
    return GRUCellNet(inputs, heads)


# --- identity --------------------------------------------------------------------------

class IdentityNet(nn.Module):
    """Pass the single parent through, reshaped to the single head."""

    def __init__(self, inputs, heads):
        super().__init__()
        if len(inputs) != 1 or len(heads) != 1 or inputs[0].width != heads[0].numel or inputs[0].classes:
            raise GraphModelError(
                "an Identity network needs one parent and one output of the same size, found "
                f"parents {[(i.name, i.shape) for i in inputs]} and outputs {[(h.name, h.shape) for h in heads]}"
            )
        self.in_nd, self.shape = len(inputs[0].shape), heads[0].shape

    def forward(self, x):
        batch = x.shape[: x.dim() - self.in_nd]
        return (x.reshape(*batch, *self.shape),)


def _build_identity(options, inputs, heads, trusted=False):
    return IdentityNet(inputs, heads)


# --- user modules ----------------------------------------------------------------------

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


def import_ref(ref: str, trusted: bool):
    """Import ``package.module:Name``, only when the caller trusts the graph."""
    if not trusted:
        raise TrustError(
            f"this graph refers to user code {ref!r}; load it with trust=True (CLI: --trust) "
            "only if you trust where the file came from"
        )
    mod, _, name = ref.partition(":")
    try:
        obj = importlib.import_module(mod)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise GraphModelError(f"cannot import user code {ref!r}: {e}") from None
    return obj


def _check_module(options: dict) -> list:
    ref = options.get("ref")
    if not isinstance(ref, str) or ":" not in ref or not all(ref.partition(":")[::2]):
        return [("ref", f"expected 'package.module:Name', found {ref!r}")]
    if not isinstance(options.get("kwargs", {}), dict):
        return [("kwargs", f"expected an object, found {options.get('kwargs')!r}")]
    return []


def _build_module(options, inputs, heads, trusted=False):
    cls = import_ref(options["ref"], trusted)
    return UserNetAdapter(cls(**options.get("kwargs", {})), heads)


for _t in (
    NetworkType("MLP", {"hidden": [400], "activation": "relu"}, _checker("hidden"), _build_mlp, _describe_mlp),
    NetworkType("ConvEncoder", {"channels": [32, 64], "hidden": [256], "activation": "relu"},
                _checker("channels", "hidden", nonempty=("channels",)), _build_conv,
                lambda o: "ConvEncoder " + "-".join(map(str, o.get("channels", [])))),
    NetworkType("DeconvDecoder", {"channels": [64, 32], "hidden": [256], "activation": "relu"},
                _checker("channels", "hidden", nonempty=("channels",)), _build_deconv,
                lambda o: "DeconvDecoder " + "-".join(map(str, o.get("channels", [])))),
    NetworkType("GRUCell", {}, lambda o: [], _build_gru, lambda o: "GRUCell"),
    NetworkType("Identity", {}, lambda o: [], _build_identity, lambda o: "Identity"),
    NetworkType("module", {"ref": None, "kwargs": {}}, _check_module, _build_module,
                lambda o: str(o.get("ref"))),
):
    NETWORKS.register(_t.name, _t)


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


# --- constructors for the Python API ---------------------------------------------------

def MLP(*hidden: int, activation: str = "relu") -> NetSpec:
    """An MLP with the given hidden widths: ``MLP(400)``, ``MLP(256, 256, activation="tanh")``."""
    return NetSpec("MLP", {"hidden": list(hidden), "activation": activation})


def ConvEncoder(channels=(32, 64), hidden=(256,), activation: str = "relu") -> NetSpec:
    return NetSpec("ConvEncoder", {"channels": list(channels), "hidden": list(hidden), "activation": activation})


def DeconvDecoder(channels=(64, 32), hidden=(256,), activation: str = "relu") -> NetSpec:
    return NetSpec("DeconvDecoder", {"channels": list(channels), "hidden": list(hidden), "activation": activation})


def GRUCell() -> NetSpec:
    return NetSpec("GRUCell", {})


def Identity() -> NetSpec:
    return NetSpec("Identity", {})


def UserNet(ref: str, **kwargs) -> NetSpec:
    """A user's own ``nn.Module`` class by reference, ``"package.module:Class"``.

    The class is imported only when the graph is built with ``trust=True``.
    """
    return NetSpec("module", {"ref": ref, "kwargs": dict(kwargs)})
