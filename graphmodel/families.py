"""Distribution families: which torch distribution, which parameters, which support.

A family turns a dict of constrained parameters into a fresh
``torch.distributions.Distribution`` whose event shape is the target variable's shape.
Raw network outputs are mapped onto each parameter's constraint with
``torch.distributions.transform_to`` in :func:`param_transform`, the one place where that
happens. Users add families with ``FAMILIES.register(name, Family(...))``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import distributions as D
from torch.distributions import constraints

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


@dataclass(frozen=True)
class Family:
    """How one distribution family is built and checked.

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

    def param_shape(self, param: str, var: Variable) -> tuple[int, ...]:
        """Shape of one parameter for a target ``var`` (excluding batch dims)."""
        if param in self.defaults and param not in self.params:
            return ()
        extra = self.param_extra(param, var) if self.param_extra else ()
        return tuple(var.shape) + tuple(extra)

    def constraint(self, param: str):
        # torch declares no constraint for some parameters (the relaxed families' temperature)
        return self.dist.arg_constraints.get(param) or EXTRA_CONSTRAINTS[param]

    def make(self, params: dict, var_event_ndim: int) -> D.Distribution:
        """Build the distribution with ``var_event_ndim`` rightmost dims as the event."""
        if self.deterministic:
            return Delta(params["value"], var_event_ndim)
        base = self.dist(**params, validate_args=False)
        n = var_event_ndim - self.event_dims
        return D.Independent(base, n) if n > 0 else base

    @property
    def reparameterized(self) -> bool:
        return bool(getattr(self.dist, "has_rsample", False))


def param_transform(constraint) -> D.transforms.Transform:
    """The map from an unconstrained real tensor onto ``constraint``."""
    return D.transform_to(constraint)


def _class_dim(param: str, var: Variable) -> tuple[int, ...]:
    return (var.classes,) if param == "logits" else ()


FAMILIES: Registry[Family] = Registry("family")

_ALL = frozenset({"real", "positive", "unit_interval", "binary", "categorical", "one_hot", "simplex"})
for _f in (
    Family("Normal", D.Normal, ("loc", "scale"), "real", REAL_LIKE),
    Family("Laplace", D.Laplace, ("loc", "scale"), "real", REAL_LIKE),
    # Bernoulli also scores intensities in [0, 1] (the common cross-entropy treatment).
    Family("Bernoulli", D.Bernoulli, ("logits",), "binary", frozenset({"binary", "unit_interval"})),
    Family("Categorical", D.Categorical, ("logits",), "categorical", frozenset({"categorical"}),
           param_extra=_class_dim),
    Family("OneHotCategorical", D.OneHotCategorical, ("logits",), "one_hot",
           frozenset({"one_hot", "simplex"}), event_dims=1),
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
