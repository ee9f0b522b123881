"""Plates inside plates: a sequence plate nested in an iid plate (views × steps).

A per-view recurrent state ``h`` runs over each view's steps, its last step is summed over the
views into ``r``, and ``r`` conditions ``x``: the engine's plan and refusals, values and
log-densities against a loop written by hand, the file round trip, the printed formula and
the diagram, and a short learning run.
"""

from __future__ import annotations

import math

import pytest
import torch

import graphmodel as gm
from graphmodel.engine import Last, SeqBlock, Step, compile_plan
from graphmodel.errors import GraphFileError, GraphModelError
from graphmodel.render.dot import to_dot
from graphmodel.render.formula import factorization

N, T = 3, 4


def nested_graph(views: int = N, steps: int = T) -> gm.Graph:
    """Context sequences ``x_c`` (views × steps) with a viewpoint ``v_c`` per view and a scene
    input ``u``; ``h = GRU(h[t-1], x_c, v_c, u)`` per view; ``r = Σᵢ f(hᵢ[last])``; ``x | r``."""
    plates = [gm.Plate("views", views), gm.Plate("steps", steps, kind="sequence", inside="views")]
    x_c = gm.Variable("x_c", (2,), role="observed", plate="steps")
    v_c = gm.Variable("v_c", (2,), role="input", plate="views")
    u = gm.Variable("u", (2,), role="input")
    h = gm.Variable("h", (8,), plate="steps")
    r = gm.Variable("r", (8,))
    x = gm.Variable("x", (2,), role="observed")
    p = (gm.Normal(x, given=r, net=gm.MLP(32))
         * gm.Deterministic(r, given="h[last]", net=gm.MLP(32), reduce="sum")
         * gm.Deterministic(h, given=(h.prev, x_c, v_c, u), net=gm.GRUCell())
         * gm.Deterministic(h, given=(x_c, v_c), net=gm.MLP(16), init=True)
         * gm.Normal(x_c, given=("x_c[t-1]", v_c), net=gm.MLP(16))
         * gm.Normal(x_c, given=v_c, net=gm.MLP(16), init=True))
    return gm.Graph("nested", plates=plates, p=p)


def _factor(g, target, init=False) -> int:
    return next(i for i, f in enumerate(g.factors) if f.target == target and f.init == init)


# --- the engine -------------------------------------------------------------------------------

def test_the_plan_sweeps_the_steps_of_every_view_then_reduces_the_last_steps():
    g = nested_graph()
    assert not g.problems()
    assert gm.ancestral_order(g, "p") == ["x_c", "h", "r", "x"]
    plan = compile_plan(g, "p")
    seq, last, red, x = plan.blocks
    assert isinstance(seq, SeqBlock) and (seq.plate, seq.outer) == ("steps", "views")
    assert [plan.names[s.target] for s in seq.steps] == ["x_c", "h"]
    assert isinstance(last, Last) and plan.plates[last.target] == "views"  # h[last]: one per view
    assert isinstance(red, Step) and red.reduce and red.plate == "views" and red.expand == (False,)
    assert plan.outer == {"steps": "views"}
    assert isinstance(x, Step) and x.plate is None


def _variant(plates=None, p=None) -> gm.Graph:
    return gm.Graph("bad", plates=plates, p=p)


