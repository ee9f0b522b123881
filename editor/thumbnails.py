"""Small pictures of a few examples of a data field, for the Data panel's table.

:func:`sketch` decides what to draw from the variable and the values alone (no Qt): images
as small pictures, 2-D points as a scatter, vectors and sequences as sparklines, classes as
a histogram, pen strokes as drawings. :func:`thumbnail` paints it with QPainter — a few
hundred points at most, so that the table redraws at once.
"""

from __future__ import annotations

import numpy as np
import torch
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QImage, QPainter, QPen, QPixmap

#: examples drawn per row
EXAMPLES = 3
#: points in a scatter
POINTS = 300
#: the thumbnail's size in pixels
WIDTH, HEIGHT = 116, 38
LINE_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def sketch(graph, name: str, x, rows: dict | None = None) -> tuple[str, object] | None:
    """``(kind, data)`` to draw for variable ``name`` bound to values ``x`` ``(N, …)``:
    ``("images", (k, h, w[, 3]) in [0, 1])``, ``("points", (n, 2))``, ``("lines", [(T, d), …])``,
    ``("bars", counts)`` or ``("strokes", [drawing, …])``; ``None`` when nothing fits.
    ``rows`` (variable → values) lets the offsets of a stroke model find their pen."""
    from inference.data import some
    from inference.plots import image_shape

    if not isinstance(x, torch.Tensor) or x.numel() == 0 or x.dim() == 0:
        return None
    v = graph.variables.get(name)
    if v is None:  # a sequence plate's lengths: how many sequences have each length
        return ("bars", torch.bincount(x.reshape(-1).long().clamp(min=0)).numpy()) \
            if not torch.is_floating_point(x) else None
    strokes = _strokes(graph, name, x, rows or {})
    if strokes is not None:
        return "strokes", strokes
    # drawn by the field's own shape (a field of the wrong shape shows what it holds)
    plated = _plates(graph, v) if x.dim() > 1 + _plates(graph, v) else 0
    event = tuple(x.shape[1 + plated:])
    first = x[0] if plated else some(x, EXAMPLES)  # a plate's values: the steps or views of one example
    img = image_shape(event)
    if img is not None and torch.is_floating_point(x):
        return "images", _images(first.reshape(-1, *img)[:EXAMPLES * 2])
    if not torch.is_floating_point(x) or v.support in ("categorical", "one_hot"):
        labels = x.argmax(-1) if v.support == "one_hot" and x.dim() > 1 else x
        labels = labels.reshape(-1).long()
        labels = labels[labels >= 0]  # (a negative label is a missing one)
        return ("bars", torch.bincount(labels, minlength=v.classes or 0).numpy()) if labels.numel() else None
    if event == (2,) and not plated:
        return "points", some(x, POINTS).float().numpy()
    if event == () and not plated:
        counts, _ = np.histogram(x.float().numpy(), bins=16)
        return "bars", counts
    series = first.float().reshape(len(first), -1).numpy()
    if plated and graph.plates[v.plate].kind == "sequence":  # one example's steps: a curve per dimension
        return "lines", [series]
    return "lines", [s[:, None] for s in series]  # each example (or view) a curve over its dimensions


def _plates(graph, v) -> int:
    """How many plate dimensions a variable's data has after the examples' (0, 1 or 2)."""
    plate = graph.plates.get(v.plate) if v.plate else None
    return 0 if plate is None else 1 + (plate.inside is not None)


def _images(x: torch.Tensor) -> np.ndarray:
    x = x.float()
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:  # not grey levels: stretch what is there
        x = (x - lo) / max(hi - lo, 1e-6)
    x = x.permute(0, 2, 3, 1) if x.shape[1] == 3 else x[:, 0]
    return x.clamp(0, 1).numpy()


def _strokes(graph, name, x, rows: dict):
    from inference.drawings import sketches, stroke_pair

    pair = stroke_pair(graph)
    if pair is None or pair[0] != name or rows.get(pair[1]) is None:
        return None
    pen = rows[pair[1]]
    try:
        from inference.data import spread

        some = spread({"offset": x, "pen": pen}, EXAMPLES)  # the same rows of both
        return sketches(some["offset"], some["pen"])
    except (ValueError, IndexError, RuntimeError):  # a pen field of another shape: the row says so
        return None


