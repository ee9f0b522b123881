"""Pen strokes as line drawings in the editor: a lifted pen leaves a gap.

A *drawing* is a list of polylines (arrays ``(k, 2)`` of absolute points), as
:func:`inference.drawings.sketches` makes them from a stroke model's stroke-5 values. Here they
become one pyqtgraph curve per picture — every drawing scaled into its cell of a grid, the
strokes joined by NaN rows so that ``connect="finite"`` lifts the pen between them — for the
live panel (:class:`DrawingsPanel`), or a ``QPixmap`` painted with ``QPainter`` for the latent
explorer (:func:`drawings_pixmap`). A sketch *being drawn* is the same sketch cut after a few
step counts (:func:`being_drawn`), each frame in the whole drawing's box so that it grows in
place.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import torch
from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QColor, QPainter, QPainterPath, QPen, QPixmap
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from inference.drawings import sketches

#: a cell's side (view units) and the part of it a drawing fills
CELL, FILL = 1.0, 0.86
#: how far through its steps each frame of a sketch being drawn is
FRACTIONS = (0.2, 0.4, 0.6, 0.8, 1.0)


def box(drawing: list) -> tuple[np.ndarray, float]:
    """The centre of a drawing's bounding box and its larger side (1 for an empty drawing)."""
    pts = [s for s in drawing if len(s)]
    if not pts:
        return np.zeros(2), 1.0
    allp = np.concatenate(pts)
    lo, hi = allp.min(0), allp.max(0)
    return (lo + hi) / 2, float(max((hi - lo).max(), 1e-6))


