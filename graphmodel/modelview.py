"""A read-only view of one named model of a graph (``graph.p``, ``graph.q``)."""

from __future__ import annotations

from .engine import analyze
from .render.formula import factorization


class ModelView:
    """One model of a graph document: its factors, ancestral order and factorization.

    Printing shows the factorization, ``p(x,z) = p(x|z)p(z)``; in a notebook it renders
    as LaTeX. Sampling and scoring need weights: use ``graph.build().p``.
    """

    def __init__(self, graph, name: str):
        self.graph = graph
        self.name = name

    @property
    def kind(self) -> str:
        return self.graph.models[self.name]

    @property
    def factors(self) -> list:
        return self.graph.factors_of(self.name)

    @property
    def order(self) -> list[str]:
        """Targets in ancestral order (parents before children)."""
        return list(analyze(self.graph).orders.get(self.name, ()))

    @property
    def inputs(self) -> list[str]:
        """Variables the model reads but does not define."""
        return list(analyze(self.graph).inputs.get(self.name, ()))

    def latex(self) -> str:
        return factorization(self.graph, self.name, latex=True)

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    def __str__(self) -> str:
        return factorization(self.graph, self.name)

    def __repr__(self) -> str:
        return f"<{self.kind} model {self}>"
