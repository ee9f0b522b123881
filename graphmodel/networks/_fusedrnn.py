"""torch's fused RNN kernels for the recurrent networks, eagerly and inside ``torch.compile``.

A teacher-forced LSTM (``graphmodel.forced``), a GRU's sequence and ``BiRNN``'s two
directions run one layer of torch's fused kernel over a whole sequence (oneDNN on a CPU,
cuDNN on a GPU): :func:`fused_rnn`, and :class:`RNNLayer`, ``nn.LSTM``'s parameters run by it.

Eagerly that is ``torch.lstm``/``torch.gru``, what ``nn.LSTM`` runs. Dynamo will not trace
those (it breaks the graph at an ``nn.LSTM`` and, traced anyway, AOTAutograd decomposes a
training LSTM into a dozen small ops per step). A graph break costs more than the kernel
call: Dynamo must resume the enclosing frames after it, and where it cannot rebuild one (the
loss's evaluation holds bound methods on its stack) it runs that whole frame eagerly — for
SketchRNN, most of the loss. So under ``torch.compile`` on a CPU, an LSTM layer is one opaque
operator of this module, ``graphmodel::lstm_layer``: the oneDNN kernel itself (ATen's
``mkldnn_rnn_layer``, what ``torch.lstm`` calls there), with its backward
(``mkldnn_rnn_layer_backward``) registered as its gradient; the graph has no break and the
kernel is the one eager mode runs, with the same values. Elsewhere (a GPU, a GRU, no oneDNN,
no biases, symbolic shapes, a torch without the private helper below) the kernel is called
outside the graph, a graph break as ``nn.LSTM``'s.

The backward pass needs the workspace the forward kernel leaves (its gates), a byte buffer
whose size only oneDNN knows. The operator returns it as a fourth output; its fake
implementation learns the size by running the kernel once on zeros of the same shapes at
compile time (cached per shape; torch's private ``unset_fake_temporarily`` lets it run real
tensors there), so the compiled graph's buffers have fixed sizes.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

_LSTM_MODE = 2  # oneDNN's rnn kind of an LSTM (ideep::rnn_kind::LSTM)

try:  # torch's private way out of fake tensors, to size the workspace (loaded with torch itself)
    from torch._subclasses.fake_tensor import unset_fake_temporarily as _real_tensors
except ImportError:  # a torch without it: the layer is called outside the graph, a break as nn.LSTM's
    _real_tensors = None


def fused_rnn(kernel, x: torch.Tensor, hx, weights: tuple, bias: bool, training: bool) -> torch.Tensor:
    """One layer of torch's fused RNN ``kernel`` (``torch.lstm`` or ``torch.gru``) over ``x``
    ``(B, T, in)`` from ``hx`` (``(1, B, H)``, a pair for an LSTM): every step's output ``(B, T, H)``."""
    if kernel is torch.lstm and torch.compiler.is_compiling() and _in_graph(x, hx, weights, bias):
        return _traced_lstm(x, hx, weights)
    return _outside(kernel, x, hx, weights, bias, training)


