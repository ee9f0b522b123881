"""Distribution families: which torch distribution, which parameters, which support.

A family turns a dict of constrained parameters into a fresh
``torch.distributions.Distribution`` whose event shape is the target variable's shape.
Raw network outputs are mapped onto each parameter's constraint with
``torch.distributions.transform_to`` in :func:`param_transform`, the one place where that
happens. Users add families with ``FAMILIES.register(name, Family(...))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import torch
from torch import distributions as D
from torch.distributions import constraints
from torch.distributions.kl import _KL_REGISTRY

from .errors import GraphModelError
from .fastpath import _FAST_NEW, _independent, closed_form_kl, draw, draw_plan, log_density  # noqa: F401 (re-exported)
from .options import Option, check_options, with_defaults
from .registry import Registry
from .variables import Variable

REAL_LIKE = frozenset({"real", "positive", "unit_interval", "binary"})
#: Constraints of parameters that torch leaves out of ``arg_constraints``.
EXTRA_CONSTRAINTS = {"temperature": constraints.positive}


class Delta(D.Distribution):
    """A point mass at ``value`` whose last ``event_dim`` dimensions form one event.

    Used for deterministic factors (``h = f(x)``, ``x = G(z)``): sampling returns the value
    (with gradients), and the log-density is taken as 0, because graphmodel scores a
    deterministic variable as a function of its parents, never as data.
    """

    arg_constraints = {"value": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(self, value: torch.Tensor, event_dim: int = 0, validate_args=None):
        self.value = value
        event_dim = min(event_dim, value.dim())
        split = value.dim() - event_dim
        super().__init__(value.shape[:split], value.shape[split:], validate_args=False)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return Delta(self.value.expand(batch_shape + self.event_shape), len(self.event_shape))

    def rsample(self, sample_shape=()):
        return self.value.expand(torch.Size(sample_shape) + self.value.shape)

    def log_prob(self, value):
        return torch.zeros(value.shape[: value.dim() - len(self.event_shape)], dtype=value.dtype, device=value.device)

    @property
    def mean(self):
        return self.value


class OptionProblem(GraphModelError):
    """A family option with a bad value: ``key`` names it, the message says expected and found."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class Family:
    """How one distribution family is built, checked, and what it can do.

    Args:
        name: registry name, e.g. ``"Normal"``.
        dist: the torch distribution class (called with the parameters as keywords).
        params: parameters a network may produce, in head order.
        support: the support of the family's samples (a key of ``SUPPORTS``).
        accepts: variable supports this family can score.
        event_dims: rightmost dims of the target the base distribution already treats as
            one event (1 for one-hot and simplex families, 0 otherwise).
        defaults: constant parameters with default values (e.g. a relaxation temperature).
        param_extra: extra trailing dims of a parameter beyond the target's shape, given the
            variable (Categorical's logits carry the class dim).
        deterministic: a delta; its target is a function of its parents.
        options: the typed options a factor of this family may set (``Factor.family_options``:
            a mixture's number of components); they may change the parameters' shapes.
        bound: the option values this entry is specialized to (every option; the defaults in
            the registered entry, see :meth:`with_options`).
        shape: ``shape(param, var, options)`` — a parameter's shape where ``param_extra``
            cannot say it (a mixture's component dimension).
        build: ``build(params, options, event_ndim)`` — the whole distribution, for families
            whose constructor needs the options (replaces the generic constructor).
        specialize: ``specialize(family, options)`` — the entry for these options, where they
            change more than shapes (the mixture's component family gives its parameters);
            it raises :class:`OptionProblem` for a value it cannot use.
        check_target: ``check_target(var, options)`` — a problem with the target variable
            that the support alone does not catch (a pen offset must have 2 coordinates).
        param_constraints: constraints of parameters the distribution class does not declare.
        enumerable: the support is finite, so an expectation over one draw can be summed
            exactly (``values`` lists it).
        values: ``values(var)`` — every value of ``var`` (a tensor whose first dimension runs
            over them), or ``None`` where the variable holds several draws.
        relaxation: the registered family that stands in for this one when the ELBO relaxes
            it (Gumbel-softmax), or ``None``.
        temper: ``temper(params, τ)`` → the parameters of the tempered density
            ``p^(1/τ)`` (normalized) used to sample at temperature τ, or ``None`` where the
            family defines no temperature (sampling at τ ≠ 1 is then refused).
    """

    name: str
    dist: type
    params: tuple[str, ...]
    support: str
    accepts: frozenset
    event_dims: int = 0
    defaults: dict = field(default_factory=dict)
    param_extra: Callable[[str, Variable], tuple[int, ...]] | None = None
    deterministic: bool = False
    options: tuple[Option, ...] = ()
    bound: dict = field(default_factory=dict)
    shape: Callable[[str, Variable, dict], tuple[int, ...]] | None = None
    build: Callable[[dict, dict, int], D.Distribution] | None = None
    specialize: Callable[[Family, dict], Family] | None = None
    check_target: Callable[[Variable, dict], str | None] | None = None
    param_constraints: dict = field(default_factory=dict)
    enumerable: bool = False
    values: Callable[[Variable], torch.Tensor | None] | None = None
    relaxation: str | None = None
    temper: Callable[[dict, float], dict] | None = None

    def __post_init__(self):
        if self.options and not self.bound:
            object.__setattr__(self, "bound", with_defaults(self.options, {}))

    def param_shape(self, param: str, var: Variable) -> tuple[int, ...]:
        """Shape of one parameter for a target ``var`` (excluding batch dims)."""
        if param in self.defaults and param not in self.params:
            return ()
        if self.shape is not None:
            return tuple(self.shape(param, var, self.bound))
        extra = self.param_extra(param, var) if self.param_extra else ()
        return tuple(var.shape) + tuple(extra)

    def constraint(self, param: str):
        # torch declares no constraint for some parameters (the relaxed families' temperature)
        return self.param_constraints.get(param) or self.dist.arg_constraints.get(param) or EXTRA_CONSTRAINTS[param]

    def make(self, params: dict, var_event_ndim: int) -> D.Distribution:
        """Build the distribution with ``var_event_ndim`` rightmost dims as the event."""
        if self.deterministic:
            return Delta(params["value"], var_event_ndim)
        if self.build is not None:
            return self.build(params, self.bound, var_event_ndim)
        # (torch.compile traces torch's own constructors: some torch versions cannot trace
        # ``object.__new__``, and the compiled graph loses nothing by them)
        fast = None if torch.compiler.is_compiling() else _FAST_NEW.get(self.dist)
        base = fast(params) if fast is not None else None
        if base is None:
            base = self.dist(**params, validate_args=False)
        n = var_event_ndim - self.event_dims
        return _independent(base, n) if n > 0 else base

    @property
    def reparameterized(self) -> bool:
        return bool(getattr(self.dist, "has_rsample", False))

    def option_problems(self, options: dict) -> list[tuple[str, str]]:
        """``[(key, message)]`` for every unknown or invalid option (empty: all fine)."""
        if not self.options:
            return [(k, f"{self.name} takes no options") for k in options]
        problems = check_options(self.options, options)
        if not problems and self.specialize is not None:
            try:
                self.specialize(self, with_defaults(self.options, options))
            except OptionProblem as e:
                problems.append((e.key, str(e)))
        return problems

    def with_options(self, options: dict | None) -> Family:
        """This family specialized to ``options`` (the missing ones at their defaults).

        Raises:
            GraphModelError: naming the first unknown or invalid option.
        """
        if not self.options and not options:
            return self
        problems = self.option_problems(options or {})
        if problems:
            key, msg = problems[0]
            raise GraphModelError(f"{self.name} option {key!r}: {msg}")
        resolved = with_defaults(self.options, options or {})
        fam = replace(self, bound=resolved)
        return self.specialize(fam, resolved) if self.specialize is not None else fam

    def target_problem(self, var: Variable) -> str | None:
        """Why this family cannot define ``var`` beyond its support, or ``None``."""
        if var.support not in self.accepts:
            return (f"{self.name} cannot score '{var.name}' with support '{var.support}'; "
                    f"{self.name} accepts {', '.join(sorted(self.accepts))}")
        return self.check_target(var, self.bound) if self.check_target is not None else None

    def kl_partners(self) -> tuple[str, ...]:
        """Registered families ``p`` with a closed-form ``KL[self‖p]`` in torch's ``kl`` registry."""
        pairs = tuple(_KL_REGISTRY)
        return tuple(name for name, fam in FAMILIES.items()
                     if any(issubclass(self.dist, a) and issubclass(fam.dist, b) for a, b in pairs))


