"""A sweep's values kept step by step (graphmodel/steps.py), the KL over stacked steps, and an
LSTM state read through the h it was stacked from (graphmodel/networks/_state.py)."""

from __future__ import annotations

import torch
from conftest import load_example
from torch import distributions as D

from graphmodel.families import closed_form_kl
from graphmodel.networks._state import h_of, pack
from graphmodel.steps import Steps, stacked_kl
from inference.evaluate import bound


def _normal(loc, log_scale, standard=False):
    d = D.Independent(D.Normal(loc, log_scale.exp()), 1)
    if standard:
        d._gm_standard = True
    else:
        d._gm_log_scale = log_scale
    return d


def test_the_kl_over_stacked_steps_is_the_sum_of_the_steps_kls():
    torch.manual_seed(0)
    qs = [_normal(torch.randn(5, 3), torch.randn(5, 3)) for _ in range(4)]
    ps = [_normal(torch.randn(5, 3), torch.randn(5, 3)) for _ in range(4)]
    std = [_normal(torch.zeros(3), torch.zeros(3), standard=True) for _ in range(4)]
    masks = [torch.tensor([True, True, False, True, False]) for _ in range(4)]
    for prior in (ps, std):
        want = sum(closed_form_kl(q, p) for q, p in zip(qs, prior))
        torch.testing.assert_close(stacked_kl(qs, prior, [None] * 4), want)
        torch.testing.assert_close(stacked_kl(qs, prior, masks), want.masked_fill(~masks[0], 0.0))
    assert stacked_kl(qs[:1], ps[:1], [None]) is None  # (one step: nothing to stack)
    assert stacked_kl([D.Independent(D.Laplace(torch.zeros(2, 3), 1.0), 1)] * 2, ps[:2], [None] * 2) is None


def test_a_trace_stacks_its_swept_values_only_when_read_and_p_reads_them_step_by_step():
    g = load_example("draw").build(steps=3, hidden=8)
    rt = g.build()
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3))
    qt = rt.q.trace({"x": x})
    steps = qt.values.raw("c")
    assert type(steps) is Steps and steps.shape == (4, 3, 1, 28, 28) and steps.dim() == 5
    whole = qt.values["c"]
    assert torch.equal(whole, torch.stack(steps.items, 1)) and qt.values.raw("c") is whole
    z, h = qt.values.raw("z"), qt.values.raw("h")
    stepwise = rt.p.trace({"x": x, "z": z, "h": h, "c": qt.values.raw("c")}).log_probs
    stacked = rt.p.trace({"x": x, "z": qt.values["z"], "h": qt.values["h"], "c": whole}).log_probs
    assert stepwise.keys() == stacked.keys()
    for k in stacked:
        torch.testing.assert_close(stepwise[k], stacked[k])
    assert rt.p.sample(2)["c"].shape == (2, 3, 1, 28, 28)  # (sampling returns tensors)
    assert torch.isfinite(bound(rt, g, {"x": x})).all()


def test_an_lstm_state_gives_its_h_with_the_same_values_and_gradients():
    h, c = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    s = pack(h, c, (2, 3), (2, 4))
    assert s.shape == (2, 3, 2, 4) and torch.equal(h_of(s, -2), s.select(-2, 0))
    (h_of(s, -2).square().sum() + s.sum()).backward()
    ours = h.grad.clone()
    h.grad = None
    s2 = torch.stack((h, c), 1).reshape(2, 3, 2, 4)
    (s2.select(-2, 0).square().sum() + s2.sum()).backward()
    torch.testing.assert_close(ours, h.grad)
    assert torch.equal(h_of(s2, -2), s2.select(-2, 0))  # (a state without its h: selected)
