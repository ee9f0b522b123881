"""The canvas view: zoom (wheel, Ctrl +/-), pan (middle button or Space + drag), fit to view."""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QFontMetricsF, QPainter, QPixmap, QTransform
from PyQt6.QtWidgets import QGraphicsView

from .. import style
from .minimap import Minimap, content_rect, items_rect

MIN_ZOOM, MAX_ZOOM = 0.2, 4.0
#: viewport pixels kept free around a fitted graph
FIT_MARGIN = 20
#: the height (pixels) of a factor label's text below which fitting zooms no further out, as
#: long as it only trims the margins and the data plate's frame (:func:`fit_zoom`)
READABLE_PX = 9.0


def readable_zoom() -> float:
    """The zoom at which a factor label's text is :data:`READABLE_PX` pixels high."""
    return READABLE_PX / QFontMetricsF(style.ui_font(8.5)).height()


def fit_zoom(rect: QRectF, core: QRectF, width: float, height: float) -> float:
    """The zoom that shows ``rect`` (every item) in a viewport of ``width`` × ``height``
    pixels with :data:`FIT_MARGIN` around it, at most 1.6×; where that is below the readable
    zoom, as near it as still shows all of ``core`` (the variables, their labels, plates and
    edges: everything but the data plate's frame), so a wide graph stays readable whole."""
    if rect.isEmpty():
        return 1.0
    z = min((width - 2 * FIT_MARGIN) / rect.width(), (height - 2 * FIT_MARGIN) / rect.height(), 1.6)
    if core.isEmpty():
        return z
    return max(z, min(readable_zoom(), width / core.width(), height / core.height()))


class GraphView(QGraphicsView):
    """A view of a :class:`~editor.canvas.scene.GraphScene` with a dotted grid.

    Signals:
        quick_add_requested(scene_pos): Tab or Shift+A over the canvas (search-to-add there).
    """

    quick_add_requested = pyqtSignal(QPointF)

    def __init__(self, scene, parent=None):
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan: QPointF | None = None
        self._space = False
        self.auto_fit = True  # keep the whole graph in view until the user zooms or pans
        self.minimap = Minimap(self)

    # --- zoom -------------------------------------------------------------------------

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        self.auto_fit = False
        z = self.zoom * factor
        if MIN_ZOOM <= z <= MAX_ZOOM:
            self.scale(factor, factor)
        self.minimap.refresh()

    def reset_zoom(self) -> None:
        self.auto_fit = False
        self.resetTransform()

    def fit(self) -> None:
        """Show every item at :func:`fit_zoom` (and keep doing so on resize)."""
        self.auto_fit = True
        rect = items_rect(self.scene())
        if rect.isEmpty():
            self.resetTransform()
            self.centerOn(0, 0)
            return
        core = content_rect(self.scene())
        z = fit_zoom(rect, core, self.viewport().width(), self.viewport().height())
        self.setTransform(QTransform.fromScale(z, z))
        whole = fit_zoom(rect, QRectF(), self.viewport().width(), self.viewport().height())
        self.centerOn(core.center() if z > whole + 1e-6 else rect.center())  # (trimmed: round what counts)
        self.minimap.refresh()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if self.auto_fit:
            self.fit()
        self.minimap.refresh()

    def wheelEvent(self, event):
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            return super().wheelEvent(event)
        self.zoom_by(1.0015 ** event.angleDelta().y())

    # --- pan --------------------------------------------------------------------------

    def event(self, event):
        # Tab reaches keyPressEvent only if focus traversal does not take it first
        if event.type() == QEvent.Type.KeyPress and event.key() == Qt.Key.Key_Tab \
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            self._request_quick_add()
            return True
        return super().event(event)

    def _request_quick_add(self) -> None:
        at = self.viewport().mapFromGlobal(self.cursor().pos())
        if not self.viewport().rect().contains(at):
            at = self.viewport().rect().center()
        self.quick_add_requested.emit(self.mapToScene(at))

    def keyPressEvent(self, event):
        if event.key() == Qt.Key.Key_A and event.modifiers() == Qt.KeyboardModifier.ShiftModifier:
            self._request_quick_add()
            return
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event):
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            self.viewport().unsetCursor()
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.MiddleButton or (self._space and event.button() == Qt.MouseButton.LeftButton):
            self._pan = event.position()
            self.auto_fit = False
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        if self._pan is not None:
            delta = event.position() - self._pan
            self._pan = event.position()
            self.horizontalScrollBar().setValue(int(self.horizontalScrollBar().value() - delta.x()))
            self.verticalScrollBar().setValue(int(self.verticalScrollBar().value() - delta.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        if self._pan is not None:
            self._pan = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # --- background -------------------------------------------------------------------

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, style.CANVAS)
        if self.zoom < 0.45:
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.fillRect(rect, grid_brush())
        painter.restore()


GRID_STEP = 24  # scene units between the dots of the background grid
_SUPERSAMPLE = 4
_GRID_BRUSH: dict[int, QBrush] = {}  # the grid's colour (the theme's) → its brush


def grid_brush() -> QBrush:
    """A brush of the background grid's dots, one every ``GRID_STEP`` scene units.

    One tile, drawn once at four times the resolution and repeated by the paint engine:
    painting the background allocates nothing, however large the view.
    """
    if style.GRID.rgba() not in _GRID_BRUSH:
        size = GRID_STEP * _SUPERSAMPLE
        tile = QPixmap(size, size)
        tile.fill(Qt.GlobalColor.transparent)
        p = QPainter(tile)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(style.GRID)
        p.drawEllipse(QPointF(size / 2, size / 2), _SUPERSAMPLE, _SUPERSAMPLE)  # a dot 2 units across
        p.end()
        brush = QBrush(tile)
        # tile pixels → scene units, with the dot at the tile's centre moved onto multiples of the step
        brush.setTransform(QTransform().translate(-GRID_STEP / 2, -GRID_STEP / 2).scale(1 / _SUPERSAMPLE, 1 / _SUPERSAMPLE))
        _GRID_BRUSH[style.GRID.rgba()] = brush
    return _GRID_BRUSH[style.GRID.rgba()]
