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
from .networks.masked import MaskedMLP
from .options import Option, check_options
from .positive import POSITIVE_MAPS, positive_params
from .variables import Parent, Variable

NET = "net"
REDUCTIONS = ("sum", "mean")
#: ``init="before"``: the factor gives a sequence variable's value before the plate's first step
BEFORE = "before"
INITS = (False, True, BEFORE)


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


@dataclass(frozen=True)
class Annealed:
    """A constant that follows a schedule: linear from ``start`` to ``end`` over ``steps``
    training steps, then ``end`` — the objective's ``anneal`` for β, on a parameter (GQN's
    pixel σ from 2.0 to 0.7). The file spells it as the objective does:
    ``{"schedule": "anneal", "start": 2.0, "end": 0.7, "steps": 2000}``.
    """

    start: float
    end: float
    steps: int

    def __post_init__(self):
        for k in ("start", "end"):
            v = getattr(self, k)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)):
                raise GraphModelError(f"anneal: {k} must be a finite number, found {v!r}")
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps < 1:
            raise GraphModelError(f"anneal: steps must be a positive integer, found {self.steps!r}")

    def value(self, step: int) -> float:
        """The value at a training step (``start`` before step 0, ``end`` after ``steps``)."""
        return self.start + (self.end - self.start) * min(max(step, 0) / self.steps, 1.0)

    def to_json(self):
        return {"schedule": "anneal", "start": self.start, "end": self.end, "steps": self.steps}

    def __str__(self) -> str:
        return f"anneal({self.start:g}, {self.end:g}, {self.steps})"


@dataclass(frozen=True)
class Tied:
    """A network named in the graph's ``networks`` section; every factor that names it
    runs the one module (``net="writer"`` in code, ``"net": "writer"`` in the file)."""

    name: str

    def to_json(self):
        return self.name


