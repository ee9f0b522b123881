"""Small form helpers shared by the inspector pages: parsing what a user types, and a
base page that reloads from the document without echoing its own edits."""

from __future__ import annotations

import json
import re

from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QLineEdit, QSpinBox, QWidget

from graphmodel import GraphModelError
from graphmodel.options import Option

from .document import Refused


def parse_shape(text: str) -> tuple[int, ...]:
    """``"64"`` → (64,), ``"1, 28, 28"`` or ``"1x28x28"`` → (1, 28, 28), ``""`` or ``"()"`` → ().

    Raises:
        Refused: anything else, such as ``2,x`` or ``-3`` (the message says what was expected).
    """
    body = text.strip().strip("()[]").strip()
    if not body:
        return ()
    parts = [p.strip() for p in re.split(r"[,×]|(?<=\d)\s*x\s*(?=\d)", body)]
    if parts and not parts[-1] and len(parts) > 1:
        parts.pop()  # a trailing comma, as in (64,)
    if not all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
        bad = next(p for p in parts if not re.fullmatch(r"[+-]?\d+", p))
        raise Refused(f"shape: expected positive integers such as 64 or 1, 28, 28, found {text!r}"
                      + (f" ({bad!r} is not a number)" if bad else " (an empty dimension)"))
    dims = tuple(int(p) for p in parts)
    if any(d <= 0 for d in dims):
        raise Refused(f"shape: every dimension must be a positive integer, found {text!r}")
    return dims


def format_shape(shape) -> str:
    return ", ".join(map(str, shape))


def parse_value(text: str, key: str):
    """A number or a nested list of numbers, as JSON (``0``, ``1.5``, ``[0, 1]``)."""
    try:
        v = json.loads(text)
    except json.JSONDecodeError:
        raise Refused(f"{key}: expected a number or a list of numbers, found {text!r}") from None
    if isinstance(v, bool) or not isinstance(v, (int, float, list)):
        raise Refused(f"{key}: expected a number or a list of numbers, found {text!r}")
    return float(v) if isinstance(v, int) else v


def parse_number(text: str, key: str) -> float:
    """One number (``0.001``, ``1e-3``); a list or a word is refused, naming ``key``."""
    try:
        v = json.loads(text)
    except json.JSONDecodeError:
        v = None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise Refused(f"{key}: expected a number such as 0.001, found {text.strip()!r}")
    return float(v)


def format_value(v) -> str:
    return json.dumps(v)


#: how a field that refused what was typed looks until it is edited again
INVALID_STYLE = "border: 1px solid #dc2626; background: #fff4f4;"


def mark_invalid(widget: QWidget, message: str) -> None:
    """Show in ``widget`` that it refused what was typed: a red frame, and the message as its
    tooltip, until its text changes (typed again, or the document's value shown)."""
    if widget.property("valid_tip") is None:
        widget.setProperty("valid_tip", widget.toolTip())
        widget.setProperty("valid_style", widget.styleSheet())
        if isinstance(widget, QLineEdit):
            widget.textChanged.connect(lambda _t, w=widget: clear_invalid(w))
    widget.setStyleSheet(INVALID_STYLE)
    widget.setToolTip(message)


def clear_invalid(widget: QWidget) -> None:
    """Undo :func:`mark_invalid`."""
    if widget.property("valid_tip") is not None and widget.styleSheet() == INVALID_STYLE:
        widget.setStyleSheet(widget.property("valid_style") or "")
        widget.setToolTip(widget.property("valid_tip"))


def is_invalid(widget: QWidget) -> bool:
    return widget.styleSheet() == INVALID_STYLE


def combo(items, current=None) -> QComboBox:
    box = QComboBox()
    for it in items:
        if isinstance(it, tuple):
            box.addItem(it[1], it[0])
        else:
            box.addItem(str(it), it)
    if current is not None:
        k = box.findData(current)
        box.setCurrentIndex(max(0, k))
    return box