def factor_family(f) -> Family:
    """The family entry of factor ``f`` specialized to its options (at their defaults where
    they are invalid: validation reports those)."""
    fam = FAMILIES.get(f.family)
    return fam if fam.option_problems(f.family_options) else fam.with_options(f.family_options)


def param_transform(constraint) -> D.transforms.Transform:
    """The map from an unconstrained real tensor onto ``constraint``."""
    return D.transform_to(constraint)


def param_function(constraint) -> Callable | None:
    """:func:`param_transform` as a plain function for the hot path (``None``: the identity).

    The same values, without the ``Transform`` call machinery: ``exp`` for positive
    parameters (torch composes it with an identity shift), nothing for real ones, the
    transform itself otherwise.
    """
    tf = param_transform(constraint)
    fns = []
    for part in tf.parts if isinstance(tf, D.transforms.ComposeTransform) else [tf]:
        if type(part) is D.transforms.AffineTransform and _is_number(part.loc) and _is_number(part.scale) \
                and part.loc == 0 and part.scale == 1:
            continue  # ``0 + 1·y`` (torch's positive = exp, then shift by the bound 0)
        if type(part) is not D.transforms.ExpTransform:
            return tf
        fns.append(torch.exp)
    if len(fns) > 1:
        return tf
    return fns[0] if fns else None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# --- sampling temperature ---------------------------------------------------------------
