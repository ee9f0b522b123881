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
    rt = _graph(cell, state, feature).build()
    assert any(fp is not None for fp in rt.p._forced)
    _same_as_stepwise(rt, _values(lengths), "h")


def _values(lengths: bool) -> dict:
    values = {"x": torch.randn(5, 9, 2), "k": torch.randint(0, 3, (5, 9)), "z": torch.randn(5, 4)}
    if lengths:
        values["time.length"] = torch.tensor([1, 9, 4, 6, 2])
    return values


def _same_as_stepwise(rt, values, state: str):
    """The forced sweep's log-densities, ``state``'s values and gradients equal the stepwise sweep's."""
    m = rt.p
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
    torch.testing.assert_close(fast.values[state], slow.values[state])
    for a, b in zip(grads, expected):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    return fast


def _h_graph(reads_c: str = ""):
    """An LSTM whose heads read its h alone (``h = hc[0]``, SketchRNN's decoder); with ``reads_c``
    something reads the rest of the state too: its c through ``Select(1)`` or the whole state."""
    time = gm.Plate("time", 9, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    k = gm.Variable("k", (), support="categorical", classes=3, role="observed", plate="time")
    hc, h, z = gm.Variable("hc", (2, 6), plate="time"), gm.Variable("h", (6,), plate="time"), gm.Variable("z", (4,))
    c = gm.Variable("c", (6,), plate="time")
    p = (gm.Normal(x, given=(h, c) if reads_c == "c" else h, net=gm.MLP(8))
         * gm.Categorical(k, given=(hc if reads_c == "whole" else h, z), net=gm.MLP())
         * gm.Deterministic(h, given=hc, net=gm.Select(0))
         * gm.Deterministic(hc, given=(hc.prev, x.prev, k.prev, z), net=gm.LSTMCell())
         * gm.Deterministic(hc, given=z, init=True, net=gm.MLP()) * gm.Normal(z, loc=0.0, scale=1.0))
    if reads_c == "c":
        p = p * gm.Deterministic(c, given=hc, net=gm.Select(1))
    return gm.Graph("forced_h", plates=[time], p=p)


@pytest.mark.parametrize("lengths", [False, True])
def test_an_lstm_read_through_its_h_runs_fused_and_scores_what_the_stepwise_sweep_scores(lengths):
    from graphmodel.forced import FUSED

    g = _h_graph()
    assert g.problems() == []
    rt = g.build()
    fp = next(f for f in rt.p._forced if f is not None)
    assert [how for _, how, _ in fp.order].count(FUSED) == 1 and len(fp.order) == 3  # (Select runs inside)
    fast = _same_as_stepwise(rt, _values(lengths), "h")
    assert fast.values["hc"] is None  # (the memories c: never computed, nothing reads them)


@pytest.mark.parametrize("reads_c", ["c", "whole"])
def test_an_lstm_whose_c_is_read_keeps_its_whole_state(reads_c):
    from graphmodel.forced import FUSED

    rt = _h_graph(reads_c).build()
    fp = next(f for f in rt.p._forced if f is not None)
    assert fp is not None and FUSED not in [how for _, how, _ in fp.order]
    fast = _same_as_stepwise(rt, _values(True), "hc")
    assert fast.values["hc"].shape == (5, 9, 2, 6)


def test_the_fused_sweep_ignores_the_padding():
    """What lies past each sequence's length (the padding) changes neither the loss nor its gradient."""
    rt = _h_graph().build()
    values = _values(True)
    past = torch.arange(9) >= values["time.length"].unsqueeze(-1)
    other = {**values, "x": values["x"].masked_fill(past.unsqueeze(-1), 7.0), "k": values["k"].masked_fill(past, 2)}
    losses = []
    for v in (values, other):
        total = rt.p.log_prob(v).sum()
        losses.append((total, torch.autograd.grad(total, list(rt.parameters()), allow_unused=True)))
    torch.testing.assert_close(losses[0][0], losses[1][0])
    for a, b in zip(losses[0][1], losses[1][1]):
        if a is not None:
            torch.testing.assert_close(a, b)


def test_select_gives_one_entry_of_a_state_and_refuses_a_wrong_target():
    g = _h_graph()
    s = g.build().p.sample(3)  # sampling steps through time: h is hc[0] at every step
    assert torch.equal(s["h"], s["hc"][..., 0, :])
    time = gm.Plate("time", 4, kind="sequence")
    hc, h = gm.Variable("hc", (2, 6), role="input", plate="time"), gm.Variable("h", (5,), plate="time")
    bad = gm.Graph("bad", plates=[time], p=gm.Deterministic(h, given=hc, net=gm.Select(0)))
    with pytest.raises(gm.GraphModelError, match=r"Select network gives 'hc'\[0\], shaped \[6\]; the target is "
                                                 r"shaped \[5\]"):
        bad.build()
    bad = gm.Graph("bad", plates=[time], p=gm.Deterministic(gm.Variable("y", (6,), plate="time"), given=hc,
                                                           net=gm.Select(2)))
    with pytest.raises(gm.GraphModelError, match=r"index 2 is past the first dimension of 'hc' \[2, 6\]"):
        bad.build()


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


def test_a_sequence_of_one_step_has_no_recurrence_to_run():
    values = {"x": torch.randn(5, 1, 2), "k": torch.randint(0, 3, (5, 1)), "z": torch.randn(5, 4)}
    _same_as_stepwise(_h_graph().build(), values, "h")  # fused
    _same_as_stepwise(_graph(gm.LSTMCell(), (2, 6), True).build(), values, "h")  # stepped in one node
