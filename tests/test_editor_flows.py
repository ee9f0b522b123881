"""The editor opens a graph with flow factors: it draws them and its inspector shows the flow."""

from __future__ import annotations

import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from conftest import EXAMPLES_DIR  # noqa: E402
from PyQt6.QtWidgets import QLabel  # noqa: E402
from test_editor_support import make_window  # noqa: E402

import graphmodel as gm  # noqa: E402


def test_a_flow_posterior_opens_and_shows_its_steps(qtbot, tmp_path):
    path = EXAMPLES_DIR / "iaf_vae.json"
    g = gm.load(path, validate=False)
    w = make_window(qtbot, tmp_path, g, path)
    index = next(i for i, f in enumerate(g.factors) if f.flow)
    w.select_key(("factor", index))

    def texts():
        return [lab.text() for lab in w.inspector.page.findChildren(QLabel)]

    qtbot.waitUntil(lambda: any("FLOW (READ-ONLY)" in t for t in texts()), timeout=5000)
    texts = texts()
    assert any("FLOW (READ-ONLY)" in t for t in texts), texts
    assert any(t.startswith("0. iaf(hidden=[64, 64], context=True)") for t in texts), texts
    assert w.document.graph.factors[index].flow == g.factors[index].flow


def test_the_canvas_caption_names_the_flow_steps():
    from editor.captions import factor_caption

    g = gm.load(EXAMPLES_DIR / "iaf_vae.json")
    (q,) = [f for f in g.factors if f.model == "q"]
    assert factor_caption(q) == "q  Normal · MLP 128 → " + " → ".join(s.type for s in q.flow)
    assert "iaf" in factor_caption(q)
