"""Autoregressive factors: ``p(x | parents) = ∏ᵢ p(x_{oᵢ} | x_{o<ᵢ}, parents)`` in one network.

A factor with ``autoregressive=...`` is built as an :class:`AutoregressiveModule` instead of
a ``FactorModule``: its network (a masked MLP, :mod:`graphmodel.networks.masked`, or a gated
PixelCNN, :mod:`graphmodel.networks.pixelcnn`) reads the target
itself besides the parents, and ``forward(*parents)`` returns an
:class:`AutoregressiveDistribution`. Scoring is one masked pass (the parameters of every
dimension at once, then the family's elementwise log-density summed over the event);
sampling fills the target one dimension at a time in its order, optionally keeping given
dimensions (:meth:`AutoregressiveDistribution.complete`) — each step from the network's
cache (:mod:`graphmodel.fastgen`: only what the new dimension adds) where it has one, else
one full pass per dimension.

Orders (the factor's :class:`graphmodel.factors.Autoregressive` spec): ``natural``,
``random`` (one permutation fixed by the seed) or ``agnostic``: in training mode every call
draws a fresh order and connectivity (MADE's order-agnostic training); in eval mode the
density is the average over ``ensemble`` orders and connectivities fixed by the seed — a
mixture, so sampling draws a member per example, then fills in that member's order.
"""

from __future__ import annotations

import math

import torch
from torch import distributions as D
from torch import nn

from . import fastgen
from .errors import GraphModelError, ShapeError
from .factors import NET
from .families import FAMILIES, log_density
from .networks import HeadSpec, InputSpec, build_network
from .networks.masked import MaskedMLPNet, natural_order, random_order
from .paramtable import _CONST, _NET, _SCHED, param_table

_SCALAR = torch.Size()  # one sample
_FIXED = ((None, None),)  # one fixed order, its masks the network's own


