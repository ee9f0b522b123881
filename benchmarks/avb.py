"""AVB on the four-point toy: the example's MLP adversary, the built-in residual adversary,
and the same residual AVB written by hand in PyTorch, at the example file's settings.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/avb.py                  # seeds 0, 1, 2
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/avb.py --seeds 0 --variants residual,hand

Variants (every one: ``examples/avb.json``'s encoder ``z = f(x, ε)`` MLP 64-64, Bernoulli
decoder MLP 64, its data, batch 256, Adam at lr 3e-3 on a cosine schedule, 4,000 steps, one
adversary update then one model update per step):

- ``file``: the example as it is (adversary ``MLP 128-128``, leaky ReLU, PyTorch's init);
- ``residual``: the built-in ``ResidualMLP`` adversary of the AVB paper's toy experiment
  (a first layer, residual blocks whose last layer starts at zero, ELU, Glorot init, plus
  ``½‖z‖²``), with the width and number of blocks given by ``--width`` and ``--blocks``;
- ``hand``: the ``residual`` variant written here in plain PyTorch (its own modules, loop and
  losses) on the same training points.

Measures, as in ``docs/RESULTS.md``: ``log p(x)`` averaged over the four points, importance-
sampled with the prior as the proposal (200,000 draws, seed 2), and the posterior separation
(5-nearest-neighbour accuracy of 1,000 fresh ``z ~ q(z|x)`` per point against another 1,000).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import graphmodel as gm  # noqa: E402
from inference.evaluate import prior_log_likelihood  # noqa: E402
from inference.trainer import Trainer  # noqa: E402

DRAWS = 200_000


def graph(variant: str, width: int, blocks: int) -> gm.Graph:
    g = gm.load(ROOT / "examples" / "avb.json")
    if variant == "residual":
        g.objective = {**g.objective, "adversary": gm.ResidualMLP(width, blocks, init="glorot", square="z").to_dict()}
    return g


def separation(sample_z, n: int = 1000) -> float:
    """Accuracy of 5-nearest-neighbour classification of fresh z by which point x they encode."""
    xs, label = torch.eye(4).repeat_interleave(n, 0), torch.arange(4).repeat_interleave(n)
    ref, new = sample_z(xs), sample_z(xs)
    votes = F.one_hot(label[torch.cdist(new, ref).topk(5, largest=False).indices], 4).sum(1)
    return float((votes.argmax(1) == label).float().mean())


# --- the hand-written AVB -------------------------------------------------------------------

class Adversary(nn.Module):
    """T(x, z): a first layer, ``blocks`` residual blocks (last layer zero at the start), ELU,
    Glorot-uniform weights and zero biases, plus ½‖z‖²."""

    def __init__(self, width: int, blocks: int):
        super().__init__()
        self.first = nn.Linear(6, width)
        self.blocks = nn.ModuleList(nn.ModuleList([nn.Linear(width, width), nn.Linear(width, width)])
                                    for _ in range(blocks))
        self.out = nn.Linear(width, 1)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for _, last in self.blocks:
            nn.init.zeros_(last.weight)

    def forward(self, x, z):
        h = F.elu(self.first(torch.cat([x, z], -1)))
        for inner, last in self.blocks:
            h = F.elu(h + last(F.elu(inner(h))))
        return self.out(h).squeeze(-1) + 0.5 * z.square().sum(-1)


def train_hand(points: torch.Tensor, steps: int, batch: int, lr: float, width: int, blocks: int, seed: int):
    """The residual AVB in plain PyTorch; returns ``(encoder, decoder)``."""
    torch.manual_seed(seed)
    enc = nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    dec = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 4))
    adv = Adversary(width, blocks)
    opt_t = torch.optim.Adam(adv.parameters(), lr=lr)
    opt_m = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=lr)
    sched = [torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=steps) for o in (opt_t, opt_m)]
    per_epoch = max(1, len(points) // batch)
    for step in range(steps):
        epoch, pos = divmod(step, per_epoch)
        if pos == 0:
            perm = torch.randperm(len(points))
        x = points[perm[pos * batch:(pos + 1) * batch]]
        with torch.no_grad():
            z_q = enc(torch.cat([x, torch.randn(len(x), 2)], -1))
        loss_t = F.softplus(-adv(x, z_q)).mean() + F.softplus(adv(x, torch.randn(len(x), 2))).mean()
        opt_t.zero_grad(set_to_none=True)
        loss_t.backward()
        opt_t.step()
        z = enc(torch.cat([x, torch.randn(len(x), 2)], -1))
        rec = -F.binary_cross_entropy_with_logits(dec(z), x, reduction="none").sum(-1)
        loss_m = -(rec - adv(x, z)).mean()
        opt_m.zero_grad(set_to_none=True)
        loss_m.backward()
        opt_m.step()
        for s in sched:
            s.step()
    return enc, dec


@torch.no_grad()
def hand_log_likelihood(dec) -> float:
    """``log 1/K Σ_k p(x|z_k)``, ``z_k ~ N(0, I)``, averaged over the four points."""
    torch.manual_seed(2)
    x = torch.eye(4)
    total = torch.full((4,), -math.inf)
    for start in range(0, DRAWS, 8192):
        z = torch.randn(min(8192, DRAWS - start), 1, 2)
        lp = -F.binary_cross_entropy_with_logits(dec(z).expand(-1, 4, 4), x.expand(len(z), 4, 4),
                                                 reduction="none").sum(-1)
        total = torch.logaddexp(total, torch.logsumexp(lp, 0))
    return (total - math.log(DRAWS)).mean().item()


# --- one run --------------------------------------------------------------------------------

def run(variant: str, seed: int, steps: int | None, width: int, blocks: int) -> dict:
    start = time.process_time()
    g = graph("file" if variant == "hand" else variant, width, blocks)
    config = {"device": "cpu", "checkpoint_every": None, "seed": seed, **({"steps": steps} if steps else {})}
    t = Trainer(g, config=config)
    if variant == "hand":
        cfg = t.config
        enc, dec = train_hand(t.train_data["x"], cfg.steps, cfg.batch_size, cfg.lr, width, blocks, seed)
        ll = hand_log_likelihood(dec)
        with torch.no_grad():
            sep = separation(lambda xs: enc(torch.cat([xs, torch.randn(len(xs), 2)], -1)))
    else:
        t.run()
        torch.manual_seed(2)
        with torch.no_grad():
            ll = prior_log_likelihood(t.runtime, g, {"x": torch.eye(4)}, k=DRAWS).mean().item()
            sep = separation(lambda xs: t.runtime.model("q").sample(given={"x": xs})["z"])
    return {"variant": variant, "seed": seed, "log p(x)": ll, "separation": sep,
            "cpu s": time.process_time() - start}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default="file,residual,hand")
    ap.add_argument("--steps", type=int, help="training steps (default: the file's 4,000)")
    ap.add_argument("--width", type=int, default=128, help="the residual adversary's width")
    ap.add_argument("--blocks", type=int, default=2, help="the residual adversary's blocks")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    print(f"residual adversary: width {args.width}, {args.blocks} blocks; log p(x) from {DRAWS:,} prior draws")
    print("| variant | seed | log p(x) | posterior separation | CPU s |\n| --- | --- | --- | --- | --- |", flush=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        for variant in args.variants.split(","):
            r = run(variant, seed, args.steps, args.width, args.blocks)
            print(f"| {variant} | {seed} | {r['log p(x)']:.3f} | {r['separation']:.3f} | {r['cpu s']:.0f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
