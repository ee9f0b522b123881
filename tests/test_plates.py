"""Plates that carry time: jumps ``z[t-k]``, future steps ``x[t+1]`` in inference models
(a backward sweep), ``c[last]`` read from outside the plate: the engine's order and refusals,
file round trips, formulas, and the runtime's values and log-densities checked against loops
written out by hand over the factor modules of tiny models. Sequences of varying length and
the smoothing DMM's learning are in ``test_plate_lengths.py``.
"""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal

import graphmodel as gm
from graphmodel.engine import Last, SeqBlock, analyze, compile_plan
from inference.evaluate import bound

T = 5


def _messages(g) -> list[str]:
    return [p.message for p in g.problems()]


def _index(g, model, target, init=False) -> int:
    return next(i for i, f in enumerate(g.factors) if f.model == model and f.target == target and f.init == init)


# --- parent spellings ----------------------------------------------------------------------

@pytest.mark.parametrize("text, lag, last", [("z", 0, False), ("z[t-1]", 1, False), ("z[t-2]", 2, False),
                                             ("x[t+1]", -1, False), ("h[t+3]", -3, False), ("c[last]", 0, True)])
def test_parent_spellings_round_trip(text, lag, last):
    p = gm.Parent.parse(text)
    assert (p.lag, p.last) == (lag, last)
    assert str(p) == text


@pytest.mark.parametrize("text", ["z[t-0]", "z[t+0]", "z[t-01]", "z[t-1001]", "z[t]", "z[first]", "z[t-1][t-1]"])
def test_bad_parent_spellings(text):
    with pytest.raises(gm.GraphModelError, match="a parent must be a variable name"):
        gm.Parent.parse(text)


def test_parent_cannot_be_both_lagged_and_last():
    with pytest.raises(gm.GraphModelError, match="either the last step or a step t-k"):
        gm.Parent("z", lag=1, last=True)


# --- jumps: z[t-2] ---------------------------------------------------------------------------

def jump_graph() -> gm.Graph:
    """p(z_t | z_{t-1}, z_{t-2}) for t >= 2; the boundary factor N(0, I) defines z_0 and z_1."""
    time = gm.Plate("time", T, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (3,), plate="time")
    p = (gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, given=("z[t-1]", "z[t-2]"), net=gm.MLP(8))
         * gm.Normal(z, loc=0.0, scale=1.0, init=True))
    return gm.Graph("jump", plates=[time], p=p)


def test_jump_runs_from_its_reach_and_the_boundary_factor_before():
    g = jump_graph()
    assert not g.problems()
    (block,) = compile_plan(g, "p").blocks
    assert isinstance(block, SeqBlock) and block.direction == 1
    step = next(s for s in block.steps if g.factors[s.factor].target == "z")
    assert step.span == (2, 0) and step.lags == (1, 2)


def test_jump_log_prob_equals_a_loop_by_hand():
    g = jump_graph()
    rt = g.build()
    x, z = torch.randn(4, T, 2), torch.randn(4, T, 3)
    mods = rt.factor_modules
    fx, fz, f0 = (mods[_index(g, "p", "x")], mods[_index(g, "p", "z")], mods[_index(g, "p", "z", True)])
    want = 0.0
    for t in range(T):
        dz = f0() if t < 2 else fz(z[:, t - 1], z[:, t - 2])
        want = want + dz.log_prob(z[:, t]) + fx(z[:, t]).log_prob(x[:, t])
    torch.testing.assert_close(rt.p.log_prob({"x": x, "z": z}), want)
    s = rt.p.sample(6)
    assert s["z"].shape == (6, T, 3) and s["x"].shape == (6, T, 2)


# --- future steps: a smoothing posterior -----------------------------------------------------

def smoothing_graph(size: int = T) -> gm.Graph:
    """A DMM whose posterior reads the future through a backward recurrent state g.

    q(z_t | z_{t-1}, g_t) with g_t = GRU(g_{t+1}, x_t), g_{T-1} = f(x_{T-1}).
    """
    time = gm.Plate("time", size, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (3,), plate="time")
    gv = gm.Variable("g", (8,), plate="time")
    p = (gm.Normal(x, given=z, net=gm.MLP(16)) * gm.Normal(z, given=z.prev, net=gm.MLP(16))
         * gm.Normal(z, loc=0.0, scale=1.0, init=True))
    q = (gm.Normal(z, given=(z.prev, gv), net=gm.MLP(16)) * gm.Normal(z, given=gv, net=gm.MLP(16), init=True)
         * gm.Deterministic(gv, given=("g[t+1]", x), net=gm.GRUCell())
         * gm.Deterministic(gv, given=x, net=gm.MLP(16), init=True))
    return gm.Graph("smooth", plates=[time], p=p, q=q)


def test_smoothing_posterior_runs_a_backward_sweep_then_a_forward_one():
    g = smoothing_graph()
    assert not g.problems()
    assert analyze(g).blocks["q"] == (("time", -1, ("g",)), ("time", 1, ("z",)))
    assert analyze(g).blocks["p"] == (("time", 1, ("z", "x")),)
    blocks = compile_plan(g, "q").blocks
    assert [b.direction for b in blocks] == [-1, 1]
    assert blocks[0].steps[0].span == (0, 1)


