"""Variables on the canvas, with their factors' labels and problem badges.

Items draw what the document says and hold nothing else: a :class:`VariableItem` knows
its variable's name (its key), a :class:`FactorChip` the index of its factor. The scene
updates them from the graph after every edit. Edges and plates: :mod:`.edges`, :mod:`.plates`.
"""

from __future__ import annotations

import math

from PyQt6.QtCore import QLineF, QPointF, QRectF, Qt
from PyQt6.QtGui import QBrush, QFontMetricsF, QPainter, QPainterPath, QPainterPathStroker, QPen, QPolygonF
from PyQt6.QtWidgets import QGraphicsItem

from .. import style
from ..captions import shape_caption

R = style.NODE_RADIUS
CHIP_H = 19.0
CHIP_GAP = 4.0
CAPTION_H = 15.0
CALLOUT_W = 260.0
PORT = 5.5


def _elide(text: str, font, width: float) -> str:
    return QFontMetricsF(font).elidedText(text, Qt.TextElideMode.ElideRight, width)


class VariableItem(QGraphicsItem):
    """A variable in the field's notation, with its factors' labels beside it.

    Latent: white circle; observed: shaded circle; deterministic: diamond; input: shaded
    square. A red badge marks a variable that has problems (tooltip: the messages).
    """

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.kind = "latent"
        self.caption = ""
        self.problems: list[str] = []
        self.hovered = False
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                      | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        self.setAcceptHoverEvents(True)
        self.setZValue(10)
        self.chips: list[FactorChip] = []
        self.caption_top = -7.0
        self.caption_width = 40.0

    @property
    def key(self):
        return ("variable", self.name)

    def set_state(self, var, deterministic: bool, problems: list[str]) -> None:
        kind = "input" if var.role == "input" else ("deterministic" if deterministic else var.role)
        caption = shape_caption(var)
        if (kind, caption, problems) != (self.kind, self.caption, self.problems):
            self.prepareGeometryChange()
            self.kind, self.caption, self.problems = kind, caption, list(problems)
            self.caption_width = QFontMetricsF(style.ui_font(8)).horizontalAdvance(caption) + 4
            tip = f"{var.name}: {caption}, {var.role}" + (", deterministic" if deterministic else "")
            if problems:
                tip += "\n\n" + "\n".join("⚠ " + p for p in problems)
            self.setToolTip(tip)
            self.update()

    def set_chips(self, specs: list[tuple[int, str, str, bool]]) -> None:
        """``(factor index, model kind, caption, has problem)`` for each factor of this variable."""
        while len(self.chips) > len(specs):
            chip = self.chips.pop()
            chip.setParentItem(None)
            if chip.scene() is not None:
                chip.scene().removeItem(chip)
        while len(self.chips) < len(specs):
            self.chips.append(FactorChip(self))
        # the column right of the symbol: the shape caption, then one label per factor
        total = CAPTION_H + len(specs) * CHIP_H + max(0, len(specs) - 1) * CHIP_GAP
        self.prepareGeometryChange()
        self.caption_top = -total / 2
        y = self.caption_top + CAPTION_H
        for chip, (index, kind, text, bad) in zip(self.chips, specs):
            chip.set_state(index, kind, text, bad)
            chip.setPos(R + 10, y)
            y += CHIP_H + CHIP_GAP

    def extent(self) -> tuple[float, float, float]:
        """(width, height, dx) of the symbol with its labels, for automatic layout."""
        chip_w = max([c.width for c in self.chips] + [self.caption_width])
        w = 2 * R + 10 + chip_w
        h = max(2 * R + 8, CAPTION_H + len(self.chips) * (CHIP_H + CHIP_GAP))
        return w, h, R

    # --- geometry ---------------------------------------------------------------------

    def symbol_path(self) -> QPainterPath:
        path = QPainterPath()
        if self.kind == "deterministic":
            d = R * 1.12
            path.addPolygon(QPolygonF([QPointF(0, -d), QPointF(d, 0), QPointF(0, d), QPointF(-d, 0), QPointF(0, -d)]))
        elif self.kind == "input":
            s = R * 0.86
            path.addRoundedRect(QRectF(-s, -s, 2 * s, 2 * s), 4, 4)
        else:
            path.addEllipse(QPointF(0, 0), R, R)
        return path

    def boundary_distance(self, angle: float) -> float:
        """Distance from the centre to the symbol's outline in direction ``angle``."""
        if self.kind == "deterministic":
            d = R * 1.12
            return d / (abs(math.cos(angle)) + abs(math.sin(angle)))
        if self.kind == "input":
            s = R * 0.86
            return s / max(abs(math.cos(angle)), abs(math.sin(angle)))
        return R

    def label_rects(self) -> list[QRectF]:
        """Scene rectangles of the shape caption and the factor labels (edges route around them)."""
        rects = [self.mapRectToScene(QRectF(R + 11, self.caption_top, self.caption_width, CAPTION_H))]
        return rects + [c.mapRectToScene(QRectF(0, 0, c.width, CHIP_H)) for c in self.chips]

    def symbol_rect(self) -> QRectF:
        """The symbol's scene rectangle, with a little air (edges between others route around it)."""
        return self.mapRectToScene(self.symbol_path().boundingRect()).adjusted(-5, -5, 5, 5)

    def port_pos(self) -> QPointF:
        return QPointF(0, R + 1)

    def in_port(self, pos: QPointF) -> bool:
        """Presses near the symbol's rim (or on the port knob) start a connection."""
        d = math.hypot(pos.x(), pos.y())
        knob = QLineF(pos, self.port_pos()).length() <= PORT + 3
        return knob or (R - 6 <= d <= R + 5 and self.kind != "input") or (
            self.kind == "input" and R * 0.86 - 5 <= max(abs(pos.x()), abs(pos.y())) <= R * 0.86 + 5)

    def boundingRect(self) -> QRectF:
        top = min(-R - 16, self.caption_top - 2)
        rect = QRectF(-R - 16, top, 2 * R + 32 + self.caption_width, R + 26 - top)
        return rect.united(self._callout_rect()) if self.problems else rect

    def _callout_rect(self) -> QRectF:
        return QRectF(-CALLOUT_W / 2, R + 7, CALLOUT_W, 17)

    def shape(self) -> QPainterPath:
        path = self.symbol_path()
        stroke = QPainterPathStroker()
        stroke.setWidth(12)
        return path.united(stroke.createStroke(path))

    # --- painting ---------------------------------------------------------------------

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = {"observed": style.OBSERVED_FILL, "input": style.INPUT_FILL}.get(self.kind, style.LATENT_FILL)
        if self.isSelected():
            glow = QPen(style.GLOW, 9)
            painter.setPen(glow)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(self.symbol_path())
        painter.setPen(QPen(style.PROBLEM if self.problems else style.INK, 1.7))
        painter.setBrush(QBrush(fill))
        painter.drawPath(self.symbol_path())
        painter.setPen(style.INK)
        painter.setFont(style.math_font(15 if len(self.name) <= 3 else 11))
        text = _elide(self.name, painter.font(), 2 * R - 8)
        painter.drawText(QRectF(-R, -R, 2 * R, 2 * R), Qt.AlignmentFlag.AlignCenter, text)
        painter.setPen(style.MUTED)
        painter.setFont(style.ui_font(8))
        painter.drawText(QRectF(R + 11, self.caption_top, self.caption_width, CAPTION_H),
                         Qt.AlignmentFlag.AlignVCenter, self.caption)
        if self.hovered:
            painter.setPen(QPen(style.SELECTED, 1.4))
            painter.setBrush(QBrush(style.PORT_FILL))
            painter.drawEllipse(self.port_pos(), PORT, PORT)
        if self.problems:
            self._badge(painter)
            self._callout(painter)

    def _callout(self, painter: QPainter) -> None:
        """The first problem, shortened, in a red label under the symbol (all of them: tooltip)."""
        font = style.ui_font(7.5)
        text = self.problems[0].split(": ", 1)[-1] if self.problems[0].startswith("factor ") else self.problems[0]
        text = _elide(text, font, CALLOUT_W - 12)
        width = QFontMetricsF(font).horizontalAdvance(text) + 12
        rect = QRectF(-width / 2, R + 7, width, 17)
        painter.setPen(QPen(style.CALLOUT_EDGE, 1))
        painter.setBrush(QBrush(style.CALLOUT_FILL))
        painter.drawRoundedRect(rect, 4, 4)
        painter.setFont(font)
        painter.setPen(style.CALLOUT_TEXT)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _badge(self, painter: QPainter) -> None:
        c = QPointF(-R * 0.78, -R * 0.78)
        painter.setPen(QPen(style.BADGE_TEXT, 1.5))
        painter.setBrush(QBrush(style.PROBLEM))
        painter.drawEllipse(c, 8.5, 8.5)
        painter.setPen(style.BADGE_TEXT)
        painter.setFont(style.ui_font(8.5, bold=True))
        painter.drawText(QRectF(c.x() - 8.5, c.y() - 8.5, 17, 17), Qt.AlignmentFlag.AlignCenter,
                         str(len(self.problems)) if len(self.problems) > 1 else "!")

    def hoverEnterEvent(self, event):
        self.hovered = True
        self.update()

    def hoverLeaveEvent(self, event):
        self.hovered = False
        self.update()

    def hoverMoveEvent(self, event):
        shape = Qt.CursorShape.CrossCursor if self.in_port(event.pos()) else Qt.CursorShape.OpenHandCursor
        self.setCursor(shape)

    def mousePressEvent(self, event):
        scene = self.scene()
        if (event.button() == Qt.MouseButton.LeftButton and scene is not None
                and (self.in_port(event.pos()) or event.modifiers() & Qt.KeyboardModifier.ShiftModifier)):
            scene.begin_connect(self, event.scenePos())
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event):
        scene = self.scene()
        if scene is not None and scene.connecting is not None:
            scene.drag_connect(event.scenePos())
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event):
        scene = self.scene()
        if scene is not None and scene.connecting is not None:
            scene.end_connect(event.scenePos(), bool(event.modifiers() & Qt.KeyboardModifier.AltModifier))
            return
        super().mouseReleaseEvent(event)

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged and self.scene() is not None:
            self.scene().node_moved(self)
        return super().itemChange(change, value)


