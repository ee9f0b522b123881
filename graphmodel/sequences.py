"""Sequence plates at run time: sweeps over the steps, last steps and lengths.

:func:`run_sequence` executes a :class:`graphmodel.engine.SeqBlock` for a model runtime —
forwards, or backwards for a sweep that reads later steps — with each factor at the steps its
parents reach and the boundary factor (``init``) at the others; :func:`last_step` fills a
``c[last]`` slot. Sequences of varying length come as a ``(batch...)`` tensor of lengths per
plate: the given values past each length are zeroed (:func:`blank_padding`), those steps'
log-densities are masked out, ``c[last]`` reads each sequence at its own end, and a
deterministic state that reads ahead starts at each sequence's own end (:func:`_at_each_end`).
:func:`sequence_lengths` turns a sampled end flag into lengths.
"""

from __future__ import annotations

import torch

from .errors import GraphModelError
from .families import draw
from .jumps import step_at
from .shapes import broadcast
from .steps import Steps, dense, step_of
from .variables import length_key


def expanded(mod, d, shape):
    """``d`` expanded to the batch ``shape`` (broadcast with its own), still flagged as a
    standard Normal where ``mod`` makes one (torch's ``expand`` builds a new object)."""
    standard = mod.standard and getattr(d, "_gm_standard", False)  # (not a tempered one)
    d = d.expand(broadcast(d.batch_shape, shape))
    if standard:
        d._gm_standard = True
    return d


def tempered(mod, xs, tau: float):
    """``mod``'s distribution at sampling temperature ``tau`` (a draw, never a score)."""
    if mod.deterministic:
        return mod.forward(*xs)
    temper = mod.family.temper
    if temper is None or not hasattr(mod, "_params"):
        raise GraphModelError(f"factor {mod.label}: {mod.family.name} defines no sampling temperature; "
                              "sample with temperature 1")
    params, _ = mod._params(xs)
    return mod.family.make(temper(params, tau), mod.event_ndim)


def last_step(value, event_ndim: int, lengths):
    """The last step of ``value`` ``(batch..., T, *event)``: step T-1, or each example's
    ``lengths - 1`` where lengths were given."""
    if lengths is None:
        return value.items[-1] if type(value) is Steps else value.select(-(event_ndim + 1), -1)
    return step_at(value, event_ndim, (lengths - 1).clamp(min=0))  # (step_at stacks a Steps value)


def sequence_lengths(end: torch.Tensor) -> torch.Tensor:
    """Lengths ``(batch...)`` from a sampled end flag ``(batch..., T)``: a sequence ends at its
    first step whose flag is 1 (that step included), or runs all T steps.

    Sampling returns full-length tensors; a model that draws its own end (a binary ``end``
    variable in the plate, as SketchRNN's pen state) gives them lengths this way, and
    ``{length_key(plate): lengths}`` scores them as such.

    Example:
        >>> sequence_lengths(torch.tensor([[0., 1., 0.], [0., 0., 0.]]))
        tensor([2, 3])
    """
    hit = end > 0.5
    first = hit.to(torch.int64).argmax(-1) + 1
    return torch.where(hit.any(-1), first, torch.full_like(first, end.shape[-1]))


def blank_padding(m, vals, lengths):
    """Zero the given values past each sequence's length.

    No log-density counts those steps, but the networks still run on them: a model
    reading arbitrary padding could overflow there, and a masked-out infinity still
    turns the gradients into NaN (0 · ∞).
    """
    plan = m.plan
    for k, v in enumerate(vals):
        n = lengths.get(plan.plates[k]) if v is not None else None
        if n is not None:
            v = dense(v)
            nd = plan.event_ndims[k]
            steps = torch.arange(v.shape[-(nd + 1)], device=v.device)
            valid = (steps < n.unsqueeze(-1)).reshape(*n.shape, -1, *(1,) * nd)
            vals[k] = v.masked_fill(~valid, 0)


