"""Train ``examples/wgan.json`` as the file says (its objective one line of formula) and count
the ring's modes its samples cover: the numbers in docs/RESULTS.md.

    PYTHONPATH=. python benchmarks/wgan_modes.py
"""

from __future__ import annotations

import math
import time

import torch

import graphmodel as gm
from inference.trainer import Trainer


def coverage(x: torch.Tensor, radius: float) -> tuple[int, float]:
    """(modes holding at least 1/5 of their share of samples within ``radius``, fraction within it)."""
    angle = torch.arange(8) * (2 * math.pi / 8)
    centers = 2.0 * torch.stack([angle.cos(), angle.sin()], -1)
    dist, mode = torch.cdist(x, centers).min(1)
    near = dist < radius
    counts = torch.bincount(mode[near], minlength=8)
    return int((counts >= 0.2 * len(x) / 8).sum()), float(near.float().mean())


def main() -> None:
    torch.set_num_threads(1)
    t0 = time.time()
    t = Trainer(gm.load("examples/wgan.json"), config={"device": "cpu", "checkpoint_every": None})
    t.run()
    torch.manual_seed(1)
    x = t.sample(2000)["x"]
    for r in (0.25, 0.5):
        modes, near = coverage(x, r)
        print(f"radius {r}: modes with >= 1/5 of their share {modes}/8, samples near a mode {near:.3f}")
    print(f"wall {time.time() - t0:.0f} s, steps {t.step}")


if __name__ == "__main__":
    main()
