"""The ELBO family derived from a graph: ELBO, IWAE, Rényi-α and maximum likelihood.

Each derivation reads the graph's factors and returns a :class:`inference.losses.Loss`
that prints as the formula and evaluates on a batch::

    >>> print(elbo(vae))                          # doctest: +SKIP
    E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)]
    >>> print(elbo(vae, kl="mc"))                 # doctest: +SKIP
    E_q(z|x)[log p(x|z) + log p(z) − log q(z|x)]

The ELBO is built factor by factor (:func:`elbo_terms`, a pure function over the graph):
each stochastic p factor of an observed variable is a data term; each latent is scored by
a closed-form ``KL[q‖p]`` where torch has one and p's parents do not depend on the latent's
own sample, by Monte Carlo otherwise; discrete latents are enumerated, relaxed or get
score-function gradients. Which variables are observed is read from the batch, so one
ELBO serves labeled and unlabeled batches (M2). p is scored on q's sample: q's latents and
the q values p reads are given to p, and p recomputes its own deterministic variables.
:mod:`inference.objectives` chooses among these and the games by the graph file.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch
from torch.distributions import kl_divergence

from graphmodel import GraphModelError, ancestral_order, model_inputs
from graphmodel.engine import analyze
from graphmodel.families import FAMILIES, param_transform
from graphmodel.render.formula import factor_text, factorization, variable_text

from .data import missing_rows
from .estimators import (
    Density,
    Enumerate,
    Expectation,
    FreeBits,
    ImportanceBound,
    KLDivergence,
    LogLikelihood,
    Partial,
    ScoreFunction,
    split_rows,
)
from .losses import Constant, Loss, Relax, Sampling, Sum, cached
from .options import (
    check_beta,
    check_nonneg,
    check_number,
    check_option,
    check_positive,
    check_positive_int,
    check_semi_supervised,
)

__all__ = [
    "DISCRETE_MODES", "KL_MODES", "Derived", "ElboPlan", "LatentPlan", "adversarial_reason", "data_variables",
    "elbo", "elbo_terms", "factor_label", "iwae", "log_text", "max_likelihood", "nll", "renyi",
]

KL_MODES = ("auto", "analytic", "mc")
DISCRETE_MODES = ("enumerate", "relax", "score")


def factor_label(f) -> str:
    """A factor as loss terms and error messages name it: ``p(x|z)``."""
    return f"{f.model}({f.label})"


def _check(graph, *models: str) -> None:
    graph.validate()
    for m in models:
        if m not in graph.models:
            raise GraphModelError(f"no model '{m}'; models: {', '.join(graph.models) or 'none'}")


def _by_target(graph, model: str, lent: bool = False) -> dict:
    """target → (t=0 factor index or None, regular factor index or None); cached per revision.

    ``lent``: also the deterministic factors the model borrows from other models (what it
    runs, :func:`graphmodel.engine.analyze`'s ``members``). Callers must not modify the
    returned dict.
    """
    key = ("by_target", graph.revision, model, lent)
    if key not in graph._cache:
        out: dict = {}
        runs = analyze(graph).members.get(model, ()) if lent else (
            i for i, f in enumerate(graph.factors) if f.model == model)
        for i in runs:
            f = graph.factors[i]
            init, reg = out.get(f.target, (None, None))
            out[f.target] = (i, reg) if f.init else (init, i)
        graph._cache[key] = out
    return graph._cache[key]


def _stochastic(graph, idx) -> tuple[int, ...]:
    return tuple(i for i in idx if i is not None and not graph.factors[i].deterministic)


# --- adversarial seam -------------------------------------------------------------------

def adversarial_reason(graph, p: str | None = None, q: str | None = None) -> tuple[str, str] | None:
    """``(kind, why)`` when the graph needs an adversarial objective, else ``None``.

    An implicit generator (a generative Deterministic factor for an observed variable) needs
    a GAN game (``"gan"``); an implicit posterior (an inference Deterministic factor for a
    latent that the generative model scores stochastically) needs AVB (``"avb"``).
    """
    gens = [p] if p else [m for m, k in graph.models.items() if k == "generative"]
    infs = [q] if q else [m for m, k in graph.models.items() if k == "inference"]
    for m in gens:
        for f in graph.factors_of(m):
            v = graph.variables.get(f.target)
            if f.deterministic and v is not None and v.role == "observed":
                return "gan", (f"factor {factor_label(f)} is deterministic: '{f.target}' is an implicit generator "
                               "output with no density, so the objective is adversarial (a GAN game)")
    scored = {g.target for g in graph.factors if not g.deterministic and graph.models.get(g.model) == "generative"}
    for m in infs:
        for f in graph.factors_of(m):
            if f.deterministic and f.target in scored:
                return "avb", (f"factor {factor_label(f)} is deterministic: '{f.target}' has an implicit posterior "
                               "with no density, so the objective is adversarial (AVB's density-ratio game)")
    return None


def _refuse_adversarial(graph, p, q=None) -> None:
    why = adversarial_reason(graph, p, q)
    if why:
        raise GraphModelError(f"{why[1]}; it has no likelihood or bound to compute: use objective kind "
                              f"'{why[0]}', the game it calls for")


# --- the ELBO, term by term -------------------------------------------------------------

@dataclass(frozen=True)
class LatentPlan:
    """How the ELBO scores one latent variable.

    ``treatment`` is ``"analytic"`` (−KL[q‖p] in closed form), ``"mc"`` (log p − log q on
    the sample), ``"enumerate"`` (exact sum over its values), ``"relax"`` (Gumbel-softmax
    sample) or ``"score"`` (score-function gradients); ``analytic`` says whether its KL is
    taken in closed form (for ``relax``/``score`` too).
    """

    variable: str
    q_factors: tuple[int, ...]
    p_factors: tuple[int, ...]
    treatment: str
    analytic: bool


@dataclass(frozen=True)
class ElboPlan:
    """The ELBO of p and q for one set of observed variables (children first)."""

    p: str
    q: str
    observed: frozenset
    data: tuple[int, ...]  # p factors of observed variables
    latents: tuple[LatentPlan, ...]
    shared: tuple[str, ...]  # q values given to p


def _lent_states(graph, p: str, q: str) -> list[str]:
    """p's deterministic variables that q computes with p's own factors (borrowed: DRAW's canvas
    and decoder state): from q's values of the latents p's factors give exactly what p would
    compute again, so p is given them and its sweep does not run those networks a second time."""
    return list(dict.fromkeys(
        graph.factors[i].target for i in analyze(graph).members.get(q, ())
        if graph.factors[i].model == p and graph.factors[i].deterministic))


def _closed_form(qfam: str, pfam: str, var) -> bool:
    """Whether torch computes KL[qfam‖pfam] for ``var`` in closed form (and finitely)."""
    if pfam not in FAMILIES.get(qfam).kl_partners():
        return False
    return _closed_form_at(qfam, pfam, var, FAMILIES.version)


@lru_cache(maxsize=256)
def _closed_form_at(qfam: str, pfam: str, var, version: int) -> bool:
    """:func:`_closed_form` for one state of ``FAMILIES`` (``version``: an entry replaced with
    ``override=True`` is a new key, never a stale answer)."""
    dists = []
    for name in (qfam, pfam):
        fam = FAMILIES.get(name)
        if fam.deterministic:
            return False
        params = {}
        for k in (*fam.params, *(d for d in fam.defaults if d not in fam.params)):
            if k in fam.params:
                shape = fam.param_shape(k, var)
                params[k] = param_transform(fam.constraint(k))(torch.zeros(shape))
            else:
                params[k] = torch.tensor(float(fam.defaults[k]))
        dists.append(fam.make(params, len(var.shape)))
    try:
        return bool(torch.isfinite(kl_divergence(*dists)).all())
    except NotImplementedError:
        return False


def _parents(graph, idx, lag: bool = False) -> set:
    return {pa.name for i in idx if i is not None for pa in graph.factors[i].parents if lag or not pa.lag}


def _children(graph, model: str) -> dict:
    """Parent name → targets of ``model`` that read it within the same step (cached per revision)."""
    key = ("children", graph.revision, model)
    if key not in graph._cache:
        kids: dict = {}
        for f in graph.factors_of(model):
            for pa in f.parents:
                if not pa.lag:
                    kids.setdefault(pa.name, []).append(f.target)
        graph._cache[key] = kids
    return graph._cache[key]


def _position(graph, model: str) -> dict:
    """Variable → its index in ``model``'s ancestral order (cached per revision)."""
    key = ("position", graph.revision, model)
    if key not in graph._cache:
        graph._cache[key] = {n: k for k, n in enumerate(ancestral_order(graph, model))}
    return graph._cache[key]


def _reaches(graph, model: str, v: str, targets: set, observed) -> bool:
    """Whether ``model`` computes any of ``targets`` from ``v``'s sample within the same step.

    A descendant comes after ``v`` in the ancestral order, so only targets after it are
    looked for, the search stops at the last of them and as soon as one is found: a chain
    of 2,000 latents costs a step or two per latent, not the whole chain.
    """
    pos = _position(graph, model)
    start = pos.get(v, -1)
    wanted = {t for t in targets if pos.get(t, -1) > start and t not in observed}
    if not wanted:
        return False
    last, kids = max(pos[t] for t in wanted), _children(graph, model)
    seen, stack = set(), [v]
    while stack:
        for t in kids.get(stack.pop(), ()):
            if t in wanted:
                return True
            if t not in observed and t not in seen and pos.get(t, last + 1) < last:
                seen.add(t)
                stack.append(t)
    return False


def _p_reads(graph, pf: dict, v: str, observed) -> set:
    """What p's factor for ``v`` reads, through the deterministic variables p computes
    (``pf``: :func:`_by_target` with the borrowed factors)."""
    seen, stack = set(), list(_parents(graph, pf[v]))
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in pf and n not in observed and not _stochastic(graph, pf[n]):
            stack += list(_parents(graph, pf[n]))
    return seen


def _analytic(graph, plan_args, v, qs, ps) -> bool:
    p, q, observed = plan_args
    if any(graph.factors[i].flow for i in (*qs, *ps)):
        return False  # a flow's KL has no closed form: Monte Carlo on its exact density
    var = graph.variables[v]
    fams = [(graph.factors[a].family, graph.factors[b].family) for a in qs for b in ps]
    if any(graph.factors[i].autoregressive is not None for i in (*qs, *ps)):
        return False  # (a density over its dimensions in turn: no closed-form KL)
    if not all(_closed_form(a, b, var) for a, b in fams):
        return False
    reads = _p_reads(graph, _by_target(graph, p, lent=True), v, observed)
    return v not in reads and not _reaches(graph, q, v, reads, observed)


def elbo_terms(graph, p: str = "p", q: str = "q", observed=None, kl: str = "auto",
               discrete: str = "enumerate") -> ElboPlan:
    """Decide, factor by factor, how the ELBO of p and q scores each variable.

    Args:
        graph: a valid graph with models ``p`` and ``q``.
        observed: the variables the batch gives; default: those with role observed or input.
        kl: ``"auto"`` (closed form where possible), ``"analytic"`` (required) or ``"mc"``.
        discrete: treatment of non-reparameterizable Categorical/OneHotCategorical latents.

    Example:
        >>> [(l.variable, l.treatment) for l in elbo_terms(vae).latents]   # doctest: +SKIP
        [('z', 'analytic')]
    """
    _check(graph, p, q)
    _refuse_adversarial(graph, p, q)
    if observed is None:
        observed = {n for n, v in graph.variables.items() if v.role in ("observed", "input")}
    observed = frozenset(observed) & frozenset(graph.variables)
    pf, qf = _by_target(graph, p), _by_target(graph, q)
    data, latents = [], []
    for v in reversed(ancestral_order(graph, p)):
        ps = _stochastic(graph, pf.get(v, ()))
        if not ps:
            continue  # a deterministic variable p computes (its own or borrowed): p recomputes it
        if v in observed:
            data += list(reversed(ps))
            continue
        if v not in qf:
            raise GraphModelError(f"ELBO: latent '{v}' of model '{p}' has no factor in model '{q}'; "
                                  f"give '{q}' a factor for '{v}' (or bind '{v}' to data)")
        latents.append(_latent(graph, (p, q, observed), v, _stochastic(graph, qf[v]), ps, kl, discrete))
    for v, idx in qf.items():
        if v not in observed and v not in pf and _stochastic(graph, idx):
            raise GraphModelError(f"ELBO: '{q}' samples '{v}' but model '{p}' has no factor for it; "
                                  f"give '{p}' a factor p({v}|...) or make it deterministic")
    for n in model_inputs(graph, q):
        if n not in observed:
            raise GraphModelError(f"ELBO: model '{q}' reads '{n}', which is neither data nor an input; "
                                  f"bind '{n}' to data")
    for n in model_inputs(graph, p):
        if n not in observed and n not in qf:
            raise GraphModelError(f"ELBO: model '{p}' reads '{n}', which neither the data nor '{q}' gives")
    if sum(lat.treatment == "enumerate" for lat in latents) > 1:
        raise GraphModelError("ELBO: enumerating several discrete latents at once is not supported; "
                              "use discrete='relax' or 'score'")
    shared = [lat.variable for lat in latents] + [
        n for n in model_inputs(graph, p) if n not in observed and n in qf] + _lent_states(graph, p, q)
    return ElboPlan(p, q, observed, tuple(data), tuple(latents), tuple(shared))


def _latent(graph, args, v, qs, ps, kl, discrete) -> LatentPlan:
    p, q, observed = args
    if not qs:
        raise GraphModelError(f"ELBO: '{v}' is deterministic in '{q}' but stochastic in '{p}' (an implicit "
                              "posterior); use the adversarial objective kind 'avb'")
    fam = FAMILIES.get(graph.factors[qs[-1]].family)
    label = factor_label(graph.factors[qs[-1]])
    treatment = "mc"
    if graph.factors[qs[-1]].autoregressive is not None:
        treatment = "score"  # drawn one dimension at a time: no reparameterized sample
    elif not fam.reparameterized:
        var = graph.variables[v]
        # a binary latent of several draws has 2^d joint values: it is scored, as before
        if discrete == "enumerate" and fam.enumerable and (fam.values(var) is not None or var.support != "binary"):
            _enumerable(graph, label, var, qs, observed, fam)
            treatment = "enumerate"
        elif discrete == "relax" and fam.relaxation is not None:
            _enumerable(graph, label, var, qs, observed, fam, what="relax")
            treatment = "relax"
        else:
            treatment = "score"
    closed = _analytic(graph, args, v, qs, ps) if kl != "mc" and treatment != "enumerate" else False
    if kl == "analytic" and treatment != "enumerate" and not closed:
        pl = factor_label(graph.factors[ps[-1]])
        raise GraphModelError(f"ELBO: kl='analytic' but KL[{label}‖{pl}] has no closed form here (the families "
                              "have no registered KL, or p's parents depend on the sample); use kl='auto'")
    if treatment == "mc" and closed:
        treatment = "analytic"
    return LatentPlan(v, qs, ps, treatment, closed)


def _enumerable(graph, label, var, qs, observed, fam, what="enumerate") -> None:
    bad = sorted(_parents(graph, qs, lag=True) - observed)
    if var.plate is not None or len(qs) != 1 or bad:
        why = (f"it lives in plate '{var.plate}'" if var.plate else
               f"its parent '{bad[0]}' is itself sampled" if bad else "it has a t=0 factor")
        other = "discrete='score'" if what == "relax" else "discrete='relax' or 'score'"
        raise GraphModelError(f"ELBO: cannot {what} {label}: {why}; use {other}")
    if what == "enumerate" and fam.values(var) is None:
        raise GraphModelError(f"ELBO: cannot enumerate {label}: '{var.name}' has shape {var.shape}, "
                              "several categorical draws; use discrete='relax' or 'score'")


# --- formula text ----------------------------------------------------------------------

def _plate_sum(graph, f) -> tuple[str, str]:
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
    su, sl = _plate_sum(graph, f)
    return f"{su}log {factor_text(graph, f, False)}", rf"{sl}\log {factor_text(graph, f, True)}"


def _lhs(graph, model: str, targets, given, latex: bool, k: set = frozenset()) -> str:
    def nm(n):
        return variable_text(n, "k" if n in k else None, latex)

    comma, bar = (", ", r" \mid ") if latex else (",", "|")
    s = comma.join(nm(n) for n in targets)
    return f"{model}({s}{bar + comma.join(nm(n) for n in given) if given else ''})"


def _q_subscript(graph, q: str, observed, k: set = frozenset()) -> tuple[str, str] | None:
    order = [t for t in reversed(ancestral_order(graph, q)) if t not in observed]
    if not order:
        return None  # nothing is sampled: no expectation to write
    kept = [i for i, f in enumerate(graph.factors) if f.model == q and f.target in order]
    own = {graph.factors[i].target for i in kept}
    # a deterministic variable q borrows from another model (GQN's r) brings what it reads
    kept += [i for i, f in enumerate(graph.factors) if f.deterministic and f.target in order and f.target not in own]
    reads = _parents(graph, kept, lag=True)
    given = [n for n in graph.variables if n in observed and n in reads]
    return _lhs(graph, q, order, given, False, k), _lhs(graph, q, order, given, True, k)


def _kl_text(graph, lat: LatentPlan) -> tuple[str, str]:
    fq, fp = graph.factors[lat.q_factors[-1]], graph.factors[lat.p_factors[-1]]
    su, sl = _plate_sum(graph, fq)
    return (f"{su}KL[{factor_text(graph, fq, False)}‖{factor_text(graph, fp, False)}]",
            rf"{sl}\mathrm{{KL}}\left[{factor_text(graph, fq, True)} \,\middle\|\, {factor_text(graph, fp, True)}\right]")


# --- assembling the ELBO -----------------------------------------------------------------

def _coefficient(beta) -> Loss | None:
    if isinstance(beta, Loss):
        return beta
    return None if float(beta) == 1.0 else Constant(float(beta), "β")


def _sampling(graph, plan: ElboPlan, temperature: float, n=None) -> Sampling:
    relax = []
    for lat in plan.latents:
        if lat.treatment == "relax":
            i = lat.q_factors[-1]
            f = graph.factors[i]
            relax.append(Relax(lat.variable, i, tuple(pa.name for pa in f.parents),
                               FAMILIES.get(f.family).relaxation, float(temperature)))
    return Sampling(plan.q, plan.p, n, plan.shared, tuple(relax))


def _elbo_loss(graph, plan: ElboPlan, opts: dict) -> Loss:
    enum = [lat for lat in plan.latents if lat.treatment == "enumerate"]
    if enum:
        return _enumerated(graph, plan, enum[0], opts)
    s = _sampling(graph, plan, opts["temperature"])
    sub = _q_subscript(graph, plan.q, plan.observed)
    coef, fb = _coefficient(opts["beta"]), opts["free_bits"]
    merge = coef is None and fb is None
    pos = [Density(1, "p", factor_label(graph.factors[i]), log_text(graph, i)) for i in plan.data]
    neg, kls = [], []
    for lat in plan.latents:
        pd = [Density(1, "p", factor_label(graph.factors[i]), log_text(graph, i)) for i in reversed(lat.p_factors)]
        qd = [Density(-1, "q", factor_label(graph.factors[i]), log_text(graph, i)) for i in reversed(lat.q_factors)]
        if lat.analytic:
            wrap = bool((_parents(graph, lat.q_factors + lat.p_factors, lag=True)) - plan.observed)
            kls.append(KLDivergence(s, [factor_label(graph.factors[i]) for i in lat.q_factors],
                                    [factor_label(graph.factors[i]) for i in lat.p_factors], _kl_text(graph, lat),
                                    sub if wrap else None, int(_in_iid_plate(graph, lat.variable))))
        elif merge:
            pos += pd
            neg += qd
        else:
            kls.append(Expectation(s, [Density(1, "q", d.label, d.text) for d in qd]
                                   + [Density(-1, "p", d.label, d.text) for d in pd], sub))
    terms = [(1, Expectation(s, pos + neg, sub))] if pos or neg else []
    for kl in kls:
        t = FreeBits(kl, Constant(fb, "λ")) if fb is not None else kl
        terms.append((-1, coef * t if coef is not None else t))
    if not terms:
        raise GraphModelError(f"ELBO: model '{plan.p}' scores nothing stochastic given the data")
    # one flat sum however many latents there are (a chain of binary nodes would recurse)
    bound = Sum(terms) if len(terms) > 1 else terms[0][1] if terms[0][0] > 0 else -terms[0][1]
    score = [factor_label(graph.factors[i]) for lat in plan.latents if lat.treatment == "score" for i in lat.q_factors]
    return ScoreFunction(bound, s, score) if score else bound


def _in_iid_plate(graph, v) -> bool:
    """Whether each of ``v``'s KLs (one per step in a sequence) carries an iid plate's dim to sum:
    in an iid plate, or in a sequence plate nested in one (a dim per view at every step)."""
    plate = graph.plates.get(graph.variables[v].plate or "")
    return plate is not None and (plate.kind == "iid" or plate.inside is not None)


def _enumerated(graph, plan: ElboPlan, lat: LatentPlan, opts) -> Enumerate:
    var = graph.variables[lat.variable]
    inner_plan = elbo_terms(graph, plan.p, plan.q, plan.observed | {lat.variable}, opts["kl"], opts["discrete"])
    inner = _elbo_loss(graph, inner_plan, opts)
    f = graph.factors[lat.q_factors[-1]]
    values = FAMILIES.get(f.family).values(var)
    return Enumerate(lat.variable, values, _sampling(graph, inner_plan, opts["temperature"]), factor_label(f),
                     (factor_text(graph, f, False), factor_text(graph, f, True)), inner)


class Derived(Loss):
    """An objective whose terms depend on which variables the batch binds.

    It expands (once per set of observed variables) into a concrete expression: the same
    ELBO reads ``y`` as data on a labeled batch and enumerates it on an unlabeled one.
    It prints as the expansion for ``default`` (the graph's declared roles: observed and
    input). A ``partial`` variable (one the inference model infers) may be missing in some
    examples of a batch (NaN, or a negative class index): those examples are evaluated
    with the expansion that treats it as latent, the others with the one that reads it.
    """

    def __init__(self, build: Callable[[frozenset], Loss], variables, default, partial=()):
        self._build, self._variables = build, frozenset(variables)
        self._default = frozenset(default)
        self._partial = tuple(partial)
        self._expansions: dict = {}
        self._by_names: dict = {}  # the batch's names (in order) → expansion, for the hot path
        self.expand()  # derive now, so that a graph error surfaces where the objective is made

    def expand(self, observed=None) -> Loss:
        """The concrete expression when ``observed`` variables are given (default: by role)."""
        key = self._default if observed is None else frozenset(observed) & self._variables
        if key not in self._expansions:
            self._expansions[key] = self._build(key)
        return self._expansions[key]

    @property
    def prec(self):
        return self.expand().prec

    def children(self):
        return (self.expand(),)

    def _eval(self, ctx):
        if not ctx._frames:
            for v in self._partial:
                x = ctx.batch.get(v)
                gone = None if x is None else missing_rows(x)
                if gone is not None and bool(gone.any()):
                    return split_rows(ctx, v, self, self, gone)
            return cached(self._by_names, tuple(ctx.batch), lambda: self.expand(ctx.observed))._eval(ctx)
        return self.expand(ctx.observed)._eval(ctx)

    def _fmt(self, latex):
        return self.expand()._fmt(latex)


def data_variables(graph) -> set:
    """The variables a batch gives: those with the observed or input role."""
    return {n for n, v in graph.variables.items() if v.role in ("observed", "input")}


def _inferred(graph, q: str) -> tuple:
    """The variables q samples stochastically: data may leave them missing in some examples."""
    return tuple(dict.fromkeys(f.target for f in graph.factors_of(q) if not f.deterministic))


def elbo(graph, p: str = "p", q: str = "q", kl: str = "auto", beta=1.0, free_bits=None,
         discrete: str = "enumerate", temperature: float = 0.5, semi_supervised: dict | None = None) -> Loss:
    """The evidence lower bound ``E_q[Σ log p(v|pa_p(v)) − Σ log q(z|pa_q(z))]``.

    Args:
        graph: the graph; ``p`` its generative model, ``q`` its inference model.
        kl: ``"auto"``: a latent whose q and p factors have a closed-form KL becomes
            ``−KL[q‖p]``; ``"analytic"``: require it; ``"mc"``: always Monte Carlo.
        beta: a number or a schedule (:func:`inference.losses.anneal`) multiplying each KL.
        free_bits: λ: each latent's batch-mean KL is clamped below at λ (Kingma et al. 2016).
        discrete: non-reparameterizable Categorical/OneHotCategorical latents are
            ``"enumerate"``-d (exact sum, M2), ``"relax"``-ed (Gumbel-softmax at
            ``temperature``) or get ``"score"``-function gradients. Other
            non-reparameterizable latents (Bernoulli) get score-function gradients
            (or relaxation with ``"relax"``).
        semi_supervised: ``{"label": "y", "alpha": α}`` for a label that q infers and data
            gives for some examples only (Kingma et al. 2014, M2): an example with ``y``
            scores ``ELBO(x, y) + α·log q(y|x)``, one without scores ``ELBO(x)`` with ``y``
            latent. (Without this option the ELBO still splits examples that way; α = 0.)

    Returns:
        The bound per example (to maximize; :func:`training_loss` negates it).
    """
    check_option("kl", kl, KL_MODES)
    check_option("discrete", discrete, DISCRETE_MODES)
    opts = {"kl": kl, "beta": check_beta("beta", beta), "discrete": discrete, "temperature": check_positive("temperature", temperature),
            "free_bits": None if free_bits is None else check_nonneg("free_bits", free_bits)}
    g = graph.copy()
    _check(g, p, q)

    def build(obs):
        return _elbo_loss(g, elbo_terms(g, p, q, obs, kl, discrete), opts)

    if semi_supervised is None:
        return Derived(build, g.variables, data_variables(g), _inferred(g, q))
    label, alpha = check_semi_supervised("semi_supervised", semi_supervised)
    log_q = _log_q(g, p, q, label, opts, kl, discrete)
    given, missing = (Derived(build, g.variables, roles, _inferred(g, q)) for roles in (
        data_variables(g) | {label}, data_variables(g) - {label}))
    return Partial(label, given + alpha * log_q, missing)


def _log_q(graph, p: str, q: str, label: str, opts: dict, kl: str, discrete: str) -> Expectation:
    """``log q(y|pa)``, the classifier of M2, read from the q trace of the ELBO with ``y`` given."""
    fs = [i for i, f in enumerate(graph.factors) if f.model == q and f.target == label and not f.deterministic]
    if len(fs) != 1 or graph.factors[fs[0]].init or graph.variables[label].plate:
        raise GraphModelError(f"objective.semi_supervised.label: model '{q}' must have one factor for "
                              f"'{label}' (a classifier {q}({label}|...)) outside plates, "
                              f"found {len(fs)}")
    plan = elbo_terms(graph, p, q, data_variables(graph) | {label}, kl, discrete)
    density = Density(1, "q", factor_label(graph.factors[fs[0]]), log_text(graph, fs[0]))
    return Expectation(_sampling(graph, plan, opts["temperature"]), (density,), None)


def _importance(g, plan: ElboPlan, k: int, alpha: float) -> Loss:
    for lat in plan.latents:
        if lat.treatment != "mc" and lat.treatment != "analytic":
            f = g.factors[lat.q_factors[-1]]
            raise GraphModelError(f"importance-weighted bound: {factor_label(f)} ({f.family}) cannot be reparameterized; "
                                  "use a relaxed family (RelaxedOneHotCategorical) or the ELBO")
    lat_names = {lat.variable for lat in plan.latents}
    p_labels = [factor_label(g.factors[i]) for i in plan.data] + [
        factor_label(g.factors[i]) for lat in plan.latents for i in lat.p_factors]
    q_labels = [factor_label(g.factors[i]) for lat in plan.latents for i in lat.q_factors]
    targets = list(reversed(ancestral_order(g, plan.p)))
    given = [n for n in model_inputs(g, plan.p)]
    q_ord = [t for t in reversed(ancestral_order(g, plan.q)) if t not in plan.observed]
    kk = lat_names | set(q_ord)
    sub = _q_subscript(g, plan.q, plan.observed)
    qsub = _q_subscript(g, plan.q, plan.observed, kk)
    pu, pl = _lhs(g, plan.p, targets, given, False, kk), _lhs(g, plan.p, targets, given, True, kk)
    ratio_u, ratio_l = f"{pu}/{qsub[0]}", rf"\frac{{{pl}}}{{{qsub[1]}}}"
    if alpha == 0.0:
        u = f"log 1/{k} Σₖ {ratio_u}"
        la = rf"\log \frac{{1}}{{{k}}} \sum_{{k=1}}^{{{k}}} {ratio_l}"
    elif alpha == 1.0:
        u = f"1/{k} Σₖ log {ratio_u}"
        la = rf"\frac{{1}}{{{k}}} \sum_{{k=1}}^{{{k}}} \log {ratio_l}"
    else:
        a = f"{alpha:g}"
        u = f"1/(1−{a}) log 1/{k} Σₖ ({ratio_u})^(1−{a})"
        la = (rf"\frac{{1}}{{1-{a}}} \log \frac{{1}}{{{k}}} \sum_{{k=1}}^{{{k}}} "
              rf"\left({ratio_l}\right)^{{1-{a}}}")
    text = (f"E_{sub[0]}[{u}]", rf"\mathbb{{E}}_{{{sub[1]}}}\left[{la}\right]") if sub else (u, la)
    return ImportanceBound(Sampling(plan.q, plan.p, k, plan.shared), alpha, p_labels, q_labels, text)


def iwae(graph, k: int = 5, p: str = "p", q: str = "q") -> Derived:
    """The k-sample importance-weighted bound (Burda et al. 2016).

    ``E[log 1/k Σ_k p(x,z_k)/q(z_k|x)]``; ``iwae(k=1)`` is the Monte Carlo ELBO.
    """
    return renyi(graph, 0.0, k, p, q)


def renyi(graph, alpha: float = 0.5, k: int = 5, p: str = "p", q: str = "q") -> Derived:
    """The Rényi-α variational bound with k samples (Li & Turner 2016).

    ``E[1/(1−α) log 1/k Σ_k (p(x,z_k)/q(z_k|x))^(1−α)]``; α = 0 is IWAE, α = 1 the ELBO.
    """
    k, alpha = check_positive_int("k", k), check_number("alpha", alpha)
    g = graph.copy()
    _check(g, p, q)
    return Derived(lambda obs: _importance(g, elbo_terms(g, p, q, obs, "mc", "score"), k, alpha),
                   g.variables, data_variables(g), _inferred(g, q))


def max_likelihood(graph, model: str = "p", dequantize: dict | None = None) -> LogLikelihood:
    """``log m(v…)`` of a fully observed model (to maximize): its factors' log-densities.

    Every variable a stochastic factor of the model scores must be in the batch;
    deterministic variables are recomputed. Works for any model, e.g. a classifier.
    ``dequantize`` (variable → number of levels) scores discrete data on ``[0, 1]`` by a
    continuous density under uniform dequantization (:class:`LogLikelihood`).
    """
    _check(graph, model)
    if graph.models[model] == "generative":
        _refuse_adversarial(graph, model, None)
    fs = [(i, f) for i, f in enumerate(graph.factors) if f.model == model and not f.deterministic]
    labels = tuple(factor_label(f) for _, f in fs)
    requires = tuple(dict.fromkeys([f.target for _, f in fs] + list(model_inputs(graph, model))))
    lu, ll = factorization(graph, model).split(" = ")[0], factorization(graph, model, latex=True).split(" = ")[0]
    deq = check_dequantize(graph, "dequantize", dequantize, requires)
    if deq:
        names = ",".join(n for n, _ in deq)
        return LogLikelihood(model, labels, requires, (f"log {lu} (dequantized {names})",
                                                       rf"\log {ll}\ (\text{{dequantized {names}}})"), deq)
    return LogLikelihood(model, labels, requires, (f"log {lu}", rf"\log {ll}"))


def check_dequantize(graph, key: str, value, scored) -> tuple:
    """``{"x": 17}`` → ``(("x", 17),)``; each a continuous variable the model scores, levels ≥ 2."""
    if value is None:
        return ()
    if not isinstance(value, dict) or not value:
        raise GraphModelError(f"objective.{key}: expected an object variable → number of levels, found {value!r}")
    out = []
    for name, levels in value.items():
        if name not in scored or graph.variables[name].classes is not None:
            raise GraphModelError(f"objective.{key}.{name}: expected a continuous variable the model scores "
                                  f"({', '.join(scored)}), found {name!r}")
        if not isinstance(levels, int) or isinstance(levels, bool) or not 2 <= levels <= 1 << 16:
            raise GraphModelError(f"objective.{key}.{name}: expected a number of levels in [2, 65536], "
                                  f"found {levels!r}")
        out.append((name, levels))
    return tuple(out)


def nll(graph, model: str = "p") -> Loss:
    """The negative log-likelihood ``−log m(v…)`` of a fully observed model (to minimize)."""
    return -max_likelihood(graph, model)