def run_sequence(m, block, vals, batch, sizes, lps, dists, score, sample, lengths=None, tau=None):
    """Run ``block`` over its steps (backwards when it reads later steps).

    ``lengths`` ``(batch...)``: the steps at and past an example's length are computed (on
    its padding) but their log-densities are masked out, and recorded in ``dists["masks"]``.
    ``tau``: the sampling temperature of the values drawn (``None``: 1).
    """
    plan = m.plan
    T = sizes[block.plate]
    # a variable with a value before the first step keeps it in ``pad`` slots past its last:
    # ``hist[k][t - lag]`` at t < lag indexes them from the end, with nothing to test per step
    hist = {s.target: [None] * (T + s.pad) for s in block.steps}
    out = vals  # where the swept values land; the sweep reads ``vals``
    if block.outer is not None:  # views × steps: the views are one more batch dim of the sweep
        batch = batch + (sizes[block.outer],)
        vals = _per_view(plan, block, vals, sizes[block.outer])
    masks = dists.setdefault("masks", {}) if lengths is not None else None
    times = dists.setdefault("times", {})
    for s in block.steps:
        for i in (s.factor, s.init):
            if i is not None:
                dists[i], times[i] = [], []
    for s in block.steps:
        if lengths is not None and s.span[1] and not s.deterministic:
            raise GraphModelError(
                f"model '{m.name}': '{plan.names[s.target]}' is sampled and reads later steps, which "
                f"sequences of varying length ('{length_key(block.plate)}') do not support yet; read "
                "the future through a deterministic state (g from g[t+1] and x)")
    for s in block.steps:
        if s.pad:
            _start(m, block, s, T, vals, hist, batch, dists)
    stop = _stopper(plan, block, vals) if sample and not score else None
    for t in (range(T) if block.direction > 0 else range(T - 1, -1, -1)):
        if stop is not None and stop.done(hist, t):
            _pad(hist, t, T)
            break
        valid = None if lengths is None else lengths > t
        for s in block.steps:
            fi, v = _sequence_step(m, block, s, t, T, vals, hist, batch, dists, sample, tau)
            if lengths is not None and s.span[1] and fi == s.factor and vals[s.target] is None:
                v = _at_each_end(m, block, s, t, v, vals, hist, lengths)
            times[fi].append(t)
            if masks is not None:
                masks.setdefault(fi, []).append(valid)
            if score and not s.deterministic:
                entry = lps.setdefault(fi, ([], [], block.outer is not None, None if valid is None else []))
                entry[0].append(dists[fi][-1])
                entry[1].append(v)
                if valid is not None:
                    entry[3].append(valid)
    for s in block.steps:  # the steps as they are: stacked only if something reads them whole
        if out[s.target] is None:
            out[s.target] = Steps(hist[s.target][:T], -(plan.event_ndims[s.target] + 1))
    if stop is not None:
        dists.setdefault("lengths", {})[block.plate] = stop.finish(plan, block, out)
        for i in (s.factor, s.init):
            if i is not None and block.direction < 0:  # keep every list in time order
                dists[i].reverse()
                times[i].reverse()
                if masks is not None and i in masks:
                    masks[i].reverse()
        if s.init is not None and not dists[s.factor] and not s.pad:
            del dists[s.factor]
            del times[s.factor]


def _start(m, block, s, T, vals, hist, batch, dists):
    """The value before the first step (``init="before"``), from parents outside the plate,
    broadcast to the sweep's batch and kept in the ``pad`` slots that ``h[t-k]`` reads at t < k."""
    d = m._modules[s.init].forward(*(vals[k] for k in s.init_parents))
    v = draw(d)
    nd = m.plan.event_ndims[s.target]
    v = v.expand(*broadcast(v.shape[: v.dim() - nd], batch), *v.shape[v.dim() - nd:])
    hist[s.target][T:] = [v] * s.pad
    dists[s.init].append(d)
    dists["times"][s.init].append(-1)


class _Stop:
    """The end token of a forward sweep that samples it (``Plate.end``): after each step, the
    sequences that drew it have ended; when all have, the sweep stops early."""

    def __init__(self, slot: int, k: int | None, nd: int):
        self.slot, self.k, self.nd = slot, k, nd
        self.ended = None

    def flag(self, v: torch.Tensor) -> torch.Tensor:
        """Where value ``v`` ``(batch..., *event)`` is the end token, ``(batch...)``."""
        if self.nd:
            return v[..., self.k] > 0.5  # one-hot
        return v > 0.5 if self.k is None else v == self.k  # binary flag, categorical

    def done(self, hist, t: int) -> bool:
        """Whether every sequence had ended by step ``t - 1`` (one host read per step: sampling only)."""
        if t == 0:
            return False
        flag = self.flag(hist[self.slot][t - 1])
        self.ended = flag if self.ended is None else self.ended | flag
        return bool(self.ended.all())

    def finish(self, plan, block, out) -> torch.Tensor:
        """Each sequence's length (its first end token included); the steps after it are zeroed
        like the padding of given sequences."""
        v = dense(out[self.slot])  # (batch..., T, *event): its flags are (batch..., T)
        n = sequence_lengths(self.flag(v).to(torch.get_default_dtype()))
        T = v.shape[-(self.nd + 1)]
        steps = torch.arange(T, device=n.device)
        for s in block.steps:
            nd = plan.event_ndims[s.target]
            valid = (steps < n.unsqueeze(-1)).reshape(*n.shape, -1, *(1,) * nd)
            out[s.target] = dense(out[s.target]).masked_fill(~valid, 0)
        return n


