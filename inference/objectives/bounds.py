"""The ELBO family's terms: ``elbo``, ``iwae``, ``renyi``, ``log_likelihood``/``nll``,
``if_given`` and the weight ``anneal``; derived in :mod:`inference.elbo`.

Registered here, in :data:`terms.TERMS` for formulas; the kinds ``elbo``, ``iwae``,
``renyi`` and ``ml`` of the objective section are registered in :mod:`kinds` as sugar for
these terms.
"""

from __future__ import annotations

from .. import options as opt
from ..elbo import DISCRETE_MODES, KL_MODES, Derived, Partial, elbo, iwae, max_likelihood, nll, renyi
from ..losses import Anneal, anneal
from .terms import Param, Term, register

__all__ = ["if_given"]


def _p(graph):
    return opt.model_of(graph, "generative", "p")


def _q(graph):
    return opt.model_of(graph, "inference", "q")


P = Param("p", "generative", _p, help="the generative model (default: p, or the first generative model)")
Q = Param("q", "inference", _q, help="the inference model (default: q, or the first inference model)")


def if_given(graph, variable: str, given, missing=None) -> Partial:
    """``given`` on the examples whose ``variable`` the batch gives, ``missing`` on the others
    (a NaN or a negative class index marks a missing value): M2's labeled and unlabeled terms.

    Each bound derived from the graph inside a branch prints as that branch reads it: with
    ``variable`` as data in ``given`` and latent (summed over, for a class) in ``missing``
    (its value is read from the batch either way).
    """
    both = {id(n) for n in given.walk()} if given is not None else set()
    for branch, present in ((given, True), (missing, False)):
        for node in (branch.walk() if branch is not None else ()):
            if isinstance(node, Derived) and (present or id(node) not in both):
                node.assume(variable, present)
    return Partial(variable, given, missing)


def _schedule(graph, start: float = 0.0, end: float = 1.0, steps: int = 10000) -> Anneal:
    return anneal(start, end, steps)


for _t in (
    Term("elbo", lambda g, **o: elbo(g, **o), (
        P, Q, Param("kl", "str", "auto", lambda k, v: opt.check_option(k, v, KL_MODES), "auto, analytic or mc"),
        Param("beta", "weight", 1.0, opt.check_beta, "a number or anneal(start, end, steps) on each KL"),
        Param("free_bits", "number", None, lambda k, v: None if v is None else opt.check_nonneg(k, v),
              "λ: each latent's batch-mean KL is at least λ"),
        Param("discrete", "str", "enumerate", lambda k, v: opt.check_option(k, v, DISCRETE_MODES),
              "enumerate, relax or score"),
        Param("temperature", "number", 0.5, opt.check_positive, "the Gumbel-softmax temperature of relax"),
        Param("semi_supervised", "data", None, lambda k, v: v if v is None else (opt.check_semi_supervised(k, v), v)[1],
              "{'label': 'y', 'alpha': α}: M2's classifier term")),
        "the evidence lower bound E_q[log p(x, z) − log q(z|x)], KLs in closed form where torch has them"),
    Term("iwae", lambda g, **o: iwae(g, **o), (P, Q, Param("k", "int", 5, opt.check_samples, "samples per example")),
         "the k-sample importance-weighted bound (Burda et al. 2016)"),
    Term("renyi", lambda g, **o: renyi(g, **o), (
        P, Q, Param("alpha", "number", 0.5, opt.check_number, "α: 0 is IWAE, 1 the ELBO"),
        Param("k", "int", 5, opt.check_samples, "samples per example")), "the Rényi-α bound (Li & Turner 2016)"),
    Term("log_likelihood", lambda g, **o: max_likelihood(g, **o), (
        Param("model", "model", _p, help="a fully observed model"),
        Param("dequantize", "data", None, help="{'x': levels}: uniform dequantization")),
         "log m(v…) of a fully observed model (maximum likelihood)"),
    Term("nll", lambda g, **o: nll(g, **o), (Param("model", "model", _p, help="a fully observed model"),),
         "−log m(v…): the negative log-likelihood"),
    Term("if_given", if_given, (Param("variable", "variable"), Param("given", "loss"), Param("missing", "loss", None)),
         "given on examples that have the variable, missing on the others", trains=()),
    Term("anneal", _schedule, (Param("start", "number", 0.0, opt.check_nonneg), Param("end", "number", 1.0, opt.check_nonneg),
                               Param("steps", "int", 10000, opt.check_positive_int)),
         "a weight rising linearly from start to end over steps (KL annealing)", returns="weight"),
):
    register(_t)
