"""An LSTM's state ``(2, ...)`` (h and the cell memory c stacked) and the parts that others read.

A (Conv)LSTM cell returns its state whole, one variable; its own next step reads both parts,
while the heads, the attention and the other cores read only h. Selecting the parts out of
the stack would send each reader's gradient back as a zero-filled ``(2, ...)`` tensor and add
them up — a pass over twice the state per reader that a hand-written loop, which keeps h and
c apart, never makes. So :func:`pack` remembers on the stacked value the h and c it was
stacked from, and :func:`h_of` and :func:`parts` read those where they are there: the same
values, the gradients going straight to h and c. Anything else (a state from data, a stacked
history) is selected as before.

Under ``torch.compile`` this matters more than in eager mode: Dynamo traces the attribute
like any other Python state, so when every reader takes the kept parts the stack itself is
dead code and Inductor drops it. Otherwise the stacked buffer fixes h and c to a contiguous
``(n, 2, C, H, W)`` layout while Inductor runs the gates' convolutions channels-last, and
every step's gate kernels transpose between the two (GQN's cores: most of the gap between
its compiled step and the hand-written one's, ``benchmarks/RESULTS.md``).
"""

from __future__ import annotations

import torch


def pack(h: torch.Tensor, c: torch.Tensor, batch, shape) -> torch.Tensor:
    """``(batch..., *shape)``: h and c ``(n, *shape[1:])`` stacked on dim 1 and reshaped; both are kept on it."""
    out = torch.stack((h, c), dim=1).reshape(*batch, *shape)
    out._gm_hc = (h.reshape(*batch, *shape[1:]), c.reshape(*batch, *shape[1:]))
    return out


def h_of(state: torch.Tensor, axis: int) -> torch.Tensor:
    """The h part of an LSTM state whose (h, c) dim is ``axis`` (from the right)."""
    hc = getattr(state, "_gm_hc", None)
    return state.select(axis, 0) if hc is None else hc[0]


def parts(state: torch.Tensor, batch, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(h, c)`` of ``flat`` ``(n, 2, ...)``, the state ``(batch'..., 2, ...)`` broadcast to
    ``batch`` and flattened: the parts kept on ``state`` where it has them, else unbound
    (one backward node, where two selects would zero-fill the whole state twice)."""
    hc = getattr(state, "_gm_hc", None)
    if hc is None:
        return flat.unbind(1)
    rest = flat.shape[2:]
    return tuple(p.expand(*batch, *rest).reshape(-1, *rest) for p in hc)