def _stopper(plan, block, vals) -> _Stop | None:
    """The end token this sweep samples, or ``None`` (none declared, given, or a backward sweep)."""
    end = plan.ends.get(block.plate)
    if end is None or block.direction < 0 or vals[end[0]] is not None or all(s.target != end[0] for s in block.steps):
        return None
    return _Stop(end[0], end[1], plan.event_ndims[end[0]])


def _pad(hist, t: int, T: int) -> None:
    """Fill steps ``t..T-1`` of every swept variable with zeros (every sequence has ended)."""
    for seq in hist.values():
        for u in range(t, T):
            seq[u] = torch.zeros_like(seq[t - 1])


def _per_view(plan, block, vals, n: int) -> list:
    """``vals`` with the block's parents from outside both plates repeated for each of the ``n``
    views (a copy of the list: the model's own values keep their shapes)."""
    vals = list(vals)
    for k in {k for s in block.steps for k in (*s.parents, *s.init_parents)}:
        if plan.plates[k] is None and vals[k] is not None:
            d = -(plan.event_ndims[k] + 1)
            v = vals[k].unsqueeze(d)
            vals[k] = v.expand(*v.shape[:d], n, *v.shape[v.dim() + d + 1:])
    return vals


def _at_each_end(m, block, s, t, v, vals, hist, lengths):
    """A deterministic variable that reads ``k`` steps ahead, at a step ``t`` whose reach passes
    some examples' ends (``t + k >= length``): there the boundary factor defines it, as at
    the plate's last steps, instead of the regular one reading the padding."""
    edge = lengths <= t + s.span[1]
    nd = m.plan.event_ndims[s.target]
    xs = [_read(m.plan, block, k, 0, t, vals, hist) for k in s.init_parents]
    v = torch.where(edge.reshape(*edge.shape, *(1,) * nd), draw(m._modules[s.init].forward(*xs)), v)
    hist[s.target][t] = v
    return v


def _read(plan, block, k, lag, t, vals, hist):
    """Parent slot ``k`` at step ``t - lag``, seen from inside ``block``."""
    if plan.plates[k] != block.plate:
        return vals[k]  # outside the plate: the same value at every step
    if k in hist:
        return hist[k][t - lag]
    return step_of(vals[k], -(plan.event_ndims[k] + 1), t - lag)  # given, or from an earlier sweep


def _sequence_step(m, block, s, t, T, vals, hist, batch, dists, sample, tau=None):
    """One variable at step ``t``: its value (drawn or given), kept in ``hist``."""
    plan = m.plan
    first = s.init is not None and not (s.span[0] <= t < T - s.span[1])
    fi = s.init if first else s.factor
    full = vals[s.target]
    if full is not None and s.deterministic:  # given (q's, lent to p by the ELBO): taken as it is
        v = hist[s.target][t] = step_of(full, -(plan.event_ndims[s.target] + 1), t)
        dists[fi].append(None)
        return fi, v
    if first:
        xs = [_read(plan, block, k, 0, t, vals, hist) for k in s.init_parents]
    else:
        xs = [_read(plan, block, k, lag, t, vals, hist) for k, lag in zip(s.parents, s.lags)]
    mod, steps = m._modules[fi], m._per_step[fi]
    if steps is not None:  # a network per step (graphmodel.perstep): step t's
        mod = steps[t]
    point = None if full is not None else m._points[fi] if steps is None else mod.point if mod.deterministic else None
    if point is not None:  # a deterministic state: the network's value itself, no Delta to build and draw
        v = point(xs)
        nd = plan.event_ndims[s.target]
        if v.shape[: v.dim() - nd] != batch:
            v = v.expand(*broadcast(v.shape[: v.dim() - nd], batch), *v.shape[v.dim() - nd:])
        hist[s.target][t] = v
        dists[fi].append(None)
        return fi, v
    d = mod.forward(*xs) if tau is None or full is not None else tempered(mod, xs, tau)
    if full is not None:
        v = step_of(full, -(plan.event_ndims[s.target] + 1), t)
    elif sample:
        if d.batch_shape != batch:
            d = expanded(mod, d, batch)
        v = draw(d)
    else:
        raise GraphModelError(f"model '{m.name}': no value given for '{plan.names[s.target]}'")
    hist[s.target][t] = v
    dists[fi].append(d)
    return fi, v
