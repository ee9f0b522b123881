"""The editor, driven through its widgets (pytest-qt, offscreen): drawing the VAE from an
empty canvas, undo and redo of every kind of edit, refusals, files and recovery."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from conftest import EXAMPLES_DIR  # noqa: E402
from test_editor_support import (  # noqa: E402
    activate,
    choose,
    doc,
    drag_connect,
    drag_node,
    make_window,
    type_into,
    type_spin,
    without_layout,
)

import graphmodel as gm  # noqa: E402
from editor.forms import is_invalid  # noqa: E402
from editor.templates import TEMPLATE_DIR, TEMPLATES, template  # noqa: E402


@pytest.fixture
def window(qtbot, tmp_path):
    return make_window(qtbot, tmp_path)


def test_build_the_vae_from_an_empty_canvas(window, qtbot):
    w = window
    type_into(qtbot, w.inspector.page.name, "vae")
    activate(qtbot, w, "variable:observed")  # → x, selected, inspector shows it
    page = w.inspector.page
    assert page.var == "x"
    type_into(qtbot, page.shape, "64")
    choose(page.support, "binary")
    activate(qtbot, w, "variable:latent")  # → z (8,)
    assert w.inspector.page.var == "z"
    drag_connect(qtbot, w, "z", "x")  # p(x|z): Bernoulli by x's support, with an MLP
    w.select_key(("factor", 0))
    type_into(qtbot, w.inspector.page.options["hidden"], "128")
    w.select_key(("variable", "z"))
    activate(qtbot, w, "family:Normal")  # p(z) = Normal(0, 1)
    choose(w.model_box, "q")
    drag_connect(qtbot, w, "x", "z")  # q(z|x)
    w.select_key(("factor", 2))
    type_into(qtbot, w.inspector.page.options["hidden"], "128")
    expected = json.loads((EXAMPLES_DIR / "vae.json").read_text())
    set_sections(qtbot, w.train, expected["data"], expected["training"])
    # layout is where the user put the nodes; the example file has none
    assert without_layout(doc(w)) == without_layout(expected)
    assert w.formulas.texts[:2] == ["p(x,z) = p(x|z)p(z)", "q(z|x) = q(z|x)"]
    assert w.formulas.objective_text == "E_q(z|x)[log p(x|z)] − KL[q(z|x)‖p(z)]"
    assert w.problems.problems == []


def set_sections(qtbot, t, data: dict, training: dict) -> None:
    """Fill the training panel's fields with the file's data and training sections."""
    for key, value in data.items():
        if key == "dataset":
            choose(t.dataset, value)
        elif key == "bind":
            type_into(qtbot, t.bind, ", ".join(f"{k}: {v}" for k, v in value.items()))
        elif key == "test_fraction":
            type_into(qtbot, t.test_fraction, str(value))
        else:
            raise AssertionError(f"the training panel has no field for data.{key}")
    for key, value in training.items():
        if key in ("steps", "epochs"):
            choose(t.length_unit, key)
            type_spin(qtbot, t.length, value)
        elif key in ("batch_size", "log_every"):
            type_spin(qtbot, getattr(t, key), value)
        elif key == "lr":
            type_into(qtbot, t.lr, str(value))
        elif key in ("optimizer", "device", "compile"):
            choose(getattr(t, key), value)
        else:
            raise AssertionError(f"the training panel has no field for training.{key}")


def _edits(w, qtbot):
    """One edit of every kind, through the user's entry points; yields after each."""
    ops = w.ops
    yield activate(qtbot, w, "variable:latent")                  # add a variable (palette)
    yield ops.update_variable("z", name="h")                      # rename (inspector)
    yield ops.update_variable("h", shape=(16,))                   # shape
    yield activate(qtbot, w, "variable:observed")
    yield ops.update_variable("x", support="binary")              # support
    yield drag_connect(qtbot, w, "h", "x")                        # connect: adds p(x|h)
    yield ops.update_variable("x", support="unit_interval")
    yield ops.change_family(0, "Beta")                            # family
    yield ops.set_network(0, "ConvEncoder")                       # network
    w.select_key(("factor", 0))
    yield type_into(qtbot, w.inspector.page.options["hidden"], "32, 32")  # hyperparameter
    w.select_key(("variable", "h"))
    yield activate(qtbot, w, "family:Normal")                     # a factor from the palette
    yield drag_node(qtbot, w, "x", 120, 40)                       # a whole drag is one step
    yield w.auto_layout()
    yield activate(qtbot, w, "plate:sequence")                    # add a plate
    yield ops.update_plate("time", size=9)
    yield ops.set_plate("x", "time")
    yield ops.set_plate("h", "time")
    yield w.connect_variables("h", "h", True)                     # h[t-1] → h, with its t=0 factor
    w.select_key(("plate", "time"))
    yield type_into(qtbot, w.inspector.page.name, "steps")        # rename a plate (inspector)
    yield ops.disconnect(0, 0)
    yield ops.set_section("training", {"steps": 5})               # a file section
    yield ops.rename_graph("drawn")
    yield ops.ensure_model("r", "auxiliary")
    w.scene.select_keys([("variable", "x")])
    w.copy_selection()
    yield w.paste()
    yield activate(qtbot, w, "template:vae")                      # a template merged in
    w.scene.select_keys([("variable", "x2")])
    yield w.delete_selection()
    yield ops.delete([("plate", "steps")])


