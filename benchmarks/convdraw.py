"""ConvDRAW on binarized mnist5k: graphmodel's ``examples/convdraw.json`` against a hand-written ConvDRAW.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/convdraw.py [--steps N] [--k 100]

The same architecture written here by hand, layer for layer (``HandConvDRAW``): ConvLSTM
encoder and decoder over 7×7 maps (one 'same' convolution over ``[inputs, h]`` for the four
gates), the read one strided convolution of ``[x, x − σ(c)]``, a learned prior per step (a
'same' convolution of the decoder's previous h to loc and log σ), the posterior the same
convolution of the encoder's h, the write a transposed convolution added onto the canvas,
``p(x | c_T)`` Bernoulli with the canvas as logits, the KL in closed form step by step. It
starts from graphmodel's initial weights and sees the same batches, binary draws, Adam,
gradient clipping and number of steps (``benchmarks/draw.py``'s harness); both are scored on
mnist5k's 500 test digits: the ELBO and the importance-sampled log-likelihood (``--k``).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import draw  # noqa: E402  (benchmarks/draw.py: the training and scoring harness)
from gqn_hand import ConvLSTM  # noqa: E402  (the hand-written GQN's ConvLSTM cell: the same cell)

import graphmodel as gm  # noqa: E402

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _log_normal(z, loc, log_scale):
    return (-0.5 * ((z - loc) / log_scale.exp()).square() - log_scale - _HALF_LOG_2PI).flatten(1).sum(1)


class HandConvDRAW(draw.Scored):
    """ConvDRAW as ``examples/convdraw.py`` builds it, for ``steps`` steps of ``channels``-channel maps."""

    def __init__(self, steps: int, channels: int, latent: int, kernel: int = 3, head_kernel: int = 5,
                 side: int = 28, grid: int = 7):
        super().__init__()
        self.T, self.C, self.grid = steps, channels, grid
        s = side // grid
        self.read = nn.Conv2d(2, channels // 2, s, stride=s)
        self.enc = ConvLSTM(channels // 2 + channels, channels, kernel)
        self.dec = ConvLSTM(latent, channels, kernel)
        self.prior = nn.Conv2d(channels, 2 * latent, head_kernel, padding=head_kernel // 2)
        self.posterior = nn.Conv2d(channels, 2 * latent, head_kernel, padding=head_kernel // 2)
        self.write = nn.ConvTranspose2d(channels, 1, s, stride=s)

    def run(self, x, k: int = 1):
        b = x.shape[0]
        zero = x.new_zeros(b, self.C, self.grid, self.grid)
        dec = enc = (zero, zero)
        canvas = torch.zeros_like(x)
        kl, log_ratio = x.new_zeros(b), x.new_zeros(b)
        for _ in range(self.T):
            r = self.read(torch.cat((x, x - torch.sigmoid(canvas)), 1))
            enc = self.enc(torch.cat((r, dec[0]), 1), enc)
            q_loc, q_ls = self.posterior(enc[0]).chunk(2, 1)
            p_loc, p_ls = self.prior(dec[0]).chunk(2, 1)
            eps = torch.randn_like(q_loc)
            z = q_loc + q_ls.exp() * eps
            kl = kl + (p_ls - q_ls + ((2 * q_ls).exp() + (q_loc - p_loc).square()) / (2 * (2 * p_ls).exp())
                       - 0.5).flatten(1).sum(1)
            log_ratio = log_ratio + _log_normal(z, p_loc, p_ls) - _log_normal(z, q_loc, q_ls)
            dec = self.dec(z, dec)
            canvas = canvas + self.write(dec[0])
        rec = -F.binary_cross_entropy_with_logits(canvas, x, reduction="none").flatten(1).sum(1)
        return rec, log_ratio, kl


def twin(graph, runtime) -> HandConvDRAW:
    """The hand-written ConvDRAW of ``graph`` with the runtime's initial weights."""
    v = graph.variables
    mods = {(f.model, f.target, bool(f.init)): m for f, m in zip(graph.factors, runtime.factor_modules)}
    hand = HandConvDRAW(graph.plates["steps"].size, v["h"].shape[1], v["z"].shape[0],
                        kernel=mods[("q", "e", False)].net.gates.kernel_size[0],
                        head_kernel=mods[("q", "z", False)].net.conv.kernel_size[0])
    hand.read.load_state_dict(mods[("q", "r", False)].net.conv.state_dict())
    hand.enc.gates.load_state_dict(mods[("q", "e", False)].net.gates.state_dict())
    hand.posterior.load_state_dict(mods[("q", "z", False)].net.conv.state_dict())
    hand.prior.load_state_dict(mods[("p", "z", False)].net.conv.state_dict())
    hand.dec.gates.load_state_dict(mods[("p", "h", False)].net.gates.state_dict())
    hand.write.load_state_dict(mods[("p", "c", False)].net.write.state_dict())
    return hand


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, help="training steps (default: the file's own)")
    ap.add_argument("--k", type=int, default=100, help="importance samples for the test log-likelihood")
    ap.add_argument("--only", choices=("graphmodel", "pytorch"), help="one of the two (run both at once)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    graph = gm.load(HERE.parent / "examples" / "convdraw.json")
    steps = args.steps or graph.training["steps"]
    v = graph.variables
    print(f"ConvDRAW on mnist5k: T = {graph.plates['steps'].size}, ConvLSTMs of {v['h'].shape[1]} channels, "
          f"z {list(v['z'].shape)}; {steps} training steps; k = {args.k}", flush=True)
    print("| model | test ELBO (nats) | test log-likelihood, IS (nats) | training, CPU (s) |\n| --- | --- | --- | --- |")
    for name, elbo, ll, secs in draw.compare(graph, steps, args.k, twin=twin, only=args.only):
        print(f"| {name} | {elbo:.2f} | {ll:.2f} | {secs:.0f} |", flush=True)


if __name__ == "__main__":
    main()
