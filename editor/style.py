"""Colours, pens and fonts of the editor, in one place: the canvas's palette, light and dark.

The notation follows the field (Daft, Pyro's ``render_model``, ``graphmodel.render.dot``):
latent variables are white circles, observed ones shaded circles, deterministic ones
diamonds and inputs shaded squares; generative edges are solid and dark, inference edges
dashed and blue, auxiliary ones dotted and grey.

The colours are module attributes (``style.INK``) that items read when they paint, so
:func:`use` switching the scheme and a repaint is all a theme change takes (:mod:`editor.theme`
decides which scheme, from the system or the View menu).
"""

from __future__ import annotations

from PyQt6.QtGui import QColor, QFont

#: the two schemes: name → colour (a "#rrggbb" or an (r, g, b, a) tuple)
SCHEMES: dict[str, dict[str, object]] = {
    "light": {
        "INK": "#1f2430", "MUTED": "#6b7280", "CANVAS": "#fbfbfd", "GRID": "#eef0f4",
        "LATENT_FILL": "#ffffff", "OBSERVED_FILL": "#c9ced8", "INPUT_FILL": "#e4e7ed",
        "SELECTED": "#f59e0b", "GLOW": (245, 158, 11, 110), "PROBLEM": "#d62728",
        "PLATE_FILL": (238, 241, 247, 150), "PLATE_EDGE": "#8a94a6", "PLATE_TEXT": "#5c6578",
        "DATA_PLATE_EDGE": "#b4bac6", "DATA_PLATE_TEXT": "#6b7280",
        "CALLOUT_EDGE": "#e8b4b4", "CALLOUT_FILL": "#fff4f4", "CALLOUT_TEXT": "#b42020",
        "BADGE_TEXT": "#ffffff", "PORT_FILL": "#ffffff",
        "generative": "#1f2430", "inference": "#1f5fbf", "auxiliary": "#7f7f7f",
        "chip_generative": "#eef0f4", "chip_inference": "#e6eefb", "chip_auxiliary": "#f2f2f2",
    },
    "dark": {
        "INK": "#e4e7ee", "MUTED": "#9aa3b2", "CANVAS": "#1d2027", "GRID": "#2d313b",
        "LATENT_FILL": "#2a2e38", "OBSERVED_FILL": "#535b6c", "INPUT_FILL": "#3c4250",
        "SELECTED": "#f5a623", "GLOW": (245, 166, 35, 120), "PROBLEM": "#f05252",
        "PLATE_FILL": (58, 64, 78, 120), "PLATE_EDGE": "#7d879a", "PLATE_TEXT": "#aab2c2",
        "DATA_PLATE_EDGE": "#5a6272", "DATA_PLATE_TEXT": "#9aa3b2",
        "CALLOUT_EDGE": "#8a3b3b", "CALLOUT_FILL": "#3a2326", "CALLOUT_TEXT": "#ffb4b4",
        "BADGE_TEXT": "#ffffff", "PORT_FILL": "#1d2027",
        "generative": "#e4e7ee", "inference": "#6fa8ff", "auxiliary": "#a3a3a3",
        "chip_generative": "#2e333e", "chip_inference": "#1f2f4a", "chip_auxiliary": "#33353a",
    },
}

KINDS = ("generative", "inference", "auxiliary")
#: model kind → the colour of its edges and labels (filled by :func:`use`; the dict is kept)
MODEL_COLOURS: dict[str, QColor] = {}
#: the chip behind a factor's label, by model kind
CHIP_FILL: dict[str, QColor] = {}
SCHEME = "light"

NODE_RADIUS = 26.0


def _colour(value) -> QColor:
    return QColor(*value) if isinstance(value, tuple) else QColor(value)


def use(scheme: str) -> None:
    """Switch every colour of this module to ``scheme`` (``"light"`` or ``"dark"``).

    Raises:
        KeyError: an unknown scheme (the message lists the known ones).
    """
    global SCHEME
    if scheme not in SCHEMES:
        raise KeyError(f"colour scheme {scheme!r}: expected one of {', '.join(SCHEMES)}")
    colours = SCHEMES[scheme]
    for name, value in colours.items():
        if name.isupper():
            globals()[name] = _colour(value)
    for kind in KINDS:
        MODEL_COLOURS[kind] = _colour(colours[kind])
        CHIP_FILL[kind] = _colour(colours["chip_" + kind])
    SCHEME = scheme


def is_dark() -> bool:
    return SCHEME == "dark"


use("light")
INK: QColor  # (set by use(); declared for readers and type checkers)
MUTED: QColor
CANVAS: QColor
GRID: QColor
LATENT_FILL: QColor
OBSERVED_FILL: QColor
INPUT_FILL: QColor
SELECTED: QColor
GLOW: QColor
PROBLEM: QColor
PLATE_FILL: QColor
PLATE_EDGE: QColor
PLATE_TEXT: QColor
DATA_PLATE_EDGE: QColor
DATA_PLATE_TEXT: QColor
CALLOUT_EDGE: QColor
CALLOUT_FILL: QColor
CALLOUT_TEXT: QColor
BADGE_TEXT: QColor
PORT_FILL: QColor


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
