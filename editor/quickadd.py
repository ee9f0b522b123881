"""Search-to-add at the cursor (Tab or Shift+A over the canvas), as node editors do.

A small popup with a search line over every palette entry: type a few letters, Enter (or a
double-click) adds the entry where the pointer was — a variable or plate at that point, a family
or network to the selected variable — and Escape closes it.
"""

from __future__ import annotations

from PyQt6.QtCore import QPoint, Qt, pyqtSignal
from PyQt6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout

from .palette import entries


class QuickAdd(QFrame):
    """The popup. Signals: ``chosen(kind, name)``."""

    chosen = pyqtSignal(str, str)

    def __init__(self, parent=None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 4, 4, 4)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Add… (type to search)")
        self.list = QListWidget()
        self.list.setMinimumSize(300, 260)
        box.addWidget(self.search)
        box.addWidget(self.list)
        self.rows = [(kind, name, label, f"{category}: {what.splitlines()[0] if what else ''}")
                     for category, rows in entries() for kind, name, label, what in rows]
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._take_current)
        self.list.itemActivated.connect(self._take)
        self.filter("")

    def filter(self, text: str) -> None:
        """Entries whose label, name or description holds every word typed; labels first."""
        words = text.lower().split()
        self.list.clear()
        scored = []
        for kind, name, label, what in self.rows:
            hay = f"{label} {name} {what}".lower()
            if all(w in hay for w in words):
                scored.append((0 if words and label.lower().startswith(words[0]) else 1, kind, name, label, what))
        for _, kind, name, label, what in sorted(scored, key=lambda r: r[0]):
            item = QListWidgetItem(f"{label}    — {what}")
            item.setData(Qt.ItemDataRole.UserRole, (kind, name))
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up):  # arrows move in the list while typing
            row = self.list.currentRow() + (1 if event.key() == Qt.Key.Key_Down else -1)
            self.list.setCurrentRow(max(0, min(self.list.count() - 1, row)))
            return
        super().keyPressEvent(event)

    def open_at(self, where: QPoint) -> None:
        self.search.clear()
        self.move(where)
        self.show()
        self.search.setFocus()

    def _take_current(self) -> None:
        if self.list.currentItem() is not None:
            self._take(self.list.currentItem())

    def _take(self, item: QListWidgetItem) -> None:
        kind, name = item.data(Qt.ItemDataRole.UserRole)
        self.hide()
        self.chosen.emit(kind, name)
