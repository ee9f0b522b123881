"""The leaves of the loss algebra that read model traces: the estimators.

Each leaf holds plain data (a :class:`inference.losses.Sampling`, factor labels, the
pre-rendered formula text), evaluates against the :class:`inference.losses.Context` of
one evaluation and records its batch mean under its formula. :mod:`inference.elbo`
derives them from a graph:

- :class:`Expectation` ``E_q[Σ ± log-densities]`` (one shared sample per example),
- :class:`KLDivergence` the closed-form ``KL[q‖p]`` of one latent,
- :class:`ImportanceBound` the IWAE / Rényi-α bound over ``k`` samples,
- :class:`LogLikelihood` ``log m(v…)`` of a fully observed model,
- :class:`Enumerate` a discrete latent summed over its values,
- :class:`Partial` and :func:`split_rows`: data with missing values (semi-supervised),
- :class:`FreeBits` and :class:`ScoreFunction`: a KL floor and score-function gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import kl_divergence

from graphmodel import DataError, GraphModelError
from graphmodel.families import closed_form_kl
from graphmodel.render import formula as text
from graphmodel.shapes import broadcast
from graphmodel.steps import stacked_kl

from .data import missing_rows
from .losses import ADD, ATOM, NEG, Context, Loss, Sampling, Wrapper, cached

__all__ = [
    "Density", "Enumerate", "Expectation", "FreeBits", "ImportanceBound", "KLDivergence", "Leaf", "LogLikelihood",
    "Partial", "ScoreFunction", "split_rows",
]


Text = tuple  # (unicode, latex)


class Leaf(Loss):
    """A named term: recorded under its Unicode formula whenever it is evaluated."""

    @property
    def name(self) -> str:
        # a leaf's fields never change after construction, so its formula is printed once
        # (by hand: functools.cached_property takes a lock, which torch.compile cannot trace)
        return cached(self.__dict__, "_name", lambda: self._fmt(False))

    def _eval(self, ctx):
        v = self._value(ctx)
        ctx.record(self.name, v)
        return v

    def _value(self, ctx):
        raise NotImplementedError


@dataclass(frozen=True)
class Density:
    """One signed log-density in an expectation: ``sign·log model(label)``.

    ``side`` says which trace scores it (``"p"`` or ``"q"``); ``text`` is the printed
    ``(unicode, latex)`` form, e.g. ``("log p(x|z)", r"\\log p(x \\mid z)")``.
    """

    sign: int
    side: str
    label: str
    text: Text


def _per_example(sampling: Sampling, out):
    """A leaf's value per example: 0 when it had no term, averaged over ``n`` samples per example."""
    if out is None:
        return 0.0
    if sampling.n is not None and isinstance(out, torch.Tensor):
        out = out.mean(0)
    return out


class Expectation(Leaf):
    """``E_q[Σ ± log-densities]``, one Monte Carlo sample per example (shared).

    Without a subscript (nothing is sampled, e.g. inside an enumeration over the only
    latent) it prints as the bare sum of log-densities.
    """

    def __init__(self, sampling: Sampling, items: tuple[Density, ...], subscript: Text | None):
        self.sampling, self.items, self.subscript = sampling, tuple(items), subscript
        if subscript is None and len(self.items) > 1:  # printed bare, as a sum
            self.prec = ADD
        elif subscript is None and self.items and self.items[0].sign < 0:
            self.prec = NEG

    def _value(self, ctx):
        qt, pt = ctx.traces(self.sampling)
        out = None  # not 0.0: adding the first term to a Python zero is one op (and its backward) more
        for d in self.items:
            lp = (pt if d.side == "p" else qt).log_probs[d.label]
            if out is None:
                out = lp if d.sign > 0 else -lp
            else:
                out = out + lp if d.sign > 0 else out - lp
        return _per_example(self.sampling, out)

    def _fmt(self, latex):
        return text.expectation(self.subscript, text.signed_densities(self.items, latex), latex)


