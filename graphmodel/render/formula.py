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


_MODEL_SUB = re.compile(r"([A-Za-z])([A-Za-z])")


def model_symbol(name: str, latex: bool) -> str:
    """A model's name as a formula prints it. In LaTeX, a letter with a one-letter or numbered
    suffix is subscripted as papers write it (JMVAE's unimodal encoders ``qx``, ``qw`` →
    ``q_{x}``, ``q_{w}``; ``q1`` → ``q_{1}``; ``q_xw`` → ``q_{xw}``), other long names are
    ``\\mathit{classifier}`` (one word, not a product of letters); Unicode keeps the name."""
    if not latex or len(name) == 1:
        return name
    m = _MODEL_SUB.fullmatch(name)
    if m and not _LATEX_NAME.fullmatch(name):  # (a Greek name stays a letter: pi → \pi)
        return f"{m.group(1)}_{{{m.group(2)}}}"
    return _latex_name(name, None)


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
        sub = r"\mathrm{last}" if sub == "last" else f"t_{sub[1]}" if sub in ("t1", "t2") else sub
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
        if p.picked:  # (a reduction of a nested plate reads the last steps of every view: hₗₐₛₜ)
            parents.append(variable_text(p.name, pidx if tidx is not None else None, latex, step=p.step))
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
    return f"{model_symbol(f.model, latex)}({body})"


def _autoregressive_text(f, tidx, parents, latex: bool) -> str:
    """``∏ⱼ p(xⱼ|x<ⱼ,z)``: a product over the target's dimensions, each given those before it
    (``j`` when the target is in a plate that already uses ``i``)."""
    d = "j" if tidx == "i" else "i"
    sub = d if tidx is None else f"{tidx},{d}"
    if latex:
        head = _latex_name(f.target, sub)
        before = _latex_name(f.target, sub.replace(d, "<" + d))
        return rf"\prod_{{{d}}} {model_symbol(f.model, True)}({head} \mid {', '.join([before, *parents])})"
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
    return f"{model_symbol(model, latex)}({lhs}) = {rhs}"


def flow_text(graph, f) -> str:
    """A flow factor in one line: ``p(x): Normal → coupling → permute → coupling``."""
    steps = " → ".join(str(getattr(s, "type", s)) for s in f.flow)
    return f"{factor_text(graph, f, False)}: {f.family} → {steps}"


# --- objectives: the notation of the loss algebra and its terms --------------------------------
# Every objective's formula text, Unicode and LaTeX, is written here; the loss classes of
# ``inference`` hold plain data and call these (``inference.losses.Sum._fmt`` → :func:`signed_sum`).

#: printing precedence: a child binding weaker than its parent is put in parentheses
ADD, NEG, MUL, ATOM = 1, 1.5, 2, 4
GREEK_LATEX = {"α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta", "ε": r"\epsilon", "η": r"\eta",
               "κ": r"\kappa", "λ": r"\lambda", "μ": r"\mu", "ν": r"\nu", "ρ": r"\rho", "σ": r"\sigma",
               "τ": r"\tau", "ω": r"\omega"}
#: a formula's constant names printed as their letter (``lambda`` is Python's keyword: ``lam``)
_CONSTANT_LETTERS = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eps": "ε",
                     "eta": "η", "kappa": "κ", "lam": "λ", "mu": "μ", "nu": "ν", "rho": "ρ", "sigma": "σ",
                     "tau": "τ", "omega": "ω"}


def constant_symbol(name: str) -> str:
    """How a formula's named constant prints: ``alpha`` → ``α``, ``w`` → ``w``."""
    return _CONSTANT_LETTERS.get(name, name)


def pick(text: tuple, latex: bool) -> str:
    """The LaTeX or the Unicode half of a ``(unicode, latex)`` pair."""
    return text[1] if latex else text[0]


def number(v: float, latex: bool) -> str:
    s = f"{v:g}"
    return s if latex or v >= 0 else "−" + s[1:]


def symbol(s: str, latex: bool) -> str:
    return GREEK_LATEX.get(s, s) if latex else s


def parenthesized(node, latex: bool, bare: bool) -> str:
    """``node`` printed, in parentheses unless ``bare``."""
    s = node._fmt(latex)
    if bare:
        return s
    return rf"\left({s}\right)" if latex else f"({s})"