class RNNLayer(nn.Module):
    """One layer of an LSTM or GRU, one direction, batch first, from a zero state: ``nn.LSTM``'s
    (``nn.GRU``'s) parameters under their names and with their initialization (checkpoints and
    seeds unchanged), run by :func:`fused_rnn`. ``forward(x)`` ``(B, T, in)`` gives every step's
    output ``(B, T, H)``.

    Not ``nn.LSTM`` itself: Dynamo breaks the graph wherever code touches an ``nn.LSTM``
    module, even to read its weights.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        self.cell, self.hidden_size, self.bias = cell, hidden_size, bias
        self._lstm = cell == "lstm"
        gates = {"lstm": 4, "gru": 3}[cell] * hidden_size
        shapes = [("weight_ih_l0", (gates, input_size)), ("weight_hh_l0", (gates, hidden_size))]
        shapes += [("bias_ih_l0", (gates,)), ("bias_hh_l0", (gates,))] if bias else []
        for name, shape in shapes:
            setattr(self, name, nn.Parameter(torch.empty(shape)))
        bound = 1.0 / math.sqrt(hidden_size)
        for w in self.parameters():  # (nn.LSTM's reset_parameters, in its order)
            nn.init.uniform_(w, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h0 = x.new_zeros(1, x.shape[0], self.hidden_size)
        p = self._parameters
        weights = (p["weight_ih_l0"], p["weight_hh_l0"]) + ((p["bias_ih_l0"], p["bias_hh_l0"]) if self.bias else ())
        if self._lstm:
            return fused_rnn(torch.lstm, x, (h0, h0), weights, self.bias, self.training)
        return fused_rnn(torch.gru, x, h0, weights, self.bias, self.training)

    def extra_repr(self) -> str:
        return f"{self.cell.upper()} {self.weight_ih_l0.shape[1]} → {self.hidden_size}"


@torch.compiler.disable
def _outside(kernel, x, hx, weights: tuple, bias: bool, training: bool) -> torch.Tensor:
    """The kernel called as ``nn.LSTM`` calls it; under ``torch.compile``, outside the graph."""
    return kernel(x, hx, weights, bias, 1, 0.0, training, False, True)[0]


def _in_graph(x, hx, weights, bias: bool) -> bool:
    """Whether this LSTM layer can be :func:`_traced_lstm`: oneDNN's float32 CPU kernel, biases,
    and static shapes (the workspace's size is learned per shape)."""
    return (bias and x.device.type == "cpu" and x.dtype == torch.float32 and _onednn()
            and _real_tensors is not None and all(type(s) is int for s in (*x.shape, *hx[0].shape)))


@torch.compiler.assume_constant_result
def _onednn() -> bool:
    """Whether ``torch.lstm`` runs oneDNN's kernel on a CPU (read when Dynamo traces)."""
    return torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled


def _traced_lstm(x, hx, weights) -> torch.Tensor:
    w_ih, w_hh, b_ih, b_hh = weights
    xt = x.transpose(0, 1).contiguous()  # (T, B, in): the kernel is time-major
    h0, c0 = hx[0].contiguous(), hx[1].contiguous()
    if torch.is_grad_enabled() and any(t.requires_grad for t in (x, h0, c0, *weights)):
        y = torch.ops.graphmodel.lstm_layer(xt, w_ih, w_hh, b_ih, b_hh, h0, c0)[0]
    else:  # (no backward: the inference kernel, which Inductor lowers itself)
        y = torch.ops.aten.mkldnn_rnn_layer(xt, w_ih, w_hh, b_ih, b_hh, h0, c0, False, [], _LSTM_MODE,
                                            w_hh.shape[1], 1, True, False, False, False)[0]
    return y.transpose(0, 1)


def _forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0) -> tuple:
    # the kernel keeps its workspace only where gradients are on (here they are off: the
    # operator's autograd is ours), and the inputs are detached so nothing is recorded twice
    with torch.enable_grad():
        return tuple(torch.ops.aten.mkldnn_rnn_layer(
            x.detach(), w_ih.detach(), w_hh.detach(), b_ih.detach(), b_hh.detach(), h0.detach(), c0.detach(),
            False, [], _LSTM_MODE, w_hh.shape[1], 1, True, False, False, True))


@functools.lru_cache(maxsize=64)
def _workspace_bytes(steps: int, batch: int, inputs: int, hidden: int) -> int:
    """The size of the kernel's training workspace for these shapes (run once on zeros)."""
    with _real_tensors(), torch.no_grad():
        z = torch.zeros
        h = z(1, batch, hidden)
        out = _forward(z(steps, batch, inputs), z(4 * hidden, inputs), z(4 * hidden, hidden), z(4 * hidden),
                       z(4 * hidden), h, h)
    return out[3].numel()


def _register():
    """Define ``graphmodel::lstm_layer`` and its backward, once per process."""
    if hasattr(torch.ops.graphmodel, "lstm_layer"):  # (another copy of this package registered them)
        return
    lib = "graphmodel::"

    @torch.library.custom_op(lib + "lstm_layer", mutates_args=())
    def lstm_layer(x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                   b_hh: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return _forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0)

    @lstm_layer.register_fake
    def _(x, w_ih, w_hh, b_ih, b_hh, h0, c0):
        ws = _workspace_bytes(x.shape[0], x.shape[1], x.shape[2], w_hh.shape[1])
        return (x.new_empty(x.shape[0], x.shape[1], w_hh.shape[1]), h0.new_empty(h0.shape), c0.new_empty(c0.shape),
                x.new_empty(ws, dtype=torch.uint8))

    @torch.library.custom_op(lib + "lstm_layer_backward", mutates_args=())
    def lstm_layer_backward(x: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor,
                            b_hh: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, y: torch.Tensor,
                            hy: torch.Tensor, cy: torch.Tensor, gy: torch.Tensor | None, ghy: torch.Tensor | None,
                            gcy: torch.Tensor | None, workspace: torch.Tensor) -> list[torch.Tensor]:
        gy, ghy, gcy = (None if g is None else g.contiguous() for g in (gy, ghy, gcy))
        return list(torch.ops.aten.mkldnn_rnn_layer_backward(
            x, w_ih, w_hh, b_ih, b_hh, h0, c0, y, hy, cy, gy, ghy, gcy, False, _LSTM_MODE, w_hh.shape[1], 1, True,
            True, False, [], False, workspace))

    @lstm_layer_backward.register_fake
    def _(x, w_ih, w_hh, b_ih, b_hh, h0, c0, y, hy, cy, gy, ghy, gcy, workspace):
        return [t.new_empty(t.shape) for t in (x, w_ih, w_hh, b_ih, b_hh, h0, c0)]

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs, *output)

    def backward(ctx, gy, ghy, gcy, _gws):
        return tuple(lstm_layer_backward(*ctx.saved_tensors[:10], gy, ghy, gcy, ctx.saved_tensors[10]))

    lstm_layer.register_autograd(backward, setup_context=setup_context)


_register()
