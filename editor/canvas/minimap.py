"""The minimap: an overview of the whole graph in the canvas's corner, for graphs larger
than the view.

It is a second, non-interactive view of the same scene, scaled to fit, with the part the
canvas shows framed. It appears only while the graph does not fit the canvas (zoomed in, or
a graph too large to read whole) and can be switched off in View ▸ Minimap. A click or a
drag in it moves the canvas there.
"""

from __future__ import annotations

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QAction, QBrush, QColor, QPainter, QPen
from PyQt6.QtWidgets import QFrame, QGraphicsView

from .. import style

SIZE = (220, 150)
MARGIN = 10


def items_rect(scene) -> QRectF:
    """The scene rectangle of every visible top-level item (empty for an empty graph)."""
    rect = QRectF()
    for item in scene.items():
        if item.parentItem() is None and item.isVisible():
            rect = rect.united(item.sceneBoundingRect())
    return rect


def content_rect(scene) -> QRectF:
    """:func:`items_rect` less the data plate's frame: the variables, labels, plates and edges,
    what fitting never cuts off (the frame only says that all of it is one example's)."""
    frame = getattr(scene, "data_plate", None)
    rect = QRectF()
    for item in scene.items():
        if item.parentItem() is None and item.isVisible() and item is not frame:  # (with its factor labels)
            rect = rect.united(item.mapRectToScene(item.boundingRect().united(item.childrenBoundingRect())))
    return rect


class Minimap(QGraphicsView):
    """The overview of ``view``'s scene, drawn over ``view``'s bottom-right corner.

    Attributes:
        enabled: the View menu's switch; when off the minimap never shows.
    """

    def __init__(self, view):
        super().__init__(view.scene(), view)
        self.main = view
        self.enabled = True
        self.setInteractive(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setRenderHints(QPainter.RenderHint.Antialiasing)
        self.setFrameShape(QFrame.Shape.Box)
        self.setFixedSize(*SIZE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("the whole graph; click or drag to move the canvas there (View ▸ Minimap hides it)")
        self.hide()
        view.horizontalScrollBar().valueChanged.connect(self.refresh)
        view.verticalScrollBar().valueChanged.connect(self.refresh)
        view.scene().changed.connect(lambda _rects: self.refresh())

    def visible_rect(self) -> QRectF:
        """The part of the scene the canvas shows."""
        return self.main.mapToScene(self.main.viewport().rect()).boundingRect()

    def needed(self) -> bool:
        """Whether some of the graph (not counting the data plate's frame) lies outside the
        canvas's view."""
        rect = content_rect(self.scene())
        return not rect.isEmpty() and not self.visible_rect().contains(rect.adjusted(6, 6, -6, -6))

    def refresh(self) -> None:
        """Show or hide for the graph and the view as they are now; keep the corner and the frame."""
        show = self.enabled and self.needed()
        if show:
            port = self.main.viewport().geometry()
            self.move(port.right() - SIZE[0] - MARGIN, port.bottom() - SIZE[1] - MARGIN)
            self.fitInView(items_rect(self.scene()).adjusted(-20, -20, 20, 20), Qt.AspectRatioMode.KeepAspectRatio)
            self.viewport().update()
        if show != self.isVisible():
            self.setVisible(show)

    def set_enabled(self, on: bool) -> None:
        self.enabled = bool(on)
        self.refresh()

    def toggle_action(self, parent) -> QAction:
        """A checkable View-menu action that switches the minimap on and off."""
        action = QAction("&Minimap", parent)
        action.setCheckable(True)
        action.setChecked(self.enabled)
        action.setStatusTip("an overview of the graph in the canvas's corner, when it does not fit the view")
        action.toggled.connect(self.set_enabled)
        return action

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, style.CANVAS)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:
        seen = self.visible_rect()
        shade = QColor(style.INK)
        shade.setAlpha(28)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(shade))
        outside = QRectF(rect)
        for part in (QRectF(outside.left(), outside.top(), outside.width(), seen.top() - outside.top()),
                     QRectF(outside.left(), seen.bottom(), outside.width(), outside.bottom() - seen.bottom()),
                     QRectF(outside.left(), seen.top(), seen.left() - outside.left(), seen.height()),
                     QRectF(seen.right(), seen.top(), outside.right() - seen.right(), seen.height())):
            if part.width() > 0 and part.height() > 0:
                painter.drawRect(part)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(style.SELECTED, 2.0 / max(self.transform().m11(), 1e-3)))
        painter.drawRect(seen)

    def _go(self, event) -> None:
        self.main.auto_fit = False
        self.main.centerOn(self.mapToScene(event.position().toPoint()))
        event.accept()

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.LeftButton:
            self._go(event)

    def mouseMoveEvent(self, event):
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._go(event)

    def wheelEvent(self, event):
        event.accept()  # (the overview keeps its scale)
