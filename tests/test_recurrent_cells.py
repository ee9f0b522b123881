"""The recurrent cells learn in their sequence plates: an LSTM VRNN's bound rises like the GRU
one's, and the convolutional cells learn to predict a moving dot's next frame from the last."""

from __future__ import annotations

import math

import pytest
import torch

import graphmodel as gm
from inference.evaluate import bound
from inference.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")

STEPS, SIDE = 5, 6


def lstm_vrnn() -> gm.Graph:
    """``examples/vrnn.py`` with an LSTM cell: the state h is (h, c) stacked, shaped (2, 16)."""
    time = gm.Plate("time", 6, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (3,), plate="time")
    h = gm.Variable("h", (2, 16), plate="time")
    p = (gm.Normal(x, given=(z, h), net=gm.MLP(64)) * gm.Normal(z, given=h, net=gm.MLP(64))
         * gm.Deterministic(h, given=(h.prev, x.prev, z.prev), net=gm.LSTMCell())
         * gm.Deterministic(h, value=0.0, init=True))
    q = gm.Normal(z, given=(x, h), net=gm.MLP(64))
    return gm.Graph("lstm_vrnn", plates=[time], p=p, q=q,
                    data={"dataset": "sines", "options": {"n": 2000, "steps": 6}, "bind": {"x": "sequence"},
                          "test_fraction": 0.2},
                    training={"steps": 200, "batch_size": 128, "lr": 0.001, "log_every": 50, "num_samples": 16})


def test_an_lstm_vrnn_bound_rises():
    torch.manual_seed(0)
    t = Trainer(lstm_vrnn(), config={"device": "cpu", "checkpoint_every": None})
    before = bound(t.runtime, t.graph, t.test_data).mean().item()
    t.run()
    after = bound(t.runtime, t.graph, t.test_data).mean().item()
    print(f"\nLSTM VRNN, 200 steps: test ELBO {before:.2f} at initialization, {after:.2f} after")
    assert after > before + 10.0


def moving_dots(n: int, generator: torch.Generator) -> torch.Tensor:
    """``(n, STEPS, 1, SIDE, SIDE)``: one pixel per frame, moving one column right (wrapping)."""
    rows = torch.randint(0, SIDE, (n,), generator=generator)
    cols = torch.randint(0, SIDE, (n,), generator=generator)
    x = torch.zeros(n, STEPS, 1, SIDE, SIDE)
    for t in range(STEPS):
        x[torch.arange(n), t, 0, rows, (cols + t) % SIDE] = 1.0
    return x


def next_frame_model(cell: gm.NetSpec, state: tuple[int, ...]) -> gm.Graph:
    """x[t] given the state h[t] = cell(h[t-1], x[t-1]); the first frame from h[0] = 0."""
    x = gm.Variable("x", (1, SIDE, SIDE), support="binary", role="observed", plate="time")
    h = gm.Variable("h", state, plate="time")
    p = (gm.Bernoulli(x, given=h, net=gm.MLP()) * gm.Deterministic(h, given=(h.prev, x.prev), net=cell)
         * gm.Deterministic(h, value=0.0, init=True))
    return gm.Graph("frames", plates=[gm.Plate("time", STEPS, kind="sequence")], p=p)


@pytest.mark.parametrize("cell, state", [(gm.ConvGRU(), (4, SIDE, SIDE)), (gm.ConvLSTM(), (2, 4, SIDE, SIDE))],
                         ids=["ConvGRU", "ConvLSTM"])
def test_a_conv_cell_learns_where_the_dot_goes_next(cell, state):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    runtime = next_frame_model(cell, state).build()
    test = moving_dots(256, g)

    def nll() -> float:
        """Nats per held-out sequence (h is computed from x: the trace fills it in)."""
        with torch.no_grad():
            return -sum(runtime.p.trace({"x": test}).log_probs.values()).mean().item()

    # a model that ignores the past can do no better than independent pixels, each on with
    # probability 1/36, in every frame; one that follows the dot pays that for the first only
    p_on = 1 / SIDE**2
    per_frame = -SIDE**2 * (p_on * math.log(p_on) + (1 - p_on) * math.log(1 - p_on))
    before = nll()
    opt = torch.optim.Adam(runtime.parameters(), lr=0.01)
    for _ in range(300):
        loss = -sum(runtime.p.trace({"x": moving_dots(64, g)}).log_probs.values()).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = nll()
    print(f"\n{cell.type}: {before:.2f} nats per sequence at initialization, {after:.2f} after 300 steps "
          f"(memoryless at best {STEPS * per_frame:.2f}, following the dot {per_frame:.2f})")
    assert before > STEPS * per_frame
    assert after < STEPS * per_frame / 2  # it follows the dot: half of what no memory allows
