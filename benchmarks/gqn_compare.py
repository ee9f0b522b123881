"""GQN: graphmodel's ``examples/gqn.json`` against the same architecture written by hand
(``benchmarks/gqn_hand.py``), on the built-in ``scenes``.

    python benchmarks/gqn_compare.py train --steps 1500   # both trained, then the test table
    python benchmarks/gqn_compare.py time --rounds 20      # training-step time, interleaved
    python benchmarks/gqn_compare.py time --rounds 10 --compile

``train`` trains graphmodel through its own ``Trainer`` (the file's settings, ``steps``
overridden, σ annealed over them) and the hand-written model with the same data, batch
size, Adam, learning rate, cosine schedule and σ schedule, then reports on the test scenes
(``test_options``): the ELBO (nats per query view, σ at its final 0.7) and the mean squared
error of the predicted query view (the mean of the view given 8 draws of z from the prior)
given its own scene's context, given another scene's context, and of the training set's
mean image. ``time`` times one training step (loss, backward, Adam) of each, interleaved
round by round, each round starting with the other one; the clock is the process's CPU
time on one thread (the machine's other load is not counted); ratio = the median over
rounds of graphmodel's time over the hand-written model's in the same round.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "examples"))
sys.path.insert(0, str(HERE))

import gqn  # noqa: E402  (examples/gqn.py)
import gqn_hand  # noqa: E402

from inference.data import load_dataset  # noqa: E402

DRAWS = 8


def data_of(graph, split: str) -> dict:
    """The graph's training or test examples, bound to its variables."""
    spec = graph.data
    options = {**spec["options"], **(spec.get("test_options", {}) if split == "test" else {})}
    fields = load_dataset({"dataset": spec["dataset"], "options": options})
    return {var: fields[field] for var, field in spec["bind"].items()} | {"scene": fields["scene"]}


def other_scene(test: dict) -> torch.Tensor:
    """For each example, an example of another scene (the next scene's first)."""
    scene = test["scene"]
    order = torch.arange(len(scene))
    nxt = torch.searchsorted(scene, (scene + 1) % (int(scene.max()) + 1))
    return torch.where(scene[nxt] != scene, nxt, torch.roll(order, 1))


def errors(predict, test: dict, train_mean: torch.Tensor) -> dict:
    """Prediction errors of the query view: own context, another scene's, the mean image."""
    keys = ("x_c", "v_c", "v")
    own = predict({k: test[k] for k in keys})
    idx = other_scene(test)
    other = predict({"x_c": test["x_c"][idx], "v_c": test["v_c"][idx], "v": test["v"]})
    x = test["x"]
    return {"mse own context": float(((own - x) ** 2).mean()), "mse other scene's context": float(((other - x) ** 2).mean()),
            "mse mean image": float(((train_mean - x) ** 2).mean())}


def graphmodel_predict(runtime, graph):
    label = next(f"p({f.label})" for f in graph.factors if f.model == "p" and f.target == "x")

    @torch.no_grad()
    def predict(given):
        out = []
        for a in range(0, len(given["v"]), 100):
            part = {k: v[a:a + 100] for k, v in given.items()}
            trace = runtime.p.trace(part, n=DRAWS, score=False)
            out.append(trace.dists[label].mean.mean(0))
        return torch.cat(out)
    return predict


def hand_predict(model):
    @torch.no_grad()
    def predict(given):
        out = []
        for a in range(0, len(given["v"]), 100):
            part = {k: v[a:a + 100] for k, v in given.items()}
            n = len(part["v"])
            rep = {k: v.repeat_interleave(DRAWS, 0) for k, v in part.items()}
            out.append(model.predict(rep).unflatten(0, (n, DRAWS)).mean(1))
        return torch.cat(out)
    return predict


def train_graphmodel(steps: int, seed: int, png: str | None = None):
    from inference.evaluate import bound
    from inference.trainer import Trainer

    graph = gqn.build(train_steps=steps)
    t = Trainer(graph, config={"steps": steps, "device": "cpu", "checkpoint_every": None, "seed": seed})
    start = time.process_time()
    t.run()
    seconds = time.process_time() - start
    test = data_of(graph, "test")
    t.runtime.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = torch.cat([bound(t.runtime, graph, {k: test[k][a:a + 100] for k in ("x_c", "v_c", "x", "v")})
                          for a in range(0, len(test["x"]), 100)]).mean().item()
    torch.manual_seed(0)
    mean = t.train_data["x"].mean(0)
    if png:  # the training run's picture: test query views beside those predicted from their context
        from inference.plots import save_samples
        from inference.trainer import sample_observed

        save_samples(sample_observed(graph, t.runtime, 32, test), graph, png, test)
    return {"ELBO": elbo, **errors(graphmodel_predict(t.runtime, graph), test, mean), "cpu s": seconds}


