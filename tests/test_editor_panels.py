"""The Formulas and Problems panels without dead ends: a formula objective edited in place with
live errors at their column, warnings for valid graphs that will not do what they seem, and
fields that refuse bad values in place (never an internal error)."""

from __future__ import annotations

import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from conftest import EXAMPLES_DIR, example_names  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtTest import QTest  # noqa: E402
from test_editor_support import make_window, type_into  # noqa: E402

import graphmodel as gm  # noqa: E402
from editor.advice import RUN_NOTE, graph_warnings  # noqa: E402
from editor.document import Refused  # noqa: E402
from editor.forms import is_invalid, parse_shape  # noqa: E402
from editor.formulaedit import located  # noqa: E402
from inference.objectives import unused_models  # noqa: E402

JMVAE = "elbo(p, q) - alpha * (kl(q, qx) + kl(q, qw))"


def _listed(w) -> list[str]:
    return [w.problems.item(i).text() for i in range(w.problems.count())]


def _retype(qtbot, editor, text: str) -> None:
    """Replace the formula as a user does, and wait for the check after the last key."""
    editor.text.setFocus()
    editor.text.selectAll()
    QTest.keyClick(editor.text, Qt.Key.Key_Delete)
    QTest.keyClicks(editor.text, text)
    assert editor.timer.isActive()  # checked a moment after the last key, not on every key
    qtbot.waitUntil(lambda: not editor.timer.isActive(), timeout=5000)


def test_a_formula_is_checked_as_it_is_typed_and_applied_as_one_undoable_edit(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "jmvae.json"))
    editor, panel = w.formulas.editor, w.formulas
    assert editor.isVisible() and editor.text.text() == JMVAE and editor.constants.text() == "alpha: 1.0"
    before = panel.objective_text
    _retype(qtbot, editor, "elbo(p, q) - alpha * kl(q, qy)")
    assert (editor.column, editor.problem) == (28, "unknown name 'qy'; models, variables, plates and constants: "
                                                   "p, q, qx, qw, x, z, w, alpha")
    assert editor.error.text().startswith("⚠ column 28: unknown name 'qy'")
    (mark,) = editor.text.extraSelections()
    assert (mark.cursor.selectionStart(), mark.cursor.selectionEnd()) == (27, 28)  # the q of qy
    QTest.keyClick(editor.text, Qt.Key.Key_Return)  # refused: the file keeps its formula
    assert w.document.graph.objective["formula"] == JMVAE and w.document.undo_stack.count() == 0
    assert panel.objective_text == before

    _retype(qtbot, editor, "elbo(p, q) - alpha * kl(q, qx) - kl(q, qw)")
    assert editor.problem is None and not editor.text.extraSelections()
    assert panel.objective_text != before and "PREVIEW" in panel.objective_rows[0][0].text()  # typeset at once
    QTest.keyClick(editor.text, Qt.Key.Key_Return)
    assert w.document.graph.objective == {"formula": "elbo(p, q) - alpha * kl(q, qx) - kl(q, qw)",
                                          "constants": {"alpha": 1.0}}
    assert "PREVIEW" not in panel.objective_rows[0][0].text() and panel.objective_text != before
    assert [w.document.undo_stack.text(0)] == ["Objective: formula"] and w.document.undo_stack.count() == 1
    w.document.undo_stack.undo()
    assert w.document.graph.objective["formula"] == JMVAE and editor.text.text() == JMVAE
    assert panel.objective_text == before


def test_an_error_without_a_column_is_shown_whole_and_esc_puts_the_files_formula_back(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "jmvae.json"))
    editor = w.formulas.editor
    editor.constants.setText("alpha: 1.0, beta: 2")
    editor.constants.textEdited.emit(editor.constants.text())
    qtbot.waitUntil(lambda: editor.problem is not None, timeout=5000)
    assert (editor.column, editor.problem) == (None, "constants.beta: not used by the formula")
    assert not editor.text.extraSelections()
    _retype(qtbot, editor, "elbo(p, q) ** 2")
    assert editor.column == 12 and "'**' is not allowed" in editor.problem
    QTest.keyClick(editor.text, Qt.Key.Key_Escape)
    assert editor.text.text() == JMVAE and editor.constants.text() == "alpha: 1.0" and editor.problem is None