def signed_sum(terms, latex: bool) -> str:
    """``t₀ ± t₁ ± …`` from ``(sign, node)`` pairs."""
    minus = " - " if latex else " − "
    sign, t = terms[0]
    parts = [parenthesized(t, latex, t.prec >= ADD) if sign > 0 else
             ("-" if latex else "−") + parenthesized(t, latex, t.prec >= MUL)]
    for sign, t in terms[1:]:
        parts.append(" + " + parenthesized(t, latex, t.prec > ADD) if sign > 0 else
                     minus + parenthesized(t, latex, t.prec > NEG))
    return "".join(parts)


def product(a, b, latex: bool) -> str:
    dot = r" \cdot " if latex else "·"
    return parenthesized(a, latex, a.prec >= MUL) + dot + parenthesized(b, latex, b.prec > MUL)


def quotient(a, b, latex: bool) -> str:
    if latex:
        return rf"\frac{{{a._fmt(True)}}}{{{b._fmt(True)}}}"
    return parenthesized(a, False, a.prec >= MUL) + "/" + parenthesized(b, False, b.prec > MUL)


def negation(a, latex: bool) -> str:
    return ("-" if latex else "−") + parenthesized(a, latex, a.prec >= MUL)


def batch_sum(a, latex: bool) -> str:
    return rf"\sum_{{n}} \left({a._fmt(True)}\right)" if latex else f"Σₙ({a._fmt(False)})"


def pair_sum(a, latex: bool) -> str:
    """``Σ_{t₁}(…)``: a term of a jump's pair summed over its first step (``sum_t`` of a jump)."""
    return rf"\sum_{{t_1}} \left({a._fmt(True)}\right)" if latex else f"Σₜ₁({a._fmt(False)})"


def expectation(sub: tuple | None, body: str, latex: bool) -> str:
    """``E_sub[body]``, or the bare body when nothing is sampled (``sub`` None)."""
    if sub is None:
        return body
    return rf"\mathbb{{E}}_{{{sub[1]}}}\left[{body}\right]" if latex else f"E_{sub[0]}[{body}]"


def signed_densities(items, latex: bool) -> str:
    """``log p(x|z) + log p(z) − log q(z|x)`` from items with ``sign`` and ``text``."""
    out, minus = "", "-" if latex else "−"
    for k, d in enumerate(items):
        t = pick(d.text, latex)
        if k == 0:
            out = t if d.sign > 0 else f"{minus}{t}"
        else:
            out += f" + {t}" if d.sign > 0 else f" {minus} {t}"
    return out


def entropy_of(weight: tuple, latex: bool) -> str:
    return rf"\mathbb{{H}}\left[{weight[1]}\right]" if latex else f"H[{weight[0]}]"


def enumeration(variable: str, weight: tuple, inner, latex: bool) -> str:
    """``Σ_y q(y|x)[inner] + H[q(y|x)]``."""
    if latex:
        return rf"\sum_{{{variable}}} {weight[1]}\left[{inner._fmt(True)}\right] + {entropy_of(weight, True)}"
    return f"Σ_{variable} {weight[0]}[{inner._fmt(False)}] + {entropy_of(weight, False)}"


def partial(v: str, given, missing, latex: bool) -> str:
    """``{given  if v given;  missing  otherwise}`` (M2's labeled and unlabeled terms)."""
    g = given._fmt(latex) if given else "0"
    if latex:
        if missing is None:
            return rf"[{v} \text{{ given}}] \cdot \left({g}\right)"
        return rf"\begin{{cases}} {g} & {v} \text{{ given}} \\ {missing._fmt(True)} & \text{{otherwise}} \end{{cases}}"
    if missing is None:
        return f"[{v} given]·{parenthesized(given, False, given.prec >= MUL)}" if given else "0"
    return f"{{{g}  if {v} given;  {missing._fmt(False)}  otherwise}}"


def free_bits(lam, kl, latex: bool) -> str:
    if latex:
        return rf"\max\left({lam._fmt(True)}, {kl._fmt(True)}\right)"
    return f"max({lam._fmt(False)}, {kl._fmt(False)})"


def plate_sum(graph, f) -> tuple[str, str]:
    """The sum over a factor's plate that its log-density or KL carries: ``Σₜ``, ``Σᵢ Σₜ``."""
    plate = graph.plates.get(graph.variables[f.target].plate or "")
    outer = graph.plates.get(plate.inside or "") if plate is not None else None
    if outer is not None:  # a sequence nested in views: Σᵢ Σₜ (a boundary factor: Σᵢ)
        return ("Σᵢ ", r"\sum_{i} ") if f.init else ("Σᵢ Σₜ ", r"\sum_{i} \sum_{t} ")
    if plate is None or f.init:
        return "", ""
    i = "t" if plate.kind == "sequence" else "i"
    return ("Σₜ " if i == "t" else "Σᵢ "), rf"\sum_{{{i}}} "


