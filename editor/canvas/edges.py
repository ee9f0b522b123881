"""Edges on the canvas: one parent of one factor, styled by its model's kind."""

from __future__ import annotations

import math

from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QBrush, QPainter, QPainterPath, QPainterPathStroker, QPen, QPolygonF
from PyQt6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from .. import style
from . import labels, routing
from .items import R, VariableItem


class EdgeItem(QGraphicsPathItem):
    """``parent → target`` of one factor: solid (generative), dashed blue (inference).

    With ``autoregressive`` it is the self-edge of an autoregressive factor (its target
    reads its own earlier dimensions): a loop labelled ``<i``, that is no parent and so
    cannot be selected or deleted on its own (the factor's page sets it). Where it runs:
    :mod:`.routing`.
    """

    def __init__(self, factor: int, parent_pos: int, kind: str, label: str | None, lag: bool,
                 autoregressive: bool = False):
        super().__init__()
        self.factor, self.parent_pos, self.kind, self.label, self.lag = factor, parent_pos, kind, label, lag
        self.autoregressive = autoregressive
        self.offset = 0.0
        self.bend = 0.0  # the bend drawn, after routing
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
        """Attach to ``src`` and ``dst``. ``offset`` is the bend that :func:`routing.fan_out`
        prefers (canonical frame), or for a self-loop its slot."""
        self.ends, self.offset = (src, dst), offset
        self.refresh()

    def refresh(self) -> None:
        src, dst = self.ends
        if src is None:
            return
        self.prepareGeometryChange()  # (the label moves before the path does)
        if src is dst:
            self._refresh_loop(src.pos())
            return
        a, b = src.pos(), dst.pos()
        bend = routing.oriented(self.offset, a, b)
        if self.lag:  # a previous-step edge arcs out to the left (the labels sit on the right)
            ang = math.atan2(b.y() - a.y(), b.x() - a.x())
            bend = 46.0 + abs(self.offset)
            if -math.sin(ang) > 1e-6 or (abs(math.sin(ang)) < 1e-6 and math.cos(ang) > 0):
                bend = -bend

        def make(k: float) -> QPainterPath:
            return routing.quad_path(a, b, k, src.boundary_distance, dst.boundary_distance)[0]

        scene = self.scene()
        if scene is not None and hasattr(scene, "obstacles"):
            bend = routing.route(make, bend, scene.obstacles(src, dst) + scene.twin_marks(self),
                                 keep_side=bool(self.offset) or self.lag,
                                 key=(a.x(), a.y(), b.x(), b.y(), src.kind, dst.kind))
        self.bend = bend
        path, mid = routing.quad_path(a, b, bend, src.boundary_distance, dst.boundary_distance)
        apex = path.pointAtPercent(0.5)
        ang = math.atan2(b.y() - a.y(), b.x() - a.x())
        normal = QPointF(-math.sin(ang), math.cos(ang))
        self.label_pos = apex + normal * (11 if bend >= 0 else -11)
        end = path.currentPosition()
        self._set_arrow(end, math.atan2(end.y() - mid.y(), end.x() - mid.x()) if bend else ang)
        self.setPath(path)

    def _refresh_loop(self, centre: QPointF) -> None:
        """A loop on the variable itself (its previous step, or an autoregressive ``<i``), at
        its own slot so that several loops on one variable stay apart."""
        path, self.label_pos, ang = routing.loop_geometry(centre, R, int(self.offset))
        self.bend = 0.0
        self._set_arrow(path.currentPosition(), ang)
        self.setPath(path)

    def _set_arrow(self, tip: QPointF, ang: float) -> None:
        size = 9.0
        left = tip - QPointF(math.cos(ang - 0.38), math.sin(ang - 0.38)) * size
        right = tip - QPointF(math.cos(ang + 0.38), math.sin(ang + 0.38)) * size
        self.arrow = QPolygonF([tip, left, right])

    def boundingRect(self) -> QRectF:
        rect = super().boundingRect().united(self.arrow.boundingRect()).adjusted(-14, -14, 14, 14)
        return rect.united(self.label_rect()) if self.label else rect

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
            painter.setFont(labels.label_font())
            painter.setPen(pen.color())
            painter.drawText(self.label_rect(), Qt.AlignmentFlag.AlignCenter, self.label)

    def label_rect(self) -> QRectF:
        """Where the label (``t−1``) is drawn: centred on ``label_pos``, as wide as its text."""
        return labels.box(self.label_pos, labels.label_size(self.label or ""))

    def place_label(self, centre: QPointF) -> None:
        """Draw the label centred on ``centre`` (:func:`.labels.place` chose it)."""
        if centre is not None and centre != self.label_pos:
            self.prepareGeometryChange()
            self.label_pos = QPointF(centre)
            self.update()