def test_an_edit_of_the_graph_that_breaks_the_formula_marks_its_column(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "m2.json"))
    editor = w.formulas.editor
    assert editor.problem is None
    w.ops.update_variable("y", name="label")  # the formula still reads y
    formula = w.document.graph.objective["formula"]
    assert editor.column == formula.index("y") + 1 and editor.problem.startswith("unknown name 'y'")
    assert editor.text.extraSelections()
    w.document.undo_stack.undo()
    assert editor.problem is None and not editor.text.extraSelections()


@pytest.mark.parametrize("name, formula", [("vae", "elbo(p, q)"), ("iwae", "iwae(p, q, k=5)")])
def test_a_derived_objective_becomes_its_formula_to_edit_and_back(qtbot, tmp_path, name, formula):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / f"{name}.json"))
    editor, before = w.formulas.editor, w.formulas.objective_text
    kept = dict(w.document.graph.objective)
    assert not editor.isVisible() and editor.to_formula.isVisible() and editor.to_formula.isEnabled()
    assert editor.to_formula.toolTip().endswith(formula)
    editor.to_formula.click()
    assert w.document.graph.objective == {"formula": formula} and editor.isVisible()
    assert editor.text.text() == formula and w.formulas.objective_text == before  # the same objective
    assert w.document.undo_stack.text(0) == "Objective: as a formula"
    editor.to_derived.click()
    assert w.document.graph.objective == {} and not editor.isVisible()
    w.document.undo_stack.undo()
    w.document.undo_stack.undo()
    assert w.document.graph.objective == kept


def test_located_reads_the_column_of_every_objective_error():
    assert located("objective.formula: column 12: '**' is not allowed") == (12, "'**' is not allowed")
    assert located("objective.constants.beta: not used by the formula") == (None, "constants.beta: not used by "
                                                                                  "the formula")


# --- warnings ---------------------------------------------------------------------------


def _without(g: gm.Graph, model: str, target: str) -> gm.Graph:
    g.remove_factor(next(i for i, f in enumerate(g.factors) if f.model == model and f.target == target))
    return g


def _warnings(w) -> list[str]:
    return [t for t in _listed(w) if t.startswith("△  warning: ")]


def test_a_latent_without_a_prior_is_a_warning_not_an_error(qtbot, tmp_path):
    g = _without(gm.load(EXAMPLES_DIR / "vae.json"), "p", "z")
    g.objective = {"formula": "expect(q, p, x)"}  # (the ELBO would refuse it by itself)
    w = make_window(qtbot, tmp_path, g)
    (text,) = _warnings(w)
    assert text.startswith("△  warning: 'z' has no prior: model p reads it but does not generate it, so the "
                           "objective takes z from q alone (no KL term)")
    assert _listed(w)[0] == "✓  No problems: the graph is valid (1 warning below)."
    assert w.train.start_button.isEnabled()  # a warning does not stop training
    w.problems.setCurrentRow(1)
    w.problems._activate(w.problems.currentItem())
    assert w.scene.selected_keys() == [("variable", "z")]
    w.ops.set_family("z", "Normal", "p")  # the prior is back: so is the silence
    assert not _warnings(w)


def test_a_latent_without_a_prior_that_the_elbo_refuses_is_said_once(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, _without(gm.load(EXAMPLES_DIR / "vae.json"), "p", "z"))
    assert not _warnings(w) and len(_listed(w)) == 1
    assert _listed(w)[0].startswith("⚠  objective: ELBO: 'q' samples 'z' but model 'p' has no factor for it")
    assert not w.train.start_button.isEnabled() and "objective: ELBO: 'q' samples 'z'" in w.train.start_button.toolTip()


def test_the_objectives_problem_is_listed_beside_the_datas(qtbot, tmp_path):
    g = _without(gm.load(EXAMPLES_DIR / "vae.json"), "p", "z")
    g.data = {}
    w = make_window(qtbot, tmp_path, g)
    assert [t.split(":")[0] for t in _listed(w)] == ["⚠  data", "⚠  objective"]


