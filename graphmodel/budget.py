"""Memory estimated from shapes alone, before anything is allocated.

A graph file of a kilobyte can describe a model of terabytes: a variable of 2²⁴ elements
read by a 400-wide layer, a dozen up-sampling layers over an 8×8 map, a discriminator of
64 layers of 8192. This module says how much a graph needs before any of it exists:

- **parameters**: each network is built on torch's ``meta`` device (shapes without
  storage), plus the factors' own constants and learned parameters;
- **activations**: what one example keeps for the backward pass, from each network type's
  declaration (:meth:`graphmodel.networks.NetworkType.activation_count`), once per step of
  a sequence plate and per view of an iid plate, plus the variables' values.

A training step needs the weights, their gradients and two optimizer moments
(:data:`STATE_COPIES` copies) and one batch of activations. :func:`guard` refuses a graph
whose step would need more than the limit (half of the machine's memory by default, 90 % of
a GPU's), naming the largest factor, with :class:`ResourceError`. Building on ``meta`` costs
a little, so a graph whose crude upper bound is far below the limit is not built at all.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field

import torch

from .errors import GraphModelError

#: copies of each parameter a training step holds: weights, gradients, Adam's two moments
STATE_COPIES = 4
#: a graph whose crude bound is below this share of the limit is not measured further
_CHEAP_SHARE = 0.01
_UNITS = {"": 1, "b": 1, "kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9, "tb": 10 ** 12,
          "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}


class ResourceError(GraphModelError):
    """A graph that would need more memory than the limit."""


@dataclass
class Estimate:
    """What a graph's model needs, from its shapes.

    Attributes:
        params: parameter elements (learned or constant; a tied network once).
        param_bytes: their bytes.
        activation_bytes: bytes one example keeps for the backward pass (approximate: every
            layer's output and every variable's value).
        factors: per factor, ``(label, parameter bytes, activation bytes per example)``.
    """

    params: int = 0
    param_bytes: int = 0
    activation_bytes: int = 0
    factors: list = field(default_factory=list)

    def training_bytes(self, batch_size: int) -> int:
        """Weights, gradients and optimizer moments, and one batch's activations."""
        return STATE_COPIES * self.param_bytes + batch_size * self.activation_bytes

    def describe(self, batch_size: int) -> str:
        """``19.8 k parameters (79.2 kB); a training step of 128 examples needs about 657 kB``."""
        return (f"{count_text(self.params)} parameters ({bytes_text(self.param_bytes)}); a training step of "
                f"{batch_size} examples needs about {bytes_text(self.training_bytes(batch_size))}")


