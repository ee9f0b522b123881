"""Every example legible in the editor (pytest-qt, offscreen): a wide graph fitted at a
readable zoom in a 1280×720 window, edge labels apart from each other, parallel edges apart,
long formulas inside their panel, and typeset formulas in the theme's own ink."""

from __future__ import annotations

import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from conftest import EXAMPLES_DIR  # noqa: E402
from test_editor_support import make_window  # noqa: E402

import graphmodel as gm  # noqa: E402


def window(qtbot, tmp_path, name, size=(1400, 900)):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / f"{name}.json", validate=False), training=False)
    w.resize(*size)
    settle(qtbot, w)
    return w


def settle(qtbot, w):
    """Let the typeset formulas arrive and the docks take their sizes, then fit (as on opening)."""
    w.formulas.renderer.wait()
    for _ in range(2):
        qtbot.wait(30)
        w.view.fit()


def ink_lightness(label) -> float:
    """The mean lightness of the opaque pixels of a formula's picture (its ink)."""
    image = label.pixmap().toImage()
    values = [image.pixelColor(x, y) for x in range(0, image.width(), 2) for y in range(image.height())]
    inked = [c.lightnessF() for c in values if c.alphaF() > 0.6]
    assert len(inked) > 20, "the formula's picture has ink"
    return sum(inked) / len(inked)


def test_typeset_formulas_take_the_theme_s_ink_and_change_with_it(qtbot, tmp_path):
    from PyQt6.QtGui import QGuiApplication, QPalette

    w = window(qtbot, tmp_path, "vae")
    label = w.formulas.objective
    try:
        assert ink_lightness(label) < 0.35  # dark ink on the light theme
        w.theme.set_choice("dark")
        settle(qtbot, w)
        assert ink_lightness(label) > 0.65  # light ink on the dark theme...
        background = QGuiApplication.palette().color(QPalette.ColorRole.Window)
        panel = w.formulas.grab().toImage().pixelColor(3, w.formulas.height() // 2)
        assert background.lightnessF() < 0.3 and panel.lightnessF() < 0.3  # ...on its dark background
        w.theme.set_choice("light")
        settle(qtbot, w)
        assert ink_lightness(label) < 0.35
    finally:
        w.theme.set_choice("light")