@pytest.mark.parametrize("model, target, words", [("p", "x", "p(x) is a fixed Bernoulli"),
                                                   ("q", "z", "q(z) is a fixed Normal")])
def test_removing_the_last_parent_warns_that_the_factor_has_nothing_to_learn(qtbot, tmp_path, model, target, words):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"))
    i = next(i for i, f in enumerate(w.document.graph.factors) if f.model == model and f.target == target)
    w.ops.disconnect(i, 0)
    (text,) = _warnings(w)
    assert f"{words} with default constants and nothing to learn (no parents, so no network)" in text
    w.document.undo_stack.undo()
    assert not _warnings(w)


def test_an_unused_model_is_warned_about_in_the_command_lines_words(qtbot, tmp_path):
    g = gm.load(EXAMPLES_DIR / "jmvae.json")
    g.objective = {"formula": "elbo(p, q)"}
    w = make_window(qtbot, tmp_path, g)
    assert _warnings(w) == ["△  warning: " + line for line in unused_models(g)]
    assert len(_warnings(w)) == 2 and "model 'qx' is not used by the objective elbo(p, q)" in _warnings(w)[0]


@pytest.mark.parametrize("name", example_names())
def test_no_example_draws_a_warning(name):
    assert graph_warnings(gm.load(EXAMPLES_DIR / f"{name}.json")) == []


def test_editing_while_a_run_trains_says_the_run_uses_the_graph_as_it_was(qtbot, tmp_path):
    from test_editor_training import tiny_vae

    w = make_window(qtbot, tmp_path, tiny_vae())
    assert w.train.start(steps=1_000_000)
    w.ops.set_positions({"x": (300.0, 300.0)})  # moving a node changes nothing the run reads
    assert RUN_NOTE not in " ".join(_listed(w))
    w.ops.update_variable("z", shape=(3,))
    assert _warnings(w) == ["△  warning: " + RUN_NOTE]
    w.train.shutdown()
    w.train.run_saved.emit("")  # (what the panel says when the run has ended)
    assert not _warnings(w)


# --- fields -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, shape", [("64", (64,)), ("1, 28, 28", (1, 28, 28)), ("28x28", (28, 28)),
                                         ("(64,)", (64,)), ("", ()), ("2 × 3", (2, 3))])
def test_shapes_as_users_write_them(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text, words", [("2,x", "'x' is not a number"), ("-3", "must be a positive integer"),
                                         ("1,,2", "an empty dimension"), ("1e999", "'1e999' is not a number")])
def test_bad_shapes_are_refused_by_what_is_wrong(text, words):
    with pytest.raises(Refused, match="shape: ") as e:
        parse_shape(text)
    assert words in str(e.value)


@pytest.mark.parametrize("text", ["2,x", "-3"])
def test_a_bad_shape_is_refused_in_its_field_with_the_message(qtbot, tmp_path, text):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"))
    before = gm.dumps(w.document.graph)
    w.select_key(("variable", "z"))
    field = w.inspector.page.shape
    type_into(qtbot, field, text)  # (an exception escaping a slot would fail this test)
    assert field.text() == text and is_invalid(field) and field.toolTip() == w.last_message
    assert w.last_message.startswith("shape: ") and "internal error" not in w.last_message
    assert gm.dumps(w.document.graph) == before
    type_into(qtbot, field, "3")
    assert w.document.graph.variables["z"].shape == (3,) and not is_invalid(w.inspector.page.shape)


def test_a_list_for_the_learning_rate_is_refused_in_its_field(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "vae.json"))
    type_into(qtbot, w.train.lr, "[1, 2]")
    assert w.last_message == "lr: expected a number such as 0.001, found '[1, 2]'"
    assert is_invalid(w.train.lr) and w.train.lr.text() == "[1, 2]"
    assert "lr" not in w.document.graph.training or w.document.graph.training["lr"] != [1, 2]
    w.train.load()  # the document's value shown again (after an undo, say): no longer marked
    assert w.train.lr.text() == "0.001" and not is_invalid(w.train.lr)