def _steps(trace, labels) -> tuple[list, list | None]:
    """The distributions of ``labels`` in step order, and their length masks (or None).

    A sequence's boundary factor may run at its last steps (a posterior that reads ahead), so
    the steps are put in time order before q's and p's are paired.
    """
    out, times = [], []
    for label in labels:
        d = trace.dists.get(label)
        if d is not None:
            out += d if isinstance(d, list) else [d]
            times += trace.times.get(label, ())
    masks = [None] * len(out)
    if trace.masks:  # (a variable's factors all lie in its plate: all have masks or none)
        masks = [m for label in labels if label in trace.dists for m in trace.masks.get(label, ())]
    if len(times) == len(out) and times != sorted(times):
        order = sorted(range(len(out)), key=times.__getitem__)
        out, masks = [out[k] for k in order], [masks[k] for k in order]
    return out, masks


def _broadcast(*dists):
    # some of torch's KLs (Bernoulli's) index with masks and fail on unequal batch shapes
    shape = broadcast(*(d.batch_shape for d in dists))
    return [d if d.batch_shape == shape else d.expand(shape) for d in dists]


class KLDivergence(Leaf):
    """Closed-form ``KL[q‖p]`` of one latent, summed over its plate or steps.

    Args:
        sampling: the traces whose distributions are compared.
        q_labels, p_labels: the variable's factors in q and p (the t = 0 factor first).
        text: the printed KL, e.g. ``("KL[q(z|x)‖p(z)]", ...)``.
        subscript: wrap the KL in ``E_subscript[...]`` (its parents are themselves sampled).
        plate: 1 when the variable lives in an iid plate (its dim is summed), else 0.
    """

    def __init__(self, sampling: Sampling, q_labels: tuple, p_labels: tuple, text: Text,
                 subscript: Text | None = None, plate: int = 0):
        self.sampling, self.q_labels, self.p_labels = sampling, tuple(q_labels), tuple(p_labels)
        self.text, self.subscript, self.plate = text, subscript, plate

    def _value(self, ctx):
        qt, pt = ctx.traces(self.sampling)
        (qs, masks), (ps, _) = _steps(qt, self.q_labels), _steps(pt, self.p_labels)
        if len(qs) != len(ps):
            raise GraphModelError(f"{self.text[0]}: q has {len(qs)} steps and p has {len(ps)}")
        out = stacked_kl(qs, ps, masks)  # the steps' Normals at once (None: step by step below)
        if out is not None:
            return _per_example(self.sampling, out.sum(-1) if self.plate else out)
        for dq, dp, mask in zip(qs, ps, masks):
            kl = closed_form_kl(dq, dp)
            if kl is None:
                kl = kl_divergence(*_broadcast(dq, dp))
            if mask is not None:  # a step past the sequence's length adds nothing (in each view, where
                kl = kl.masked_fill(~mask, 0.0)  # the sequence is nested in views: then summed over them)
            if self.plate:
                kl = kl.sum(-1)
            out = kl if out is None else out + kl
        return _per_example(self.sampling, out)

    def _fmt(self, latex):
        return text.expectation(self.subscript, text.pick(self.text, latex), latex)


class ImportanceBound(Leaf):
    """The Rényi-α bound with k samples (Li & Turner 2016); α = 0 is IWAE, α = 1 the ELBO.

    ``log w_k = Σ log p(v|pa) − Σ log q(z_k|pa)`` over the given factor labels, and
    ``L = 1/(1−α) log 1/k Σ_k w_k^(1−α)``, computed stably in log space.
    """

    def __init__(self, sampling: Sampling, alpha: float, p_labels: tuple, q_labels: tuple, text: Text):
        if sampling.n is None:
            raise GraphModelError("an importance-weighted bound needs a number of samples k")
        self.sampling, self.alpha = sampling, float(alpha)
        self.p_labels, self.q_labels, self.text = tuple(p_labels), tuple(q_labels), text

    def log_weights(self, ctx) -> torch.Tensor:
        """``(k, batch)`` log importance weights."""
        qt, pt = ctx.traces(self.sampling)
        lw = sum(pt.log_probs[lab] for lab in self.p_labels)
        return lw - sum(qt.log_probs[lab] for lab in self.q_labels)

    def _value(self, ctx):
        lw, k = self.log_weights(ctx), self.sampling.n
        if self.alpha == 1.0:
            return lw.mean(0)
        a = 1.0 - self.alpha
        return (torch.logsumexp(a * lw, 0) - math.log(k)) / a

    def _fmt(self, latex):
        return text.pick(self.text, latex)


