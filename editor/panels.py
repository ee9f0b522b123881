"""Live panels beside the canvas: the formulas (factorizations and the derived objective)
and the problems of the graph. Both redraw from ``document.graph`` on every edit."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QFont, QGuiApplication, QPixmap
from PyQt6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from graphmodel.render.abridge import abridge

from . import style
from .mathrender import MathRenderer, wrap_tex

#: formulas longer than this (characters) are shown abridged: ``z₀, z₁, z₂, …, z₁₉₉₉``
LONG = 1500
#: a typeset formula that would be shrunk below WRAP to fit the panel's width is wrapped onto
#: more lines instead; one that cannot be wrapped enough is shrunk, at most to SHRINK
WRAP, SHRINK = 0.85, 0.6
#: the most lines a formula is wrapped onto
MAX_LINES = 6

#: the colour of what stops training on the data or the objective
WARN = QColor("#b45309")
#: where a data problem's item keeps its variable
DATA_ROLE = Qt.ItemDataRole.UserRole + 1

KIND_TITLES = {"generative": "generative model", "inference": "inference model", "auxiliary": "auxiliary model"}


def objective_of(graph) -> tuple[str, str, str | None]:
    """``(unicode, latex, None)`` of the derived objective, or ``("", "", reason)``."""
    loss, reason = derived(graph)
    return ("", "", reason) if reason else (str(loss), loss.latex(), None)


def derived(graph):
    """``(objective, None)``, or ``(None, reason)`` when it cannot be derived yet."""
    from .advice import derive_once

    return derive_once(graph)


def objective_rows(loss) -> list[tuple[str, str, str]]:
    """``(title, unicode, latex)`` per formula the objective shows: one for a single
    objective, one per player for a game (each player's loss, in the order they update)."""
    players = getattr(loss, "players", None)
    if not players:
        return [("objective (maximized)", str(loss), loss.latex())]
    rows = []
    for p in players:
        steps = f", {p.steps} updates a step" if getattr(p, "steps", 1) > 1 else ""
        rows.append((f"{p.name} minimizes{steps}", str(p.loss), p.loss.latex()))
    return rows


class FormulaLabel(QLabel):
    """One formula: Unicode text at once, the typeset picture when it is ready."""

    def __init__(self, renderer: MathRenderer, parent=None):
        super().__init__(parent)
        self.renderer = renderer
        self.tex = ""
        self.shown = ""  # the LaTeX of the picture shown: ``tex``, or it on ``lines`` lines
        self.lines = 1
        self.png: bytes | None = None
        self.available = 10_000.0  # the width the panel offers; wider pictures are shrunk to it
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setWordWrap(True)
        f = QFont("DejaVu Serif")
        f.setPointSizeF(11)
        self.setFont(f)
        renderer.rendered.connect(self._ready)

    def show_formula(self, text: str, tex: str) -> None:
        if len(tex) > LONG or len(text) > LONG:
            # thousands of terms: typesetting all of them would take minutes, and no one reads them
            text, tex = abridge(text), abridge(tex, latex=True)
        self.tex = self.shown = tex
        self.lines, self.png = 1, None
        self.setToolTip(text)
        png = self.renderer.request(tex) if tex else None
        if png:
            self._show_png(png)
        else:
            self.png = None
            self.setPixmap(QPixmap())
            self.setMinimumHeight(0)
            self.setWordWrap(True)
            self.setText(text)

    def _ready(self, tex: str, png: bytes) -> None:
        if tex == self.shown:
            self._show_png(png)

    def set_available(self, width: float) -> None:
        if abs(width - self.available) > 2:
            self.available = width
            if self.png and self.lines > 1:  # (wider now: perhaps on fewer lines)
                self.shown, self.lines = self.tex, 1
                png = self.renderer.request(self.tex)
                self.png = png or self.png
            if self.png:
                self._show_png(self.png)

    def _wrap(self, natural: float) -> bool:
        """Ask for the formula on more lines when even shrunk it is wider than the panel;
        True if that picture is on its way (the one shown stays until it comes)."""
        if natural * WRAP <= self.available or self.lines >= MAX_LINES:
            return False
        self.lines += 1
        wrapped = wrap_tex(self.tex, self.lines)
        if wrapped == self.shown:  # (no more places to break it)
            return False
        self.shown = wrapped
        png = self.renderer.request(wrapped)
        if png:
            self._show_png(png)
        return True

    def _show_png(self, png: bytes) -> None:
        pm = QPixmap()
        pm.loadFromData(png, "PNG")
        natural = pm.width() / self.renderer.scale
        if self._wrap(natural) and self.png is not None:
            return
        self.png = png
        shrink = min(1.0, max(SHRINK, self.available / natural)) if natural > 0 else 1.0
        pm.setDevicePixelRatio(self.renderer.scale / shrink)
        # a word-wrapped label asks heightForWidth, which is 0 for a picture
        self.setWordWrap(False)
        self.setMinimumHeight(int(pm.height() / pm.devicePixelRatio()) + 2)
        self.setPixmap(pm)


class FormulaPanel(QWidget):
    """Each model's factorization and the objective the engine derives, updated live: a game
    shows each player's loss on a line of its own. The formulas scroll; the Copy LaTeX button
    stays in view below them."""

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        ratio = QGuiApplication.primaryScreen().devicePixelRatio() if QGuiApplication.primaryScreen() else 1.0
        self.renderer = MathRenderer(scale=max(1.0, ratio) * 1.25, parent=self, colour=style.INK.name())
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget()
        self.box = QVBoxLayout(body)
        self.box.setContentsMargins(10, 8, 10, 8)
        self.box.setSpacing(4)
        self.scroll.setWidget(body)
        self.rows: list[tuple[QLabel, FormulaLabel]] = []
        self.objective_rows: list[tuple[QLabel, FormulaLabel]] = []
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet("color: #b45309;")
        self.box.addWidget(self.reason)
        self.box.addStretch(1)
        self._key = None
        self.latex: list[str] = []
        self.texts: list[str] = []
        document.changed.connect(self.refresh)
        self.refresh()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.scroll, 1)
        outer.addWidget(self._formula_editor())  # (after refresh: its preview replaces the objective shown)
        outer.addLayout(self._buttons())

    def _formula_editor(self):
        """The field that edits a formula objective (:mod:`editor.formulaedit`)."""
        from .formulaedit import FormulaEditor

        self.editor = FormulaEditor(self.document)
        self.editor.previewed.connect(self._preview)
        self._follow = False
        self.scroll.verticalScrollBar().rangeChanged.connect(self._keep_in_view)
        return self.editor

    def _buttons(self) -> QHBoxLayout:
        """Edit as formula / Derive on the left, Copy LaTeX on the right: always in view."""
        self.copy_button = QPushButton("Copy LaTeX")
        self.copy_button.setToolTip("Copy every formula as LaTeX")
        self.copy_button.clicked.connect(self.copy_latex)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(10, 2, 10, 6)
        buttons.addWidget(self.editor.to_formula)
        buttons.addWidget(self.editor.to_derived)
        buttons.addStretch(1)
        buttons.addWidget(self.copy_button)
        return buttons

    @property
    def objective(self) -> FormulaLabel:
        """The first formula of the objective (the only one unless it is a game)."""
        return self.objective_rows[0][1]

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _width(self) -> float:
        # (the scroll bar's room is kept: one appearing must not push a formula out of view)
        return self.scroll.width() - self.scroll.verticalScrollBar().sizeHint().width() - 26

    def _fit(self) -> None:
        for _, label in self.rows + self.objective_rows:
            label.set_available(self._width())

    def _title(self, text: str) -> QLabel:
        label = QLabel(text.upper())
        label.setStyleSheet("color: #6b7280; font-size: 8pt; font-weight: bold; letter-spacing: 1px;")
        return label

    def _grow(self, rows: list, n: int, at) -> None:
        """Make ``rows`` at least ``n`` long, new rows inserted at index ``at(k)`` of the box."""
        while len(rows) < n:
            title, formula = self._title(""), FormulaLabel(self.renderer)
            formula.set_available(self._width())
            k = at(len(rows))
            self.box.insertWidget(k, title)
            self.box.insertWidget(k + 1, formula)
            rows.append((title, formula))

    def refresh(self) -> None:
        g = self.document.graph
        key = (id(g), g.revision, repr(g.objective))
        if key == self._key:
            return
        self._key = key
        models = list(g.models)
        self._grow(self.rows, len(models), lambda k: 2 * k)
        self.texts, self.latex = [], []
        for k, (title, formula) in enumerate(self.rows):
            visible = k < len(models)
            title.setVisible(visible)
            formula.setVisible(visible)
            if not visible:
                continue
            m = models[k]
            kind = g.models[m]
            colour = style.MODEL_COLOURS[kind].name()
            title.setText(f"<span style='color:{colour}'>{KIND_TITLES[kind].upper()} {m}</span>")
            view = g.model(m)
            text, tex = str(view), view.latex()
            formula.show_formula(text, tex)
            self.texts.append(text)
            self.latex.append(tex)
        self._models = (self.texts, self.latex)
        self.show_objective(*derived(g))

    def show_objective(self, loss, reason: str | None, preview: bool = False) -> None:
        """Show ``loss`` (a derived objective) under the models, or why there is none;
        ``preview``: a formula typed but not applied yet."""
        shown = objective_rows(loss) if loss is not None else []
        self._grow(self.objective_rows, max(1, len(shown)), lambda k: 2 * (len(self.rows) + k))
        self.texts, self.latex = list(self._models[0]), list(self._models[1])
        for k, (title, formula) in enumerate(self.objective_rows):
            visible = k < len(shown)
            title.setVisible(visible)
            formula.setVisible(visible)
            if visible:
                title.setText(shown[k][0].upper() + (" · PREVIEW, ENTER APPLIES" if preview else ""))
                formula.show_formula(shown[k][1], shown[k][2])
                self.latex.append(shown[k][2] if len(shown) == 1 else f"% {shown[k][0]}\n{shown[k][2]}")
        self.reason.setVisible(bool(reason))
        self.reason.setText(reason or "")
        self.objective_text = str(loss) if loss is not None else ""
        self.objective_reason = reason
        if loss is not None:
            self.texts.append(self.objective_text)

    def _preview(self, loss) -> None:
        if loss is not None:
            self.show_objective(loss, None, preview=True)
            self._follow = True
            self._keep_in_view()
        else:  # the file's objective again
            self._follow = False
            self.show_objective(*derived(self.document.graph))

    def _keep_in_view(self, *_range) -> None:
        """Scroll to the previewed objective (again when its picture, typeset meanwhile, has
        changed the panel's height)."""
        if self._follow:  # (down only: the formula's start stays in view, left)
            formula = self.objective_rows[-1][1]
            bar = self.scroll.verticalScrollBar()
            bar.setValue(max(bar.value(), formula.geometry().bottom() - self.scroll.viewport().height() + 6))

    def set_ink(self, colour: str) -> None:
        """Typeset every formula in ``colour`` (the theme's text colour) from now on."""
        if colour != self.renderer.colour:
            self.renderer.set_colour(colour)
            self._key = None  # (the titles take the scheme's model colours too)
            self.refresh()

    def copy_latex(self) -> None:
        QApplication.clipboard().setText("\n".join(self.latex))


