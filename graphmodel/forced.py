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
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .families import draw
from .steps import dense


@dataclass(frozen=True)
class ForcedPlan:
    """A sweep that runs teacher-forced: ``order`` is ``(step, looped)`` in the sweep's order
    (``looped``: stepped through time, a state reading its own past); ``given``: the slots
    that must be given for it to apply (the observed targets)."""

    order: tuple
    given: tuple[int, ...]


def forced_plan(plan, block, observed: frozenset) -> ForcedPlan | None:
    """The teacher-forced form of SeqBlock ``block`` of ``plan``, or ``None`` where it does not qualify."""
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
            order.append((s, False))
        elif s.span == (0, 0) and s.init is None and others_ok:
            order.append((s, False))
        elif own and s.span[1] == 0 and others_ok and all(k not in inside or k in done for k in s.init_parents):
            order.append((s, True))
        else:
            return None
        done.add(s.target)
    return ForcedPlan(tuple(order), tuple(given))


def _over_steps(plan, k: int, v: torch.Tensor, steps: int, plate: str) -> torch.Tensor:
    """Slot ``k``'s value with the plate's steps: its own where it lies in the plate, else
    broadcast over them (a value from outside, the same at every step)."""
    if plan.plates[k] == plate:
        return v
    nd = plan.event_ndims[k]
    v = v.unsqueeze(-(nd + 1))
    return v.expand(*v.shape[: v.dim() - nd - 1], steps, *v.shape[v.dim() - nd:])


def _scanned(m, block, s, vals, T: int) -> torch.Tensor | None:
    """A recurrent cell's states at every step through its network's ``sequence`` (the input
    side of the gates for all steps in one product), or ``None`` where the factor is not a
    plain cell: ``Deterministic(h, given=(h[t-1], ...), net=LSTMCell())`` with a t = 0 factor."""
    plan, mods = m.plan, m._modules
    mod = mods[s.factor]
    net = getattr(mod, "net", None)
    own = [lag for k, lag in zip(s.parents, s.lags) if k == s.target]
    if (not hasattr(net, "sequence") or s.span[0] != 1 or own != [1] or len(mod.table) != 1
            or mod.table[0][3] is not None or net.state_index != s.parents.index(s.target)
            or any(lag not in (0, 1) for lag in s.lags)):
        return None
    nd = plan.event_ndims[s.target]
    d0 = mods[s.init].forward(*[vals[k] if plan.plates[k] != block.plate
                                else vals[k].select(-(plan.event_ndims[k] + 1), 0) for k in s.init_parents])
    first = draw(d0)
    others = []
    for k, lag in zip(s.parents, s.lags):
        if k == s.target:
            continue
        v = vals[k]
        dim = -(plan.event_ndims[k] + 1)
        others.append(v.narrow(dim, 1 - lag, T - 1) if plan.plates[k] == block.plate
                      else _over_steps(plan, k, v, T - 1, block.plate))
    rest = net.sequence(first, others)  # (a constant initial state broadcasts to the batch)
    first = first.expand(*rest.shape[: rest.dim() - nd - 1], *first.shape[first.dim() - nd:])
    return torch.cat((first.unsqueeze(-(nd + 1)), rest), -(nd + 1))


def _looped(m, block, s, vals, T: int, dists, times) -> torch.Tensor:
    """A state that reads its own past, stepped through time on the given values: ``(batch..., T, *event)``."""
    plan, mods = m.plan, m._modules
    nd = plan.event_ndims[s.target]
    fast = _scanned(m, block, s, vals, T)
    if fast is not None:
        return fast
    past: list = [None] * T
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
    return torch.stack(torch.broadcast_tensors(*past), dim=-(nd + 1))  # (a constant initial state broadcasts)


def run_forced(m, block, fp: ForcedPlan, vals, sizes, lps, dists, lengths=None) -> None:
    """Score ``block`` teacher-forced (see the module's docstring); fills ``vals``, ``lps`` and
    ``dists`` as :func:`graphmodel.sequences.run_sequence` does, a vectorized factor's entry
    being one distribution with batch ``(batch..., T)`` and its step mask ``(batch..., T)``."""
    plan, mods = m.plan, m._modules
    T = sizes[block.plate]
    for s, _ in fp.order:  # (an earlier sweep's values, kept step by step, are read whole here)
        for k in (*s.parents, *s.init_parents):
            vals[k] = dense(vals[k])
    times = dists.setdefault("times", {})
    masks = dists.setdefault("masks", {}) if lengths is not None else None
    valid = None if lengths is None else torch.arange(T, device=lengths.device) < lengths.unsqueeze(-1)
    for s, looped in fp.order:
        if looped:
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
