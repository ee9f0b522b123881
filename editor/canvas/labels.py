"""Where the canvas puts edge labels (``t−1``, ``t1``, ``Σ``, ``last``): each beside its own
edge and clear of the others.

A label first tries the middle of its curve, then points further along it, on the side its
edge bows to and then the other, a little off the line; the first spot whose box overlaps no
label placed before, no variable's symbol, caption or factor label and no other edge wins,
else the least crowded one. A self-loop's label stays where its loop puts it (it comes first,
so the others keep clear of it). VRNN's three ``t−1`` arcs into ``h`` and TD-VAE's ``t1``/``t2``
pairs each keep their label readable this way.

Geometry over Qt's value types only; :meth:`editor.canvas.scene.GraphScene.place_labels`
calls :func:`place` after the edges are routed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PyQt6.QtCore import QPointF, QRectF
from PyQt6.QtGui import QFontMetricsF, QPainterPath, QPainterPathStroker

from .. import style

#: where along its curve a label may sit (fractions of the curve), the middle first
ALONG = (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.18, 0.82)
#: the label's box: its height, and the room around its text
HEIGHT, PAD = 15.0, 6.0
#: what an overlap costs: another label's box, a variable's symbol or labels, another edge
_COST = (100, 10, 1)


def label_font():
    return style.ui_font(8.5, bold=True)


def label_size(text: str) -> tuple[float, float]:
    """The width and height of the box a label ``text`` takes."""
    return QFontMetricsF(label_font()).horizontalAdvance(text) + PAD, HEIGHT


def box(centre: QPointF, size: tuple[float, float]) -> QRectF:
    return QRectF(centre.x() - size[0] / 2, centre.y() - size[1] / 2, size[0], size[1])


def spots(path: QPainterPath, size: tuple[float, float], side: float) -> list[QPointF]:
    """Candidate centres beside ``path``: along it (:data:`ALONG`), on ``side`` (+1: the
    left of its direction) first, each just far enough off the line for the box to clear it."""
    out = []
    for f in ALONG:
        at = path.pointAtPercent(f)
        ang = math.radians(-path.angleAtPercent(f))  # (Qt's angle is counter-clockwise, y up)
        normal = QPointF(math.sin(ang), -math.cos(ang))  # the left of the direction, y down
        reach = abs(normal.x()) * size[0] / 2 + abs(normal.y()) * size[1] / 2 + 3
        for s in (side, -side):
            out.append(at + normal * (s * reach))
    return out


def _strokes(paths: Sequence[QPainterPath]) -> list[QPainterPath]:
    stroker = QPainterPathStroker()
    stroker.setWidth(2.0)
    return [stroker.createStroke(p) for p in paths]


def cost(rect: QRectF, taken: Sequence[QRectF], solid: Sequence[QRectF], others: Sequence[QPainterPath]) -> int:
    """How crowded ``rect`` is: weighted overlaps with labels, symbols and other edges."""
    n = _COST[0] * sum(1 for r in taken if r.intersects(rect))
    n += _COST[1] * sum(1 for r in solid if r.intersects(rect))
    return n + _COST[2] * sum(1 for s in others if s.boundingRect().intersects(rect) and s.intersects(rect))


def place(edges, solid: Sequence[QRectF]) -> None:
    """Give each labelled edge of ``edges`` (:class:`~editor.canvas.edges.EdgeItem`) its
    label's centre; ``solid`` are the variables' symbols, captions and factor labels."""
    labelled = [e for e in edges if e.label]
    strokes = dict(zip(map(id, labelled), _strokes([e.path() for e in labelled])))
    taken = [e.label_rect() for e in labelled if e.ends[0] is e.ends[1]]  # (loops keep their spot)
    for e in labelled:
        if e.ends[0] is e.ends[1]:
            continue
        size = label_size(e.label)
        others = [s for k, s in strokes.items() if k != id(e)]
        best, best_cost = None, None
        for c in spots(e.path(), size, -1.0 if e.bend >= 0 else 1.0):  # (outside the bow first)
            n = cost(box(c, size), taken, solid, others)
            if best_cost is None or n < best_cost:
                best, best_cost = c, n
            if n == 0:
                break
        e.place_label(best)
        taken.append(e.label_rect())
