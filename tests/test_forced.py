"""Teacher forcing (``graphmodel/forced.py``): a scored sweep on given data runs across all
steps at once, and scores exactly what the step-by-step sweep scores, gradients included."""

from __future__ import annotations

import pytest
import torch

import graphmodel as gm

pytestmark = pytest.mark.usefixtures("one_thread")


def _graph(cell, state, feature: bool):
    time = gm.Plate("time", 9, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    k = gm.Variable("k", (), support="categorical", classes=3, role="observed", plate="time")
    h, z = gm.Variable("h", state, plate="time"), gm.Variable("z", (4,))
    f = gm.Variable("f", (5,), plate="time")
    reads = f if feature else h
    p = (gm.Normal(x, given=reads, net=gm.MLP(8)) * gm.Categorical(k, given=(reads, z), net=gm.MLP())
         * gm.Deterministic(h, given=(h.prev, x.prev, k.prev, z), net=cell)
         * (gm.Deterministic(h, given=z, init=True, net=gm.MLP()) if feature else gm.Deterministic(h, value=0.0, init=True))
         * gm.Normal(z, loc=0.0, scale=1.0))
    if feature:
        p = p * gm.Deterministic(f, given=h, net=gm.MLP(6, activation="tanh"))
    return gm.Graph("forced", plates=[time], p=p)


@pytest.mark.parametrize("cell, state", [(gm.LSTMCell(), (2, 6)), (gm.GRUCell(), (6,))])
@pytest.mark.parametrize("feature", [False, True])
@pytest.mark.parametrize("lengths", [False, True])
def test_forced_sweep_scores_what_the_stepwise_sweep_scores(cell, state, feature, lengths):
    g = _graph(cell, state, feature)
    rt = g.build()
    m = rt.p
    assert any(fp is not None for fp in m._forced)
    values = {"x": torch.randn(5, 9, 2), "k": torch.randint(0, 3, (5, 9)), "z": torch.randn(5, 4)}
    if lengths:
        values["time.length"] = torch.tensor([1, 9, 4, 6, 2])
    fast = m.trace(values)
    total = sum(fast.log_probs.values()).sum()
    grads = torch.autograd.grad(total, list(rt.parameters()), allow_unused=True)
    saved, m._forced = m._forced, [None] * len(m._forced)  # the step-by-step sweep
    try:
        slow = m.trace(values)
        reference = sum(slow.log_probs.values()).sum()
        expected = torch.autograd.grad(reference, list(rt.parameters()), allow_unused=True)
    finally:
        m._forced = saved
    for label in slow.log_probs:
        torch.testing.assert_close(fast.log_probs[label], slow.log_probs[label], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.values["h"], slow.values["h"])
    for a, b in zip(grads, expected):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_a_latent_in_the_plate_keeps_the_stepwise_sweep():
    time = gm.Plate("time", 4, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z, h = gm.Variable("z", (3,), plate="time"), gm.Variable("h", (8,), plate="time")
    p = (gm.Normal(x, given=(z, h), net=gm.MLP(8)) * gm.Normal(z, given=h, net=gm.MLP(8))
         * gm.Deterministic(h, given=(h.prev, x.prev, z.prev), net=gm.GRUCell())
         * gm.Deterministic(h, value=0.0, init=True))
    rt = gm.Graph("vrnn", plates=[time], p=p, q=gm.Normal(z, given=(x, h), net=gm.MLP(8))).build()
    assert rt.p._forced == [None]  # (z is a latent: the ELBO pairs its steps' distributions)


def test_sampling_never_takes_the_forced_sweep():
    g = _graph(gm.LSTMCell(), (2, 6), False)
    s = g.build().p.sample(3)
    assert s["x"].shape == (3, 9, 2) and s["h"].shape == (3, 9, 2, 6)
