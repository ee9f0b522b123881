"""PixelVAE against the plain VAE of the same encoder, on the 8x8 digits' 17 grey levels.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/pixelvae_compare.py [--steps N] [--k 100] [--png grid.png]

Trains ``examples/pixelvae.json`` (a PixelCNN++ decoder given z) and ``pixelvae.plain()``
(the same encoder, prior, objective and likelihood family; a decoder reading z alone) with
graphmodel's trainer on the same split, batches and steps, and prints for each the test
ELBO (no free bits), its KL term (how much the model uses z: 0 is a collapsed posterior),
the reconstruction term and the importance-sampled log-likelihood (k samples of q).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

import pixelvae  # noqa: E402

from inference.evaluate import bound, log_likelihood  # noqa: E402
from inference.trainer import Trainer  # noqa: E402


def train(graph, steps: int) -> tuple[Trainer, float]:
    t = Trainer(graph, config={"device": "cpu", "steps": steps, "epochs": None, "checkpoint_every": None,
                               "log_every": steps, "sample_every": None})
    start = time.process_time()
    t.run()
    return t, time.process_time() - start


def scores(t: Trainer, k: int) -> dict:
    """Test ELBO, KL, reconstruction and importance-sampled log p(x), means over the test split."""
    rt, g, test = t.runtime.eval(), t.graph, t.test_data
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = bound(rt, g, test).mean().item()
        z = rt.q.sample(given={"x": test["x"]})
        kl = (rt.q.log_prob({**z, "x": test["x"]}) - rt.p.log_prob_terms({**z, "x": test["x"]})["p(z)"]).mean().item()
        ll = log_likelihood(rt, g, test, k).mean().item()
    return {"elbo": elbo, "kl": kl, "rec": elbo + kl, "ll": ll}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, help="training steps (default: the example file's own)")
    ap.add_argument("--k", type=int, default=100, help="importance samples for log p(x)")
    ap.add_argument("--png", help="save a grid of the PixelVAE's samples here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    steps = args.steps or pixelvae.TRAINING["steps"]
    print(f"8x8 digits, 17 grey levels, {steps} steps, batch {pixelvae.TRAINING['batch_size']}, "
          f"objective {pixelvae.OBJECTIVE}; test means in nats per image (KL: one-sample estimate)")
    print("| model | ELBO | E log p(x|z) | KL(q‖p) | log p(x), k = %d | bits/dim | training (CPU s) |" % args.k)
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, make in (("PixelVAE (examples/pixelvae.json)", pixelvae.build), ("plain VAE (pixelvae.plain())", pixelvae.plain)):
        t, secs = train(make(), steps)
        s = scores(t, args.k)
        print(f"| {name} | {s['elbo']:.2f} | {s['rec']:.2f} | {s['kl']:.2f} | {s['ll']:.2f} | "
              f"{-s['ll'] / 64 / math.log(2):.3f} | {secs:.0f} |", flush=True)
        if args.png and make is pixelvae.build:
            from inference.plots import save_samples

            torch.manual_seed(0)
            with torch.no_grad():
                save_samples({"x": t.runtime.p.sample(64)["x"]}, t.graph, args.png, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
