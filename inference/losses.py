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

The leaves that read the traces (expectations, KLs, bounds, enumeration) are in
:mod:`inference.estimators`; :mod:`inference.elbo` derives them from a graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from graphmodel import FAMILIES, DataError, GraphModelError
from graphmodel.render import formula as text
from graphmodel.render.formula import ADD, ATOM, MUL, NEG, parenthesized

__all__ = [
    "Anneal", "BatchMean", "BatchSum", "Constant", "Context", "Loss", "LossValue", "Named", "Relax", "Sampling",
    "Schedule", "Sum", "Wrapper", "anneal", "as_loss", "parenthesized",
]

# the formula text lives in graphmodel.render.formula (one module for every formula's notation)
__all__ += ["ADD", "ATOM", "MUL", "NEG"]


# --- evaluation --------------------------------------------------------------------------

@dataclass(frozen=True)
class Relax:
    """Replace a discrete q sample by its Gumbel-softmax relaxation (Jang et al. 2017).

    ``factor`` is the index of the q factor (into ``runtime.factor_modules``), ``parents``
    the names it reads (they must be data), ``kind`` the registered family that stands in
    for the q factor's (its ``Family.relaxation``: ``"RelaxedOneHotCategorical"``,
    ``"RelaxedBernoulli"``), built from the q factor's logits and the temperature.
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

    def __post_init__(self):
        # every leaf looks its traces up by its sampling at every step: hashed once, not
        # over all of ``shared`` (2,000 names in a graph of 2,000 latents) each time
        object.__setattr__(self, "_hash", hash((self.q, self.p, self.n, self.shared, self.relax)))

    def __hash__(self):
        return self._hash


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
        fill = getattr(runtime, "with_pairs", None)  # one pair of steps per jump plate, for every model
        if fill is not None:
            batch = fill(batch)
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
        """``(q_trace, p_trace)`` for a sampling; cached, so one sample serves many terms (and
        one trace of q serves every sampling of the same q, ``n`` and relaxations)."""
        key = (s, tuple(f.variable for f in self._frames)) if self._frames else s
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        rt, data = self.runtime, self.data()
        # one sample of q serves every term over it, whichever model each scores on it (JMVAE's
        # KL[q‖qx] and KL[q‖qw] beside its ELBO read the ELBO's z)
        qkey = ("q", s.q, s.n, s.relax, tuple(f.variable for f in self._frames))
        qt = self._cache.get(qkey)
        if qt is None:
            qm = rt.model(s.q)
            given = _take(data, qm.variables, s.n)
            for r in s.relax:
                given[r.variable] = _relaxed(rt, r, given)
            qt = self._cache[qkey] = qm.trace(given, n=None if given else s.n)
        pt = None
        if s.p is not None:
            pm = rt.model(s.p)
            pgiven = _take(data, pm.variables, s.n)
            for name in s.shared:  # (step by step where q swept them: p's sweep reads them so)
                pgiven[name] = qt.values.raw(name)
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
    return FAMILIES.get(r.kind).dist(t, logits=logits).rsample()


def cached(cache: dict, key, make):
    """``cache[key]``, made by ``make()`` when missing. While torch.compile traces, the cache
    is neither read nor filled: a read would guard the compiled code on its contents, and an
    eager evaluation that fills it later would force a recompile (the trace runs ``make``
    once, and the graph holds its result)."""
    if torch.compiler.is_compiling():
        return make()
    hit = cache.get(key)
    if hit is None:
        hit = cache[key] = make()
    return hit


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


def _unit(v) -> bool:
    """A plain number 1 (a named constant of value 1, ``α``, still prints as itself)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == 1


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
        """This node and every node below it, parents first (iteratively: a sum may be wide)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children()))

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
        return NotImplemented if o is None else Sum.of(self, o, 1)

    def __radd__(self, o):
        if isinstance(o, (int, float)) and not isinstance(o, bool) and o == 0:
            return self  # so that sum([...]) works
        o = _operand(o)
        return NotImplemented if o is None else Sum.of(o, self, 1)

    def __sub__(self, o):
        o = _operand(o)
        return NotImplemented if o is None else Sum.of(self, o, -1)

    def __rsub__(self, o):
        o = _operand(o)
        return NotImplemented if o is None else Sum.of(o, self, -1)

    def __mul__(self, o):
        if _unit(o):  # 1·x is x (it would print as "1·(…)")
            return self
        o = _operand(o)
        return NotImplemented if o is None else Mul(self, o)

    def __rmul__(self, o):
        if _unit(o):
            return self
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
        return text.symbol(self.symbol, latex) if self.symbol is not None else text.number(self.value, latex)


class Schedule(Loss):
    """A coefficient that depends on the training step; prints as its symbol."""

    symbol = "β"

    def value(self, step: int) -> float:
        raise NotImplementedError

    def _eval(self, ctx):
        return float(self.value(ctx.step))

    def _fmt(self, latex):
        return text.symbol(self.symbol, latex)


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


class Sum(Loss):
    """An n-ary signed sum ``t₀ ± t₁ ± … ± tₙ``, flat however many terms it has.

    ``a + b + c`` and ``a − b + c`` build one node (a sum on the left of ``+``/``−`` is
    extended, never nested), and ``a + (−b)`` is kept as ``a − b``: an ELBO over 2,000
    latents is one node of 2,001 terms that prints and evaluates in a loop, where a
    binary tree would recurse once per term. A sum on the right stays one term in
    parentheses, as written (``a − (b − c)``).

    Args:
        terms: ``(sign, loss)`` pairs, sign ``+1`` or ``−1``, in the order printed and
            evaluated.
    """

    prec = ADD

    def __init__(self, terms):
        self.terms = tuple((1 if s > 0 else -1, as_loss(t)) for s, t in terms)
        if len(self.terms) < 2:
            raise GraphModelError(f"a sum needs two terms or more, found {len(self.terms)}")

    @staticmethod
    def of(a: Loss, b: Loss, sign: int) -> Sum:
        """``a + b`` (``sign`` +1) or ``a − b`` (−1), extending ``a`` when it is a sum."""
        if sign > 0 and isinstance(b, Neg):  # a + (−b) reads, and is computed as, a − b
            sign, b = -1, b.a
        out = Sum.__new__(Sum)  # the terms are checked already: no pass over them again
        out.terms = (a.terms if type(a) is Sum else ((1, a),)) + ((1 if sign > 0 else -1, b),)
        return out

    def children(self):
        return tuple(t for _, t in self.terms)

    def _eval(self, ctx):
        # in order, one op per term: the same additions (and gradients) as the binary tree
        terms = iter(self.terms)
        sign, t = next(terms)
        out = t._eval(ctx) if sign > 0 else -t._eval(ctx)
        for sign, t in terms:
            v = t._eval(ctx)
            out = out + v if sign > 0 else out - v
        return out

    def _fmt(self, latex):
        return text.signed_sum(self.terms, latex)


class Mul(_Binary):
    prec = MUL

    def _eval(self, ctx):
        return self.a._eval(ctx) * self.b._eval(ctx)

    def _fmt(self, latex):
        return text.product(self.a, self.b, latex)


class Div(_Binary):
    prec = MUL

    def _eval(self, ctx):
        return self.a._eval(ctx) / self.b._eval(ctx)

    def _fmt(self, latex):
        return text.quotient(self.a, self.b, latex)


class Neg(Loss):
    prec = NEG

    def __init__(self, a: Loss):
        self.a = a

    def children(self):
        return (self.a,)

    def _eval(self, ctx):
        return -self.a._eval(ctx)

    def _fmt(self, latex):
        return text.negation(self.a, latex)


class Wrapper(Loss):
    """A node that prints as its child."""

    def __init__(self, a: Loss):
        self.a = a
        self.prec = a.prec

    def children(self):
        return (self.a,)

    def _fmt(self, latex):
        return self.a._fmt(latex)


class BatchMean(Wrapper):
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
        return text.batch_sum(self.a, latex)


class Named(Wrapper):
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
