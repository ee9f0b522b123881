"""MADE on binarized digits: graphmodel against a hand-written PyTorch MADE.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/made.py [--dataset digits|mnist5k] [--steps N]
        [--hidden 500] [--png grid.png]

``--dataset digits`` (the default) runs ``examples/made.json`` (the 8x8 digits binarized at
0.5; test NLL over its 359 held-out digits); ``--dataset mnist5k`` runs
``examples/made_mnist.json`` (28x28, dynamic binarization; test NLL over mnist5k's 500 test
images, drawn once). Rows (exact test NLL in nats): graphmodel's MADE trained in the natural
order; graphmodel's order-agnostic MADE (the example itself), scored with its first order
alone and averaged over its 8 orders; and the same network written by hand here — masked
layers with the same degrees, Adam at the same learning rate, the same batches of the same
split (with dynamic binarization, pixels drawn afresh per batch from the same random stream),
the same number of steps (by default the file's own).
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

#: the example file of each dataset
FILES = {"digits": "made.json", "mnist5k": "made_mnist.json"}


def example(order: str, ensemble: int, hidden: int, dataset: str = "digits") -> gm.Graph:
    g = gm.load(ROOT / "examples" / FILES[dataset])
    g.factors[0] = dataclasses.replace(g.factors[0], net=gm.MaskedMLP(hidden),
                                       autoregressive=Autoregressive(order, 0, ensemble))
    g._changed()
    return g


def train_graphmodel(order: str, steps: int, hidden: int, dataset: str):
    g = example(order, 8 if order == "agnostic" else 1, hidden, dataset)
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


def trainer_batches(train: torch.Tensor, steps: int, batch: int, seed: int, dynamic: bool):
    """The batches the trainer draws: each epoch a permutation seeded by ``seed · 1,000,003 +
    epoch``; with ``dynamic``, binary pixels drawn from the grey levels (u < p, on the global
    stream, as the trainer draws them)."""
    per_epoch = max(1, len(train) // batch)
    for step in range(steps):
        epoch, pos = divmod(step, per_epoch)
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        x = train.index_select(0, perm[pos * batch: (pos + 1) * batch])
        yield (torch.rand_like(x) < x).to(x.dtype) if dynamic else x


def train_by_hand(train: torch.Tensor, steps: int, hidden: int, batch: int, lr: float, seed: int = 0,
                  dynamic: bool = False):
    """Train :class:`HandMADE`; ``dynamic``: ``train`` holds grey levels and each batch's
    binary pixels are drawn from them (u < p, on the global stream, as the trainer draws)."""
    torch.manual_seed(seed)
    model = HandMADE(train.shape[1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    start = time.perf_counter()
    for x in trainer_batches(train, steps, batch, seed, dynamic):
        loss = model.nll(x).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model, time.perf_counter() - start


def time_steps(rounds: int, hidden: int, dataset: str, steps: int = 200) -> None:
    """Milliseconds a training step, in interleaved rounds of ``steps`` (a shared machine's
    load drifts; each round times graphmodel's trainer step beside the hand-written one)."""
    times: dict = {}
    trainers = {}
    for order in ("natural", "agnostic"):
        t = Trainer(example(order, 8 if order == "agnostic" else 1, hidden, dataset),
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
            x = train.index_select(0, torch.randperm(len(train))[:100])
            if trainers["natural"].dynamic:
                x = (torch.rand_like(x) < x).to(x.dtype)
            loss = model.nll(x).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        times.setdefault("hand-written, natural", []).append((time.perf_counter() - start) * 1e3 / steps)
        at += steps
    for name, ms in times.items():
        print(f"{name}: {', '.join(f'{m:.2f}' for m in ms)} ms a step")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=sorted(FILES), default="digits")
    ap.add_argument("--steps", type=int, help="training steps (default: the example file's own)")
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--png", help="save a grid of the order-agnostic model's samples here")
    ap.add_argument("--time", type=int, metavar="ROUNDS", help="only time the steps, in interleaved rounds")
    args = ap.parse_args(argv)
    if args.steps is None:
        args.steps = gm.load(ROOT / "examples" / FILES[args.dataset]).training["steps"]
    torch.set_num_threads(1)
    if args.time:
        time_steps(args.time, args.hidden, args.dataset)
        return
    cfg, dynamic = None, gm.load(ROOT / "examples" / FILES[args.dataset]).data.get("binarize") == "dynamic"
    print(f"MADE on {args.dataset}, {args.steps} steps, hidden {args.hidden}", flush=True)
    print("| model | test NLL (nats) | bits/pixel | training (s) |\n| --- | --- | --- | --- |", flush=True)
    for name, nll, secs, t in compare(args, dynamic):
        d = t.test_data["x"].shape[1]
        print(f"| {name} | {nll:.2f} | {nll / d / math.log(2):.3f} | {secs:.0f} |", flush=True)
        cfg = cfg or t.config
    print(f"(batch {cfg.batch_size}, lr {cfg.lr}, seed {cfg.seed}; {len(t.train_data['x'])} training and "
          f"{len(t.test_data['x'])} test examples)")
    if args.png:
        save_grid(t.runtime, t.graph, args.png)


def save_grid(runtime, graph, path: str) -> None:
    """A grid of 64 samples of ``x`` (seed 0) at ``path``."""
    from inference.plots import save_samples

    torch.manual_seed(0)
    with torch.no_grad():
        samples = runtime.p.sample(64)
    save_samples({"x": samples["x"]}, graph, path, None)
    print(f"wrote {path}")


def compare(args, dynamic: bool):
    """Yield ``(row, test NLL, training seconds, a trainer)`` as each model finishes (the
    last rows carry the order-agnostic trainer, whose samples ``--png`` draws). Every row
    scores the same test split, drawn once."""
    g, t, secs = train_graphmodel("natural", args.steps, args.hidden, args.dataset)
    test, train = t.test_data, t.train_data
    yield "graphmodel, natural order", test_nll(g, t.runtime, test), secs, t
    cfg = t.config
    model, secs = train_by_hand(train["x"], args.steps, args.hidden, cfg.batch_size, cfg.lr, cfg.seed, dynamic)
    with torch.no_grad():
        yield "hand-written PyTorch, natural order", model.nll(test["x"]).mean().item(), secs, t
    g, t, secs = train_graphmodel("agnostic", args.steps, args.hidden, args.dataset)
    one = example("agnostic", 1, args.hidden, args.dataset)
    single = one.build()
    single.load_state_dict(t.runtime.state_dict())  # (the orders and masks are not weights)
    yield "graphmodel, order-agnostic, its first order", test_nll(one, single, test), secs, t
    yield "graphmodel, order-agnostic, 8 orders averaged", test_nll(g, t.runtime, test), secs, t
    p = train["x"].mean(0).clamp(1e-3, 1 - 1e-3)  # (grey levels' means are the pixels' probabilities)
    x = test["x"]
    yield "independent pixels (training means)", -(x * p.log() + (1 - x) * (1 - p).log()).sum(-1).mean().item(), 0.0, t

if __name__ == "__main__":
    main()