def count_text(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(int(n))


def bytes_text(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def parse_size(value, where: str) -> int:
    """Bytes from ``8000000``, ``"8GB"`` or ``"512 MiB"``; a named error otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", value)
        if m and m.group(2).lower() in _UNITS and float(m.group(1)) > 0:
            return int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    raise GraphModelError(f"{where}: expected a size in bytes such as 8000000, '8GB' or '512MiB', found {value!r}")


def default_limit(device=None) -> int:
    """Half of the machine's memory; 90 % of a GPU's own memory for a CUDA device."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda" and torch.cuda.is_available():
        return int(0.9 * torch.cuda.get_device_properties(device).total_memory)
    try:
        return int(0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows): assume 8 GB
        return 8 * 10 ** 9


def limit_of(graph, override=None, device=None) -> int:
    """The limit: ``override`` (``--max-memory``), else the file's ``training.max_memory``,
    else :func:`default_limit`."""
    if override is not None:
        return parse_size(override, "--max-memory")
    value = graph.training.get("max_memory") if isinstance(graph.training, dict) else None
    if value is not None:
        return parse_size(value, "training.max_memory")
    return default_limit(device)


def _itemsize() -> int:
    return torch.empty((), dtype=torch.get_default_dtype(), device="meta").element_size()


def _net_io(graph, f):
    """The inputs and heads the factor's network is sized from (as the runtime sizes it)."""
    from .factors import NET
    from .families import FAMILIES
    from .networks import HeadSpec, InputSpec

    fam = FAMILIES.get(f.family).with_options(f.family_options)
    var = graph.variables[f.target]
    names = [*fam.params, *(k for k in fam.defaults if k not in fam.params)]
    heads = [HeadSpec(k, fam.param_shape(k, var)) for k in names if f.params.get(k) == NET]
    inputs = [InputSpec(p.name, graph.variables[p.name].shape, graph.variables[p.name].classes,
                        is_state=bool(p.lag) and p.name == f.target) for p in f.parents]
    if f.autoregressive is not None:  # a masked network reads the target itself first
        inputs = [InputSpec(f.target, var.shape, var.classes)] + inputs
    own = sum(math.prod(fam.param_shape(k, var)) for k in names if k in f.params and f.params.get(k) != NET)
    return fam, var, inputs, heads, own


def _spec(graph, f):
    from .factors import Tied
    from .networks import NetSpec

    spec = graph.networks.get(f.net.name) if isinstance(f.net, Tied) else f.net
    return spec if isinstance(spec, NetSpec) else None


def _repeats(graph, f) -> int:
    """How often a factor's network runs per example: once per step or view of its plate."""
    from .plates import reads_sequences

    var = graph.variables[f.target]
    plate = graph.plates.get(var.plate) if var.plate else None
    if plate is None and (f.reduce or reads_sequences(graph, f)):  # a reduction (or a BiRNN) reads every view or step
        plate = next((graph.plates.get(graph.variables[p.name].plate) for p in f.parents
                      if graph.variables[p.name].plate), None)
    return plate.size if plate is not None else 1


def _variable_elements(graph) -> int:
    total = 0
    for v in graph.variables.values():
        plate = graph.plates.get(v.plate) if v.plate else None
        total += math.prod(v.shape) * (v.classes or 1) * (plate.size if plate is not None else 1)
    return total


def _crude_params(spec, inputs, heads) -> int:
    """An upper bound of a network's parameters from its options alone: every width it
    names, squared (times a kernel's area)."""
    widths = sum(i.width for i in inputs) + sum(h.numel for h in heads)
    kernel = 1
    for key, v in spec.options.items():
        if isinstance(v, list):
            widths += sum(x for x in v if isinstance(x, int) and not isinstance(x, bool))
        elif key == "kernel_size" and isinstance(v, int):
            kernel = v * v
    return (widths + 1) ** 2 * max(kernel, 16)


def _network_params(spec, inputs, heads, trusted) -> int:
    """A network's exact parameter count, built on the meta device (no storage)."""
    from .networks import build_network

    with torch.device("meta"):
        net = build_network(spec, inputs, heads, trusted)
    return sum(p.numel() for p in net.parameters())


def estimate(graph, trusted: bool = False, exact: bool = True) -> Estimate:
    """Parameters and per-example activations of ``graph``'s model, from shapes alone.

    Args:
        graph: a graph without problems.
        trusted: as for ``graph.build``.
        exact: count each network's parameters by building it on the meta device; without
            it they are a crude upper bound from the options (no network is built).
    """
    from .networks import NETWORKS

    size = _itemsize()
    est = Estimate()
    tied: set = set()
    for f in graph.factors:
        fam, var, inputs, heads, own = _net_io(graph, f)
        spec = _spec(graph, f)
        params, acts = own, 0
        if spec is not None and heads and spec.type in NETWORKS:
            key = getattr(f.net, "name", None)
            if key is None or key not in tied:
                tied.add(key)
                params += _network_params(spec, inputs, heads, trusted) if exact else _crude_params(spec, inputs, heads)
            acts = NETWORKS.get(spec.type).activation_count(spec.options, inputs, heads) * _repeats(graph, f)
        if f.per_step and var is not None and var.plate in graph.plates:  # its own network and constants each step
            params *= graph.plates[var.plate].size
        label = f"{f.model}({f.label})"
        if getattr(f, "flow", ()):
            p, a = _flow_cost(f, var, inputs, label, trusted, exact)
            params, acts = params + p, acts + a
        est.factors.append((label, params * size, acts * size))
        est.params += params
        est.activation_bytes += acts * size
    est.param_bytes = est.params * size
    est.activation_bytes += _variable_elements(graph) * size
    return est


def _flow_cost(f, var, inputs, label, trusted, exact) -> tuple[int, int]:
    """A flow's steps: their parameters (built on meta, or a crude bound from the widths they
    name) and what one example keeps (each step's hidden layers, and its output)."""
    from .flows import build_layers

    widths = [sum(x for x in v if isinstance(x, int) and not isinstance(x, bool))
              for s in f.flow for v in s.options.values() if isinstance(v, list)]
    event = math.prod(var.shape)
    acts = 2 * sum(widths) + event * len(f.flow)
    if not exact:
        return sum((event + w + 1) ** 2 for w in widths) + event * event * len(f.flow), acts
    context = [i for i in inputs if i.name != f.target]
    with torch.device("meta"):
        layers = build_layers(f.flow, tuple(var.shape), label, context)
    return sum(p.numel() for layer in layers for p in layer.parameters()), acts


def check_budget(est: Estimate, batch_size: int, limit: int, what: str = "training") -> None:
    """Raise :class:`ResourceError` when ``est`` needs more than ``limit`` bytes."""
    need = est.training_bytes(batch_size)
    if need <= limit:
        return
    label, p, a = max(est.factors, key=lambda t: STATE_COPIES * t[1] + batch_size * t[2], default=("?", 0, 0))
    raise ResourceError(
        f"{what} needs about {bytes_text(need)} ({count_text(est.params)} parameters, "
        f"{bytes_text(batch_size * est.activation_bytes)} of activations for {batch_size} examples), over the "
        f"limit of {bytes_text(limit)}; the largest factor is {label} ({bytes_text(p)} of weights, "
        f"{bytes_text(a)} per example); make it smaller, or raise the limit with training.max_memory or "
        "--max-memory")


def guard(graph, batch_size: int = 1, limit: int | None = None, trusted: bool = False,
          what: str = "building the model") -> Estimate | None:
    """Refuse ``graph`` (:class:`ResourceError`) when a step of ``batch_size`` examples would
    need more than ``limit`` bytes. A graph whose crude bound is far below the limit is
    passed without building anything (``None``); otherwise the exact estimate is returned."""
    limit = limit_of(graph) if limit is None else limit
    crude = estimate(graph, trusted, exact=False)
    if crude.training_bytes(batch_size) < _CHEAP_SHARE * limit:
        return None
    est = estimate(graph, trusted)
    check_budget(est, batch_size, limit, what)
    return est


def guard_network(spec, inputs, heads, label: str, batch_size: int = 1, limit: int | None = None,
                  trusted: bool = False) -> None:
    """:func:`guard` for one network built outside the graph (a game's discriminator)."""
    from .networks import NETWORKS, NetSpec

    if not isinstance(spec, NetSpec) or spec.type not in NETWORKS:
        return
    limit = default_limit() if limit is None else limit
    size = _itemsize()
    acts = NETWORKS.get(spec.type).activation_count(spec.options, inputs, heads) * size
    if STATE_COPIES * _crude_params(spec, inputs, heads) * size + batch_size * acts < _CHEAP_SHARE * limit:
        return
    params = _network_params(spec, inputs, heads, trusted)
    need = STATE_COPIES * params * size + batch_size * acts
    if need > limit:
        raise ResourceError(
            f"{label}: the network needs about {bytes_text(need)} to train ({count_text(params)} parameters), over "
            f"the limit of {bytes_text(limit)}; make it smaller, or raise the limit with training.max_memory or "
            "--max-memory")
