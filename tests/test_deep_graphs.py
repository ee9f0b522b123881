"""Graphs of thousands of latents: flat n-ary sums, an ELBO of 2,001 terms that checks,
prints, builds and trains, linear derivation, and formulas abridged for display."""

from __future__ import annotations

import sys

import pytest
import torch
from conftest import ROOT
from test_losses import Sym, a, b, c

import cli
import graphmodel as gm
from graphmodel.render.abridge import abridge
from inference.elbo import elbo_terms
from inference.losses import Sum
from inference.objectives import derive
from inference.trainer import Trainer

sys.path.insert(0, str(ROOT / "benchmarks"))
import deep_graph  # noqa: E402


def test_sums_are_flat_as_they_are_built():
    s = a + b - c + 2 * a
    assert type(s) is Sum and [(sign, str(t)) for sign, t in s.terms] == [(1, "a"), (1, "b"), (-1, "c"), (1, "2·a")]
    assert (a + (-b)).terms == ((1, a), (-1, b))  # read, and computed, as a − b
    nested = a - (b + c)  # a sum on the right is one term, in parentheses, as written
    assert len(nested.terms) == 2 and str(nested) == "a − (b + c)"
    assert str(-a + b) == "−a + b" and str(Sum([(-1, a), (-1, b)])) == "−a − b"
    assert s is not (s + a) and len(s.terms) == 4  # extending a sum leaves it as it was
    with pytest.raises(gm.GraphModelError, match="two terms"):
        Sum([(1, a)])


def test_ten_thousand_terms_print_walk_and_evaluate_without_recursion():
    xs = [Sym(f"x{i}") for i in range(10_000)]  # ten times the recursion limit
    expr = xs[0]
    for k, x in enumerate(xs[1:], 1):
        expr = expr + x if k % 2 else expr - x
    assert type(expr) is Sum and len(expr.terms) == 10_000
    text = str(expr)
    assert text.startswith("x0 + x1 − x2 + x3") and text.endswith("− x9998 + x9999")
    assert expr.latex().endswith(" - x9998 + x9999")
    assert sum(1 for _ in expr.walk()) == 10_001
    batch = {f"x{i}": torch.full((3,), float(i)) for i in range(10_000)}
    want = sum(float(i) if i % 2 or i == 0 else -float(i) for i in range(10_000))
    torch.testing.assert_close(expr.evaluate(None, batch), torch.full((3,), want))


def test_2000_latents_check_print_build_and_train(capsys, tmp_path, one_thread):
    g = deep_graph.wide(2000)
    assert g.problems() == []
    assert len(gm.ancestral_order(g, "p")) == 2001
    # the command line, as a user runs it on the file
    path = tmp_path / "wide.json"
    gm.save(g, path)
    assert cli.main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    objective = next(line for line in out.splitlines() if line.startswith("objective: "))
    assert objective.count("KL[") == 2000 and objective.endswith("− KL[q(z0|x)‖p(z0)]")
    # one flat sum: the data term and a KL per latent
    loss = derive(g).expand()
    assert type(loss) is Sum and len(loss.terms) == 2001
    assert loss.latex().count(r"\mathrm{KL}") == 2000
    trainer = Trainer(g, data={"x": torch.randn(64, 8)},
                      config={"steps": 6, "batch_size": 32, "lr": 0.01, "log_every": 3, "test_fraction": 0.0})
    reports = []
    trainer.subscribe(lambda e: reports.append(e.loss) if type(e).__name__ == "StepMetrics" else None)
    trainer.run()
    assert len(reports) == 2 and all(torch.isfinite(torch.tensor(reports)))
    assert reports[1] < 0.9 * reports[0], reports  # the loss fell


@pytest.mark.parametrize("forward", [False, True])
def test_a_chain_of_latents_is_scored_as_before(forward):
    """The search for p's parents among q's descendants (which makes a KL Monte Carlo) stops
    early, and still finds them: q backwards along p's chain samples zᵢ₋₁ from zᵢ, so p(zᵢ|zᵢ₋₁)
    reads zᵢ's own sample; q forwards along it does not."""
    n = 300
    g = deep_graph.chain(n)
    if forward:  # q(z0|x), q(zᵢ|zᵢ₋₁,x): p's parent zᵢ₋₁ comes before zᵢ in q
        zs = [g.variables[f"z{i}"] for i in range(n)]
        x = g.variables["x"]
        q = [gm.Normal(zs[0], given=x, net=gm.MLP())] + [
            gm.Normal(b, given=[a, x], net=gm.MLP()) for a, b in zip(zs, zs[1:])]
        g = gm.Graph("forward", p=gm.Model(tuple(f for f in g.factors if f.model == "p")), q=gm.Model(tuple(q)))
    plan = elbo_terms(g)
    kinds = {lat.variable: lat.treatment for lat in plan.latents}
    assert kinds["z0"] == "analytic"  # p(z0) reads nothing
    assert {kinds[f"z{i}"] for i in range(1, n)} == {"analytic" if forward else "mc"}


