"""The terms of adversarial games: a game network's score on a source of inputs, and penalties.

A :class:`Critic` is a :class:`inference.losses.Loss` leaf ``E[link(N(inputs))]`` for a network
``N`` that lives outside the graph (a discriminator ``D`` or AVB's adversary ``T``). Its inputs
come from a :class:`Source`: the batch, a fresh sample of the generative model, or the inference
model's sample on the batch. Which side a term trains decides where its gradient may go: a
discriminator's term draws its inputs without gradients, a generator's term calls the network
with its weights frozen, so that each player's loss reaches its own parameters and nothing else.
:mod:`inference.adversarial` assembles these terms into games.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from graphmodel import GraphModelError
from graphmodel.render.formula import pick

from .estimators import Leaf
from .losses import Sampling

__all__ = ["Critic", "GradientPenalty", "Source"]


# --- where a game network's inputs come from --------------------------------------------

@dataclass(frozen=True)
class Source:
    """The inputs of a game network for one batch, in its input order.

    Attributes:
        kind: ``"data"`` (the batch), ``"prior"`` (a fresh ancestral sample of model ``p``
            given the batch's inputs) or ``"posterior"`` (``q`` traced on the batch and ``p``
            scored on q's sample).
        take: ``(variable, how)`` per input: ``"batch"`` reads the batch, ``"value"`` the
            sample (p's for ``"prior"``, q's for ``"posterior"``), and a factor label reads
            the mean of that factor's distribution in p's trace (a decoder's ``E[x|z]``).
        p, q: the models traced.
        shared: the q values given to p (``"posterior"``).
        stop: shared values detached on their way to p (no gradient into q through them).
    """

    kind: str
    take: tuple
    p: str | None = None
    q: str | None = None
    shared: tuple = ()
    stop: tuple = ()


def _given(data: dict, names) -> dict:
    return {k: v for k, v in data.items() if k in set(names)}


def _draw(ctx, s: Source, grad: bool) -> tuple:
    rt, data = ctx.runtime, ctx.batch
    trace = q_trace = None
    if s.kind == "prior":
        m = rt.model(s.p)
        given = _given(data, m.plan.names[: len(m.plan.inputs)])
        trace = m.trace(given or None, n=None if given else ctx.size, score=False)
    elif s.kind == "posterior":
        if grad and not s.stop:  # the very sample the model's other terms read (one per evaluation)
            q_trace, trace = ctx.traces(Sampling(s.q, s.p, None, s.shared))
        else:
            qm = rt.model(s.q)
            q_trace = qm.trace(_given(data, qm.plan.names), score=False)
            if any(how not in ("batch", "value") for _, how in s.take):  # p only where a mean is read
                pm = rt.model(s.p)
                given = _given(data, pm.plan.names)
                for n in s.shared:
                    given[n] = q_trace.values[n].detach() if n in s.stop else q_trace.values[n]
                trace = pm.trace(given, score=False)
    out = []
    for name, how in s.take:
        if how == "batch":
            out.append(data[name])
        elif how == "value":
            out.append((q_trace or trace).values[name])
        else:
            out.append(trace.dists[how].mean)
    return tuple(out)


def _inputs(ctx, s: Source, grad: bool) -> tuple:
    """The inputs for ``s``; drawn once per evaluation (and gradient mode), then shared."""
    if s.kind == "data":
        return tuple(ctx.batch[n] for n, _ in s.take)
    key = ("adversarial", s, grad)
    hit = ctx._cache.get(key)  # the evaluation's trace cache: terms over one source share a sample
    if hit is None:
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            hit = ctx._cache[key] = _draw(ctx, s, grad)
    return hit


def _run(net: nn.Module, xs, frozen: bool) -> torch.Tensor:
    """The network's scalar output ``(batch,)``; ``frozen``: its weights get no gradient.

    Frozen weights are left out of the autograd graph while it is recorded (gradients still
    flow through the inputs), which costs less than a functional call with detached copies.
    """
    if not frozen:
        return net(*xs)[0]
    params = [p for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        return net(*xs)[0]
    finally:
        for p in params:
            p.requires_grad_(True)


# --- leaves ------------------------------------------------------------------------------

_LINKS = {
    "log_sigmoid": F.logsigmoid,  # log D = log σ(d)
    "log1m_sigmoid": lambda d: F.logsigmoid(-d),  # log(1 − D)
    "raw": lambda d: d,  # a critic's score
}


class Critic(Leaf):
    """``E[link(N(inputs))]`` for a game network ``N`` (a discriminator or adversary).

    Args:
        net: the network; its one head is a scalar per example.
        source: where its inputs come from.
        link: ``"log_sigmoid"`` (``log D``), ``"log1m_sigmoid"`` (``log(1 − D)``) or ``"raw"``.
        trains: ``"net"``: the network's weights get the gradient and the inputs are drawn
            without one (a discriminator's step); ``"inputs"``: the network is frozen and the
            gradient flows through the inputs into the models (a generator's step).
        text: the printed ``(unicode, latex)`` formula.
    """

    def __init__(self, net: nn.Module, source: Source, link: str, trains: str, text: tuple):
        if link not in _LINKS or trains not in ("net", "inputs"):
            raise GraphModelError(f"Critic: unknown link {link!r} or side {trains!r}")
        self.net, self.source, self.link, self.trains, self.text = net, source, link, trains, text

    def _value(self, ctx):
        xs = _inputs(ctx, self.source, grad=self.trains == "inputs")
        return _LINKS[self.link](_run(self.net, xs, frozen=self.trains == "inputs"))

    def _fmt(self, latex):
        return pick(self.text, latex)


class GradientPenalty(Leaf):
    """A penalty on the norm of a critic's input gradient; trains the critic only.

    WGAN-GP (Gulrajani et al. 2017): ``E_x̂[(‖∇D(x̂)‖ − 1)²]`` on random interpolates ``x̂`` of
    data and samples (``fake`` given, ``center=1``). R1 (Mescheder et al. 2018):
    ``E_data[‖∇D(x)‖²]`` on the data alone (``fake=None``, ``center=0``). ``mix`` are the inputs
    differentiated (and interpolated); the others (labels) are the data's.
    """

    def __init__(self, net: nn.Module, real: Source, fake: Source | None, mix: tuple, center: float, text: tuple):
        self.net, self.real, self.fake, self.mix = net, real, fake, tuple(mix)
        self.center, self.text = float(center), text

    def _value(self, ctx):
        outer = torch.is_grad_enabled()
        real = _inputs(ctx, self.real, grad=False)
        fake = _inputs(ctx, self.fake, grad=False) if self.fake is not None else None
        with torch.enable_grad():  # the penalty needs ∇_x even when evaluated without gradients
            xs, points = [], []
            for k, (name, _) in enumerate(self.real.take):
                x = real[k]
                if name in self.mix:
                    if fake is not None:
                        eps = torch.rand(x.shape[:1] + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
                        x = eps * x + (1 - eps) * fake[k].detach()
                    x = x.detach().requires_grad_(True)
                    points.append(x)
                xs.append(x)
            d = _run(self.net, xs, frozen=False)
            grads = torch.autograd.grad(d.sum(), points, create_graph=outer)
            sq = sum(g.flatten(1).pow(2).sum(1) for g in grads)
            out = sq if self.center == 0 else ((sq + 1e-12).sqrt() - self.center).pow(2)
        return out if outer else out.detach()

    def _fmt(self, latex):
        return pick(self.text, latex)
