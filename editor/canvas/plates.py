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
        painter.setPen(style.PLATE_TEXT)
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


class DataPlateItem(QGraphicsItem):
    """The data plate: a box labelled ``N`` round the whole graph.

    Every variable of a graph is one example's (the trainer draws a batch of examples, and
    plates are nested inside the example), so the box goes round all of them. It is drawn
    for the reader and takes no clicks: it is not a plate of the file.
    """

    MARGIN = 16.0

    def __init__(self):
        super().__init__()
        self.rect = QRectF()
        self.setZValue(-20)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setToolTip("the data plate: each of the N examples has its own copy of every variable")

    def set_rect(self, rect: QRectF) -> None:
        if rect != self.rect:
            self.prepareGeometryChange()
            self.rect = QRectF(rect)
            self.update()

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(style.DATA_PLATE_EDGE, 1.2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(self.rect, 14, 14)
        painter.setFont(style.math_font(12))
        painter.setPen(style.DATA_PLATE_TEXT)
        painter.drawText(self.rect.adjusted(10, 4, -12, -4),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom, "N")
