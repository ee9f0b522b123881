"""Shape arithmetic for the hot path."""

from __future__ import annotations

import torch


def broadcast(*shapes) -> torch.Size:
    """``torch.broadcast_shapes`` for a step's few short shapes.

    torch's version goes through its reference implementation (tens of microseconds a call);
    this is the plain rule. Shapes that do not broadcast get torch's own error.
    """
    n = max(len(s) for s in shapes)
    out = [1] * n
    for s in shapes:
        for k, size in enumerate(s, n - len(s)):
            if size != 1:
                if out[k] == 1:
                    out[k] = size
                elif out[k] != size:
                    return torch.broadcast_shapes(*shapes)  # raises, naming the shapes
    return torch.Size(out)
