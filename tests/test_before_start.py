"""A sequence variable's value before the first step (``init="before"``): DRAW's zero canvas and
zero LSTM states, read as ``c[t-1]`` at t = 0 so that every step runs the regular factor — the
engine's spans, the sweep, borrowing by the inference model, refusals and the file round trip."""

from __future__ import annotations

import pytest
import torch

import graphmodel as gm
from graphmodel.engine import SeqBlock, compile_plan

T = 3


def canvas_graph() -> gm.Graph:
    """DRAW's skeleton: ``h`` an LSTM over z, ``c = c[t-1] + f(h)``, both zero before step 0."""
    steps = gm.Plate("steps", T, kind="sequence")
    z = gm.Variable("z", (2,), plate="steps")
    h = gm.Variable("h", (2, 4), plate="steps")
    c = gm.Variable("c", (4,), plate="steps")
    x = gm.Variable("x", (4,), role="observed", support="binary")
    p = (gm.Bernoulli(x, given="c[last]", net=gm.Identity()) * gm.Normal(z, loc=0.0, scale=1.0)
         * gm.Deterministic(h, given=(h.prev, z), net=gm.LSTMCell())
         * gm.Deterministic(h, value=0.0, init="before")
         * gm.Deterministic(c, given=(c.prev, h), net=gm.MLP(8))
         * gm.Deterministic(c, value=0.0, init="before"))
    q = gm.Normal(z, given=(x, "c[t-1]", "h[t-1]"), net=gm.MLP(8))
    return gm.Graph("canvas", plates=[steps], p=p, q=q)


def _module(g, rt, target, init=False):
    return rt.factor_modules[next(i for i, f in enumerate(g.factors)
                                  if f.model == "p" and f.target == target and f.init == init)]


def test_every_step_runs_the_regular_factor_from_the_value_before():
    g = canvas_graph()
    assert not g.problems()
    block = next(b for b in compile_plan(g, "p").blocks if isinstance(b, SeqBlock))
    assert [(s.span, s.pad) for s in block.steps] == [((0, 0), 0), ((0, 0), 1), ((0, 0), 1)]
    rt = g.build()
    z = torch.randn(5, T, 2)
    tr = rt.p.trace({"z": z}, score=False)
    fh, fc = _module(g, rt, "h"), _module(g, rt, "c")
    h, c = torch.zeros(5, 2, 4), torch.zeros(5, 4)
    for t in range(T):  # by hand: h and c start at zero and every step is the regular one
        h = fh(h, z[:, t]).mean
        c = fc(c, h).mean
        torch.testing.assert_close(tr.values["h"][:, t], h)
        torch.testing.assert_close(tr.values["c"][:, t], c)
    assert tr.times["p(h|h[t-1],z)"] == list(range(T)) and tr.times["p(h[-1])"] == [-1]


def test_the_inference_model_borrows_the_states_and_reads_them_before_step_0():
    g = canvas_graph()
    rt = g.build()
    x = torch.bernoulli(torch.full((6, 4), 0.5))
    tr = rt.q.trace({"x": x})
    assert tr.values["c"].shape == (6, T, 4) and tr.values["h"].shape == (6, T, 2, 4)
    fz = rt.factor_modules[next(i for i, f in enumerate(g.factors) if f.model == "q")]
    first = fz(x, torch.zeros(6, 4), torch.zeros(6, 2, 4))
    torch.testing.assert_close(tr.dists["q(z|x,c[t-1],h[t-1])"][0].mean, first.mean)
    assert "(x,c,h,z)" in str(g.p) and "p(c₋₁)" in str(g.p)


def test_a_value_before_the_first_step_round_trips_through_files_and_export():
    g = canvas_graph()
    text = gm.dumps(g)
    assert '"init": "before"' in text
    assert gm.dumps(gm.loads(text)) == text
    assert gm.loads(text).factors == g.factors


@pytest.mark.parametrize("edit, message", [
    (lambda g, v: g.add_factor(gm.Normal(v["c"], loc=0.0, scale=1.0, init="before"), model="q"),
     "the value before the first step (init='before') is a deterministic state; 'c' has family Normal"),
    (lambda g, v: g.replace_factor(
        next(i for i, f in enumerate(g.factors) if f.target == "c" and f.init),
        gm.Deterministic(v["c"], given=v["z"], net=gm.MLP(8), init="before")),
     "the value before the first step (init='before') cannot read the plate's steps, found parent 'z'"),
])
def test_bad_values_before_the_first_step_are_refused_by_name(edit, message):
    g = canvas_graph()
    edit(g, g.variables)
    assert any(message in str(p) for p in g.problems()), g.problems()


def test_a_lag_with_no_value_before_is_refused():
    g = canvas_graph()
    i = next(i for i, f in enumerate(g.factors) if f.target == "h" and not f.init)
    g.replace_factor(i, gm.Deterministic(g.variables["h"], given=("h[t-1]", "z[t-1]"), net=gm.LSTMCell()))
    assert any("'h' starts from a value before the first step, but 'z' has none; give it one (init='before')"
               in str(p) for p in g.problems())


def test_init_takes_true_false_or_before():
    with pytest.raises(gm.GraphModelError, match="init must be True, False or 'before', found 'start'"):
        gm.Deterministic("c", value=0.0, init="start")
    text = gm.dumps(canvas_graph()).replace('"init": "before"', '"init": "start"', 1)
    with pytest.raises(gm.GraphFileError, match=r"factors\[\d\]\.init: expected true, false or 'before'"):
        gm.loads(text)
