"""A sequence sweep's values kept step by step, and what reads them so.

A sweep (:func:`graphmodel.sequences.run_sequence`) computes a variable one step at a time.
Stacking the steps into one ``(batch..., T, *event)`` tensor costs a copy of the whole
history forward and, where the stack is read back a step at a time (the ELBO gives p the
canvas and the states q computed), a zero-filled history per step backward — work a
hand-written loop never does. So a sweep leaves :class:`Steps`: the per-step tensors, stacked
only when something reads the value whole (a trace's ``values``, a network over whole
sequences). Another sweep, ``c[last]`` and a per-step KL read the steps themselves.

:func:`stacked_kl` is the closed-form KL of a latent's diagonal Normals summed over the
steps, computed once over the stacked parameters instead of step by step (the same value:
one formula of a few ops instead of a dozen ops per step, forward and backward).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import distributions as D


class Steps:
    """A swept variable's value: one tensor ``(batch..., *event)`` per step.

    It answers ``shape`` and ``dim()`` as the stacked value would; :meth:`whole` stacks
    (once) at ``axis``, the steps' dim counted from the right, ``-(event_ndim + 1)``.
    """

    __slots__ = ("items", "axis", "_whole")

    def __init__(self, items: list, axis: int):
        self.items, self.axis, self._whole = items, axis, None

    def whole(self) -> torch.Tensor:
        """The steps stacked, ``(batch..., T, *event)``."""
        if self._whole is None:
            self._whole = torch.stack(self.items, dim=self.axis)
        return self._whole

    @property
    def shape(self) -> torch.Size:
        s = self.items[0].shape
        k = len(s) + 1 + self.axis
        return s[:k] + (len(self.items),) + s[k:]

    def dim(self) -> int:
        return self.items[0].dim() + 1


def dense(v):
    """``v`` as a tensor: a :class:`Steps` stacked, anything else as it is."""
    return v.whole() if type(v) is Steps else v


def step_of(v, axis: int, t: int) -> torch.Tensor:
    """Step ``t`` of a sequence value ``v`` (a tensor with the steps at ``axis``, or :class:`Steps`)."""
    return v.items[t] if type(v) is Steps else v.select(axis, t)


class Values(Mapping):
    """A trace's values by variable name, each a tensor; swept values are stacked when first read.

    :meth:`raw` gives a swept value as its :class:`Steps`, for another model's sweep to read
    step by step (the ELBO's p reading q's states).
    """

    def __init__(self, names, vals):
        self._d = dict(zip(names, vals))

    def __getitem__(self, name: str):
        v = self._d[name]
        if type(v) is Steps:
            v = self._d[name] = v.whole()
        return v

    def raw(self, name: str):
        """The value of ``name`` as the sweep left it (a :class:`Steps` or a tensor)."""
        return self._d[name]

    def __iter__(self):
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __repr__(self) -> str:
        return f"Values({list(self._d)})"


def _normal_parts(dists: list) -> tuple[list, list, list, int] | None:
    """Per step: loc, scale and log σ of ``Independent(Normal)`` distributions whose parameters
    have the distribution's full shape, and the event ndim; ``None`` for any other list."""
    from .fastpath import _log_scale

    locs, scales, logs, n = [], [], [], None
    for d in dists:
        if type(d) is not D.Independent or type(d.base_dist) is not D.Normal:
            return None
        b = d.base_dist
        if n is None:
            n = d.reinterpreted_batch_ndims
        if d.reinterpreted_batch_ndims != n or b.loc.shape != b.scale.shape:
            return None
        locs.append(b.loc)
        scales.append(b.scale)
        logs.append(_log_scale(d, b))
    return locs, scales, logs, n


def stacked_kl(qs: list, ps: list, masks: list) -> torch.Tensor | None:
    """``Σₜ KL[qₜ‖pₜ]`` ``(batch..., [views])`` of per-step diagonal Normals, computed once over the
    stacked steps; ``None`` where the steps are not all such Normals of one shape (or fewer
    than two). ``masks``: per step ``None`` or a boolean ``(batch..., [views])``, true where the
    step counts.
    """
    if len(qs) < 2:
        return None
    q = _normal_parts(qs)
    standard = all(getattr(p, "_gm_standard", False) for p in ps)
    p = None if standard else _normal_parts(ps)
    if q is None or (p is None and not standard) or len({x.shape for x in q[0]}) != 1:
        return None
    n = q[3]
    axis = -(n + 1)
    loc, scale, log_scale = (torch.stack(x, axis) for x in q[:3])
    if standard:  # p = N(0, I): ½(μ² + σ² − 1) − log σ
        kl = (loc.square() + scale.square() - 1).mul(0.5) - log_scale
    else:
        if p[3] != n or len({x.shape for x in p[0]}) != 1:
            return None
        p_loc, p_scale, p_log = (torch.stack(x, axis) for x in p[:3])
        kl = (((scale / p_scale).square() + ((loc - p_loc) / p_scale).square() - 1).mul(0.5)
              - (log_scale - p_log))
    kl = kl.flatten(-n).sum(-1) if n else kl  # (batch..., [views,] T)
    if masks[0] is not None:
        kl = kl.masked_fill(~torch.stack(masks, -1), 0.0)
    return kl.sum(-1)
