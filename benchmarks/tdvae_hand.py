"""TD-VAE written by hand in PyTorch: the architecture of ``examples/tdvae.json``, layer for layer.

A belief LSTM cell over the frames, bₜ = (hₜ, cₜ) from b₋₁ = 0; the belief distribution
p_B(z|b) (an MLP with 64 hidden units on the flattened (h, c), one network for z₁ at t₁ and z₂
at t₂); the transition p_T(z₂|z₁,δ), the smoothing posterior q_S(z₁|z₂,b_{t₁},b_{t₂}) and the
decoder p_D(x|z), each an MLP with 64 hidden units; Normal scales are ``exp`` of the outputs.
The loss of one pair per sequence (Gregor et al. 2019, eq. 8; the KL of z₁ in closed form):

    −E[log p_D(x_{t₂}|z₂) + log p_T(z₂|z₁,δ) − log p_B(z₂|b_{t₂})] + KL[q_S ‖ p_B(z₁|b_{t₁})]
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

HIDDEN, STATE, LATENT = 64, 32, 8


def mlp(inputs: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, outputs))


def normal(net: nn.Module, x: torch.Tensor) -> Normal:
    loc, raw = net(x).chunk(2, -1)
    return Normal(loc, raw.exp())


class TDVAE(nn.Module):
    """The hand-written model; ``loss(x, pair)`` is the batch mean and its terms."""

    def __init__(self, pixels: int):
        super().__init__()
        self.cell = nn.LSTMCell(pixels, STATE)
        self.belief = mlp(2 * STATE, 2 * LATENT)
        self.transition = mlp(LATENT + 1, 2 * LATENT)
        self.smoothing = mlp(LATENT + 4 * STATE, 2 * LATENT)
        self.decoder = mlp(LATENT, pixels)

    def beliefs(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, T, 2, STATE)``: (h, c) after each frame."""
        h = c = x.new_zeros(x.shape[0], STATE)
        out = []
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
            out.append(torch.stack((h, c), 1))
        return torch.stack(out, 1)

    def loss(self, x: torch.Tensor, pair: torch.Tensor) -> tuple[torch.Tensor, dict]:
        rows = torch.arange(x.shape[0])
        t1, t2 = pair.unbind(-1)
        b = self.beliefs(x)
        b1, b2 = b[rows, t1].flatten(1), b[rows, t2].flatten(1)
        delta = (t2 - t1).unsqueeze(-1).to(x.dtype)
        pb2 = normal(self.belief, b2)
        z2 = pb2.rsample()
        qs = normal(self.smoothing, torch.cat((z2, b1, b2), -1))
        z1 = qs.rsample()
        recon = -nn.functional.binary_cross_entropy_with_logits(self.decoder(z2), x[rows, t2], reduction="none").sum(-1)
        jump = normal(self.transition, torch.cat((z1, delta), -1)).log_prob(z2).sum(-1) - pb2.log_prob(z2).sum(-1)
        kl = kl_divergence(qs, normal(self.belief, b1)).sum(-1)
        bound = recon + jump - kl
        return -bound.mean(), {k: float(v.detach().mean()) for k, v in (("recon", recon), ("jump", jump), ("kl", kl))}

    @torch.no_grad()
    def rollout(self, b: torch.Tensor, start: int, jumps, n: int) -> torch.Tensor:
        """``(n, batch, len(jumps), pixels)``: decoded means after each jump from the belief at ``start``."""
        z = normal(self.belief, b[:, start].flatten(1).expand(n, -1, -1)).sample()  # (n, batch, LATENT)
        frames = []
        for d in jumps:
            z = normal(self.transition, torch.cat((z, torch.full((*z.shape[:-1], 1), float(d))), -1)).sample()
            frames.append(torch.sigmoid(self.decoder(z)))
        return torch.stack(frames, 2)


def parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

