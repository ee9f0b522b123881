"""Small form helpers shared by the inspector pages: parsing what a user types, and a
base page that reloads from the document without echoing its own edits."""

from __future__ import annotations

import json

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QComboBox, QFormLayout, QLabel, QLineEdit, QWidget

from graphmodel import GraphModelError

from .document import Refused


def parse_shape(text: str) -> tuple[int, ...]:
    """``"64"`` → (64,), ``"1, 28, 28"`` → (1, 28, 28), ``""`` or ``"()"`` → ()."""
    body = text.strip().strip("()[]").strip()
    if not body:
        return ()
    try:
        dims = tuple(int(p) for p in body.replace("x", ",").replace("×", ",").split(",") if p.strip())
    except ValueError:
        raise Refused(f"shape: expected positive integers such as 64 or 1, 28, 28, found {text!r}") from None
    if any(d <= 0 for d in dims):
        raise Refused(f"shape: every dimension must be positive, found {text!r}")
    return dims


def format_shape(shape) -> str:
    return ", ".join(map(str, shape))


def parse_int_list(text: str, key: str) -> list[int]:
    """``"128, 128"`` → [128, 128]; ``""`` → []."""
    try:
        out = [int(p) for p in text.replace(";", ",").split(",") if p.strip()]
    except ValueError:
        raise Refused(f"{key}: expected a list of positive integers such as 128, 128, found {text!r}") from None
    if any(v <= 0 for v in out):
        raise Refused(f"{key}: expected positive integers, found {text!r}")
    return out


def parse_value(text: str, key: str):
    """A number or a nested list of numbers, as JSON (``0``, ``1.5``, ``[0, 1]``)."""
    try:
        v = json.loads(text)
    except json.JSONDecodeError:
        raise Refused(f"{key}: expected a number or a list of numbers, found {text!r}") from None
    if isinstance(v, bool) or not isinstance(v, (int, float, list)):
        raise Refused(f"{key}: expected a number or a list of numbers, found {text!r}")
    return float(v) if isinstance(v, int) else v


def format_value(v) -> str:
    return json.dumps(v)


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
        if self.loading:
            return None
        try:
            return fn(*args, **kwargs)
        except GraphModelError as e:
            self.message.emit(str(e))
            self.reload()
            return None

    def reload(self) -> None:
        """Show the document's current values again (after a refused edit)."""

    def line(self, text: str, commit) -> QLineEdit:
        edit = QLineEdit(text)
        edit.editingFinished.connect(lambda: None if self.loading else commit(edit.text()))
        return edit

    def clear_rows(self, first: int = 0) -> None:
        while self.form.rowCount() > first:
            self.form.removeRow(self.form.rowCount() - 1)
