"""Gated PixelCNN: graphmodel's example against the same network written by hand in PyTorch.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/pixelcnn.py [--example pixelcnn|pixelcnn_digits]
        [--steps N] [--png grid.png] [--only graphmodel|hand] [--hand-png grid.png]

``--example pixelcnn`` (the default) trains ``examples/pixelcnn.json`` (binarized mnist5k,
a Bernoulli per pixel, dynamic binarization; test NLL over mnist5k's 500 test images, drawn
once); ``--example pixelcnn_digits`` trains ``examples/pixelcnn_digits.json`` (the 8×8
digits in 8 grey levels, an 8-way softmax per pixel; its 359 held-out digits). Rows (exact
test NLL in nats and bits/dim): graphmodel's trainer on the file; the same architecture
written here by hand — plain ``nn.Conv2d`` layers, vertical and horizontal stacks, gates,
links, residuals, the 1×1 head — trained with Adam at the same learning rate on the same
batches of the same split (binary pixels drawn afresh per batch from the same random
stream), for the same number of steps and the file's learning-rate schedule; and independent
pixels (the training means). ``--only`` trains one of the two (run both at once, one thread
each, as two processes); ``--hand-png`` saves a grid of the hand-written model's 64 samples,
drawn pixel by pixel with one full pass each (no cache: the twin stays apart from graphmodel).
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

from made import save_grid, trainer_batches  # noqa: E402

import graphmodel as gm  # noqa: E402
from inference.evaluate import bound  # noqa: E402
from inference.trainer import Trainer  # noqa: E402

# --- the hand-written gated PixelCNN -------------------------------------------------------

class HandGated(nn.Module):
    """One gated layer: vertical (rows above), horizontal (pixels to the left), link, residual."""

    def __init__(self, cin: int, c: int, k: int, first: bool):
        super().__init__()
        r = k // 2
        self.r, self.first = r, first
        self.vconv = nn.Conv2d(cin, 2 * c, (r if first else r + 1, k))
        self.hconv = nn.Conv2d(cin, 2 * c, (1, r if first else r + 1))
        self.v2h = nn.Conv2d(2 * c, 2 * c, 1)
        self.hout = nn.Conv2d(c, c, 1)

    def forward(self, v, h):
        H, W, r = v.shape[2], v.shape[3], self.r
        # pad the top by r (and the sides for the vertical kernel); the first layer's kernel
        # is one row shorter, so its extra last output row (which would see row i) is dropped
        vp = self.vconv(F.pad(v, [r, r, r, 0]))[:, :, :H]
        hp = self.hconv(F.pad(h, [r, 0, 0, 0]))[:, :, :, :W] + self.v2h(vp)
        va, vb = vp.chunk(2, 1)
        ha, hb = hp.chunk(2, 1)
        out = self.hout(torch.tanh(ha) * torch.sigmoid(hb))
        return torch.tanh(va) * torch.sigmoid(vb), out if self.first else h + out


class HandPixelCNN(nn.Module):
    """Gated layers over a one-channel image, then ReLU, 1×1 conv, ReLU, 1×1 conv."""

    def __init__(self, channels: int, layers: int, k: int, head: int, outputs: int):
        super().__init__()
        self.gated = nn.ModuleList(HandGated(1 if i == 0 else channels, channels, k, i == 0) for i in range(layers))
        self.head1 = nn.Conv2d(channels, head, 1)
        self.head2 = nn.Conv2d(head, outputs, 1)

    def forward(self, x):
        v = h = x
        for layer in self.gated:
            v, h = layer(v, h)
        return self.head2(F.relu(self.head1(F.relu(h))))

    def nll(self, x, levels: int | None):
        """Per image: Bernoulli (``levels`` None) or a softmax over ``levels`` grey levels."""
        out = self(x)
        if levels is None:
            return F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)
        target = torch.round(x[:, 0] * (levels - 1)).long()
        return F.cross_entropy(out, target, reduction="none").flatten(1).sum(1)


def train_by_hand(graph: gm.Graph, train: torch.Tensor, steps: int, batch: int, lr: float, seed: int,
                  dynamic: bool):
    """Train :class:`HandPixelCNN` on the trainer's batches (the same permutations, and for
    ``dynamic`` binary pixels drawn on the global stream as the trainer draws them)."""
    torch.manual_seed(seed)
    o, levels = graph.factors[0].net.options, graph.factors[0].family_options.get("levels")
    model = HandPixelCNN(o["channels"], o["layers"], o["kernel_size"], o["head"], levels or 1)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    cosine = graph.training.get("lr_schedule") == "cosine"
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps)) if cosine else None
    start = time.perf_counter()
    for x in trainer_batches(train, steps, batch, seed, dynamic):
        loss = model.nll(x, levels).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    return model, levels, time.perf_counter() - start


@torch.no_grad()
def hand_samples(model: HandPixelCNN, n: int, shape: tuple, levels: int | None, seed: int = 0) -> torch.Tensor:
    """``n`` samples drawn pixel by pixel in raster order, one pass of the network per pixel
    over the rows drawn so far (the network is causal: rows below do not change them)."""
    gen = torch.Generator().manual_seed(seed)
    _, height, width = shape
    x = torch.zeros(n, *shape)
    for i in range(height):
        for j in range(width):
            out = model(x[:, :, : i + 1])[:, :, i, j]
            if levels is None:
                x[:, 0, i, j] = (torch.rand(n, generator=gen) < torch.sigmoid(out[:, 0])).float()
            else:
                k = torch.multinomial(torch.softmax(out, -1), 1, generator=gen)[:, 0]
                x[:, 0, i, j] = k.float() / (levels - 1)
    return x


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--example", choices=("pixelcnn", "pixelcnn_digits"), default="pixelcnn")
    ap.add_argument("--steps", type=int, help="training steps (default: the example file's own)")
    ap.add_argument("--png", help="save a grid of graphmodel's samples here")
    ap.add_argument("--only", choices=("graphmodel", "hand"), help="train only one of the two")
    ap.add_argument("--hand-png", help="save a grid of the hand-written model's samples here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    graph = gm.load(ROOT / "examples" / f"{args.example}.json")
    steps = args.steps or graph.training["steps"]
    print(f"{args.example}, {steps} steps, {graph.factors[0].net}", flush=True)
    t = Trainer(graph, config={"device": "cpu", "steps": steps, "epochs": None, "checkpoint_every": None,
                               "log_every": steps, "num_samples": 1})
    test, cfg, x = t.test_data["x"], t.config, t.test_data["x"]
    dim = x[0].numel()
    print("| model | parameters | test NLL (nats) | bits/dim | training (s) |\n| --- | --- | --- | --- | --- |")
    if args.only != "hand":
        start = time.perf_counter()
        t.run()
        ours = time.perf_counter() - start
        with torch.no_grad():
            nll = -bound(t.runtime.eval(), graph, t.test_data).mean().item()
        params = sum(p.numel() for p in t.runtime.parameters())
        print(f"| graphmodel (`{args.example}.json`) | {params:,} | {nll:.2f} | {nll / dim / math.log(2):.4f} "
              f"| {ours:.0f} |", flush=True)
    levels = graph.factors[0].family_options.get("levels")
    if args.only != "graphmodel":
        model, levels, secs = train_by_hand(graph, t.train_data["x"], steps, cfg.batch_size, cfg.lr, cfg.seed,
                                            bool(t.dynamic))
        with torch.no_grad():
            hand = model.nll(test, levels).mean().item()
        print(f"| hand-written PyTorch | {sum(p.numel() for p in model.parameters()):,} | {hand:.2f} | "
              f"{hand / dim / math.log(2):.4f} | {secs:.0f} |", flush=True)
        if args.hand_png:
            save_hand_grid(model, x.shape[1:], levels, args.hand_png)
    base = independent(t.train_data["x"], x, levels)
    print(f"| independent pixels (training frequencies) | | {base:.2f} | {base / dim / math.log(2):.4f} | |")
    print(f"(batch {cfg.batch_size}, lr {cfg.lr}, seed {cfg.seed}; {len(t.train_data['x'])} training and "
          f"{len(x)} test examples)")
    if args.png and args.only != "hand":
        save_grid(t.runtime, graph, args.png)


def save_hand_grid(model: HandPixelCNN, shape: tuple, levels: int | None, path: str) -> None:
    """A grid of the hand-written model's 64 samples (seed 0) at ``path``, as graphmodel draws its own."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    x = hand_samples(model.eval(), 64, tuple(shape), levels)
    grid = x[:, 0].reshape(8, 8, *shape[1:]).permute(0, 2, 1, 3).reshape(8 * shape[1], 8 * shape[2])
    plt.figure(figsize=(4, 4))
    plt.imshow(grid.numpy(), cmap="gray", vmin=0, vmax=1)
    plt.axis("off")
    plt.title("hand-written PixelCNN, samples of x")
    plt.savefig(path, dpi=100, bbox_inches="tight")
    print(f"wrote {path}")


def independent(train: torch.Tensor, test: torch.Tensor, levels: int | None) -> float:
    """The test NLL of independent pixels, each with its training frequencies."""
    if levels is None:
        p = train.mean(0).clamp(1e-3, 1 - 1e-3)  # (grey levels' means are the pixels' probabilities)
        return -(test * p.log() + (1 - test) * (1 - p).log()).flatten(1).sum(1).mean().item()
    k = lambda x: torch.round(x * (levels - 1)).long()  # noqa: E731
    counts = F.one_hot(k(train), levels).sum(0).double() + 1.0  # (Laplace smoothing)
    logp = (counts / counts.sum(-1, keepdim=True)).log()
    picked = logp.expand(len(test), *logp.shape).gather(-1, k(test).unsqueeze(-1))
    return -picked.flatten(1).sum(1).mean().item()


if __name__ == "__main__":
    main()