def section(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setStyleSheet("color: #6b7280; font-size: 8pt; font-weight: bold; letter-spacing: 1px; "
                        "padding-top: 8px;")
    return label


#: a spin box's bound where an option declares none (the file loader's own limit on widths)
SPIN_LIMIT = 2**24


def option_widget(page: Page, option: Option, value, commit) -> QWidget:
    """The widget that edits one typed option, from its declaration alone.

    Choices get a combo box, a bool a check box, an int (not nullable) a spin box within its
    bounds, anything else (lists, strings, floats, nullable values) a text field whose text
    :func:`option_value` parses and the option checks. ``commit()`` runs when the user has
    finished an edit (Enter, focus out, a choice, a click); the help is the tooltip.
    """
    if option.choices is not None:
        w = combo([(c, str(c)) for c in option.choices], value)
        w.activated.connect(lambda _i: commit())
    elif option.kind == "bool":
        w = QCheckBox()
        w.setChecked(bool(value))
        w.toggled.connect(lambda _on: _later(commit))
    elif option.kind in ("int", "float") and not option.nullable:
        w = QSpinBox() if option.kind == "int" else QDoubleSpinBox()
        lo = option.minimum if option.minimum is not None else -SPIN_LIMIT
        hi = option.maximum if option.maximum is not None else SPIN_LIMIT
        w.setRange(int(lo), int(hi)) if option.kind == "int" else w.setRange(lo, hi)
        w.setValue(value)
        w.setKeyboardTracking(False)
        w.editingFinished.connect(lambda: _later(commit))
    else:
        text = "" if value is None else (", ".join(map(str, value)) if isinstance(value, list)
                                         else value if isinstance(value, str) else format_value(value))
        w = page.line(text, lambda _t: commit())
        if option.kind in ("ints", "floats"):
            w.setPlaceholderText("e.g. 128, 128" + ("" if option.nonempty else " (empty: none)"))
    w.setToolTip(option.describe())
    return w


def _later(commit) -> None:
    """Run ``commit`` once control is back in the event loop: the edit reloads the page, which
    deletes this widget, and a spin box or a check box still reads its own state after it emits
    (deleting it inside its own signal crashes)."""
    QTimer.singleShot(0, commit)


def option_value(option: Option, w: QWidget):
    """The value a widget of :func:`option_widget` holds, checked by the option.

    Raises:
        Refused: ``key: expected …, found …`` (the file loader's words) for a bad value.
    """
    if isinstance(w, QComboBox):
        value = w.currentData()
    elif isinstance(w, QCheckBox):
        value = w.isChecked()
    elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
        value = w.value()
    else:
        text = w.text().strip()
        value = None if not text and option.nullable else _parse_text(option, text)
    msg = option.check(value)
    if msg:
        raise Refused(f"{option.name}: {msg}")
    return value


def _parse_text(option: Option, text: str):
    if option.kind == "str":
        return text
    typed = text
    if option.kind in ("ints", "floats"):
        text = f"[{text.strip('[]()').replace(';', ',')}]"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return typed  # the option's check names what it expected and shows what was typed


class Page(QWidget):
    """An inspector page. ``run(fn)`` performs an edit and reports a refusal.

    Signals:
        message(text): a refusal or an error to show the user.
        select(key): ask the canvas to select another item.
    """

    message = pyqtSignal(str)
    select = pyqtSignal(object)

    def __init__(self, ops, parent=None):
        super().__init__(parent)
        self.ops = ops
        self.loading = False
        self.form = QFormLayout(self)
        self.form.setContentsMargins(8, 6, 8, 6)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

    def run(self, fn, *args, **kwargs):
        """Perform an edit; a refusal is reported, and shown in the text field being committed
        (which keeps what was typed), or the page shows the document's values again."""
        if self.loading:
            return None
        try:
            return fn(*args, **kwargs)
        except GraphModelError as e:
            self.refuse(str(e))
            return None

    def refuse(self, message: str) -> None:
        self.message.emit(message)
        field = getattr(self, "_committing", None)
        if field is not None:
            mark_invalid(field, message)
        else:
            self.reload()

    def reload(self) -> None:
        """Show the document's current values again (after a refused edit)."""

    def line(self, text: str, commit) -> QLineEdit:
        """A text field that calls ``commit(text)`` when editing is finished; what ``commit``
        refuses (parsing included) is shown in the field."""
        edit = QLineEdit(text)
        edit.editingFinished.connect(lambda: None if self.loading else self._commit(edit, commit))
        return edit

    def _commit(self, edit: QLineEdit, commit) -> None:
        self._committing = edit
        try:
            commit(edit.text())
        except GraphModelError as e:  # (a value parsed before the edit ran)
            self.refuse(str(e))
        finally:
            self._committing = None

    def clear_rows(self, first: int = 0) -> None:
        while self.form.rowCount() > first:
            self.form.removeRow(self.form.rowCount() - 1)
