"""Factors — ``family(target | parents)`` — and models (products of factors), as plain data.

A factor names its target and parents, its family, where each parameter comes from
(the factor's network, a constant, or a free learnable parameter) and, for plates, how a
parent inside an iid plate is reduced (``reduce="sum"``) or whether this is the initial
factor of a sequence (``init=True``).

Example — the generative model of a VAE:
    >>> from graphmodel import Variable, Normal, Bernoulli, MLP
    >>> x, z = Variable("x", (64,), "binary", "observed"), Variable("z", (8,))
    >>> p = Bernoulli(x, given=z, net=MLP(400)) * Normal(z, loc=0.0, scale=1.0)
    >>> [f.label for f in p.factors]
    ['x|z', 'z']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from torch import nn

from .errors import GraphModelError
from .families import FAMILIES
from .flows import as_flow
from .networks import MLP, NetSpec
from .variables import Parent, Variable

NET = "net"
REDUCTIONS = ("sum", "mean")


@dataclass(frozen=True)
class Const:
    """A fixed parameter value (a number or nested list), in the parameter's own space."""

    value: float | list

    def to_json(self):
        return self.value


@dataclass(frozen=True)
class Learn:
    """A free learnable parameter initialised at ``init`` (in the parameter's own space)."""

    init: float | list = 0.0

    def to_json(self):
        return {"learn": self.init}


def _source(value):
    if value == NET or isinstance(value, (Const, Learn)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Const(float(value))
    if isinstance(value, list) and _numeric_nested(value):
        return Const(value)
    raise GraphModelError(
        f"a parameter must be a number, a nested list of numbers, Learn(...) or 'net', found {value!r}"
    )


def _numeric_nested(v) -> bool:
    if isinstance(v, list):
        return bool(v) and all(_numeric_nested(x) for x in v)
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(eq=True)
class Factor:
    """``family(target | parents)`` with its parameter sources.

    Attributes:
        target: name of the variable this factor defines.
        family: a registered family name.
        parents: parent references (``Parent("z")`` or ``Parent("h", lag=1)``).
        params: parameter name → ``"net"``, :class:`Const` or :class:`Learn`.
        net: the network producing the ``"net"`` parameters (a :class:`NetSpec`, or an
            ``nn.Module`` instance in code), or ``None``.
        model: which model of the graph the factor belongs to (set by the graph).
        init: the factor used at t = 0 of a sequence plate.
        reduce: how a parent inside an iid plate is reduced when the target is outside it.
        flow: the flow kind: invertible steps (:class:`graphmodel.flows.FlowStep`) the
            family's distribution (the base) is pushed through; empty for a parametric factor.
    """

    target: str
    family: str
    parents: tuple[Parent, ...] = ()
    params: dict = field(default_factory=dict)
    net: NetSpec | nn.Module | None = None
    model: str | None = None
    init: bool = False
    reduce: str | None = None
    variables: tuple[Variable, ...] = field(default=(), compare=False, repr=False)
    flow: tuple = ()

    @property
    def label(self) -> str:
        """``x|z`` — the factor as written inside ``p(...)``."""
        tgt = f"{self.target}[0]" if self.init else self.target
        return f"{tgt}|{','.join(map(str, self.parents))}" if self.parents else tgt

    @property
    def deterministic(self) -> bool:
        return self.family in FAMILIES and FAMILIES.get(self.family).deterministic

    def __str__(self) -> str:
        return f"{self.model or '?'}({self.label})"

    def __mul__(self, other) -> Model:
        return Model((self,)) * other


@dataclass(frozen=True)
class Model:
    """A product of factors — a joint distribution, ``p(x|z) * p(z)``."""

    factors: tuple[Factor, ...]

    def __mul__(self, other) -> Model:
        if isinstance(other, Factor):
            return Model(self.factors + (other,))
        if isinstance(other, Model):
            return Model(self.factors + other.factors)
        return NotImplemented


def make_factor(family: str, target, given=(), net=None, *, init: bool = False,
                reduce: str | None = None, flow=None, **params) -> Factor:
    """Build a factor in code; used by the family constructors (``Normal(z, given=x)``).

    Parameters not given come from ``net``; when ``net`` is omitted and the factor has
    parents, a default ``MLP(400)`` is used. Constant parameters need no network.
    ``flow`` (a list of steps such as ``[gm.Coupling(), gm.Permute()]``, or dicts
    ``{"type": "coupling", ...}``) makes it a flow factor with this family as its base.
    """
    fam = FAMILIES.get(family)
    tvar = target if isinstance(target, Variable) else None
    tname = target.name if isinstance(target, Variable) else target
    if isinstance(given, (str, Variable, Parent)):
        given = (given,)
    parents = tuple(Parent.parse(g) for g in given)
    variables = tuple(v for v in (tvar, *given) if isinstance(v, Variable))
    sources = {k: _source(v) for k, v in params.items()}
    unknown = [k for k in sources if k not in fam.params and k not in fam.defaults]
    if unknown:
        raise GraphModelError(
            f"factor {tname}: {family} has no parameter {unknown[0]!r}; "
            f"known: {', '.join((*fam.params, *fam.defaults))}"
        )
    missing = [k for k in fam.params if k not in sources]
    if missing and net is None:
        if not parents:
            raise GraphModelError(
                f"factor {tname}: parameter {missing[0]!r} has no value; give {missing[0]}=... or a net"
            )
        net = MLP(400)
    for k in missing:
        sources[k] = NET
    if reduce is not None and reduce not in REDUCTIONS:
        raise GraphModelError(f"factor {tname}: reduce must be one of {REDUCTIONS}, found {reduce!r}")
    try:
        steps = as_flow(flow)
    except GraphModelError as e:
        raise GraphModelError(f"factor {tname}: {e}") from None
    return Factor(tname, family, parents, sources, net, None, init, reduce, variables, steps)


def _constructor(family: str):
    def build(target, given=(), net=None, *, init=False, reduce=None, flow=None, **params) -> Factor:
        return make_factor(family, target, given, net, init=init, reduce=reduce, flow=flow, **params)

    build.__name__ = family
    build.__qualname__ = family
    build.__doc__ = f"A {family} factor: ``{family}(target, given=parents, net=..., flow=[...], **params)``."
    return build


Normal = _constructor("Normal")
Laplace = _constructor("Laplace")
Bernoulli = _constructor("Bernoulli")
Categorical = _constructor("Categorical")
OneHotCategorical = _constructor("OneHotCategorical")
RelaxedOneHotCategorical = _constructor("RelaxedOneHotCategorical")
RelaxedBernoulli = _constructor("RelaxedBernoulli")
Beta = _constructor("Beta")
Gamma = _constructor("Gamma")
Dirichlet = _constructor("Dirichlet")
Deterministic = _constructor("Deterministic")


def with_model(f: Factor, model: str) -> Factor:
    return replace(f, model=model)
