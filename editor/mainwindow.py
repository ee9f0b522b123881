"""The main window: palette, canvas, inspector, formulas, problems and training, over one
document. The window wires the parts together; the edits themselves live in
:mod:`editor.ops` and :mod:`editor.actions`."""

from __future__ import annotations

from PyQt6.QtCore import QPointF, Qt, QTimer
from PyQt6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox

from graphmodel import GraphModelError
from graphmodel.graph import DEFAULT_KINDS

from . import actions, menus
from .canvas import GraphScene, GraphView
from .docklayout import DockLayout
from .document import Document
from .fileops import FileController, ask_dialog
from .inspector import Inspector
from .layout import auto_layout
from .ops import EditOps
from .palette import Palette
from .panels import FormulaPanel, ProblemsPanel
from .theme import Theme


class MainWindow(QMainWindow):
    """The graphmodel editor.

    Args:
        graph: the graph to show (a new empty one if None).
        path: the file it came from.
        state_dir: where recent files and recovery files live (tests pass a temporary one).
        training: add the training panel (needs pyqtgraph).
        restore: put the window and its panels where they were last time.
    """

    def __init__(self, graph=None, path=None, state_dir=None, training: bool = True, restore: bool = True):
        super().__init__()
        self.resize(1560, 980)
        self.document = Document(graph, path, self)
        self.ops = EditOps(self.document)
        self.scene = GraphScene(self.document, self)
        self.view = GraphView(self.scene)
        self.ops.view_positions = self.scene.current_positions
        self.setCentralWidget(self.view)
        self.palette = Palette()
        self.inspector = Inspector(self.document, self.ops)
        self.formulas = FormulaPanel(self.document)
        self.problems = ProblemsPanel(self.document)
        self.files = FileController(self, self.document, state_dir)
        self.last_message = ""
        self.notice = QLabel(self.view)
        self.notice.setStyleSheet("background: #fff4f4; color: #a11d1d; border: 1px solid #e8b4b4; "
                                  "border-radius: 6px; padding: 6px 10px;")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self._notice_timer = QTimer(self, singleShot=True, interval=7000, timeout=self.notice.hide)
        self.docks = {}
        self._dock("palette", "Palette", self.palette, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("inspector", "Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("problems", "Problems", self.problems, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("formulas", "Formulas", self.formulas, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.train = None
        if training:
            from .trainpanel import TrainPanel

            self.train = TrainPanel(self.document, self.ops, state_dir=self.files.state_dir)
            self._dock("training", "Training", self.train, Qt.DockWidgetArea.BottomDockWidgetArea)
            self.splitDockWidget(self.docks["formulas"], self.docks["training"], Qt.Orientation.Horizontal)
            self.resizeDocks([self.docks["formulas"], self.docks["training"]], [520, 1080], Qt.Orientation.Horizontal)
            self.train.message.connect(self.refused)
            from .runspanel import RunsPanel

            self.runs = RunsPanel(self.train)
            self._dock("runs", "Runs", self.runs, Qt.DockWidgetArea.RightDockWidgetArea)
            self.tabifyDockWidget(self.docks["problems"], self.docks["runs"])
            self.docks["problems"].raise_()
            self.runs.message.connect(self.refused)
            from .runversions import load_version, resume_run

            self.runs.resume_requested.connect(lambda path: resume_run(self, path))
            self.runs.load_requested.connect(lambda path: load_version(self, path))
            from .advice import run_note
            from .bindingtable import install

            self.data_table = install(self)
            self.problems.sources.append(lambda: run_note(self.train, self.document.graph))
            self.train.run_saved.connect(lambda _path: self.problems.refresh())
        # the bottom row (formulas, training) spans the whole width: long formulas and plots need it
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.palette.setMinimumWidth(180)
        self.inspector.setMinimumWidth(330)
        self.resizeDocks([self.docks["inspector"], self.docks["problems"]], [520, 200], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["formulas"]], [330], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["palette"]], [200], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["inspector"]], [370], Qt.Orientation.Horizontal)
        self.dock_layout = DockLayout(self)  # (compact below about 1500×900: docklayout.py)
        self.actions = menus.build(self)
        for dock in self.docks.values():
            self.docks_menu.addAction(dock.toggleViewAction())
        self.theme = Theme(self)  # light or dark, as the desktop or View ▸ Theme says (theme.py)
        self.theme.add_menu(self.view_menu)
        self.view_menu.addAction(self.view.minimap.toggle_action(self))
        self._wire()
        self.refresh_recent()
        self._update_title()
        self._update_models()
        self.statusBar().showMessage("Drag from the palette (or press Tab over the canvas to search and add there); "
                                     "drag from a variable's rim to another to connect. F1: shortcuts.")
        store = self.files.recent.store
        if restore and store.value("geometry") is not None:
            self.restoreGeometry(store.value("geometry"))
            self.restoreState(store.value("state"))
            self.dock_layout.keep_current()

    def _dock(self, key, title, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(key)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        return dock

    def _wire(self) -> None:
        s = self.scene
        s.selectionChanged.connect(self._selection_changed)
        s.connect_requested.connect(self.connect_variables)
        s.nodes_moved.connect(self._moved)
        s.palette_dropped.connect(self._dropped)
        s.context_requested.connect(self._context_menu)
        self.palette.activated.connect(self.apply_palette)
        self.view.quick_add_requested.connect(self.quick_add)
        self.inspector.message.connect(self.refused)
        self.inspector.select.connect(self.select_key)
        self.problems.problem_activated.connect(self._problem_activated)
        self.document.file_changed.connect(self._update_title)
        self.document.changed.connect(self._update_models)
        self.document.replaced.connect(self._replaced)

    def _replaced(self) -> None:
        """Another graph (New, Open, a recovery): show all of it, and forget the last one's
        results — curves and samples of another model would mislead. A run still going keeps
        its panel (it trains the graph it started with) and says so."""
        self.view.fit()
        if self.train is not None:
            if self.train.running:
                self.status("training continues on the graph it started with; Stop it to train this one")
            else:
                self.train.clear()

    def _moved(self, payload: dict, joins: dict) -> None:
        self.perform(self.ops.move, payload, joins)

    def _problem_activated(self, key) -> None:
        self.select_key(key, center=True)

    # --- hooks for dialogs (tests replace them) ---------------------------------------

    def ask(self, title: str, text: str, choices) -> str:
        return ask_dialog(self, title, text, choices)

    def notify(self, title: str, text: str) -> None:
        self.last_message = text
        QMessageBox.warning(self, title, text)

    def choose_path(self, save: bool, caption: str, filters: str, default: str = "") -> str | None:
        fn = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        path, _ = fn(self, caption, default, filters)
        return path or None

    def show_help(self, text: str) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", text)

    def status(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    # --- feedback ---------------------------------------------------------------------

    def refused(self, message: str) -> None:
        """Show why an edit was not made: on the canvas for a few seconds and in the status bar."""
        self.last_message = message
        self.statusBar().showMessage(message, 10000)
        self.notice.setText(message)
        self.notice.setMaximumWidth(max(300, self.view.width() - 40))
        self.notice.adjustSize()
        self.notice.move(20, 16)
        self.notice.show()
        self.notice.raise_()
        self._notice_timer.start()

    def perform(self, fn, *args, **kwargs):
        """Run an edit; a refusal is shown, not raised. Returns the edit's result or None."""
        try:
            return fn(*args, **kwargs)
        except GraphModelError as e:
            self.refused(str(e))
            return None

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.document.title}[*] — graphmodel")
        self.setWindowModified(self.document.dirty)

    def _update_models(self) -> None:
        models = dict(DEFAULT_KINDS)
        models.update(self.document.graph.models)
        box = self.model_box
        box.blockSignals(True)
        box.clear()
        for m, kind in models.items():
            box.addItem(f"{m}  ({kind})", m)
        box.setCurrentIndex(max(0, box.findData(self.ops.model)))
        box.blockSignals(False)

    def set_model(self, name: str) -> None:
        self.ops.model = name
        self.model_box.setCurrentIndex(max(0, self.model_box.findData(name)))
        self.status(f"new connections and factors go into model {name} ({self.ops.model_kind()})")

    def refresh_recent(self) -> None:
        menu = self.recent_menu
        menu.clear()
        for path in self.files.recent.paths():
            menu.addAction(path, lambda p=path: self.files.open(p))
        menu.setEnabled(bool(self.files.recent.paths()))

    # --- selection --------------------------------------------------------------------

    def selected_keys(self) -> list:
        return self.scene.selected_keys()

    def _selection_changed(self) -> None:
        keys = self.scene.selected_keys()
        self.inspector.show_key(keys[0] if len(keys) == 1 else None)

    def select_key(self, key, center: bool = False) -> None:
        self.scene.select_keys([key])
        item = self.scene.item_for(key)
        if center and item is not None:
            self.view.centerOn(item)

    def focus_search(self) -> None:
        self.docks["palette"].show()
        self.palette.search.setFocus()
        self.palette.search.selectAll()

    # --- edits ------------------------------------------------------------------------

    def connect_variables(self, parent: str, child: str, lag: bool = False):
        index = self.perform(self.ops.connect, parent, child, None, lag)
        if index is not None:
            self.status(f"connected {parent}{'[t−1]' if lag else ''} → {child} in model {self.ops.model}")
        return index

    def _dropped(self, kind: str, name: str, pos: QPointF, target) -> None:
        self._place(kind, name, (pos.x(), pos.y()), target, fit=False)  # (dropped where the user looks)

    def _place(self, kind: str, name: str, pos, target, fit: bool = True):
        """Apply palette entry ``kind:name`` at ``pos`` on ``target`` (a drop, a double-click, a
        quick add): select what it made, and (``fit``) show the whole graph after a template."""
        key = self.perform(actions.drop, self.ops, kind, name, pos, target)
        if key is not None:
            self.select_key(key)
        if fit and kind == "template":
            self.view.fit()
        return key

    def apply_palette(self, kind: str, name: str):
        """Double-click / Enter on a palette entry: apply it to the selection or at a free spot."""
        keys = self.scene.selected_keys()
        target = keys[0] if len(keys) == 1 else None
        pos = self.free_spot()
        if kind == "plate" or kind == "variable" and (target is None or target[0] != "plate"):
            target = None
        return self._place(kind, name, pos, target)

    def quick_add(self, at: QPointF):
        """Search-to-add at ``at`` (scene coordinates): the popup, then the entry placed there
        (a family or network goes to the selected variable, as from the palette)."""
        from .quickadd import QuickAdd

        if getattr(self, "_quick", None) is None:
            self._quick = QuickAdd(self)
            self._quick.chosen.connect(lambda kind, name: self._quick_chosen(kind, name))
        self._quick_at = (round(at.x() / 24) * 24.0, round(at.y() / 24) * 24.0)
        self._quick.open_at(self.view.mapToGlobal(self.view.mapFromScene(at)))
        return self._quick

    def _quick_chosen(self, kind: str, name: str):
        keys = self.scene.selected_keys()
        target = keys[0] if len(keys) == 1 and kind in ("family", "network") else None
        return self._place(kind, name, self._quick_at, target)

    def free_spot(self) -> tuple[float, float]:
        """A point near the middle of the view that no variable occupies."""
        c = self.view.mapToScene(self.view.viewport().rect().center())
        taken = list(self.scene.current_positions().values())
        x, y = round(c.x() / 24) * 24, round(c.y() / 24) * 24
        for k in range(60):
            cx, cy = x + 140 * (k % 6), y + 120 * (k // 6)
            if all(abs(cx - a) > 110 or abs(cy - b) > 90 for a, b in taken):
                return (float(cx), float(cy))
        return (float(x), float(y))

    def delete_selection(self) -> None:
        self.perform(self.ops.delete, self.scene.selected_keys())

    def copy_selection(self) -> int:
        n = actions.copy(self.ops, self.scene.selected_keys(), self.scene.current_positions())
        if n:
            self.status(f"copied {n} variable{'s' if n != 1 else ''}")
        return n

    def cut_selection(self) -> None:
        if self.copy_selection():
            self.delete_selection()

    def paste(self) -> None:
        names = self.perform(actions.paste, self.ops)
        if names:
            self.scene.select_keys([("variable", n) for n in names])

    def duplicate(self) -> None:
        if self.copy_selection():
            self.paste()

    def select_all(self) -> None:
        for item in self.scene.variables.values():
            item.setSelected(True)

    def auto_layout(self) -> None:
        positions = auto_layout(self.document.graph, self.scene.sizes())
        if positions:
            self.perform(self.ops.set_positions, positions)
            self.view.fit()

    def context_actions(self, key, pos: QPointF) -> list:
        """(label, callable) entries of the canvas's right-click menu for ``key``."""
        at = (pos.x(), pos.y())
        if key is None:
            drop = actions.drop
            return [(f"Add {label} here", lambda r=role: self.perform(drop, self.ops, "variable", r, at))
                    for role, label in (("latent", "latent variable"), ("observed", "observed variable"),
                                        ("input", "input"))] + [
                ("Add sequence plate here", lambda: self.perform(drop, self.ops, "plate", "sequence", at)),
                ("Add iid plate here", lambda: self.perform(drop, self.ops, "plate", "iid", at)),
                ("Paste", self.paste), ("Auto-layout", self.auto_layout)]
        items = [("Delete", self.delete_selection)]
        if key[0] == "variable":
            name = key[1]
            items = [("Duplicate", self.duplicate), ("Copy", self.copy_selection)] + items
            if self.document.graph.variables[name].plate:
                items.append(("Remove from plate", lambda: self.perform(self.ops.set_plate, name, None)))
        elif key[0] == "edge":
            items = [("Disconnect", lambda: self.perform(self.ops.disconnect, key[1], key[2]))]
        return items

    def _context_menu(self, key, pos: QPointF, screen) -> None:
        from PyQt6.QtWidgets import QMenu

        menu = QMenu(self)
        for label, fn in self.context_actions(key, pos):
            menu.addAction(label, fn)
        menu.exec(screen)
        menu.deleteLater()  # a child of the window: one would otherwise stay per right-click

    # --- closing ----------------------------------------------------------------------

    def closeEvent(self, event) -> None:
        if self.train is not None and self.train.running and self.ask(
                "Training is running", f"Training is at step {self.train.last_step}. Quit, and discard this run?",
                ("discard", "cancel")) != "discard":
            event.ignore()
            return
        if not self.files.maybe_keep_changes():
            event.ignore()
            return
        if self.train is not None:
            self.train.shutdown()
        self.formulas.renderer.shutdown()
        self.files.recent.store.setValue("geometry", self.saveGeometry())
        self.files.recent.store.setValue("state", self.saveState())
        self.files.close()
        event.accept()
