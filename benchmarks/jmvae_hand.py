"""JMVAE-kl written by hand in PyTorch beside ``examples/jmvae.json``: the same networks, data
split, optimizer, schedule and steps, measured by the same code (``multimodal.score``).

    PYTHONPATH=. python benchmarks/jmvae_hand.py [--steps N] [--seed S]
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from torch import nn
from torch.distributions import Bernoulli, Normal, OneHotCategorical, kl_divergence

import graphmodel as gm
from benchmarks.multimodal import score
from inference.trainer import Trainer


def _mlp(n_in: int, n_out: int, hidden: int = 128) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


class HandJMVAE(nn.Module):
    """p(x|z)p(w|z)p(z), q(z|x,w), qx(z|x), qw(z|w): one-hidden-layer ReLU MLPs of 128, σ = exp(raw)."""

    def __init__(self, x_dim: int = 64, w_dim: int = 10, z_dim: int = 8):
        super().__init__()
        self.q, self.qx, self.qw = _mlp(x_dim + w_dim, 2 * z_dim), _mlp(x_dim, 2 * z_dim), _mlp(w_dim, 2 * z_dim)
        self.px, self.pw = _mlp(z_dim, x_dim), _mlp(z_dim, w_dim)

    @staticmethod
    def normal(raw: torch.Tensor) -> Normal:
        loc, log_scale = raw.chunk(2, -1)
        return Normal(loc, log_scale.exp())

    def loss(self, x: torch.Tensor, w: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        """−(ELBO − α·(KL[q‖qx] + KL[q‖qw])), the batch mean."""
        q = self.normal(self.q(torch.cat([x, w], -1)))
        z = q.rsample()
        rec = Bernoulli(logits=self.px(z)).log_prob(x).sum(-1) + OneHotCategorical(logits=self.pw(z)).log_prob(w)
        kl = kl_divergence(q, Normal(torch.zeros_like(z), torch.ones_like(z))).sum(-1)
        unimodal = (kl_divergence(q, self.normal(self.qx(x))) + kl_divergence(q, self.normal(self.qw(w)))).sum(-1)
        return -(rec - kl - alpha * unimodal).mean()


def fit(train: dict, steps: int, seed: int, batch: int = 64, lr: float = 0.003) -> HandJMVAE:
    """Adam on a cosine schedule to 0, batches from a seeded permutation per epoch."""
    torch.manual_seed(seed)
    model = HandJMVAE()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    n = len(train["x"])
    order, at = torch.randperm(n), 0
    for _ in range(steps):
        if at + batch > n:
            order, at = torch.randperm(n), 0
        idx = order[at:at + batch]
        at += batch
        opt.zero_grad(set_to_none=True)
        model.loss(train["x"][idx], train["w"][idx]).backward()
        opt.step()
        sched.step()
    return model


@torch.no_grad()
def measure(model: HandJMVAE, train: dict, test: dict, seed: int) -> tuple[float, float]:
    def generate(w):
        return torch.sigmoid(model.px(model.normal(model.qw(w)).sample()))

    def infer(x):
        return torch.softmax(model.pw(model.normal(model.qx(x)).sample()), -1)

    return score(generate, infer, train, test, seed=seed)


def main(argv: list | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    # the example's own data split (the trainer's, seeded), trained on by hand
    split = Trainer(gm.load("examples/jmvae.json"), config={"device": "cpu", "checkpoint_every": None, "seed": args.seed})
    model = fit(split.train_data, args.steps, args.seed)
    gen, inf = measure(model, split.train_data, split.test_data, args.seed)
    print(f"jmvae by hand: images from the label recognized {gen:.3f}, label from the image {inf:.3f} "
          f"(seed {args.seed}, {args.steps} steps, {time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
