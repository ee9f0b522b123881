"""The ``ring_dot`` dataset: a dot moving round a ring of pixels at a speed of its own.

A toy where jumpy prediction matters (TD-VAE, ``examples/tdvae.json``): each sequence is a
ring of ``pixels`` binary pixels, one of them lit, the dot starting at a random pixel and
moving ``speed`` pixels a step (a speed drawn per sequence from ``±1 … ±max_speed``). Two
frames tell where the dot is and how it moves; from them the frame δ steps ahead is one
pixel, ``(start + speed·(t + δ)) mod pixels`` — the same for every sequence only by chance.
"""

from __future__ import annotations

import torch

__all__ = ["FIELDS", "ring_dot"]

#: the fields ``ring_dot`` gives
FIELDS = ("frames", "speed", "start")


def ring_dot(n: int = 2000, steps: int = 20, pixels: int = 16, max_speed: int = 2, seed: int = 0) -> dict:
    """Sequences of a dot moving round a ring of pixels.

    Args:
        n: number of sequences.
        steps: frames per sequence.
        pixels: pixels round the ring.
        max_speed: the speed is drawn uniformly from ``-max_speed … -1, 1 … max_speed``.
        seed: the generator's seed.

    Returns:
        ``frames`` (n, steps, pixels) of 0/1 with one 1 per frame, ``speed`` (n,) and
        ``start`` (n,) integers.

    Example:
        >>> d = ring_dot(n=3, steps=5, pixels=8)
        >>> tuple(d["frames"].shape), d["frames"].sum(-1).unique().tolist()
        ((3, 5, 8), [1.0])
    """
    g = torch.Generator().manual_seed(int(seed))
    start = torch.randint(0, pixels, (n,), generator=g)
    magnitude = torch.randint(1, max_speed + 1, (n,), generator=g)
    speed = magnitude * (2 * torch.randint(0, 2, (n,), generator=g) - 1)
    where = (start[:, None] + speed[:, None] * torch.arange(steps)) % pixels
    frames = torch.nn.functional.one_hot(where, pixels).to(torch.get_default_dtype())
    return {"frames": frames, "speed": speed, "start": start}