def log_text(graph, i) -> tuple[str, str]:
    """``log p(x|z)`` for factor ``i`` (with its plate's sum), in Unicode and LaTeX."""
    f = graph.factors[i]
    su, sl = plate_sum(graph, f)
    return f"{su}log {factor_text(graph, f, False)}", rf"{sl}\log {factor_text(graph, f, True)}"


def kl_text(graph, fq, fp) -> tuple[str, str]:
    """``KL[q(z|x)‖p(z)]`` between two factors of one variable (with its plate's sum)."""
    su, sl = plate_sum(graph, fq)
    return (f"{su}KL[{factor_text(graph, fq, False)}‖{factor_text(graph, fp, False)}]",
            rf"{sl}\mathrm{{KL}}\left[{factor_text(graph, fq, True)} \,\middle\|\, {factor_text(graph, fp, True)}\right]")


def joint(model: str, targets, given, latex: bool, k: set = frozenset()) -> str:
    """``p(x,z|y)`` over ``targets`` given ``given``; names in ``k`` carry the sample index ``ₖ``."""
    def nm(n):
        return variable_text(n, "k" if n in k else None, latex)

    comma, bar = (", ", r" \mid ") if latex else (",", "|")
    s = comma.join(nm(n) for n in targets)
    return f"{model_symbol(model, latex)}({s}{bar + comma.join(nm(n) for n in given) if given else ''})"


def importance_text(k: int, alpha: float, ratio: tuple, sub: tuple | None) -> tuple[str, str]:
    """The Rényi-α bound over ``k`` samples of ``ratio`` (``p/q``): α = 0 is IWAE's
    ``log 1/k Σₖ p/q``, α = 1 the ELBO's ``1/k Σₖ log p/q``; a negative α is parenthesized
    (``1/(1−(−1))``)."""
    ru, rl = ratio
    if alpha == 0.0:
        u, la = f"log 1/{k} Σₖ {ru}", rf"\log \frac{{1}}{{{k}}} \sum_{{k=1}}^{{{k}}} {rl}"
    elif alpha == 1.0:
        u, la = f"1/{k} Σₖ log {ru}", rf"\frac{{1}}{{{k}}} \sum_{{k=1}}^{{{k}}} \log {rl}"
    else:
        a = f"{alpha:g}" if alpha >= 0 else f"(−{-alpha:g})"
        al = f"{alpha:g}" if alpha >= 0 else f"(-{-alpha:g})"
        u = f"1/(1−{a}) log 1/{k} Σₖ ({ru})^(1−{a})"
        la = (rf"\frac{{1}}{{1-{al}}} \log \frac{{1}}{{{k}}} \sum_{{k=1}}^{{{k}}} "
              rf"\left({rl}\right)^{{1-{al}}}")
    if sub:
        return f"E_{sub[0]}[{u}]", rf"\mathbb{{E}}_{{{sub[1]}}}\left[{la}\right]"
    return u, la


def expect_pair(sub: tuple, body: tuple) -> tuple[str, str]:
    """``E_sub[body]`` from ``(unicode, latex)`` pieces."""
    return f"E_{sub[0]}[{body[0]}]", rf"\mathbb{{E}}_{{{sub[1]}}}\left[{body[1]}\right]"


def critic_text(name: str, of: tuple, link: str) -> tuple[str, str]:
    """``log D(…)``, ``log(1 − D(…))`` or ``D(…)`` around the call ``of`` of a game's network."""
    call = (f"{name}({of[0]})", f"{name}({of[1]})")
    if link == "log_sigmoid":
        return f"log {call[0]}", rf"\log {call[1]}"
    if link == "log1m_sigmoid":
        return f"log(1 − {call[0]})", rf"\log\left(1 - {call[1]}\right)"
    return call


def entropy_text(graph, factors) -> tuple[str, str]:
    """``H[q(z|x)]`` of one or more factors."""
    u = ", ".join(factor_text(graph, f, False) for f in factors)
    la = r",\, ".join(factor_text(graph, f, True) for f in factors)
    return f"H[{u}]", rf"\mathbb{{H}}\left[{la}\right]"


def mmd_text(q: str, p: str, variable: str) -> tuple[str, str]:
    """``MMD[q(z)‖p(z)]``: the aggregate posterior against the prior."""
    u, la = variable_text(variable, None, False), variable_text(variable, None, True)
    ql, pl = model_symbol(q, True), model_symbol(p, True)
    return f"MMD[{q}({u})‖{p}({u})]", rf"\mathrm{{MMD}}\left[{ql}({la}) \,\middle\|\, {pl}({la})\right]"
