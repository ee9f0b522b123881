"""Teacher forcing: a sequence sweep scored on given data, run across all steps at once.

When a model is scored on data (the ELBO's ``p``, a likelihood) every observed variable of a
sequence plate is given at every step; what remains to compute step by step is only what
recurs through itself — a recurrent state ``h[t] = cell(h[t-1], x[t-1], z)``. Everything else
(the emissions ``p(x[t] | h[t])``, feature maps of the given values) depends on the steps'
values alone, so it runs as ONE call with the steps as one more batch dimension: one network
call, one distribution with batch ``(batch..., T)``, one masked log-density — what a
hand-written model does with ``nn.LSTM`` and a vectorized loss.

:func:`forced_plan` decides once per sweep, at build, whether it qualifies: a forward sweep
outside views whose stochastic variables are all observed, read only at the same step and
without a boundary factor; whose deterministic variables either do the same or recur through
their own previous steps alone (with a boundary factor at t = 0), reading other variables of
the plate only where they are computed before them. :func:`run_forced` runs it; anything
else (sampling, latents in the plate, a temperature) takes :func:`graphmodel.sequences.run_sequence`.
The scores equal the step-by-step sweep's (``tests/test_forced.py``).

A recurrent cell with a ``sequence`` method steps through time in one autograd node (the
input side of its gates for all steps in one product). An LSTM whose state ``(2, H)`` is read
by nothing but itself and ``Select(0)`` factors (its h as a variable of its own, what the
heads read) runs further: as torch's fused LSTM kernel (oneDNN on a CPU, cuDNN on a GPU) over
the whole sequence, as a hand-written ``nn.LSTM`` does, writing the h of every step and
never the memories c, which nothing reads; in such a pass the state's own value is left
``None`` (:func:`forced_plan` decides it once, at build, from every reader in the model).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .families import draw
from .networks.select import SelectNet
from .steps import dense

#: how a step of a teacher-forced sweep runs: all steps in one call; stepped through time (a
#: state reading its own past); an LSTM as one fused kernel, writing its h to ``Select(0)``'s targets
AT_ONCE, LOOPED, FUSED = 0, 1, 2


@dataclass(frozen=True)
class ForcedPlan:
    """A sweep that runs teacher-forced: ``order`` is ``(step, how, outs)`` in the sweep's order
    (``how``: :data:`AT_ONCE`, :data:`LOOPED` or :data:`FUSED`; ``outs``: a fused LSTM's
    ``Select(0)`` steps, which it fills and which do not run); ``given``: the slots that must
    be given for it to apply (the observed targets)."""

    order: tuple
    given: tuple[int, ...]


def forced_plan(plan, block, observed: frozenset, modules=None) -> ForcedPlan | None:
    """The teacher-forced form of SeqBlock ``block`` of ``plan``, or ``None`` where it does not
    qualify; with the model's factor ``modules``, an LSTM read only through its h is fused."""
    if block.direction < 0 or block.outer is not None:
        return None
    names, inside = plan.names, {s.target for s in block.steps}
    # given from the start: the observed variables of the sweep (checked when it runs)
    done: set = {s.target for s in block.steps if not s.deterministic and names[s.target] in observed}
    order, given = [], []
    for s in block.steps:
        own = [lag for k, lag in zip(s.parents, s.lags) if k == s.target]
        others_ok = all(k not in inside or k in done for k, lag in zip(s.parents, s.lags) if k != s.target)
        if not s.deterministic:
            if names[s.target] not in observed or s.init is not None or s.span != (0, 0) or own or not others_ok:
                return None
            given.append(s.target)
            order.append((s, AT_ONCE, ()))
        elif s.span == (0, 0) and s.init is None and others_ok:
            order.append((s, AT_ONCE, ()))
        elif own and s.span[1] == 0 and others_ok and all(k not in inside or k in done for k in s.init_parents):
            outs = _h_readers(plan, block, s, modules) if modules is not None else None
            order.append((s, LOOPED, ()) if outs is None else (s, FUSED, outs))
        else:
            return None
        done.add(s.target)
    fused = {o for _, how, outs in order if how == FUSED for o in outs}
    return ForcedPlan(tuple(e for e in order if e[0] not in fused), tuple(given))


