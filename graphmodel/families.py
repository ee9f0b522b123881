"""Distribution families: which torch distribution, which parameters, which support.

A family turns a dict of constrained parameters into a fresh
``torch.distributions.Distribution`` whose event shape is the target variable's shape.
Raw network outputs are mapped onto each parameter's constraint with
``torch.distributions.transform_to`` in :func:`param_transform`, the one place where that
happens. Users add families with ``FAMILIES.register(name, Family(...))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import distributions as D
from torch.distributions import constraints
from torch.nn import functional as F

from .registry import Registry
from .variables import Variable

REAL_LIKE = frozenset({"real", "positive", "unit_interval", "binary"})
#: Constraints of parameters that torch leaves out of ``arg_constraints``.
EXTRA_CONSTRAINTS = {"temperature": constraints.positive}


class Delta(D.Distribution):
    """A point mass at ``value`` whose last ``event_dim`` dimensions form one event.

    Used for deterministic factors (``h = f(x)``, ``x = G(z)``): sampling returns the value
    (with gradients), and the log-density is taken as 0, because graphmodel scores a
    deterministic variable as a function of its parents, never as data.
    """

    arg_constraints = {"value": constraints.real}
    support = constraints.real
    has_rsample = True

    def __init__(self, value: torch.Tensor, event_dim: int = 0, validate_args=None):
        self.value = value
        event_dim = min(event_dim, value.dim())
        split = value.dim() - event_dim
        super().__init__(value.shape[:split], value.shape[split:], validate_args=False)

    def expand(self, batch_shape, _instance=None):
        batch_shape = torch.Size(batch_shape)
        return Delta(self.value.expand(batch_shape + self.event_shape), len(self.event_shape))

    def rsample(self, sample_shape=()):
        return self.value.expand(torch.Size(sample_shape) + self.value.shape)

    def log_prob(self, value):
        return torch.zeros(value.shape[: value.dim() - len(self.event_shape)], dtype=value.dtype, device=value.device)

    @property
    def mean(self):
        return self.value


@dataclass(frozen=True)
class Family:
    """How one distribution family is built and checked.

    Args:
        name: registry name, e.g. ``"Normal"``.
        dist: the torch distribution class (called with the parameters as keywords).
        params: parameters a network may produce, in head order.
        support: the support of the family's samples (a key of ``SUPPORTS``).
        accepts: variable supports this family can score.
        event_dims: rightmost dims of the target the base distribution already treats as
            one event (1 for one-hot and simplex families, 0 otherwise).
        defaults: constant parameters with default values (e.g. a relaxation temperature).
        param_extra: extra trailing dims of a parameter beyond the target's shape, given the
            variable (Categorical's logits carry the class dim).
        deterministic: a delta; its target is a function of its parents.
        temper: ``temper(params, τ)`` → the parameters of the tempered density
            ``p^(1/τ)`` (normalized) used to sample at temperature τ, or ``None`` where the
            family defines no temperature (sampling at τ ≠ 1 is then refused).
    """

    name: str
    dist: type
    params: tuple[str, ...]
    support: str
    accepts: frozenset
    event_dims: int = 0
    defaults: dict = field(default_factory=dict)
    param_extra: Callable[[str, Variable], tuple[int, ...]] | None = None
    deterministic: bool = False
    temper: Callable[[dict, float], dict] | None = None

    def param_shape(self, param: str, var: Variable) -> tuple[int, ...]:
        """Shape of one parameter for a target ``var`` (excluding batch dims)."""
        if param in self.defaults and param not in self.params:
            return ()
        extra = self.param_extra(param, var) if self.param_extra else ()
        return tuple(var.shape) + tuple(extra)

    def constraint(self, param: str):
        # torch declares no constraint for some parameters (the relaxed families' temperature)
        return self.dist.arg_constraints.get(param) or EXTRA_CONSTRAINTS[param]

    def make(self, params: dict, var_event_ndim: int) -> D.Distribution:
        """Build the distribution with ``var_event_ndim`` rightmost dims as the event."""
        if self.deterministic:
            return Delta(params["value"], var_event_ndim)
        # (torch.compile traces torch's own constructors: some torch versions cannot trace
        # ``object.__new__``, and the compiled graph loses nothing by them)
        fast = None if torch.compiler.is_compiling() else _FAST_NEW.get(self.dist)
        base = fast(params) if fast is not None else None
        if base is None:
            base = self.dist(**params, validate_args=False)
        n = var_event_ndim - self.event_dims
        return _independent(base, n) if n > 0 else base

    @property
    def reparameterized(self) -> bool:
        return bool(getattr(self.dist, "has_rsample", False))


def param_transform(constraint) -> D.transforms.Transform:
    """The map from an unconstrained real tensor onto ``constraint``."""
    return D.transform_to(constraint)


def param_function(constraint) -> Callable | None:
    """:func:`param_transform` as a plain function for the hot path (``None``: the identity).

    The same values, without the ``Transform`` call machinery: ``exp`` for positive
    parameters (torch composes it with an identity shift), nothing for real ones, the
    transform itself otherwise.
    """
    tf = param_transform(constraint)
    fns = []
    for part in tf.parts if isinstance(tf, D.transforms.ComposeTransform) else [tf]:
        if type(part) is D.transforms.AffineTransform and _is_number(part.loc) and _is_number(part.scale) \
                and part.loc == 0 and part.scale == 1:
            continue  # ``0 + 1·y`` (torch's positive = exp, then shift by the bound 0)
        if type(part) is not D.transforms.ExpTransform:
            return tf
        fns.append(torch.exp)
    if len(fns) > 1:
        return tf
    return fns[0] if fns else None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# --- the hot path ----------------------------------------------------------------------
# A training step builds a few distributions and scores them. torch's constructors
# broadcast their arguments and check shapes on every call; when the parameters already
# have one shape (a network's heads always do) the result is fully determined, so the
# objects are filled in directly. They are the very torch classes, with the same
# attributes (checked below when this module loads; a torch that differs gets its own
# constructors), so everything downstream (kl_divergence, expand, mean) sees no difference.

_new = object.__new__


def _new_loc_scale(cls):
    def make(params):
        loc, scale = params.get("loc"), params.get("scale")
        if len(params) != 2 or type(loc) is not torch.Tensor or type(scale) is not torch.Tensor \
                or loc.shape != scale.shape:
            return None
        d = _new(cls)
        d.loc, d.scale = loc, scale
        d._batch_shape, d._event_shape, d._validate_args = loc.shape, _EMPTY, False
        return d
    return make


def _new_logits(cls):
    def make(params):
        logits = params.get("logits")
        if len(params) != 1 or type(logits) is not torch.Tensor:
            return None
        d = _new(cls)
        d.logits = d._param = logits
        d._batch_shape, d._event_shape, d._validate_args = logits.shape, _EMPTY, False
        return d
    return make


def _independent(base: D.Distribution, n: int) -> D.Independent:
    """``D.Independent(base, n)`` without its per-call argument handling."""
    if not _FAST_NEW or n > len(base._batch_shape) or torch.compiler.is_compiling():
        return D.Independent(base, n, validate_args=False)
    d = _new(D.Independent)
    d.base_dist, d.reinterpreted_batch_ndims = base, n
    shape = base._batch_shape + base._event_shape
    k = len(base._batch_shape) - n
    d._batch_shape, d._event_shape, d._validate_args = shape[:k], shape[k:], False
    return d


_EMPTY = torch.Size()
_FAST_NEW: dict = {D.Normal: _new_loc_scale(D.Normal), D.Laplace: _new_loc_scale(D.Laplace),
                   D.Bernoulli: _new_logits(D.Bernoulli)}


def _same(a: D.Distribution, b: D.Distribution) -> bool:
    va, vb = vars(a), vars(b)
    if type(a) is not type(b) or va.keys() != vb.keys():
        return False
    for k, x in va.items():
        y = vb[k]
        if isinstance(x, D.Distribution):
            if not _same(x, y):
                return False
        elif isinstance(x, torch.Tensor):
            if not (isinstance(y, torch.Tensor) and x.shape == y.shape and torch.equal(x, y)):
                return False
        elif x != y:
            return False
    return True


def _check_fast_constructors() -> None:
    """Keep a fast constructor only where it builds exactly what torch's own does."""
    t = torch.zeros(2, 3)
    examples = {D.Normal: {"loc": t, "scale": t + 1}, D.Laplace: {"loc": t, "scale": t + 1},
                D.Bernoulli: {"logits": t}}
    for cls, params in examples.items():
        try:
            ok = _same(_FAST_NEW[cls](params), cls(**params, validate_args=False))
            ok = ok and _same(_independent(_FAST_NEW[cls](params), 1),
                              D.Independent(cls(**params, validate_args=False), 1, validate_args=False))
        except Exception:  # an unknown torch: fall back to its constructors
            ok = False
        if not ok:
            _FAST_NEW.clear()
            return


_check_fast_constructors()


def _sum_rightmost(x: torch.Tensor, n: int) -> torch.Tensor:
    if n == 0:
        return x
    if n == 1:
        return x.sum(-1)
    return x.reshape(x.shape[: x.dim() - n] + (-1,)).sum(-1)


def draw(d: D.Distribution) -> torch.Tensor:
    """One sample of ``d``: ``rsample()`` where it has one, else ``sample()``."""
    if d.has_rsample:
        base = d.base_dist if type(d) is D.Independent else d
        if type(base) is D.Normal:
            loc = base.loc
            if getattr(d, "_gm_standard", False):  # N(0, I): the noise is the sample
                return torch.randn(d._batch_shape + d._event_shape, dtype=loc.dtype, device=loc.device)
            if loc.shape == d._batch_shape + d._event_shape and type(loc) is torch.Tensor:
                # Normal.rsample's own arithmetic and random stream, with one op for the noise
                eps = torch.randn(loc.shape, dtype=loc.dtype, device=loc.device)
                value = loc + eps * base.scale
                d._gm_noise = (value, eps)  # for log_density: scoring this value needs only log σ
                return value
        return d.rsample()
    how = draw_plan(d)
    if how is None:
        return d.sample()
    op, arg = how
    with torch.no_grad():
        return op(arg)


def draw_plan(d: D.Distribution) -> tuple[Callable, torch.Tensor] | None:
    """``(op, tensor)`` such that ``op(tensor)`` (without gradients) is ``d.sample()``, or ``None``.

    For a Bernoulli built from logits: ``(torch.bernoulli, sigmoid(logits))``, which is what
    ``Bernoulli.sample`` computes (same values, same random stream) without caching the
    probabilities on the distribution. A caller that does not keep ``d`` can let it (and
    its logits) go before the draw allocates the sample, as a hand-written sampler would.
    """
    base = d.base_dist if type(d) is D.Independent else d
    if type(base) is not D.Bernoulli or "probs" in vars(base) or "logits" not in vars(base):
        return None
    logits = base.logits
    if logits.shape != d._batch_shape + d._event_shape:
        return None
    with torch.no_grad():
        return torch.bernoulli, torch.sigmoid(logits)


def log_density(d: D.Distribution, value: torch.Tensor) -> torch.Tensor:
    """``d.log_prob(value)``, with cheaper routes for the common Normal and Bernoulli cases.

    - ``Independent(Bernoulli(logits))`` negates the elementwise cross-entropy before
      summing it over the event; negating the sum instead is the same number with one pass
      over the (large) observation fewer, forward and backward.
    - A Normal scoring the very sample :func:`draw` took from it, ``z = μ + σ·ε``: then
      ``log N(z; μ, σ) = −ε²/2 − log σ − log √(2π)`` for every ``μ, σ``, so this form has
      the same value and the same gradient with respect to everything upstream (through
      ``z`` and through the parameters together), and only ``log σ`` is differentiated.
    - A standard Normal prior (constant ``μ = 0, σ = 1``, flagged by the runtime's factor):
      ``−z²/2 − log √(2π)``.
    - Any other Normal: ``−((z − μ)/σ)²/2 − log σ − log √(2π)``, two ops fewer than
      torch's form (which squares σ and divides by 2σ²).
    """
    n = 0
    base = d
    if type(d) is D.Independent:
        base = d.base_dist
        n = d.reinterpreted_batch_ndims
        if type(base) is D.Bernoulli and "logits" in vars(base):
            logits = base.logits
            if logits.shape == value.shape and logits.dtype == value.dtype and not base._validate_args:
                bce = F.binary_cross_entropy_with_logits(logits, value, reduction="none")
                return -_sum_rightmost(bce, n)
    if type(base) is D.Normal and not base._validate_args:
        if getattr(d, "_gm_standard", False):  # N(0, I): −z²/2 − log √(2π)
            return _sum_rightmost(value.square().mul(-0.5).sub(_LOG_SQRT_2PI), n)
        noise = getattr(d, "_gm_noise", None)
        if noise is not None and noise[0] is value:
            with torch.no_grad():
                const = noise[1].square().mul_(-0.5).sub_(_LOG_SQRT_2PI)
            return _sum_rightmost(const - _log_scale(d, base), n)
        scale = base.scale
        t = (value - base.loc) / scale
        return _sum_rightmost(t.square().mul(-0.5) - _log_scale(d, base) - _LOG_SQRT_2PI, n)
    return d.log_prob(value)


_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _log_scale(d: D.Distribution, base: D.Normal) -> torch.Tensor:
    """``log σ`` of a Normal: the network's raw output where the runtime's factor kept it
    (``σ = exp(raw)``: the same value, without a ``log`` op and its backward), else ``log σ``."""
    ls = getattr(d, "_gm_log_scale", None)
    return base.scale.log() if ls is None else ls


def closed_form_kl(q: D.Distribution, p: D.Distribution) -> torch.Tensor | None:
    """``KL[q‖p]`` of two diagonal Normals (torch's formula), or ``None`` for other pairs.

    The same arithmetic as ``torch.distributions.kl_divergence``, but the prior's batch
    shape broadcasts inside the formula instead of being expanded first, and no dispatch;
    against a standard Normal prior (flagged by the runtime's factor) the formula drops
    the prior's terms, ``½(μ² + σ² − 1) − log σ``.
    """
    if type(q) is not D.Independent or type(p) is not D.Independent:
        return None
    n = q.reinterpreted_batch_ndims
    qb, pb = q.base_dist, p.base_dist
    if type(qb) is not D.Normal or type(pb) is not D.Normal or p.reinterpreted_batch_ndims != n:
        return None
    if getattr(p, "_gm_standard", False):  # p = N(0, I): ½(μ² + σ² − 1) − log σ
        loc, scale = qb.loc, qb.scale
        return _sum_rightmost((loc.square() + scale.square() - 1).mul(0.5) - _log_scale(q, qb), n)
    var_ratio = (qb.scale / pb.scale).pow(2)
    t1 = ((qb.loc - pb.loc) / pb.scale).pow(2)
    return _sum_rightmost(0.5 * (var_ratio + t1 - 1 - var_ratio.log()), n)


# --- sampling temperature ---------------------------------------------------------------
# Sampling at temperature τ draws from the tempered density p^(1/τ), normalized: one
# definition for every family. A Normal's becomes N(μ, τσ²), so its scale is σ·√τ (Glow's
# "temperature" T multiplies σ: T = √τ); a Laplace's is b·τ; a categorical or Bernoulli's
# logits are divided by τ. τ → 0 approaches the mode, τ = 1 is the model itself.

def _temper_scale(power: float):
    def temper(params: dict, tau: float) -> dict:
        return {**params, "scale": params["scale"] * tau ** power}
    return temper


def _temper_logits(params: dict, tau: float) -> dict:
    return {**params, "logits": params["logits"] / tau}


def _class_dim(param: str, var: Variable) -> tuple[int, ...]:
    return (var.classes,) if param == "logits" else ()


FAMILIES: Registry[Family] = Registry("family")

_ALL = frozenset({"real", "positive", "unit_interval", "binary", "categorical", "one_hot", "simplex"})
for _f in (
    Family("Normal", D.Normal, ("loc", "scale"), "real", REAL_LIKE, temper=_temper_scale(0.5)),
    Family("Laplace", D.Laplace, ("loc", "scale"), "real", REAL_LIKE, temper=_temper_scale(1.0)),
    # Bernoulli also scores intensities in [0, 1] (the common cross-entropy treatment).
    Family("Bernoulli", D.Bernoulli, ("logits",), "binary", frozenset({"binary", "unit_interval"}),
           temper=_temper_logits),
    Family("Categorical", D.Categorical, ("logits",), "categorical", frozenset({"categorical"}),
           param_extra=_class_dim, temper=_temper_logits),
    Family("OneHotCategorical", D.OneHotCategorical, ("logits",), "one_hot",
           frozenset({"one_hot", "simplex"}), event_dims=1, temper=_temper_logits),
    Family("RelaxedOneHotCategorical", D.RelaxedOneHotCategorical, ("logits",), "simplex",
           frozenset({"simplex", "one_hot"}), event_dims=1, defaults={"temperature": 0.5}),
    Family("RelaxedBernoulli", D.RelaxedBernoulli, ("logits",), "unit_interval",
           frozenset({"unit_interval"}), defaults={"temperature": 0.5}),
    Family("Beta", D.Beta, ("concentration1", "concentration0"), "unit_interval",
           frozenset({"unit_interval"})),
    Family("Gamma", D.Gamma, ("concentration", "rate"), "positive", frozenset({"positive"})),
    Family("Dirichlet", D.Dirichlet, ("concentration",), "simplex", frozenset({"simplex"}), event_dims=1),
    Family("Deterministic", Delta, ("value",), "real", _ALL, deterministic=True),
):
    FAMILIES.register(_f.name, _f)
