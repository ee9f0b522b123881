"""SketchRNN written by hand in PyTorch, beside ``examples/sketchrnn.json`` built by graphmodel.

The hand-written model has the example's sizes: a bidirectional LSTM encoder (each direction
reading each drawing up to its length, the backward one over the drawing reversed within its
length), q(z|strokes) a diagonal Normal (σ = exp), the decoder's initial (h, c) a linear map of
z, an LSTM over the previous step's point and z (teacher forcing, one ``nn.LSTM`` call), at
each step a mixture of bivariate Normals for the offset and a 3-way pen; the loss is the
negative ELBO masked to each drawing's length, the KL weighted by β with free bits. The
heads read h (what ``nn.LSTM`` returns per step), as graphmodel's read ``h = hc[0]``. One
difference is left: the correlation is ``tanh(x)`` here (the paper's), ``2·sigmoid(x) − 1 =
tanh(x/2)`` in graphmodel (the family's ``transform_to`` of the interval (−1, 1)).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from graphmodel.networks.bidirectional import at_last, reversed_within

LOG_2PI = math.log(2 * math.pi)


class HandSketchRNN(nn.Module):
    def __init__(self, latent: int = 32, encoder: int = 128, decoder: int = 256, components: int = 10):
        super().__init__()
        self.m, self.hid = components, decoder
        self.fwd = nn.LSTM(5, encoder, batch_first=True)
        self.bwd = nn.LSTM(5, encoder, batch_first=True)
        self.to_z = nn.Linear(2 * encoder, 2 * latent)
        self.init = nn.Linear(latent, 2 * decoder)
        self.dec = nn.LSTM(5 + latent, decoder, batch_first=True)
        self.out = nn.Linear(decoder, 6 * components + 3)

    def encode(self, x, n):
        a, _ = self.fwd(x)
        b, _ = self.bwd(reversed_within(x, n))
        loc, log_scale = self.to_z(torch.cat((at_last(a, n), at_last(b, n)), -1)).chunk(2, -1)
        return loc, log_scale

    def terms(self, d, pen, n):
        """Per example: the reconstruction log-likelihood and the KL, ``(B,)`` each."""
        x = torch.cat((d, pen), -1)
        steps = x.shape[1]
        valid = torch.arange(steps, device=x.device) < n.unsqueeze(-1)
        x = x * valid.unsqueeze(-1)  # the padding zeroed, as graphmodel does
        loc, log_scale = self.encode(x, n)
        z = loc + log_scale.exp() * torch.randn_like(loc)
        h0, c0 = self.init(z).chunk(2, -1)
        prev = torch.cat((x[:, :-1], z.unsqueeze(1).expand(-1, steps - 1, -1)), -1)
        hs, _ = self.dec(prev, (h0.unsqueeze(0).contiguous(), c0.unsqueeze(0).contiguous()))
        hs = torch.cat((h0.unsqueeze(1), hs), 1)  # step 0 reads the initial state
        rec = (self.point_log_prob(self.out(hs), d, pen) * valid).sum(-1)
        kl = 0.5 * (loc.square() + (2 * log_scale).exp() - 1).sum(-1) - log_scale.sum(-1)
        return rec, kl

    def point_log_prob(self, y, d, pen):
        m = self.m
        logits, mu, log_sigma, corr, pen_logits = y.split((m, 2 * m, 2 * m, m, 3), -1)
        mu, log_sigma = mu.unflatten(-1, (m, 2)), log_sigma.unflatten(-1, (m, 2))
        rho = torch.tanh(corr)
        u = (d.unsqueeze(-2) - mu) / log_sigma.exp()
        one_minus = (1 - rho.square()).clamp_min(1e-6)
        quad = (u[..., 0].square() + u[..., 1].square() - 2 * rho * u[..., 0] * u[..., 1]) / one_minus
        comp = -LOG_2PI - log_sigma.sum(-1) - 0.5 * one_minus.log() - 0.5 * quad
        lp_d = torch.logsumexp(F.log_softmax(logits, -1) + comp, -1)
        lp_pen = (F.log_softmax(pen_logits, -1) * pen).sum(-1)
        return lp_d + lp_pen

    def loss(self, d, pen, n, beta: float = 1.0, free_bits: float = 6.4):
        rec, kl = self.terms(d, pen, n)
        return -(rec.mean() - beta * kl.mean().clamp_min(free_bits))


def anneal(step: int, start: float = 0.01, end: float = 1.0, steps: int = 2000) -> float:
    """The example's β: linear from ``start`` to ``end`` over ``steps``."""
    return start + (end - start) * min(step / steps, 1.0)
