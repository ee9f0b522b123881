"""The ``ring_dot`` dataset: a dot moving round a ring of pixels at a speed of its own.

A toy where jumpy prediction matters (TD-VAE, ``examples/tdvae.json``): each sequence is a
ring of ``pixels`` binary pixels with a dot ``width`` pixels wide, starting at a random pixel and
moving ``speed`` pixels a step (a speed drawn per sequence from ``±1 … ±max_speed``). Two
frames tell where the dot is and how it moves; from them the frame δ steps ahead is known,
the dot at ``(start + speed·(t + δ)) mod pixels`` — the same for every sequence only by chance.
(A dot several pixels wide makes knowing where it is worth more than its code costs: with one
pixel lit, independent pixels at their mean cost only about a nat more than the position's
entropy, and a VAE may well settle there.)
"""

from __future__ import annotations

import torch

__all__ = ["FIELDS", "ring_dot"]

#: the fields ``ring_dot`` gives
FIELDS = ("frames", "speed", "start")


def ring_dot(n: int = 2000, steps: int = 20, pixels: int = 32, width: int = 3, max_speed: int = 2,
             seed: int = 0) -> dict:
    """Sequences of a dot moving round a ring of pixels.

    Args:
        n: number of sequences.
        steps: frames per sequence.
        pixels: pixels round the ring.
        width: the dot's width in pixels (at most ``pixels``).
        max_speed: the speed is drawn uniformly from ``-max_speed … -1, 1 … max_speed``.
        seed: the generator's seed.

    Returns:
        ``frames`` (n, steps, pixels) of 0/1 with ``width`` 1s per frame, ``speed`` (n,) and
        ``start`` (n,) integers (the dot's first pixel).

    Example:
        >>> d = ring_dot(n=3, steps=5, pixels=8, width=2)
        >>> tuple(d["frames"].shape), d["frames"].sum(-1).unique().tolist()
        ((3, 5, 8), [2.0])
    """
    if not 1 <= width <= pixels:
        raise ValueError(f"ring_dot: width must be in [1, pixels = {pixels}], found {width}")
    g = torch.Generator().manual_seed(int(seed))
    start = torch.randint(0, pixels, (n,), generator=g)
    magnitude = torch.randint(1, max_speed + 1, (n,), generator=g)
    speed = magnitude * (2 * torch.randint(0, 2, (n,), generator=g) - 1)
    where = (start[:, None] + speed[:, None] * torch.arange(steps)) % pixels  # (n, steps)
    lit = (where[..., None] + torch.arange(width)) % pixels  # (n, steps, width)
    frames = torch.zeros(n, steps, pixels).scatter_(-1, lit, 1.0)
    return {"frames": frames, "speed": speed, "start": start}
