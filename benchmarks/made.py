"""MADE on the binarized 8x8 digits: graphmodel against a hand-written PyTorch MADE.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/made.py [--steps N] [--hidden 500] [--png grid.png]

Rows (exact test NLL in nats, mean over the 359 held-out digits of ``examples/made.json``'s
split): graphmodel's MADE trained in the natural order; graphmodel's order-agnostic MADE
(the example itself), scored with its first order alone and averaged over its 8 orders;
and the same networks written by hand here — masked layers with the same degrees, Adam at
the same learning rate, the same batches of the same split, the same number of steps (by default the file's own,
10,000).
"""

from __future__ import annotations

import argparse
import dataclasses
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
from graphmodel.factors import Autoregressive  # noqa: E402
from inference.evaluate import bound  # noqa: E402
from inference.trainer import Trainer  # noqa: E402


def example(order: str, ensemble: int, hidden: int) -> gm.Graph:
    g = gm.load(ROOT / "examples" / "made.json")
    g.factors[0] = dataclasses.replace(g.factors[0], net=gm.MaskedMLP(hidden),
                                       autoregressive=Autoregressive(order, 0, ensemble))
    g._changed()
    return g


def train_graphmodel(order: str, steps: int, hidden: int):
    g = example(order, 8 if order == "agnostic" else 1, hidden)
    t = Trainer(g, config={"device": "cpu", "steps": steps, "epochs": None, "checkpoint_every": None,
                           "log_every": steps})
    start = time.perf_counter()
    t.run()
    return g, t, time.perf_counter() - start


def test_nll(graph, runtime, test) -> float:
    with torch.no_grad():
        return -bound(runtime.eval(), graph, test).mean().item()


# --- the hand-written MADE ---------------------------------------------------------------

class HandMADE(nn.Module):
    """One hidden layer of masked units; degrees k mod (D − 1), natural order."""

    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.inp, self.out = nn.Linear(d, hidden), nn.Linear(hidden, d)
        rank, deg = torch.arange(d), torch.arange(hidden) % (d - 1)
        self.register_buffer("m1", (deg[:, None] >= rank[None, :]).float())
        self.register_buffer("m2", (rank[:, None] > deg[None, :]).float())

    def forward(self, x):
        h = F.relu(F.linear(x, self.inp.weight * self.m1, self.inp.bias))
        return F.linear(h, self.out.weight * self.m2, self.out.bias)

    def nll(self, x):
        return F.binary_cross_entropy_with_logits(self(x), x, reduction="none").sum(-1)


def train_by_hand(train: torch.Tensor, steps: int, hidden: int, batch: int, lr: float, seed: int = 0):
    torch.manual_seed(seed)
    model = HandMADE(train.shape[1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    per_epoch = max(1, len(train) // batch)
    start = time.perf_counter()
    for step in range(steps):
        epoch, pos = divmod(step, per_epoch)
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        x = train.index_select(0, perm[pos * batch: (pos + 1) * batch])
        loss = model.nll(x).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model, time.perf_counter() - start


def time_steps(rounds: int, hidden: int, steps: int = 200) -> None:
    """Milliseconds a training step, in interleaved rounds of ``steps`` (a shared machine's
    load drifts; each round times graphmodel's trainer step beside the hand-written one)."""
    times: dict = {}
    trainers = {}
    for order in ("natural", "agnostic"):
        t = Trainer(example(order, 8 if order == "agnostic" else 1, hidden),
                    config={"device": "cpu", "steps": 10**9, "epochs": None, "checkpoint_every": None,
                            "log_every": 10**9})
        t.run(steps=5)
        trainers[order] = t
    train = trainers["natural"].train_data["x"]
    model = HandMADE(train.shape[1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    at = 5
    for _ in range(rounds):
        for order, t in trainers.items():
            start = time.perf_counter()
            for s in range(at, at + steps):
                t._train_step(s)
            times.setdefault(f"graphmodel, {order}", []).append((time.perf_counter() - start) * 1e3 / steps)
        start = time.perf_counter()
        for _ in range(steps):
            loss = model.nll(train.index_select(0, torch.randperm(len(train))[:100])).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.setdefault("hand-written, natural", []).append((time.perf_counter() - start) * 1e3 / steps)
        at += steps
    for name, ms in times.items():
        print(f"{name}: {', '.join(f'{m:.2f}' for m in ms)} ms a step")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=gm.load(ROOT / "examples" / "made.json").training["steps"])
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--png", help="save a grid of the order-agnostic model's samples here")
    ap.add_argument("--time", type=int, metavar="ROUNDS", help="only time the steps, in interleaved rounds")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.time:
        time_steps(args.time, args.hidden)
        return
    rows = []
    g, t, secs = train_graphmodel("natural", args.steps, args.hidden)
    test, train = t.test_data, t.train_data
    rows.append(("graphmodel, natural order", test_nll(g, t.runtime, test), secs))
    g, t, secs = train_graphmodel("agnostic", args.steps, args.hidden)
    one = example("agnostic", 1, args.hidden)
    single = one.build()
    single.load_state_dict(t.runtime.state_dict())  # (the orders and masks are not weights)
    rows.append(("graphmodel, order-agnostic, its first order", test_nll(one, single, test), secs))
    rows.append(("graphmodel, order-agnostic, 8 orders averaged", test_nll(g, t.runtime, test), secs))
    cfg = t.config
    model, secs = train_by_hand(train["x"], args.steps, args.hidden, cfg.batch_size, cfg.lr, cfg.seed)
    with torch.no_grad():
        rows.append(("hand-written PyTorch, natural order", model.nll(test["x"]).mean().item(), secs))
    p = train["x"].mean(0).clamp(1e-3, 1 - 1e-3)
    x = test["x"]
    rows.append(("independent pixels (training means)", -(x * p.log() + (1 - x) * (1 - p).log()).sum(-1).mean().item(), 0.0))
    print(f"MADE on digits, {args.steps} steps, hidden {args.hidden}, batch {cfg.batch_size}, lr {cfg.lr}")
    print("| model | test NLL (nats) | bits/pixel | training (s) |\n| --- | --- | --- | --- |")
    for name, nll, secs in rows:
        print(f"| {name} | {nll:.2f} | {nll / 64 / math.log(2):.3f} | {secs:.0f} |")
    if args.png:
        from inference.plots import save_samples

        torch.manual_seed(0)
        with torch.no_grad():
            samples = t.runtime.p.sample(64)
        save_samples({"x": samples["x"]}, g, args.png, None)
        print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
