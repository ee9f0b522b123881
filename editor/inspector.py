"""The inspector: the properties of what is selected — the graph, a variable, a factor, an
edge or a plate — as a form whose every change is one undoable edit."""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QScrollArea, QSpinBox, QStackedWidget, QWidget

from graphmodel.families import FAMILIES
from graphmodel.graph import MODEL_KINDS
from graphmodel.supports import declarable
from graphmodel.variables import PLATE_KINDS, ROLES

from .captions import factor_caption, plate_caption
from .defaults import family_for
from .factorpage import FactorPage
from .forms import Page, combo, format_shape, parse_shape, section


class GraphPage(Page):
    """Nothing selected: the graph's name and its models."""

    def load(self) -> None:
        self.reload()

    def reload(self) -> None:
        g = self.ops.graph
        self.loading = True
        try:
            self.clear_rows()
            self.name = self.line(g.name, lambda t: self.run(self.ops.rename_graph, t.strip()))
            self.form.addRow("graph", self.name)
            counts = ", ".join(f"{n} {what}{'' if n == 1 else 's'}" for n, what in (
                (len(g.variables), "variable"), (len(g.factors), "factor"), (len(g.plates), "plate")))
            self.form.addRow(QLabel(f"<span style='color:#6b7280'>{counts}</span>"))
            self.form.addRow(section("models"))
            for m, kind in g.models.items():
                self.form.addRow(QLabel(f"<b>{m}</b>"), QLabel(kind))
            row = QWidget()
            box = QHBoxLayout(row)
            box.setContentsMargins(0, 0, 0, 0)
            self.model_name = self.line("", lambda _t: None)
            self.model_name.setPlaceholderText("name, e.g. r")
            self.model_kind = combo(MODEL_KINDS, "auxiliary")
            add = QPushButton("Add")
            add.clicked.connect(lambda: self.run(self._add_model))
            box.addWidget(self.model_name, 1)
            box.addWidget(self.model_kind)
            box.addWidget(add)
            self.form.addRow("new model", row)
            hint = QLabel("<span style='color:#6b7280'>Select a variable, factor, edge or plate to edit it. "
                          "Drag from a variable's rim to another variable to connect them in the model "
                          "chosen in the toolbar.</span>")
            hint.setWordWrap(True)
            self.form.addRow(hint)
        finally:
            self.loading = False

    def _add_model(self) -> None:
        self.ops.ensure_model(self.model_name.text().strip(), self.model_kind.currentData())


class VariablePage(Page):
    """A variable's name, shape, support, classes, role and plate, and its factors."""

    def load(self, name: str) -> None:
        self.var = name
        self.reload()

    def reload(self) -> None:
        g = self.ops.graph
        v = g.variables.get(self.var)
        if v is None:
            return
        self.loading = True
        try:
            self.clear_rows()
            self.name = self.line(v.name, lambda t: self.run(self._update, name=t.strip()))
            self.shape = self.line(format_shape(v.shape), lambda t: self.run(self._update, shape=parse_shape(t)))
            self.shape.setPlaceholderText("e.g. 64 or 1, 28, 28 (empty: a scalar)")
            self.support = combo(declarable(), v.support)
            self.support.activated.connect(lambda _i: self.run(self._update, support=self.support.currentData()))
            self.classes = QSpinBox()
            self.classes.setRange(2, 1_000_000)
            self.classes.setValue(v.classes or 10)
            self.classes.setEnabled(v.support == "categorical")
            self.classes.editingFinished.connect(lambda: self.run(self._update, classes=self.classes.value()))
            self.role = combo(ROLES, v.role)
            self.role.activated.connect(lambda _i: self.run(self._update, role=self.role.currentData()))
            self.plate = combo([(None, "(none)")] + list(g.plates), v.plate)
            self.plate.activated.connect(lambda _i: self.run(self._update, plate=self.plate.currentData()))
            for label, w in (("name", self.name), ("shape", self.shape), ("support", self.support),
                             ("classes", self.classes), ("role", self.role), ("plate", self.plate)):
                self.form.addRow(label, w)
            self.form.addRow(section("factors"))
            for i, f in enumerate(g.factors):
                if f.target == v.name:
                    b = QPushButton(factor_caption(f))
                    b.setStyleSheet("text-align: left; padding: 3px 8px;")
                    b.clicked.connect(lambda _c=False, i=i: self.select.emit(("factor", i)))
                    self.form.addRow(b)
            row = QWidget()
            box = QHBoxLayout(row)
            box.setContentsMargins(0, 0, 0, 0)
            self.new_family = combo(FAMILIES.names(), family_for(v))
            add = QPushButton(f"Add in {self.ops.model}")
            add.setToolTip(f"give {v.name} a factor of this family in model {self.ops.model} (toolbar)")
            add.clicked.connect(lambda: self.run(self.ops.set_family, self.var, self.new_family.currentData()))
            box.addWidget(self.new_family, 1)
            box.addWidget(add)
            self.form.addRow("new factor", row)
        finally:
            self.loading = False

    def _update(self, **changes) -> None:
        old, self.var = self.var, self.ops.update_variable(self.var, **changes)
        if self.var != old:  # the selection follows the renamed variable
            self.select.emit(("variable", self.var))


