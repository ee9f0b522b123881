"""DRAW on binarized mnist5k: graphmodel's ``examples/draw.json`` against a hand-written PyTorch DRAW.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/draw.py [--steps N] [--k 100] [--plain]
        [--hidden H] [--canvas-steps T]
    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/draw.py --time ROUNDS [--compile]

Training (the default): the example (``--plain``: ``examples/draw_plain.json``, no attention)
trained by graphmodel's trainer, and the same architecture written here by hand — its own
Gaussian filterbanks, LSTM cells and the ELBO with the KL in closed form — with the same
initial weights (copied from graphmodel's freshly built model), batches, dynamic binary draws,
Adam, gradient clipping and number of steps; both are then scored on mnist5k's 500 test
images (drawn once): the ELBO and the importance-sampled log-likelihood (``--k`` samples).
``--time`` times one training step of each, interleaved round by round (each round starting
with the next implementation), eager or ``--compile``d, and prints the medians and their
ratio. Times are the process's CPU time on one thread (a shared machine's wall clock mostly
measures the neighbours).
"""

from __future__ import annotations

import argparse
import copy
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import graphmodel as gm  # noqa: E402
from inference.evaluate import bound, log_likelihood  # noqa: E402
from inference.trainer import Trainer  # noqa: E402


def filterbank(params, n: int, height: int, width: int):
    """``Fx (b, n, W)``, ``Fy (b, n, H)``, ``γ (b,)`` from the five raw attention numbers (DRAW eq. 19–25)."""
    gx, gy, log_var, log_delta, log_gamma = params.unbind(-1)
    gx, gy = (width + 1) / 2 * (gx + 1), (height + 1) / 2 * (gy + 1)
    delta = (max(height, width) - 1) / max(n - 1, 1) * torch.exp(log_delta)
    grid = torch.arange(1, n + 1, dtype=params.dtype) - n / 2 - 0.5
    var = torch.exp(log_var)

    def bank(centre, size):
        mu = centre[:, None] + grid * delta[:, None]
        f = torch.exp(-(torch.arange(1, size + 1, dtype=params.dtype) - mu[:, :, None]) ** 2 / (2 * var[:, None, None]))
        return f / (f.sum(-1, keepdim=True) + 1e-8)

    return bank(gx, width), bank(gy, height), torch.exp(log_gamma)


