"""Choosing, checking and building the objective a graph file describes.

:func:`derive` reads ``graph.objective``: a formula (``{"formula": "elbo(p, q) - kl(q, qx)"}``,
compiled by :mod:`.formula`), a kind (``{"kind": "elbo", "beta": 0.5}``) or nothing (the
kind the graph calls for, :func:`choose_objective`). A kind is sugar for a formula
(:func:`formula_of`: ``elbo(p, q, beta=0.5)``): its entry in :data:`OBJECTIVES` checks its
options and calls the builder of the formula term of the same meaning, so both build the
same object. :func:`unused_models` names the models an objective neither trains nor reads::

    >>> print(training_loss(vae))                 # doctest: +SKIP
    −(E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from graphmodel import GraphModelError, model_inputs
from graphmodel.engine import analyze
from graphmodel.objective_syntax import Call, Data, Name, Num, Str, check_section, unparse
from graphmodel.registry import Registry
from graphmodel.render.formula import factorization

from .. import adversarial as adv
from .. import options as opt
from ..elbo import (
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
from ..losses import Anneal, Loss
from .formula import compile_formula, models_used
from .game import Game
from .terms import TERMS

__all__ = [
    "OBJECTIVES", "Derived", "ElboPlan", "LatentPlan", "ObjectiveKind", "adversarial_reason", "choose_objective",
    "derive", "elbo", "elbo_terms", "formula_of", "iwae", "max_likelihood", "nll", "point_posterior", "renyi",
    "training_loss", "training_objective", "unused_models",
]


@dataclass(frozen=True)
class ObjectiveKind:
    """A registered objective kind: a builder ``build(graph, **options) -> Loss`` and its options.

    ``options`` maps each option to a checker ``(key, value) -> value`` that raises a
    :class:`GraphModelError` naming ``objective.<key>``. ``term`` is the formula term the
    kind is sugar for (``"ml"`` → ``"log_likelihood"``), and ``positional`` the options
    written as its leading arguments (``elbo(p, q, …)``).
    """

    name: str
    build: Callable[..., Loss]
    options: dict
    term: str = ""
    positional: tuple = ()


OBJECTIVES: Registry[ObjectiveKind] = Registry("objective")


def _term(name: str):
    """The builder of a formula term (looked up when called: a term registered later is found)."""
    return lambda g, **o: TERMS.get(name).build(g, **o)


_PQ = {"p": opt.check_model_name, "q": opt.check_model_name}
_GAN = {"loss": lambda k, v: opt.check_option(k, v, adv.GAN_LOSSES), "discriminator": adv._net,
        "gp_weight": opt.check_nonneg, "r1_weight": opt.check_nonneg, "clip": opt.check_positive, "p": adv._model}
for _k in (
    ObjectiveKind("elbo", _term("elbo"), {
        **_PQ, "kl": lambda k, v: opt.check_option(k, v, KL_MODES), "beta": opt.check_beta,
        "free_bits": lambda k, v: None if v is None else opt.check_nonneg(k, v),
        "discrete": lambda k, v: opt.check_option(k, v, DISCRETE_MODES), "temperature": opt.check_positive,
        "semi_supervised": lambda k, v: (opt.check_semi_supervised(k, v), v)[1]}, "elbo", ("p", "q")),
    ObjectiveKind("iwae", _term("iwae"), {**_PQ, "k": opt.check_samples}, "iwae", ("p", "q")),
    ObjectiveKind("renyi", _term("renyi"), {**_PQ, "alpha": opt.check_number, "k": opt.check_samples}, "renyi",
                  ("p", "q")),
    ObjectiveKind("ml", _term("log_likelihood"), {"model": opt.check_model_name, "dequantize": lambda k, v: v},
                  "log_likelihood", ("model",)),
    ObjectiveKind("gan", _term("gan"), {**adv._COMMON, **_GAN}, "gan", ("p",)),
    ObjectiveKind("avb", _term("avb"), {**adv._COMMON, "adversary": adv._net, "p": adv._model, "q": adv._model},
                  "avb", ("p", "q")),
    ObjectiveKind("vaegan", _term("vaegan"), {**adv._COMMON, "gamma": opt.check_nonneg, "discriminator": adv._net,
                                              "p": adv._model, "q": adv._model}, "vaegan", ("p", "q")),
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


def _section(graph, objective):
    obj = graph.objective if objective is None else objective
    if not isinstance(obj, dict):
        raise GraphModelError(f"objective: expected an object, found {obj!r}")
    return obj


def _kind(graph, obj: dict) -> tuple:
    """``(entry, checked options)`` of an objective given by kind (or chosen by the graph)."""
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
    for key in entry.positional:  # the models, as the term's defaults choose them
        if key not in checked:
            default = TERMS.get(entry.term).param(key).default
            checked[key] = default(graph) if callable(default) else default
    return entry, checked


def derive(graph, objective: dict | None = None):
    """The objective (to maximize) that ``graph.objective`` (or ``objective``) describes.

    A :class:`Loss`, or for an adversarial term a :class:`Game` (its players, each with a
    loss to minimize).

    Example:
        >>> print(derive(vae))                                  # doctest: +SKIP
        E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)]
        >>> derive(vae, {"formula": "elbo(p, q) - 0.5 * kl(q, qx)"})   # doctest: +SKIP
        >>> derive(vae, {"kind": "iwae", "k": 0})               # doctest: +SKIP
        GraphModelError: objective.k: expected a positive integer, found 0
    """
    obj = _section(graph, objective)
    if "formula" in obj:
        check_section(obj)
        return compile_formula(graph, obj["formula"], obj.get("constants"))
    entry, checked = _kind(graph, obj)
    return entry.build(graph, **checked)


def _literal(v):
    """A kind's option value as a formula node, or None when it is no plain data (a module)."""
    if isinstance(v, bool) or v is None or isinstance(v, (dict, list, tuple)):
        if isinstance(v, dict) and v.get("schedule") == "anneal":
            return _literal(Anneal(v.get("start", 0.0), v.get("end", 1.0), v.get("steps", 10000)))
        return Data(list(v) if isinstance(v, tuple) else v)
    if isinstance(v, (int, float)):
        return Num(v)
    if isinstance(v, str):
        return Str(v)
    if type(v) is Anneal and v.symbol == "β":
        return Call("anneal", (Num(v.start), Num(v.end), Num(v.steps)), ())
    return None


