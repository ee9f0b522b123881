"""Terms between any two models: ``kl``, ``expect``, ``entropy``, ``log_prob`` and ``mmd``.

Unlike the ELBO, which pairs a generative with an inference model, these take any models of
the graph — JMVAE's ``KL[q(z|x,w)‖qx(z|x)]`` compares two inference models. The first model
is traced on the batch; the second is scored on its sample (it is given the latents they
share and whatever else of the first's it reads), as the ELBO scores p on q's sample::

    >>> print(kl(jmvae, "q", "qx"))              # doctest: +SKIP
    KL[q(z|x,w)‖qx(z|x)]

A KL is in closed form where torch has one and the second model's parents do not depend on
the sample (the ELBO's rule), by Monte Carlo ``E_a[log a − log b]`` otherwise. A latent in a
sequence plate sums its KLs over the steps (``Σₜ``).
"""

from __future__ import annotations

import torch

from graphmodel import DataError, GraphModelError, ancestral_order, model_inputs
from graphmodel.render.formula import entropy_text, mmd_text, pick

from ..elbo import (
    LatentPlan,
    _analytic,
    _by_target,
    _in_iid_plate,
    _kl_text,
    _parents,
    _q_subscript,
    _stochastic,
    data_variables,
    factor_label,
    log_text,
)
from ..estimators import Density, Expectation, KLDivergence, Leaf, _steps
from ..losses import Sampling, Sum
from .pairs import over_pairs
from .terms import Param, Term, register

__all__ = ["MMD", "Entropy", "LogProb", "entropy", "expect", "kl", "log_prob", "mmd", "sum_t"]


def _latents(graph, a: str, b: str | None, variables, term: str) -> list:
    """The latents ``a`` samples (and ``b`` scores, when given), children first."""
    graph.validate()
    for m in (a, b):
        if m is not None and m not in graph.models:
            raise GraphModelError(f"no model '{m}'; models: {', '.join(graph.models)}")
    obs = data_variables(graph)
    af = _by_target(graph, a)
    bf = _by_target(graph, b) if b is not None else af
    out = [v for v in reversed(ancestral_order(graph, a)) if v not in obs and _stochastic(graph, af.get(v, ()))
           and _stochastic(graph, bf.get(v, ()))]
    if variables:
        bad = [v for v in variables if v not in out]
        if bad:
            raise GraphModelError(f"{term}: '{bad[0]}' is not a latent that {_who(a, b)} "
                                  f"({', '.join(out) or 'none'})")
        out = [v for v in out if v in variables]
    if not out:
        raise GraphModelError(f"{term}: there is no latent that {_who(a, b)}")
    return out


def _who(a, b) -> str:
    return f"'{a}' samples" if b is None else f"'{a}' samples and '{b}' scores"


def _pair(graph, a: str, b: str, latents) -> Sampling:
    """``a`` traced on the batch, ``b`` scored on its sample: given the latents and what it reads of ``a``'s."""
    obs, af = data_variables(graph), _by_target(graph, a)
    reads = [n for n in model_inputs(graph, b) if n not in obs and n in af and n not in latents]
    return Sampling(a, b, None, tuple(latents) + tuple(reads))


