"""Recurrent cells over vectors: a network whose target's previous step is one of its parents.

A cell's state is ONE deterministic variable, whatever the cell keeps: a GRU's state is
``h`` shaped ``(H,)``; an LSTM's is ``h`` and ``c`` stacked, shaped ``(2, H)`` (``[0]`` is
h, ``[1]`` the cell memory c). The cell reads its own previous value (``state[t-1]``, an
input with ``is_state``) and returns the new one whole, so one factor defines the variable
and every factor that reads it sees both parts (its own network flattens them).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import GraphModelError
from ..shapes import broadcast
from ._fusedrnn import fused_rnn
from ._state import pack, parts
from .base import BIAS, NETWORKS, InputSpec, NetSpec, NetworkType, _flatten_inputs, off_default


def split_state(inputs: list[InputSpec], heads, kind: str, state_shape: str) -> tuple[int, list[InputSpec]]:
    """The index of the cell's previous state among its inputs, and the other inputs.

    Args:
        inputs: the factor's parents; exactly one is the target's previous step.
        heads: the one head (the new state), shaped like the previous one.
        kind: the network's name with its article (``"an LSTMCell"``), for messages.
        state_shape: the state's shape in words (e.g. ``"(2, H)"``), for messages.

    Raises:
        GraphModelError: no or several states, a head unlike the state, or no other parent.
    """
    states = [i for i in inputs if i.is_state]
    if len(states) != 1 or len(heads) != 1 or states[0].shape != heads[0].shape:
        found = ", ".join(f"{i.name}{list(i.shape)}{' (previous step)' if i.is_state else ''}" for i in inputs)
        raise GraphModelError(
            f"{kind} needs a target shaped {state_shape} and its own previous step among the parents "
            f"(e.g. h given h[t-1]), found parents {found} for outputs {[list(h.shape) for h in heads]}"
        )
    others = [i for i in inputs if not i.is_state]
    if not others:
        raise GraphModelError(f"{kind} needs at least one parent besides its previous state")
    return inputs.index(states[0]), others


class _VectorCell(nn.Module):
    """The common part of the vector cells: flatten the other parents, broadcast the batches."""

    def __init__(self, inputs, heads, kind: str, state_shape: str):
        super().__init__()
        self.state_index, self.others = split_state(inputs, heads, kind, state_shape)
        self.in_dim = sum(i.width for i in self.others)
        self.state_nd = len(heads[0].shape)

    def _inputs(self, xs):
        """``(x, state)`` with the same batch dims, each flattened to one batch dim."""
        s = xs[self.state_index]
        x = _flatten_inputs(self.others, tuple(v for k, v in enumerate(xs) if k != self.state_index))
        batch = s.shape[: s.dim() - self.state_nd]
        if x.shape[:-1] != batch:
            batch = broadcast(x.shape[:-1], batch)
            x, s = x.expand(*batch, x.shape[-1]), s.expand(*batch, *s.shape[s.dim() - self.state_nd:])
        return x.reshape(-1, x.shape[-1]), s.reshape(-1, *s.shape[s.dim() - self.state_nd:]), batch


    def _sequence_inputs(self, state, others):
        """The initial state flattened to ``(B, *state)`` and the other parents' steps to ``(B, T, in)``."""
        x = _flatten_inputs(self.others, tuple(others))  # (batch..., T, in)
        batch = state.shape[: state.dim() - self.state_nd]
        if x.shape[:-2] != batch:
            batch = broadcast(x.shape[:-2], batch)
            x = x.expand(*batch, *x.shape[-2:])
            state = state.expand(*batch, *state.shape[state.dim() - self.state_nd:])
        return state.reshape(-1, *state.shape[state.dim() - self.state_nd:]), x.reshape(-1, *x.shape[-2:]), batch


class GRUCellNet(_VectorCell):
    """``h[t] = GRU(h[t-1], other parents)``: the target's previous step is the state ``(H,)``."""

    def __init__(self, inputs, heads, bias=True):
        super().__init__(inputs, heads, "a GRUCell", "(H,)")
        if self.state_nd != 1:
            raise GraphModelError(f"a GRUCell's target must be a vector (H,), found {list(heads[0].shape)}")
        self.cell = nn.GRUCell(self.in_dim, heads[0].shape[0], bias=bias)

    def forward(self, *xs):
        x, h, batch = self._inputs(xs)
        return (self.cell(x, h).reshape(*batch, -1),)

    def sequence(self, state, others):
        """The states of T steps from ``state`` ``(batch..., H)``, given the other parents' values
        for each step ``(batch..., T, *shape)`` (teacher forcing, ``graphmodel.forced``): the
        input side of the gates in one matrix product, then the recurrence, ``(batch..., T, H)``."""
        h, x, batch = self._sequence_inputs(state, others)
        # a GRU's state is all it returns: torch's fused kernel (oneDNN, cuDNN) gives every step's
        out = fused_rnn(torch.gru, x, h.unsqueeze(0).contiguous(), _weights(self.cell), self.cell.bias, self.training)
        return out.reshape(*batch, x.shape[1], -1)