def _refusals():
    views, steps = gm.Plate("views", 3), gm.Plate("steps", 4, kind="sequence", inside="views")
    h = gm.Variable("h", (4,), plate="steps")
    x_c = gm.Variable("x_c", (2,), role="observed", plate="steps")
    r, y = gm.Variable("r", (4,)), gm.Variable("y", (4,), plate="views")
    rec = gm.Deterministic(h, given=(h.prev, x_c), net=gm.GRUCell()) * gm.Deterministic(
        h, given=x_c, net=gm.MLP(8), init=True)
    only = gm.Normal(x_c, loc=0.0, scale=1.0)
    xs = gm.Variable("xs", (2,), role="observed", plate="in_seq")
    return [
        ([gm.Plate("time", 4, kind="sequence"), gm.Plate("in_seq", 3, inside="time")], gm.Normal(xs, loc=0.0, scale=1.0),
         "only a sequence plate directly inside a top-level iid plate is supported (views × steps), "
         "found a iid plate inside sequence plate 'time'"),
        ([views, gm.Plate("a", 2, kind="sequence", inside="views"), gm.Plate("in_seq", 4, "sequence", inside="a")],
         gm.Normal(xs, loc=0.0, scale=1.0), "found a sequence plate inside sequence plate 'a' (itself nested)"),
        ([gm.Plate("a", 2, inside="b"), gm.Plate("b", 2, inside="a"), gm.Plate("in_seq", 2)],
         gm.Normal(xs, loc=0.0, scale=1.0), "found a iid plate inside iid plate 'b' (itself nested)"),
        ([gm.Plate("in_seq", 4, "sequence", inside="scenes")], gm.Normal(xs, loc=0.0, scale=1.0),
         "plate 'in_seq': inside plate 'scenes', which is not declared"),
        ([views, steps], rec * only * gm.Deterministic(r, given=h, net=gm.MLP(8), reduce="sum"),
         "parent 'h' lives in sequence plate 'steps' nested in 'views', which 'r' is outside of; "
         "read its last step, 'h[last]'"),
        ([views, steps], rec * only * gm.Deterministic(y, given=h, net=gm.MLP(8)),
         "which 'y' is outside of; read its last step, 'h[last]'"),
        ([views, steps], rec * only * gm.Deterministic(r, given="h[last]", net=gm.MLP(8)),
         "parents in plate 'views' feed 'r', which is outside it; give reduce='sum' or 'mean'"),
        ([views, steps], rec * gm.Normal(x_c, given="h[last]", net=gm.MLP(8)),
         "reads the last step of plate 'steps' from inside it"),
    ]


@pytest.mark.parametrize("case", range(len(_refusals())))
def test_what_nesting_does_not_support_is_refused_in_one_line(case):
    plates, p, message = _refusals()[case]
    problems = [str(q) for q in _variant(plates, p).problems()]
    assert any(message in q for q in problems), problems
    assert all("\n" not in q for q in problems)


def test_a_plate_cannot_be_inside_itself():
    with pytest.raises(GraphModelError, match="plate 'steps': a plate cannot be inside itself"):
        gm.Plate("steps", 4, "sequence", inside="steps")


def test_each_view_may_have_its_own_number_of_steps():
    """Lengths ``(batch, views)``: the steps past a view's length add nothing, and ``h[last]``
    is each view's own last step."""
    torch.manual_seed(6)
    g = nested_graph()
    rt = g.build()
    mods = rt.factor_modules
    B = 4
    x_c, v_c, u, x = torch.randn(B, N, T, 2), torch.randn(B, N, 2), torch.randn(B, 2), torch.randn(B, 2)
    n = torch.tensor([[4, 1, 2], [3, 3, 4], [1, 1, 1], [2, 4, 3]])
    tr = rt.p.trace({"x_c": x_c, "v_c": v_c, "u": u, "x": x, gm.length_key("steps"): n})
    lp, r = torch.zeros(B), torch.zeros(B, 8)
    for b in range(B):
        for i in range(N):
            xs, v = x_c[b:b + 1, i], v_c[b:b + 1, i]
            h = mods[_factor(g, "h", True)].params(xs[:, 0], v)["value"]
            lp[b] += mods[_factor(g, "x_c", True)](v).log_prob(xs[:, 0])[0]
            for t in range(1, int(n[b, i])):
                h = mods[_factor(g, "h")].params(h, xs[:, t], v, u[b:b + 1])["value"]
                lp[b] += mods[_factor(g, "x_c")](xs[:, t - 1], v).log_prob(xs[:, t])[0]
            r[b] += mods[_factor(g, "r")].net(h)[0][0]
    torch.testing.assert_close(tr.values["r"], r)
    lp = lp + mods[_factor(g, "x")](r).log_prob(x)
    torch.testing.assert_close(sum(tr.log_probs.values()), lp)


# --- values and log-densities against a loop by hand ------------------------------------------

