"""PixelCNN++ on the 8x8 digits' 17 grey levels: graphmodel against the same network by hand.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/pixelcnnpp_compare.py [--steps N] [--png grid.png]
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/pixelcnnpp_compare.py --time ROUNDS [--no-compile]

The first form trains ``examples/pixelcnnpp.json`` with graphmodel's trainer and the
hand-written model of ``pixelcnnpp_hand.py`` (the same layers, the same split of the same
digits, the same batches drawn by the same seeded permutations, Adam at the same learning
rate, the same number of steps) and prints each one's exact test NLL (nats per image) and
bits/dim. The second times one training step (batch 64: the loss, its backward pass and an
Adam update) of graphmodel's factor and of the hand-written model, eager and through
``torch.compile``, interleaved round by round as ``vae_step.py`` does (each round starts
with the next implementation; ratio = median over rounds of the time over the
hand-written eager time of the same round; the process's CPU time on one thread).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from impls import adam_step  # noqa: E402
from pixelcnnpp_hand import HandPixelCNNpp  # noqa: E402

import graphmodel as gm  # noqa: E402

EXAMPLE = HERE.parent / "examples" / "pixelcnnpp.json"


def example() -> gm.Graph:
    return gm.load(EXAMPLE)


def hand_model(g: gm.Graph) -> HandPixelCNNpp:
    """The hand-written network of the example's size."""
    f = g.factors[0]
    o, (_, h, w) = f.net.options, g.variables["x"].shape
    return HandPixelCNNpp(h, w, o["filters"], o["resnets"], o["scales"], o["dropout"],
                          f.family_options["components"], f.family_options["levels"])


def train_graphmodel(steps: int):
    from inference.trainer import Trainer

    t = Trainer(example(), config={"device": "cpu", "steps": steps, "epochs": None, "checkpoint_every": None,
                                   "log_every": steps})
    start = time.process_time()
    t.run()
    return t, time.process_time() - start


def train_by_hand(g: gm.Graph, train: torch.Tensor, steps: int, batch: int, lr: float, seed: int):
    """The trainer's batches (its seeded permutation per epoch), Adam, ``steps`` steps."""
    torch.manual_seed(seed)
    model = hand_model(g)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    per_epoch = max(1, len(train) // batch)
    start = time.process_time()
    for s in range(steps):
        epoch, pos = divmod(s, per_epoch)
        perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        loss = -model.log_prob(train.index_select(0, perm[pos * batch: (pos + 1) * batch])).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval(), time.process_time() - start


def compare(steps: int, png: str | None, only: str | None = None) -> None:
    """Train both (or ``only`` one: the two halves run as two processes on a busy machine)."""
    from inference.datasection import prepare
    from inference.evaluate import bound

    rows = []
    if only != "hand":
        t, secs = train_graphmodel(steps)
        cfg, train, test = t.config, t.train_data["x"], t.test_data["x"]
        with torch.no_grad():
            nll = -bound(t.runtime.eval(), t.graph, t.test_data).mean().item()
        rows.append(("graphmodel (examples/pixelcnnpp.json)", nll, secs))
    else:
        from inference.config import TrainConfig

        g = example()
        cfg = TrainConfig.for_graph(g)
        ready = prepare(g, cfg)
        train, test = ready.train["x"], ready.test["x"]
    d = test[0].numel()
    if only != "graphmodel":
        model, secs = train_by_hand(example(), train, steps, cfg.batch_size, cfg.lr, cfg.seed)
        with torch.no_grad():
            rows.append(("hand-written PyTorch (benchmarks/pixelcnnpp_hand.py)", -model.log_prob(test).mean().item(),
                         secs))
    print(f"PixelCNN++ on the digits' 17 grey levels, {steps} steps, batch {cfg.batch_size}, lr {cfg.lr}, "
          f"{len(train)} training and {len(test)} test images")
    print("| model | test NLL (nats) | bits/dim | training (CPU s) |\n| --- | ---: | ---: | ---: |")
    for name, nll, secs in rows:
        print(f"| {name} | {nll:.2f} | {nll / d / math.log(2):.3f} | {secs:.0f} |")
    if png and only != "hand":
        from inference.plots import save_samples

        torch.manual_seed(0)
        with torch.no_grad():
            save_samples({"x": t.runtime.p.sample(64)["x"]}, t.graph, png, None)
        print(f"wrote {png}")


def steppers(compile_ok: bool, batch: torch.Tensor):
    """``(name, step)`` for each implementation, built and warmed up on ``batch``."""
    from inference.objectives import training_loss

    g = example()
    out = []
    for compiled in (False, True) if compile_ok else (False,):
        torch.manual_seed(0)
        model = hand_model(g)
        out.append(("pytorch" + (" (compiled)" if compiled else ""),
                    adam_step(lambda x, m=model: -m.log_prob(x).mean(), model.parameters(), compiled)))
        torch.manual_seed(0)
        runtime, loss = g.build(), training_loss(g)
        out.append(("graphmodel" + (" (compiled)" if compiled else ""),
                    adam_step(lambda x, r=runtime, f=loss: f(r, {"x": x}).total, runtime.parameters(), compiled)))
    for _, step in out:
        for _ in range(3):
            step(batch)
    return out


def time_steps(rounds: int, compile_ok: bool, batch_size: int = 64, log=print) -> list[dict]:
    """Interleaved rounds of 2 steps; ms/step and the paired ratio to eager hand-written."""
    torch.manual_seed(0)
    x = (torch.randint(0, 17, (batch_size, 1, 8, 8)) / 16).to(torch.get_default_dtype())
    built = [(name, step, []) for name, step in steppers(compile_ok, x)]
    for r in range(rounds):
        k = r % len(built)
        for _, step, times in built[k:] + built[:k]:
            t0 = time.process_time()
            for _ in range(2):
                step(x)
            times.append((time.process_time() - t0) * 500)
    base = built[0][2]
    records = []
    for name, _, times in built:
        ratio = statistics.median(a / b for a, b in zip(times, base, strict=True))
        records.append({"impl": name, "median_ms": statistics.median(times), "ratio": ratio, "rounds": rounds})
        log(f"| {name} | {statistics.median(times):.1f} | {ratio:.3f} |")
    return records


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, help="training steps (default: the example file's own)")
    ap.add_argument("--png", help="save a grid of graphmodel's samples here")
    ap.add_argument("--time", type=int, metavar="ROUNDS", help="only time the training step, in interleaved rounds")
    ap.add_argument("--only", choices=("graphmodel", "hand"), help="train one of the two (run both halves at once)")
    ap.add_argument("--no-compile", action="store_true", help="leave the torch.compile variants out")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.time:
        print(f"PixelCNN++ training step, batch 64, {args.time} rounds × 2 steps, torch {torch.__version__}, 1 thread")
        print("| implementation | ms/step | ratio |\n| --- | ---: | ---: |")
        time_steps(args.time, not args.no_compile)
        return 0
    compare(args.steps or example().training["steps"], args.png, args.only)
    return 0


if __name__ == "__main__":
    sys.exit(main())
