"""Time importance-sampled evaluation: graphmodel's ``evaluate`` path against a hand-written
PyTorch loop, on the same trained benchmark VAE, the same test data and the same k.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/eval_is.py            # z=10, h=400, k=100
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/eval_is.py --k 1000 --rounds 6

The VAE is :func:`impls.vae_graph` (2-hidden-layer MLP encoder and decoder, 784-d Bernoulli
pixels), trained for ``--train-steps`` steps by graphmodel's trainer on the synthetic
binarized data; the hand-written model gets a copy of its weights. Both score the same
``--examples`` held-out examples with k importance samples each (q as the proposal),
computing the bound (mean log-weight) and the log-likelihood (log-mean-exp) and drawing
the samples in chunks of the same size: graphmodel through
:func:`inference.evaluate.importance_sampled`, the hand loop by encoding once and decoding
each chunk. Rounds alternate which one goes first; each time is the process's CPU time on
one thread (the compute, not the time other programs held the core) and the ratio is the
median over rounds of graphmodel's time over the hand loop's in the same round. The two
estimates are printed beside each other: they differ only by the Monte Carlo noise of
their own draws.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import impls  # noqa: E402


def trained_vae(z: int, h: int, steps: int, examples: int):
    """The benchmark VAE after ``steps`` training steps, and ``examples`` data it did not see."""
    import graphmodel as gm
    from inference.trainer import Trainer

    g = gm.loads(gm.dumps(impls.vae_graph(z, h)))
    data = impls.synthetic_mnist(4 * examples, "cpu")
    t = Trainer(g, {"x": data[examples:]}, {"batch_size": impls.BATCH, "lr": impls.LR, "steps": steps,
                                           "log_every": max(steps, 1), "test_fraction": 0.0, "device": "cpu",
                                           "checkpoint_every": None, "seed": 0})
    t.run()
    return g, t.runtime.eval(), data[:examples]


def hand_copy(runtime, z: int, h: int) -> impls.HandVAE:
    """A :class:`impls.HandVAE` holding the runtime's weights (decoder factor 0, encoder 2)."""
    hand = impls.HandVAE(z, h)
    state = runtime.state_dict()
    for mine, theirs in ((hand.dec, "factor_modules.0.net.body"), (hand.enc, "factor_modules.2.net.body")):
        mine.load_state_dict({k.removeprefix(theirs + "."): v for k, v in state.items() if k.startswith(theirs)})
    return hand.eval()


@torch.no_grad()
def hand_importance(hand: impls.HandVAE, x: torch.Tensor, k: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean log w, log mean w)`` per example, as one would write it: encode once, then per
    chunk of samples decode, score and fold into running sums."""
    loc, raw = hand.enc(x).chunk(2, dim=-1)
    scale = raw.exp()
    log_norm = -0.5 * math.log(2 * math.pi) * loc.shape[-1]
    total = lse = None
    for start in range(0, k, chunk):
        c = min(chunk, k - start)
        eps = torch.randn(c, *loc.shape)
        zz = loc + scale * eps
        rec = -F.binary_cross_entropy_with_logits(hand.dec(zz), x.expand(c, *x.shape), reduction="none").sum(-1)
        log_prior = log_norm - 0.5 * zz.pow(2).sum(-1)
        log_q = log_norm - 0.5 * eps.pow(2).sum(-1) - raw.sum(-1)
        lw = rec + log_prior - log_q
        part = torch.logsumexp(lw, 0)
        total = lw.sum(0) if total is None else total + lw.sum(0)
        lse = part if lse is None else torch.logaddexp(lse, part)
    return total / k, lse - math.log(k)


def run(args) -> dict:
    from inference.evaluate import _chunk, importance_sampled

    torch.set_num_threads(args.threads)
    g, runtime, x = trained_vae(args.z, args.h, args.train_steps, args.examples)
    hand = hand_copy(runtime, args.z, args.h)
    chunk = args.chunk or _chunk(args.k, {"x": x}, None)
    impls_ = {"graphmodel": lambda: importance_sampled(runtime, g, {"x": x}, args.k, chunk=chunk),
              "pytorch": lambda: hand_importance(hand, x, args.k, chunk)}
    times: dict = {name: [] for name in impls_}
    values: dict = {}
    for name, f in impls_.items():  # warm up, and the estimates to compare
        torch.manual_seed(0)
        values[name] = [v.mean().item() for v in f()]
    for r in range(args.rounds):
        for name in (list(impls_) if r % 2 == 0 else list(impls_)[::-1]):
            start = time.process_time()
            impls_[name]()
            times[name].append(time.process_time() - start)
    ratio = statistics.median(a / b for a, b in zip(times["graphmodel"], times["pytorch"]))
    return {"times": times, "values": values, "ratio": ratio, "chunk": chunk}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--z", type=int, default=10)
    ap.add_argument("--h", type=int, default=400)
    ap.add_argument("--k", type=int, default=100, help="importance samples per example")
    ap.add_argument("--examples", type=int, default=500, help="test examples scored")
    ap.add_argument("--chunk", type=int, help="samples drawn at once (default: graphmodel's own choice)")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--train-steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    r = run(args)
    print(f"z={args.z} h={args.h} k={args.k}, {args.examples} examples, chunks of {r['chunk']} samples, "
          f"{args.rounds} rounds, torch {torch.__version__}, {args.threads} thread(s)")
    print("| implementation | s per evaluation (median) | bound (nats) | log-likelihood (nats) | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, ts in r["times"].items():
        b, ll = r["values"][name]
        ratio = r["ratio"] if name == "graphmodel" else 1.0
        print(f"| {name} | {statistics.median(ts):.3f} | {b:.3f} | {ll:.3f} | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
