"""Warnings about a graph that is valid but probably not what its author meant (no Qt here).

A problem stops training; a warning does not, but says what training will silently do:

* a latent that a generative model reads without generating it (no prior): the objective
  takes it from the inference model alone — ``log p(x|z)``, no KL — and the model cannot be
  sampled (an autoencoder's point code, which ``point_posterior`` explains, is no trap);
* a factor of an observed variable, or an inference model's factor of a latent that the
  generative model generates, with no parents, no network and the family's default constants (the editor's ``p(x) = Bernoulli(0)`` after its last
  parent was removed): it has nothing to learn;
* a model the objective never uses (:func:`inference.objectives.unused_models`, the command
  line's warning);
* the graph edited while a run trains the graph as it was at Start.

Each warning is ``(key, text)``: the key selects what it is about (``("variable", "z")``,
``("factor", 2)`` or ``None``).
"""

from __future__ import annotations

import re

from graphmodel import GraphModelError
from graphmodel.factors import Const

from .defaults import constant_params

#: what the Problems panel says while a run goes on with the graph as it was at Start
RUN_NOTE = ("the graph was edited while training runs: the run uses the graph as it was at Start; "
            "Stop and Start again to train the edited graph")


#: the last derivation: ``(graph, revision, objective section, result)`` — the formulas, the
#: problems and Start's tooltip all ask after each edit, and the graph is derived once
_LAST: list = [None, -1, None, None]


def derive_once(graph) -> tuple:
    """``(objective, None)``, or ``(None, reason)`` when it cannot be derived yet; the last
    graph's answer is kept until it is edited."""
    from inference.objectives import derive

    if not graph.variables:
        return None, "add variables and factors to see the objective"
    section = repr(graph.objective)
    if _LAST[0] is graph and _LAST[1] == graph.revision and _LAST[2] == section:
        return _LAST[3]
    try:
        out = derive(graph), None
    except GraphModelError as e:
        out = None, str(e).split("\n")[0]
    _LAST[:] = [graph, graph.revision, section, out]  # (holding the graph: its id is not reused meanwhile)
    return out


def graph_warnings(graph, derivable: bool | None = None) -> list[tuple[tuple | None, str]]:
    """Every warning about ``graph`` (none while it has problems: those come first).

    Args:
        derivable: whether the objective can be derived (None: find out). A latent without
            a prior is only silent when it can: else the objective's own error says it.
    """
    if not graph.factors or graph.problems():
        return []
    if derivable is None:
        from inference.objectives import derive

        try:
            derive(graph)
            derivable = True
        except GraphModelError:
            derivable = False
    return (no_prior(graph) if derivable else []) + fixed_factors(graph) + unused(graph)


def no_prior(graph) -> list[tuple[tuple, str]]:
    """A latent that a generative model reads but does not generate."""
    from graphmodel.engine import analyze

    a, out = analyze(graph), []
    for m, kind in graph.models.items():
        if kind != "generative":
            continue
        for n in a.inputs.get(m, ()):
            v = graph.variables[n]
            by = [f for f in graph.factors if f.target == n and f.model != m]
            if v.role != "latent" or (by and all(f.deterministic for f in by)):  # (a point code: no trap)
                continue
            q = by[0].model if by else "the inference model"
            out.append((("variable", n), f"'{n}' has no prior: model {m} reads it but does not generate it, so the "
                        f"objective takes {n} from {q} alone (no KL term) and {m} cannot be sampled; give {n} a "
                        f"factor in {m}, such as Normal(0, 1)"))
    return out


def fixed_factors(graph) -> list[tuple[tuple, str]]:
    """A factor with nothing to learn where a learned one belongs (see the module's note)."""
    out = []
    for i, f in enumerate(graph.factors):
        v = graph.variables.get(f.target)
        if v is None or f.parents or f.init or f.net is not None or f.autoregressive is not None or f.flow:
            continue
        generated = any(e.target == f.target and graph.models.get(e.model) == "generative" for e in graph.factors)
        if v.role != "observed" and (graph.models.get(f.model) != "inference" or not generated):
            continue  # a fixed prior p(z), or noise that only q reads (AVB's ε), is the rule, not a trap
        if not all(isinstance(c, Const) for c in f.params.values()):
            continue
        try:
            defaults = constant_params(f.family, f.family_options)
        except GraphModelError:
            continue
        if f.params == defaults:
            out.append((("factor", i), f"{f.model}({f.target}) is a fixed {f.family} with default constants and "
                        "nothing to learn (no parents, so no network): training cannot fit it; connect a parent "
                        "(it gets a network) or make a parameter learnable in the inspector"))
    return out


def unused(graph) -> list[tuple[tuple | None, str]]:
    """The models the objective neither trains nor reads, in the command line's words."""
    from inference.objectives import unused_models

    try:
        lines = unused_models(graph)
    except GraphModelError:
        return []  # (the objective cannot be derived: the Problems panel says why)
    out = []
    for line in lines:
        m = re.match(r"model '(\w+)'", line)
        first = next((i for i, f in enumerate(graph.factors) if m and f.model == m.group(1)), None)
        out.append((("factor", first) if first is not None else None, line))
    return out


def edited_since(before, graph) -> bool:
    """Whether ``graph`` differs from ``before`` in anything training reads (moving nodes
    does not count)."""
    if before is None:
        return False
    a, b = before.to_dict(), graph.to_dict()
    a.pop("layout", None)
    b.pop("layout", None)
    return a != b


def run_note(train, graph) -> list[tuple[None, str]]:
    """The warning while ``train`` (the training panel) runs a graph that ``graph`` no longer is."""
    return [(None, RUN_NOTE)] if train.running and edited_since(train.started_graph, graph) else []