def formula_of(graph, objective: dict | None = None) -> str | None:
    """The formula an objective section stands for, in canonical form: its own formula, or
    the one its kind is sugar for (``{"kind": "iwae", "k": 5}`` → ``iwae(p, q, k=5)``).
    ``None`` when a kind's option is a Python object (a module) that no formula can write.
    """
    obj = _section(graph, objective)
    if "formula" in obj:
        check_section(obj)
        from graphmodel.objective_syntax import parse

        return unparse(parse(obj["formula"]))
    entry, checked = _kind(graph, obj)  # (checked: a typo is refused as derive refuses it)
    args = [Name(checked[key]) for key in entry.positional]
    kwargs = []
    for key, value in obj.items():  # as written: a network spec stays plain data
        if key == "kind" or key in entry.positional:
            continue
        node = _literal(value)
        if node is None:
            return None
        kwargs.append((key, node))
    return unparse(Call(entry.term, tuple(args), tuple(kwargs)))


def unused_models(graph, objective: dict | None = None) -> list[str]:
    """One line for each model the objective neither trains nor reads (it would be silently
    ignored by training), e.g. ``model 'qw' is not used by the objective elbo(p, q): …``.

    A model whose factors a used model borrows (GQN's shared representation) is used.
    """
    text = formula_of(graph, objective)
    if text is None:
        return []
    obj = _section(graph, objective)
    used = set(models_used(graph, text, obj.get("constants") if "formula" in obj else None))
    members = analyze(graph).members
    for m in list(used):
        used |= {graph.factors[i].model for i in members.get(m, ())}
    return [f"model '{m}' is not used by the objective {text}: training never updates it; use it in the "
            f"formula (e.g. kl(q, {m})) or remove it" for m in graph.models if m not in used]


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
    if isinstance(derived, Game):
        raise GraphModelError(f"objective '{derived.kind}' is a game of several players "
                              f"({', '.join(p.name for p in derived.players)}), not one loss; "
                              "use training_objective(graph)")
    return (-derived).mean()


def training_objective(graph, objective: dict | None = None):
    """What the trainer minimizes: :func:`training_loss`, or the game an adversarial kind derives."""
    derived = derive(graph, objective)
    return (-derived).mean() if isinstance(derived, Loss) else derived
