"""Supports: the value sets variables declare and families sample, each backed by a torch constraint.

``SUPPORTS`` is a :class:`~graphmodel.registry.Registry` of :class:`Support` records. A
variable names one (``Variable("x", (64,), support="binary")``); a family declares the one
its samples lie in and the ones it can score. The record's ``constraint`` is the
``torch.distributions.constraints`` object that checks a value (``SUPPORTS.get("binary")
.constraint.check(x)``), so a test or a data check reads the same definition as the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch.distributions import constraints

from .registry import Registry


@dataclass(frozen=True)
class Support:
    """One value set.

    Args:
        name: registry name, written in files (``"unit_interval"``).
        constraint: the torch constraint that checks a value elementwise (or per event for
            ``one_hot`` and ``simplex``, whose ``event_dim`` is 1).
        help: one line for error messages, tooltips and the file format's reference.
        declarable: a variable may declare it (``False``: only families sample it, e.g. the
            grey levels of a quantized family, which a variable declares as ``unit_interval``).
    """

    name: str
    constraint: constraints.Constraint
    help: str
    declarable: bool = True

    def __str__(self) -> str:
        return self.name


class _GreyLevels(constraints.Constraint):
    """Values ``k / (levels − 1)`` for integers ``k`` in ``[0, levels)``: an image's grey levels."""

    def __init__(self, levels: int = 256):
        self.levels = levels
        super().__init__()

    def check(self, value):
        k = value * (self.levels - 1)
        return (value >= 0) & (value <= 1) & ((k - k.round()).abs() < 1e-3)

    def __repr__(self) -> str:
        return f"GreyLevels(levels={self.levels})"


grey_levels = _GreyLevels

SUPPORTS: Registry[Support] = Registry("support")
for _s in (
    Support("real", constraints.real, "any real number"),
    Support("positive", constraints.positive, "real numbers > 0"),
    Support("unit_interval", constraints.unit_interval, "real numbers in [0, 1]"),
    Support("binary", constraints.boolean, "0 or 1"),
    Support("categorical", constraints.nonnegative_integer, "an integer class index in [0, classes)"),
    Support("one_hot", constraints.one_hot, "a one-hot vector over the last dimension"),
    Support("simplex", constraints.simplex, "a probability vector over the last dimension"),
    # the number of levels is a family option: the entry checks the interval, and each
    # distribution's own ``support`` (``grey_levels(levels)``) checks its grid
    Support("grey_levels", constraints.unit_interval, "grey levels k/(levels−1) in [0, 1] (a quantized family's "
            "samples; variables declare unit_interval)", declarable=False),
):
    SUPPORTS.register(_s.name, _s)

def declarable() -> list[str]:
    """The supports a variable may declare (read from the registry on each call, so that a
    plugin's support is listed too)."""
    return [n for n, s in SUPPORTS.items() if s.declarable]
