"""The objective's formula, edited in the Formulas panel.

When the file's objective is a formula (``"objective": {"formula": …, "constants": …}``, see
:mod:`graphmodel.objective_syntax`), its text is a field under the typeset formulas. What the
user types is checked a moment after the last key (the same parse and compile that training
runs): an error underlines its column with a wavy line and says what is wrong on one line; a
valid formula is typeset at once as a preview. Enter (or leaving the field) applies it as one
undoable edit of the objective section, Esc puts back the file's formula. A derived objective
(an ``elbo``, ``iwae``, … kind, or none) becomes its formula with *Edit as formula*.
"""

from __future__ import annotations

import re

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QFontDatabase, QTextCharFormat, QTextCursor
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QTextEdit, QVBoxLayout, QWidget

from graphmodel import GraphModelError

from .document import Step

#: how long after the last key the formula is checked (ms)
DEBOUNCE_MS = 300
#: ``objective.formula: column 12: '**' is not allowed``
COLUMN = re.compile(r"^(?:[\w.\[\]]+: )?column (\d+): (.*)$")


def located(message: str) -> tuple[int | None, str]:
    """``(column, message)`` of an objective error (column 1-based; None when it names none),
    the message without the file's path: ``"column 12: '**' is not allowed"`` → ``(12, …)``."""
    line = message.split("\n")[0]
    m = COLUMN.match(line)
    if m:
        return int(m.group(1)), m.group(2)
    return None, re.sub(r"^objective(\.formula)?: |^objective\.", "", line)


def objective_section(formula: str, constants: dict) -> dict:
    """The objective section for a formula (constants only when there are some)."""
    return {"formula": formula, **({"constants": constants} if constants else {})}


class FormulaText(QPlainTextEdit):
    """The formula's text: one logical line that wraps; Enter applies, Esc reverts.

    Signals:
        committed: Enter, or the field lost focus.
        reverted: Esc.
    """

    committed = pyqtSignal()
    reverted = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        font.setPointSizeF(10)
        self.setFont(font)
        self.setTabChangesFocus(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        self.document().contentsChanged.connect(self._fit)
        self._fit()

    def text(self) -> str:
        return self.toPlainText().replace("\n", " ")

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.committed.emit()
        elif event.key() == Qt.Key.Key_Escape:
            self.reverted.emit()
        else:
            super().keyPressEvent(event)

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.committed.emit()

    def _fit(self) -> None:
        """As tall as its text, one to four lines."""
        lines = max(1, min(4, self.document().size().height() or 1))
        self.setFixedHeight(int(self.fontMetrics().lineSpacing() * lines + 12))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def mark(self, column: int | None) -> None:
        """Underline the character at ``column`` (1-based; past the end: the last one)."""
        if column is None or not self.toPlainText():
            self.setExtraSelections([])
            return
        sel = QTextEdit.ExtraSelection()
        fmt = QTextCharFormat()
        fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        fmt.setUnderlineColor(QColor("#dc2626"))
        fmt.setBackground(QColor("#fde2e2"))
        sel.format = fmt
        cursor = QTextCursor(self.document())
        at = max(0, min(column - 1, len(self.toPlainText()) - 1))
        cursor.setPosition(at)
        cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.KeepAnchor)
        sel.cursor = cursor
        self.setExtraSelections([sel])


