"""The list of formula terms as the docs print it, one line each, made from the registry.

``docs/reference/file-format.md`` and ``docs/tutorials/formula.md`` hold this table; a test
(``tests/test_formula_docs.py``) keeps both equal to :func:`term_rows`, so registering a
term (:mod:`inference.objectives.terms`) without documenting it fails there::

    >>> print(term_rows()[0])                             # doctest: +SKIP
    | `adversarial(q, p, variable, discriminator, d_steps, g_steps, d_lr, g_lr, betas)` | a discriminator on a latent: … |
"""

from __future__ import annotations

from graphmodel.registry import Registry

from .terms import TERMS, Term

__all__ = ["signature", "term_rows", "terms_table"]


def signature(term: Term) -> str:
    """``kl(a, b, variables)``: the term's name and its parameters in order."""
    return f"{term.name}({', '.join(p.name for p in term.params)})"


def term_rows(registry: Registry | None = None) -> list[str]:
    """One Markdown table row per registered term (of :data:`TERMS` unless ``registry`` is
    given), by name: ``| `signature` | help |``."""
    reg = TERMS if registry is None else registry
    return [f"| `{signature(reg.get(n))}` | {reg.get(n).help} |" for n in sorted(reg.names())]


def terms_table(registry: Registry | None = None) -> str:
    """The whole Markdown table (header and rows), as the docs hold it."""
    return "\n".join(["| term | |", "| --- | --- |", *term_rows(registry)])
