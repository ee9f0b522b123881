"""Jump plates: a pair of steps t₁ < t₂ = t₁ + δ per example, read from outside the plate
(``b[t1]``, ``b[t2]``), δ and the data at t₂ filled in with the pair (graphmodel/jumps.py)."""

import json
import re

import pytest
import torch

import graphmodel as gm
from graphmodel import GraphFileError, GraphModelError
from graphmodel.jumps import draw_pair, step_at
from graphmodel.variables import Jump, Parent, pair_key
from inference.losses import Context
from inference.objectives.kinds import derive
from inference.ringdot import ring_dot


def _graph(**changes) -> gm.Graph:
    """A small TD-VAE-shaped graph: 8 steps of 6 pixels, jumps up to 3."""
    jump = changes.pop("jump", {"max": 3, "delta": "dt", "gather": {"x2": "x[t2]"}})
    time = gm.Plate("time", 8, kind="sequence", jump=jump)
    x = gm.Variable("x", (6,), "binary", "observed", plate="time")
    b = gm.Variable("b", (2, 8), plate="time")
    x2 = gm.Variable("x2", (6,), "binary", "observed")
    dt = gm.Variable("dt", (1,), role="input")
    z1, z2 = gm.Variable("z1", (2,)), gm.Variable("z2", (2,))
    p = (gm.Bernoulli(x2, given=z2, net=gm.MLP(8)) * gm.Normal(z2, given=(z1, dt), net=gm.MLP(8))
         * gm.Normal(z1, given=changes.pop("start", "b[t1]"), net="belief")
         * gm.Deterministic(b, given=(b.prev, x), net=gm.LSTMCell())
         * gm.Deterministic(b, value=0.0, init="before"))
    q = gm.Normal(z1, given=(z2, "b[t1]", "b[t2]"), net=gm.MLP(8)) * gm.Normal(z2, given="b[t2]", net="belief")
    return gm.Graph("jumps", plates=[time], variables=[x, b, z1, z2, dt, x2], networks={"belief": gm.MLP(8)},
                    p=p, q=q, objective={"formula": "elbo(p, q)"})


def test_parents_at_the_pair_parse_print_and_refuse_mixtures():
    assert str(Parent.parse("b[t1]")) == "b[t1]" and Parent.parse("b[t2]").at == "t2"
    assert Parent.parse("b[t2]").picked and Parent.parse("c[last]").picked and not Parent.parse("z[t-1]").picked
    with pytest.raises(GraphModelError, match="at must be one of t1, t2"):
        Parent("b", lag=1, at="t1")
    with pytest.raises(GraphModelError, match="'name\\[t1\\]'"):
        Parent.parse("b[t3]")


def test_a_plate_refuses_a_jump_it_cannot_hold():
    with pytest.raises(GraphModelError, match="a jump is for sequence plates, found 'iid'"):
        gm.Plate("views", 5, jump=2)
    with pytest.raises(GraphModelError, match=r"jump.max: expected an integer in \[1, 4\].*found 5"):
        gm.Plate("time", 5, "sequence", jump=5)
    with pytest.raises(GraphModelError, match="jump.gather.x2: expected 'variable\\[t1\\]'"):
        Jump(2, gather={"x2": "x[t-1]"})


def test_the_pair_lies_in_each_sequence_and_covers_every_jump():
    torch.manual_seed(0)
    lengths = torch.randint(2, 11, (4000,))
    pair = draw_pair(10, 4, lengths, (4000,), "cpu")
    t1, t2 = pair.unbind(-1)
    delta = t2 - t1
    assert (t1 >= 0).all() and (delta >= 1).all() and (delta <= 4).all() and (t2 < lengths).all()
    assert set(delta[lengths == 10].tolist()) == {1, 2, 3, 4}
    assert set(t1[(lengths == 10) & (delta == 1)].tolist()) == set(range(9))  # t₁ = 0 … T − δ − 1
    assert (delta[lengths == 2] == 1).all()