class FormulaEditor(QWidget):
    """The objective's formula and constants as text, checked live, applied as one edit.

    Signals:
        previewed(objective): a valid formula typed but not applied yet (its derived
            objective), or None when the field shows the file's formula again.
    """

    previewed = pyqtSignal(object)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.column: int | None = None
        self.problem: str | None = None
        self.loading = False
        self.previewing = False
        self.text = FormulaText()
        self.text.setPlaceholderText("e.g. elbo(p, q) - alpha * kl(q, qx)")
        self.text.setToolTip("the objective as a formula (maximized): terms such as elbo(p, q), kl(q, p), "
                             "iwae(p, q, k=5), numbers and constants with + - * /; Enter applies, Esc reverts")
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #b91c1c;")
        self.timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS, timeout=self.check)
        self.text.textChanged.connect(self._typed)
        self.text.committed.connect(self.commit)
        self.text.reverted.connect(self.load)
        box = QVBoxLayout(self)
        box.setContentsMargins(10, 2, 10, 2)
        box.setSpacing(2)
        box.addWidget(self.text)
        box.addLayout(self._constants_row())
        box.addWidget(self.error)
        self.to_formula = QPushButton("Edit as formula")
        self.to_formula.clicked.connect(self.as_formula)
        self.to_derived = QPushButton("Derive")
        self.to_derived.setToolTip("drop the formula: the objective is derived from the graph again")
        self.to_derived.clicked.connect(self.derived)
        document.changed.connect(self.load)
        self.load()

    def _constants_row(self) -> QHBoxLayout:
        self.constants = QLineEdit()
        self.constants.setPlaceholderText("e.g. alpha: 1.0")
        self.constants.setToolTip("names the formula uses for numbers (or option values), e.g. alpha: 1.0")
        self.constants.textEdited.connect(lambda _t: self._typed())
        self.constants.editingFinished.connect(self.commit)
        self.hint = QLabel("Enter applies · Esc reverts")
        self.hint.setStyleSheet("color: #6b7280; font-size: 8pt;")
        label = QLabel("constants")
        label.setStyleSheet("color: #6b7280;")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(label)
        row.addWidget(self.constants, 1)
        row.addWidget(self.hint)
        return row

    # --- the document -----------------------------------------------------------------

    def _section(self) -> tuple[str, dict] | None:
        obj = self.document.graph.objective
        return (obj["formula"], dict(obj.get("constants") or {})) if "formula" in obj else None

    def load(self) -> None:
        """Show the file's formula (or, for a derived objective, the button that makes one)."""
        from .trainpanel import format_pairs

        shown = self._section()
        self.setVisible(shown is not None)
        self.to_derived.setVisible(shown is not None)
        self.to_formula.setVisible(shown is None)
        if shown is None:
            self._offer()
        self.loading = True
        try:
            text, constants = shown or ("", {})
            if self.text.text() != text:
                self.text.setPlainText(text)
            self.constants.setText(format_pairs(constants))
        finally:
            self.loading = False
        self.timer.stop()
        self._show(None, None)
        self._preview(None)
        if shown is not None:  # an edit of the graph may have broken the formula: show where
            self.check()

    def _preview(self, loss) -> None:
        """Tell the panel what to typeset (only when that changes: the panel derives again)."""
        if loss is not None or self.previewing:
            self.previewing = loss is not None
            self.previewed.emit(loss)

    def _offer(self) -> None:
        """Enable *Edit as formula* with the formula in its tooltip, or say why not."""
        from inference.objectives import formula_of

        g = self.document.graph
        try:
            text = formula_of(g) if g.variables else None
            why = None if text else "this objective has an option no formula can write (a Python object)"
        except GraphModelError as e:
            text, why = None, located(str(e))[1]
        if not g.variables:
            why = "add variables and factors first"
        self.to_formula.setEnabled(text is not None)
        self.to_formula.setToolTip(f"edit the objective as its formula: {text}" if text else
                                   f"no formula to edit: {why}")

    def as_formula(self) -> bool:
        """Replace a derived objective by its formula (one undoable edit) and edit it."""
        from inference.objectives import formula_of

        try:
            text = formula_of(self.document.graph)
        except GraphModelError:
            return False
        if not text:
            return False
        self.document.apply("Objective: as a formula", [Step("set_section", ("objective", {"formula": text}))])
        self.text.setFocus()
        return True

    def derived(self) -> None:
        """Drop the formula: the objective is derived from the graph (one undoable edit)."""
        self.document.apply("Objective: derived from the graph", [Step("set_section", ("objective", {}))])

    # --- typing -----------------------------------------------------------------------

    def _typed(self) -> None:
        if not self.loading:
            self.timer.start()

    def typed_section(self) -> dict:
        """The objective section the fields hold now.

        Raises:
            GraphModelError: the constants are no ``name: value`` list.
        """
        from .trainpanel import parse_pairs

        return objective_section(self.text.text().strip(),
                                 parse_pairs(self.constants.text(), "constants", numbers=True))

    def check(self):
        """Check what is typed; returns the derived objective, or None (the error is shown)."""
        from inference.objectives import derive

        self.timer.stop()
        try:
            obj = self.typed_section()
            loss = derive(self.document.graph, obj)
        except GraphModelError as e:
            self._show(*located(str(e)))
            return None
        self._show(None, None)
        self._preview(None if obj == self.document.graph.objective else loss)
        return loss

    def _show(self, column: int | None, problem: str | None) -> None:
        self.column, self.problem = column, problem
        self.text.mark(column)
        where = f"column {column}: " if column is not None else ""
        self.error.setText(f"⚠ {where}{problem}" if problem else "")
        self.error.setVisible(bool(problem))
        self.hint.setVisible(not problem and self._dirty())

    def _dirty(self) -> bool:
        shown = self._section()
        if shown is None:
            return False
        try:
            return self.typed_section() != objective_section(*shown)
        except GraphModelError:
            return True

    def commit(self) -> bool:
        """Apply what is typed as one undoable edit (a formula with an error is not applied:
        it stays in the field, underlined, with its message)."""
        if self.loading or self._section() is None or not self._dirty():
            return False
        if self.check() is None:
            return False
        self.document.apply("Objective: formula", [Step("set_section", ("objective", self.typed_section()))])
        return True

