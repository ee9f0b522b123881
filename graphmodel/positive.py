"""Positive maps: how a raw real value (a network's head, a learned parameter) becomes a
positive parameter — ``exp`` (torch's ``transform_to(positive)``) or ``softplus`` with a floor.

A factor chooses per parameter (``Factor.positive``); parameters it does not name take
:data:`DEFAULT_POSITIVE`. Users add maps with ``POSITIVE_MAPS.register(name, PositiveMap(...))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.distributions import constraints
from torch.nn import functional as F

from .registry import Registry

# torch's ``transform_to(positive)`` is exp. A network's raw output through exp gives a
# scale whose gradient grows with the scale itself; softplus grows linearly and a floor keeps
# the scale (and its log) away from 0. Which one a parameter uses is the factor's choice
# (``Factor.positive``); the default is exp (see docs/RESULTS.md for the measurement).

SOFTPLUS_FLOOR = 1e-4


@dataclass(frozen=True)
class PositiveMap:
    """A map from the reals onto the positive numbers, and its inverse (for ``Learn`` inits).

    Args:
        name: the name a file and the API use (``"exp"``, ``"softplus"``).
        forward: raw tensor → positive tensor.
        inverse: positive tensor → raw tensor.
        help: one line for the editor's tooltip.
    """

    name: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    inverse: Callable[[torch.Tensor], torch.Tensor]
    help: str


def _softplus(raw: torch.Tensor) -> torch.Tensor:
    # in place on softplus's own output: its backward reads the input, not the output, so
    # the floor costs no extra tensor
    return F.softplus(raw).add_(SOFTPLUS_FLOOR)


def _softplus_inverse(y: torch.Tensor) -> torch.Tensor:
    y = (y - SOFTPLUS_FLOOR).clamp_min(1e-12)
    return y + torch.log(-torch.expm1(-y))  # log(exp(y) − 1), stable for large y


POSITIVE_MAPS: Registry[PositiveMap] = Registry("positive map")
POSITIVE_MAPS.register("exp", PositiveMap("exp", torch.exp, torch.log, "exp(raw): torch's transform_to(positive)"))
POSITIVE_MAPS.register("softplus", PositiveMap(
    "softplus", _softplus, _softplus_inverse, f"softplus(raw) + {SOFTPLUS_FLOOR:g}: linear growth, floored"))
DEFAULT_POSITIVE = "exp"


def is_positive(constraint) -> bool:
    """Whether a parameter's constraint is positivity (elementwise, or over an event)."""
    while isinstance(constraint, constraints.independent):
        constraint = constraint.base_constraint
    return type(constraint) is type(constraints.positive) and constraint.lower_bound == 0


def positive_params(family) -> tuple[str, ...]:
    """The parameters of ``family`` whose raw values go through a positive map."""
    return tuple(k for k in (*family.params, *family.defaults) if is_positive(family.constraint(k)))
