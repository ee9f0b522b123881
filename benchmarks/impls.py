"""The implementations the VAE benchmark compares, each as ``make_*(z, h, device) -> Impl``.

An :class:`Impl` has ``step(x)`` (one forward, backward and Adam update on a batch) and
``sample(n)`` (ancestral samples of x from the prior through the decoder). Every VAE has
the same architecture: a 2-hidden-layer MLP encoder 784→h→h→(μ, log σ) of z and a
2-hidden-layer MLP decoder z→h→h→784 Bernoulli logits, Adam at lr 1e-3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

X_DIM = 784
LR = 1e-3
BATCH = 128


@dataclass
class Impl:
    name: str
    step: Callable[[torch.Tensor], object]
    sample: Callable[[int], torch.Tensor] | None = None


def _mlp(a: int, h: int, b: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(a, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, b))


# --- hand-written PyTorch ----------------------------------------------------------------

class HandVAE(nn.Module):
    def __init__(self, z: int, h: int):
        super().__init__()
        self.z = z
        self.enc = _mlp(X_DIM, h, 2 * z)
        self.dec = _mlp(z, h, X_DIM)

    def loss(self, x):
        loc, log_scale = self.enc(x).chunk(2, dim=-1)
        scale = log_scale.exp()
        z = loc + scale * torch.randn_like(loc)
        logits = self.dec(z)
        rec = -nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = 0.5 * (loc.pow(2) + scale.pow(2) - 1).sum(-1) - log_scale.sum(-1)
        return -(rec - kl).mean()


def adam_step(loss_fn: Callable, params, compile: bool | str = False, fused: bool = False) -> Callable:
    """``step(x)``: the loss, a backward pass and an Adam update — the same for every impl.
    ``compile``: the loss through torch.compile (True, or a mode; in a mode that replays CUDA
    graphs each step begins a new replay, as the trainer does). ``fused``: torch's fused
    Adam instead of its default."""
    from inference.config import CUDA_GRAPH_MODES

    graphs = compile in CUDA_GRAPH_MODES
    if compile:
        loss_fn = torch.compile(loss_fn) if compile is True else torch.compile(loss_fn, mode=compile)
    opt = torch.optim.Adam(params, lr=LR, **({"fused": True} if fused else {}))

    def step(x):
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        loss = loss_fn(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def make_hand(z: int, h: int, device, compile: bool | str = False, fused: bool = False) -> Impl:
    m = HandVAE(z, h).to(device)
    step = adam_step(m.loss, m.parameters(), compile, fused)

    @torch.no_grad()
    def sample(n):
        zz = torch.randn(n, z, device=device)
        return torch.bernoulli(torch.sigmoid(m.dec(zz)))

    return Impl("pytorch" + _suffix(compile, "Adam fused" if fused else ""), step, sample)


def _suffix(compile, before: str) -> str:
    if not compile:
        return before and f" ({before})"
    how = "compiled" if compile is True else f"compiled, {compile}"
    return f" ({before}, {how})" if before else f" ({how})"


# --- graphmodel ----------------------------------------------------------------------------

def vae_graph(z: int, h: int):
    import graphmodel as gm

    x = gm.Variable("x", (X_DIM,), support="binary", role="observed")
    zv = gm.Variable("z", (z,))
    return gm.Graph("vae_bench",
                    p=gm.Bernoulli(x, given=zv, net=gm.MLP(h, h)) * gm.Normal(zv, loc=0.0, scale=1.0),
                    q=gm.Normal(zv, given=x, net=gm.MLP(h, h)))


def make_graphmodel(z: int, h: int, device, kl: str = "analytic", compile: bool | str = False) -> Impl:
    import graphmodel as gm
    from inference.objectives import training_loss

    g = gm.loads(gm.dumps(vae_graph(z, h)))  # from the file format, as a user would
    g.objective = {"kind": "elbo", "kl": kl}
    runtime = g.build().to(device)
    loss = training_loss(g)

    def objective(x):
        return loss(runtime, {"x": x}).total

    step = adam_step(objective, runtime.parameters(), compile)

    @torch.no_grad()
    def sample(n):
        return runtime.p.sample(n)["x"]

    name = "graphmodel" + _suffix(compile, f"{'analytic' if kl == 'analytic' else 'MC'} KL")
    return Impl(name, step, sample)


def make_trainer(z: int, h: int, device) -> Impl:
    """graphmodel's own training step (``Trainer``): the next batch of its data, the loss,
    backward, its optimizer's update (torch's fused Adam on a CPU) and the step's metrics
    kept on the device. The batch it is handed is ignored: it reads its own, of the same
    shape, from the same synthetic data."""
    import graphmodel as gm
    from inference.trainer import Trainer

    g = gm.loads(gm.dumps(vae_graph(z, h)))
    g.objective = {"kind": "elbo", "kl": "analytic"}
    trainer = Trainer(g, {"x": synthetic_mnist(BATCH * 9, device)},
                      {"batch_size": BATCH, "lr": LR, "steps": 10**9, "log_every": 10**9, "test_fraction": 0.1,
                       "device": str(device)})
    count = [0]

    def step(x):
        total, _ = trainer._train_step(count[0])
        count[0] += 1
        return total

    return Impl("graphmodel (its trainer's step, analytic KL)", step)


# --- Pyro ------------------------------------------------------------------------------------

def make_pyro(z: int, h: int, device) -> Impl:
    import pyro
    import pyro.distributions as dist
    from pyro.infer import SVI, Trace_ELBO
    from pyro.optim import Adam

    pyro.clear_param_store()
    enc, dec = _mlp(X_DIM, h, 2 * z).to(device), _mlp(z, h, X_DIM).to(device)

    def model(x):
        pyro.module("decoder", dec)
        with pyro.plate("data", x.shape[0]):
            zz = pyro.sample("z", dist.Normal(x.new_zeros(x.shape[0], z), x.new_ones(x.shape[0], z)).to_event(1))
            pyro.sample("x", dist.Bernoulli(logits=dec(zz), validate_args=False).to_event(1), obs=x)

    def guide(x):
        pyro.module("encoder", enc)
        with pyro.plate("data", x.shape[0]):
            loc, log_scale = enc(x).chunk(2, dim=-1)
            pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))

    svi = SVI(model, guide, Adam({"lr": LR}), loss=Trace_ELBO())

    def step(x):
        return svi.step(x)

    return Impl("pyro (Trace_ELBO)", step, None)


# --- Pixyz -------------------------------------------------------------------------------------

def make_pixyz(z: int, h: int, device, kl: str = "analytic") -> Impl:
    from pixyz.distributions import Bernoulli, Normal
    from pixyz.losses import Expectation as E
    from pixyz.losses import KullbackLeibler, LogProb
    from pixyz.models import Model

    class Q(Normal):
        def __init__(self):
            super().__init__(var=["z"], cond_var=["x"], name="q")
            self.net = _mlp(X_DIM, h, 2 * z)

        def forward(self, x):
            loc, log_scale = self.net(x).chunk(2, dim=-1)
            return {"loc": loc, "scale": log_scale.exp()}

    class P(Bernoulli):
        def __init__(self):
            super().__init__(var=["x"], cond_var=["z"], name="p")
            self.net = _mlp(z, h, X_DIM)

        def forward(self, z):
            return {"probs": torch.sigmoid(self.net(z))}

    q, p = Q().to(device), P().to(device)
    prior = Normal(loc=torch.tensor(0.0), scale=torch.tensor(1.0), var=["z"], features_shape=[z],
                   name="p_prior").to(device)
    if kl == "analytic":
        loss = (KullbackLeibler(q, prior) - E(q, LogProb(p))).mean()
    else:
        loss = (E(q, LogProb(q) - LogProb(prior) - LogProb(p))).mean()
    model = Model(loss, distributions=[p, q], optimizer=torch.optim.Adam, optimizer_params={"lr": LR})

    def step(x):
        return model.train({"x": x})

    @torch.no_grad()
    def sample(n):
        zz = prior.sample(batch_n=n)
        return p.sample(zz)["x"]

    return Impl(f"pixyz ({'analytic' if kl == 'analytic' else 'MC'} KL)", step, sample)


def synthetic_mnist(n: int, device, seed: int = 0) -> torch.Tensor:
    """Binarized 784-d data with stroke-like structure (timing only; no download)."""
    g = torch.Generator().manual_seed(seed)
    protos = (torch.rand(10, X_DIM, generator=g) < 0.2).float()
    idx = torch.randint(0, 10, (n,), generator=g)
    flip = torch.rand(n, X_DIM, generator=g) < 0.05
    x = (protos[idx] + flip.float()) % 2
    return x.to(device)


def chain_graph(n: int = 200):
    """A 200-variable chain z1 → z2 → … with small MLPs: the build/derive timing graph."""
    import graphmodel as gm

    vs = [gm.Variable(f"z{k}", (4,)) for k in range(n - 1)] + [gm.Variable("x", (4,), role="observed")]
    p = gm.Normal(vs[0], loc=0.0, scale=1.0)
    for a, b in zip(vs[:-1], vs[1:]):
        p = p * gm.Normal(b, given=a, net=gm.MLP(8))
    q = gm.Normal(vs[-2], given=vs[-1], net=gm.MLP(8))
    for a, b in zip(reversed(vs[:-2]), reversed(vs[1:-1])):
        q = q * gm.Normal(a, given=b, net=gm.MLP(8))
    return gm.Graph("chain", p=p, q=q)


__all__ = ["Impl", "make_hand", "make_graphmodel", "make_pyro", "make_pixyz", "synthetic_mnist", "chain_graph",
           "vae_graph"]