class FactorChip(QGraphicsItem):
    """A factor's label beside its target: a model tag (``p``/``q``) and ``Normal · MLP 400``."""

    def __init__(self, parent: VariableItem):
        super().__init__(parent)
        self.index = -1
        self.model_kind = "generative"
        self.text = ""
        self.bad = False
        self.width = 60.0
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(11)
        self.setAcceptHoverEvents(True)

    def hoverEnterEvent(self, event) -> None:
        """The tooltip is made when the pointer arrives (a parameter count builds networks on
        torch's meta device: not something to redo on every edit)."""
        from ..captions import factor_tip

        scene = self.scene()
        graph = getattr(getattr(scene, "document", None), "graph", None)
        if graph is not None and 0 <= self.index < len(graph.factors):
            self.setToolTip(factor_tip(graph, self.index))
        super().hoverEnterEvent(event)

    @property
    def key(self):
        return ("factor", self.index)

    def set_state(self, index: int, kind: str, text: str, bad: bool) -> None:
        width = QFontMetricsF(style.ui_font(8.5)).horizontalAdvance(text) + 16
        if (index, kind, text, bad) != (self.index, self.model_kind, self.text, self.bad):
            self.prepareGeometryChange()
            self.index, self.model_kind, self.text, self.bad, self.width = index, kind, text, bad, width
            self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(-2, -2, self.width + 4, CHIP_H + 4)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colour = style.MODEL_COLOURS.get(self.model_kind, style.MUTED)
        edge = style.SELECTED if self.isSelected() else (style.PROBLEM if self.bad else colour.lighter(170))
        pen = QPen(edge, 1.8 if self.isSelected() or self.bad else 1.0)
        if self.model_kind == "inference":
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QBrush(style.CHIP_FILL.get(self.model_kind, style.CHIP_FILL["auxiliary"])))
        painter.drawRoundedRect(QRectF(0, 0, self.width, CHIP_H), 5, 5)
        painter.setFont(style.ui_font(8.5))
        painter.setPen(colour if self.model_kind != "generative" else style.INK)
        painter.drawText(QRectF(8, 0, self.width - 8, CHIP_H), Qt.AlignmentFlag.AlignVCenter, self.text)