class LSTMCellNet(_VectorCell):
    """``(h, c)[t] = LSTM((h, c)[t-1], other parents)``: the state ``(2, H)`` stacks h and c."""

    def __init__(self, inputs, heads, bias=True):
        super().__init__(inputs, heads, "an LSTMCell", "(2, H)")
        shape = heads[0].shape
        if len(shape) != 2 or shape[0] != 2:
            raise GraphModelError(f"an LSTMCell's target is h and c stacked, shaped (2, H); found {list(shape)}")
        self.cell = nn.LSTMCell(self.in_dim, shape[1], bias=bias)

    def forward(self, *xs):
        x, s, batch = self._inputs(xs)
        h, c = self.cell(x, parts(xs[self.state_index], batch, s))
        return (pack(h, c, batch, s.shape[1:]),)

    def sequence(self, state, others):
        """The states of T steps from ``state`` ``(batch..., 2, H)``, given the other parents'
        values for each step ``(batch..., T, *shape)`` (teacher forcing, ``graphmodel.forced``):
        the input side of the gates in one matrix product, then the recurrence;
        ``(batch..., T, 2, H)``."""
        s, x, batch = self._sequence_inputs(state, others)
        cell = self.cell
        xg = nn.functional.linear(x, cell.weight_ih, cell.bias_ih)  # (B, T, 4H)
        b_hh = cell.bias_hh if cell.bias_hh is not None else xg.new_zeros(xg.shape[-1])
        out = _LSTMScan.apply(xg, s[:, 0], s[:, 1], cell.weight_hh, b_hh)
        return out.reshape(*batch, x.shape[1], *s.shape[1:])

    def outputs(self, state, others):
        """Like :meth:`sequence`, the h of each step alone, ``(batch..., T, H)``: torch's fused
        LSTM kernel (oneDNN, cuDNN; what ``nn.LSTM`` runs), which keeps no memory c but the last.
        For a state read only through its h (``graphmodel.forced``)."""
        s, x, batch = self._sequence_inputs(state, others)
        hx = (s[:, 0].unsqueeze(0).contiguous(), s[:, 1].unsqueeze(0).contiguous())
        out = fused_rnn(torch.lstm, x, hx, _weights(self.cell), self.cell.bias, self.training)
        return out.reshape(*batch, x.shape[1], -1)


def _weights(cell) -> tuple:
    """A cell's weights in the order torch's fused RNN kernels take them (the gates' layouts agree)."""
    return (cell.weight_ih, cell.weight_hh) + ((cell.bias_ih, cell.bias_hh) if cell.bias else ())


def _gates(k: int):
    """A cell keeps its inputs and ``k`` gate-sized values per state value (gates before and
    after their nonlinearities, the new state)."""
    return lambda o, inputs, heads: sum(i.width for i in inputs) + k * sum(h.numel for h in heads)


NETWORKS.register("GRUCell", NetworkType(
    "GRUCell", build=lambda o, inputs, heads, trusted=False: GRUCellNet(inputs, heads, o["bias"]), options=(BIAS,),
    activations=_gates(8)))
NETWORKS.register("LSTMCell", NetworkType(
    "LSTMCell", build=lambda o, inputs, heads, trusted=False: LSTMCellNet(inputs, heads, o["bias"]), options=(BIAS,),
    activations=_gates(6)))


def GRUCell(bias: bool = True) -> NetSpec:
    """A GRU cell: the target ``h (H,)`` given ``h.prev`` and other parents."""
    return NetSpec("GRUCell", off_default((BIAS, bias)))


def LSTMCell(bias: bool = True) -> NetSpec:
    """An LSTM cell: the target ``(2, H)`` (h and c stacked) given its ``.prev`` and other parents."""
    return NetSpec("LSTMCell", off_default((BIAS, bias)))


class _LSTMScan(torch.autograd.Function):
    """An LSTM's recurrence over T steps whose input side ``xg`` ``(B, T, 4H)`` is given:
    every step's h and c, ``(B, T, 2, H)``.

    Autograd over the step-by-step ops keeps a dozen nodes and two matrix products per step;
    here the backward pass walks the steps once, and the recurrent weights' gradient is one
    product over all steps at the end (as fused RNN kernels do).
    """

    @staticmethod
    def forward(ctx, xg, h, c, w_hh, b_hh):
        hs, cs, acts = [h], [c], []
        for xt in xg.unbind(1):
            gates = torch.addmm(b_hh, h, w_hh.t()).add_(xt)
            i, f, g, o = gates.chunk(4, -1)
            i, f, g, o = i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()
            c = torch.addcmul(f * c, i, g)
            h = o * c.tanh()
            hs.append(h)
            cs.append(c)
            acts.append(torch.cat((i, f, g, o), -1))
        hs, cs = torch.stack(hs, 1), torch.stack(cs, 1)  # (B, T + 1, H): the initial state first
        ctx.save_for_backward(hs, cs, torch.stack(acts, 1), w_hh)
        return torch.stack((hs[:, 1:], cs[:, 1:]), 2)

    @staticmethod
    def backward(ctx, grad):
        hs, cs, acts, w_hh = ctx.saved_tensors
        steps = acts.shape[1]
        dh_next = torch.zeros_like(hs[:, 0])
        dc_next = torch.zeros_like(cs[:, 0])
        dgates = [None] * steps
        gh, gc = grad[:, :, 0], grad[:, :, 1]
        for t in range(steps - 1, -1, -1):
            i, f, g, o = acts[:, t].chunk(4, -1)
            tc = cs[:, t + 1].tanh()
            dh = gh[:, t] + dh_next
            dc = gc[:, t] + dc_next + dh * o * (1 - tc.square())
            dg_t = torch.cat((dc * g * i * (1 - i), dc * cs[:, t] * f * (1 - f), dc * i * (1 - g.square()),
                              dh * tc * o * (1 - o)), -1)
            dgates[t] = dg_t
            dc_next = dc * f
            dh_next = dg_t @ w_hh
        dg = torch.stack(dgates, 1)  # (B, T, 4H)
        flat = dg.reshape(-1, dg.shape[-1])
        dw = flat.t() @ hs[:, :-1].reshape(-1, hs.shape[-1])
        return dg, dh_next, dc_next, dw, flat.sum(0)
