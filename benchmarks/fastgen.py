"""Naive against cached sampling of the autoregressive examples' networks, in one run.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/fastgen.py [--batches 16 256] [--prefix 56]

Rows: the ``pixelcnn`` example's gated PixelCNN and the ``made_mnist`` example's MADE (its
MaskedMLP(500), in the natural order: one order, so both paths fill every example in the
same order), each sampling a batch of 16 and of 256 binarized 28×28 images. *Naive* runs
the whole network once per pixel (784 passes; ``graphmodel.fastgen.naive``); *cached* is
what ``sample`` does by default (``graphmodel/fastgen.py``). Times are this process's CPU
seconds (``time.process_time``, one thread), which a shared machine's load changes less
than the wall clock. A naive run longer than ``--prefix`` pixels' worth is timed on its
first ``--prefix`` pixels and scaled by ``784 / prefix``: every naive step is the same full
pass, so the time per pixel is constant (the row says so). Each row checks that the cached
sample equals the naive one on every pixel that the naive run drew (the same seed).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import graphmodel as gm  # noqa: E402
from graphmodel import fastgen  # noqa: E402
from graphmodel.factors import Autoregressive  # noqa: E402


def networks(side: int) -> dict:
    """``{name: factor module}`` for the two examples' networks on ``side``×``side`` images."""
    out = {}
    for name, file, shape in (("PixelCNN (`pixelcnn`)", "pixelcnn.json", (1, side, side)),
                              ("MADE (`made_mnist`, natural order)", "made_mnist.json", (side * side,))):
        g = gm.load(ROOT / "examples" / file)
        g.variables["x"] = dataclasses.replace(g.variables["x"], shape=shape)
        g.factors[0] = dataclasses.replace(g.factors[0], autoregressive=Autoregressive("natural"))
        g._changed()
        torch.manual_seed(0)
        out[name] = g.build().eval().factor_modules[0]
    return out


def timed(module, batch: int, steps: int | None, naive: bool, seed: int = 0):
    """``(CPU seconds, sample)`` of filling ``batch`` images (only their first ``steps`` pixels)."""
    d = module()
    x = torch.zeros(batch, *module.event_shape)
    order = module.orders[0] if steps is None else module.orders[0][:steps]
    torch.manual_seed(seed)
    start = time.process_time()
    with torch.no_grad(), (fastgen.naive() if naive else contextlib.nullcontext()):
        x = d._fill(x, None, order, None, ())
    return time.process_time() - start, x


def rows(side: int, batches, prefix: int):
    """Yield one table row per network and batch size."""
    for name, module in networks(side).items():
        for batch in batches:
            cached, a = timed(module, batch, None, False)
            pass_cost = module.dim * batch  # (rough: a pass's work grows with the batch)
            steps = module.dim if pass_cost <= 16 * 784 else min(prefix, module.dim)
            naive, b = timed(module, batch, steps, True)
            drawn = a.reshape(batch, -1)[:, :steps]
            same = torch.equal(drawn, b.reshape(batch, -1)[:, :steps])
            naive_total = naive * module.dim / steps
            how = "all pixels" if steps == module.dim else f"first {steps} pixels × {module.dim / steps:g}"
            yield (f"| {name} | {batch} | {naive_total:.2f} ({how}) | {cached:.3f} | "
                   f"{naive_total / cached:.0f}× | {'yes' if same else 'NO'} |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 256])
    ap.add_argument("--prefix", type=int, default=56, help="pixels a long naive run is timed on")
    ap.add_argument("--side", type=int, default=28, help="image side (28: the examples' own)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"sampling {args.side}×{args.side} binary images, CPU seconds, torch {torch.__version__}, one thread")
    print("| network | batch | naive (s) | cached (s) | speed-up | same samples |\n| --- | --- | --- | --- | --- | --- |")
    for row in rows(args.side, args.batches, args.prefix):
        print(row, flush=True)


if __name__ == "__main__":
    main()
