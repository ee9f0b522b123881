"""The registry of the terms a formula may call, and how a term declares its arguments.

Each objective family registers its terms here (``bounds.py``: ``elbo``, ``iwae``, …;
``divergences.py``: ``kl``, ``entropy``, …; ``games.py``: ``gan``, ``wgan``, …);
:mod:`inference.objectives.formula` reads the registry to check and build a formula, and the
public Python functions of the same names (``inference.kl(graph, "q", "qx")``) are the very
builders registered, so a formula and the Python expression make the same object.

A term declares its parameters in order (:class:`Param`); a call may give each positionally
or by keyword. The kinds of argument:

- ``"model"`` / ``"generative"`` / ``"inference"``: a model's name (of that kind);
- ``"variable"``: a variable's name; ``"variables"``: one or a list of them; ``"plate"``: a plate's;
- ``"loss"``: a sub-formula (a term, a number, a sum …);
- ``"number"``, ``"int"``, ``"str"``, ``"data"`` (a JSON-like value: a network spec);
- ``"weight"``: a number or a schedule (``anneal(…)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from graphmodel.registry import Registry

__all__ = ["KINDS", "REQUIRED", "TERMS", "Param", "Term", "register"]

KINDS = ("model", "generative", "inference", "variable", "variables", "plate", "loss", "number", "int", "str",
         "data", "weight")


class _Required:
    def __repr__(self):
        return "REQUIRED"


#: the default of a parameter that must be given
REQUIRED = _Required()


@dataclass(frozen=True)
class Param:
    """One parameter of a term.

    Args:
        name: its keyword.
        kind: one of :data:`KINDS`.
        default: its value when not given (:data:`REQUIRED`: must be given); a callable
            ``default(graph)`` is called (the graph's generative model ``p``, say).
        check: ``check(key, value) -> value`` for options, raising a ``GraphModelError`` that
            names ``objective.<key>`` (the formula reports it at the argument's column).
        help: one line for ``graphmodel check --terms`` and the docs.
    """

    name: str
    kind: str
    default: object = REQUIRED
    check: Callable | None = None
    help: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"param {self.name!r}: kind must be one of {KINDS}, found {self.kind!r}")


@dataclass(frozen=True)
class Term:
    """A function a formula may call: ``build(graph, **arguments)`` → a ``Loss``, a ``Game``
    (an adversarial game) or a weight.

    ``trains`` names the parameters whose models the term trains (by default every model
    argument); the others are only read (a KL's target is trained too: it is in the gradient).
    """

    name: str
    build: Callable
    params: tuple = ()
    help: str = ""
    returns: str = "loss"  # "loss", "game" or "weight"
    trains: tuple | None = None
    extra: dict = field(default_factory=dict)

    def param(self, key: str) -> Param | None:
        return next((p for p in self.params if p.name == key), None)


TERMS: Registry[Term] = Registry("objective term")


def register(term: Term) -> Term:
    """Register ``term`` under its name (refused if the name is taken)."""
    return TERMS.register(term.name, term)