def kl(graph, a: str, b: str, variables=None):
    """``KL[a‖b]`` over the latents both models sample (or ``variables``), per example.

    Args:
        graph: the graph.
        a: the model whose sample the KL is taken under (``q``).
        b: the model compared with it (``qx``); scored on ``a``'s sample.
        variables: a variable or list of them (default: every latent both have).
    """
    variables = (variables,) if isinstance(variables, str) else variables
    g = graph
    latents = _latents(g, a, b, variables, f"kl({a}, {b})")
    obs = data_variables(g)
    s = _pair(g, a, b, latents)
    af, bf, sub = _by_target(g, a), _by_target(g, b), _q_subscript(g, a, obs)
    terms = []
    for v in latents:
        qs, ps = _stochastic(g, af[v]), _stochastic(g, bf[v])
        if _analytic(g, (b, a, obs), v, qs, ps):
            wrap = bool(_parents(g, qs + ps, lag=True) - obs)
            text = _kl_text(g, LatentPlan(v, qs, ps, "analytic", True))
            terms.append(KLDivergence(s, [factor_label(g.factors[i]) for i in qs], [factor_label(g.factors[i]) for i in ps],
                                      text, sub if wrap else None, int(_in_iid_plate(g, v))))
        else:
            items = [Density(1, "q", factor_label(g.factors[i]), log_text(g, i)) for i in reversed(qs)]
            items += [Density(-1, "p", factor_label(g.factors[i]), log_text(g, i)) for i in reversed(ps)]
            terms.append(Expectation(s, items, sub))
    return terms[0] if len(terms) == 1 else Sum([(1, t) for t in terms])


def expect(graph, q: str, model: str, variables=None) -> Expectation:
    """``E_q[log model(v…)]``: ``model``'s log-densities on ``q``'s sample (``variables``: only
    the factors of those; default: every stochastic factor of ``model``). ``expect(q, p, x)``
    is an autoencoder's reconstruction ``E_q(z|x)[log p(x|z)]``."""
    variables = (variables,) if isinstance(variables, str) else variables
    graph.validate()
    obs, qf, mf = data_variables(graph), _by_target(graph, q), _by_target(graph, model)
    wanted = [v for v in reversed(ancestral_order(graph, model)) if _stochastic(graph, mf.get(v, ()))
              and (not variables or v in variables)]
    if variables and set(variables) - set(wanted):
        bad = sorted(set(variables) - set(wanted))[0]
        raise GraphModelError(f"expect({q}, {model}): '{model}' has no stochastic factor for '{bad}'")
    if not wanted:
        raise GraphModelError(f"expect({q}, {model}): '{model}' scores nothing stochastic")
    sub = _q_subscript(graph, q, obs)
    if model == q:
        items = [Density(1, "q", factor_label(graph.factors[i]), log_text(graph, i))
                 for v in wanted for i in reversed(_stochastic(graph, mf[v]))]
        return Expectation(Sampling(q, None, None), items, sub)
    for v in wanted:
        if v not in obs and v not in qf:
            raise GraphModelError(f"expect({q}, {model}): '{model}' scores '{v}', which neither the data nor "
                                  f"'{q}' gives")
    latents = [v for v in reversed(ancestral_order(graph, q)) if v not in obs and v in mf]
    items = [Density(1, "p", factor_label(graph.factors[i]), log_text(graph, i))
             for v in wanted for i in reversed(_stochastic(graph, mf[v]))]
    return Expectation(_pair(graph, q, model, latents), items, sub)


class Entropy(Leaf):
    """``H[q(z|…)]`` of the latents a model samples: closed form where torch has the
    distribution's entropy, ``−log q`` of the sample otherwise; summed over a plate or steps."""

    def __init__(self, sampling: Sampling, labels: tuple, plates: tuple, text: tuple):
        self.sampling, self.labels, self.plates, self.text = sampling, tuple(labels), tuple(plates), text

    def _value(self, ctx):
        qt, _ = ctx.traces(self.sampling)
        out = None
        for label, plate in zip(self.labels, self.plates):
            dists, masks = _steps(qt, (label,))
            try:
                hs = [d.entropy() for d in dists]
            except NotImplementedError:  # no closed form: −log q of the sample (summed as the trace sums it)
                h = -qt.log_probs[label]
                out = h if out is None else out + h
                continue
            for h, mask in zip(hs, masks):
                if mask is not None:
                    h = h.masked_fill(~mask, 0.0)
                if plate:
                    h = h.sum(-1)
                out = h if out is None else out + h
        return out

    def _fmt(self, latex):
        return pick(self.text, latex)


