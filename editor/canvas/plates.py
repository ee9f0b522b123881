"""Plates on the canvas: rounded boxes around their variables, with a size label."""

from __future__ import annotations

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QBrush, QPainter, QPen
from PyQt6.QtWidgets import QGraphicsItem

from .. import style
from ..captions import plate_caption


class PlateItem(QGraphicsItem):
    """A plate: a rounded box around its variables, labelled ``time  T=6`` at the bottom right."""

    MARGIN = 20.0

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.caption = ""
        self.rect = QRectF(0, 0, 200, 140)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(-10)
        self._drag = None

    @property
    def key(self):
        return ("plate", self.name)

    def set_state(self, plate, rect: QRectF) -> None:
        caption = plate_caption(plate)
        if caption != self.caption or rect != self.rect:
            self.prepareGeometryChange()
            self.caption, self.rect = caption, QRectF(rect)
            self.setToolTip(f"{plate.kind} plate '{plate.name}' of size {plate.size}")
            self.update()

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-4, -4, 4, 4)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(style.SELECTED if self.isSelected() else style.PLATE_EDGE, 1.8 if self.isSelected() else 1.3))
        painter.setBrush(QBrush(style.PLATE_FILL))
        painter.drawRoundedRect(self.rect, 12, 12)
        painter.setFont(style.ui_font(9, bold=True))
        painter.setPen(style.PLATE_EDGE.darker(130))
        painter.drawText(self.rect.adjusted(10, 6, -12, -6),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom, self.caption)

    # dragging a plate moves its variables with it
    def mousePressEvent(self, event):
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            self._drag = event.scenePos()

    def mouseMoveEvent(self, event):
        if self._drag is not None and self.scene() is not None:
            delta = event.scenePos() - self._drag
            self._drag = event.scenePos()
            self.scene().move_plate(self, delta)

    def mouseReleaseEvent(self, event):
        self._drag = None
        super().mouseReleaseEvent(event)
