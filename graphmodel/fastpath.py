"""The hot path of a training step: distributions filled in directly, sampled and scored.

``families.Family.make`` builds torch's Normal, Laplace and Bernoulli (and ``Independent``)
through the fast constructors here; :func:`draw`, :func:`log_density` and
:func:`closed_form_kl` are the runtime's cheaper routes to ``rsample``, ``log_prob`` and
``kl_divergence`` for the common cases. ``graphmodel.families`` re-exports them.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import distributions as D
from torch.nn import functional as F

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
