"""The fast call path of the built-in networks: run a module's ``forward`` itself where
nothing hooks it.

``nn.Module.__call__`` checks for hooks at every call, which costs a small layer more than
its own work. Every built-in network calls its layers through :func:`run_sequential` or
:func:`call`; this is the one module that knows how (keep it that way, so that a hook or
``m.compile()`` is honoured everywhere by one test).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules import module as _nn_module

_linear = nn.functional.linear


def _hooked(m: nn.Module) -> bool:
    """Whether calling ``m`` does more than ``m.forward``: hooks on it, or ``m.compile()``."""
    return bool(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks) \
        or m._compiled_call_impl is not None


def _hooked_anywhere() -> bool:
    """Global module hooks, or a TorchScript trace (which records each module call)."""
    g = _nn_module
    return bool(g._global_forward_hooks or g._global_forward_pre_hooks or g._global_backward_hooks
                or g._global_backward_pre_hooks) or torch._C._get_tracing_state() is not None


def call(m: nn.Module, *xs):
    """``m(*xs)``: through ``forward`` itself where nothing hooks it (see :func:`run_sequential`)."""
    if _hooked(m) or _hooked_anywhere():
        return m(*xs)
    return m.forward(*xs)


def run_sequential(seq: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """``seq(x)``, calling each layer's ``forward`` itself where nothing hooks it.

    ``nn.Module.__call__`` checks for hooks at every call, which costs a small layer more
    than its own work (two Python frames and a few dict reads a layer, for each of a step's
    dozen layers). Where no hook is registered (on the layer or globally) and the module is
    not compiled on its own, ``__call__`` would call ``forward`` and nothing else, so this
    does; anything hooked goes through ``__call__`` as usual.
    """
    if _hooked_anywhere() or _hooked(seq):
        return seq(x)
    for m in seq._modules.values():
        if _hooked(m):
            x = m(x)
        elif type(m) is nn.Linear and "weight" in m._parameters:
            # Linear.forward's own call without its frame and attribute lookups (an exact
            # Linear: a parametrized one is a subclass; functional_call swaps these entries)
            p = m._parameters
            x = _linear(x, p["weight"], p["bias"])
        else:
            x = m.forward(x)
    return x



def rowwise(body, h: torch.Tensor) -> torch.Tensor:
    """``run_sequential(body, h)`` for a body that maps each row on its own (linear layers and
    elementwise nonlinearities). Where ``h`` repeats one input along its leading dimension
    (an expanded view, stride 0: the data given to each of k importance samples), the body
    runs once on that input and its output is expanded: the same values, without k-fold work."""
    if h.dim() > 2 and h.stride(0) == 0:
        y = run_sequential(body, h[0])
        return y.expand(h.shape[0], *y.shape)
    return run_sequential(body, h)
