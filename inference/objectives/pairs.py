"""``sum_t`` over a jump's pairs: a term read at one pair of steps per example (TD-VAE's
``t₁ → t₂``), made an estimate of its sum over every first step t₁.

A jump plate (:mod:`graphmodel.jumps`) draws one pair ``(t₁, t₁ + δ)`` per example. A term whose
factors read that pair (a parent ``b[t1]``/``b[t2]``, the jump's δ or a gathered ``x2 = x[t2]``)
is one draw of ``E_{t₁}[term]`` given δ; times the number of first steps that δ leaves,
``L − δ``, it is an unbiased estimate of ``Σ_{t₁} term(t₁, t₁ + δ)`` — the paper's sum over
time, estimated from the pair each evaluation draws.
"""

from __future__ import annotations

import torch

from graphmodel import GraphModelError
from graphmodel.render import formula as text
from graphmodel.variables import length_key, pair_key

from ..losses import MUL, Loss

__all__ = ["OverPairs", "pair_factors"]


def pair_factors(graph, plate: str) -> set:
    """The labels of the factors that read ``plate``'s pair: a parent at ``t1``/``t2``, the
    jump's δ or a gathered variable (as a parent or as the target)."""
    jump = graph.plates[plate].jump
    if jump is None:
        return set()
    names = {jump.delta, *(n for n, _ in jump.gather)} - {None}
    out = set()
    for f in graph.factors:
        if f.target in names or any((p.at is not None and graph.variables[p.name].plate == plate) or p.name in names
                                    for p in f.parents if p.name in graph.variables):
            out.add(f"{f.model}({f.label})")
    return out


class OverPairs(Loss):
    """``Σ_{t₁} term``: ``term`` (per example, at the evaluation's pair) times ``L − δ``."""

    prec = MUL

    def __init__(self, a: Loss, plate: str, source: str, event_ndim: int):
        self.a, self.plate, self.source, self.event_ndim = a, plate, source, event_ndim

    def children(self):
        return (self.a,)

    def _eval(self, ctx):
        v = self.a._eval(ctx)
        pair = ctx.batch.get(pair_key(self.plate))
        if pair is None:
            raise GraphModelError(f"Σ over the pairs of plate '{self.plate}': the batch gives no '{self.source}' "
                                  "to draw them from")
        lengths = ctx.batch.get(length_key(self.plate))
        if lengths is None:
            x = ctx.batch[self.source]
            lengths = torch.full(pair.shape[:-1], x.shape[x.dim() - self.event_ndim - 1], device=pair.device)
        count = (lengths - (pair[..., 1] - pair[..., 0])).clamp(min=1).to(v.dtype if torch.is_tensor(v) else
                                                                          torch.get_default_dtype())
        return v * count

    def _fmt(self, latex):
        return text.pair_sum(self.a, latex)


def over_pairs(graph, term, plate: str, labels) -> OverPairs:
    """``term`` summed over the first steps of ``plate``'s pairs, if every factor it reads reads the pair."""
    reads = pair_factors(graph, plate)
    off = [lab for lab in labels if lab not in reads]
    if off:
        raise GraphModelError(f"sum_t: {off[0]} does not read the pair of plate '{plate}' (its jump); "
                              "a term over a jump reads only factors of the pair")
    source = next(n for n, v in graph.variables.items() if v.plate == plate and v.role == "observed")
    return OverPairs(term, plate, source, len(graph.variables[source].shape))