class PlatePage(Page):
    """A plate's name, kind and size, and the variables inside it."""

    def load(self, name: str) -> None:
        self.plate_name = name
        self.reload()

    def reload(self) -> None:
        g = self.ops.graph
        p = g.plates.get(self.plate_name)
        if p is None:
            return
        self.loading = True
        try:
            self.clear_rows()
            self.form.addRow(QLabel(f"<b style='font-size:12pt'>{plate_caption(p)}</b>"))
            self.name = self.line(p.name, lambda t: self.run(self._rename, t.strip()))
            self.form.addRow("name", self.name)
            self.kind = combo(PLATE_KINDS, p.kind)
            self.kind.activated.connect(lambda _i: self.run(self.ops.update_plate, p.name,
                                                            kind=self.kind.currentData()))
            self.size = QSpinBox()
            self.size.setRange(1, 1 << 24)
            self.size.setValue(p.size)
            self.size.editingFinished.connect(lambda: self.run(self.ops.update_plate, p.name,
                                                               size=self.size.value()))
            self.form.addRow("kind", self.kind)
            self.form.addRow("size", self.size)
            members = [n for n, v in g.variables.items() if v.plate == p.name]
            self.form.addRow("variables", QLabel(", ".join(members) or "none — drop variables onto the plate"))
        finally:
            self.loading = False


    def _rename(self, new: str) -> None:
        old, self.plate_name = self.plate_name, self.ops.rename_plate(self.plate_name, new)
        if self.plate_name != old:  # the selection follows the renamed plate
            self.select.emit(("plate", self.plate_name))


class EdgePage(Page):
    """One parent of one factor: which model, whether it reads the previous step."""

    def load(self, index: int, k: int) -> None:
        self.index, self.k = index, k
        self.reload()

    def reload(self) -> None:
        g = self.ops.graph
        if not 0 <= self.index < len(g.factors) or self.k >= len(g.factors[self.index].parents):
            return
        f = g.factors[self.index]
        p = f.parents[self.k]
        self.loading = True
        try:
            self.clear_rows()
            self.form.addRow(QLabel(f"<b style='font-size:12pt'>{p} → {f.target}</b>"))
            self.form.addRow("factor", QLabel(f"{f.model}({f.label})"))
            b = QPushButton("Open factor")
            b.clicked.connect(lambda: self.select.emit(("factor", self.index)))
            d = QPushButton("Disconnect")
            d.clicked.connect(lambda: self.run(self.ops.disconnect, self.index, self.k))
            self.form.addRow(b)
            self.form.addRow(d)
        finally:
            self.loading = False


class Inspector(QScrollArea):
    """Shows the page for the selected item; reloads it after every edit.

    Signals:
        message(text): a refused edit's reason.
        select(key): a page asks to select another item (a factor of this variable).
    """

    message = pyqtSignal(str)
    select = pyqtSignal(object)

    def __init__(self, document, ops, parent=None):
        super().__init__(parent)
        self.document = document
        self.ops = ops
        self.setWidgetResizable(True)
        self.stack = QStackedWidget()
        self.setWidget(self.stack)
        self.pages = {
            "graph": GraphPage(ops), "variable": VariablePage(ops), "factor": FactorPage(ops),
            "plate": PlatePage(ops), "edge": EdgePage(ops),
        }
        for page in self.pages.values():
            self.stack.addWidget(page)
            page.message.connect(self.message)
            page.select.connect(self.select)
        self.key = None
        document.changed.connect(self.refresh)
        self.show_key(None)

    def show_key(self, key) -> None:
        """Show the page for ``key`` (``("variable", "z")``, ``("factor", 2)``, ...; None: graph)."""
        g = self.document.graph
        valid = key is not None and (
            (key[0] == "variable" and key[1] in g.variables) or (key[0] == "plate" and key[1] in g.plates)
            or (key[0] == "factor" and key[1] < len(g.factors))
            or (key[0] == "edge" and key[1] < len(g.factors) and key[2] < len(g.factors[key[1]].parents)))
        self.key = key if valid else None
        kind = self.key[0] if self.key else "graph"
        page = self.pages[kind]
        page.load(*self.key[1:]) if self.key else page.load()
        self.stack.setCurrentWidget(page)

    @property
    def page(self):
        return self.stack.currentWidget()

    def refresh(self) -> None:
        self.show_key(self.key)
