"""An LSTM's state ``(2, ...)`` (h and the cell memory c stacked) and the h that others read.

A (Conv)LSTM cell returns its state whole, one variable; its own next step reads both parts,
while the heads, the attention and the other cores read only h. Selecting h out of the stack
would send each reader's gradient back as a zero-filled ``(2, ...)`` tensor, and add them up
— a pass over twice the state per reader that a hand-written loop, which keeps h itself,
never makes. So :func:`pack` remembers on the stacked value the h it was stacked from, and
:func:`h_of` reads that h where it is there: the same values, the gradient going straight to
h. Anything else (a state from data, a stacked history, a compiled graph) is selected as before.
"""

from __future__ import annotations

import torch


def pack(h: torch.Tensor, c: torch.Tensor, batch, shape) -> torch.Tensor:
    """``(batch..., *shape)``: h and c ``(n, *shape[1:])`` stacked on dim 1 and reshaped; h is kept on it."""
    out = torch.stack((h, c), dim=1).reshape(*batch, *shape)
    if not torch.compiler.is_compiling():  # (a compiled graph fuses the select away itself)
        out._gm_h = h.reshape(*batch, *shape[1:])
    return out


def h_of(state: torch.Tensor, axis: int) -> torch.Tensor:
    """The h part of an LSTM state whose (h, c) dim is ``axis`` (from the right)."""
    h = getattr(state, "_gm_h", None)
    return state.select(axis, 0) if h is None else h
