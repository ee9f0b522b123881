"""Choosing, checking and building the objective a graph file describes.

:func:`derive` reads ``graph.objective`` (``{"kind": "elbo", "beta": 0.5}``) or chooses by
the graph (:func:`choose_objective`); objective kinds live in the :data:`OBJECTIVES`
registry, each with its builder and option checkers. The ELBO family (``"elbo"``,
``"iwae"``, ``"renyi"``, ``"ml"``) is derived in :mod:`inference.elbo`;
:mod:`inference.adversarial` registers the games (``"gan"``, ``"avb"``, ``"vaegan"``)::

    >>> print(training_loss(vae))                 # doctest: +SKIP
    −(E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from graphmodel import GraphModelError, model_inputs
from graphmodel.registry import Registry
from graphmodel.render.formula import factorization

from . import options as opt
from .elbo import (
    DISCRETE_MODES,
    KL_MODES,
    Derived,
    ElboPlan,
    LatentPlan,
    adversarial_reason,
    data_variables,
    elbo,
    elbo_terms,
    factor_label,
    iwae,
    max_likelihood,
    nll,
    renyi,
)
from .losses import Loss

__all__ = [
    "OBJECTIVES", "Derived", "ElboPlan", "LatentPlan", "ObjectiveKind", "adversarial_reason", "choose_objective",
    "derive", "elbo", "elbo_terms", "iwae", "max_likelihood", "nll", "point_posterior", "renyi", "training_loss",
    "training_objective",
]


@dataclass(frozen=True)
class ObjectiveKind:
    """A registered objective: a builder ``build(graph, **options) -> Loss`` and its options.

    ``options`` maps each option to a checker ``(key, value) -> value`` that raises a
    :class:`GraphModelError` naming ``objective.<key>``.
    """

    name: str
    build: Callable[..., Loss]
    options: dict


OBJECTIVES: Registry[ObjectiveKind] = Registry("objective")


def _pq(graph, o) -> dict:
    o = dict(o)
    o.setdefault("p", opt.model_of(graph, "generative", "p"))
    o.setdefault("q", opt.model_of(graph, "inference", "q"))
    return o


_PQ = {"p": opt.check_model_name, "q": opt.check_model_name}
for _k in (
    ObjectiveKind("elbo", lambda g, **o: elbo(g, **_pq(g, o)), {
        **_PQ, "kl": lambda k, v: opt.check_option(k, v, KL_MODES), "beta": opt.check_beta,
        "free_bits": lambda k, v: None if v is None else opt.check_nonneg(k, v),
        "discrete": lambda k, v: opt.check_option(k, v, DISCRETE_MODES), "temperature": opt.check_positive,
        "semi_supervised": lambda k, v: (opt.check_semi_supervised(k, v), v)[1]}),
    ObjectiveKind("iwae", lambda g, **o: iwae(g, **_pq(g, o)), {**_PQ, "k": opt.check_samples}),
    ObjectiveKind("renyi", lambda g, **o: renyi(g, **_pq(g, o)), {**_PQ, "alpha": opt.check_number, "k": opt.check_samples}),
    ObjectiveKind("ml", lambda g, model=None, dequantize=None: max_likelihood(
        g, model or opt.model_of(g, "generative", "p"), dequantize),
                  {"model": opt.check_model_name, "dequantize": lambda k, v: v}),
):
    OBJECTIVES.register(_k.name, _k)


def choose_objective(graph) -> str:
    """The objective kind a graph calls for when its objective section names none.

    An adversarial graph → its game (``"gan"``/``"avb"``, when registered); a generative
    and an inference model → ``"elbo"``; a generative model whose variables are all
    observed → ``"ml"``.
    """
    why = adversarial_reason(graph)
    if why:
        if why[0] in OBJECTIVES:
            return why[0]
        raise GraphModelError(f"{why[1]}; objective kind '{why[0]}' is not registered")
    gen = [m for m, k in graph.models.items() if k == "generative"]
    inf = [m for m, k in graph.models.items() if k == "inference"]
    if gen and inf:
        return "elbo"
    if not gen:
        raise GraphModelError("cannot choose an objective: the graph has no generative model")
    roles = data_variables(graph)
    for f in graph.factors_of(opt.model_of(graph, "generative", "p")):
        if not f.deterministic and f.target not in roles:
            raise GraphModelError(
                f"cannot choose an objective: factor {factor_label(f)} scores latent '{f.target}' and no inference "
                f"model infers it; add an inference model q({f.target}|...) or mark '{f.target}' observed")
    return "ml"


def derive(graph, objective: dict | None = None):
    """The objective (to maximize) that ``graph.objective`` (or ``objective``) describes.

    A :class:`Loss`, or for an adversarial kind a :class:`inference.adversarial.Game` (its
    players, each with a loss to minimize).

    Example:
        >>> print(derive(vae))                                  # doctest: +SKIP
        E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)]
        >>> derive(vae, {"kind": "iwae", "k": 0})               # doctest: +SKIP
        GraphModelError: objective.k: expected a positive integer, found 0
    """
    obj = graph.objective if objective is None else objective
    if not isinstance(obj, dict):
        raise GraphModelError(f"objective: expected an object, found {obj!r}")
    opts = dict(obj)
    kind = opts.pop("kind", None)
    if kind is None:
        kind = choose_objective(graph)
    elif kind not in OBJECTIVES:
        opt.fail("kind", "one of " + ", ".join(OBJECTIVES.names()), kind)
    entry = OBJECTIVES.get(kind)
    checked = {}
    for key, value in opts.items():
        if key not in entry.options:
            raise GraphModelError(f"objective.{key}: unknown option for '{kind}'; known: "
                                  f"{', '.join(['kind', *entry.options])}")
        checked[key] = entry.options[key](key, value)
    return entry.build(graph, **checked)


def point_posterior(graph) -> list[str]:
    """Notes on an objective whose inference model samples nothing: every latent that the
    generative model reads from it is a point ``z = f(x)`` (an autoencoder's code), so the
    expectation is at that point and the objective is the reconstruction ``log p(x|z)``.

    Example:
        >>> point_posterior(autoencoder)                      # doctest: +SKIP
        ['q(z|x) is deterministic, a point z = f(x): the objective is the reconstruction log p(x|z) at that point (...)']
    """
    kinds = set(graph.models.values())
    if not {"generative", "inference"} <= kinds:
        return []
    p, q = (opt.model_of(graph, k, d) for k, d in (("generative", "p"), ("inference", "q")))
    qs = [f for f in graph.factors_of(q) if graph.variables.get(f.target) and graph.variables[f.target].role == "latent"]
    if not qs or not all(f.deterministic for f in qs) or not set(model_inputs(graph, p)) & {f.target for f in qs}:
        return []
    points = ", ".join(f"{f.target} = f({','.join(map(str, f.parents))})" for f in qs)
    return [f"{', '.join(factor_label(f) for f in qs)} {'is' if len(qs) == 1 else 'are'} deterministic, a point "
            f"{points}: the objective is the reconstruction log {factorization(graph, p).split(' = ')[0]} at "
            "that point (nothing is sampled, so there is no KL)"]


def training_loss(graph, objective: dict | None = None) -> Loss:
    """The loss to minimize: ``−(objective)``, batch mean (for a game: :func:`training_objective`)."""
    derived = derive(graph, objective)
    if not isinstance(derived, Loss):
        raise GraphModelError(f"objective '{derived.kind}' is a game of several players "
                              f"({', '.join(p.name for p in derived.players)}), not one loss; "
                              "use training_objective(graph)")
    return (-derived).mean()


def training_objective(graph, objective: dict | None = None):
    """What the trainer minimizes: :func:`training_loss`, or the game an adversarial kind derives."""
    derived = derive(graph, objective)
    return (-derived).mean() if isinstance(derived, Loss) else derived


# the adversarial kinds ("gan", "avb", "vaegan") register themselves; they build on the above
from . import adversarial as _adversarial  # noqa: E402,F401