def train_hand(steps: int, seed: int):
    graph = gqn.build(train_steps=steps)
    cfg = graph.training
    train, test = data_of(graph, "train"), data_of(graph, "test")
    torch.manual_seed(seed)
    model = gqn_hand.HandGQN(steps=gqn.STEPS)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    n, b = len(train["x"]), cfg["batch_size"]
    perm, at = torch.randperm(n), 0
    start = time.process_time()
    for step in range(steps):
        if at + b > n:
            perm, at = torch.randperm(n), 0
        idx = perm[at:at + b]
        at += b
        sigma = 2.0 + (0.7 - 2.0) * min(step / steps, 1.0)
        loss = model.loss({k: train[k][idx] for k in ("x_c", "v_c", "x", "v")}, sigma).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            print(f"  hand step {step}: loss {loss.item():.1f}", flush=True)
    seconds = time.process_time() - start
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = torch.cat([-model.loss({k: test[k][a:a + 100] for k in ("x_c", "v_c", "x", "v")}, 0.7)
                          for a in range(0, len(test["x"]), 100)]).mean().item()
    torch.manual_seed(0)
    return {"ELBO": elbo, **errors(hand_predict(model), test, train["x"].mean(0)), "cpu s": seconds}


def step_makers(batch: dict, compile: bool):
    """``(name, step)`` for graphmodel's and the hand-written model's training step."""
    from inference.objectives import training_loss

    graph = gqn.build()
    runtime = graph.build()
    loss = training_loss(graph)
    hand = gqn_hand.HandGQN(steps=gqn.STEPS)

    def gm_loss(b):
        return loss(runtime, b).total

    def hand_loss(model):
        return lambda b: model.loss(b, 2.0).mean()

    steps = [("graphmodel", gm_loss, runtime.parameters(), compile), ("pytorch", hand_loss(hand), hand.parameters(), compile)]
    if compile:  # the hand-written eager step, the baseline of both compiled ones: a copy of its own,
        twin = copy.deepcopy(hand)  # so that the compiled model trains as often as graphmodel's
        steps.append(("pytorch", hand_loss(twin), twin.parameters(), False))
    out = []
    for name, fn, params, compiled in steps:
        fn = torch.compile(fn) if compiled else fn
        opt = torch.optim.Adam(params, lr=5e-4)

        def step(fn=fn, opt=opt):
            value = fn(batch)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
        out.append((name + (" (compiled)" if compiled else ""), step))
    return out


def time_steps(rounds: int, steps: int, compile: bool, batch_size: int = 32) -> dict:
    torch.manual_seed(0)
    fields = load_dataset({"dataset": "scenes", "options": {"n_scenes": 64, "views": 8}})
    bind = gqn.build().data["bind"]
    batch = {var: fields[f][:batch_size] for var, f in bind.items()}
    impls = step_makers(batch, compile)
    for _, step in impls:  # warm up (and compile)
        for _ in range(2):
            step()
    times = {name: [] for name, _ in impls}
    for r in range(rounds):
        order = impls if r % 2 == 0 else impls[::-1]
        for name, step in order:
            start = time.process_time()
            for _ in range(steps):
                step()
            times[name].append((time.process_time() - start) / steps * 1000)
    names = [n for n, _ in impls]
    ratios = [a / b for a, b in zip(times[names[0]], times[names[1]])]
    eager = {f"{n} / pytorch": statistics.median(a / b for a, b in zip(times[n], times["pytorch"]))
             for n in names[:2] if len(names) > 2}
    return {"ms": {n: statistics.median(t) for n, t in times.items()}, "ratio": statistics.median(ratios), **eager,
            "ratio IQR": (statistics.quantiles(ratios, n=4)[0], statistics.quantiles(ratios, n=4)[2])
            if len(ratios) > 1 else None}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("train", "time"))
    ap.add_argument("--steps", type=int, default=1500, help="train: training steps of each model")
    ap.add_argument("--rounds", type=int, default=20, help="time: interleaved rounds")
    ap.add_argument("--per-round", type=int, default=2, help="time: steps of each model per round")
    ap.add_argument("--compile", action="store_true", help="time: both losses through torch.compile")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--png", help="train: write graphmodel's predicted query views here")
    ap.add_argument("--only", choices=("pytorch", "graphmodel"), help="train: one of the two (run both at once)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.what == "time":
        print(time_steps(args.rounds, args.per_round, args.compile))
        return 0
    for name, fn in (("pytorch", train_hand), ("graphmodel", train_graphmodel)):
        if args.only not in (None, name):
            continue
        extra = {"png": args.png} if name == "graphmodel" else {}
        print(name, {k: round(v, 4) for k, v in fn(args.steps, args.seed, **extra).items()}, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