# Sampling at temperature τ draws from the tempered density p^(1/τ), normalized: one
# definition for every family. A Normal's becomes N(μ, τσ²), so its scale is σ·√τ (Glow's
# "temperature" T multiplies σ: T = √τ); a Laplace's is b·τ; a categorical or Bernoulli's
# logits are divided by τ. τ → 0 approaches the mode, τ = 1 is the model itself.

def _temper_scale(power: float):
    def temper(params: dict, tau: float) -> dict:
        return {**params, "scale": params["scale"] * tau ** power}
    return temper


def _temper_logits(params: dict, tau: float) -> dict:
    return {**params, "logits": params["logits"] / tau}


def _class_dim(param: str, var: Variable) -> tuple[int, ...]:
    return (var.classes,) if param == "logits" else ()


def _class_values(var: Variable) -> torch.Tensor | None:
    return torch.arange(var.classes) if not var.shape else None


def _one_hot_values(var: Variable) -> torch.Tensor | None:
    return torch.eye(var.shape[-1]) if len(var.shape) == 1 else None


def _binary_values(var: Variable) -> torch.Tensor | None:
    return torch.tensor([0.0, 1.0]) if not var.shape else None


FAMILIES: Registry[Family] = Registry("family")

_ALL = frozenset({"real", "positive", "unit_interval", "binary", "categorical", "one_hot", "simplex"})
for _f in (
    Family("Normal", D.Normal, ("loc", "scale"), "real", REAL_LIKE, temper=_temper_scale(0.5)),
    Family("Laplace", D.Laplace, ("loc", "scale"), "real", REAL_LIKE, temper=_temper_scale(1.0)),
    # Bernoulli also scores intensities in [0, 1] (the common cross-entropy treatment).
    Family("Bernoulli", D.Bernoulli, ("logits",), "binary", frozenset({"binary", "unit_interval"}),
           enumerable=True, values=_binary_values, relaxation="RelaxedBernoulli", temper=_temper_logits),
    Family("Categorical", D.Categorical, ("logits",), "categorical", frozenset({"categorical"}),
           param_extra=_class_dim, enumerable=True, values=_class_values, temper=_temper_logits),
    Family("OneHotCategorical", D.OneHotCategorical, ("logits",), "one_hot",
           frozenset({"one_hot", "simplex"}), event_dims=1, enumerable=True, values=_one_hot_values,
           relaxation="RelaxedOneHotCategorical", temper=_temper_logits),
    Family("RelaxedOneHotCategorical", D.RelaxedOneHotCategorical, ("logits",), "simplex",
           frozenset({"simplex", "one_hot"}), event_dims=1, defaults={"temperature": 0.5}),
    Family("RelaxedBernoulli", D.RelaxedBernoulli, ("logits",), "unit_interval",
           frozenset({"unit_interval"}), defaults={"temperature": 0.5}),
    Family("Beta", D.Beta, ("concentration1", "concentration0"), "unit_interval",
           frozenset({"unit_interval"})),
    Family("Gamma", D.Gamma, ("concentration", "rate"), "positive", frozenset({"positive"})),
    Family("Dirichlet", D.Dirichlet, ("concentration",), "simplex", frozenset({"simplex"}), event_dims=1),
    Family("Deterministic", Delta, ("value",), "real", _ALL, deterministic=True),
):
    FAMILIES.register(_f.name, _f)

# the field's families (mixtures, quantized intensities) register themselves on FAMILIES when
# the package is imported (graphmodel/__init__.py imports graphmodel.field_families)
