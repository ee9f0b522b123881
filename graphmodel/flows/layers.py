"""Invertible layers with exact log-determinants, and the torch ``Transform`` they produce.

A layer is an ``nn.Module`` holding a transform's learnable parameters for one event shape;
:meth:`FlowLayer.transform` returns a fresh ``torch.distributions.transforms.Transform``
(``cache_size=1``) over the whole event, so that a ``TransformedDistribution`` scoring the
very sample it drew needs no inversion. Each layer computes its output and its
``log|det J|`` together (``forward``/``inverse``); the transform keeps the last pair's
log-determinant, so scoring a fresh sample costs no extra network pass.

Shapes: a value is ``(batch..., *event)``; a log-determinant is ``(batch...)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import constraints
from torch.distributions.transforms import Transform
from torch.nn import functional as F

from ..errors import GraphModelError
from ..networks import _flatten_inputs


class FlowLayer(nn.Module):
    """Base class: an invertible map of events shaped ``event_shape``.

    Subclasses implement :meth:`forward` (``x → (y, log|det ∂y/∂x|)``) and, where a closed
    form exists, :meth:`inverse` (``y → (x, log|det ∂y/∂x|)`` at that ``x``).
    """

    #: whether :meth:`inverse` exists in closed form (planar and radial flows have none)
    invertible = True
    #: whether the layer's network also reads the factor's parents (a conditional flow):
    #: then :meth:`forward` and :meth:`inverse` take them after the value
    conditional = False

    def __init__(self, event_shape: tuple[int, ...], name: str):
        super().__init__()
        self.event_shape = tuple(event_shape)
        self.event_ndim = len(self.event_shape)
        self.dim = math.prod(self.event_shape)
        self.name = name

    def inverse(self, y: torch.Tensor, *context):
        raise GraphModelError(
            f"{self.name}: this transform has no closed-form inverse, so it cannot score a value it did "
            "not draw itself (data, or another model's sample); use it in a posterior only, or use an "
            "invertible transform (coupling, maf, iaf, actnorm, conv1x1, permute)")

    def transform(self, context: tuple = ()) -> Transform:
        """A fresh transform over this layer's event (``cache_size=1``), given the parents'
        values ``context`` when the layer is conditional."""
        return LayerTransform(self, tuple(context) if self.conditional else ())

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(*x.shape[: x.dim() - self.event_ndim], self.dim)

    def _unflat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(*x.shape[:-1], *self.event_shape)

    def _batch_zeros(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[: x.dim() - self.event_ndim])


class LayerTransform(Transform):
    """A :class:`FlowLayer` as a torch transform; remembers the last pair's log-determinant."""

    bijective = True

    def __init__(self, layer: FlowLayer, context: tuple = ()):
        super().__init__(cache_size=1)
        self.layer = layer
        self.context = context
        self.domain = self.codomain = constraints.independent(constraints.real, layer.event_ndim)
        self._last = None  # (x, y, log|det J|) of the last call in either direction

    def _call(self, x):
        y, ladj = self.layer(x, *self.context)
        self._last = (x, y, ladj)
        return y

    def _inverse(self, y):
        x, ladj = self.layer.inverse(y, *self.context)
        self._last = (x, y, ladj)
        return x

    def log_abs_det_jacobian(self, x, y):
        last = self._last
        if last is not None and last[0] is x and last[1] is y:
            return last[2]
        return self.layer(x, *self.context)[1]


def mlp(sizes: list[int], zero_last: bool = True) -> nn.Sequential:
    """Linear layers with ReLU between them; the last starts at zero (the flow starts as the identity)."""
    mods: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if k:
            mods.append(nn.ReLU())
        mods.append(nn.Linear(a, b))
    if zero_last:
        nn.init.zeros_(mods[-1].weight)
        nn.init.zeros_(mods[-1].bias)
    return nn.Sequential(*mods)


# --- layers without a closed-form inverse -----------------------------------------------