def test_smoothing_trace_equals_a_loop_by_hand():
    g = smoothing_graph()
    rt = g.build()
    x, z = torch.randn(3, T, 2), torch.randn(3, T, 3)
    mods = rt.factor_modules
    fg, fg_last = mods[_index(g, "q", "g")], mods[_index(g, "q", "g", True)]
    fz, fz0 = mods[_index(g, "q", "z")], mods[_index(g, "q", "z", True)]
    gs = [None] * T
    for t in reversed(range(T)):  # the backward sweep
        d = fg_last(x[:, t]) if t == T - 1 else fg(gs[t + 1], x[:, t])
        gs[t] = d.mean
    want = sum((fz0(gs[t]) if t == 0 else fz(z[:, t - 1], gs[t])).log_prob(z[:, t]) for t in range(T))
    tr = rt.q.trace({"x": x, "z": z})
    torch.testing.assert_close(tr.values["g"], torch.stack(gs, 1))
    torch.testing.assert_close(sum(tr.log_probs.values()), want)
    label = rt.factor_modules[_index(g, "q", "g", True)].label
    assert tr.times[label] == [T - 1]  # the boundary factor defined the last step


def test_sampling_the_smoothing_posterior_and_the_prior():
    g = smoothing_graph()
    rt = g.build()
    x = torch.randn(4, T, 2)
    tr = rt.q.trace({"x": x})
    assert tr.values["z"].shape == (4, T, 3) and tr.values["g"].shape == (4, T, 8)
    assert rt.p.sample(5)["x"].shape == (5, T, 2)  # p stays forward
    assert torch.isfinite(bound(rt, g, {"x": x})).all()


def test_a_cycle_through_time_is_refused():
    time = gm.Plate("time", T, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (3,), plate="time")
    gv = gm.Variable("g", (4,), plate="time")
    p = gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0)
    q = (gm.Normal(z, given=("g[t+1]", x), net=gm.MLP(8)) * gm.Normal(z, given=x, net=gm.MLP(8), init=True)
         * gm.Deterministic(gv, given=(z.prev, x), net=gm.MLP(8))
         * gm.Deterministic(gv, given=x, net=gm.MLP(8), init=True))
    g = gm.Graph("cycle", plates=[time], p=p, q=q)
    assert _messages(g) == [
        "model 'q': z, g read both earlier and later steps of each other, a cycle through time; compute "
        "the backward part apart (e.g. g from g[t+1] and x) and read it at the same step"]


def test_a_generative_model_may_not_read_the_future():
    time = gm.Plate("time", T, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (3,), plate="time")
    p = (gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, given="z[t+1]", net=gm.MLP(8))
         * gm.Normal(z, loc=0.0, scale=1.0, init=True))
    assert _messages(gm.Graph("future", plates=[time], p=p)) == [
        "factor p(z|z[t+1]): parent 'z[t+1]' reads a later step, but generative model 'p' may only read "
        "the past; read the future in an inference model (a smoothing posterior)"]


def test_reading_ahead_needs_a_boundary_factor():
    g = smoothing_graph()
    g.remove_factor(_index(g, "q", "g", True))
    assert _messages(g) == ["factor q(g|g[t+1],x): 'g' reads a later step, so it needs a boundary factor "
                            "for its last step (init=True) in model 'q'"]


# --- c[last] ------------------------------------------------------------------------------

def last_graph() -> gm.Graph:
    """DRAW's shape: a canvas c summed over steps, and p(x | c[last]) outside the plate."""
    steps = gm.Plate("steps", T, kind="sequence")
    z = gm.Variable("z", (2,), plate="steps")
    c = gm.Variable("c", (4,), plate="steps")
    x = gm.Variable("x", (4,), role="observed")
    p = (gm.Normal(x, given="c[last]", net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0)
         * gm.Deterministic(c, given=(c.prev, z), net=gm.MLP(8))
         * gm.Deterministic(c, given=z, net=gm.MLP(8), init=True))
    return gm.Graph("canvas", plates=[steps], p=p)


def _canvas_by_hand(g, rt, z):
    fc, fc0 = rt.factor_modules[_index(g, "p", "c")], rt.factor_modules[_index(g, "p", "c", True)]
    cs = []
    for t in range(z.shape[1]):
        cs.append((fc0(z[:, 0]) if t == 0 else fc(cs[-1], z[:, t])).mean)
    return cs


def test_last_step_is_read_from_outside_the_plate():
    g = last_graph()
    assert not g.problems()
    plan = compile_plan(g, "p")
    assert isinstance(plan.blocks[1], Last) and plan.names == ("z", "c", "x")
    rt = g.build()
    z, x = torch.randn(3, T, 2), torch.randn(3, 4)
    cs = _canvas_by_hand(g, rt, z)
    lp = sum(rt.p.trace({"z": z, "x": x}).log_probs.values())
    want = (rt.factor_modules[_index(g, "p", "x")](cs[-1]).log_prob(x)
            + Normal(0.0, 1.0).log_prob(z).sum((-1, -2)))
    torch.testing.assert_close(lp, want)
    assert set(rt.p.sample(2)) == {"z", "c", "x"}


