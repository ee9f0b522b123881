"""Family options in the editor: the inspector shows a row per declared option, an edit is one
undo step that also fixes the factor's parameters, and a bad value is refused by name."""

from __future__ import annotations

import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from conftest import EXAMPLES_DIR  # noqa: E402
from test_editor_support import doc, make_window, type_into  # noqa: E402

import graphmodel as gm  # noqa: E402
from editor import defaults  # noqa: E402


def test_family_options_are_edited_in_the_inspector_and_undone(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / "gmm_prior.json"), training=False)
    index = next(i for i, f in enumerate(w.document.graph.factors) if f.family == "Mixture")
    w.select_key(("factor", index))
    page = w.inspector.page
    assert set(page.family_options) == {"components", "component"}
    before = doc(w)
    type_into(qtbot, page.family_options["components"], "4")
    assert w.document.graph.factors[index].family_options == {"components": 4, "component": "Normal"}
    # the ten learned means no longer fit four components: validation says so on the factor
    assert any("parameter 'loc' has shape (10, 8), expected (4, 8)" in str(p) for p in w.problems.problems)
    w.document.undo_stack.undo()
    assert doc(w) == before
    w.select_key(("factor", index))
    type_into(qtbot, w.inspector.page.family_options["components"], "0")
    assert "Mixture option 'components': expected an integer in [1, 1024], found 0" in w.last_message
    assert doc(w) == before


def test_changing_the_component_family_changes_the_parameters():
    x = gm.Variable("x", (4,), "binary")
    f = gm.Mixture(x, given=gm.Variable("u", (2,), role="input"), net=gm.MLP(8))
    assert f.params == {"mixture_logits": "net", "loc": "net", "scale": "net"}
    g = defaults.with_options(f, {"component": "Bernoulli", "components": 3})
    assert g.params == {"mixture_logits": "net", "logits": "net"} and g.family_options["components"] == 3
    prior = defaults.with_options(gm.Mixture(gm.Variable("z", (2,)), mixture_logits=0.0, loc=0.0, scale=1.0),
                                  {"component": "Bernoulli"})
    assert prior.params == {"mixture_logits": gm.Const(0.0), "logits": gm.Const(0.0)}