class Planar(FlowLayer):
    """``y = x + û·tanh(wᵀx + b)`` (Rezende & Mohamed 2015), ``û`` constrained so that
    ``wᵀû ≥ −1`` (the map is then invertible, though not in closed form)."""

    invertible = False

    def __init__(self, event_shape, name, init_scale: float = 0.01):
        super().__init__(event_shape, name)
        self.w = nn.Parameter(torch.randn(self.dim) * init_scale)
        self.u = nn.Parameter(torch.randn(self.dim) * init_scale)
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        flat = self._flat(x)
        w, u = self.w, self.u
        wu = w @ u
        u_hat = u + (F.softplus(wu) - 1 - wu) * w / (w @ w + 1e-12)
        h = torch.tanh(flat @ w + self.b)
        y = flat + h.unsqueeze(-1) * u_hat
        ladj = torch.log(torch.abs(1 + (1 - h.square()) * (w @ u_hat)) + 1e-12)
        return self._unflat(y), ladj


class Radial(FlowLayer):
    """``y = x + β·(x − x₀)/(α + ‖x − x₀‖)`` (Rezende & Mohamed 2015), ``β ≥ −α``."""

    invertible = False

    def __init__(self, event_shape, name):
        super().__init__(event_shape, name)
        self.x0 = nn.Parameter(torch.randn(self.dim) * 0.01)
        self.alpha_raw = nn.Parameter(torch.zeros(()))
        self.beta_raw = nn.Parameter(torch.full((), -2.0))

    def forward(self, x):
        flat = self._flat(x)
        alpha = F.softplus(self.alpha_raw)
        beta = F.softplus(self.beta_raw) - alpha
        diff = flat - self.x0
        r = diff.norm(dim=-1)
        h = 1 / (alpha + r)
        y = flat + (beta * h).unsqueeze(-1) * diff
        ladj = (self.dim - 1) * torch.log1p(beta * h) + torch.log1p(beta * h - beta * h.square() * r)
        return self._unflat(y), ladj


# --- invertible layers ------------------------------------------------------------------

