"""The Data panel: the dataset and, for each variable that takes data, the field bound to it.

One row per observed variable, input, or latent with given values: the variable, a combo box
of the dataset's fields (each with its shape, the ones of the variable's shape marked), the
shape and values expected and found, and a thumbnail of a few examples. A row that does not
fit is tinted and says why (its tooltip, and the line under the table for the selected row);
the same words are in the Problems panel. Every choice is one undoable edit of the file's
``data`` section.
"""

from __future__ import annotations

import html

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from graphmodel import GraphModelError

from . import databinding as db
from .forms import combo, mark_invalid
from .thumbnails import HEIGHT, WIDTH, sketch, thumbnail

COLUMNS = ("variable", "field", "expected / found", "examples")
BAD = QColor("#fff4e5")
BAD_TEXT = QColor("#b45309")
GOOD_TEXT = QColor("#2f7d32")
NONE = "(none)"


class BindingTable(QWidget):
    """The dataset's fields bound to the graph's variables, edited in place.

    Args:
        document: the editor's document (read on every change).
        ops: its :class:`~editor.ops.EditOps` (every choice is one edit).

    Signals are those of a widget; a refused choice is shown by ``message`` of ``ops``' owner
    through :attr:`on_message` (the main window passes its ``refused``).
    """

    def __init__(self, document, ops, parent=None):
        super().__init__(parent)
        self.document, self.ops = document, ops
        self.on_message = lambda text: None
        #: asks for a path for dataset ``name`` (a folder for image_folder); None: cancelled
        self.choose_path = _ask_path
        self.rows: list[db.BindRow] = []
        self.general: str | None = None
        self._key = None
        self.loading = False
        self.table = _table()
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.note = QLabel()
        self.note.setWordWrap(True)
        #: each row's *Fit* button (where changing the variable makes its field fit), by variable
        self.fits: dict[str, QPushButton] = {}
        box = QVBoxLayout(self)
        box.setContentsMargins(6, 4, 6, 4)
        box.addLayout(self._dataset_row())
        box.addLayout(self._options_row())
        box.addWidget(self.table, 1)
        box.addWidget(self.note)
        document.changed.connect(self.refresh)
        self.refresh()

    def _dataset_row(self) -> QHBoxLayout:
        from inference.data import DATASETS

        self.dataset = combo([(None, NONE)] + DATASETS.names())
        self.dataset.setToolTip("the dataset to train on; choosing one binds the variables its fields fit")
        self.dataset.activated.connect(lambda _i: self._choose_dataset(self.dataset.currentData()))
        self.summary = QLabel()
        self.summary.setStyleSheet("color: #6b7280;")
        row = QHBoxLayout()
        row.addWidget(QLabel("dataset"))
        row.addWidget(self.dataset, 1)
        row.addWidget(self.summary)
        return row

    def _options_row(self) -> QHBoxLayout:
        self.options = QLineEdit()
        self.options.setToolTip("the dataset's options, name: value (a file's path, a size, …)")
        self.options.editingFinished.connect(lambda: None if self.loading else self._set_options())
        self.browse = QPushButton("Choose…")
        self.browse.setToolTip("choose the file (or folder) the dataset reads")
        self.browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(QLabel("options"))
        row.addWidget(self.options, 1)
        row.addWidget(self.browse)
        return row

    # --- reading the document ---------------------------------------------------------

    def refresh(self) -> None:
        """Show the document's binding (rebuilt only when the data section or the variables
        that take data changed)."""
        g = self.document.graph
        watched = tuple((n, repr(g.variables[n])) for n in db._rows_of(g))
        plates = tuple(repr(p) for p in g.plates.values())
        key = (db._key(g.data), repr(g.data), watched, plates, len(g.problems()) == 0)
        if key == self._key:
            return
        self._key = key
        self.loading = True
        try:
            self.dataset.setCurrentIndex(max(0, self.dataset.findData(g.data.get("dataset"))))
            self._show_options(g.data)
            self.rows, self.general = db.binding_rows(g)
            self._fill(g)
        finally:
            self.loading = False
        self._show_selected()

    def _fields(self) -> dict:
        try:
            return db._fields(self.document.graph.data) if self.document.graph.data.get("dataset") else {}
        except GraphModelError:
            return {}

    def _fill(self, g) -> None:
        fields = self._fields()
        n = next((len(x) for x in fields.values() if hasattr(x, "__len__")), 0)
        self.summary.setText(f"{n:,} examples · {len(fields)} fields" if fields else "")
        self.table.setRowCount(len(self.rows))
        values = {r.variable: r.values for r in self.rows}
        for k, row in enumerate(self.rows):
            self._fill_row(g, k, row, fields, values)

    def _fill_row(self, g, k: int, row: db.BindRow, fields: dict, values: dict) -> None:
        tip = row.problem or (f"'{row.variable}' takes its values from {row.field}"
                              + (" (the field has its name)" if row.by_name else "") if row.field else
                              f"the sequences of {row.variable} all run {g.plates[row.variable].size} steps"
                              if row.role == "lengths" else "no field yet")
        name = QTableWidgetItem(f"{row.variable} lengths" if row.role == "lengths" else row.variable)
        name.setToolTip(f"{row.variable}: {row.role}\n{tip}")
        if row.problem:
            name.setBackground(QBrush(BAD))
        self.table.setItem(k, 0, name)
        mark, colour = ("⚠ ", BAD_TEXT) if row.problem else ("✓ ", GOOD_TEXT) if row.field else ("", BAD_TEXT)
        shapes = QLabel(f"<span style='color:#374151'>{html.escape(row.expected)}</span><br>"
                        f"<span style='color:{colour.name()}'>{mark}{html.escape(row.found or 'no field')}</span>")
        shapes.setToolTip(f"expected {row.expected}\nfound {row.found or 'nothing (no field)'}\n{tip}")
        shapes.setContentsMargins(4, 0, 4, 0)
        if row.problem:
            shapes.setStyleSheet(f"background: {BAD.name()};")
        self.table.setCellWidget(k, 2, self._with_fit(g, row, shapes))
        self.table.setCellWidget(k, 1, self._field_box(g, row, fields))
        picture = QLabel()
        picture.setToolTip(tip)
        drawn = sketch(g, row.variable, row.values, values) if row.values is not None else None
        if drawn is not None:
            picture.setPixmap(thumbnail(*drawn))
        self.table.setCellWidget(k, COLUMNS.index("examples"), picture)

    def _with_fit(self, g, row: db.BindRow, shapes: QLabel) -> QWidget:
        """The row's shapes, with a *Fit* button where changing the variable (its shape and
        values, and a family that cannot score them) makes the bound field fit it."""
        fit = row.fit
        self.fits.pop(row.variable, None)
        if fit is None:
            return shapes
        becomes = db.fit_text(g, row.variable, fit[0])
        button = QPushButton("Fit")
        families = ", ".join(f"{f.model}({f.label}) {f.family}" for _, f in fit[1])
        button.setToolTip(f"make {becomes} so that {row.field} fits it"
                          + (f"; its factors become {families}" if families else "") + " (one undoable edit)")
        button.clicked.connect(lambda _c=False, n=row.variable, f=fit: self.ops.fit_variable(n, *f))
        self.fits[row.variable] = button
        cell = QWidget()
        cell.setStyleSheet(f"background: {BAD.name()};")
        line = QHBoxLayout(cell)
        line.setContentsMargins(0, 0, 4, 0)
        line.addWidget(shapes, 1)
        line.addWidget(button)
        return cell

    def _field_box(self, g, row: db.BindRow, fields: dict):
        lengths = row.role == "lengths"
        v = None if lengths else g.variables[row.variable]
        want = () if lengths else tuple(v.shape) if not v.plate else None
        items = [(None, "(none: full length)" if lengths else NONE)]
        for f, x in fields.items():
            fits = want is not None and tuple(x.shape[1:]) == want and (not lengths or not x.is_floating_point())
            items.append((f, f"{f} {db._describe(x)}" + ("  ✓" if fits else "")))
        if row.field is not None and row.field not in fields:
            items.append((row.field, f"{row.field} (missing)"))
        box = combo(items, row.field)
        box.setEnabled(bool(fields))
        box.setToolTip(f"the field of {g.data.get('dataset') or 'the dataset'} that gives "
                       + (f"the lengths of {row.variable}'s sequences" if lengths else f"'{row.variable}'"))
        box.activated.connect(lambda _i, r=row, b=box: self._bind(r, b.currentData()))
        return box

    def _show_selected(self) -> None:
        k = self.table.currentRow()
        row = self.rows[k] if 0 <= k < len(self.rows) else None
        text = self.general or (row.problem if row is not None else None) or next(
            (r.problem for r in self.rows if r.problem), None)
        if text:
            self.note.setStyleSheet(f"color: {BAD_TEXT.name()};")
            self.note.setText("⚠ " + text)
        elif self.rows:
            self.note.setStyleSheet(f"color: {GOOD_TEXT.name()};")
            self.note.setText("✓ Every variable has data that fits.")
        else:
            self.note.setStyleSheet("color: #6b7280;")
            self.note.setText("No variable takes data: add an observed variable or an input.")

    def select(self, variable: str) -> bool:
        """Select the row of ``variable`` (a data problem was clicked)."""
        k = next((k for k, r in enumerate(self.rows) if r.variable == variable), None)
        if k is not None:
            self.table.selectRow(k)
        return k is not None

    # --- edits ------------------------------------------------------------------------

    def _choose_dataset(self, name) -> None:
        if self.loading:
            return
        data = {k: v for k, v in self.document.graph.data.items() if k not in ("dataset", "options")}
        if name:
            data = db.choose_dataset(self.document.graph, {**data, "dataset": name})
        self._apply(data, f"Data: dataset {name or 'none'}")

    def _show_options(self, data: dict) -> None:
        from .trainpanel import format_pairs

        params = _loader_options(data.get("dataset"))
        self.options.setText(format_pairs(data.get("options") or {}))
        self.options.setPlaceholderText(", ".join(f"{k}: {v!r}" if v != "" else f"{k}: …"
                                                  for k, v in params.items()) or "no options")
        self.options.setEnabled(bool(params))
        self.browse.setVisible("path" in params)

    def _set_options(self, options: dict | None = None) -> None:
        """Apply the options typed (or ``options``); a refusal stays in the field, marked."""
        from .trainpanel import parse_pairs

        g = self.document.graph
        try:
            if options is None:
                options = {k: _value(v) for k, v in parse_pairs(self.options.text(), "data.options").items()}
            data = {k: v for k, v in g.data.items() if k != "options"} | ({"options": options} if options else {})
            if data == g.data:
                return
            if data.get("dataset"):
                from inference.data import check_dataset_options

                check_dataset_options(data["dataset"], options or {})
                data = db.choose_dataset(g, data)
            self.ops.set_section("data", data, "Data: options")
        except GraphModelError as e:
            self.on_message(str(e))
            mark_invalid(self.options, str(e))

    def _browse(self) -> None:
        name = self.document.graph.data.get("dataset")
        path = self.choose_path(name)
        if path:
            self._set_options({**(self.document.graph.data.get("options") or {}), "path": str(path)})

    def _bind(self, row: db.BindRow, field) -> None:
        if self.loading:
            return
        g, name = self.document.graph, row.variable
        if row.role == "lengths":
            self._apply(db.bind_lengths(g, name, field), f"Data: lengths of {name} from {field or 'none'}")
        else:
            self._apply(db.bind_field(g, name, field), f"Data: bind {name} to {field}" if field else
                        f"Data: unbind {name}")

    def _apply(self, data: dict, text: str) -> None:
        try:
            self.ops.set_section("data", data, text)
        except GraphModelError as e:
            self.on_message(str(e))
            self._key = None
            self.refresh()