def _h_readers(plan, block, s, modules) -> tuple | None:
    """The ``Select(0)`` steps of ``block`` through which alone the LSTM state of step ``s`` is
    read (besides by its own cell), or ``None`` where it cannot run fused: the cell is not a
    plain LSTM (:func:`_plain_cell`), or anything else in the model reads the state (its c, the
    whole state, ``state[last]``, a boundary factor)."""
    net = _plain_cell(plan, modules, s)
    if net is None or not hasattr(net, "outputs"):
        return None
    k, outs = s.target, []
    for b in plan.blocks:
        for r in b.steps if hasattr(b, "steps") else (b,):
            if r is s:
                continue
            if getattr(r, "source", None) == k or k in getattr(r, "init_parents", ()):
                return None  # (a Last block reading state[last], or another state's t = 0 factor)
            if k not in getattr(r, "parents", ()):
                continue
            mod = modules[r.factor]
            sel = getattr(mod, "net", None)
            if (b is not block or r.parents != (k,) or r.lags != (0,) or r.init is not None or not r.deterministic
                    or not isinstance(sel, SelectNet) or sel.index != 0 or len(mod.table) != 1
                    or mod.table[0][3] is not None):
                return None
            outs.append(r)
    return tuple(outs) or None


def _over_steps(plan, k: int, v: torch.Tensor, steps: int, plate: str) -> torch.Tensor:
    """Slot ``k``'s value with the plate's steps: its own where it lies in the plate, else
    broadcast over them (a value from outside, the same at every step)."""
    if plan.plates[k] == plate:
        return v
    nd = plan.event_ndims[k]
    v = v.unsqueeze(-(nd + 1))
    return v.expand(*v.shape[: v.dim() - nd - 1], steps, *v.shape[v.dim() - nd:])


def _plain_cell(plan, modules, s):
    """The network of step ``s`` where it is a plain recurrent cell with a ``sequence`` method:
    ``Deterministic(h, given=(h[t-1], ...), net=LSTMCell())`` with a t = 0 factor; else ``None``."""
    mod = modules[s.factor]
    net = getattr(mod, "net", None)
    own = [lag for k, lag in zip(s.parents, s.lags) if k == s.target]
    # the cell runs from t = 1 after a t = 0 factor, or (a value before the first step,
    # ``init="before"``) from t = 0 after it, reading the other parents at the same step
    start = 0 if s.pad else 1
    if (not hasattr(net, "sequence") or s.span[0] != start or own != [1] or len(mod.table) != 1
            or mod.table[0][3] is not None or net.state_index != s.parents.index(s.target)
            or any(lag not in ((0, 1) if start else (0,)) for k, lag in zip(s.parents, s.lags) if k != s.target)):
        return None
    return net


def _cell_inputs(m, block, s, vals, T: int):
    """A plain cell's boundary state (its boundary factor's: at t = 0, or before the first step
    with ``init="before"``) and its other parents' values at the steps the cell runs (t = 1..T-1,
    or every step after a value before the first), each ``(batch..., steps, *event)``."""
    plan = m.plan
    start = 0 if s.pad else 1
    others = []
    for k, lag in zip(s.parents, s.lags):
        if k == s.target:
            continue
        v = vals[k]
        dim = -(plan.event_ndims[k] + 1)
        others.append(v.narrow(dim, start - lag, T - start) if plan.plates[k] == block.plate
                      else _over_steps(plan, k, v, T - start, block.plate))
    return _initial(m, block, s, vals), others


def _prepend(first: torch.Tensor, rest: torch.Tensor | None, nd: int) -> torch.Tensor:
    """``first`` ``(batch..., *event)`` (broadcast to ``rest``'s batch: a constant initial state)
    before the steps ``rest`` ``(batch..., T - 1, *event)``; ``first`` alone where ``T`` is 1."""
    if rest is None:
        return first.unsqueeze(-(nd + 1))
    first = first.expand(*rest.shape[: rest.dim() - nd - 1], *first.shape[first.dim() - nd:])
    return torch.cat((first.unsqueeze(-(nd + 1)), rest), -(nd + 1))


def _scanned(m, block, s, vals, T: int) -> torch.Tensor | None:
    """A recurrent cell's states at every step through its network's ``sequence`` (the input
    side of the gates for all steps in one product), or ``None`` where the factor is not a
    plain cell (:func:`_plain_cell`)."""
    net = _plain_cell(m.plan, m._modules, s)
    if net is None:
        return None
    first, others = _cell_inputs(m, block, s, vals, T)
    if s.pad:  # the boundary value lies before the first step: every step is the cell's
        return net.sequence(first, others)  # (a constant initial state broadcasts to the batch)
    return _prepend(first, net.sequence(first, others) if T > 1 else None, m.plan.event_ndims[s.target])