def test_undo_and_redo_every_kind_of_edit_back_to_the_start_and_forward(window, qtbot):
    w = window
    stack = w.document.undo_stack
    states = [doc(w)]
    for _ in _edits(w, qtbot):
        assert stack.count() == len(states), f"edit {len(states)} was not one undo step: {w.last_message}"
        states.append(doc(w))
    same = [stack.text(k) for k in range(len(states) - 1) if states[k] == states[k + 1]]
    assert same == []  # every edit changed something
    for k in range(len(states) - 1, 0, -1):
        stack.undo()
        assert doc(w) == states[k - 1], stack.text(k - 1)
    assert not stack.canUndo() and doc(w) == gm.Graph("untitled").to_dict()
    for k in range(1, len(states)):
        stack.redo()
        assert doc(w) == states[k], stack.text(k - 1)
    assert w.scene.variables.keys() == w.document.graph.variables.keys()


def test_renaming_a_plate_in_the_inspector_renames_it_everywhere_and_undoes(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vrnn.json"), training=False)
    box = w.scene.plates["time"].sceneBoundingRect()
    before = doc(w)
    w.select_key(("plate", "time"))
    assert w.inspector.page is w.inspector.pages["plate"] and w.inspector.page.name.text() == "time"
    type_into(qtbot, w.inspector.page.name, "steps")
    g = w.document.graph
    assert list(g.plates) == ["steps"] and {v.plate for v in g.variables.values()} == {"steps"}
    assert set(w.scene.plates) == {"steps"} and w.scene.plates["steps"].sceneBoundingRect() == box
    assert w.scene.selected_keys() == [("plate", "steps")]  # the selection follows the new name
    assert w.inspector.page.name.text() == "steps"
    assert w.formulas.texts[0] == str(gm.load(EXAMPLES_DIR / "vrnn.json").p)
    assert w.document.undo_stack.count() == 1 and w.document.undo_stack.text(0) == "Rename plate time to steps"
    w.document.undo_stack.undo()
    assert doc(w) == before and set(w.scene.plates) == {"time"}
    w.document.undo_stack.redo()
    assert list(w.document.graph.plates) == ["steps"]
    assert w.document.graph.variables["h"].plate == "steps"

    w.ops.add_plate("iid", name="views")
    w.select_key(("plate", "steps"))
    after = doc(w)
    type_into(qtbot, w.inspector.page.name, "views")  # taken
    assert w.last_message == "cannot rename plate 'steps' to 'views': that name is taken"
    field = w.inspector.page.name  # the field keeps what was typed, to be corrected, marked with the reason
    assert field.text() == "views" and is_invalid(field) and field.toolTip() == w.last_message
    assert w.document.graph.plates.keys() == {"steps", "views"}
    type_into(qtbot, w.inspector.page.name, "2t")
    assert "plate name must be" in w.last_message and doc(w) == after


def test_previous_step_labels_keep_clear_of_their_loop_and_node(qtbot, tmp_path):
    from PyQt6.QtGui import QFontMetricsF

    from editor import style

    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vrnn.json"), training=False)
    (loop,) = [e for e in w.scene.edges if e.ends[0] is e.ends[1]]  # h[t-1] → h
    text = QFontMetricsF(style.ui_font(8.5, bold=True)).boundingRect(loop.label)
    label = loop.label_rect()
    label.setRect(label.center().x() - text.width() / 2, label.center().y() - text.height() / 2,
                  text.width(), text.height())  # the ink, not the layout box
    node = loop.ends[0]
    assert not loop.path().intersects(label)
    assert not node.mapToScene(node.shape()).intersects(label)


def test_an_autoregressive_factor_draws_a_self_edge_that_survives_a_family_change(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "made.json"), training=False)
    (loop,) = [e for e in w.scene.edges if e.ends[0] is e.ends[1]]
    node = loop.ends[0]
    assert loop.autoregressive and loop.label == "<i" and loop.key == ("autoregressive", 0)
    assert loop.path().boundingRect().top() > node.pos().y()  # below: a lag's loop is on the left
    assert not loop.flags() & loop.GraphicsItemFlag.ItemIsSelectable
    from editor.defaults import with_family, with_parents

    f = w.document.graph.factors[0]
    assert with_family(f, "Bernoulli").autoregressive == f.autoregressive
    assert with_parents(f, ()).net == f.net  # its net reads the target: it stays without parents
    out = tmp_path / "made_script.py"
    assert w.files.export(out)
    import runpy

    assert runpy.run_path(str(out))["build"]() == w.document.graph  # the script keeps the order spec


