"""What the editor shows when the graph changes hands: Open and New fit the view and forget the
last model's results; every objective, games included, is typeset with Copy LaTeX in view."""

from __future__ import annotations

import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from conftest import EXAMPLES_DIR  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402
from test_editor_support import make_window  # noqa: E402

import graphmodel as gm  # noqa: E402


def _all_nodes_in_view(w) -> bool:
    seen = w.view.mapToScene(w.view.viewport().rect()).boundingRect()
    return all(seen.contains(item.sceneBoundingRect()) for item in w.scene.variables.values())


@pytest.mark.parametrize("name", ["vrnn", "gqn_toy", "hvae", "dmm"])
def test_opening_a_file_fits_it_and_clears_the_last_results(qtbot, tmp_path, name):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"))
    w.view.scale(6.0, 6.0)  # zoomed far in on the last graph
    w.train.plots.add_metrics(10, 1.5, {"KL[q(z|x)‖p(z)]": 0.5})
    w.train.status.setText("Finished at step 10; test loss 1.5")
    assert w.files.open(EXAMPLES_DIR / f"{name}.json")
    qtbot.wait(50)
    assert _all_nodes_in_view(w)
    assert w.train.plots.series == {} and w.train.status.text() == "Ready."
    assert w.files.new() and w.train.status.text() == "Ready."


@pytest.mark.parametrize("name, players", [("gan", ["discriminator", "generator"]), ("avb", ["adversary", "model"]),
                                           ("vaegan", ["discriminator", "vae"])])
def test_a_game_shows_each_players_loss_typeset_on_its_own_line(qtbot, tmp_path, name, players):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / f"{name}.json"))
    panel = w.formulas
    panel.renderer.wait()
    qtbot.wait(50)
    shown = [(t.text(), f) for t, f in panel.objective_rows if f.isVisible()]
    assert [t.split(" ")[0].lower() for t, _ in shown] == players
    for _, formula in shown:
        assert "$" not in formula.tex and ":" not in formula.tex  # one player's loss, not a list
    qtbot.waitUntil(lambda: all(f.png is not None for _, f in shown), timeout=30_000)  # typeset, not source
    assert panel.copy_button.isVisible() and panel.copy_button.visibleRegion().boundingRect().height() > 10
    panel.copy_latex()
    copied = w.formulas.latex[-len(players):]
    assert all(c.startswith(f"% {p} minimizes") for c, p in zip(copied, players))


def test_copy_latex_stays_in_view_under_a_long_objective(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "m2.json"))
    w.resizeDocks([w.docks["formulas"]], [160], Qt.Orientation.Vertical)
    qtbot.wait(50)
    b = w.formulas.copy_button
    assert b.isVisible() and b.visibleRegion().boundingRect().height() >= b.height() - 1


def _vae_without_data() -> gm.Graph:
    x = gm.Variable("x", (64,), support="binary", role="observed")
    z = gm.Variable("z", (2,))
    return gm.Graph("v", p=gm.Bernoulli(x, given=z, net=gm.MLP(16)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(16)))


def _listed(w) -> list[str]:
    return [w.problems.item(i).text() for i in range(w.problems.count())]


def test_choosing_a_dataset_binds_what_the_shapes_make_clear_and_start_says_what_is_missing(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, _vae_without_data())
    panel = w.train
    assert not panel.start_button.isEnabled()
    assert "choose a dataset in the Training panel for x" in panel.start_button.toolTip()
    assert any("no data yet" in t for t in _listed(w)) and not any("valid" in t for t in _listed(w))
    panel.dataset.setCurrentIndex(panel.dataset.findData("digits"))
    panel.dataset.activated.emit(panel.dataset.currentIndex())
    assert w.document.graph.data == {"dataset": "digits", "bind": {"x": "image"}}  # image is the one (64,) field
    assert panel.bind.text() == "x: image" and panel.start_button.isEnabled()
    assert any("valid" in t for t in _listed(w))
    w.document.undo_stack.undo()  # one step took the dataset and its binding
    assert w.document.graph.data == {}


def test_a_binding_of_the_wrong_shape_is_a_problem_in_the_users_words(qtbot, tmp_path):
    g = _vae_without_data()
    g.data = {"dataset": "digits", "bind": {"x": "image2d"}}
    w = make_window(qtbot, tmp_path, g)
    text = next(t for t in _listed(w) if t.startswith("⚠  data:"))
    assert "'x' is bound to image2d (1, 8, 8), which does not fit" in text and "expected (N, 64)" in text
    assert not w.train.start_button.isEnabled()
    w.problems.setCurrentRow(_listed(w).index(text))
    w.problems._activate(w.problems.currentItem())
    assert w.scene.selected_keys() == [("variable", "x")]


def test_factor_labels_and_edges_say_what_they_are_on_hover(qtbot, tmp_path):
    from editor.captions import factor_tip

    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"))
    g = w.document.graph
    tips = [factor_tip(g, i) for i in range(len(g.factors))]
    assert tips[0].splitlines()[:3] == ["p(x|z)", "family: Bernoulli", "  logits: from the network"]
    z, hidden, x = 8, 128, 64  # the decoder MLP: z → 128 → the 64 logits, weights and biases
    assert f"parameters: {(z * hidden + hidden + hidden * x + x) / 1000:.1f} k" in tips[0].splitlines()
    assert "network: MLP 128" in tips[0]
    assert "parameters" not in tips[1] and "loc: = 0" in tips[1]  # a fixed prior trains nothing
    edge = next(e for e in w.scene.edges if e.kind == "inference")
    assert edge.toolTip().startswith("x → z in model q: a parent of q(z|…)")


def test_quitting_during_training_asks_first(qtbot, tmp_path):
    from test_editor_training import tiny_vae

    w = make_window(qtbot, tmp_path, tiny_vae())
    assert w.train.start(steps=1_000_000)
    qtbot.waitUntil(lambda: w.train.last_step > 0, timeout=180_000)
    w.answers = ["cancel"]
    assert not w.close() and w.train.running and "Training is at step" in w.asked[-1]
    w.answers = ["discard"]
    assert w.close() and not w.train.running


def test_tab_over_the_canvas_searches_and_adds_where_the_pointer_is(qtbot, tmp_path):
    from PyQt6.QtCore import QPointF
    from PyQt6.QtTest import QTest

    w = make_window(qtbot, tmp_path, gm.Graph("empty"))
    w.view.setFocus()
    popups = []
    w.view.quick_add_requested.connect(lambda at: popups.append(w.quick_add(QPointF(240, 120))))
    QTest.keyClick(w.view, Qt.Key.Key_Tab)
    assert popups and popups[0].isVisible()
    quick = popups[0]
    QTest.keyClicks(quick.search, "observ")
    assert quick.list.currentItem().text().startswith("Observed variable")
    QTest.keyClick(quick.search, Qt.Key.Key_Return)
    g = w.document.graph
    (name, v), = g.variables.items()
    assert v.role == "observed" and not quick.isVisible()
    assert w.scene.current_positions()[name] == (240.0, 120.0)
    QTest.keyClick(w.view, Qt.Key.Key_A, Qt.KeyboardModifier.ShiftModifier)
    assert len(popups) == 2
    QTest.keyClicks(quick.search, "normal")
    QTest.keyClick(quick.search, Qt.Key.Key_Return)  # a family goes to the selected variable
    assert [f.family for f in w.document.graph.factors if f.target == name] == ["Normal"]
    w.document.undo_stack.undo()
    w.document.undo_stack.undo()
    assert w.document.graph.variables == {}
