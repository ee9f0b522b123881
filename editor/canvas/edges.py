"""Edges on the canvas: one parent of one factor, styled by its model's kind."""

from __future__ import annotations

import math

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QBrush, QPainter, QPainterPath, QPainterPathStroker, QPen, QPolygonF
from PyQt6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from .. import style
from .items import R, VariableItem


class EdgeItem(QGraphicsPathItem):
    """``parent → target`` of one factor: solid (generative), dashed blue (inference).

    With ``autoregressive`` it is the self-edge of an autoregressive factor (its target
    reads its own earlier dimensions): a loop on the right, labelled ``<i``, that is no
    parent and so cannot be selected or deleted on its own (the factor's page sets it).
    """

    def __init__(self, factor: int, parent_pos: int, kind: str, label: str | None, lag: bool,
                 autoregressive: bool = False):
        super().__init__()
        self.factor, self.parent_pos, self.kind, self.label, self.lag = factor, parent_pos, kind, label, lag
        self.autoregressive = autoregressive
        self.offset = 0.0
        self.ends = (None, None)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, not autoregressive)
        self.setZValue(5)
        colour = style.MODEL_COLOURS.get(kind, style.MUTED)
        pen = QPen(colour, 1.6)
        pen.setStyle({"generative": Qt.PenStyle.SolidLine, "inference": Qt.PenStyle.DashLine}.get(
            kind, Qt.PenStyle.DotLine))
        self.setPen(pen)
        self.colour = colour
        self.arrow = QPolygonF()
        self.label_pos = QPointF()

    @property
    def key(self):
        if self.autoregressive:
            return ("autoregressive", self.factor)
        return ("edge", self.factor, self.parent_pos)

    def set_ends(self, src: VariableItem, dst: VariableItem, offset: float) -> None:
        self.ends, self.offset = (src, dst), offset
        self.refresh()

    def refresh(self) -> None:
        src, dst = self.ends
        if src is None:
            return
        a, b = src.pos(), dst.pos()
        path = QPainterPath()
        if src is dst:  # the previous step of the same variable: a loop on its left
            side = 1.0 if self.autoregressive else -1.0  # (an autoregressive self-edge: on its right)
            start = a + QPointF(side * R * 0.7, -R * 0.7)
            end = a + QPointF(side * R * 0.7, R * 0.7)
            c1, c2 = a + QPointF(side * R * 2.6, -R * 1.6), a + QPointF(side * R * 2.6, R * 1.6)
            path.moveTo(start)
            path.cubicTo(c1, c2, end)
            loop = path.boundingRect()  # centred above the loop, clear of its line and of the node
            self.label_pos = QPointF(loop.center().x(), loop.top() - 9)
            self._set_arrow(end, math.atan2(end.y() - c2.y(), end.x() - c2.x()))
        else:
            ang = math.atan2(b.y() - a.y(), b.x() - a.x())
            normal = QPointF(-math.sin(ang), math.cos(ang))
            bend = self.offset
            if self.lag:  # a previous-step edge arcs out to the left (the labels sit on the right)
                bend = 46.0 + abs(self.offset)
                if normal.x() > 0 or (abs(normal.x()) < 1e-6 and normal.y() > 0):
                    bend = -bend
            mid = (a + b) / 2 + normal * bend
            a_ang = math.atan2(mid.y() - a.y(), mid.x() - a.x())
            b_ang = math.atan2(mid.y() - b.y(), mid.x() - b.x())
            start = a + QPointF(math.cos(a_ang), math.sin(a_ang)) * (src.boundary_distance(a_ang) + 1)
            end = b + QPointF(math.cos(b_ang), math.sin(b_ang)) * (dst.boundary_distance(b_ang) + 2)
            path.moveTo(start)
            if bend:
                path.quadTo(mid, end)
            else:
                path.lineTo(end)
            apex = path.pointAtPercent(0.5)
            side = normal * (1 if bend >= 0 else -1)
            self.label_pos = apex + side * 11
            self._set_arrow(end, math.atan2(end.y() - mid.y(), end.x() - mid.x()) if bend else ang)
        self.setPath(path)

    def _set_arrow(self, tip: QPointF, ang: float) -> None:
        size = 9.0
        left = tip - QPointF(math.cos(ang - 0.38), math.sin(ang - 0.38)) * size
        right = tip - QPointF(math.cos(ang + 0.38), math.sin(ang + 0.38)) * size
        self.arrow = QPolygonF([tip, left, right])

    def boundingRect(self) -> QRectF:
        return super().boundingRect().united(self.arrow.boundingRect()).adjusted(-14, -14, 14, 14)

    def shape(self) -> QPainterPath:
        stroke = QPainterPathStroker()
        stroke.setWidth(10)
        return stroke.createStroke(self.path())

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(self.pen())
        if self.isSelected():
            pen.setColor(style.SELECTED)
            pen.setWidthF(2.6)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path())
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(pen.color()))
        painter.drawPolygon(self.arrow)
        if self.label:
            painter.setFont(style.ui_font(8.5, bold=True))
            painter.setPen(pen.color())
            painter.drawText(self.label_rect(), Qt.AlignmentFlag.AlignCenter, self.label)

    def label_rect(self) -> QRectF:
        """Where the label (``t−1``) is drawn: centred on ``label_pos``."""
        return QRectF(self.label_pos.x() - 20, self.label_pos.y() - 8, 40, 16)