def test_last_is_read_from_outside_a_sequence_plate_only():
    g = last_graph()
    g.add_variable(y := gm.Variable("y", (2,), plate="steps"))
    g.add_factor(gm.Normal(y, given="c[last]", net=gm.MLP(8)), model="p")
    assert ("factor p(y|c[last]): parent 'c[last]' reads the last step of plate 'steps' from inside it; "
            "read 'c' or 'c[t-1]' there, or move the reader out of the plate") in _messages(g)
    g = last_graph()
    g.add_variable(w := gm.Variable("w", (2,)))
    g.add_factor(gm.Normal(w, given="x[last]", net=gm.MLP(8)), model="p")
    assert ("factor p(w|x[last]): parent 'x[last]' reads the last step of a sequence, but 'x' is not in a "
            "sequence plate") in _messages(g)


# --- files ------------------------------------------------------------------------------

@pytest.mark.parametrize("build", [jump_graph, smoothing_graph, last_graph])
def test_new_parent_spellings_round_trip_through_files(build):
    g = build()
    text = gm.dumps(g)
    again = gm.loads(text)
    assert gm.dumps(again) == text
    assert again.factors == g.factors
    spelled = {str(p) for f in again.factors for p in f.parents}
    assert spelled & {"z[t-2]", "g[t+1]", "c[last]"}


def test_renaming_a_variable_keeps_the_steps_its_readers_read():
    g = last_graph()
    g.update_variable("c", name="canvas")
    assert {str(p) for f in g.factors for p in f.parents} == {"canvas[last]", "canvas[t-1]", "z"}
    assert not g.problems()


def test_a_kl_pairs_steps_in_time_order_where_the_boundary_factor_runs_last():
    from inference.estimators import _steps

    time = gm.Plate("time", T, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (3,), plate="time")
    p = (gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, given=z.prev, net=gm.MLP(8))
         * gm.Normal(z, loc=0.0, scale=1.0, init=True))
    q = gm.Normal(z, given=(x, "x[t+1]"), net=gm.MLP(8)) * gm.Normal(z, given=x, net=gm.MLP(8), init=True)
    g = gm.Graph("ahead", plates=[time], p=p, q=q)
    assert not g.problems()
    rt = g.build()
    tr = rt.q.trace({"x": torch.randn(2, T, 2)})
    first, last = (rt.factor_modules[_index(g, "q", "z", True)].label, rt.factor_modules[_index(g, "q", "z")].label)
    assert tr.times == {first: [T - 1], last: list(range(T - 1))}
    ordered, _ = _steps(tr, (first, last))  # the ELBO lists the boundary factor first
    assert ordered == [*tr.dists[last], *tr.dists[first]]
    assert torch.isfinite(bound(rt, g, {"x": torch.randn(2, T, 2)})).all()


def test_formulas_and_diagrams_print_the_steps():
    from graphmodel.render.dot import to_dot
    from graphmodel.render.formula import factorization

    assert "p(zₜ|zₜ₋₁,zₜ₋₂)" in factorization(jump_graph(), "p")
    assert factorization(smoothing_graph(), "q") == "q(z,g|x) = ∏ₜ[q(zₜ|zₜ₋₁,gₜ)]q(z₀|g₀)∏ₜ[q(gₜ|gₜ₊₁,xₜ)]q(gₗₐₛₜ|xₗₐₛₜ)"
    assert factorization(last_graph(), "p", latex=True).startswith(r"p(x, c, z) = p(x \mid c_{\mathrm{last}})")
    dot = to_dot(smoothing_graph())
    assert '"g" -> "g" [style=dashed, color="#1f5fbf", label="t+1"' in dot
    assert '"c" -> "x" [style=solid, color=black, label=last' in to_dot(last_graph())


def test_a_boundary_factor_beside_one_that_reads_no_other_step_defines_step_zero():
    time = gm.Plate("time", T, kind="sequence")
    x = gm.Variable("x", (2,), role="observed", plate="time")
    z = gm.Variable("z", (3,), plate="time")
    p = (gm.Normal(x, given=z, net=gm.MLP(8)) * gm.Normal(z, loc=0.0, scale=1.0)
         * gm.Normal(z, loc=1.0, scale=2.0, init=True))
    g = gm.Graph("first", plates=[time], p=p)
    rt = g.build()
    z_ = torch.randn(2, T, 3)
    tr = rt.p.trace({"x": torch.randn(2, T, 2), "z": z_})
    label = rt.factor_modules[_index(g, "p", "z", True)].label
    assert tr.times[label] == [0]
    torch.testing.assert_close(tr.log_probs[label], Normal(1.0, 2.0).log_prob(z_[:, 0]).sum(-1))
