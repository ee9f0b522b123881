"""The Data panel: the binding as a table (variable ↔ field, expected and found shapes, a
thumbnail of a few examples), edited from combo boxes as undoable edits, and its problems in
the Problems panel in the user's words before Start."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from conftest import EXAMPLES_DIR  # noqa: E402
from test_editor_support import choose, make_window, type_into  # noqa: E402

import graphmodel as gm  # noqa: E402
from editor import databinding as db  # noqa: E402
from editor.forms import is_invalid  # noqa: E402
from editor.thumbnails import sketch, thumbnail  # noqa: E402


def _vae(data=None) -> gm.Graph:
    x = gm.Variable("x", (64,), support="binary", role="observed")
    z = gm.Variable("z", (2,))
    return gm.Graph("v", p=gm.Bernoulli(x, given=z, net=gm.MLP(16)) * gm.Normal(z, loc=0.0, scale=1.0),
                    q=gm.Normal(z, given=x, net=gm.MLP(16)), data=data or {})


def _listed(w) -> list[str]:
    return [w.problems.item(i).text() for i in range(w.problems.count())]


def _field_box(w, row: int):
    return w.data_table.table.cellWidget(row, 1)


def _drawn(pixmap) -> int:
    """How many pixels of a thumbnail are not white."""
    img = pixmap.toImage()
    return sum(img.pixelColor(x, y).lightness() < 235 for x in range(0, img.width(), 2)
               for y in range(0, img.height(), 2))


def test_the_table_binds_from_its_own_combos_one_undoable_edit_each(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, _vae())
    t = w.data_table
    assert [(r.variable, r.field) for r in t.rows] == [("x", None)]
    assert "no data yet" in t.note.text() and not _field_box(w, 0).isEnabled()
    choose(t.dataset, "digits")  # the table's own dataset control binds what the shapes make clear
    assert w.document.graph.data == {"dataset": "digits", "bind": {"x": "image"}}
    (row,) = t.rows
    assert row.field == "image" and row.problem is None
    assert row.expected == "(N, 64) · 0 or 1" and row.found.startswith("(1797, 64) · 0")
    assert _drawn(t.table.cellWidget(0, 3).pixmap()) > 20  # a few digits
    assert "✓" in t.note.text() and w.train.start_button.isEnabled()
    labels = [_field_box(w, 0).itemText(k) for k in range(_field_box(w, 0).count())]
    assert labels[:3] == ["(none)", "image (64,)  ✓", "image2d (1, 8, 8)"]  # the fitting field is marked

    choose(_field_box(w, 0), "image2d")  # the wrong shape: a problem, in the table and the Problems panel
    assert w.document.graph.data["bind"] == {"x": "image2d"}
    assert t.rows[0].problem.startswith("'x' is bound to image2d (1, 8, 8), which does not fit")
    assert any(text.startswith("⚠  data: 'x' is bound to image2d") for text in _listed(w))
    assert not w.train.start_button.isEnabled() and "image2d" in w.train.start_button.toolTip()
    assert _drawn(t.table.cellWidget(0, 3).pixmap()) > 20  # the field's own pictures, to see what it holds
    choose(_field_box(w, 0), None)
    assert "bind" not in w.document.graph.data
    assert t.rows[0].problem.startswith("'x' has no data: choose its field in the Data panel (fields: image (64,)")
    stack = w.document.undo_stack
    assert [stack.text(k) for k in range(stack.count())] == [
        "Data: dataset digits", "Data: bind x to image2d", "Data: unbind x"]
    stack.undo()
    stack.undo()
    assert w.document.graph.data == {"dataset": "digits", "bind": {"x": "image"}} and t.rows[0].field == "image"
    stack.undo()
    assert w.document.graph.data == {} and t.rows[0].field is None


def test_fit_makes_a_new_variable_take_the_shape_and_values_of_its_field_in_one_edit(qtbot, tmp_path):
    """A palette's x is (2,) real under a Normal: bound to the digits' image, Fit makes it
    (64,) binary and its factor Bernoulli, the network kept; one undo puts it back."""
    x = gm.Variable("x", (2,), role="observed")
    z = gm.Variable("z", (8,))
    g = gm.Graph("v", p=gm.Normal(x, given=z, net=gm.MLP(16)) * gm.Normal(z, loc=0.0, scale=1.0),
                 q=gm.Normal(z, given=x, net=gm.MLP(16)))
    w = make_window(qtbot, tmp_path, g)
    t = w.data_table
    choose(t.dataset, "digits")
    assert "bind" not in w.document.graph.data and not t.fits  # no field of x's shape: unbound
    choose(_field_box(w, 0), "image")
    assert "Fit (in the Data panel) makes it x (64,) · 0 or 1" in t.rows[0].problem
    assert any("Fit (in the Data panel)" in text for text in _listed(w))
    fit = t.fits["x"]
    assert fit.isVisibleTo(w) and fit.toolTip().startswith("make x (64,) · 0 or 1 so that image fits it")
    assert "p(x|z) Bernoulli" in fit.toolTip()
    fit.click()
    after = w.document.graph
    assert (after.variables["x"].shape, after.variables["x"].support) == ((64,), "binary")
    (px,) = [f for f in after.factors if f.target == "x"]
    assert px.family == "Bernoulli" and px.net == g.factors[0].net
    assert t.rows[0].problem is None and not after.problems() and w.train.start_button.isEnabled()
    assert not t.fits
    w.document.undo_stack.undo()
    assert w.document.graph.variables["x"].shape == (2,) and w.document.graph.factors[0].family == "Normal"


def test_an_unbound_input_stops_start_and_a_click_on_the_problem_shows_its_row(qtbot, tmp_path):
    g = gm.load(EXAMPLES_DIR / "cvae.json")
    g.data = {"dataset": "digits", "bind": {"x": "image"}}
    w = make_window(qtbot, tmp_path, g)
    text = next(t for t in _listed(w) if "'y'" in t)
    assert "'y' is an input, always given: choose the field that gives it in the Data panel" in text
    assert not w.train.start_button.isEnabled()
    w.problems.setCurrentRow(_listed(w).index(text))
    w.problems._activate(w.problems.currentItem())
    assert not w.docks["data"].visibleRegion().isEmpty()  # the Data panel came to the front
    assert w.data_table.table.currentRow() == [r.variable for r in w.data_table.rows].index("y")
    choose(_field_box(w, w.data_table.table.currentRow()), "label")
    assert w.document.graph.data["bind"] == {"x": "image", "y": "label"} and w.train.start_button.isEnabled()


@pytest.mark.parametrize("variable, field, words", [
    (gm.Variable("c", (), support="categorical", classes=5, role="observed"), "label",
     "class indices must lie in [0, 5), found 5"),
    (gm.Variable("c", (), role="observed"), "label", "'real' values must be real numbers, found whole numbers"),
    (gm.Variable("c", (64,), support="one_hot", role="observed"), "image", "expects one-hot vectors"),
])
def test_a_field_whose_values_do_not_fit_is_a_problem_in_the_users_words(variable, field, words):
    g = gm.Graph("g", p=gm.Normal(gm.Variable("z", (2,)), loc=0.0, scale=1.0))
    g.add_variable(variable)
    g.data = {"dataset": "digits", "bind": {"c": field}}
    problems = db.data_problems(g)
    assert len(problems) == 1 and problems[0][0] == "c", problems
    assert words in problems[0][1] and "torch" not in problems[0][1] and "dtype" not in problems[0][1]


def test_a_field_named_like_the_variable_binds_it_and_switching_datasets_keeps_what_fits():
    g = gm.Graph("g", p=gm.Normal(gm.Variable("point", (2,), role="observed"), loc=0.0, scale=1.0))
    g.data = {"dataset": "two_moons"}
    (row,), why = db.binding_rows(g)
    assert why is None and row.field == "point" and row.by_name and row.problem is None
    g.data = db.bind_field(g, "point", "point")
    assert db.choose_dataset(g, {**g.data, "dataset": "ring8"})["bind"] == {"point": "point"}
    assert "bind" not in db.choose_dataset(g, {**g.data, "dataset": "digits"})  # digits has no point


@pytest.mark.parametrize("name, variable, kind", [
    ("vae", "x", "images"), ("realnvp", "x", "points"), ("dmm", "x", "lines"), ("sketchrnn", "d", "strokes"),
    ("sketchrnn", "pen", "bars"), ("cvae", "y", "bars"), ("gqn_toy", "x_c", "lines"), ("m2", "y", "bars"),
    ("sketchrnn", "time", "bars"),  # the lengths of the sequences
])
def test_thumbnails_draw_a_few_examples_as_what_they_are(qapp, name, variable, kind):
    g = gm.load(EXAMPLES_DIR / f"{name}.json")
    rows, why = db.binding_rows(g)
    assert why is None and not [r.problem for r in rows if r.problem]
    values = {r.variable: r.values for r in rows}
    drawn = sketch(g, variable, values[variable], values)
    assert drawn is not None and drawn[0] == kind
    assert _drawn(thumbnail(*drawn)) > 10


def test_thumbnails_take_their_examples_from_across_a_sorted_field(qapp):
    """mnist5k is sorted by digit: a thumbnail of its first images would show three 0s."""
    g = gm.load(EXAMPLES_DIR / "vae.json")
    x = torch.arange(30.0).repeat_interleave(10)[:, None].expand(300, 64) / 30  # 30 sorted classes of 10
    kind, images = sketch(g, "x", x)
    assert kind == "images" and len({round(float(i.mean()) * 30) for i in images}) == len(images) == 3
    kind, points = sketch(g, "x", x[:, :2].repeat_interleave(4, 0))  # 1,200 points whose values climb
    assert kind == "points" and len(points) == 300 and points.min() == 0 and points.max() == x.max()


def test_a_file_of_ones_own_is_chosen_in_the_data_panel(qtbot, tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, pixels=(np.random.default_rng(0).random((50, 64)) > 0.5).astype(np.float32))
    w = make_window(qtbot, tmp_path, _vae())
    t = w.data_table
    choose(t.dataset, "npz")
    assert t.browse.isVisible() and t.options.placeholderText() == "path: …"
    text = next(x for x in _listed(w) if x.startswith("⚠  data: "))
    assert text.endswith("choose its file with Choose… in the Data panel") and "data.options" not in text
    t.choose_path = lambda name: str(path) if name == "npz" else None
    t.browse.click()
    assert w.document.graph.data == {"dataset": "npz", "options": {"path": str(path)}, "bind": {"x": "pixels"}}
    assert t.rows[0].found.startswith("(50, 64) · 0") and w.train.start_button.isEnabled()
    assert w.document.undo_stack.text(w.document.undo_stack.count() - 1) == "Data: options"

    choose(t.dataset, "two_moons")  # another dataset: its own options, the binding that no longer fits gone
    assert w.document.graph.data == {"dataset": "two_moons"} and not t.browse.isVisible()
    type_into(qtbot, t.options, "n: -5")
    assert is_invalid(t.options) and w.last_message.startswith("data.options.n: expected an integer")
    assert w.document.graph.data == {"dataset": "two_moons"}
    type_into(qtbot, t.options, "n: 300, noise: 0.1")
    assert w.document.graph.data == {"dataset": "two_moons", "options": {"n": 300, "noise": 0.1}}


def test_the_lengths_of_a_sequence_plate_are_a_row_of_their_own(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "sketchrnn.json"))
    t = w.data_table
    assert [(r.variable, r.role, r.field) for r in t.rows] == [
        ("d", "observed", "offset"), ("pen", "observed", "pen"), ("time", "lengths", "length")]
    assert t.rows[2].expected == "(N,) · whole numbers 1 … 64" and t.rows[2].problem is None
    assert t.table.item(2, 0).text() == "time lengths"
    box = _field_box(w, 2)
    assert box.itemText(0) == "(none: full length)" and box.itemText(box.findData("length")) == "length ()  ✓"
    choose(box, "label")  # class numbers 0 … 9 are no lengths
    assert w.document.graph.data["lengths"] == {"time": "label"}
    assert t.rows[2].problem.startswith("the lengths of time are bound to label (), which does not fit: expected "
                                        "values in [1, 64]")
    assert not w.train.start_button.isEnabled()
    choose(_field_box(w, 2), None)
    assert "lengths" not in w.document.graph.data and t.rows[2].found == "every sequence runs all its steps"
    assert w.document.undo_stack.text(1) == "Data: lengths of time from none"


def test_editing_a_variable_rechecks_its_data_at_once(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, _vae({"dataset": "digits", "bind": {"x": "image"}}))
    assert w.train.start_button.isEnabled() and w.data_table.rows[0].problem is None
    w.ops.update_variable("x", shape=(32,))
    assert w.data_table.rows[0].expected == "(N, 32) · 0 or 1"
    assert any("'x' is bound to image (64,), which does not fit" in t for t in _listed(w))
    assert not w.train.start_button.isEnabled()
    w.ops.update_variable("x", shape=(64,), support="categorical")
    assert "categorical data must be integer class indices, found real numbers" in w.data_table.rows[0].problem
    w.document.undo_stack.undo()
    w.document.undo_stack.undo()
    assert w.data_table.rows[0].problem is None and w.train.start_button.isEnabled()