def test_the_inspector_makes_a_factor_autoregressive_and_back_in_one_undo_step_each(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"), training=False)
    before = doc(w)
    w.select_key(("factor", 0))  # p(x|z)
    choose(w.inspector.page.ar_order, "agnostic")
    f = w.document.graph.factors[0]
    assert f.autoregressive == gm.factors.Autoregressive("agnostic") and f.net.type == "MaskedMLP"
    assert w.document.graph.problems() == [] and str(w.document.graph.p) == "p(x,z) = ∏ᵢ p(xᵢ|x<ᵢ,z)p(z)"
    type_into(qtbot, w.inspector.page.ar_fields["ensemble"], "4")
    assert w.document.graph.factors[0].autoregressive.ensemble == 4
    type_into(qtbot, w.inspector.page.ar_fields["ensemble"], "x")
    assert w.last_message == "autoregressive.ensemble: expected an integer, found 'x'"
    choose(w.inspector.page.ar_order, None)
    f = w.document.graph.factors[0]
    assert f.autoregressive is None and f.net.type == "MLP" and w.document.graph.problems() == []
    for _ in range(3):
        w.document.undo_stack.undo()
    assert doc(w) == before


def test_reconstructions_sit_under_their_data_in_a_near_square_grid():
    import torch

    from editor.liveplots import _pairs

    data = torch.arange(1, 9, dtype=torch.float32).reshape(8, 1) / 10
    cells, ncol = _pairs(data, data + 0.01, 8)
    rows = cells.reshape(-1, ncol)
    assert ncol == 4 and rows.shape == (4, 4)  # 8 pairs: data, reconstruction, data, reconstruction
    assert torch.allclose(rows[1], rows[0] + 0.01) and torch.allclose(rows[3], rows[2] + 0.01)
    assert torch.equal(torch.cat([rows[0], rows[2]]), data.flatten())
    cells, ncol = _pairs(data, data, 5)  # a short batch: empty cells are frame grey
    assert ncol == 3 and cells.reshape(-1, 3)[2:, 2].tolist() == [0.5, 0.5]


def test_renaming_a_variable_keeps_it_selected(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"), training=False)
    w.select_key(("variable", "z"))
    type_into(qtbot, w.inspector.page.name, "h")
    assert w.scene.selected_keys() == [("variable", "h")]
    assert w.inspector.page is w.inspector.pages["variable"] and w.inspector.page.name.text() == "h"


def test_the_compile_choice_sets_training_compile_and_undoes(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"))
    box = w.train.compile
    assert box.currentText() == "eager" and "compile" not in doc(w)["training"]
    choose(box, True)
    assert doc(w)["training"]["compile"] is True
    choose(box, "reduce-overhead")
    assert doc(w)["training"]["compile"] == "reduce-overhead" and box.currentText() == "CUDA graphs"
    w.document.undo_stack.undo()
    assert doc(w)["training"]["compile"] is True and box.currentText() == "compiled"
    w.document.undo_stack.undo()
    assert "compile" not in doc(w)["training"] and box.currentText() == "eager"
    w.document.undo_stack.redo()
    assert box.currentText() == "compiled"  # the panel shows the document's setting


def test_a_files_other_compile_mode_is_shown_and_kept(qtbot, tmp_path):
    g = gm.load(EXAMPLES_DIR / "vae.json")
    g.training["compile"] = "max-autotune"
    w = make_window(qtbot, tmp_path, g)
    assert w.train.compile.currentText() == "compiled, max-autotune"
    choose(w.train.compile, False)
    choose(w.train.compile, "max-autotune")
    assert doc(w)["training"]["compile"] == "max-autotune"


def test_a_connection_that_closes_a_cycle_is_refused_with_the_reason(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"))
    before, count = doc(w), w.document.undo_stack.count()
    drag_connect(qtbot, w, "x", "z")  # in p, where z → x already is
    assert w.last_message.startswith("refused: connecting x → z in model p would close a cycle, x → z → x")
    assert w.notice.isVisible()
    assert doc(w) == before and w.document.undo_stack.count() == count
    w.select_key(("variable", "z"))
    activate(qtbot, w, "family:Bernoulli")  # z is real: Bernoulli cannot score it
    assert "cannot score 'z' with support 'real'" in w.last_message
    choose(w.model_box, "q")
    drag_connect(qtbot, w, "z", "x")  # q infers latents; x is data
    assert "'x' is observed" in w.last_message
    assert doc(w) == before


def test_problems_are_listed_and_badged_and_clicking_one_selects_the_node(qtbot, tmp_path):
    g = gm.load(EXAMPLES_DIR / "vae.json")
    w = make_window(qtbot, tmp_path, g)
    w.ops.update_variable("x", support="real")  # Bernoulli can no longer score x
    assert w.problems.count() == 1
    assert "Bernoulli cannot score 'x'" in w.problems.item(0).text()
    assert w.scene.variables["x"].problems and not w.scene.variables["z"].problems
    assert w.scene.item_for(("factor", 0)).bad
    w.problems.itemClicked.emit(w.problems.item(0))
    assert w.scene.selected_keys() == [("factor", 0)]
    assert w.inspector.page is w.inspector.pages["factor"]
    w.document.undo_stack.undo()
    assert w.problems.problems == [] and not w.scene.variables["x"].problems


def test_save_and_open_round_trip_with_the_python_api(qtbot, tmp_path):
    src = EXAMPLES_DIR / "vae.json"
    w = make_window(qtbot, tmp_path)
    assert w.files.open(src)
    out = tmp_path / "copy.json"
    assert w.files.save_as(out)
    assert out.read_bytes() == src.read_bytes()  # a graph saved from code opens and saves unchanged
    drag_node(qtbot, w, "z", 90, 0)
    assert w.document.dirty and w.windowTitle().startswith("copy.json")
    assert w.files.save()
    assert not w.document.dirty
    loaded = gm.load(out)
    assert loaded == w.document.graph  # identical, layout included
    assert loaded.layout["nodes"]["z"] == list(w.scene.current_positions()["z"])
    assert str(out.resolve()) == w.files.recent.paths()[0]
    w2 = make_window(qtbot, tmp_path)
    assert w2.files.open(out) and w2.document.graph == loaded
    assert w2.scene.current_positions() == w.scene.current_positions()


def test_a_broken_file_is_reported_and_the_document_kept(window, qtbot, tmp_path):
    w = window
    w.files.open(EXAMPLES_DIR / "vae.json")
    w.ops.update_variable("z", shape=(4,))
    before = doc(w)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format_version": 1, "variables": [{"name": "x", "shape": [-3]}], "factors": []}')
    w.answers = ["discard"]
    assert not w.files.open(bad)
    assert "bad.json" in w.notes[-1] and "variables[0].shape[0]" in w.notes[-1]
    assert doc(w) == before and w.document.dirty


def test_unsaved_changes_prompt_before_they_are_lost(window, qtbot, tmp_path):
    w = window
    activate(qtbot, w, "variable:latent")
    w.answers = ["cancel"]
    assert not w.files.new() and "z" in w.document.graph.variables
    out = tmp_path / "kept.json"
    w.choose_path = lambda *a, **k: str(out)
    w.answers = ["save"]
    assert w.files.new()
    assert "z" in gm.load(out, validate=False).variables and not w.document.graph.variables


def test_autosave_recovers_the_work_of_a_crashed_session(qtbot, tmp_path):
    import subprocess
    import sys

    w = make_window(qtbot, tmp_path)
    activate(qtbot, w, "template:vae")
    w.ops.update_variable("z", shape=(3,))
    w.files.autosave.write()
    saved = w.files.autosave.path
    assert saved.exists()
    # the session "crashes": its recovery file now belongs to a process that is gone
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    crashed = saved.with_name(f"{int(dead.stdout)}-0.json")
    saved.rename(crashed)
    w2 = make_window(qtbot, tmp_path)
    w2.answers = ["recover"]
    assert w2.files.offer_recovery()
    assert w2.document.graph == w.document.graph and w2.document.dirty
    assert not crashed.exists()
    w.document.undo_stack.setClean()
    assert not w.files.autosave.path.exists()  # a saved (clean) document leaves no recovery file


def test_copy_paste_and_delete_take_edges_with_them(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"))
    w.scene.select_keys([("variable", "x"), ("variable", "z")])
    assert w.copy_selection() == 2
    w.paste()
    g = w.document.graph
    assert list(g.variables) == ["x", "z", "x2", "z2"]
    assert [f"{f.model}({f.label})" for f in g.factors[3:]] == ["p(x2|z2)", "p(z2)", "q(z2|x2)"]
    assert sorted(w.scene.selected_keys()) == [("variable", "x2"), ("variable", "z2")]
    w.scene.select_keys([("variable", "z2")])
    w.actions["delete"].trigger()
    g = w.document.graph
    assert "z2" not in g.variables and [f"{f.model}({f.label})" for f in g.factors[3:]] == ["p(x2)"]
    assert "z2" not in g.layout["nodes"]


def test_palette_search_filters_entries(window):
    p = window.palette
    p.search.setText("relax")
    assert p.visible_entries() == ["family:RelaxedBernoulli", "family:RelaxedOneHotCategorical"]
    p.search.setText("sequence")
    assert "plate:sequence" in p.visible_entries() and "template:vrnn" in p.visible_entries()
    p.search.setText("")
    assert len(p.visible_entries()) == len(p.items)


@pytest.mark.parametrize("key", [t.key for t in TEMPLATES])
def test_every_template_opens_draws_and_merges(qtbot, tmp_path, key):
    w = make_window(qtbot, tmp_path, training=False)
    activate(qtbot, w, f"template:{key}")
    expected = gm.load(EXAMPLES_DIR / f"{key}.json", validate=False)
    assert without_layout(doc(w)) == without_layout(expected.to_dict())
    assert set(w.scene.variables) == set(expected.variables) and set(w.scene.plates) == set(expected.plates)
    # one edge per parent, and an autoregressive factor's self-edge
    assert len(w.scene.edges) == sum(len(f.parents) + (f.autoregressive is not None) for f in expected.factors)
    assert w.formulas.texts[0] == str(expected.model(next(iter(expected.models))))
    assert w.formulas.objective_text or w.formulas.objective_reason
    assert not w.grab().isNull()
    activate(qtbot, w, f"template:{key}")  # again: merged beside it, renamed
    assert len(w.document.graph.variables) == 2 * len(expected.variables)
    assert w.document.graph.problems() == []
    w.document.undo_stack.undo()
    assert without_layout(doc(w)) == without_layout(expected.to_dict())


def test_packaged_templates_are_the_example_files():
    """The templates ship inside the package (a wheel has no examples folder); each is a copy
    of its example, so the two never drift apart."""
    examples = {p.name: p.read_bytes() for p in EXAMPLES_DIR.glob("*.json")}
    packaged = {p.name: p.read_bytes() for p in TEMPLATE_DIR.glob("*.json")}
    assert sorted(packaged) == sorted(examples), "copy new examples into editor/template_files/"
    stale = sorted(name for name in examples if packaged[name] != examples[name])
    assert stale == [], f"out of date: cp examples/{{{','.join(stale)}}} editor/template_files/"
    assert {t.key for t in TEMPLATES} == {name.removesuffix(".json") for name in examples}
    assert all(t.path.parent == TEMPLATE_DIR for t in TEMPLATES)


def test_export_writes_a_script_that_rebuilds_the_graph(qtbot, tmp_path, capsys):
    import runpy

    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vrnn.json"), training=False)
    out = tmp_path / "vrnn_script.py"
    assert w.files.export(out)
    script = runpy.run_path(str(out))  # what `python vrnn_script.py` runs, minus the interpreter start
    assert script["build"]() == w.document.graph
    assert script["main"](["--check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == w.formulas.texts[:2]
    assert lines[2] == f"objective: {w.formulas.objective_text}"


def test_inspector_edits_a_factor_and_refuses_bad_values(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"), training=False)
    w.select_key(("factor", 1))
    page = w.inspector.page
    choose(page.sources["scale"], "learn")
    f = w.document.graph.factors[1]
    assert f.params["scale"] == gm.Learn(1.0)
    w.select_key(("factor", 0))
    type_into(qtbot, w.inspector.page.options["hidden"], "-3")
    assert "hidden: expected a list of integers ≥ 1, found -3" in w.last_message
    assert w.document.graph.factors[0].net.options["hidden"] == [128]
    w.select_key(("variable", "z"))
    type_into(qtbot, w.inspector.page.name, "1z")
    assert "variable name must be" in w.last_message and "z" in w.document.graph.variables


def test_keyboard_shortcuts_and_the_context_menu(qtbot, tmp_path):
    from PyQt6.QtCore import Qt
    from PyQt6.QtTest import QTest

    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"), training=False)
    w.windowHandle().requestActivate()  # shortcuts belong to the active window
    qtbot.waitUntil(w.isActiveWindow)
    view = w.view
    view.setFocus()
    w.scene.select_keys([("variable", "z")])
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert list(w.document.graph.variables) == ["x"]
    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert list(w.document.graph.variables) == ["x", "z"]
    QTest.keyClick(view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert list(w.document.graph.variables) == ["x"]
    w.document.undo_stack.undo()
    zoom = view.zoom
    QTest.keyClick(view, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert view.zoom > zoom and not view.auto_fit
    QTest.keyClick(view, Qt.Key.Key_F)
    assert view.auto_fit
    from editor.menus import shortcuts_text

    assert "Undo: Ctrl+Z" in shortcuts_text(w.actions)
    # right-click menus: on nothing, on a variable, on an edge
    labels = [label for label, _ in w.context_actions(None, w.view.mapToScene(0, 0))]
    assert labels[:3] == ["Add latent variable here", "Add observed variable here", "Add input here"]
    dict(w.context_actions(None, w.view.mapToScene(0, 0)))["Add input here"]()
    assert w.document.graph.variables["y"].role == "input"
    edge = dict(w.context_actions(("edge", 0, 0), w.view.mapToScene(0, 0)))
    edge["Disconnect"]()
    assert w.document.graph.factors[0].parents == ()


def test_the_command_line_renders_a_screenshot_and_demos_headless(qtbot, tmp_path, monkeypatch, capsys):
    from PyQt6.QtGui import QImage

    from cli import main

    monkeypatch.setenv("GRAPHMODEL_EDITOR_HOME", str(tmp_path / "home"))
    shot = tmp_path / "vrnn.png"
    assert main(["edit", str(EXAMPLES_DIR / "vrnn.json"), "--screenshot", str(shot)]) == 0
    img = QImage(str(shot))
    assert (img.width(), img.height()) == (1600, 1000)
    assert main(["edit", str(tmp_path / "missing.json"), "--screenshot", str(shot)]) == 1
    assert "graphmodel: error:" in capsys.readouterr().err
    assert main(["edit"]) == 1  # offscreen: no display to open a window on
    assert "no display" in capsys.readouterr().err
    import inference.runs

    calls = []
    monkeypatch.setattr(inference.runs, "train_file", lambda *a: calls.append(a) or 0)  # the headless trainer
    from editor.app import demo

    assert demo(steps=3, out=str(tmp_path / "demo")) == 0
    assert "no display, so training headless" in capsys.readouterr().out
    assert calls == [(template("vae").path, str(tmp_path / "demo"), 3)]


def test_the_demo_with_a_display_opens_the_vae_and_trains_it_live(qtbot, monkeypatch):
    """``graphmodel demo`` where a display exists: the packaged VAE in a new window, training
    at once (the event loop is a stand-in that runs until 20 steps have been drawn)."""
    import editor.app
    from editor.mainwindow import MainWindow

    seen = {}

    class App:
        def exec(self):
            (w,) = [t for t in QApplication.topLevelWidgets() if isinstance(t, MainWindow) and t.isVisible()]
            qtbot.addWidget(w)
            seen["running"] = w.train.running
            # (the step counter may run ahead of the 20 Hz redraw: wait for the curve itself too)
            qtbot.waitUntil(lambda: w.train.last_step >= 20 and w.train.plots.draws > 0
                            and w.train.plots.curve_lengths().get("loss", 0) >= 1, timeout=180_000)
            seen["path"], seen["graph"] = w.document.path, w.document.graph.to_dict()
            seen["curves"] = w.train.plots.curve_lengths()
            w.train.shutdown()
            w.document.undo_stack.setClean()
            w.close()
            return 0

    from PyQt6.QtWidgets import QApplication

    monkeypatch.setattr(editor.app, "has_display", lambda: True)
    monkeypatch.setattr(editor.app, "make_app", App)
    monkeypatch.setattr(editor.app, "_report_errors", lambda window: None)  # keeps pytest's excepthook
    assert editor.app.demo(steps=100_000) == 0
    assert seen["running"] and seen["path"] is None  # unsaved: Save asks where, never over the template
    assert without_layout(seen["graph"]) == without_layout(json.loads((EXAMPLES_DIR / "vae.json").read_text()))
    assert seen["curves"]["loss"] >= 1


@pytest.mark.parametrize("env, expected", [
    ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, False),
    ({"QT_QPA_PLATFORM": "minimal"}, False),
    ({}, False),
    ({"DISPLAY": ":0"}, True),
    ({"WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM": "wayland"}, True),
])
def test_what_counts_as_a_display_on_linux(monkeypatch, env, expected):
    import editor.app

    monkeypatch.setattr(editor.app.sys, "platform", "linux")
    for k in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert editor.app.has_display() is expected


def test_the_headless_demo_trains_and_writes_the_plots(tmp_path, capsys, monkeypatch):
    from PyQt6.QtGui import QImage

    from cli import main

    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # offscreen counts as no display
    monkeypatch.setenv("DISPLAY", ":0")
    out = tmp_path / "demo"
    assert main(["demo", "--steps", "60", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("graphmodel demo: no display, so training headless; plots go to")
    assert {p.name for p in out.iterdir()} >= {"metrics.jsonl", "checkpoint.pt", "samples.png", "losses.png",
                                               "summary.json"}
    assert json.loads((out / "summary.json").read_text())["steps"] == 60
    for name in ("samples.png", "losses.png"):
        img = QImage(str(out / name))
        assert img.width() > 200 and img.height() > 200, name


def test_dropping_palette_entries_on_the_canvas(qtbot, tmp_path):
    from PyQt6.QtCore import QMimeData, QPointF, Qt
    from PyQt6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    from PyQt6.QtWidgets import QApplication

    from editor.canvas import PALETTE_MIME

    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vrnn.json"), training=False)

    def drop(spec: str, scene_pos: QPointF):
        mime = QMimeData()
        mime.setData(PALETTE_MIME, spec.encode())
        vp = w.view.viewport()
        at = QPointF(w.view.mapFromScene(scene_pos))
        copy, left, none = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        for event in (QDragEnterEvent(at.toPoint(), copy, mime, left, none),
                      QDragMoveEvent(at.toPoint(), copy, mime, left, none), QDropEvent(at, copy, mime, left, none)):
            QApplication.sendEvent(vp, event)

    plate = w.scene.plates["time"].rect.center()
    drop("variable:latent", plate)  # onto the plate: a new variable inside it
    g = w.document.graph
    assert g.variables["z2"].plate == "time" and w.scene.selected_keys() == [("variable", "z2")]
    drop("family:Laplace", w.scene.variables["z2"].pos())  # onto the variable: its factor
    assert [f"{f.model}({f.label}) {f.family}" for f in w.document.graph.factors_of("p")][-1] == "p(z2) Laplace"
    drop("network:MLP", w.scene.variables["h"].pos())  # h's factor reads parents: its network becomes an MLP
    assert w.document.graph.factors[2].net == gm.MLP(400)
    drop("network:MLP", w.scene.variables["z2"].pos())  # p(z2) has no parents to read
    assert "factor" in w.last_message and w.document.graph.factors[-1].net is None
    drop("variable:observed", QPointF(600, 0))  # outside the plate
    assert w.document.graph.variables["x2"].plate is None
    drag_node(qtbot, w, "x2", plate.x() - 600, plate.y() + 30)  # dragged into the plate: joins it
    assert w.document.graph.variables["x2"].plate == "time"
    assert w.document.undo_stack.text(w.document.undo_stack.count() - 1) == "Move x2 into time"
    w.scene.select_keys([("edge", 0, 0)])  # p(x|z,h)'s edge from z
    w.delete_selection()
    assert [p.name for p in w.document.graph.factors[0].parents] == ["h"]


def test_the_factor_page_chooses_a_positive_map_with_undo(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"), training=False)
    w.select_key(("factor", 1))
    assert not w.inspector.page.maps["scale"].isEnabled()  # a constant σ is not mapped
    w.select_key(("factor", 2))
    maps = w.inspector.page.maps
    assert list(maps) == ["scale"] and maps["scale"].currentData() == "exp" and maps["scale"].isEnabled()
    choose(maps["scale"], "softplus")
    q = lambda: w.document.graph.factors[2]  # noqa: E731
    assert q().positive == {"scale": "softplus"}
    assert '"positive": {"scale": "softplus"}' in gm.dumps(w.document.graph)
    w.document.undo_stack.undo()
    assert q().positive == {}
    w.document.undo_stack.redo()
    assert q().positive == {"scale": "softplus"}
    w.select_key(("factor", 2))
    assert w.inspector.page.maps["scale"].currentData() == "softplus"
    w.ops.change_family(2, "Laplace")  # Laplace has a scale too: the choice stays
    assert q().family == "Laplace" and q().positive == {"scale": "softplus"}
    w.select_key(("factor", 2))
    choose(w.inspector.page.maps["scale"], "exp")  # the default is not written
    assert q().positive == {}


def test_a_factor_with_a_tied_network_shows_its_name(qtbot, tmp_path):
    from editor.captions import factor_caption

    x, y, z = gm.Variable("x", (4,), role="observed"), gm.Variable("y", (4,), role="observed"), gm.Variable("z", (2,))
    g = gm.Graph("tied", networks={"writer": gm.MLP(8)},
                 p=gm.Normal(x, given=z, net="writer") * gm.Normal(y, given=z, net=gm.Tied("writer"))
                 * gm.Normal(z, loc=0.0, scale=1.0))
    assert g.factors[0].net == g.factors[1].net == gm.Tied("writer")
    w = make_window(qtbot, tmp_path, g, training=False)
    w.select_key(("factor", 0))
    assert w.inspector.page.options == {}
    assert factor_caption(w.document.graph.factors[1]) == "p  Normal · writer (tied)"
    choose(w.inspector.page.maps["scale"], "softplus")  # the map is the factor's own, not the network's
    assert w.document.graph.factors[0].positive == {"scale": "softplus"} and not w.document.graph.factors[1].positive