def layout(drawings: list, ncol: int, boxes: list | None = None, row0: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every drawing in its grid cell (row-major, y up, row ``row0`` first) as one polyline
    ``(x, y)`` whose strokes are separated by a NaN point: where the pen is up there is no line.

    Example:
        >>> x, y = layout([[np.array([[0., 0.], [1., 0.]]), np.array([[0., 1.], [1., 1.]])]], 1)
        >>> int(np.isnan(x).sum())  # one gap between the two strokes (and one after the last)
        2
    """
    xs, ys = [], []
    for k, d in enumerate(drawings):
        r, c = divmod(k, ncol)
        centre, side = box(d) if boxes is None else boxes[k]
        origin = np.array([(c + 0.5) * CELL, -(row0 + r + 0.5) * CELL])
        for s in d:
            if len(s) < 2:
                continue
            p = (np.asarray(s, dtype=np.float64) - centre) / side * FILL * CELL + origin
            xs += [p[:, 0], [np.nan]]
            ys += [p[:, 1], [np.nan]]
    if not xs:
        return np.empty(0), np.empty(0)
    return np.concatenate(xs), np.concatenate(ys)


def frames(ncol: int, nrow: int, row0: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The outlines of ``nrow × ncol`` cells, as one NaN-separated polyline."""
    xs, ys = [], []
    m = 0.03 * CELL
    for r in range(row0, row0 + nrow):
        for c in range(ncol):
            x0, x1, y0, y1 = c * CELL + m, (c + 1) * CELL - m, -r * CELL - m, -(r + 1) * CELL + m
            xs += [[x0, x1, x1, x0, x0, np.nan]]
            ys += [[y0, y0, y1, y1, y0, np.nan]]
    return (np.concatenate(xs), np.concatenate(ys)) if xs else (np.empty(0), np.empty(0))


def length_of(pen: torch.Tensor) -> int:
    """Steps of one stroke-5 pen ``(T, 3)`` (or classes ``(T,)``) up to its first "finished"."""
    states = pen.argmax(-1) if pen.dim() == 2 else pen.long()
    end = torch.nonzero(states == 2)
    return int(end[0, 0]) if len(end) else len(states)


def being_drawn(offset: torch.Tensor, pen: torch.Tensor, fractions=FRACTIONS) -> tuple[list, list, int]:
    """One sketch (``offset (T, 2)``, ``pen (T, 3)``) after each fraction of its steps:
    ``(drawings, boxes, steps)``, every frame boxed as the whole drawing is."""
    n = max(1, length_of(pen))
    whole = sketches(offset[None, :n], pen[None, :n])[0]
    out = []
    for f in fractions:
        k = max(1, round(f * n))
        out.append(sketches(offset[None, :k], pen[None, :k])[0])
    return out, [box(whole)] * len(out), n


def titled(title: str, view: QWidget) -> tuple[QWidget, QLabel]:
    """``view`` under a one-line title (a Qt label: a long title is cut, never widens the
    view beyond the panel as a pyqtgraph label would)."""
    widget = QWidget()
    widget.setStyleSheet("background: white;")
    box = QVBoxLayout(widget)
    box.setContentsMargins(2, 2, 2, 2)
    box.setSpacing(0)
    label = QLabel(title)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setStyleSheet("color: #374151; font-size: 9pt;")
    label.setMinimumWidth(10)
    box.addWidget(label)
    box.addWidget(view, 1)
    return widget, label


class DrawingsPanel(QWidget):
    """Samples as drawings, the first one being drawn, and data beside reconstructions."""

    def __init__(self, parent=None):
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        self.parts = {}
        for key, title, stretch in (("samples", "samples", 4), ("drawn", "the first sample being drawn", 1),
                                    ("recon", "data (top) and their reconstructions (below)", 2)):
            view = pg.GraphicsLayoutWidget()
            view.setBackground("w")
            view.ci.setContentsMargins(2, 2, 2, 2)
            vb = view.addViewBox(lockAspect=True, enableMouse=False)
            vb.setMenuEnabled(False)
            frame = pg.PlotDataItem(pen=pg.mkPen("#e5e7eb", width=1), connect="finite")
            lines = pg.PlotDataItem(pen=pg.mkPen("#111827", width=1.4), connect="finite")
            vb.addItem(frame)
            vb.addItem(lines)
            widget, label = titled(title, view)
            box.addWidget(widget, stretch)
            self.parts[key] = (label, vb, frame, lines)
        self.shown: dict[str, list] = {}

    def _set(self, key: str, drawings: list, ncol: int, boxes=None, title: str | None = None, rows=None) -> None:
        label, vb, frame, lines = self.parts[key]
        nrow = rows or max(1, -(-len(drawings) // ncol))
        lines.setData(*layout(drawings, ncol, boxes), connect="finite")
        frame.setData(*frames(ncol, nrow), connect="finite")
        vb.setRange(xRange=(0, ncol * CELL), yRange=(-nrow * CELL, 0), padding=0.02)
        if title is not None and label.text() != title:
            label.setText(title)
        self.shown[key] = drawings

    def set_samples(self, offset: torch.Tensor, pen: torch.Tensor, name: str = "") -> None:
        """Draw ``(n, T, 2)`` offsets and ``(n, T, 3)`` pens (the first 16) and the first being drawn."""
        drawings = sketches(offset[:16], pen[:16])
        self._set("samples", drawings, 4, title=f"samples of {name}" if name else None)
        drawn, boxes, steps = being_drawn(offset[0], pen[0])
        pct = ", ".join(f"{round(100 * f)}%" for f in FRACTIONS)
        self._set("drawn", drawn, len(drawn), boxes, f"the first sample being drawn: {pct} of its {steps} steps")

    def set_reconstructions(self, values: dict) -> None:
        """``values`` of :class:`editor.previews.StrokeReconstructions`: data over reconstructions."""
        length = values.get("length")
        data = sketches(values["offset"], values["pen"], length)
        recon = sketches(values["recon offset"], values["recon pen"])
        ncol = len(data)
        self._set("recon", data + recon, ncol, rows=2)


def drawings_pixmap(drawings: list, ncol: int, cell: int = 120, boxes=None) -> QPixmap:
    """Drawings in a grid of ``cell``-pixel squares on white: a ``QPainterPath`` per stroke, so a
    lifted pen leaves a gap (y up, as the data)."""
    nrow = max(1, -(-len(drawings) // ncol))
    pix = QPixmap(ncol * cell, nrow * cell)
    pix.fill(QColor("white"))
    painter = QPainter(pix)
    paint(painter, drawings, ncol, cell, 0, boxes)
    painter.end()
    return pix


def sketch_pixmap(offset: torch.Tensor, pen: torch.Tensor, cell: int = 180) -> QPixmap:
    """One sketch (``offset (T, 2)``, ``pen (T, 3)``) large, and under it the same sketch being
    drawn (:data:`FRACTIONS` of its steps), for the latent explorer."""
    whole = sketches(offset[None], pen[None])[0]
    drawn, boxes, _ = being_drawn(offset, pen)
    small = cell * 2 // len(drawn)
    width = max(cell, small * len(drawn))
    pix = QPixmap(width, cell + small)
    pix.fill(QColor("white"))
    painter = QPainter(pix)
    paint(painter, [whole], 1, cell, 0, x0=(width - cell) // 2)
    paint(painter, drawn, len(drawn), small, cell, boxes)
    painter.end()
    return pix


def paint(painter: QPainter, drawings: list, ncol: int, cell: int, y0: int, boxes=None, x0: int = 0) -> None:
    """Paint ``drawings`` in a grid of ``cell``-pixel squares from ``(x0, y0)``, a pale frame each."""
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(QColor("#e5e7eb"), 1))
    for k in range(len(drawings)):
        r, c = divmod(k, ncol)
        painter.drawRect(x0 + c * cell + 1, y0 + r * cell + 1, cell - 3, cell - 3)
    pen = QPen(QColor("#111827"), max(1.2, cell / 70))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    painter.setPen(pen)
    for k, d in enumerate(drawings):
        r, c = divmod(k, ncol)
        centre, side = box(d) if boxes is None else boxes[k]
        cx, cy = x0 + c * cell + cell / 2, y0 + r * cell + cell / 2
        for s in d:
            if len(s) < 2:
                continue
            p = (np.asarray(s, dtype=np.float64) - centre) / side * FILL * cell
            path = QPainterPath(QPointF(cx + p[0, 0], cy - p[0, 1]))
            for a, b in p[1:]:
                path.lineTo(QPointF(cx + a, cy - b))
            painter.drawPath(path)
