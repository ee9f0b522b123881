"""Factorizations as a paper prints them, in Unicode and LaTeX.

    >>> factorization(vae, "p")                  # doctest: +SKIP
    'p(x,z) = p(x|z)p(z)'
    >>> factorization(vae, "p", latex=True)      # doctest: +SKIP
    'p(x, z) = p(x \\mid z)\\,p(z)'

Factors are written children first (reverse ancestral order). Variables in a plate carry
the plate's index (``xₜ``, ``hₜ₋₁``; ``i`` for iid plates) inside a product over it.
"""

from __future__ import annotations

import re

from ..engine import analyze

_SUB = str.maketrans("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")


def _index(graph, plate: str | None) -> str | None:
    if plate is None or plate not in graph.plates:
        return None
    return "t" if graph.plates[plate].kind == "sequence" else "i"


def _name(name: str, idx: str | None, latex: bool, lag: bool = False, init: bool = False) -> str:
    if latex:
        m = re.fullmatch(r"([A-Za-z])(\d+)", name)
        base = name if len(name) == 1 else (f"{m.group(1)}_{{{m.group(2)}}}" if m else rf"\mathit{{{name}}}")
        base = base.replace("_", r"\_") if not m and len(name) > 1 and "_" in name else base
        if idx is None:
            return base
        sub = "0" if init else (f"{idx}-1" if lag else idx)
        return f"{{{base}}}_{{{sub}}}" if m else f"{base}_{{{sub}}}"
    if idx is None:
        return name
    sub = "0" if init else (f"{idx}-1" if lag else idx)
    return name + sub.translate(_SUB)


def _term(graph, f, latex: bool) -> str:
    tvar = graph.variables[f.target]
    tidx = _index(graph, tvar.plate)
    target = _name(f.target, tidx, latex, init=f.init)
    parents = []
    for p in f.parents:
        pidx = _index(graph, graph.variables[p.name].plate)
        if pidx is not None and tidx is None:  # a reduction over the plate
            parents.append(_name(p.name, None, latex) if latex else p.name)
        else:
            parents.append(_name(p.name, pidx, latex, lag=bool(p.lag), init=f.init and pidx == tidx))
    sep, comma = (r" \mid ", ", ") if latex else ("|", ",")
    body = target + (sep + comma.join(parents) if parents else "")
    return f"{f.model}({body})"


def factorization(graph, model: str, latex: bool = False) -> str:
    """``p(x,z) = p(x|z)p(z)`` for ``model`` of ``graph`` (``latex=True`` for LaTeX)."""
    a = analyze(graph)
    order = a.orders.get(model, ())
    inputs = a.inputs.get(model, ())
    fs = [f for f in graph.factors if f.model == model and f.target in graph.variables]
    if not order:  # invalid model: keep declaration order
        order = tuple(dict.fromkeys(f.target for f in fs))
    rank = {n: k for k, n in enumerate(order)}
    fs.sort(key=lambda f: (-rank.get(f.target, 0), f.init))
    groups: list[tuple[str | None, list[str]]] = []
    for f in fs:
        plate = graph.variables[f.target].plate
        key = plate if (plate in graph.plates and not f.init) else None
        term = _term(graph, f, latex)
        if groups and groups[-1][0] == key:
            groups[-1][1].append(term)
        else:
            groups.append((key, [term]))
    join = r"\," if latex else ""
    parts = []
    for plate, terms in groups:
        if plate is None:
            parts.append(join.join(terms))
        else:
            idx = _index(graph, plate)
            inner = join.join(terms)
            parts.append(rf"\prod_{{{idx}}} {inner}" if latex else f"∏{idx.translate(_SUB)}[{inner}]")
    rhs = (r"\," if latex else "").join(parts)
    targets = list(dict.fromkeys(f.target for f in sorted(fs, key=lambda f: (-rank.get(f.target, 0)))))
    comma = ", " if latex else ","
    names = [_name(n, None, latex) for n in targets]
    lhs = comma.join(names)
    if inputs:
        sep = r" \mid " if latex else "|"
        lhs += sep + comma.join(_name(n, None, latex) for n in inputs)
    return f"{model}({lhs}) = {rhs}"