def thumbnail(kind: str, data) -> QPixmap:
    """The picture of :func:`sketch`'s ``(kind, data)``, ``WIDTH × HEIGHT``."""
    pm = QPixmap(WIDTH, HEIGHT)
    pm.fill(QColor("white"))
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    try:
        {"images": _paint_images, "points": _paint_points, "lines": _paint_lines, "bars": _paint_bars,
         "strokes": _paint_strokes}[kind](p, data)
    finally:
        p.end()
    return pm


def _cells(n: int) -> list[QRectF]:
    """``n`` square cells side by side, as large as the thumbnail's height allows."""
    side = min(HEIGHT - 4.0, (WIDTH - 2.0) / max(1, n) - 2)
    return [QRectF(2 + k * (side + 2), 2, side, side) for k in range(n)]


def _paint_images(p: QPainter, x: np.ndarray) -> None:
    n = min(len(x), max(1, int((WIDTH - 2) // (HEIGHT - 2))))
    for img, cell in zip(x[:n], _cells(n)):
        a = np.ascontiguousarray((img * 255).astype(np.uint8))
        fmt = QImage.Format.Format_RGB888 if a.ndim == 3 else QImage.Format.Format_Grayscale8
        q = QImage(a.data, a.shape[1], a.shape[0], a.strides[0], fmt)
        p.drawImage(cell, q.copy())
        p.setPen(QPen(QColor("#9ca3af"), 0.5))
        p.drawRect(cell)


def _fit(pts: np.ndarray, rect: QRectF) -> np.ndarray:
    lo, hi = pts.min(0), pts.max(0)
    span = np.maximum(hi - lo, 1e-9)
    u = (pts - lo) / span
    return np.stack([rect.left() + u[:, 0] * rect.width(), rect.bottom() - u[:, 1] * rect.height()], 1)


def _paint_points(p: QPainter, x: np.ndarray) -> None:
    x = x[np.isfinite(x).all(1)]
    if not len(x):
        return
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(31, 119, 180, 140))
    for a, b in _fit(x, QRectF(4, 3, WIDTH - 8, HEIGHT - 6)):
        p.drawEllipse(QPointF(a, b), 1.3, 1.3)


def _paint_lines(p: QPainter, series: list) -> None:
    rect = QRectF(3, 3, WIDTH - 6, HEIGHT - 6)
    allv = np.concatenate([s.reshape(-1) for s in series])
    allv = allv[np.isfinite(allv)]
    if not len(allv):
        return
    lo, hi = float(allv.min()), float(allv.max())
    for k, s in enumerate(series[:EXAMPLES]):
        for d in range(min(s.shape[1], len(LINE_COLOURS))):
            y = s[:, d]
            t = np.linspace(rect.left(), rect.right(), len(y)) if len(y) > 1 else np.array([rect.center().x()])
            yy = rect.bottom() - (y - lo) / max(hi - lo, 1e-9) * rect.height()
            p.setPen(QPen(QColor(LINE_COLOURS[(k + d) % len(LINE_COLOURS)]), 1.0))
            p.drawPolyline([QPointF(float(a), float(b)) for a, b in zip(t, yy) if np.isfinite(b)])


def _paint_bars(p: QPainter, counts: np.ndarray) -> None:
    if not len(counts) or counts.max() <= 0:
        return
    w = (WIDTH - 6) / len(counts)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#6b8fbf"))
    for k, c in enumerate(counts):
        h = (HEIGHT - 6) * c / counts.max()
        p.drawRect(QRectF(3 + k * w, HEIGHT - 3 - h, max(1.0, w - 1), h))


def _paint_strokes(p: QPainter, drawings: list) -> None:
    n = len(drawings)
    p.setPen(QPen(QColor("#111827"), 1.0))
    for drawing, cell in zip(drawings, _cells(n)):
        pts = [s for s in drawing if len(s)]
        if not pts:
            continue
        allp = np.concatenate(pts)
        lo, hi = allp.min(0), allp.max(0)
        scale = (cell.width() - 4) / max(float((hi - lo).max()), 1e-6)
        for s in pts:
            xy = [(cell.left() + 2 + (a - lo[0]) * scale, cell.bottom() - 2 - (b - lo[1]) * scale) for a, b in s]
            p.drawPolyline([QPointF(float(a), float(b)) for a, b in xy])
