"""Presentation of graphs: formulas (Unicode, LaTeX) and DOT diagrams.

Nothing here imports pydot until a diagram is drawn (:func:`to_dot`, :func:`render`).
"""

from .dot import render, to_dot
from .formula import factor_text, factorization, variable_text

__all__ = ["factor_text", "factorization", "render", "to_dot", "variable_text"]