def _source(value):
    if value == NET or isinstance(value, (Const, Learn, Annealed)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Const(float(value))
    if isinstance(value, list) and _numeric_nested(value):
        return Const(value)
    raise GraphModelError(
        f"a parameter must be a number, a nested list of numbers, Learn(...), Annealed(...) or 'net', "
        f"found {value!r}"
    )


def _numeric_nested(v) -> bool:
    if isinstance(v, list):
        return bool(v) and all(_numeric_nested(x) for x in v)
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


#: How an autoregressive factor orders its target's dimensions.
AR_ORDERS = ("natural", "random", "agnostic")
#: The options of an autoregressive factor (the file's ``"autoregressive"`` object).
AUTOREGRESSIVE_OPTIONS = (
    Option("order", "str", "natural", "the order of the target's dimensions: natural, random (fixed by the "
           "seed), or agnostic (a fresh order and connectivity at every training step)", choices=AR_ORDERS),
    Option("seed", "int", 0, "fixes a random order, and the orders an agnostic ensemble evaluates",
           minimum=0, maximum=2**31 - 1),
    Option("ensemble", "int", 1, "orders averaged over at evaluation (agnostic only)", minimum=1, maximum=256),
)


@dataclass(frozen=True)
class Autoregressive:
    """How an autoregressive factor reads its own target: the order of its dimensions.

    ``order`` is ``"natural"`` (0, 1, …), ``"random"`` (one permutation fixed by ``seed``)
    or ``"agnostic"`` (a fresh order and connectivity at every training step, MADE's
    order-agnostic training; evaluation averages the densities of ``ensemble`` orders
    fixed by ``seed``).
    """

    order: str = "natural"
    seed: int = 0
    ensemble: int = 1

    def __post_init__(self):
        for key, msg in check_options(AUTOREGRESSIVE_OPTIONS, vars(self)):
            raise GraphModelError(f"autoregressive.{key}: {msg}")
        if self.ensemble > 1 and self.order != "agnostic":
            raise GraphModelError(f"autoregressive.ensemble: averaging {self.ensemble} orders needs "
                                  f"order 'agnostic', found order {self.order!r}")

    def to_json(self) -> dict:
        return {"order": self.order, "seed": self.seed, "ensemble": self.ensemble}

    @classmethod
    def parse(cls, value) -> Autoregressive | None:
        """``True`` → the natural order; a dict of options; ``None``/``False`` → not autoregressive."""
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            for key, msg in check_options(AUTOREGRESSIVE_OPTIONS, value):
                raise GraphModelError(f"autoregressive.{key}: {msg}")
            return cls(**value)
        raise GraphModelError(f"autoregressive: expected true, false or an object of {', '.join(vars(cls()))}, "
                              f"found {value!r}")


@dataclass(eq=True)
class Factor:
    """``family(target | parents)`` with its parameter sources.

    Attributes:
        target: name of the variable this factor defines.
        family: a registered family name.
        parents: parent references (``Parent("z")`` or ``Parent("h", lag=1)``).
        params: parameter name → ``"net"``, :class:`Const`, :class:`Learn` or :class:`Annealed`.
        net: the network producing the ``"net"`` parameters (a :class:`NetSpec`, a
            :class:`Tied` name of the graph's ``networks`` section, or an ``nn.Module``
            instance in code), or ``None``.
        model: which model of the graph the factor belongs to (set by the graph).
        init: ``True``: the factor used at t = 0 of a sequence plate (the boundary step;
            at the last steps where the regular factor reads later ones); ``"before"``
            (:data:`BEFORE`): a deterministic factor giving the value *before* the plate's
            first step (``h[-1]``, e.g. a recurrent state's zero start), which ``h[t-1]``
            reads at t = 0, so the regular factor runs at every step.
        reduce: how a parent inside an iid plate is reduced when the target is outside it.
        family_options: values of the family's declared options (``Family.options``), as
            written (the missing ones take their defaults): ``{"components": 10}``.
        positive: positive parameter → the map from a raw value onto it (a name in
            ``families.POSITIVE_MAPS``: ``"exp"``, ``"softplus"``); parameters not named
            take the family's default.
        autoregressive: ``None`` for a parametric factor; for an autoregressive one
            (``p(x) = ∏ᵢ p(xᵢ | x<ᵢ, parents)``, its net reads the target too) the order.
        flow: the flow kind: invertible steps (:class:`graphmodel.flows.FlowStep`) the
            family's distribution (the base) is pushed through; empty for a parametric factor.
        per_step: in a sequence plate, a separate network (its own weights) at each step
            instead of one shared by all steps (GQN's untied cores); ``False``: shared.
    """

    target: str
    family: str
    parents: tuple[Parent, ...] = ()
    params: dict = field(default_factory=dict)
    net: NetSpec | Tied | nn.Module | None = None
    model: str | None = None
    init: bool | str = False
    reduce: str | None = None
    family_options: dict = field(default_factory=dict)
    autoregressive: Autoregressive | None = None
    variables: tuple[Variable, ...] = field(default=(), compare=False, repr=False)
    positive: dict = field(default_factory=dict)
    flow: tuple = ()
    per_step: bool = False

    @property
    def label(self) -> str:
        """``x|z`` — the factor as written inside ``p(...)``."""
        tgt = (f"{self.target}[-1]" if self.init == BEFORE else f"{self.target}[0]") if self.init else self.target
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


def _positive_choice(fam, tname: str, positive) -> dict:
    """``positive="softplus"`` (every positive parameter) or ``{"scale": "softplus"}``, checked."""
    if positive is None:
        return {}
    names = positive_params(fam)
    choice = dict.fromkeys(names, positive) if isinstance(positive, str) else dict(positive)
    if isinstance(positive, str) and not names:
        raise GraphModelError(f"factor {tname}: positive={positive!r}, but {fam.name} has no positive parameter")
    for k, m in choice.items():
        if k not in names:
            raise GraphModelError(f"factor {tname}: positive: {fam.name} has no positive parameter {k!r}; "
                                  f"its positive parameters: {', '.join(names) or 'none'}")
        if m not in POSITIVE_MAPS:
            raise GraphModelError(f"factor {tname}: positive.{k}: expected one of "
                                  f"{', '.join(POSITIVE_MAPS.names())}, found {m!r}")
    return choice


def make_factor(family: str, target, given=(), net=None, *, init: bool | str = False,
                reduce: str | None = None, positive=None, autoregressive=None, flow=None,
                per_step: bool = False, **params) -> Factor:
    """Build a factor in code; used by the family constructors (``Normal(z, given=x)``).

    Parameters not given come from ``net``; when ``net`` is omitted and the factor has
    parents, a default ``MLP(400)`` is used (a ``MaskedMLP(500)`` when the factor is
    autoregressive). Constant parameters need no network. Keywords that name one of the
    family's options (``components=10``) set ``family_options``. A string ``net="writer"``
    names a network of the graph's ``networks`` section (tied weights). ``positive`` chooses
    the map of positive parameters from raw values: a name for all of them
    (``positive="softplus"``) or one per parameter (``{"scale": "softplus"}``).
    ``autoregressive`` is ``True``, a dict such as ``{"order": "agnostic", "ensemble": 8}``
    or an :class:`Autoregressive`. ``flow`` (a list of steps such as ``[gm.Coupling(), gm.Permute()]``,
    or dicts ``{"type": "coupling", ...}``) makes it a flow factor with this family as its base.
    ``per_step=True`` gives a factor of a sequence plate its own network at each step.

    Example:
        >>> f = make_factor("Mixture", "z", components=3, mixture_logits=0.0, loc=Learn(0.0), scale=1.0)
        >>> f.family_options
        {'components': 3}
    """
    declared = {o.name for o in FAMILIES.get(family).options}
    options = {k: params.pop(k) for k in list(params) if k in declared}
    fam = FAMILIES.get(family).with_options(options)
    if isinstance(net, str):
        net = Tied(net)
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
    try:
        ar = Autoregressive.parse(autoregressive)
    except GraphModelError as e:
        raise GraphModelError(f"factor {tname}: {e}") from None
    missing = [k for k in fam.params if k not in sources]
    if missing and net is None and ar is not None:
        net = MaskedMLP(500)
    if missing and net is None:
        if not parents:
            raise GraphModelError(
                f"factor {tname}: parameter {missing[0]!r} has no value; give {missing[0]}=... or a net"
            )
        net = MLP(400)
    for k in missing:
        sources[k] = NET
    if not any(init is k for k in INITS[:2]) and init != BEFORE:
        raise GraphModelError(f"factor {tname}: init must be True, False or {BEFORE!r}, found {init!r}")
    if not isinstance(per_step, bool):
        raise GraphModelError(f"factor {tname}: per_step must be true or false, found {per_step!r}")
    if reduce is not None and reduce not in REDUCTIONS:
        raise GraphModelError(f"factor {tname}: reduce must be one of {REDUCTIONS}, found {reduce!r}")
    try:
        steps = as_flow(flow)
    except GraphModelError as e:
        raise GraphModelError(f"factor {tname}: {e}") from None
    return Factor(tname, family, parents, sources, net, None, init, reduce, family_options=options,
                  autoregressive=ar, variables=variables, positive=_positive_choice(fam, tname, positive),
                  flow=steps, per_step=per_step)


def _constructor(family: str):
    def build(target, given=(), net=None, *, init=False, reduce=None, positive=None, autoregressive=None,
              flow=None, per_step=False, **params) -> Factor:
        return make_factor(family, target, given, net, init=init, reduce=reduce, positive=positive,
                           autoregressive=autoregressive, flow=flow, per_step=per_step, **params)

    build.__name__ = family
    build.__qualname__ = family
    options = "".join(f", {o.name}=..." for o in FAMILIES.get(family).options)
    build.__doc__ = (f"A {family} factor: ``{family}(target, given=parents, net=...{options}, "
                     "autoregressive=None, flow=[...], per_step=False, **params)``.")
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
Mixture = _constructor("Mixture")
DiscretizedLogisticMixture = _constructor("DiscretizedLogisticMixture")
BivariateNormalMixture = _constructor("BivariateNormalMixture")
QuantizedCategorical = _constructor("QuantizedCategorical")


def with_model(f: Factor, model: str) -> Factor:
    return replace(f, model=model)
