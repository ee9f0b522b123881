"""A hand-written PyTorch PixelCNN++ for grey images, the baseline of ``benchmarks/pixelcnnpp_compare.py``.

Written as a researcher would write it from the paper (Salimans et al. 2017), apart from
graphmodel: down-shifted and down-right-shifted convolutions, gated residual blocks with
concat_elu and dropout, an up pass with strided convolutions and a down pass with transposed
ones reading the up pass's outputs, a 1×1 convolution to a discretized logistic mixture of
``K`` components per pixel, and its loss in the paper's form (``log_scale`` clamped at −7).
The architecture is the one ``graphmodel.PixelCNNpp(filters, resnets, scales, dropout)``
builds, layer for layer, so the two have the same parameter count.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def _celu(x):
    return F.elu(torch.cat([x, -x], 1))


class DownConv(nn.Conv2d):
    """Sees the rows above (and with ``right``, the left part of the row) only."""

    def __init__(self, cin, cout, k, stride=1, right=False):
        super().__init__(cin, cout, k, stride)
        self.padding_lrtb = (k[1] - 1, 0, k[0] - 1, 0) if right else ((k[1] - 1) // 2, (k[1] - 1) // 2, k[0] - 1, 0)

    def forward(self, x):
        return super().forward(F.pad(x, self.padding_lrtb))


class DownDeconv(nn.ConvTranspose2d):
    def __init__(self, c, k, size, right=False):
        super().__init__(c, c, k, 2, output_padding=1)
        self.size, self.left = size, 0 if right else (k[1] - 1) // 2

    def forward(self, x):
        y = super().forward(x)
        return y[:, :, : self.size[0], self.left: self.left + self.size[1]]


class Block(nn.Module):
    def __init__(self, nf, right, aux, p, cond):
        super().__init__()
        k = (2, 2) if right else (2, 3)
        self.c1 = DownConv(2 * nf, nf, k, right=right)
        self.nin = nn.Conv2d(2 * aux * nf, nf, 1) if aux else None
        self.c2 = DownConv(2 * nf, 2 * nf, k, right=right)
        self.p = p

    def forward(self, x, a=None, h=None):
        c = self.c1(_celu(x))
        if a is not None:
            c = c + self.nin(_celu(a))
        c = F.dropout(_celu(c), self.p, self.training) if self.p else _celu(c)
        c = self.c2(c)
        if h is not None:
            c = c + h[:, :, None, None]
        a, b = c.chunk(2, 1)
        return x + a * torch.sigmoid(b)


class HandPixelCNNpp(nn.Module):
    """PixelCNN++ on ``(N, 1, H, W)`` grey levels in [0, 1]; ``cond``: an optional vector width."""

    def __init__(self, h, w, nf=32, resnets=2, scales=2, dropout=0.5, components=10, levels=256, cond=0):
        super().__init__()
        self.levels, self.k, self.nf = levels, components, nf
        sizes = [(h, w)]
        for _ in range(scales - 1):
            sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))
        self.u0 = DownConv(2, nf, (2, 3))
        self.ul0a = DownConv(2, nf, (1, 3))
        self.ul0b = DownConv(2, nf, (2, 1), right=True)
        self.up = nn.ModuleList(nn.ModuleList(Block(nf, r, r, dropout, cond) for _ in range(resnets) for r in (0, 1))
                                for _ in range(scales))
        self.down_u = nn.ModuleList(DownConv(nf, nf, (2, 3), 2) for _ in range(scales - 1))
        self.down_ul = nn.ModuleList(DownConv(nf, nf, (2, 2), 2, True) for _ in range(scales - 1))
        self.dn = nn.ModuleList(nn.ModuleList(Block(nf, r, 1 + r, dropout, cond)
                                              for _ in range(resnets + (s < scales - 1)) for r in (0, 1))
                                for s in reversed(range(scales)))
        self.up_u = nn.ModuleList(DownDeconv(nf, (2, 3), sizes[s - 1]) for s in reversed(range(1, scales)))
        self.up_ul = nn.ModuleList(DownDeconv(nf, (2, 2), sizes[s - 1], True) for s in reversed(range(1, scales)))
        self.out = nn.Conv2d(nf, 3 * components, 1)
        n = sum(len(b) for b in self.up) + sum(len(b) for b in self.dn)
        self.cond = nn.Linear(cond, n * 2 * nf) if cond else None

    def forward(self, x, c=None):
        """Mixture parameters ``(logits, loc, log_scale)``, each ``(N, H, W, K)``."""
        hs = iter(self.cond(c).split(2 * self.nf, -1)) if c is not None else None
        x = torch.cat([2 * x - 1, torch.ones_like(x)], 1)
        u = F.pad(self.u0(x), (0, 0, 1, 0))[:, :, :-1]
        ul = F.pad(self.ul0a(x), (0, 0, 1, 0))[:, :, :-1] + F.pad(self.ul0b(x), (1, 0, 0, 0))[:, :, :, :-1]
        us, uls = [u], [ul]
        for s, blocks in enumerate(self.up):
            for i in range(0, len(blocks), 2):
                u = blocks[i](u, None, hs and next(hs))
                ul = blocks[i + 1](ul, u, hs and next(hs))
                us += [u]
                uls += [ul]
            if s < len(self.down_u):
                u, ul = self.down_u[s](u), self.down_ul[s](ul)
                us += [u]
                uls += [ul]
        u, ul = us.pop(), uls.pop()
        for s, blocks in enumerate(self.dn):
            for i in range(0, len(blocks), 2):
                u = blocks[i](u, us.pop(), hs and next(hs))
                ul = blocks[i + 1](ul, torch.cat([u, uls.pop()], 1), hs and next(hs))
            if s < len(self.up_u):
                u, ul = self.up_u[s](u), self.up_ul[s](ul)
        y = self.out(F.elu(ul)).permute(0, 2, 3, 1)
        return y.chunk(3, -1)

    def log_prob(self, x, c=None):
        """``log p(x)`` per image, ``(N,)``: the discretized logistic mixture per pixel."""
        logits, loc, log_scale = self(x, c)
        return dlm_log_prob(x[:, 0], logits, loc, log_scale, self.levels).flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n, h, w, c=None):
        """``n`` images, one pixel per pass in raster order."""
        x = torch.zeros(n, 1, h, w)
        for i in range(h):
            for j in range(w):
                logits, loc, log_scale = (t[:, i, j] for t in self(x, c))
                k = torch.distributions.Categorical(logits=logits).sample().unsqueeze(-1)
                m, s = loc.gather(-1, k)[:, 0], log_scale.gather(-1, k)[:, 0].clamp_min(-7).exp()
                u = torch.rand_like(m).clamp(1e-5, 1 - 1e-5)
                v = (m + s * (u.log() - (-u).log1p())).clamp(-1, 1)
                x[:, 0, i, j] = ((v + 1) / 2 * (self.levels - 1)).round() / (self.levels - 1)
        return x


def dlm_log_prob(x, logits, loc, log_scale, levels):
    """PixelCNN++'s discretized logistic mixture log-likelihood of ``x`` in [0, 1] (grey levels)."""
    x = (2 * x - 1).unsqueeze(-1)
    log_scale = log_scale.clamp_min(-7.0)
    centred = x - loc
    inv = torch.exp(-log_scale)
    plus = inv * (centred + 1.0 / (levels - 1))
    minus = inv * (centred - 1.0 / (levels - 1))
    cdf_delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    log_cdf_plus = plus - F.softplus(plus)
    log_one_minus_cdf_min = -F.softplus(minus)
    mid = inv * centred
    log_pdf_mid = mid - log_scale - 2.0 * F.softplus(mid)
    inner = torch.where(cdf_delta > 1e-5, torch.log(cdf_delta.clamp_min(1e-12)),
                        log_pdf_mid - torch.log(torch.tensor((levels - 1) / 2.0)))
    lp = torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, inner))
    return torch.logsumexp(lp + F.log_softmax(logits, -1), -1)