class AutoregressiveModule(nn.Module):
    """An autoregressive factor's network, parameters and orders.

    It has the attributes the runtime's plan reads from a factor module (``label``,
    ``family``, ``event_ndim``, ``deterministic``, ``standard``) and ``forward(*parents)``
    returns a fresh :class:`AutoregressiveDistribution` (nothing is cached between calls).
    """

    standard = False  # (never a standard Normal prior: the runtime's shortcuts skip it)
    deterministic = False

    def __init__(self, graph, index: int, trusted: bool = False, shared: dict | None = None):
        super().__init__()  # (``shared``: tied networks, which an autoregressive factor does not take)
        f = graph.factors[index]
        self.label = f"{f.model}({f.label})"
        self.family = fam = FAMILIES.get(f.family).with_options(f.family_options)
        var = graph.variables[f.target]
        self.event_shape = torch.Size(var.shape)
        self.event_ndim = len(var.shape)
        self.dim = math.prod(var.shape)
        self.classes = var.classes if f.family == "Categorical" else None
        self.spec = f.autoregressive
        names = [*fam.params, *(k for k in fam.defaults if k not in fam.params)]
        heads = [HeadSpec(k, fam.param_shape(k, var)) for k in names if f.params.get(k) == NET]
        inputs = [InputSpec(f.target, var.shape, var.classes)] + [
            InputSpec(p.name, graph.variables[p.name].shape, graph.variables[p.name].classes) for p in f.parents]
        try:
            self.net = build_network(f.net, inputs, heads, trusted)
        except GraphModelError as e:
            raise type(e)(f"factor {self.label}: {e}") from None
        self.param_shapes = {k: tuple(fam.param_shape(k, var)) for k in names}
        self.table = param_table(self, f, var, names)  # (positive maps and schedules as FactorModule's)
        self.schedules = tuple((ref, f.params[k]) for k, kind, ref, _ in self.table if kind == _SCHED)
        self.parent_ndims = tuple(len(graph.variables[p.name].shape) for p in f.parents)
        self._masked = isinstance(self.net, MaskedMLPNet)
        self._init_orders()
        if not self._masked:  # a user's module: prove its output shapes once, as FactorModule does
            self._verify(graph, f, var, heads)

    def _verify(self, graph, f, var, heads):
        """Run a user's network once on zeros (the target, then the parents)."""
        def zeros(v):
            return torch.zeros(2, *v.shape, dtype=torch.long if v.classes else torch.get_default_dtype())

        xs = [zeros(var)] + [zeros(graph.variables[p.name]) for p in f.parents]
        try:
            with torch.no_grad():
                out = self.net(*xs)
        except Exception as e:  # a user's module may raise anything; report it on the factor
            raise ShapeError(f"factor {self.label}: the network failed on the target and parents shaped "
                             f"{[tuple(x.shape) for x in xs]}: {e}") from None
        found = [tuple(y.shape) for y in out]
        want = [(2, *h.shape) for h in heads]
        if found != want:
            raise ShapeError(f"factor {self.label}: the network returned outputs shaped {found}, expected {want} "
                             f"({', '.join(h.name for h in heads)}: batch, *shape of the parameter)")

    def _init_orders(self):
        """The fixed orders (and, for an agnostic ensemble, its members' masks) as buffers.

        They follow from the spec, so they are not saved with the weights.
        """
        spec, n = self.spec, self.dim
        g = torch.Generator().manual_seed(spec.seed)
        if spec.order == "natural":
            orders = [natural_order(n)]
        else:
            orders = [random_order(n, g) for _ in range(spec.ensemble)]
        self.register_buffer("orders", torch.stack(orders), persistent=False)
        self.members = len(orders)
        if not self._masked:
            return
        if spec.order == "agnostic":  # the members' connectivities, drawn as in training
            for k, order in enumerate(orders):
                for i, m in enumerate(self.net.masks(order, agnostic=True, generator=g)):
                    self.register_buffer(f"mask_{k}_{i}", m, persistent=False)
        else:
            self.net.set_order(orders[0])

    def _member_masks(self, k: int) -> list[torch.Tensor] | None:
        if not self._masked or self.spec.order != "agnostic":
            return None  # the network's own default masks (set to the order at build)
        return [self._buffers[f"mask_{k}_{i}"] for i in range(len(self.net.layers))]

    def members_now(self) -> list[tuple[torch.Tensor, list | None]]:
        """``[(order, masks)]`` to use for one call: a fresh order and connectivity in
        agnostic training, else the fixed ones (``None``: the factor's one order, and the
        network's default masks)."""
        if self.spec.order != "agnostic":
            return _FIXED  # (the order is read when sampling; scoring needs no more)
        if self.training and self._masked:
            order = torch.randperm(self.dim, device=self.orders.device)
            return [(order, self.net.masks(order, agnostic=True))]
        return [(self.orders[k], self._member_masks(k)) for k in range(self.members)]

    def params(self, value: torch.Tensor, *parents: torch.Tensor, masks=None) -> dict:
        """The constrained parameters of every dimension given ``value`` (read through the masks)."""
        if self._masked:
            raw = self.net(value, *parents, masks=masks)
        else:
            raw = self.net(value, *parents)
        out = {}
        for name, kind, ref, fn in self.table:
            if kind in (_CONST, _SCHED):
                out[name] = self._buffers[ref]
                continue
            v = raw[ref] if kind == _NET else self._parameters[ref]
            out[name] = v if fn is None else fn(v)
        return out

    def raw_at(self, value: torch.Tensor, parents, masks, d: int) -> tuple[torch.Tensor, ...]:
        """The network's raw outputs of dimension ``d`` alone, from one full pass."""
        raw = self.net(value, *parents, masks=masks) if self._masked else self.net(value, *parents)
        lead = value.dim() - self.event_ndim
        return tuple(r.reshape(*r.shape[:lead], self.dim, *r.shape[lead + self.event_ndim:]).select(lead, d)
                     for r in raw)

    def params_at(self, raw: tuple, d: int) -> dict:
        """The constrained parameters of dimension ``d`` from its raw outputs ``raw``
        (constants and learned parameters taken at ``d``)."""
        out = {}
        for name, kind, ref, fn in self.table:
            if kind == _NET:
                v = raw[ref]
            else:
                v = self._buffers[ref] if kind in (_CONST, _SCHED) else self._parameters[ref]
                shape = self.param_shapes[name]
                if v.dim() and len(shape) >= self.event_ndim:  # (a scalar is every dimension's)
                    v = v.expand(shape).reshape(self.dim, *shape[self.event_ndim:])[d]
            out[name] = v if fn is None else fn(v)
        return out

    def forward(self, *parents: torch.Tensor) -> AutoregressiveDistribution:
        shapes = [x.shape[: x.dim() - nd] for x, nd in zip(parents, self.parent_ndims)]
        batch = torch.broadcast_shapes(*shapes) if shapes else torch.Size()
        return AutoregressiveDistribution(self, parents, self.members_now(), batch)


