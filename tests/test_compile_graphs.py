"""The sequence models' losses trace into one ``torch.compile`` graph, and what makes that so
keeps eager mode's values: an LSTM state's kept parts, the fused LSTM layer as one operator,
and ``BiRNN``'s ``RNNLayer`` in place of ``nn.LSTM``.

A graph break costs a compiled step more than the call it leaves out (Dynamo resumes the
enclosing frames, or runs a frame it cannot rebuild eagerly whole): these tests keep the
sequence models' counts at zero (``benchmarks/RESULTS.md`` has the timings).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from graphmodel.networks._fusedrnn import RNNLayer, fused_rnn
from inference.objectives import training_loss
from tests.conftest import load_example


def _explained(graph, batch, *step):
    runtime, loss = graph.build(), training_loss(graph)
    torch._dynamo.reset()
    try:
        return torch._dynamo.explain(lambda b: loss(runtime, b, *step).total)(batch)
    finally:
        torch._dynamo.reset()


def _sketch_batch(n: int = 4, steps: int = 64) -> dict:
    lengths = torch.randint(2, steps + 1, (n,))
    pen = torch.nn.functional.one_hot(torch.randint(0, 2, (n, steps)), 3).float()
    pen[torch.arange(n), lengths - 1] = torch.tensor([0.0, 0.0, 1.0])
    return {"d": torch.randn(n, steps, 2), "pen": pen, "time.length": lengths}


def test_draw_s_loss_compiles_with_no_graph_break():
    graph = load_example("draw").build(steps=3, hidden=32)
    explained = _explained(graph, {"x": (torch.rand(4, 1, 28, 28) < 0.5).float()})
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


def test_sketchrnn_s_loss_compiles_with_no_graph_break():
    """Its bidirectional encoder and its teacher-forced decoder are fused LSTM kernels: before
    they were kept out of the graph (20 breaks, and the loss's frames ran eagerly)."""
    explained = _explained(load_example("sketchrnn").build(), _sketch_batch(), 100)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


def test_gqn_s_loss_compiles_with_no_graph_break():
    graph = load_example("gqn").build(steps=2, hidden=8, rep=8, tower=8, canvas=4)
    batch = {"x_c": torch.rand(2, 3, 3, 32, 32), "v_c": torch.randn(2, 3, 7), "x": torch.rand(2, 3, 32, 32),
             "v": torch.randn(2, 7)}
    explained = _explained(graph, batch)
    assert explained.graph_break_count == 0, explained.break_reasons


def test_an_lstm_state_s_stack_is_dead_code_in_a_compiled_graph():
    """The cells, the attention and the heads read the kept h and c: the backward graph has no
    zero-filled select gradient (``select_scatter``) of a stacked state (there were 2 per step)."""
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd

    graph = load_example("draw").build(steps=2, hidden=16)
    runtime, loss = graph.build(), training_loss(graph)
    ops = {}

    def record(tag):
        def compiler(gm, _inputs):
            ops[tag] = [str(n.target) for n in gm.graph.nodes if n.op == "call_function"]
            return make_boxed_func(gm.forward)
        return compiler

    torch._dynamo.reset()
    try:
        f = torch.compile(lambda b: loss(runtime, b).total, backend=aot_autograd(fw_compiler=record("fw"),
                                                                                   bw_compiler=record("bw")))
        f({"x": (torch.rand(2, 1, 28, 28) < 0.5).float()}).backward()
    finally:
        torch._dynamo.reset()
    assert ops["bw"] and not [o for o in ops["bw"] if "select_scatter" in o or "select_backward" in o], ops["bw"]


@pytest.mark.parametrize("requires_grad", [True, False])
def test_the_fused_lstm_compiled_equals_torch_s_lstm(requires_grad):
    """``graphmodel::lstm_layer`` (forward, and its registered backward) gives what eager
    ``torch.lstm`` gives, values and gradients; without gradients, the inference kernel."""
    torch.manual_seed(0)
    cell = nn.LSTMCell(5, 6)
    weights = (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
    x = torch.randn(3, 7, 5, requires_grad=requires_grad)
    h0, c0 = torch.randn(1, 3, 6), torch.randn(1, 3, 6)

    def f(x):
        return fused_rnn(torch.lstm, x, (h0, c0), weights, True, True)

    def run(fn):
        for t in (x, *weights):
            t.grad = None
        with torch.set_grad_enabled(requires_grad):
            y = fn(x)
            if requires_grad:
                (y.sin().sum()).backward()
        return [y.detach()] + ([t.grad.clone() for t in (x, *weights)] if requires_grad else [])

    torch._dynamo.reset()
    try:
        eager, compiled = run(f), run(torch.compile(f, fullgraph=True))
    finally:
        torch._dynamo.reset()
    assert len(eager) == len(compiled)
    for a, b in zip(eager, compiled):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_without_torch_s_fake_tensor_escape_the_lstm_runs_outside_the_graph(monkeypatch):
    """A torch that lacks the private helper the operator sizes its workspace with: the layer
    is called eagerly between two compiled graphs (a break, as ``nn.LSTM``'s), same values."""
    from graphmodel.networks import _fusedrnn

    torch.manual_seed(0)
    cell = nn.LSTMCell(5, 6)
    weights = tuple(w.detach() for w in (cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh))
    x, h0, c0 = torch.randn(3, 7, 5), torch.randn(1, 3, 6), torch.randn(1, 3, 6)

    def f(x):
        return fused_rnn(torch.lstm, x.sin(), (h0, c0), weights, True, True).cos()

    from torch._dynamo.testing import CompileCounter

    counter = CompileCounter()
    torch._dynamo.reset()
    try:
        whole = torch.compile(f, backend=counter)(x)
        assert counter.frame_count == 1  # the operator: one graph
        monkeypatch.setattr(_fusedrnn, "_real_tensors", None)
        torch._dynamo.reset()
        counter.clear()
        broken = torch.compile(f, backend=counter)(x)
    finally:
        torch._dynamo.reset()
    assert counter.frame_count == 2  # before the layer and after it
    torch.testing.assert_close(whole, f(x), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(broken, f(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("cell", "module"), [("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_rnn_layer_is_nn_lstm_s_parameters_and_values(cell, module):
    """Same names (checkpoints), same initial values under a seed, same outputs."""
    torch.manual_seed(3)
    a = module(5, 7, batch_first=True)
    torch.manual_seed(3)
    b = RNNLayer(cell, 5, 7)
    assert list(a.state_dict()) == list(b.state_dict())
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    x = torch.randn(3, 4, 5)
    assert torch.equal(a(x)[0], b(x))