class Scored(nn.Module):
    """A hand-written DRAW-like model: ``run(x)`` gives ``(log p(x|c_T), Σₜ log p(zₜ) − log q(zₜ), Σₜ KL)``
    per example; the training loss and the test scores follow from it."""

    def loss(self, x):
        rec, _, kl = self.run(x)
        return (kl - rec).mean()

    @torch.no_grad()
    def scores(self, x, k: int, chunk: int = 2000):
        """``(ELBO, IS log-likelihood with k samples)`` per example."""
        rec, _, kl = self.run(x)
        out = []
        for part in x.split(max(1, chunk // k)):
            rep = part.repeat_interleave(k, 0)
            r, lr, _ = self.run(rep)
            w = (r + lr).view(-1, k)
            out.append(torch.logsumexp(w, 1) - math.log(k))
        return rec - kl, torch.cat(out)


class HandDRAW(Scored):
    """DRAW with (or without) attention, as ``examples/draw.py`` builds it: LSTM cells over
    ``[glimpse, h_dec, c_dec]`` and ``z``, q's loc and log-scale linear in ``[h_enc, c_enc]``."""

    def __init__(self, steps: int, hidden: int, latent: int, attention: bool, read_n: int = 2, write_n: int = 5):
        super().__init__()
        self.T, self.H, self.Z, self.attention = steps, hidden, latent, attention
        self.rn, self.wn = read_n, write_n
        glimpse = 2 * read_n * read_n if attention else 2 * 784
        self.enc = nn.LSTMCell(glimpse + 2 * hidden, hidden)
        self.dec = nn.LSTMCell(latent, hidden)
        self.q = nn.Linear(2 * hidden, 2 * latent)
        self.write = nn.Linear(hidden, write_n * write_n if attention else 784)
        if attention:
            self.read_att = nn.Linear(hidden, 5)
            self.write_att = nn.Linear(hidden, 5)

    def read(self, x, err, h):
        if not self.attention:
            return torch.cat((x.flatten(1), err.flatten(1)), 1)
        fx, fy, gamma = filterbank(self.read_att(h), self.rn, 28, 28)
        both = torch.cat((x, err), 1)  # (b, 2, 28, 28)
        g = fy[:, None] @ both @ fx[:, None].transpose(-1, -2)
        return (g * gamma[:, None, None, None]).flatten(1)

    def write_patch(self, h):
        w = self.write(h)
        if not self.attention:
            return w.view(-1, 1, 28, 28)
        fx, fy, gamma = filterbank(self.write_att(h), self.wn, 28, 28)
        w = w.view(-1, 1, self.wn, self.wn)
        return fy[:, None].transpose(-1, -2) @ w @ fx[:, None] / gamma[:, None, None, None]

    def run(self, x, k: int = 1):
        """Log-densities ``(log p(x|c_T), Σₜ log p(zₜ) − log q(zₜ), Σₜ KL)`` per example."""
        b = x.shape[0]
        zeros = x.new_zeros(b, self.H)
        hd, cd, he, ce = zeros, zeros, zeros, zeros
        canvas = torch.zeros_like(x)
        kl, log_ratio = x.new_zeros(b), x.new_zeros(b)
        for _ in range(self.T):
            r = self.read(x, x - torch.sigmoid(canvas), hd)
            he, ce = self.enc(torch.cat((r, hd, cd), 1), (he, ce))
            loc, log_scale = self.q(torch.cat((he, ce), 1)).chunk(2, 1)
            eps = torch.randn_like(loc)
            z = loc + log_scale.exp() * eps
            kl = kl + (0.5 * (loc.square() + (2 * log_scale).exp() - 1) - log_scale).sum(1)
            log_ratio = log_ratio + (-0.5 * z.square() + 0.5 * eps.square() + log_scale).sum(1)
            hd, cd = self.dec(z, (hd, cd))
            canvas = canvas + self.write_patch(hd)
        rec = -F.binary_cross_entropy_with_logits(canvas, x, reduction="none").flatten(1).sum(1)
        return rec, log_ratio, kl


def copy_weights(hand: HandDRAW, runtime, graph) -> None:
    """Give the hand-written model graphmodel's initial weights (same start, same architecture)."""
    mods = {(f.model, f.target, bool(f.init)): m for f, m in zip(graph.factors, runtime.factor_modules)}
    enc, dec = mods[("q", "e", False)].net.cell, mods[("p", "h", False)].net.cell
    hand.enc.load_state_dict(enc.state_dict())
    hand.dec.load_state_dict(dec.state_dict())
    (q_lin,) = [m for m in mods[("q", "z", False)].net.modules() if isinstance(m, nn.Linear)]
    hand.q.load_state_dict(q_lin.state_dict())
    write = mods[("p", "c", False)].net
    hand.write.load_state_dict(write.patch.state_dict())
    if hand.attention:
        hand.write_att.load_state_dict(write.bank.params.state_dict())
        hand.read_att.load_state_dict(mods[("q", "r", False)].net.bank.params.state_dict())


def hand_for(graph) -> HandDRAW:
    v = graph.variables
    return HandDRAW(graph.plates["steps"].size, v["h"].shape[1], v["z"].shape[0], v["r"].shape[0] != 2 * 784)


def trainer(graph, steps: int) -> Trainer:
    return Trainer(graph, config={"device": "cpu", "steps": steps, "epochs": None, "checkpoint_every": None,
                                  "log_every": max(1, steps)})


def train_by_hand(hand: HandDRAW, t: Trainer, steps: int) -> float:
    """The trainer's batches and binary draws, Adam and clipping, on the hand-written model."""
    cfg = t.config
    train = t.train_data["x"]
    opt = torch.optim.Adam(hand.parameters(), lr=cfg.lr, fused=True)
    per_epoch = max(1, len(train) // cfg.batch_size)
    torch.manual_seed(cfg.seed)
    start = time.process_time()
    for step in range(steps):
        epoch, pos = divmod(step, per_epoch)
        if pos == 0:
            perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch))
        x = train.index_select(0, perm[pos * cfg.batch_size:(pos + 1) * cfg.batch_size])
        x = (torch.rand_like(x) < x).to(x.dtype)
        loss = hand.loss(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(hand.parameters(), cfg.grad_clip)
        opt.step()
    return time.process_time() - start


def draw_twin(graph, runtime) -> HandDRAW:
    """The hand-written DRAW of ``graph`` with the runtime's initial weights."""
    hand = hand_for(graph)
    copy_weights(hand, runtime, graph)
    return hand


def compare(graph, steps: int, k: int, twin=draw_twin, only: str | None = None) -> list[tuple[str, float, float, float]]:
    """Rows ``(name, test ELBO, test IS log-likelihood, training seconds)``; ``twin(graph, runtime)``
    is the hand-written model given graphmodel's initial weights; ``only``: ``"graphmodel"`` or
    ``"pytorch"`` alone (two processes run both at once; each is what the pair would run)."""
    torch.manual_seed(0)
    t = trainer(graph, steps)
    hand = twin(graph, t.runtime)
    rows = []
    if only != "pytorch":
        rows.append(_ours(graph, t, k))
    if only != "graphmodel":
        hand_secs = train_by_hand(hand, t, steps)
        torch.manual_seed(1)
        e, ll_h = hand.scores(t.test_data["x"], k)
        rows.append((f"hand-written PyTorch ({graph.name})", e.mean().item(), ll_h.mean().item(), hand_secs))
    return rows


def _ours(graph, t: Trainer, k: int) -> tuple[str, float, float, float]:
    """graphmodel's row: trained by its trainer, then scored on the test digits."""
    start = time.process_time()
    t.run()
    secs = time.process_time() - start
    test = t.test_data
    rt = t.runtime.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        elbo = bound(rt, graph, test).mean().item()
        torch.manual_seed(2)
        ll = log_likelihood(rt, graph, test, k=k, chunk=2000).mean().item()
    return f"graphmodel ({graph.name})", elbo, ll, secs


def time_steps(graph, rounds: int, per_round: int, compile_: bool) -> dict:
    """Median milliseconds a step of each, timed in interleaved rounds; and their ratio (with
    ``compile_``, also the hand-written eager step's, and each compiled one's ratio to it)."""
    t = Trainer(graph, config={"device": "cpu", "steps": 10**9, "epochs": None, "checkpoint_every": None,
                               "log_every": 10**9, "compile": compile_})
    t.run(steps=2)
    hand = hand_for(graph)
    # the hand-written eager baseline trains a copy of its own: sharing the compiled step's model
    # would train that model twice as often as graphmodel's, and a DRAW's step time moves with
    # its training (subnormal floats in the saturated sigmoids and far filter weights of the
    # first steps cost many times normal ones on a CPU)
    eager_copy = copy.deepcopy(hand)
    train, cfg = t.train_data["x"], t.config

    def hand_stepper(model, loss_fn):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)

        def step():
            x = train.index_select(0, torch.randperm(len(train))[: cfg.batch_size])
            x = (torch.rand_like(x) < x).to(x.dtype)
            loss = loss_fn(x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
        return step

    hand_step = hand_stepper(hand, torch.compile(hand.loss) if compile_ else hand.loss)
    eager_step = hand_stepper(eager_copy, eager_copy.loss)
    for _ in range(2):
        hand_step()
        eager_step()
    at = [2]

    def ours_step():
        t._train_step(at[0])
        at[0] += 1

    steps = [("graphmodel", ours_step), ("pytorch", hand_step)]
    if compile_:  # the hand-written eager step in the same round: the baseline of both
        steps.append(("pytorch eager", eager_step))
    times = {name: [] for name, _ in steps}
    for r in range(rounds):
        for name, step in steps[r % len(steps):] + steps[:r % len(steps)]:  # each round starts with the next
            start = time.process_time()
            for _ in range(per_round):
                step()
            times[name].append((time.process_time() - start) * 1e3 / per_round)
    times["ratio"] = [a / b for a, b in zip(times["graphmodel"], times["pytorch"])]
    if compile_:
        eager = times["pytorch eager"]
        times["graphmodel / pytorch eager"] = [a / b for a, b in zip(times["graphmodel"], eager)]
        times["pytorch / pytorch eager"] = [a / b for a, b in zip(times["pytorch"], eager)]
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plain", action="store_true", help="examples/draw_plain.json (no attention)")
    ap.add_argument("--steps", type=int, help="training steps (default: the file's own)")
    ap.add_argument("--k", type=int, default=100, help="importance samples for the test log-likelihood")
    ap.add_argument("--hidden", type=int, help="each LSTM's width (default: the file's)")
    ap.add_argument("--canvas-steps", type=int, help="T, the steps of the canvas (default: the file's)")
    ap.add_argument("--time", type=int, metavar="ROUNDS", help="only time the training step, interleaved")
    ap.add_argument("--per-round", type=int, default=3, help="with --time: steps per round")
    ap.add_argument("--compile", action="store_true", help="with --time: torch.compile both")
    ap.add_argument("--seed", type=int, help="the training seed (default: the file's)")
    ap.add_argument("--only", choices=("graphmodel", "pytorch"), help="train and score just one of the two")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    graph = gm.load(ROOT / "examples" / ("draw_plain.json" if args.plain else "draw.json"))
    if args.hidden or args.canvas_steps:  # the example at another size (examples/draw.py's build)
        import runpy

        build = runpy.run_path(str(ROOT / "examples" / "draw.py"))["build"]
        graph = build(attention=not args.plain, steps=args.canvas_steps or graph.plates["steps"].size,
                      hidden=args.hidden or graph.variables["h"].shape[1], training=graph.training)
    if args.seed is not None:
        graph.training["seed"] = args.seed
    if args.time:
        m = time_steps(graph, args.time, args.per_round, args.compile)
        mode = "compiled" if args.compile else "eager"
        print(f"| DRAW ({graph.name}), {mode} | {m['graphmodel']:.1f} | {m['pytorch']:.1f} | {m['ratio']:.3f} |")
        if args.compile:
            print(f"hand-written eager {m['pytorch eager']:.1f} ms; graphmodel compiled / it "
                  f"{m['graphmodel / pytorch eager']:.3f}, hand-written compiled / it {m['pytorch / pytorch eager']:.3f}")
        return
    steps = args.steps or graph.training["steps"]
    v = graph.variables
    print(f"DRAW on mnist5k: T = {graph.plates['steps'].size}, LSTMs of {v['h'].shape[1]}, z {v['z'].shape[0]}; "
          f"{steps} training steps; k = {args.k}", flush=True)
    print("| model | test ELBO (nats) | test log-likelihood, IS (nats) | training, CPU (s) |\n| --- | --- | --- | --- |")
    for name, elbo, ll, secs in compare(graph, steps, args.k, only=args.only):
        print(f"| {name} | {elbo:.2f} | {ll:.2f} | {secs:.0f} |", flush=True)


if __name__ == "__main__":
    main()