def coupling_mask(event_shape: tuple[int, ...], kind: str, flip: bool) -> torch.Tensor:
    """1 where the coupling reads (and keeps) the input, 0 where it transforms it."""
    if kind == "auto":
        kind = "alternating" if len(event_shape) == 1 else "checkerboard"
    if kind == "halves":
        d = math.prod(event_shape)
        m = (torch.arange(d) < (d + 1) // 2).reshape(event_shape)
    elif kind == "alternating":
        m = (torch.arange(math.prod(event_shape)) % 2 == 0).reshape(event_shape)
    elif kind == "checkerboard":
        h, w = event_shape[-2:]
        board = (torch.arange(h).unsqueeze(1) + torch.arange(w)) % 2 == 0
        m = board.expand(event_shape)
    else:  # channel: the first half of the channels
        c = event_shape[0]
        m = (torch.arange(c) < c // 2).reshape(c, *([1] * (len(event_shape) - 1))).expand(event_shape)
    m = m.float()
    return 1 - m if flip else m


class Coupling(FlowLayer):
    """Affine coupling (Dinh et al. 2017, RealNVP): ``y = m⊙x + (1−m)⊙(x·exp(s) + t)``
    with ``(s, t) = net(m⊙x)``; ``s = tanh(·)·scale`` keeps the step bounded."""

    def __init__(self, event_shape, name, hidden, mask, flip, context=()):
        super().__init__(event_shape, name)
        self.register_buffer("mask", coupling_mask(self.event_shape, mask, flip).reshape(self.dim))
        self.context_specs = list(context)
        self.conditional = bool(context)
        width = sum(c.width for c in context)
        self.net = mlp([self.dim + width, *hidden, 2 * self.dim])
        self.scale = nn.Parameter(torch.ones(self.dim))

    def _shift_scale(self, kept, context):
        if context:
            c = _flatten_inputs(self.context_specs, context)
            kept = torch.cat([kept, c.expand(*kept.shape[:-1], c.shape[-1])], -1)
        s, t = self.net(kept).chunk(2, dim=-1)
        free = 1 - self.mask
        return torch.tanh(s) * self.scale * free, t * free

    def forward(self, x, *context):
        flat = self._flat(x)
        s, t = self._shift_scale(flat * self.mask, context)
        y = flat * torch.exp(s) + t
        return self._unflat(y), s.sum(-1)

    def inverse(self, y, *context):
        flat = self._flat(y)
        s, t = self._shift_scale(flat * self.mask, context)
        x = (flat - t) * torch.exp(-s)
        return self._unflat(x), s.sum(-1)


class ActNorm(FlowLayer):
    """``y = x·exp(log s) + b`` per channel (images ``(C, H, W)``) or per element (Kingma &
    Dhariwal 2018). Data-dependent initialisation: the first batch that passes through it
    while training comes out with zero mean and unit variance per channel."""

    def __init__(self, event_shape, name):
        super().__init__(event_shape, name)
        shape = (event_shape[0], *([1] * (len(event_shape) - 1))) if len(event_shape) >= 2 else event_shape
        self.log_scale = nn.Parameter(torch.zeros(shape))
        self.bias = nn.Parameter(torch.zeros(shape))
        self.per = self.dim // self.log_scale.numel()  # elements sharing one scale
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        # a host-side copy of the flag: reading the buffer each step would wait for a GPU
        self._ready = False
        self.register_load_state_dict_post_hook(lambda mod, _keys: setattr(mod, "_ready", bool(mod.initialized)))

    def _reduce_dims(self, v):
        k = v.dim() - self.event_ndim
        return tuple(range(k)) + ((tuple(range(k + 1, v.dim()))) if self.event_ndim >= 2 else ())

    @torch.no_grad()
    def _init_from(self, v, outward: bool):
        dims = self._reduce_dims(v)
        mean, std = v.mean(dims).reshape(self.bias.shape), v.std(dims).reshape(self.bias.shape)
        log_std = std.clamp_min(1e-6).log()
        if outward:  # v is the input: y = (x − mean)/std
            self.log_scale.copy_(-log_std)
            self.bias.copy_(-mean / std.clamp_min(1e-6))
        else:  # v is data in y-space: x = (y − mean)/std
            self.log_scale.copy_(log_std)
            self.bias.copy_(mean)
        self.initialized.fill_(True)
        self._ready = True

    def _log_det(self, x):
        return (self.log_scale.sum() * self.per).expand(x.shape[: x.dim() - self.event_ndim])

    def forward(self, x):
        if not self._ready and self.training and x.dim() > self.event_ndim and x.shape[0] > 1:
            self._init_from(x, outward=True)
        return x * torch.exp(self.log_scale) + self.bias, self._log_det(x)

    def inverse(self, y):
        if not self._ready and self.training and y.dim() > self.event_ndim and y.shape[0] > 1:
            self._init_from(y, outward=False)
        return (y - self.bias) * torch.exp(-self.log_scale), self._log_det(y)


class Conv1x1(FlowLayer):
    """Invertible 1×1 convolution (Glow): a learned ``C×C`` matrix mixing the channels of
    an image ``(C, H, W)`` at every pixel; on a vector ``(D,)`` a learned invertible ``D×D``
    map. Starts as a random rotation."""

    def __init__(self, event_shape, name, seed):
        super().__init__(event_shape, name)
        c = event_shape[0]
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(c, c, generator=g))
        self.weight = nn.Parameter(q)
        self.per = self.dim // c

    def _mix(self, v, w):
        if self.event_ndim == 1:
            return v @ w.T
        return torch.einsum("ij,...jhw->...ihw", w, v)

    def _log_det(self, v):
        return (torch.linalg.slogdet(self.weight)[1] * self.per).expand(v.shape[: v.dim() - self.event_ndim])

    def forward(self, x):
        return self._mix(x, self.weight), self._log_det(x)

    def inverse(self, y):
        return self._mix(y, torch.linalg.inv(self.weight)), self._log_det(y)


class Permute(FlowLayer):
    """A fixed permutation of the event's elements (reversed, or random from a seed); log|det| = 0."""

    def __init__(self, event_shape, name, order, seed):
        super().__init__(event_shape, name)
        if order == "reverse":
            perm = torch.arange(self.dim - 1, -1, -1)
        else:
            perm = torch.randperm(self.dim, generator=torch.Generator().manual_seed(seed))
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, x):
        return self._unflat(self._flat(x)[..., self.perm]), self._batch_zeros(x)

    def inverse(self, y):
        return self._unflat(self._flat(y)[..., self.inv_perm]), self._batch_zeros(y)