def entropy(graph, q: str, variables=None) -> Entropy:
    """``H[q(z|x)]``: the entropy of the latents ``q`` samples (or of ``variables``), per example."""
    variables = (variables,) if isinstance(variables, str) else variables
    latents = _latents(graph, q, None, variables, f"entropy({q})")
    qf = _by_target(graph, q)
    idx = [i for v in latents for i in reversed(_stochastic(graph, qf[v]))]
    labels = tuple(factor_label(graph.factors[i]) for i in idx)
    plates = tuple(int(_in_iid_plate(graph, graph.factors[i].target)) for i in idx)
    return Entropy(Sampling(q, None, None), labels, plates, entropy_text(graph, [graph.factors[i] for i in idx]))


class LogProb(Expectation):
    """``log m(v|pa)`` of one factor whose variable the batch must give. When the batch gives
    its parents too (a classifier ``q(y|x)``), the factor is called on them alone: nothing
    else of the model is traced or sampled."""

    def __init__(self, sampling, items, variable: str, factor: int | None, parents: tuple):
        super().__init__(sampling, items, None)
        self.variable, self.factor, self.parents = variable, factor, tuple(parents)

    def _value(self, ctx):
        have = ctx.observed
        if self.variable not in have:
            raise DataError(f"{self.name}: the batch has no '{self.variable}'")
        if self.factor is None or any(p not in have for p in self.parents):
            return super()._value(ctx)
        data = ctx.data()
        d = ctx.runtime.factor_modules[self.factor](*(data[p] for p in self.parents))
        return d.log_prob(data[self.variable])


def log_prob(graph, model: str, variable: str) -> LogProb:
    """``log m(v|pa)``: the log-density of ``model``'s factor for ``variable``, which the batch
    gives (a classifier's ``log q(y|x)``: M2's labeled term)."""
    graph.validate()
    fs = [i for i, f in enumerate(graph.factors) if f.model == model and f.target == variable and not f.deterministic]
    if len(fs) != 1:
        raise GraphModelError(f"log_prob({model}, {variable}): model '{model}' must have one stochastic factor "
                              f"for '{variable}', found {len(fs)}")
    f = graph.factors[fs[0]]
    direct = None if graph.variables[variable].plate or f.init or any(pa.lag for pa in f.parents) else fs[0]
    return LogProb(Sampling(model, None, None), (Density(1, "q", factor_label(f), log_text(graph, fs[0])),), variable,
                   direct, tuple(pa.name for pa in f.parents))


class MMD(Leaf):
    """The squared maximum mean discrepancy between a latent's samples under ``q`` (on the
    batch: the aggregate posterior) and under ``p`` (ancestral: the prior), with a Gaussian
    kernel ``exp(−‖a − b‖²/(2·scale·D))`` (InfoVAE, Zhao et al. 2019). One value per batch."""

    def __init__(self, q: str, p: str, variable: str, scale: float, text: tuple):
        self.q, self.p, self.variable, self.scale, self.text = q, p, variable, float(scale), text

    def _value(self, ctx):
        qt, _ = ctx.traces(Sampling(self.q, None, None))
        a = qt.values[self.variable]
        m = ctx.runtime.model(self.p)
        given = {k: v for k, v in ctx.batch.items() if k in m.plan.names[: len(m.plan.inputs)]}
        b = m.trace(given or None, n=None if given else a.shape[0], score=False).values[self.variable]
        a, b = a.flatten(1), b.flatten(1)
        width = 2.0 * self.scale * a.shape[1]

        def k(x, y):
            return torch.exp(-torch.cdist(x, y).pow(2) / width).mean()

        return k(a, a) + k(b, b) - 2 * k(a, b)

    def _fmt(self, latex):
        return pick(self.text, latex)


def mmd(graph, q: str, p: str, variable: str, scale: float = 1.0) -> MMD:
    """``MMD[q(z)‖p(z)]`` of one latent (a batch-level penalty: weight it and subtract it)."""
    graph.validate()
    for m in (q, p):
        if variable not in {f.target for f in graph.factors_of(m)}:
            raise GraphModelError(f"mmd({q}, {p}, {variable}): model '{m}' has no factor for '{variable}'")
    if graph.variables[variable].plate is not None:
        raise GraphModelError(f"mmd({q}, {p}, {variable}): '{variable}' lives in a plate; not supported")
    return MMD(q, p, variable, scale, mmd_text(q, p, variable))


