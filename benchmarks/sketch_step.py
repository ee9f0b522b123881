"""SketchRNN: graphmodel's training step against the hand-written model, and both trained.

``python benchmarks/sketch_step.py`` times one training step (the loss, backward and an
Adam update on a batch of 64 glyph drawings of 64 steps) of ``examples/sketchrnn.json`` and
of :class:`benchmarks.sketch_impls.HandSketchRNN`, eager and compiled, interleaved round by
round (each round starting with the next implementation); a ratio is this round's time over
the hand-written eager step's in the same round, the median over rounds (``--cpu-time``: the
process's CPU time, for a machine shared with other work).

``python benchmarks/sketch_step.py --train STEPS`` trains the hand-written model on the
example's data section (the same split, batch size, learning rate, β schedule and free
bits, gradient clipping and learning-rate decay) for STEPS steps and prints its test
reconstruction and KL, to set beside ``graphmodel train examples/sketchrnn.json --steps STEPS``
(its ``summary.json``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.sketch_impls import HandSketchRNN, anneal  # noqa: E402

#: the clock: wall time, or the process's CPU time (``--cpu-time``: on a shared machine, one thread)
CLOCK = [time.perf_counter]
EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples", "sketchrnn.json")


def example_data(n: int | None = None):
    """The example's graph and its prepared training and test splits (as the trainer prepares them)."""
    import graphmodel as gm
    from inference.config import TrainConfig
    from inference.datasection import prepare

    g = gm.load(EXAMPLE)
    if n is not None:
        g.data = {**g.data, "options": {**g.data["options"], "n": n}}
    ready = prepare(g, TrainConfig.for_graph(g))
    return g, ready.train, ready.test


def _adam(loss_fn, params, compile: bool):
    fn = torch.compile(loss_fn) if compile else loss_fn
    opt = torch.optim.Adam(params, lr=1e-3)

    def step(batch):
        loss = fn(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def makers(g):
    from inference.objectives import training_loss

    def ours(compile):
        runtime = g.build()
        loss = training_loss(g)
        return _adam(lambda b: loss(runtime, b, 100).total, runtime.parameters(), compile)

    def hand(compile):
        m = HandSketchRNN()
        return _adam(lambda b: m.loss(b["d"], b["pen"], b["time.length"], anneal(100)), m.parameters(), compile)

    return [("pytorch", lambda: hand(False)), ("graphmodel", lambda: ours(False)),
            ("pytorch (compiled)", lambda: hand(True)), ("graphmodel (compiled)", lambda: ours(True))]


def time_steps(rounds: int, steps: int, batch: int, compile_ok: bool, log=print) -> list[dict]:
    g, train, _ = example_data(max(batch * 8, 600))
    batches = [{k: v[i * batch:(i + 1) * batch] for k, v in train.items()} for i in range(8)]
    built = []
    for name, make in makers(g):
        if "compiled" in name and not compile_ok:
            continue
        torch.manual_seed(0)
        step = make()
        for b in batches[:3]:  # warm-up (and compilation)
            step(b)
        built.append((name, step, []))
    for r in range(rounds):
        k = r % len(built)
        for _name, step, times in built[k:] + built[:k]:
            t0 = CLOCK[0]()
            for i in range(steps):
                step(batches[(r * steps + i) % 8])
            times.append((CLOCK[0]() - t0) * 1000 / steps)
    base = built[0][2]
    out = []
    for name, _, times in built:
        ratio = statistics.median(a / b for a, b in zip(times, base))
        out.append({"impl": name, "median_ms": round(statistics.median(times), 2), "ratio": round(ratio, 3)})
        log(f"  {name:24s} {out[-1]['median_ms']:9.2f} ms/step  ×{ratio:5.2f}")
    by_name = {name: times for name, _, times in built}
    if "graphmodel (compiled)" in by_name:  # (paired per round, as the others)
        ratio = statistics.median(a / b for a, b in zip(by_name["graphmodel (compiled)"], by_name["pytorch (compiled)"]))
        out[-1]["ratio to pytorch (compiled)"] = round(ratio, 3)
        log(f"  graphmodel (compiled) / pytorch (compiled): ×{ratio:5.3f}")
    return out


def train_hand(steps: int, seed: int = 0, log=print) -> dict:
    """Train the hand-written model as the example's file trains graphmodel's; its test terms."""
    g, train, test = example_data()
    t = g.training
    torch.manual_seed(seed)
    m = HandSketchRNN()
    opt = torch.optim.Adam(m.parameters(), lr=t["lr"])
    # the file's clipping and learning-rate decay, as graphmodel's trainer applies them
    clip = t.get("grad_clip")
    sched = (torch.optim.lr_scheduler.StepLR(opt, t.get("lr_step", 1000), t.get("lr_gamma", 0.5))
             if t.get("lr_schedule") == "step" else None)
    n, bs = len(train["d"]), t["batch_size"]
    perm, at = torch.randperm(n), 0
    for step in range(steps):
        if at + bs > n:
            perm, at = torch.randperm(n), 0
        idx = perm[at:at + bs]
        at += bs
        loss = m.loss(train["d"][idx], train["pen"][idx], train["time.length"][idx], anneal(step))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(m.parameters(), clip)
        opt.step()
        if sched is not None:
            sched.step()
        if step % 500 == 0:
            log(f"  step {step}: loss {loss.item():.3f}")
    with torch.no_grad():
        rec, kl = m.terms(test["d"], test["pen"], test["time.length"])
    return {"test reconstruction": round(float(rec.mean()), 3), "test KL": round(float(kl.mean()), 3)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=3, help="steps per round")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cpu-time", action="store_true", help="time by the process's CPU time (a shared machine)")
    ap.add_argument("--train", type=int, metavar="STEPS", help="train the hand-written model instead")
    ap.add_argument("--seed", type=int, default=0, help="with --train: the seed of its weights and batches")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.cpu_time:
        CLOCK[0] = time.process_time
    if args.train:
        t0 = time.process_time()
        print({**train_hand(args.train, args.seed), "CPU s": round(time.process_time() - t0, 1)})
    else:
        time_steps(args.rounds, args.steps, args.batch, not args.no_compile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