def test_the_benchmark_prints_a_table_per_size(capsys):
    assert deep_graph.main(["--sizes", "10", "20", "--shapes", "wide", "chain"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| wide") or
            line.startswith("| chain")]
    assert [r.split("|")[1:3] for r in rows] == [[" wide ", " 10 "], [" wide ", " 20 "], [" chain ", " 10 "],
                                                 [" chain ", " 20 "]]
    assert all(float(r.split("|")[5]) > 0 for r in rows)


# --- abridged formulas -------------------------------------------------------------------

def test_abridge_keeps_the_ends_of_every_long_run():
    names = ",".join(f"z{i}" for i in range(20))
    assert abridge(f"p(x|{names})") == "p(x|z0,z1,z2,…,z19)"
    assert abridge("p(a)p(b)p(c)p(d)", most=3, keep=1) == "p(a)…p(d)"
    assert abridge(" − ".join(f"KL[q(z{i})‖p(z{i})]" for i in range(10)), most=4, keep=2) == (
        "KL[q(z0)‖p(z0)] − KL[q(z1)‖p(z1)] − … − KL[q(z9)‖p(z9)]")
    tex = r"\,".join(rf"p(z_{{{i}}} \mid x_{{1}}, x_{{2}})" for i in range(12))
    short = abridge(tex, latex=True)
    assert short == r"p(z_{0} \mid x_{1}, x_{2})\,p(z_{1} \mid x_{1}, x_{2})\,p(z_{2} \mid x_{1}, x_{2})\,\cdots\," \
                    r"p(z_{11} \mid x_{1}, x_{2})"
    assert abridge("a + b + c + d", most=2, keep=1) == "a + … + d"
    assert abridge("a + b + c", most=2, keep=1) == "a + b + c"  # an ellipsis for one term saves nothing
    for text in ("p(x|z", "a)(b", r"\left[a + b\right)"):  # brackets that do not pair: unchanged
        assert abridge(text, latex=text.startswith("\\"), most=1, keep=0) == text


def test_an_abridged_objective_is_short_and_balanced():
    loss = derive(deep_graph.wide(500))
    text, tex = abridge(str(loss)), abridge(loss.latex(), latex=True)
    assert len(text) < 300 and len(tex) < 700
    assert text.startswith("E_q(z499,z498,z497,…,z0|x)[log p(x|z0,z1,z2,…,z499)] − KL[q(z499|x)‖p(z499)]")
    assert text.endswith("− … − KL[q(z0|x)‖p(z0)]")
    for o, e in ("{}", "()", "[]"):
        assert tex.count(o) == tex.count(e)
    assert tex.count(r"\left") == tex.count(r"\right")


def test_the_formula_panel_typesets_2000_latents_abridged(qtbot):
    pytest.importorskip("PyQt6")
    from editor.document import Document
    from editor.mathrender import render_png
    from editor.panels import LONG, FormulaPanel

    g = deep_graph.wide(2000)
    panel = FormulaPanel(Document(g))
    qtbot.addWidget(panel)
    panel.renderer.wait()
    assert len(panel.objective.tex) < LONG and r"\cdots" in panel.objective.tex
    assert panel.objective.png is not None or render_png(panel.objective.tex) is not None
    assert panel.latex[-1] == derive(g).latex()  # "Copy LaTeX" copies the whole formula


def test_a_loss_picture_of_2001_terms_keeps_twelve_panels(tmp_path):
    """``graphmodel train`` draws losses.png at the end: one panel per term drew 2,002
    panels for 2,000 latents, which matplotlib was still laying out after ten minutes, and
    the data term's title alone made the picture 168,150 pixels wide."""
    from inference.plots import MAX_PANELS, save_losses

    names = ",".join(f"z{i}" for i in range(2000))
    data_term = f"E_q({names}|x)[log p(x|{names})]"  # 20,000 characters: a title as wide as itself
    terms = {f"KL[q(z{i}|x)‖p(z{i})]": 0.1 for i in range(2000)}
    history = [{"step": s, "loss": 1.0 / (s + 1), data_term: -1.0, **terms, "lr": 0.01} for s in range(4)]
    assert save_losses(history, tmp_path / "losses.png")
    png = (tmp_path / "losses.png").read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert MAX_PANELS == 12 and width < 2000 and height < 1600, (width, height)  # 3 × 4 panels


def test_the_live_plot_draws_the_loss_and_its_first_terms(qtbot):
    pytest.importorskip("PyQt6")
    from editor.liveplots import MAX_CURVES, LivePlots

    plots = LivePlots()
    qtbot.addWidget(plots)
    terms = {f"KL[q(z{i}|x)‖p(z{i})]": 0.1 for i in range(2000)}
    for step in range(3):
        plots.add_metrics(step, 1.0 / (step + 1), terms)
    for _ in range(2 * MAX_CURVES):  # a curve is added per frame
        plots.redraw(force=True)
    assert list(plots.curve_lengths()) == ["loss", *list(terms)[:MAX_CURVES - 1]]
    assert set(plots.curve_lengths().values()) == {3}
    assert "(and 1989 more terms, not drawn)" in plots.legend.text()
