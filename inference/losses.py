"""The loss algebra: objectives as expression trees that evaluate, print and compose.

A :class:`Loss` evaluates on ``(runtime, batch, step)`` — a built graph, a dict variable
name → tensor (leading dim = batch) and the global training step — to a per-example tensor
``(batch,)``, or to a scalar once reduced over the batch. It prints as the formula a paper
would print (``str(loss)`` Unicode, ``loss.latex()`` LaTeX) and combines with numbers and
other losses through ``+ − × ÷``::

    >>> loss = elbo(vae) + 0.1 * nll(vae, model="classifier")     # doctest: +SKIP
    >>> print(loss)                                                 # doctest: +SKIP
    E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)] + 0.1·(−log classifier(y|x))
    >>> value = loss(runtime, {"x": x, "y": y}, step=0)             # doctest: +SKIP
    >>> value.total, value.terms                                    # doctest: +SKIP

One :class:`Context` is shared by every node of one evaluation: it caches model traces, so
that terms over the same q sample (an ELBO's reconstruction and KL) reuse one sample, and it
collects the value of every named leaf into ``LossValue.terms``.

The leaves here hold plain data (model names, factor labels, pre-rendered formula text);
:mod:`inference.objectives` derives them from a graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch.distributions import RelaxedBernoulli, RelaxedOneHotCategorical, kl_divergence

from graphmodel import DataError, GraphModelError
from graphmodel.families import closed_form_kl

from .data import missing_rows

__all__ = [
    "Anneal", "Constant", "Context", "Density", "Enumerate", "Expectation", "FreeBits", "ImportanceBound",
    "KLDivergence", "LogLikelihood", "Loss", "LossValue", "Named", "Partial", "Relax", "Sampling", "Schedule",
    "ScoreFunction", "anneal", "as_loss", "split_rows",
]

# printing precedence: a child binding weaker than its parent is put in parentheses
ADD, NEG, MUL, ATOM = 1, 1.5, 2, 4
_GREEK = {"α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "λ": r"\lambda", "τ": r"\tau", "ε": r"\epsilon"}


def _num(v: float, latex: bool) -> str:
    s = f"{v:g}"
    return s if latex or v >= 0 else "−" + s[1:]


def _paren(node: Loss, latex: bool, bare: bool) -> str:
    s = node._fmt(latex)
    if bare:
        return s
    return rf"\left({s}\right)" if latex else f"({s})"


# --- evaluation --------------------------------------------------------------------------

@dataclass(frozen=True)
class Relax:
    """Replace a discrete q sample by its Gumbel-softmax relaxation (Jang et al. 2017).

    ``factor`` is the index of the q factor (into ``runtime.factor_modules``), ``parents``
    the names it reads (they must be data), ``kind`` ``"one_hot"`` or ``"binary"``.
    """

    variable: str
    factor: int
    parents: tuple[str, ...]
    kind: str
    temperature: float


@dataclass(frozen=True)
class Sampling:
    """Which sample a leaf reads: q traced on the batch, p scored on q's values.

    Leaves with equal ``Sampling`` share one sample within an evaluation.

    Attributes:
        q: the proposal model, traced with the batch (and enumerated values) given.
        p: the model scored on that trace, or ``None``.
        n: draw ``n`` samples per example (a leading sample dim) instead of one.
        shared: names of q's values given to p (its latents and the inputs it reads);
            p recomputes its own deterministic variables.
        relax: discrete q variables drawn relaxed.
    """

    q: str
    p: str | None = None
    n: int | None = None
    shared: tuple[str, ...] = ()
    relax: tuple[Relax, ...] = ()


@dataclass
class _Frame:
    variable: str
    values: torch.Tensor  # (K, batch, *event)
    weights: torch.Tensor | None = None  # (K, batch)


class Context:
    """State shared by the nodes of one evaluation: batch, step, trace cache and terms.

    Args:
        runtime: a :class:`graphmodel.Runtime` (``graph.build()``).
        batch: variable name → tensor shaped ``(batch, [plate,] *event)``.
        step: the global training step, read by schedules.
    """

    def __init__(self, runtime, batch: dict, step: int = 0):
        if not isinstance(batch, dict):
            raise DataError(f"a batch must be a dict of variable name → tensor, found {type(batch).__name__}")
        size = None
        for name, v in batch.items():
            if not isinstance(v, torch.Tensor):
                raise DataError(f"batch['{name}']: expected a tensor, found {type(v).__name__}")
            if v.dim() == 0:
                raise DataError(f"batch['{name}']: expected a leading batch dimension, found a scalar")
            if size is None:
                size = v.shape[0]
            elif v.shape[0] != size:
                raise DataError(f"batch['{name}']: batch size {v.shape[0]}, but other variables have {size}")
        self.runtime, self.batch, self.step, self.size = runtime, batch, int(step), size
        self.terms: dict[str, torch.Tensor] = {}
        self._cache: dict = {}
        self._frames: list[_Frame] = []

    # --- data and traces ----------------------------------------------------------------

    @property
    def observed(self) -> frozenset:
        """Names the batch (or an enumeration) gives a value for."""
        return frozenset(self.batch).union(f.variable for f in self._frames)

    def data(self) -> dict:
        """The batch, broadcast over the enumeration in progress (if any)."""
        if not self._frames:
            return self.batch
        dims = tuple(f.values.shape[0] for f in self._frames)
        out = {k: v.expand(*dims, *v.shape) for k, v in self.batch.items()}
        for f in self._frames:
            out[f.variable] = f.values
        return out

    def traces(self, s: Sampling):
        """``(q_trace, p_trace)`` for a sampling; cached, so one sample serves many terms."""
        key = (s, tuple(f.variable for f in self._frames)) if self._frames else s
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        rt, data = self.runtime, self.data()
        qm = rt.model(s.q)
        given = _take(data, qm.variables, s.n)
        for r in s.relax:
            given[r.variable] = _relaxed(rt, r, given)
        qt = qm.trace(given, n=None if given else s.n)
        pt = None
        if s.p is not None:
            pm = rt.model(s.p)
            pgiven = _take(data, pm.variables, s.n)
            for name in s.shared:
                pgiven[name] = qt.values[name]
            pt = pm.trace(pgiven)
        self._cache[key] = out = (qt, pt)
        return out

    def model_trace(self, model: str):
        """A trace of ``model`` on the batch alone (maximum likelihood); cached."""
        key = ("model", model, tuple(f.variable for f in self._frames))
        if key not in self._cache:
            m = self.runtime.model(model)
            self._cache[key] = m.trace(_take(self.data(), m.variables, None))
        return self._cache[key]

    # --- enumeration frames -------------------------------------------------------------

    def enter(self, variable: str, values: torch.Tensor) -> _Frame:
        """Start enumerating ``variable`` over ``values`` ``(K, *event)``."""
        if self._frames:
            raise GraphModelError(
                f"cannot enumerate '{variable}' inside the enumeration of '{self._frames[-1].variable}': "
                "enumerating several discrete latents at once is not supported")
        if self.size is None:
            raise DataError(f"enumerating '{variable}' needs a non-empty batch")
        v = values.reshape(values.shape[0], 1, *values.shape[1:])
        frame = _Frame(variable, v.expand(values.shape[0], self.size, *values.shape[1:]))
        self._frames.append(frame)
        return frame

    def leave(self) -> None:
        self._frames.pop()

    # --- reductions and terms -----------------------------------------------------------

    def batch_mean(self, v):
        """Batch mean of a per-example value; enumerated dims are summed with their weights."""
        if not isinstance(v, torch.Tensor) or v.dim() == 0:
            return v
        for f in reversed(self._frames):
            if v.dim() > 1 and f.weights is not None:
                v = (f.weights * v).sum(0)
        return v.mean()

    def record(self, name: str, value) -> None:
        """Keep the batch mean of a named term (the first value under a name wins)."""
        if name not in self.terms:
            # a report: averaged detached, so that no autograd node is recorded for it
            m = self.batch_mean(value.detach() if isinstance(value, torch.Tensor) else value)
            if isinstance(m, torch.Tensor):
                self.terms[name] = m.detach() if m.requires_grad else m  # (enumeration weights)
            else:
                self.terms[name] = torch.tensor(float(m))


def _take(data: dict, names: frozenset, n: int | None) -> dict:
    if n is None:
        return {k: v for k, v in data.items() if k in names}
    return {k: v.expand(n, *v.shape) for k, v in data.items() if k in names}


def _relaxed(rt, r: Relax, given: dict) -> torch.Tensor:
    missing = [p for p in r.parents if p not in given]
    if missing:
        raise DataError(f"relaxing '{r.variable}' needs '{missing[0]}' in the batch")
    d = rt.factor_modules[r.factor](*(given[p] for p in r.parents))
    logits = getattr(d, "base_dist", d).logits
    t = torch.as_tensor(r.temperature, dtype=logits.dtype, device=logits.device)
    if r.kind == "binary":
        return RelaxedBernoulli(t, logits=logits).rsample()
    return RelaxedOneHotCategorical(t, logits=logits).rsample()


@dataclass
class LossValue:
    """The value of a loss on one batch.

    Attributes:
        total: a scalar tensor (the batch mean when the expression is per-example).
        terms: term name → detached scalar (batch mean), one per named leaf, in order.
    """

    total: torch.Tensor
    terms: dict = field(default_factory=dict)


# --- the algebra -----------------------------------------------------------------------

def as_loss(v) -> Loss:
    """A :class:`Loss` as is, or a number as a :class:`Constant`."""
    if isinstance(v, Loss):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return Constant(float(v))
    raise GraphModelError(f"a loss combines with numbers and losses, found {type(v).__name__}")


def _operand(v):
    return v if isinstance(v, Loss) else (
        Constant(float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else None)


class Loss:
    """A node of an objective's expression tree.

    Subclasses implement ``_eval(ctx)`` (a per-example tensor, a scalar or a float) and
    ``_fmt(latex)``; ``prec`` is their printing precedence.
    """

    prec: float = ATOM

    def _eval(self, ctx: Context):
        raise NotImplementedError

    def _fmt(self, latex: bool) -> str:
        raise NotImplementedError

    def children(self) -> tuple:
        return ()

    # --- evaluation ---------------------------------------------------------------------

    def __call__(self, runtime, batch: dict, step: int = 0) -> LossValue:
        """Evaluate on a batch: the total (a differentiable scalar) and every named term."""
        ctx = Context(runtime, batch, step)
        total = ctx.batch_mean(self._eval(ctx))
        if not isinstance(total, torch.Tensor):
            total = torch.tensor(float(total))
        return LossValue(total, dict(ctx.terms))

    def evaluate(self, runtime, batch: dict, step: int = 0):
        """The unreduced value: per-example ``(batch,)`` or a scalar."""
        return self._eval(Context(runtime, batch, step))

    def mean(self) -> Loss:
        """The batch mean (a scalar)."""
        return BatchMean(self)

    def sum(self) -> Loss:
        """The batch sum (a scalar)."""
        return BatchSum(self)

    def named(self, name: str) -> Loss:
        """The same expression, reported under ``name`` in ``LossValue.terms``."""
        return Named(self, name)

    def walk(self):
        """This node and every node below it, parents first."""
        yield self
        for c in self.children():
            yield from c.walk()

    # --- printing -----------------------------------------------------------------------

    def __str__(self) -> str:
        return self._fmt(False)

    def latex(self) -> str:
        return self._fmt(True)

    def _repr_latex_(self) -> str:
        return f"${self.latex()}$"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self}>"

    # --- operators ----------------------------------------------------------------------

    def __add__(self, o):
        o = _operand(o)
        return NotImplemented if o is None else Add(self, o)

    def __radd__(self, o):
        if isinstance(o, (int, float)) and not isinstance(o, bool) and o == 0:
            return self  # so that sum([...]) works
        o = _operand(o)
        return NotImplemented if o is None else Add(o, self)

    def __sub__(self, o):
        o = _operand(o)
        return NotImplemented if o is None else Sub(self, o)

    def __rsub__(self, o):
        o = _operand(o)
        return NotImplemented if o is None else Sub(o, self)

    def __mul__(self, o):
        o = _operand(o)
        return NotImplemented if o is None else Mul(self, o)

    def __rmul__(self, o):
        o = _operand(o)
        return NotImplemented if o is None else Mul(o, self)

    def __truediv__(self, o):
        o = _operand(o)
        return NotImplemented if o is None else Div(self, o)

    def __rtruediv__(self, o):
        o = _operand(o)
        return NotImplemented if o is None else Div(o, self)

    def __neg__(self):
        return Neg(self)

    def __pos__(self):
        return self


class Constant(Loss):
    """A number, printed as itself or as a symbol (``β``)."""

    def __init__(self, value: float, symbol: str | None = None):
        self.value, self.symbol = float(value), symbol
        self.prec = NEG if value < 0 and symbol is None else ATOM

    def _eval(self, ctx):
        return self.value

    def _fmt(self, latex):
        if self.symbol is not None:
            return _GREEK.get(self.symbol, self.symbol) if latex else self.symbol
        return _num(self.value, latex)


class Schedule(Loss):
    """A coefficient that depends on the training step; prints as its symbol."""

    symbol = "β"

    def value(self, step: int) -> float:
        raise NotImplementedError

    def _eval(self, ctx):
        return float(self.value(ctx.step))

    def _fmt(self, latex):
        return _GREEK.get(self.symbol, self.symbol) if latex else self.symbol


class Anneal(Schedule):
    """Linear warm-up from ``start`` to ``end`` over ``steps`` steps, then constant."""

    def __init__(self, start: float = 0.0, end: float = 1.0, steps: int = 10000, symbol: str = "β"):
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise GraphModelError(f"anneal: steps must be a positive integer, found {steps!r}")
        self.start, self.end, self.steps, self.symbol = float(start), float(end), steps, symbol

    def value(self, step: int) -> float:
        return self.start + (self.end - self.start) * min(max(step, 0) / self.steps, 1.0)

    def to_dict(self) -> dict:
        return {"schedule": "anneal", "start": self.start, "end": self.end, "steps": self.steps}

    def __repr__(self):
        return f"anneal({self.start:g}, {self.end:g}, {self.steps})"


def anneal(start: float = 0.0, end: float = 1.0, steps: int = 10000, symbol: str = "β") -> Anneal:
    """KL annealing: a coefficient rising linearly from ``start`` to ``end`` over ``steps``."""
    return Anneal(start, end, steps, symbol)


class _Binary(Loss):
    op_u = op_l = ""

    def __init__(self, a: Loss, b: Loss):
        self.a, self.b = a, b

    def children(self):
        return (self.a, self.b)


class Add(_Binary):
    prec = ADD

    def _eval(self, ctx):
        return self.a._eval(ctx) + self.b._eval(ctx)

    def _fmt(self, latex):
        left = _paren(self.a, latex, self.a.prec >= ADD)
        if isinstance(self.b, Neg):  # a + (−b) reads a − b
            return f"{left} {'-' if latex else '−'} {_paren(self.b.a, latex, self.b.a.prec > ADD)}"
        return f"{left} + {_paren(self.b, latex, self.b.prec > ADD)}"


class Sub(_Binary):
    prec = ADD

    def _eval(self, ctx):
        return self.a._eval(ctx) - self.b._eval(ctx)

    def _fmt(self, latex):
        left = _paren(self.a, latex, self.a.prec >= ADD)
        return f"{left} {'-' if latex else '−'} {_paren(self.b, latex, self.b.prec > NEG)}"


class Mul(_Binary):
    prec = MUL

    def _eval(self, ctx):
        return self.a._eval(ctx) * self.b._eval(ctx)

    def _fmt(self, latex):
        dot = r" \cdot " if latex else "·"
        return _paren(self.a, latex, self.a.prec >= MUL) + dot + _paren(self.b, latex, self.b.prec > MUL)


class Div(_Binary):
    prec = MUL

    def _eval(self, ctx):
        return self.a._eval(ctx) / self.b._eval(ctx)

    def _fmt(self, latex):
        if latex:
            return rf"\frac{{{self.a._fmt(True)}}}{{{self.b._fmt(True)}}}"
        return _paren(self.a, False, self.a.prec >= MUL) + "/" + _paren(self.b, False, self.b.prec > MUL)


class Neg(Loss):
    prec = NEG

    def __init__(self, a: Loss):
        self.a = a

    def children(self):
        return (self.a,)

    def _eval(self, ctx):
        return -self.a._eval(ctx)

    def _fmt(self, latex):
        return ("-" if latex else "−") + _paren(self.a, latex, self.a.prec >= MUL)


class _Wrap(Loss):
    """A node that prints as its child."""

    def __init__(self, a: Loss):
        self.a = a
        self.prec = a.prec

    def children(self):
        return (self.a,)

    def _fmt(self, latex):
        return self.a._fmt(latex)


class BatchMean(_Wrap):
    """The batch mean; prints as its argument (a per-example formula reads as its mean)."""

    def _eval(self, ctx):
        return ctx.batch_mean(self.a._eval(ctx))


class BatchSum(Loss):
    """The batch sum, ``Σₙ(...)``."""

    prec = MUL

    def __init__(self, a: Loss):
        self.a = a

    def children(self):
        return (self.a,)

    def _eval(self, ctx):
        v = self.a._eval(ctx)
        if not isinstance(v, torch.Tensor) or v.dim() == 0:
            return v * (ctx.size or 1)
        return ctx.batch_mean(v) * v.shape[-1]

    def _fmt(self, latex):
        return rf"\sum_{{n}} \left({self.a._fmt(True)}\right)" if latex else f"Σₙ({self.a._fmt(False)})"


class Named(_Wrap):
    """A sub-expression reported as a term under ``name``; prints as the expression."""

    def __init__(self, a: Loss, name: str):
        super().__init__(a)
        if not isinstance(name, str) or not name:
            raise GraphModelError(f"a term name must be a non-empty string, found {name!r}")
        self.name = name

    def _eval(self, ctx):
        v = self.a._eval(ctx)
        ctx.record(self.name, v)
        return v


# --- leaves ----------------------------------------------------------------------------

Text = tuple  # (unicode, latex)


class _Leaf(Loss):
    """A named term: recorded under its Unicode formula whenever it is evaluated."""

    @property
    def name(self) -> str:
        # a leaf's fields never change after construction, so its formula is printed once
        # (by hand: functools.cached_property takes a lock, which torch.compile cannot trace)
        name = self.__dict__.get("_name")
        if name is None:
            name = self._fmt(False)
            if not torch.compiler.is_compiling():  # (a write while compiling would recompile)
                self.__dict__["_name"] = name
        return name

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


def _signed(items, latex: bool) -> str:
    out = ""
    for k, d in enumerate(items):
        t = d.text[1] if latex else d.text[0]
        minus = "-" if latex else "−"
        if k == 0:
            out = t if d.sign > 0 else f"{minus}{t}"
        else:
            out += f" + {t}" if d.sign > 0 else f" {minus} {t}"
    return out


def _expect(sub: Text | None, body: str, latex: bool) -> str:
    if sub is None:
        return body
    return rf"\mathbb{{E}}_{{{sub[1]}}}\left[{body}\right]" if latex else f"E_{sub[0]}[{body}]"


class Expectation(_Leaf):
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
        if out is None:
            return 0.0
        if self.sampling.n is not None and isinstance(out, torch.Tensor):
            out = out.mean(0)
        return out

    def _fmt(self, latex):
        return _expect(self.subscript, _signed(self.items, latex), latex)


def _steps(dists: dict, labels) -> list:
    out = []
    for label in labels:
        d = dists.get(label)
        if d is not None:
            out += d if isinstance(d, list) else [d]
    return out


def _broadcast(*dists):
    # some of torch's KLs (Bernoulli's) index with masks and fail on unequal batch shapes
    shape = torch.broadcast_shapes(*(d.batch_shape for d in dists))
    return [d if d.batch_shape == shape else d.expand(shape) for d in dists]


class KLDivergence(_Leaf):
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
        qs, ps = _steps(qt.dists, self.q_labels), _steps(pt.dists, self.p_labels)
        if len(qs) != len(ps):
            raise GraphModelError(f"{self.text[0]}: q has {len(qs)} steps and p has {len(ps)}")
        out = None
        for dq, dp in zip(qs, ps):
            kl = closed_form_kl(dq, dp)
            if kl is None:
                kl = kl_divergence(*_broadcast(dq, dp))
            if self.plate:
                kl = kl.sum(-1)
            out = kl if out is None else out + kl
        if out is None:
            return 0.0
        if self.sampling.n is not None and isinstance(out, torch.Tensor):
            out = out.mean(0)
        return out

    def _fmt(self, latex):
        t = self.text[1] if latex else self.text[0]
        return _expect(self.subscript, t, latex) if self.subscript else t


class ImportanceBound(_Leaf):
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
        return self.text[1] if latex else self.text[0]


class LogLikelihood(_Leaf):
    """``log m(v…)`` of a fully observed model: the sum of its factors' log-densities.

    Args:
        model: the model's name.
        labels: its stochastic factors' labels.
        requires: variables the batch must bind (every variable a stochastic factor scores).
        text: the printed ``log p(x)``.
    """

    def __init__(self, model: str, labels: tuple, requires: tuple, text: Text):
        self.model, self.labels, self.requires, self.text = model, tuple(labels), tuple(requires), text

    def _value(self, ctx):
        have = ctx.observed
        for name in self.requires:
            if name not in have:
                raise DataError(f"{self.text[0]}: the batch has no '{name}'; maximum likelihood needs a value "
                                f"for every variable the model '{self.model}' scores ({', '.join(self.requires)})")
        tr = ctx.model_trace(self.model)
        return sum(tr.log_probs[lab] for lab in self.labels)

    def _fmt(self, latex):
        return self.text[1] if latex else self.text[0]


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

    def children(self):
        return (self.inner,)

    def _eval(self, ctx):
        values = self.values
        if ctx.batch:
            values = values.to(next(iter(ctx.batch.values())).device)
        if values.is_floating_point():
            values = values.to(torch.get_default_dtype())
        frame = ctx.enter(self.variable, values)
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
        ctx.record(self._entropy(False), ent)
        return inner + ent

    def _entropy(self, latex):
        return rf"\mathbb{{H}}\left[{self.weight[1]}\right]" if latex else f"H[{self.weight[0]}]"

    def _fmt(self, latex):
        if latex:
            return (rf"\sum_{{{self.variable}}} {self.weight[1]}\left[{self.inner._fmt(True)}\right]"
                    f" + {self._entropy(True)}")
        return f"Σ_{self.variable} {self.weight[0]}[{self.inner._fmt(False)}] + {self._entropy(False)}"


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
        v = self.variable
        if latex:
            given = self.given._fmt(True) if self.given else "0"
            if self.missing is None:
                return rf"[{v} \text{{ given}}] \cdot \left({given}\right)"
            return (rf"\begin{{cases}} {given} & {v} \text{{ given}} \\ "
                    rf"{self.missing._fmt(True)} & \text{{otherwise}} \end{{cases}}")
        given = self.given._fmt(False) if self.given else "0"
        if self.missing is None:
            return f"[{v} given]·{_paren(self.given, False, self.given.prec >= MUL)}" if self.given else "0"
        return f"{{{given}  if {v} given;  {self.missing._fmt(False)}  otherwise}}"


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
        if latex:
            return rf"\max\left({self.lam._fmt(True)}, {self.kl._fmt(True)}\right)"
        return f"max({self.lam._fmt(False)}, {self.kl._fmt(False)})"


class ScoreFunction(_Wrap):
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