def test_values_and_log_densities_equal_a_loop_over_views_and_steps():
    torch.manual_seed(0)
    g = nested_graph()
    rt = g.build()
    mods = rt.factor_modules
    B, n, steps = 5, 2, 6  # other sizes than declared: the values say how many views and steps
    x_c, v_c, u, x = torch.randn(B, n, steps, 2), torch.randn(B, n, 2), torch.randn(B, 2), torch.randn(B, 2)
    tr = rt.p.trace({"x_c": x_c, "v_c": v_c, "u": u, "x": x})  # (h and r are computed, not drawn)
    lp_xc, lasts = torch.zeros(B), []
    for i in range(n):
        h = mods[_factor(g, "h", True)].params(x_c[:, i, 0], v_c[:, i])["value"]
        d = mods[_factor(g, "x_c", True)](v_c[:, i])
        lp_xc = lp_xc + d.log_prob(x_c[:, i, 0])
        for t in range(1, steps):
            h = mods[_factor(g, "h")].params(h, x_c[:, i, t], v_c[:, i], u)["value"]
            torch.testing.assert_close(tr.values["h"][:, i, t], h)
            lp_xc = lp_xc + mods[_factor(g, "x_c")](x_c[:, i, t - 1], v_c[:, i]).log_prob(x_c[:, i, t])
        lasts.append(h)
    r = sum(mods[_factor(g, "r")].net(h_last)[0] for h_last in lasts)
    torch.testing.assert_close(tr.values["r"], r)
    lp_x = mods[_factor(g, "x")](r).log_prob(x)
    assert tr.values["h"].shape == (B, n, steps, 8)
    torch.testing.assert_close(sum(tr.log_probs.values()), lp_xc + lp_x)
    torch.testing.assert_close(rt.p.log_prob(tr.values), lp_xc + lp_x)


def test_sampling_fills_views_by_steps():
    rt = nested_graph().build()
    s = rt.p.sample(7, given={"v_c": torch.randn(N, 2), "u": torch.randn(2)})
    assert {k: tuple(v.shape) for k, v in s.items()} == {
        "v_c": (7, N, 2), "u": (7, 2), "x_c": (7, N, T, 2), "h": (7, N, T, 8), "r": (7, 8), "x": (7, 2)}
    assert torch.isfinite(rt.p.log_prob(s)).all()


# --- the file, the formula and the diagram ----------------------------------------------------

def test_the_file_keeps_the_nesting_byte_for_byte():
    text = gm.dumps(nested_graph())
    assert '{"name": "steps", "kind": "sequence", "size": 4, "inside": "views"}' in text
    g = gm.loads(text)
    assert g.plates["steps"].inside == "views"
    assert gm.dumps(g) == text