class LogLikelihood(Leaf):
    """``log m(v…)`` of a fully observed model: the sum of its factors' log-densities.

    Args:
        model: the model's name.
        labels: its stochastic factors' labels.
        requires: variables the batch must bind (every variable a stochastic factor scores).
        text: the printed ``log p(x)``.
        dequantize: ``((variable, levels), …)``: discrete data on the grid ``k/(L−1)``,
            ``k = 0…L−1`` (digits' 17 grey levels), scored by a continuous density at
            ``(k + u)/L`` with fresh ``u ~ U[0, 1)`` per evaluation, minus ``D·log L``: a
            lower bound on the log-probability of the discrete data (uniform dequantization,
            Theis et al. 2016), in nats of the discrete values.
    """

    def __init__(self, model: str, labels: tuple, requires: tuple, text: Text, dequantize: tuple = ()):
        self.model, self.labels, self.requires, self.text = model, tuple(labels), tuple(requires), text
        self.dequantize = tuple(dequantize)

    def _value(self, ctx):
        have = ctx.observed
        for name in self.requires:
            if name not in have:
                raise DataError(f"{self.text[0]}: the batch has no '{name}'; maximum likelihood needs a value "
                                f"for every variable the model '{self.model}' scores ({', '.join(self.requires)})")
        if self.dequantize:
            return self._dequantized(ctx)
        tr = ctx.model_trace(self.model)
        return sum(tr.log_probs[lab] for lab in self.labels)

    def _dequantized(self, ctx):
        m = ctx.runtime.model(self.model)
        data = {k: v for k, v in ctx.data().items() if k in m.variables}
        const = 0.0
        for name, levels in self.dequantize:
            v = data[name]
            data[name] = (v * (levels - 1) + torch.rand_like(v)) / levels
            const += math.prod(v.shape[1:]) * math.log(levels)
        lp = m.trace(data, sample=False).log_probs
        return sum(lp[lab] for lab in self.labels) - const

    def _fmt(self, latex):
        return text.pick(self.text, latex)


class Enumerate(Loss):
    """``Σ_y q(y|x)[inner] + H[q(y|x)]``: exact expectation over a discrete latent.

    The inner expression is evaluated once with ``y`` set to each of its K values (a
    leading dim), weighted by ``q(y|x)`` and summed; the entropy of ``q(y|x)`` is added
    (the unlabeled term of Kingma et al. 2014, M2).

    Args:
        variable: the enumerated latent.
        values: its K values, ``(K, *event)``.
        sampling: the q trace that scores ``q(y|x)`` (shared with the inner terms).
        q_label: the label of y's q factor.
        weight: the printed ``q(y|x)``.
        inner: the bound with y observed.
    """

    prec = ADD

    def __init__(self, variable: str, values: torch.Tensor, sampling: Sampling, q_label: str,
                 weight: Text, inner: Loss):
        self.variable, self.values, self.sampling = variable, values, sampling
        self.q_label, self.weight, self.inner = q_label, weight, inner
        self._on: dict = {}  # (device, dtype) → the values there

    def children(self):
        return (self.inner,)

    def _values_on(self, ctx) -> torch.Tensor:
        """The enumerated values on the batch's device, copied there once (a copy from the
        host at every step would wait for the device's queue)."""
        values = self.values
        device = next(iter(ctx.batch.values())).device if ctx.batch else values.device
        dtype = torch.get_default_dtype() if values.is_floating_point() else values.dtype
        return cached(self._on, (device, dtype), lambda: values.to(device=device, dtype=dtype))

    def _eval(self, ctx):
        frame = ctx.enter(self.variable, self._values_on(ctx))
        try:
            qt, _ = ctx.traces(self.sampling)
            logw = qt.log_probs[self.q_label]
            frame.weights = w = logw.exp()
            inner = self.inner._eval(ctx)
        finally:
            ctx.leave()
        if isinstance(inner, torch.Tensor) and inner.dim() > 0:
            inner = (w * inner).sum(0)
        else:
            inner = inner * w.sum(0)
        ent = -(w * logw).sum(0)
        ctx.record(text.entropy_of(self.weight, False), ent)
        return inner + ent

    def _fmt(self, latex):
        return text.enumeration(self.variable, self.weight, self.inner, latex)


