"""A GQN written by hand in PyTorch: the architecture of ``examples/gqn.py``, layer for layer.

The same tower (two stride-2 convolutions with residual 3×3 blocks, the pose joined at a
quarter of the side, a 1×1 output), summed over the context views; the same conditional
DRAW generator: a ConvLSTM core ``g`` reading ``z``, the query pose and ``r``; a prior that is
a convolution of the previous ``g`` (a learned constant at the first step); an inference
ConvLSTM ``e`` reading the query image folded onto the cores' grid by space-to-depth, its
pose, ``r`` and the previous ``g``; the canvas ``u`` adding a transposed convolution of each
``g``; the query view Normal around a 1×1 convolution of the last canvas, σ given. As in
the graph, the cores' states and the canvas start from zero before the first step (so the
first prior is the prior convolution's bias), and positive parameters are ``exp`` of raw values.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Tower(nn.Module):
    """One view's image ``(n, 3, S, S)`` and pose ``(n, 7)`` to a map ``(n, out, S/4, S/4)``."""

    def __init__(self, out: int, channels: int, pose: int = 7):
        super().__init__()
        w, half = channels, max(channels // 2, 1)
        self.down1 = nn.Conv2d(3, w, 2, stride=2)
        self.block1 = nn.Conv2d(w, half, 3, padding=1)
        self.down2 = nn.Conv2d(half, w, 2, stride=2)
        self.skip2 = nn.Conv2d(w, w, 2, stride=2)
        self.block2 = nn.Conv2d(w + pose, half, 3, padding=1)
        self.mix2 = nn.Conv2d(half, w, 3, padding=1)
        self.skip3 = nn.Conv2d(w + pose, w, 3, padding=1)
        self.out = nn.Conv2d(w, out, 1)

    def forward(self, x, v):
        a = F.relu(self.down1(x))
        a = F.relu(self.down2(F.relu(self.block1(a)))) + F.relu(self.skip2(a))
        a = torch.cat((a, v[:, :, None, None].expand(-1, -1, *a.shape[-2:])), 1)
        a = F.relu(self.mix2(F.relu(self.block2(a)))) + F.relu(self.skip3(a))
        return self.out(a)


class ConvLSTM(nn.Module):
    """A ConvLSTM cell over ``(h, c)``."""

    def __init__(self, inputs: int, hidden: int, kernel: int):
        super().__init__()
        self.gates = nn.Conv2d(inputs + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x, state):
        h, c = state
        i, f, o, g = self.gates(torch.cat((x, h), 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class HandGQN(nn.Module):
    """The GQN; ``loss(batch, sigma)`` is the negative ELBO per example, ``predict`` the query's mean."""

    def __init__(self, steps=4, hidden=32, latent=4, rep=32, canvas=8, tower=32, kernel=3, side=32):
        super().__init__()
        self.steps, self.grid, self.hidden, self.canvas, self.side = steps, side // 4, hidden, canvas, side
        self.tower = Tower(rep, tower)
        self.core_g = ConvLSTM(latent + 7 + rep, hidden, kernel)
        self.core_e = ConvLSTM(3 * 16 + 7 + rep + hidden, hidden, kernel)
        self.prior = nn.Conv2d(hidden, 2 * latent, kernel, padding=kernel // 2)
        self.posterior = nn.Conv2d(hidden, 2 * latent, kernel, padding=kernel // 2)
        self.write = nn.ConvTranspose2d(hidden, canvas, 4, stride=4)
        self.observe = nn.Conv2d(canvas, 3, 1)

    def representation(self, x_c, v_c):
        n, k = x_c.shape[:2]
        return self.tower(x_c.flatten(0, 1), v_c.flatten(0, 1)).unflatten(0, (n, k)).sum(1)

    def _canvas(self, batch, posterior: bool):
        """Run the generator (and the inference core): the last canvas and the summed KL."""
        r = self.representation(batch["x_c"], batch["v_c"])
        n = len(r)
        vq = batch["v"][:, :, None, None].expand(-1, -1, self.grid, self.grid)
        zero = r.new_zeros(n, self.hidden, self.grid, self.grid)
        g = e = (zero, zero)
        u = r.new_zeros(n, self.canvas, self.side, self.side)
        kl = 0.0
        xq = F.pixel_unshuffle(batch["x"], 4) if posterior else None
        for _ in range(self.steps):
            p_loc, p_raw = self.prior(g[0]).chunk(2, 1)
            if posterior:
                e = self.core_e(torch.cat((xq, r, g[0], vq), 1), e)
                q_loc, q_raw = self.posterior(e[0]).chunk(2, 1)
                z = q_loc + q_raw.exp() * torch.randn_like(q_loc)
                kl = kl + (p_raw - q_raw + ((2 * q_raw).exp() + (q_loc - p_loc) ** 2) / (2 * (2 * p_raw).exp())
                           - 0.5).flatten(1).sum(1)
            else:
                z = p_loc + p_raw.exp() * torch.randn_like(p_loc)
            g = self.core_g(torch.cat((z, r, vq), 1), g)
            u = u + self.write(g[0])
        return u, kl

    def loss(self, batch, sigma: float):
        """The negative ELBO of each example, ``(n,)`` nats (the query view given its context)."""
        u, kl = self._canvas(batch, True)
        mean = self.observe(u)
        log_px = torch.distributions.Normal(mean, sigma).log_prob(batch["x"]).flatten(1).sum(1)
        return kl - log_px

    @torch.no_grad()
    def predict(self, batch):
        """The query view's mean given a draw from the prior."""
        u, _ = self._canvas(batch, False)
        return self.observe(u)