def test_step_at_gathers_each_examples_step():
    v = torch.randn(3, 4, 5, 2)  # (batch, T, *event)
    index = torch.tensor([0, 3, 1])
    assert torch.equal(step_at(v, 2, index), v[torch.arange(3), index])


def test_every_model_of_one_evaluation_reads_the_same_pair():
    g = _graph()
    rt = g.build()
    x = ring_dot(n=16, steps=8, pixels=6)["frames"]
    ctx = Context(rt, {"x": x})
    pair = ctx.batch[pair_key("time")]
    assert torch.equal(ctx.batch["x2"], x[torch.arange(16), pair[:, 1]])
    assert torch.equal(ctx.batch["dt"].squeeze(-1), (pair[:, 1] - pair[:, 0]).float())
    elbo = derive(g)
    assert torch.isfinite(elbo(rt, {"x": x, pair_key("time"): pair}).total)
    qt, pt = next(iter(_traces(elbo, rt, x, pair).values()))
    b = qt.values["b"]
    belief = rt.factor_modules[next(i for i, f in enumerate(g.factors) if f.model == "q" and f.target == "z2")]
    assert torch.allclose(qt.dists["q(z2|b[t2])"].mean, belief(b[torch.arange(16), pair[:, 1]]).mean)
    assert torch.allclose(pt.dists["p(z1|b[t1])"].mean, belief(b[torch.arange(16), pair[:, 0]]).mean)


def _traces(loss, rt, x, pair) -> dict:
    ctx = Context(rt, {"x": x, pair_key("time"): pair})
    loss._eval(ctx)
    return {k: v for k, v in ctx._cache.items() if isinstance(v, tuple) and len(v) == 2 and v[1] is not None}


def test_a_state_from_before_the_first_step_is_teacher_forced_exactly():
    g = _graph()
    rt = g.build()
    x = ring_dot(n=4, steps=8, pixels=6)["frames"]
    given = rt.with_pairs({"x": x})
    p = rt.p
    forced = p.trace({k: v for k, v in given.items() if k in p.variables}).values["b"]
    p._forced = [None] * len(p._forced)  # the step-by-step sweep
    looped = p.trace({k: v for k, v in given.items() if k in p.variables}).values["b"]
    assert torch.allclose(forced, looped, atol=1e-6)


@pytest.mark.parametrize("change, message", [
    ({"start": "z2"}, "has a cycle"),
    ({"start": "x[t1]"}, None),  # the observed frames at t₁: read before the prediction
    ({"jump": {"max": 3, "delta": "x2", "gather": {"x2": "x[t2]"}}},
     "jump.delta: expected an input variable \\(1,\\) on the reals outside every plate, found observed 'x2'"),
    ({"jump": {"max": 3, "delta": "dt", "gather": {"x2": "b[t2]"}}},
     "'b' must be an observed variable of plate 'time', found latent 'b'"),
    ({"start": "b[t2]"}, "model 'p' predicts the data at t2 and reads 'b\\[t2\\]', which already saw it"),
])
def test_the_engine_names_what_is_wrong_with_a_jump(change, message):
    problems = [str(p) for p in _graph(**change).problems()]
    if message is None:
        assert problems == []
    else:
        assert any(re.search(message, p) for p in problems), problems


def test_reading_the_pair_needs_a_jump_and_a_reader_outside_the_plate():
    g = _graph(jump=None)
    assert any("is not in a sequence plate with a jump" in str(p) for p in g.problems())
    g = _graph()
    w = g.add_variable(gm.Variable("w", (2,), plate="time"))
    for f in (gm.Normal(w, given="b[t1]", net=gm.MLP(4)) * gm.Normal(w, loc=0.0, scale=1.0, init=True)).factors:
        g.add_factor(f, "p")
    assert any("from inside the plate" in str(p) for p in g.problems())