@pytest.mark.parametrize("inside, message", [
    (3, "plates[1].inside"),
    ("scenes", "plates[1].inside: plate 'steps': inside plate 'scenes', which is not declared"),
    ("steps", "plates[1]: plate 'steps': a plate cannot be inside itself"),
])
def test_a_bad_nesting_in_a_file_is_refused_at_its_path(inside, message):
    text = gm.dumps(nested_graph()).replace('"inside": "views"', f'"inside": {inside!r}'.replace("'", '"'))
    with pytest.raises(GraphFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        gm.loads(text)


def test_the_formula_and_the_diagram_show_the_nesting():
    g = nested_graph()
    text = factorization(g, "p")
    assert "p(r|hₗₐₛₜ)∏ᵢ∏ₜ[p(hᵢₜ|hᵢₜ₋₁,x_cᵢₜ,v_cᵢ,u)]∏ᵢ[p(hᵢ₀|x_cᵢ₀,v_cᵢ)]" in text
    assert r"\prod_{i} \prod_{t} p(h_{i,t} \mid h_{i,t-1}, x_{c,i,t}, v_{c,i}, u)" in factorization(g, "p", True)
    dot = to_dot(g)
    views, steps = dot.index("subgraph cluster_views"), dot.index("subgraph cluster_steps")
    assert views < steps < dot.index('"h" [') and dot.index('"v_c" [') > views
    assert dot[steps:].count("}") >= 2  # the inner box closes before the outer one
    assert 'label="Σ last"' in dot


# --- learning ---------------------------------------------------------------------------------

def test_the_nested_model_learns_to_read_every_view_sequence():
    """``x`` is twice the mean of all the context points: the best guess without the contexts
    has a log-density of about -1.74 nats; reading them through h and r beats it clearly."""
    torch.manual_seed(1)
    torch.set_num_threads(1)
    g = nested_graph()
    rt = g.build()

    def batch(b):
        x_c = torch.randn(b, N, T, 2)
        return {"x_c": x_c, "v_c": torch.randn(b, N, 2), "u": torch.randn(b, 2),
                "x": 2 * x_c.mean((1, 2)) + 0.1 * torch.randn(b, 2)}

    test = batch(512)
    label = f"p({g.factors[_factor(g, 'x')].label})"

    def nll():
        with torch.no_grad():
            return -rt.p.trace(test).log_probs[label].mean().item()

    constant = 2 * 0.5 * math.log(2 * math.pi * math.e * (4 / (N * T) + 0.01))
    before = nll()
    opt = torch.optim.Adam(rt.parameters(), lr=0.01)
    for _ in range(300):
        loss = -sum(rt.p.trace(batch(64)).log_probs.values()).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = nll()
    assert after < before - 1.5 and after < constant - 1.5, (before, after, constant)


# --- the ELBO of a latent per view and step ---------------------------------------------------

def test_the_elbo_sums_a_nested_latents_kl_over_views_and_steps():
    from inference.elbo import elbo

    torch.manual_seed(3)
    plates = [gm.Plate("views", N), gm.Plate("steps", T, kind="sequence", inside="views")]
    x_c = gm.Variable("x_c", (2,), role="observed", plate="steps")
    z = gm.Variable("z", (3,), plate="steps")
    g = gm.Graph("nested_vae", plates=plates,
                 p=gm.Normal(x_c, given=z, net=gm.MLP(16)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x_c, net=gm.MLP(16)))
    loss = elbo(g, kl="analytic")
    assert str(loss) == "E_q(z|x_c)[Σᵢ Σₜ log p(x_cᵢₜ|zᵢₜ)] − Σᵢ Σₜ KL[q(zᵢₜ|x_cᵢₜ)‖p(zᵢₜ)]"
    rt = g.build()
    x = torch.randn(5, N, T, 2)
    torch.manual_seed(4)
    got = loss.evaluate(rt, {"x_c": x})
    torch.manual_seed(4)
    q = rt.q.trace({"x_c": x})
    fit = rt.p.trace({"x_c": x, "z": q.values["z"]}, sample=False).log_probs["p(x_c|z)"]
    qz = rt.factor_modules[next(i for i, f in enumerate(g.factors) if f.model == "q")](x)
    kl = torch.distributions.kl_divergence(qz, torch.distributions.Independent(
        torch.distributions.Normal(torch.zeros(3), torch.ones(3)), 1))
    assert kl.shape == (5, N, T)
    torch.testing.assert_close(got, fit - kl.sum((1, 2)))  # Σ over the views and the steps
    n = {gm.length_key("steps"): torch.tensor([[4, 1, 2], [3, 3, 4], [1, 1, 1], [2, 4, 3], [4, 4, 4]])}
    torch.manual_seed(4)
    got = loss.evaluate(rt, {"x_c": x, **n})  # each view's steps past its length add nothing
    torch.manual_seed(4)
    q = rt.q.trace({"x_c": x, **n})
    fit = rt.p.trace({"x_c": x, "z": q.values["z"], **n}, sample=False).log_probs["p(x_c|z)"]
    kept = torch.arange(T) < n[gm.length_key("steps")].unsqueeze(-1)
    torch.testing.assert_close(got, fit - (kl * kept).sum((1, 2)))


def test_renaming_or_removing_the_outer_plate_keeps_the_nesting_consistent():
    g = nested_graph()
    g.rename_plate("views", "scenes")
    assert g.plates["steps"].inside == "scenes" and not g.problems()
    g.remove_plate("scenes")
    assert g.plates["steps"].inside is None


def test_the_exported_script_rebuilds_the_nesting(tmp_path):
    import runpy

    from editor.export import script

    g = gm.loads(gm.dumps(nested_graph()))
    out = tmp_path / "nested_script.py"
    out.write_text(script(g), encoding="utf-8")
    assert runpy.run_path(str(out))["build"]() == g


def test_the_trainer_binds_views_by_steps_data_and_learns(tmp_path):
    """Data shaped ``(N, views, steps, *shape)`` passes the trainer's checks; maximum likelihood
    (the graph has no latent) raises the test log-likelihood."""
    from inference.evaluate import bound
    from inference.trainer import Trainer

    torch.manual_seed(2)
    torch.set_num_threads(1)
    x_c = torch.randn(768, N, T, 2)
    data = {"x_c": x_c, "v_c": torch.randn(768, N, 2), "u": torch.randn(768, 2),
            "x": 2 * x_c.mean((1, 2)) + 0.1 * torch.randn(768, 2)}
    t = Trainer(nested_graph(), data=data, config={"device": "cpu", "steps": 200, "epochs": None, "lr": 0.01,
                                                  "batch_size": 64, "checkpoint_every": None})
    before = bound(t.runtime, t.graph, t.test_data).mean().item()
    t.run()
    after = bound(t.runtime, t.graph, t.test_data).mean().item()
    assert after > before + 5.0, (before, after)
    from inference.plots import save_samples
    from inference.trainer import sample_observed

    drawn = sample_observed(t.graph, t.runtime, 8, data)
    assert drawn["x_c"].shape == (8, N, T, 2)
    assert save_samples(drawn, t.graph, tmp_path / "samples.png", data)  # x's scatter; no panel per view
    with pytest.raises(gm.GraphModelError, match=r"expected \(N, views, steps, 2\)"):
        Trainer(nested_graph(), data={**data, "x_c": x_c[:, 0]}, config={"device": "cpu", "steps": 1})
    key = gm.length_key("steps")
    with pytest.raises(gm.GraphModelError, match=r"lengths of plate 'steps': expected integers shaped \(N, views\)"):
        Trainer(nested_graph(), data={**data, key: torch.full((768,), 2)}, config={"device": "cpu", "steps": 1})
    t = Trainer(nested_graph(), data={**data, key: torch.randint(1, T + 1, (768, N))},
                config={"device": "cpu", "steps": 5, "epochs": None, "checkpoint_every": None})
    t.run()
    assert math.isfinite(bound(t.runtime, t.graph, t.test_data).mean().item())


def test_a_view_reads_its_own_last_step_and_a_posterior_sweeps_each_view_backwards():
    """``y`` in the views reads ``h[last]`` of its own view; q's ``g = GRU(g[t+1], x_c)`` runs
    from each view's last step back to its first."""
    torch.manual_seed(5)
    plates = [gm.Plate("views", N), gm.Plate("steps", T, kind="sequence", inside="views")]
    x_c = gm.Variable("x_c", (2,), role="observed", plate="steps")
    h, g_ = gm.Variable("h", (4,), plate="steps"), gm.Variable("g", (4,), plate="steps")
    y = gm.Variable("y", (2,), role="observed", plate="views")
    p = (gm.Normal(y, given="h[last]", net=gm.MLP(8)) * gm.Normal(x_c, loc=0.0, scale=1.0)
         * gm.Deterministic(h, given=(h.prev, x_c), net=gm.GRUCell())
         * gm.Deterministic(h, given=x_c, net=gm.MLP(8), init=True))
    q = (gm.Deterministic(g_, given=("g[t+1]", x_c), net=gm.GRUCell())
         * gm.Deterministic(g_, given=x_c, net=gm.MLP(8), init=True))
    g = gm.Graph("views_back", plates=plates, p=p, q=q)
    assert not g.problems()
    rt = g.build()
    mods = rt.factor_modules
    xs, ys = torch.randn(2, N, T, 2), torch.randn(2, N, 2)
    tp, tq = rt.p.trace({"x_c": xs, "y": ys}), rt.q.trace({"x_c": xs})
    want = torch.zeros(2)
    for i in range(N):
        hh = mods[_factor(g, "h", True)].params(xs[:, i, 0])["value"]
        for t in range(1, T):
            hh = mods[_factor(g, "h")].params(hh, xs[:, i, t])["value"]
        want = want + mods[_factor(g, "y")](hh).log_prob(ys[:, i])
        gg = mods[_factor(g, "g", True)].params(xs[:, i, T - 1])["value"]
        for t in range(T - 2, -1, -1):
            gg = mods[_factor(g, "g")].params(gg, xs[:, i, t])["value"]
        torch.testing.assert_close(tq.values["g"][:, i, 0], gg)
    torch.testing.assert_close(tp.log_probs[f"p({g.factors[_factor(g, 'y')].label})"], want)


def test_the_editor_draws_the_inner_plate_inside_the_outer_one(qtbot, tmp_path):
    pytest.importorskip("PyQt6")
    from test_editor_support import make_window

    w = make_window(qtbot, tmp_path, gm.loads(gm.dumps(nested_graph())), training=False)
    views, steps = w.scene.plates["views"].rect, w.scene.plates["steps"].rect
    assert views.contains(steps) and views != steps  # (a box round the inner box, not beside it)
    assert all(views.contains(w.scene.variables[n].pos()) for n in ("v_c", "h", "x_c"))
    assert all(steps.contains(w.scene.variables[n].pos()) for n in ("h", "x_c"))