def _positive(key, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
        raise GraphModelError(f"objective.{key}: expected a number > 0, found {v!r}")
    return float(v)


_VARS = Param("variables", "variables", None, help="a variable or a list of them (default: every latent)")
for _t in (
    Term("kl", kl, (Param("a", "model"), Param("b", "model"), _VARS),
         "KL[a‖b] over the latents both models have (closed form where possible)"),
    Term("expect", expect, (Param("q", "model"), Param("model", "model"), _VARS),
         "E_q[log model(v…)]: model's log-densities on q's sample"),
    Term("entropy", entropy, (Param("q", "model"), _VARS), "H[q]: the entropy of the latents q samples"),
    Term("log_prob", log_prob, (Param("model", "model"), Param("variable", "variable")),
         "log m(v|pa) of one factor whose variable the batch gives (a classifier)"),
    Term("mmd", mmd, (Param("q", "model"), Param("p", "model"), Param("variable", "variable"),
                      Param("scale", "number", 1.0, _positive, "the kernel's width per dimension")),
         "MMD between a latent's aggregate posterior and prior samples (InfoVAE)"),
):
    register(_t)


def _labels(node) -> list:
    """The factor labels a leaf reads (KLs, expectations, entropies, log-densities)."""
    if isinstance(node, KLDivergence):
        return [*node.q_labels, *node.p_labels]
    if isinstance(node, Expectation):
        return [d.label for d in node.items]
    if isinstance(node, Entropy):
        return list(node.labels)
    return []


def sum_t(graph, term, plate: str | None = None):
    """``Σₜ term``: a term over the latents of a sequence plate, summed over its steps.

    A KL, an expectation or an entropy of a sequence variable is a sum over the steps already
    (each step's KL given the sample of the steps before, masked past a sequence's length), and
    prints with its ``Σₜ``; ``sum_t`` states it in the formula and checks it: every factor the
    term reads lies in the sequence plate (``plate``: the graph's only one by default), so
    that a term outside the plate is not summed by mistake. Over a plate with a jump, a term
    whose factors read the pair of steps (TD-VAE's ``t₁ → t₂``) is summed over the first
    steps: ``Σ_{t₁} term``, estimated from the evaluation's pair (:mod:`.pairs`).
    """
    seqs = [n for n, p in graph.plates.items() if p.kind == "sequence"]
    if plate is None:
        if len(seqs) != 1:
            raise GraphModelError(f"sum_t: name the sequence plate (plate=...); the graph has {len(seqs)}: "
                                  f"{', '.join(seqs) or 'none'}")
        plate = seqs[0]
    if plate not in seqs:
        raise GraphModelError(f"sum_t: expected a sequence plate ({', '.join(seqs) or 'none'}), found '{plate}'")
    by_label = {factor_label(f): f for f in graph.factors}
    labels = [lab for node in term.walk() for lab in _labels(node)]
    if not labels:
        raise GraphModelError(f"sum_t: {term} reads no factor of a sequence")
    if graph.plates[plate].jump is not None and any(
            f is not None and graph.variables[f.target].plate != plate for f in map(by_label.get, labels)):
        return over_pairs(graph, term, plate, labels)
    for lab in labels:
        f = by_label.get(lab)
        if f is not None and graph.variables[f.target].plate != plate:
            raise GraphModelError(f"sum_t: {lab} is not in the sequence plate '{plate}'")
    return term


register(Term("sum_t", sum_t, (Param("term", "loss"), Param("plate", "plate", None)),
              "Σₜ term: a term over a sequence plate's latents, summed over its steps (or a jump's pairs, "
              "over their first steps)", trains=()))