class AutoregressiveDistribution(D.Distribution):
    """The density of an autoregressive factor given its parents.

    ``log_prob`` is one masked pass per order (one in training; the average density over
    an agnostic ensemble's orders in eval mode); ``sample`` and :meth:`complete` fill the
    target one dimension at a time, in order (cached where the network allows, see
    :meth:`_fill`). There is no reparameterized sample.

    Args:
        module: the factor's :class:`AutoregressiveModule`.
        parents: the parents' values.
        members: ``[(order, masks)]``, one per order averaged over.
        batch_shape: the parents' batch shape (or a wider one, from :meth:`expand`).
    """

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, module: AutoregressiveModule, parents, members, batch_shape):
        self.module, self.parents, self.members = module, tuple(parents), members
        super().__init__(torch.Size(batch_shape), module.event_shape, validate_args=False)

    @property
    def support(self):
        return self.module.family.dist.support

    def expand(self, batch_shape, _instance=None) -> AutoregressiveDistribution:
        return AutoregressiveDistribution(self.module, self.parents, self.members, batch_shape)

    def _dist(self, value: torch.Tensor, masks) -> D.Distribution:
        """The family's distribution of every dimension given ``value``, its event the target's."""
        mod = self.module
        return mod.family.make(mod.params(value, *self.parents, masks=masks), mod.event_ndim)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        lps = [log_density(self._dist(value, masks), value) for _, masks in self.members]
        if len(lps) == 1:
            return lps[0]
        return torch.logsumexp(torch.stack(torch.broadcast_tensors(*lps)), 0) - math.log(len(lps))

    def sample(self, sample_shape=_SCALAR) -> torch.Tensor:
        return self.complete(None, None, sample_shape)

    @torch.no_grad()
    def complete(self, known: torch.Tensor | None, values: torch.Tensor | None,
                 sample_shape=_SCALAR) -> torch.Tensor:
        """A sample in which the ``known`` dimensions keep their ``values``.

        The other dimensions are drawn in order, each given every dimension before it
        (given or drawn). That is the exact conditional when the known dimensions come
        first in the order (an image's top rows in the natural order); otherwise the known
        values only steer the dimensions after them. An ensemble draws one of its orders
        per example.

        Args:
            known: booleans broadcastable to ``(*sample_shape, *batch, *event)`` (``None``:
                nothing known, a plain sample).
            values: the known values, broadcastable to the same shape.
        Returns:
            ``(*sample_shape, *batch, *event)``.
        """
        mod = self.module
        shape = torch.Size(sample_shape) + self.batch_shape + self.event_shape
        device = mod.orders.device
        x = torch.zeros(shape, dtype=torch.long if mod.classes else torch.get_default_dtype(), device=device)
        if known is not None:
            known = known.to(device=device, dtype=torch.bool).expand(shape)
            x = torch.where(known, values.to(device=device, dtype=x.dtype).expand(shape), x)
        if len(self.members) == 1:
            return self._fill(x, known, *self.members[0], self.parents)
        # An ensemble draws one member per example and fills each example with its member
        # alone (D passes per member drawn, not D per member for every example)
        lead = shape[: len(shape) - mod.event_ndim]
        pick = torch.randint(len(self.members), lead, device=device)
        parents = [p.expand(*lead, *p.shape[p.dim() - nd:]) for p, nd in zip(self.parents, mod.parent_ndims)]
        for k, (order, masks) in enumerate(self.members):
            rows = pick == k
            if bool(rows.any()):
                x[rows] = self._fill(x[rows], None if known is None else known[rows], order, masks,
                                     [p[rows] for p in parents])
        return x

    def _fill(self, x, known, order, masks, parents):
        """Fill ``x`` in ``order`` given ``parents``, one dimension at a time.

        Where the network has a cache (:mod:`graphmodel.fastgen`) each step computes only
        the new dimension's outputs; otherwise each step is a full pass. Both draw each
        dimension from the same distribution of that dimension alone, so under one seed
        they draw the same sample.
        """
        mod = self.module
        lead = x.shape[: x.dim() - mod.event_ndim]
        flat = x.view(*lead, mod.dim)  # (writes go to x)
        known_flat = None if known is None else known.reshape(*lead, mod.dim)
        order = mod.orders[0] if order is None else order
        cache = fastgen.cache_for(mod.net, x, tuple(parents), masks, order)
        for d in order.tolist():
            raw = cache.next(d) if cache is not None else mod.raw_at(x, parents, masks, d)
            new = mod.family.make(mod.params_at(raw, d), 0).sample()
            if known_flat is not None:
                new = torch.where(known_flat[..., d], flat[..., d], new)
            flat[..., d] = new
            if cache is not None:
                cache.push(d, flat[..., d])
        return x


def complete(runtime, variable: str, known: torch.Tensor, values: torch.Tensor, *, model: str = "p",
             given: dict | None = None, n: int | None = None) -> torch.Tensor:
    """Sample ``variable`` of ``model`` with its ``known`` dimensions kept at ``values``.

    The model's other variables are drawn ancestrally first (or taken from ``given``), then
    the variable's autoregressive factor fills the unknown dimensions in its order (see
    :meth:`AutoregressiveDistribution.complete`).

    Example:
        >>> top = torch.zeros(64, dtype=torch.bool); top[:32] = True          # doctest: +SKIP
        >>> complete(runtime, "x", top, digits[:16], n=None)                    # doctest: +SKIP

    Args:
        runtime: ``graph.build()``.
        variable: an autoregressive factor's target.
        known, values: booleans and values broadcastable to ``(batch..., *event)``.
        given, n: as :meth:`graphmodel.runtime.ModelRuntime.sample` (``n`` samples, or
            ``given`` values with their batch).
    Returns:
        ``(batch..., *event)``.
    """
    m = runtime.model(model)
    step = next((s for s in m.plan.blocks if getattr(s, "target", None) is not None
                 and m.plan.names[s.target] == variable), None)
    module = None if step is None else m._modules[step.factor]
    if not isinstance(module, AutoregressiveModule):
        raise GraphModelError(f"model '{model}' has no autoregressive factor for '{variable}'")
    with torch.no_grad():
        vals = m.sample(n, given)
        d = module(*(vals[m.plan.names[k]] for k in step.parents))
        batch = vals[variable].shape[: vals[variable].dim() - module.event_ndim]
        return d.expand(batch).complete(known, values)