def _initial(m, block, s, vals) -> torch.Tensor:
    """The boundary factor's value: the state at t = 0, or before it (``init="before"``)."""
    plan = m.plan
    d0 = m._modules[s.init].forward(*[vals[k] if plan.plates[k] != block.plate
                                      else vals[k].select(-(plan.event_ndims[k] + 1), 0) for k in s.init_parents])
    return draw(d0)


def _fused(m, block, s, outs, vals, T: int) -> None:
    """An LSTM's h at every step, ``(batch..., T, H)``, into the targets of its ``Select(0)``
    steps ``outs``: torch's fused kernel over the steps (``LSTMCellNet.outputs``)."""
    first, others = _cell_inputs(m, block, s, vals, T)
    net = m._modules[s.factor].net
    if s.pad:  # (init="before": every step is the cell's)
        h = net.outputs(first, others)
    else:
        h = _prepend(first.select(-2, 0), net.outputs(first, others) if T > 1 else None, 1)
    for o in outs:
        vals[o.target] = h


def _looped(m, block, s, vals, T: int, dists, times) -> torch.Tensor:
    """A state that reads its own past, stepped through time on the given values: ``(batch..., T, *event)``."""
    plan, mods = m.plan, m._modules
    nd = plan.event_ndims[s.target]
    fast = _scanned(m, block, s, vals, T)
    if fast is not None:
        return fast
    # past[-k] (k ≤ pad) is the value before the first step, where the state has one
    past: list = [None] * T + ([_initial(m, block, s, vals)] * s.pad if s.pad else [])
    for fi in (s.init, s.factor):
        dists[fi], times[fi] = [], []
    for t in range(T):
        first = t < s.span[0]
        fi = s.init if first else s.factor
        pairs = zip(s.init_parents, (0,) * len(s.init_parents)) if first else zip(s.parents, s.lags)
        xs = [vals[k] if plan.plates[k] != block.plate
              else past[t - lag] if k == s.target
              else vals[k].select(-(plan.event_ndims[k] + 1), t - lag) for k, lag in pairs]
        d = mods[fi].forward(*xs)
        past[t] = draw(d)
        dists[fi].append(d)
        times[fi].append(t)
    if not dists[s.factor]:
        del dists[s.factor], times[s.factor]
    if not dists[s.init]:
        del dists[s.init], times[s.init]
    return torch.stack(torch.broadcast_tensors(*past[:T]), dim=-(nd + 1))  # (a constant initial state broadcasts)


def run_forced(m, block, fp: ForcedPlan, vals, sizes, lps, dists, lengths=None) -> None:
    """Score ``block`` teacher-forced (see the module's docstring); fills ``vals``, ``lps`` and
    ``dists`` as :func:`graphmodel.sequences.run_sequence` does, a vectorized factor's entry
    being one distribution with batch ``(batch..., T)`` and its step mask ``(batch..., T)``."""
    plan, mods = m.plan, m._modules
    T = sizes[block.plate]
    for s, *_ in fp.order:  # (an earlier sweep's values, kept step by step, are read whole here)
        for k in (*s.parents, *s.init_parents):
            vals[k] = dense(vals[k])
    times = dists.setdefault("times", {})
    masks = dists.setdefault("masks", {}) if lengths is not None else None
    valid = None if lengths is None else torch.arange(T, device=lengths.device) < lengths.unsqueeze(-1)
    for s, how, outs in fp.order:
        if s.deterministic and vals[s.target] is not None:
            # a given state (q's, lent to p by the ELBO) is taken as it is, as run_sequence does
            for o in outs:  # (and a fused LSTM's h read from it)
                if vals[o.target] is None:
                    vals[o.target] = dense(vals[s.target]).select(-2, 0)
            continue
        if how == FUSED:
            _fused(m, block, s, outs, vals, T)
            continue
        if how == LOOPED:
            vals[s.target] = _looped(m, block, s, vals, T, dists, times)
            continue
        xs = [_over_steps(plan, k, vals[k], T, block.plate) for k in s.parents]
        d = mods[s.factor].forward(*xs)
        v = vals[s.target]
        if v is None:  # a deterministic variable: its value at every step at once
            vals[s.target] = v = draw(d)
        dists[s.factor], times[s.factor] = [d], [0]
        if masks is not None:
            masks[s.factor] = [valid]
        if not s.deterministic:
            lps[s.factor] = ((d,), (v,), True, None if valid is None else [valid])
