"""TD-VAE: graphmodel's ``examples/tdvae.json`` against the same model written by hand
(``benchmarks/tdvae_hand.py``), on the built-in ``ring_dot``.

    OMP_NUM_THREADS=1 python benchmarks/tdvae_compare.py --steps 3000 --seed 0
    OMP_NUM_THREADS=1 python benchmarks/tdvae_compare.py --time 10   # step time, interleaved

Trains graphmodel through its own ``Trainer`` (the file's settings, ``steps`` and ``seed``
overridden) and the hand-written model on the same training split with the same batch size,
Adam and learning rate (its own seeded batches and pairs), then reports on the test split:
the bound's terms (one pair per sequence, averaged over ``--pairs`` draws; nats per
sequence) and the mean squared error per pixel of jumpy rollouts from the belief at step
``--start`` against the sequence's own future frames — from its own belief, from another
sequence's belief (the next one in the test split) and the test frames' mean — for jumps of
1, 2 and 4 steps (each rollout the mean decoded frame of ``--draws`` draws). The bound is
printed as the objective (higher is better) for both. ``--time ROUNDS`` times a training step
(loss, backward, Adam; batch 64) of each, interleaved round by round, in CPU time on one
thread, and prints the median ratio graphmodel / by hand.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "examples"))
sys.path.insert(0, str(HERE))

import tdvae  # noqa: E402  (examples/tdvae.py)
import tdvae_hand  # noqa: E402

from graphmodel.jumps import draw_pair  # noqa: E402
from inference import Trainer  # noqa: E402
from inference.objectives.kinds import derive  # noqa: E402
from inference.rollout import beliefs, rollout  # noqa: E402

JUMPS = {"1": [1, 1, 1, 1], "2": [2, 2, 2, 2], "4": [4, 4]}


def errors(roll, x: torch.Tensor, start: int) -> dict:
    """Rollout errors by jump length: ``roll(jumps, other)`` gives ``(batch, len(jumps), pixels)``."""
    out = {}
    mean = x.mean((0, 1))
    for name, jumps in JUMPS.items():
        steps = torch.tensor(jumps).cumsum(0) + start
        truth = x[:, steps]
        out[name] = {"own": float(((roll(jumps, False) - truth) ** 2).mean()),
                     "other": float(((roll(jumps, True) - truth) ** 2).mean()),
                     "mean": float(((mean - truth) ** 2).mean())}
    return out


def train_graphmodel(steps: int, seed: int):
    g = tdvae.build()
    g.training.update(steps=steps, seed=seed)
    trainer = Trainer(g)
    t0 = time.perf_counter()
    trainer.run()
    return g, trainer, time.perf_counter() - t0


def graphmodel_report(g, trainer, x: torch.Tensor, args) -> dict:
    rt, elbo = trainer.runtime.eval(), derive(g)
    terms: dict = {}
    with torch.no_grad():
        for _ in range(args.pairs):
            value = elbo(rt, {"x": x})
            for k, v in [("bound", float(value.total)), *((k, float(v)) for k, v in value.terms.items())]:
                terms[k] = terms.get(k, 0.0) + v / args.pairs
        b = beliefs(g, rt, {"x": x})

    def roll(jumps, other):
        return rollout(g, rt, {"x": x}, args.start, jumps, args.draws, belief=b.roll(1, 0) if other else b).mean(0)

    return {"terms": terms, "errors": errors(roll, x, args.start)}


def train_hand(train: torch.Tensor, steps: int, seed: int, batch_size: int, lr: float, jump: int):
    torch.manual_seed(seed)
    model = tdvae_hand.TDVAE(train.shape[-1])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    order, at = torch.randperm(len(train), generator=g), 0
    t0 = time.perf_counter()
    for _ in range(steps):
        if at + batch_size > len(order):
            order, at = torch.randperm(len(train), generator=g), 0
        x = train[order[at:at + batch_size]]
        at += batch_size
        loss, _ = model.loss(x, draw_pair(x.shape[1], jump, None, (len(x),), "cpu"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model, time.perf_counter() - t0


def hand_report(model, x: torch.Tensor, args) -> dict:
    terms: dict = {}
    with torch.no_grad():
        for _ in range(args.pairs):
            loss, parts = model.loss(x, draw_pair(x.shape[1], tdvae.JUMP, None, (len(x),), "cpu"))
            for k, v in [("bound", -float(loss)), *parts.items()]:
                terms[k] = terms.get(k, 0.0) + v / args.pairs
        b = model.beliefs(x)

    def roll(jumps, other):
        return model.rollout(b.roll(1, 0) if other else b, args.start, jumps, args.draws).mean(0)

    return {"terms": terms, "errors": errors(roll, x, args.start)}


def time_steps(rounds: int, steps: int = 20) -> dict:
    """CPU seconds per training step of each, interleaved; the median ratio over rounds."""
    g = tdvae.build()
    trainer = Trainer(g)
    x = trainer.train_data["x"][:64]
    rt, elbo = trainer.runtime, derive(g)
    hand = tdvae_hand.TDVAE(x.shape[-1])
    opts = {"gm": torch.optim.Adam(rt.parameters(), lr=1e-3), "hand": torch.optim.Adam(hand.parameters(), lr=1e-3)}
    losses = {"gm": lambda: -elbo(rt, {"x": x}).total,
              "hand": lambda: hand.loss(x, draw_pair(x.shape[1], tdvae.JUMP, None, (len(x),), "cpu"))[0]}
    times: dict = {"gm": [], "hand": []}
    for r in range(rounds + 1):
        for name in (("gm", "hand") if r % 2 else ("hand", "gm")):
            t0 = time.process_time()
            for _ in range(steps):
                loss = losses[name]()
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()
            if r:  # (round 0 warms up)
                times[name].append((time.process_time() - t0) / steps)
    ratios = sorted(a / b for a, b in zip(times["gm"], times["hand"]))
    return {"gm": statistics.median(times["gm"]), "hand": statistics.median(times["hand"]),
            "ratio": ratios[len(ratios) // 2]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=6)
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--draws", type=int, default=8)
    ap.add_argument("--time", type=int, default=0, metavar="ROUNDS")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.time:
        t = time_steps(args.time)
        print(f"step (CPU ms): graphmodel {1e3 * t['gm']:.2f}, by hand {1e3 * t['hand']:.2f}, "
              f"median ratio {t['ratio']:.2f}")
        return 0
    g, trainer, gm_time = train_graphmodel(args.steps, args.seed)
    test = trainer.test_data["x"]
    torch.manual_seed(args.seed + 1)
    gm = graphmodel_report(g, trainer, test, args)
    settings = g.training
    model, hand_time = train_hand(trainer.train_data["x"], args.steps, args.seed, settings["batch_size"],
                                  settings["lr"], tdvae.JUMP)
    torch.manual_seed(args.seed + 1)
    hand = hand_report(model, test, args)
    print(f"{args.steps} steps, seed {args.seed}; {len(test)} test sequences; parameters: graphmodel "
          f"{sum(p.numel() for p in trainer.runtime.parameters())}, by hand {tdvae_hand.parameters(model)}")
    print(f"training time: graphmodel {gm_time:.0f} s, by hand {hand_time:.0f} s")
    for name, report in (("graphmodel", gm), ("by hand", hand)):
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in report["terms"].items()))
        for jump, e in report["errors"].items():
            print(f"  jumps of {jump}: own {e['own']:.4f}, other {e['other']:.4f}, mean {e['mean']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