class ProblemsPanel(QListWidget):
    """Every validation problem, then what stops training on the data, then the warnings
    (:mod:`editor.advice`); activating one selects the variable or factor it names.

    Attributes:
        sources: callables returning more ``(key, text)`` warnings (the main window adds
            the note of a run that trains the graph as it was at Start).

    Signals:
        problem_activated(key): ``("factor", i)`` or ``("variable", name)``.
        data_activated(variable): a data problem about ``variable`` (or None) was activated.
    """

    problem_activated = pyqtSignal(object)
    data_activated = pyqtSignal(object)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.setWordWrap(True)
        self.setAlternatingRowColors(False)
        self.itemClicked.connect(self._activate)
        self.itemActivated.connect(self._activate)
        self.problems: list = []
        self.warnings: list = []
        self.sources: list = []
        document.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        from .advice import graph_warnings
        from .databinding import data_problems

        g = self.document.graph
        self.problems = g.problems()
        self.clear()
        for p in self.problems:
            key = ("factor", p.factor) if p.factor is not None and p.factor < len(g.factors) else \
                ("variable", p.variable) if p.variable in g.variables else None
            self._add("⚠  " + p.message, key, style.PROBLEM.darker(120))
        if not self.problems:
            for variable, message in data_problems(g):
                item = self._add("⚠  data: " + message, ("variable", variable) if variable in g.variables else None)
                item.setData(DATA_ROLE, variable or "")
        reason = objective_of(g)[2] if not self.problems and g.factors else None
        if reason:  # a sound graph whose objective cannot be derived yet: say why here too
            self._add("⚠  objective: " + reason, None)
        self.warnings = graph_warnings(g, derivable=reason is None) + [w for source in self.sources for w in source()]
        if not self.count():
            more = f" ({len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''} below)" \
                if self.warnings else ""
            item = QListWidgetItem(f"✓  No problems: the graph is valid{more}.")
            item.setForeground(QBrush(QColor("#2f7d32")))
            item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.addItem(item)
        for key, text in self.warnings:
            self._add("△  warning: " + text, key, QColor("#8a6d1d"))

    def _add(self, text: str, key, colour: QColor = WARN) -> QListWidgetItem:
        item = QListWidgetItem(text)
        item.setForeground(QBrush(colour))
        item.setToolTip(text)
        item.setData(Qt.ItemDataRole.UserRole, key)
        self.addItem(item)
        return item

    def _activate(self, item: QListWidgetItem) -> None:
        key = item.data(Qt.ItemDataRole.UserRole)
        if key is not None:
            self.problem_activated.emit(tuple(key))
        variable = item.data(DATA_ROLE)
        if variable is not None:
            self.data_activated.emit(variable or None)
