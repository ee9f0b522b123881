"""Dynamic against fixed binarization: one VAE on mnist5k, the same budget, the same test images.

Trains the VAE below twice, with the data section's ``"binarize": "dynamic"`` (binary pixels
drawn afresh from the grey levels at every batch) and ``"fixed"`` (drawn once), and prints the
ELBO and the importance-sampled log-likelihood on the training split (as drawn once) and on
mnist5k's own test split. Both runs score the same test images: the test split is drawn once
from its own seed whichever mode trains.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/binarize.py --steps 6000
"""

from __future__ import annotations

import argparse
import time

import torch

import graphmodel as gm
from inference.datasection import for_scoring
from inference.evaluate import bound, log_likelihood
from inference.trainer import Trainer


def vae(mode: str, steps: int, hidden: int, latent: int) -> gm.Graph:
    """A one-hidden-layer VAE with Bernoulli pixels on mnist5k."""
    x = gm.Variable("x", (784,), support="binary", role="observed")
    z = gm.Variable("z", (latent,))
    return gm.Graph(f"vae_{mode}",
                    p=gm.Bernoulli(x, given=z, net=gm.MLP(hidden)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(hidden)),
                    data={"dataset": "mnist5k", "bind": {"x": "image"}, "binarize": mode},
                    training={"steps": steps, "batch_size": 100, "lr": 1e-3, "log_every": 500,
                              "device": "cpu", "checkpoint_every": None, "seed": 0})


def scores(t: Trainer, data: dict, k: int) -> tuple[float, float]:
    """Mean ELBO and importance-sampled log p(x) over ``data``, in nats."""
    t.runtime.eval()
    torch.manual_seed(1)
    return (bound(t.runtime, t.graph, data).mean().item(),
            log_likelihood(t.runtime, t.graph, data, k=k).mean().item())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--latent", type=int, default=16)
    ap.add_argument("--k", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"VAE 784-{args.hidden}-{args.latent}, batch 100, Adam 1e-3, {args.steps} steps, k={args.k}")
    for mode in ("dynamic", "fixed"):
        start = time.perf_counter()
        t = Trainer(vae(mode, args.steps, args.hidden, args.latent))
        t.run()
        seconds = time.perf_counter() - start
        train = for_scoring(t.train_data, ("x",) if mode == "dynamic" else (), 0)  # grey levels drawn once
        (tr_elbo, tr_ll), (te_elbo, te_ll) = scores(t, train, args.k), scores(t, t.test_data, args.k)
        print(f"{mode:8s} train ELBO {tr_elbo:8.2f} log p(x) {tr_ll:8.2f} | "
              f"test ELBO {te_elbo:8.2f} log p(x) {te_ll:8.2f} | {seconds:.0f} s")


if __name__ == "__main__":
    main()
