"""Factorizations as a paper prints them, in Unicode and LaTeX.

    >>> factorization(vae, "p")                  # doctest: +SKIP
    'p(x,z) = p(x|z)p(z)'
    >>> factorization(vae, "p", latex=True)      # doctest: +SKIP
    'p(x, z) = p(x \\mid z)\\,p(z)'

Factors are written children first (reverse ancestral order). Variables in a plate carry
the plate's index (``xₜ``, ``hₜ₋₁``; ``i`` for iid plates) inside a product over it. In LaTeX
a name's own subscript and Greek letters are typeset (``z1`` → ``z_{1}``, ``x_c`` →
``x_{c}``, ``eps`` → ``\\epsilon``); other long names are ``\\mathit{...}``.
"""

from __future__ import annotations

import re

from ..engine import analyze

_SUB = str.maketrans("0123456789+-=()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ")


def _index(graph, plate: str | None) -> str | None:
    """``"t"`` (sequence), ``"i"`` (iid), ``"i,t"`` (a sequence nested in an iid plate) or None."""
    if plate is None or plate not in graph.plates:
        return None
    p = graph.plates[plate]
    idx = "t" if p.kind == "sequence" else "i"
    return idx if p.inside is None else f"{_index(graph, p.inside)},{idx}"


# Greek letter names written as the letter in LaTeX ("xi" is left out: in this field it is
# usually x_i, the i-th view).
_GREEK = {g: "\\" + g for g in (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda",
    "mu", "nu", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega")}
_GREEK["eps"] = r"\epsilon"
_LATEX_NAME = re.compile(
    r"([A-Za-z]|" + "|".join(sorted(_GREEK, key=len, reverse=True)) + r")(?:_?(\d+)|_([A-Za-z0-9]+))?")


def _latex_name(name: str, sub: str | None) -> str:
    """``z1`` → ``z_{1}``, ``x_c`` → ``x_{c}``, ``eps`` → ``\\epsilon``; others in ``\\mathit``.

    ``sub`` (a plate index such as ``t-1``) joins the name's own subscript: ``z_{1,t-1}``.
    """
    m = _LATEX_NAME.fullmatch(name)
    if m:
        base, own = _GREEK.get(m.group(1), m.group(1)), m.group(2) or m.group(3)
        subs = ",".join(x for x in (own, sub) if x)
        return f"{base}_{{{subs}}}" if subs else base
    base = r"\mathit{" + name.replace("_", r"\_") + "}"
    return f"{base}_{{{sub}}}" if sub else base


def variable_text(name: str, idx: str | None, latex: bool, lag: int = 0, init: bool | str = False,
                  step: str | None = None) -> str:
    """A variable as a formula prints it: ``z``, ``xₜ``, ``hₜ₋₁``, ``xₜ₊₁`` (``lag`` 1, -1),
    ``h₀`` (``init``), ``cₗₐₛₜ`` (``step="last"``).

    ``idx`` is the plate index (``"t"``, ``"i"``, ``"k"``, ``"i,t"`` in nested plates) or
    ``None`` outside a plate; ``step`` overrides the subscript (of the inner plate, where nested:
    ``hᵢ₀``, ``h_{i,t-1}``).
    """
    outer, _, idx = idx.rpartition(",") if idx is not None else ("", "", None)
    sub = step
    if sub is None and idx is not None:
        sub = ("-1" if init == "before" else "0") if init else (f"{idx}-{lag}" if lag > 0 else f"{idx}+{-lag}" if lag < 0 else idx)
    if latex:
        sub = r"\mathrm{last}" if sub == "last" else sub
        return _latex_name(name, f"{outer},{sub}" if outer and sub else sub)
    return name if sub is None else name + (outer + sub).translate(_SUB)


def _boundary(graph, f) -> str | None:
    """The subscript of a boundary factor's target: ``"last"`` when its regular factor only
    reads later steps (it defines the last step), else None (``0``: it defines the first)."""
    if not f.init:
        return None
    lags = [p.lag for g in graph.factors if g.model == f.model and g.target == f.target and not g.init
            for p in g.parents]
    return "last" if lags and max(lags) <= 0 and min(lags) < 0 else None


def factor_text(graph, f, latex: bool) -> str:
    """One factor as a formula prints it: ``p(x|z)``, ``q(zₜ|xₜ,zₜ₋₁)``, ``p(x|cₗₐₛₜ)``."""
    tvar = graph.variables[f.target]
    tidx = _index(graph, tvar.plate)
    boundary = _boundary(graph, f)
    target = variable_text(f.target, tidx, latex, init=f.init, step=boundary)
    parents = []
    for p in f.parents:
        pvar = graph.variables.get(p.name)  # an invalid graph may name an undeclared parent
        pidx = _index(graph, pvar.plate if pvar is not None else None)
        if p.last:  # (a reduction of a nested plate reads the last steps of every view: hₗₐₛₜ)
            parents.append(variable_text(p.name, pidx if tidx is not None else None, latex, step="last"))
        elif pidx is not None and tidx is None:  # a reduction over the plate
            parents.append(variable_text(p.name, None, latex) if latex else p.name)
        else:
            same = pidx == tidx
            parents.append(variable_text(p.name, pidx, latex, lag=p.lag, init=f.init and same,
                                         step=boundary if same else None))
    sep, comma = (r" \mid ", ", ") if latex else ("|", ",")
    if f.autoregressive is not None:
        return _autoregressive_text(f, tidx, parents, latex)
    body = target + (sep + comma.join(parents) if parents else "")
    return f"{f.model}({body})"


def _autoregressive_text(f, tidx, parents, latex: bool) -> str:
    """``∏ⱼ p(xⱼ|x<ⱼ,z)``: a product over the target's dimensions, each given those before it
    (``j`` when the target is in a plate that already uses ``i``)."""
    d = "j" if tidx == "i" else "i"
    sub = d if tidx is None else f"{tidx},{d}"
    if latex:
        head = _latex_name(f.target, sub)
        before = _latex_name(f.target, sub.replace(d, "<" + d))
        return rf"\prod_{{{d}}} {f.model}({head} \mid {', '.join([before, *parents])})"
    head = f.target + sub.replace(",", "").translate(_SUB)
    before = f.target + (tidx or "").translate(_SUB) + "<" + d.translate(_SUB)
    return f"∏{d.translate(_SUB)} {f.model}({head}|{','.join([before, *parents])})"


def factorization(graph, model: str, latex: bool = False) -> str:
    """``p(x,z) = p(x|z)p(z)`` for ``model`` of ``graph`` (``latex=True`` for LaTeX)."""
    a = analyze(graph)
    order = a.orders.get(model, ())
    inputs = a.inputs.get(model, ())
    fs = [f for f in graph.factors if f.model == model and f.target in graph.variables]
    if not order:  # invalid model: keep declaration order
        order = tuple(dict.fromkeys(f.target for f in fs))
    rank = {n: k for k, n in enumerate(order)}
    fs.sort(key=lambda f: (-rank.get(f.target, 0), bool(f.init)))
    groups: list[tuple[str | None, list[str]]] = []
    for f in fs:
        plate = graph.variables[f.target].plate
        # a boundary factor is outside its sequence's product, but inside the views around it
        key = (plate if not f.init else graph.plates[plate].inside) if plate in graph.plates else None
        term = factor_text(graph, f, latex)
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
            idx = _index(graph, plate).split(",")  # ∏ᵢ∏ₜ over a sequence nested in views
            inner = join.join(terms)
            if latex:  # brackets keep the factors that follow out of the product
                inner = rf"\left[{inner}\right]" if len(terms) > 1 else inner
                parts.append("".join(rf"\prod_{{{k}}} " for k in idx) + inner)
            else:
                parts.append("".join(f"∏{k.translate(_SUB)}" for k in idx) + f"[{inner}]")
    rhs = (r"\," if latex else "").join(parts)
    targets = list(dict.fromkeys(f.target for f in sorted(fs, key=lambda f: (-rank.get(f.target, 0)))))
    comma = ", " if latex else ","
    names = [variable_text(n, None, latex) for n in targets]
    lhs = comma.join(names)
    if inputs:
        sep = r" \mid " if latex else "|"
        lhs += sep + comma.join(variable_text(n, None, latex) for n in inputs)
    return f"{model}({lhs}) = {rhs}"


def flow_text(graph, f) -> str:
    """A flow factor in one line: ``p(x): Normal → coupling → permute → coupling``."""
    steps = " → ".join(str(getattr(s, "type", s)) for s in f.flow)
    return f"{factor_text(graph, f, False)}: {f.family} → {steps}"