class Partial(Loss):
    """Per example, by whether the batch gives ``variable``: ``given`` on the examples that
    have its value, ``missing`` on those where it is missing (:func:`inference.data.missing_rows`),
    with the variable left out of their batch; ``None`` contributes 0.

    The semi-supervised M2 objective (Kingma et al. 2014) is
    ``Partial("y", elbo_xy + α·log q(y|x), elbo_x)``. See :func:`split_rows`.
    """

    prec = ATOM

    def __init__(self, variable: str, given: Loss | None, missing: Loss | None = None):
        self.variable, self.given, self.missing = variable, given, missing

    def children(self):
        return tuple(c for c in (self.given, self.missing) if c is not None)

    def _eval(self, ctx):
        return split_rows(ctx, self.variable, self.given, self.missing)

    def _fmt(self, latex):
        return text.partial(self.variable, self.given, self.missing, latex)


def split_rows(ctx: Context, variable: str, given: Loss | None, missing: Loss | None, gone=None):
    """Evaluate ``given`` on the examples whose ``variable`` is present and ``missing`` on the rest.

    A batch without ``variable`` is all ``missing``; one with no missing value is all
    ``given`` (evaluated in ``ctx`` itself). Otherwise each side runs in its own context on
    its rows, the per-example results go back in batch order, and each side's terms are
    reported as means over its own examples under ``"y given: …"`` / ``"y missing: …"``
    (a side with no example in this batch reports nothing).
    """
    x = ctx.batch.get(variable)
    if x is None:
        return missing._eval(ctx) if missing is not None else 0.0
    if ctx._frames:
        raise GraphModelError(f"'{variable}' is missing in some examples, inside the enumeration of "
                              f"'{ctx._frames[-1].variable}'; that is not supported")
    gone = missing_rows(x) if gone is None else gone
    if not bool(gone.any()):  # one host sync: the sides' sizes decide the work
        return given._eval(ctx) if given is not None else 0.0
    parts, order = [], []
    for rows, loss, side in ((~gone, given, "given"), (gone, missing, "missing")):
        idx = rows.nonzero().squeeze(1)
        if not len(idx):
            continue
        value = 0.0
        if loss is not None:
            sub = Context(ctx.runtime, {k: v[idx] for k, v in ctx.batch.items()
                                        if side == "given" or k != variable}, ctx.step)
            value = loss._eval(sub)
            for name, t in sub.terms.items():
                ctx.terms.setdefault(f"{variable} {side}: {name}", t)
        if not isinstance(value, torch.Tensor) or value.dim() == 0:
            value = torch.as_tensor(value, dtype=torch.get_default_dtype(), device=x.device).expand(len(idx))
        parts.append(value)
        order.append(idx)
    return torch.cat(parts)[torch.argsort(torch.cat(order))]


class FreeBits(Loss):
    """``max(λ, KL)`` with the KL averaged over the batch first (Kingma et al. 2016)."""

    def __init__(self, kl: Loss, lam: Loss):
        self.kl, self.lam = kl, lam

    def children(self):
        return (self.kl, self.lam)

    def _eval(self, ctx):
        m = ctx.batch_mean(self.kl._eval(ctx))
        lam = self.lam._eval(ctx)
        if not isinstance(m, torch.Tensor):
            return max(float(m), float(lam))
        return torch.clamp(m, min=float(lam))

    def _fmt(self, latex):
        return text.free_bits(self.lam, self.kl, latex)


class ScoreFunction(Wrapper):
    """Add score-function (REINFORCE) gradients for non-reparameterized q samples.

    The value is the inner bound ``f``; the gradient gains ``(f − b)·∇ log q(z|·)`` for
    the listed q factors, with a leave-one-out batch mean as the baseline ``b``.
    """

    def __init__(self, a: Loss, sampling: Sampling, q_labels: tuple):
        super().__init__(a)
        self.sampling, self.q_labels = sampling, tuple(q_labels)

    def _eval(self, ctx):
        f = self.a._eval(ctx)
        qt, _ = ctx.traces(self.sampling)
        logq = sum(qt.log_probs[lab] for lab in self.q_labels)
        sig = (f.detach() if isinstance(f, torch.Tensor) else torch.tensor(float(f))).expand_as(logq)
        n = sig.shape[-1]
        if n > 1:
            sig = sig - (sig.sum(-1, keepdim=True) - sig) / (n - 1)
        s = logq * sig
        return f + (s - s.detach())
