"""Colours, pens and fonts of the editor, in one place.

The notation follows the field (Daft, Pyro's ``render_model``, ``graphmodel.render.dot``):
latent variables are white circles, observed ones shaded circles, deterministic ones
diamonds and inputs shaded squares; generative edges are solid and dark, inference edges
dashed and blue, auxiliary ones dotted and grey.
"""

from __future__ import annotations

from PyQt6.QtGui import QColor, QFont

INK = QColor("#1f2430")
MUTED = QColor("#6b7280")
CANVAS = QColor("#fbfbfd")
GRID = QColor("#eef0f4")
LATENT_FILL = QColor("#ffffff")
OBSERVED_FILL = QColor("#c9ced8")
INPUT_FILL = QColor("#e4e7ed")
SELECTED = QColor("#f59e0b")
PROBLEM = QColor("#d62728")
PLATE_FILL = QColor(238, 241, 247, 150)
PLATE_EDGE = QColor("#8a94a6")

#: model kind → (colour, Qt pen style name)
MODEL_COLOURS = {
    "generative": QColor("#1f2430"),
    "inference": QColor("#1f5fbf"),
    "auxiliary": QColor("#7f7f7f"),
}
#: the chip behind a factor's label, by model kind
CHIP_FILL = {
    "generative": QColor("#eef0f4"),
    "inference": QColor("#e6eefb"),
    "auxiliary": QColor("#f2f2f2"),
}

NODE_RADIUS = 26.0


def math_font(size: float = 15.0) -> QFont:
    """An italic serif, for variable names as a paper typesets them."""
    f = QFont("DejaVu Serif")
    f.setItalic(True)
    f.setPointSizeF(size)
    return f


def ui_font(size: float = 8.5, bold: bool = False) -> QFont:
    f = QFont("DejaVu Sans")
    f.setPointSizeF(size)
    f.setBold(bold)
    return f
