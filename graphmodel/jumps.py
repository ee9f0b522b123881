"""Jumps: a pair of steps ``t₁ < t₂ = t₁ + δ`` per example in a sequence plate (TD-VAE).

A sequence plate with a :class:`graphmodel.variables.Jump` has, in every evaluation, one pair
of steps per example: ``δ`` uniform in ``[1, D]`` (at most the sequence's length less one) and
``t₁`` uniform among the steps that leave ``t₂ = t₁ + δ`` inside the sequence. Factors outside
the plate read its variables at either step (``b[t1]``, ``b[t2]``): the plan gives each such
parent a slot of its own, filled by a :class:`Pick` after the variable's sweep (one ``gather``
along time, no loop over examples). The jump may also name an input variable that receives δ
and observed variables that hold the data at one of the steps (``x2 = x[t2]``, the decoder's
target), filled in with the pair.

The pair travels in the batch under ``pair_key(plate)``, so that every model of one
evaluation reads the same pair: the objective's context draws it once
(:meth:`graphmodel.Runtime.with_pairs`), and a model run on its own draws it where it is not
given. Draws use torch's generator on the values' device: no host read.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .steps import dense
from .variables import Parent, pair_key

__all__ = ["Pick", "draw_pair", "jump_problems", "pair_parent_problems", "step_at", "with_pairs"]


@dataclass(frozen=True)
class Pick:
    """Fill slot ``target`` with step ``t₁`` (``which`` 0) or ``t₂`` (1) of slot ``source``."""

    source: int
    target: int
    plate: str
    which: int


def step_at(value: torch.Tensor, event_ndim: int, index: torch.Tensor) -> torch.Tensor:
    """``value`` ``(batch..., T, *event)`` (a tensor, or a sweep's :class:`~graphmodel.steps.Steps`)
    at step ``index[b]`` of each example ``(batch...)``."""
    value = dense(value)
    dim = value.dim() - event_ndim - 1
    index = index.to(torch.long).reshape(*index.shape, *(1,) * (event_ndim + 1))
    index = index.expand(*value.shape[:dim], 1, *value.shape[dim + 1:])
    return value.gather(dim, index).squeeze(dim)


def draw_pair(size: int, longest: int, lengths, batch, device) -> torch.Tensor:
    """A pair ``(t₁, t₂)`` per example, ``(batch..., 2)`` integers.

    Args:
        size: the plate's number of steps T (every sequence's, without ``lengths``).
        longest: the jump's ``max`` D.
        lengths: each sequence's length ``(batch...)``, or ``None``.
        batch: the batch shape.
        device: where to draw.
    """
    u = torch.rand(*batch, 2, device=device)
    n = torch.full(tuple(batch), size, device=device) if lengths is None else lengths.to(device)
    n = n.to(u.dtype).expand(*batch)
    top = (n - 1).clamp(min=1).clamp(max=longest)  # a sequence of one step gets δ = 1 read at its end
    delta = (u[..., 0] * top).floor().clamp(max=top - 1) + 1
    room = (n - delta).clamp(min=1)  # t₁ ∈ [0, n - δ - 1]
    t1 = (u[..., 1] * room).floor().clamp(max=room - 1)
    t2 = (t1 + delta).clamp(max=(n - 1).clamp(min=0))
    return torch.stack((t1, t2), -1).to(torch.long)


def delta_of(pair: torch.Tensor, dtype=None) -> torch.Tensor:
    """δ = t₂ − t₁ as a number ``(batch..., 1)`` (the value of the jump's ``delta`` variable)."""
    return (pair[..., 1] - pair[..., 0]).unsqueeze(-1).to(dtype or torch.get_default_dtype())


def with_pairs(graph_plates: dict, variables: dict, batch: dict) -> dict:
    """``batch`` with each jump plate's pair, δ and gathered variables added where missing.

    Args:
        graph_plates: plate name → :class:`graphmodel.variables.Plate`.
        variables: variable name → :class:`graphmodel.variables.Variable`.
        batch: name → tensor ``(batch..., [T,] *event)``; not changed.
    """
    out = dict(batch)
    for name, plate in graph_plates.items():
        if plate.jump is None:
            continue
        jump, key = plate.jump, pair_key(name)
        pair = out.get(key)
        if pair is None:
            given = next(((v, len(variables[n].shape)) for n, v in out.items()
                          if n in variables and variables[n].plate == name), None)
            if given is None:
                continue  # nothing of the plate is given: a model drawing the pair itself will
            v, nd = given
            lengths = out.get(f"{name}.length")
            pair = out[key] = draw_pair(v.shape[v.dim() - nd - 1], jump.max, lengths, v.shape[:v.dim() - nd - 1],
                                        v.device)
        if jump.delta is not None and jump.delta not in out:
            out[jump.delta] = delta_of(pair)
        for var, ref in jump.gather:
            p = Parent.parse(ref)
            if var not in out and p.name in out:
                out[var] = step_at(out[p.name], len(variables[p.name].shape), pair[..., int(p.at[1]) - 1])
    return out


# --- rules -----------------------------------------------------------------------------

def filled_by_jumps(graph) -> set[str]:
    """The variables a plate's jump fills in itself (its ``delta`` and ``gather`` targets):
    they take no data of their own and need no binding."""
    out = set()
    for plate in graph.plates.values():
        if plate.jump is not None:
            out.update(name for name, _ in plate.jump.gather)
            if plate.jump.delta is not None:
                out.add(plate.jump.delta)
    return out


def jump_problems(graph) -> list:
    """What is wrong with the jumps of a graph's plates and the models that read them.

    δ's variable is an input outside every plate, shaped ``(1,)``; a gathered variable is
    observed, outside every plate, shaped and supported as the plate's observed variable it
    holds. A model that defines a gathered variable (predicts ``x`` at ``t₂``) may not read
    the plate at that step or later: that would be reading the answer.
    """
    out: list = []
    for plate in graph.plates.values():
        jump = plate.jump
        if jump is None:
            continue
        where = f"plate '{plate.name}': jump"
        if plate.inside is not None:
            out.append(f"{where}: a jump plate cannot be nested, found inside '{plate.inside}'")
        if jump.delta is not None:
            v = graph.variables.get(jump.delta)
            if v is None or v.role != "input" or v.plate is not None or v.shape != (1,) or v.support != "real":
                out.append(f"{where}.delta: expected an input variable (1,) on the reals outside every plate, "
                           f"found {_found(v, jump.delta)}")
        for var, ref in jump.gather:
            out += _gather_problems(graph, plate, var, Parent.parse(ref), f"{where}.gather.{var}")
    out += _leak_problems(graph)
    return out


def _found(v, name) -> str:
    if v is None:
        return f"no variable '{name}'"
    return f"{v.role} '{v.name}' {v.shape} on {v.support}" + (f" in plate '{v.plate}'" if v.plate else "")


def _gather_problems(graph, plate, var: str, src: Parent, where: str) -> list:
    v, s = graph.variables.get(var), graph.variables.get(src.name)
    out = []
    if s is None or s.plate != plate.name or s.role != "observed":
        out.append(f"{where}: '{src.name}' must be an observed variable of plate '{plate.name}', "
                   f"found {_found(s, src.name)}")
    if v is None or v.role != "observed" or v.plate is not None:
        out.append(f"{where}: expected an observed variable outside every plate, found {_found(v, var)}")
    elif s is not None and (v.shape, v.support, v.classes) != (s.shape, s.support, s.classes):
        out.append(f"{where}: '{var}' holds '{src}', so it must have its shape {s.shape} and support "
                   f"{s.support}, found {v.shape} and {v.support}")
    return out


def _leak_problems(graph) -> list:
    gathered = {var: Parent.parse(ref).at for p in graph.plates.values() if p.jump is not None
                for var, ref in p.jump.gather}
    out = []
    for model in graph.models:
        fs = [f for f in graph.factors if f.model == model]
        steps = [gathered[f.target] for f in fs if f.target in gathered]
        if not steps:
            continue
        first = min(steps)
        late = next((p for f in fs for p in f.parents if p.at is not None and p.at >= first), None)
        if late is not None:
            out.append(f"model '{model}' predicts the data at {first} and reads '{late}', which already "
                       f"saw it; read the plate at an earlier step ('{late.name}[t1]')")
    return out


def pair_parent_problems(graph, p: Parent, pv, tplate, bad) -> None:
    """A parent ``b[t1]`` / ``b[t2]``: ``b`` in a sequence plate with a jump, read from outside it."""
    plate = graph.plates.get(pv.plate) if pv.plate is not None else None
    if plate is None or plate.kind != "sequence" or plate.jump is None:
        bad(f"parent '{p}' reads a step of a jump's pair, but '{p.name}' is not in a sequence plate with a "
            "jump; give the plate one (jump=D)")
    elif pv.plate == tplate:
        bad(f"parent '{p}' reads a step of plate '{pv.plate}''s pair from inside the plate; read it from "
            "a variable outside the plate")