def _table() -> QTableWidget:
    table = QTableWidget(0, len(COLUMNS))
    table.setHorizontalHeaderLabels(list(COLUMNS))
    table.verticalHeader().setVisible(False)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setWordWrap(False)
    table.verticalHeader().setDefaultSectionSize(HEIGHT + 6)
    header = table.horizontalHeader()
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    # the thumbnails stay in view however narrow the panel: the shapes give way (their
    # tooltip has them whole), and a long field name is elided in its combo box
    header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
    header.resizeSection(1, 124)
    header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
    header.setSectionResizeMode(3, QHeaderView.ResizeMode.Fixed)
    header.resizeSection(3, WIDTH + 6)
    return table


def _loader_options(name) -> dict:
    """The options dataset ``name``'s loader takes, with their defaults (``path``: "")."""
    import inspect

    from inference.data import DATASETS

    if not name or name not in DATASETS.names():
        return {}
    params = inspect.signature(DATASETS.get(name)).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty and p.name != "split"}


def _value(text: str):
    """An option's value: a number, true/false or a list as JSON, anything else the text itself."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _ask_path(name: str):
    from PyQt6.QtWidgets import QFileDialog

    if name == "image_folder":
        return QFileDialog.getExistingDirectory(None, "The folder of images") or None
    suffix = {"npz": "NumPy archives (*.npz)", "npy": "NumPy arrays (*.npy)"}.get(name, "All files (*)")
    return QFileDialog.getOpenFileName(None, f"The {name} file", "", suffix)[0] or None


def install(window) -> BindingTable:
    """Add the Data panel to ``window`` (a tab beside Formulas): choosing a dataset in the
    training panel shows it, and a data problem clicked in the Problems panel shows its row."""
    table = BindingTable(window.document, window.ops)
    table.on_message = window.refused
    dock = window._dock("data", "Data", table, Qt.DockWidgetArea.BottomDockWidgetArea)
    window.tabifyDockWidget(window.docks["formulas"], dock)  # (wide enough for the table; the
    window.docks["formulas"].raise_()  # formulas wait behind it while data is bound)

    def chosen(_i) -> None:
        # show the binding, unless the Data panel shares a tab row with the training panel
        # (a small window): the dataset is chosen there, and Start is what comes next
        training = window.docks.get("training")
        if training is None or dock not in window.tabifiedDockWidgets(training):
            dock.raise_()

    window.train.dataset.activated.connect(chosen)

    def show(variable) -> None:
        dock.raise_()
        table.select(variable)

    window.problems.data_activated.connect(show)
    return table
