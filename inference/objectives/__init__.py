"""Objectives: what training maximizes, written as formulas of registered terms.

One module per family of terms, each registering its terms in :data:`terms.TERMS`:

- :mod:`.bounds`: ``elbo``, ``iwae``, ``renyi``, ``log_likelihood``, ``nll``, ``if_given``,
  ``anneal`` (derived from the graph in :mod:`inference.elbo`);
- :mod:`.divergences`: ``kl``, ``expect``, ``entropy``, ``log_prob``, ``mmd``;
- :mod:`.games`: ``gan``, ``wgan``, ``avb``, ``vaegan``, ``adversarial`` (built in
  :mod:`inference.adversarial`), and :mod:`.game`: ``Player``, ``Game``, ``combine``.

:mod:`.formula` compiles a formula against the registry; :mod:`.kinds` holds the objective
section's kinds (sugar for formulas), :func:`derive` and :func:`unused_models`::

    >>> derive(g, {"formula": "elbo(p, q) - alpha * kl(q, qx)", "constants": {"alpha": 1.0}})  # doctest: +SKIP
"""

from . import bounds as _bounds  # noqa: F401  (registers its terms)
from . import divergences as _divergences  # noqa: F401
from . import games as _games  # noqa: F401
from .bounds import if_given
from .divergences import entropy, expect, kl, log_prob, mmd
from .formula import compile_formula, models_used
from .game import Game, Player, combine
from .games import adversarial_term, derive_game, wgan
from .kinds import (
    OBJECTIVES,
    Derived,
    ElboPlan,
    LatentPlan,
    ObjectiveKind,
    adversarial_reason,
    choose_objective,
    derive,
    elbo,
    elbo_terms,
    formula_of,
    iwae,
    max_likelihood,
    nll,
    point_posterior,
    renyi,
    training_loss,
    training_objective,
    unused_models,
)
from .terms import TERMS, Param, Term, register

__all__ = [
    "OBJECTIVES", "TERMS", "Derived", "ElboPlan", "Game", "LatentPlan", "ObjectiveKind", "Param", "Player", "Term",
    "adversarial_term", "adversarial_reason", "choose_objective", "combine", "compile_formula", "derive", "derive_game",
    "elbo", "elbo_terms", "entropy", "expect", "formula_of", "if_given", "iwae", "kl", "log_prob", "max_likelihood",
    "mmd", "models_used", "nll", "point_posterior", "register", "renyi", "training_loss", "training_objective",
    "unused_models", "wgan",
]
