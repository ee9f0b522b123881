"""The canvas scene: draws the document's graph and turns gestures into requests.

The scene never edits the graph. It emits what the user did — connect ``a`` to ``b``,
moved these nodes, dropped this palette entry here — and :mod:`editor.ops` turns that
into one undoable edit; when the document changes, :meth:`GraphScene.sync` redraws.
"""

from __future__ import annotations

from PyQt6.QtCore import QLineF, QPoint, QPointF, QRectF, QSizeF, pyqtSignal
from PyQt6.QtGui import QPen
from PyQt6.QtWidgets import QGraphicsLineItem, QGraphicsScene, QGraphicsSimpleTextItem

from .. import layout, style
from ..captions import factor_caption
from . import labels, routing
from .edges import EdgeItem
from .items import VariableItem
from .plates import DataPlateItem, PlateItem

PALETTE_MIME = "application/x-graphmodel-palette"


class GraphScene(QGraphicsScene):
    """Variables, factor labels, edges and plates of ``document.graph``.

    Signals:
        connect_requested(parent, child, lag): the user dragged from one variable to another.
        nodes_moved(positions, joins): a drag ended; every node's position, and the
            variables dropped onto a plate they were not in (name → plate).
        palette_dropped(kind, name, pos, target): a palette entry was dropped at ``pos`` on
            ``target`` (an item key such as ``("variable", "z")``, or None).
        context_requested(key, pos, screen_pos): a right-click on an item (or on nothing).
    """

    connect_requested = pyqtSignal(str, str, bool)
    context_requested = pyqtSignal(object, QPointF, QPoint)
    nodes_moved = pyqtSignal(dict, dict)
    palette_dropped = pyqtSignal(str, str, QPointF, object)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.variables: dict[str, VariableItem] = {}
        self.plates: dict[str, PlateItem] = {}
        self.edges: list[EdgeItem] = []
        self.connecting: VariableItem | None = None
        self._rubber: QGraphicsLineItem | None = None
        self._syncing = False
        self._press_positions: dict | None = None
        self._auto: tuple | None = None  # (signature, positions): automatic layout memo
        self.setBackgroundBrush(style.CANVAS)
        self.setSceneRect(QRectF(-2000, -1500, 4000, 3000))
        self.hint = QGraphicsSimpleTextItem(
            "Drag a variable, a family or a template (VAE, VRNN, …) from the palette.\n"
            "Drag from one variable's rim to another to connect them.")
        self.hint.setFont(style.ui_font(11))
        self.hint.setBrush(style.MUTED)
        self.hint.setPos(-self.hint.boundingRect().width() / 2, -self.hint.boundingRect().height() / 2)
        self.addItem(self.hint)
        self.data_plate = DataPlateItem()
        self.addItem(self.data_plate)
        document.changed.connect(self.sync)
        self.sync()

    # --- from the document ------------------------------------------------------------

    def sync(self) -> None:
        """Bring every item up to date with ``document.graph`` (selection is kept)."""
        g = self.document.graph
        selected = self.selected_keys()
        self._syncing = True
        try:
            var_problems, factor_problems = self._problems(g)
            for name in [n for n in self.variables if n not in g.variables]:
                self.removeItem(self.variables.pop(name))
            for name, v in g.variables.items():
                item = self.variables.get(name)
                if item is None:
                    item = self.variables[name] = VariableItem(name)
                    self.addItem(item)
                mine = [(i, f) for i, f in enumerate(g.factors) if f.target == name]
                det = any(f.deterministic for _, f in mine if g.models.get(f.model) == "generative") or (
                    bool(mine) and all(f.deterministic for _, f in mine))
                item.set_state(v, det, var_problems.get(name, []))
                item.set_chips([(i, g.models.get(f.model, "auxiliary"), factor_caption(f), i in factor_problems)
                                for i, f in mine])
            for name, pos in self.positions().items():
                self.variables[name].setPos(QPointF(*pos))
            self._sync_plates()
            self._sync_edges()
            self._sync_data_plate()
            self.hint.setVisible(not g.variables and not g.plates)
        finally:
            self._syncing = False
        self.select_keys(selected)

    def _problems(self, g):
        var_p: dict[str, list[str]] = {}
        fac_p: dict[int, list[str]] = {}
        for p in g.problems():
            if p.factor is not None:
                fac_p.setdefault(p.factor, []).append(p.message)
            name = p.variable
            if name is None and p.factor is not None and p.factor < len(g.factors):
                name = g.factors[p.factor].target
            if name in g.variables:
                var_p.setdefault(name, []).append(p.message)
        return var_p, fac_p

    def sizes(self) -> dict:
        return {n: item.extent() for n, item in self.variables.items()}

    def positions(self) -> dict:
        """Where each variable goes: the layout section, else an automatic layout."""
        g = self.document.graph
        sizes = self.sizes()
        stored = layout.stored_positions(g)
        if len(stored) == len(g.variables):
            return stored
        sig = (tuple(g.variables), tuple(layout.edges(g)), tuple((n, round(s[0])) for n, s in sizes.items()),
               tuple((n, v.plate) for n, v in g.variables.items()), tuple(sorted(stored.items())))
        if self._auto is None or self._auto[0] != sig:
            self._auto = (sig, layout.positions(g, sizes))
        return self._auto[1]

    def current_positions(self) -> dict:
        return {n: (round(i.pos().x(), 1), round(i.pos().y(), 1)) for n, i in self.variables.items()}

    def _members(self, name: str) -> list:
        """The items inside plate ``name``: its variables and those of a plate nested in it."""
        g = self.document.graph
        inner = {k for k, p in g.plates.items() if p.inside == name and k != name}
        return [self.variables[n] for n, v in g.variables.items()
                if (v.plate == name or v.plate in inner) and n in self.variables]

    def plate_rect(self, name: str) -> QRectF:
        g = self.document.graph
        members = self._members(name)
        if not members:
            stored = layout.stored_plate_rects(g).get(name)
            if stored:
                return QRectF(*stored)
            k = list(g.plates).index(name)
            return QRectF(-120 + 40 * k, -90 + 40 * k, 240, 180)
        rect = QRectF()
        for m in members:
            rect = rect.united(m.mapRectToScene(m.boundingRect().united(m.childrenBoundingRect())))
        # an outer plate's box goes round its nested plate's box (and that one's caption)
        grow = 2 if any(p.inside == name for k, p in g.plates.items() if k != name) else 1
        return rect.adjusted(-PlateItem.MARGIN * grow, -PlateItem.MARGIN * grow, PlateItem.MARGIN * grow,
                             (PlateItem.MARGIN + 12) * grow)

    def _sync_plates(self) -> None:
        g = self.document.graph
        for name in [n for n in self.plates if n not in g.plates]:
            self.removeItem(self.plates.pop(name))
        for name, plate in g.plates.items():
            item = self.plates.get(name)
            if item is None:
                item = self.plates[name] = PlateItem(name)
                self.addItem(item)
            item.set_state(plate, self.plate_rect(name))

    def _sync_edges(self) -> None:
        g = self.document.graph
        for e in self.edges:
            self.removeItem(e)
        self.edges = []
        drawn = [(i, k, f, p) for i, f in enumerate(g.factors) for k, p in enumerate(f.parents)
                 if p.name in self.variables and f.target in self.variables]
        drawn += [(i, -1, f, None) for i, f in enumerate(g.factors)
                  if f.autoregressive is not None and f.target in self.variables]
        kinds = [g.models.get(f.model, "auxiliary") for _i, _k, f, _p in drawn]
        bends = routing.fan_out([(p.name if p else f.target, f.target, bool(p and p.lag), kind)
                                 for (_i, _k, f, p), kind in zip(drawn, kinds)])
        for (i, k, f, p), kind, bend in zip(drawn, kinds, bends):
            if p is None:  # an autoregressive factor's self-edge
                edge = EdgeItem(i, -1, kind, "<i", False, autoregressive=True)
            else:
                label = p.step.replace("-", "−") if p.step else None  # t−1, t−2, t+1, last
                if not p.lag and f.reduce and g.variables[p.name].plate not in (None, g.variables[f.target].plate):
                    label = "Σ" if f.reduce == "sum" else "mean"
                edge = EdgeItem(i, k, kind, label, bool(p.lag))
                edge.setToolTip(f"{p.name}{'[' + p.step + ']' if p.step else ''} → {f.target} in model {f.model}: "
                                f"a parent of {f.model}({f.target}|…), {factor_caption(f).split('  ', 1)[-1]}"
                                "\n(right-click: disconnect)")
            self.addItem(edge)  # (in the scene first: routing asks it for the obstacles)
            edge.set_ends(self.variables[p.name if p else f.target], self.variables[f.target], bend)
            self.edges.append(edge)
        self.place_labels()

    def place_labels(self) -> None:
        """Every edge label beside its own edge and clear of the others (:mod:`.labels`)."""
        solid = [r for item in self.variables.values() for r in (item.symbol_rect(), *item.label_rects())]
        labels.place(self.edges, solid)

    def obstacles(self, src: VariableItem, dst: VariableItem) -> list[QRectF]:
        """What the edge ``src → dst`` must not cross: the other variables' symbols and every
        variable's caption and factor labels."""
        out = []
        for item in self.variables.values():
            if item is not src and item is not dst:
                out.append(item.symbol_rect())
            out += item.label_rects()
        return out

    def twin_marks(self, edge) -> list[QRectF]:
        """Small boxes along the middle of the edges routed before ``edge`` that join the same
        two variables: routing keeps ``edge`` off them, so parallel edges (VRNN's ``h → x``
        and its ``x[t−1] → h``) never run on top of each other."""
        ends = set(edge.ends)
        out = []
        for other in self.edges:
            if other is edge:
                break
            if len(ends) == 2 and set(other.ends) == ends:
                path = other.path()
                out += [QRectF(path.pointAtPercent(f / 10) - QPointF(5, 5), QSizeF(10, 10)) for f in range(2, 9)]
        return out

    def _sync_data_plate(self) -> None:
        """The data plate N goes round every variable, plate and edge: each is one example's."""
        items = list(self.variables.values())
        self.data_plate.setVisible(bool(items))
        if not items:
            return
        rect = QRectF()
        for m in items:
            rect = rect.united(m.mapRectToScene(m.boundingRect().united(m.childrenBoundingRect())))
        for p in self.plates.values():
            if p.name in self.document.graph.plates and self._members(p.name):
                rect = rect.united(p.rect)
        for e in self.edges:
            rect = rect.united(e.path().boundingRect().united(e.label_rect() if e.label else QRectF()))
        self.data_plate.set_rect(rect.adjusted(-DataPlateItem.MARGIN, -DataPlateItem.MARGIN,
                                               DataPlateItem.MARGIN, DataPlateItem.MARGIN + 14))

    # --- selection --------------------------------------------------------------------

    def selected_keys(self) -> list:
        return [i.key for i in self.selectedItems() if hasattr(i, "key")]

    def item_for(self, key):
        kind = key[0]
        if kind == "variable":
            return self.variables.get(key[1])
        if kind == "plate":
            return self.plates.get(key[1])
        if kind == "factor":
            for v in self.variables.values():
                for c in v.chips:
                    if c.index == key[1]:
                        return c
        if kind == "edge":
            return next((e for e in self.edges if e.key == key), None)
        return None

    def select_keys(self, keys) -> None:
        self.blockSignals(True)
        try:
            self.clearSelection()
            for k in keys:
                item = self.item_for(k)
                if item is not None:
                    item.setSelected(True)
        finally:
            self.blockSignals(False)
        self.selectionChanged.emit()

    # --- moving -----------------------------------------------------------------------

    def node_moved(self, item: VariableItem) -> None:
        if self._syncing:
            return
        for e in self.edges:
            if item in e.ends:
                e.refresh()
        self.place_labels()
        g = self.document.graph
        plate = g.variables[item.name].plate if item.name in g.variables else None
        for name in (plate, g.plates[plate].inside if plate in g.plates else None):  # (and its outer box)
            if name in self.plates and name in g.plates:
                self.plates[name].set_state(g.plates[name], self.plate_rect(name))
        self._sync_data_plate()

    def move_plate(self, plate: PlateItem, delta: QPointF) -> None:
        g = self.document.graph
        members = self._members(plate.name)
        for m in members:
            m.setPos(m.pos() + delta)
        if not members:
            plate.set_state(g.plates[plate.name], plate.rect.translated(delta))

    def mousePressEvent(self, event):
        self._press_positions = self.current_positions()
        self._press_plates = {n: QRectF(p.rect) for n, p in self.plates.items()}
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event):
        super().mouseReleaseEvent(event)
        before, self._press_positions = self._press_positions, None
        if before is None:
            return
        now = self.current_positions()
        moved = [n for n in now if before.get(n) != now[n]]
        empty_plates = {n: p.rect for n, p in self.plates.items()
                        if p.rect != self._press_plates.get(n) and n in self.document.graph.plates}
        if not moved and not empty_plates:
            return
        g = self.document.graph
        joins = {}
        for n in moved:
            centre = self.variables[n].pos()
            for pname, pitem in self.plates.items():
                if g.variables[n].plate != pname and pitem.rect.contains(centre) and g.variables[n].plate is None \
                        and (n not in joins or g.plates[pname].inside == joins[n]):  # the innermost box
                    joins[n] = pname
        rects = {n: [r.x(), r.y(), r.width(), r.height()] for n, r in empty_plates.items()}
        self.nodes_moved.emit({"nodes": now, "plates": rects}, joins)

    # --- connecting -------------------------------------------------------------------

    def begin_connect(self, item: VariableItem, pos: QPointF) -> None:
        self.connecting = item
        self._rubber = QGraphicsLineItem(QLineF(item.pos(), pos))
        pen = QPen(style.SELECTED, 1.8)
        pen.setDashPattern([4, 3])
        self._rubber.setPen(pen)
        self._rubber.setZValue(50)
        self.addItem(self._rubber)

    def drag_connect(self, pos: QPointF) -> None:
        if self._rubber is not None and self.connecting is not None:
            self._rubber.setLine(QLineF(self.connecting.pos(), pos))

    def end_connect(self, pos: QPointF, lag: bool = False) -> None:
        src, self.connecting = self.connecting, None
        if self._rubber is not None:
            self.removeItem(self._rubber)
            self._rubber = None
        dst = self.variable_at(pos)
        if src is not None and dst is not None and (dst is not src or lag or self._sequence_member(src.name)):
            self.connect_requested.emit(src.name, dst.name, lag or dst is src)

    def _sequence_member(self, name: str) -> bool:
        g = self.document.graph
        plate = g.plates.get(g.variables[name].plate) if name in g.variables else None
        return plate is not None and plate.kind == "sequence"

    def variable_at(self, pos: QPointF) -> VariableItem | None:
        for it in self.items(pos):
            if isinstance(it, VariableItem):
                return it
            if isinstance(it.parentItem(), VariableItem):
                return it.parentItem()
        return None

    def key_at(self, pos: QPointF):
        for it in self.items(pos):
            if hasattr(it, "key") and not isinstance(it, QGraphicsLineItem):
                return it.key
        return None

    def contextMenuEvent(self, event):
        key = self.key_at(event.scenePos())
        if key is not None and key not in self.selected_keys():
            self.select_keys([key])
        self.context_requested.emit(key, event.scenePos(), event.screenPos())
        event.accept()

    # --- palette drops ----------------------------------------------------------------

    def dragEnterEvent(self, event):
        if event.mimeData().hasFormat(PALETTE_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event):
        if event.mimeData().hasFormat(PALETTE_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event):
        if not event.mimeData().hasFormat(PALETTE_MIME):
            return super().dropEvent(event)
        kind, _, name = bytes(event.mimeData().data(PALETTE_MIME)).decode("utf-8").partition(":")
        event.acceptProposedAction()
        pos = event.scenePos()
        target = self.key_at(pos)
        if kind == "variable" or (kind == "family" and (target is None or target[0] == "plate")):
            plate = self.plate_at(pos)  # a new variable dropped inside a plate's box lives in it
            target = ("plate", plate) if plate else None
        self.palette_dropped.emit(kind, name, pos, target)

    def plate_at(self, pos: QPointF) -> str | None:
        return next((n for n, p in self.plates.items() if p.rect.contains(pos)), None)