def test_the_file_keeps_the_jump_and_names_bad_values(tmp_path):
    g = _graph()
    text = gm.dumps(g)
    assert gm.dumps(gm.loads(text)) == text
    d = json.loads(text)
    assert d["plates"][0]["jump"] == {"max": 3, "delta": "dt", "gather": {"x2": "x[t2]"}}
    for value, message in [
        ({"max": 8}, r"plates\[0\].jump.max: expected an integer in \[1, 7\] \(the plate's size less one\), found 8"),
        ({"max": 2, "gather": {"x2": "x[t-1]"}}, r"plates\[0\].jump.gather.x2: expected 'variable\[t1\]'"),
        ({"max": 2, "speed": 1}, r"plates\[0\].jump: unknown key 'speed'"),
        ({"max": 2, "delta": "1dt"}, r"plates\[0\].jump.delta: "),
        (3.5, r"plates\[0\].jump: expected an object"),
    ]:
        d["plates"][0]["jump"] = value
        with pytest.raises(GraphFileError, match=message):
            gm.loads(json.dumps(d))


def test_renaming_a_variable_renames_it_in_the_jump():
    g = _graph()
    g.update_variable("x", name="frames")
    g.update_variable("dt", name="delta")
    assert g.plates["time"].jump == Jump(3, "delta", (("x2", "frames[t2]"),))


def test_sum_t_over_a_jump_sums_the_pair_term_over_its_first_steps():
    g = _graph()
    rt = g.build()
    x = ring_dot(n=8, steps=8, pixels=6)["frames"]
    pair = torch.tensor([[0, 3], [2, 3], [4, 7], [1, 2]] * 2)
    values = {}
    for formula in ("elbo(p, q)", "sum_t(elbo(p, q))"):
        g.objective = {"formula": formula}
        loss = derive(g)
        torch.manual_seed(0)
        values[formula] = loss(rt, {"x": x, pair_key("time"): pair}).total
    assert str(loss).startswith("Σₜ₁(")
    g.objective = {"formula": "elbo(p, q)"}  # per example: (T − δ)·term
    torch.manual_seed(0)
    ctx = Context(rt, {"x": x, pair_key("time"): pair})
    per_example = derive(g)._eval(ctx)
    weight = (8 - (pair[:, 1] - pair[:, 0])).float()
    assert torch.allclose(values["sum_t(elbo(p, q))"], (per_example * weight).mean(), rtol=1e-5)
    assert torch.allclose(values["elbo(p, q)"], per_example.mean(), rtol=1e-5)


def test_sum_t_refuses_a_term_that_does_not_read_the_pair():
    g = _graph()
    w = g.add_variable(gm.Variable("w", (2,)))
    g.add_factor(gm.Normal(w, loc=0.0, scale=1.0), "p")
    g.add_factor(gm.Normal(w, given="b[t1]", net=gm.MLP(4)), "q")
    g.objective = {"formula": "sum_t(kl(q, p, w))"}
    with pytest.raises(GraphModelError, match="sum_t: p\\(w\\) does not read the pair of plate 'time'"):
        derive(g)


def test_the_exported_script_rebuilds_the_jump(tmp_path):
    import runpy

    from editor.export import script

    g = gm.loads(gm.dumps(_graph()))
    out = tmp_path / "jump_script.py"
    out.write_text(script(g), encoding="utf-8")
    assert runpy.run_path(str(out))["build"]() == g


def test_what_a_jump_fills_in_needs_no_data_in_the_editors_binding():
    """δ and the gathered step come from the sequence: the editor's data panel (Qt-free
    part) neither lists them nor reports them unbound, as the trainer does not."""
    from conftest import EXAMPLES_DIR

    from editor.databinding import binding_rows, data_problems
    from graphmodel.jumps import filled_by_jumps

    g = gm.load(EXAMPLES_DIR / "tdvae.json")
    assert filled_by_jumps(g) == {"dt", "x2"}
    assert data_problems(g) == []
    rows, _ = binding_rows(g)
    names = [r.variable for r in rows]
    assert "x" in names and "dt" not in names and "x2" not in names
