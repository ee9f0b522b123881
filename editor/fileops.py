"""File actions of the main window: new, open, save, save as, recent files, the prompt
before losing changes, recovery after a crash, and export to a Python script.

Dialogs go through three hooks of the window — ``ask``, ``notify`` and ``choose_path`` —
so tests (and screenshots) answer them without a modal dialog.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import QMessageBox

import graphmodel as gm

from . import files
from .export import export_script

JSON_FILTER = "Graph files (*.json);;All files (*)"


class FileController:
    """Owns the document's file: its path, recent files and the autosave."""

    def __init__(self, window, document, state_dir: Path | None = None):
        self.window = window
        self.document = document
        self.state_dir = state_dir or files.state_dir()
        self.recent = files.RecentFiles(files.settings(self.state_dir))
        self.autosave = files.Autosave(document, self.state_dir, parent=window)

    # --- prompts ----------------------------------------------------------------------

    def maybe_keep_changes(self) -> bool:
        """True when it is fine to replace the document (saved, discarded, or clean)."""
        if not self.document.dirty:
            return True
        choice = self.window.ask(
            "Unsaved changes", f"Save the changes to {self.document.title} first?",
            ("save", "discard", "cancel"))
        if choice == "save":
            return self.save()
        return choice == "discard"

    # --- actions ----------------------------------------------------------------------

    def new(self) -> bool:
        if not self.maybe_keep_changes():
            return False
        self.document.replace(gm.Graph("untitled"))
        return True

    def open(self, path=None) -> bool:
        """Open a graph file; a broken file is reported and the document stays as it was."""
        if not self.maybe_keep_changes():
            return False
        path = path or self.window.choose_path(False, "Open graph", JSON_FILTER)
        if not path:
            return False
        try:
            graph = gm.load(path, validate=False)
        except gm.GraphModelError as e:
            msg = str(e)
            self.window.notify("Cannot open the file", msg if msg.startswith(str(path)) else f"{path}: {msg}")
            return False
        self.document.replace(graph, path)
        self.recent.add(path)
        self.window.refresh_recent()
        return True

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        return self._write(self.document.path)

    def save_as(self, path=None) -> bool:
        default = str(self.document.path or f"{self.document.graph.name}.json")
        path = path or self.window.choose_path(True, "Save graph as", JSON_FILTER, default)
        if not path:
            return False
        if not str(path).endswith(".json"):
            path = f"{path}.json"
        return self._write(Path(path))

    def _write(self, path) -> bool:
        try:
            gm.save(self.document.graph, path)
        except (gm.GraphModelError, OSError) as e:
            self.window.notify("Cannot save", f"{path}: {e}")
            return False
        self.document.mark_saved(path)
        self.recent.add(path)
        self.window.refresh_recent()
        self.window.status(f"saved {path}")
        return True

    def export(self, path=None) -> bool:
        """Write a Python script that rebuilds the graph with the API and trains it headless."""
        default = str(Path(self.document.path or self.document.graph.name).with_suffix(".py"))
        path = path or self.window.choose_path(True, "Export Python script", "Python (*.py)", default)
        if not path:
            return False
        try:
            export_script(self.document.graph, path)
        except (gm.GraphModelError, OSError) as e:
            self.window.notify("Cannot export", str(e))
            return False
        self.window.status(f"exported {path}: python {Path(path).name} trains it headless")
        return True

    # --- recovery ---------------------------------------------------------------------

    def offer_recovery(self) -> bool:
        """After a crash: offer each recovery file left behind; returns True if one was opened."""
        opened = False
        for path in files.pending_recoveries(self.state_dir):
            try:
                graph, original = files.read_recovery(path)
            except gm.GraphModelError as e:
                self.window.notify("Recovery", str(e))
                path.unlink(missing_ok=True)
                continue
            where = original or "an unsaved graph"
            choice = "discard" if opened else self.window.ask(
                "Recover unsaved work?",
                f"graphmodel closed without saving changes to {where} (graph '{graph.name}'). Recover them?",
                ("recover", "discard"))
            if choice == "recover":
                self.document.replace(graph, original, dirty=True)
                opened = True
            path.unlink(missing_ok=True)
        return opened

    def close(self) -> None:
        self.autosave.stop()
        self.autosave.discard()


def ask_dialog(parent, title: str, text: str, choices) -> str:
    """A modal question; ``choices`` among save, discard, cancel, recover."""
    buttons = {
        "save": QMessageBox.StandardButton.Save, "discard": QMessageBox.StandardButton.Discard,
        "cancel": QMessageBox.StandardButton.Cancel, "recover": QMessageBox.StandardButton.Yes,
    }
    flags = QMessageBox.StandardButton.NoButton
    for c in choices:
        flags |= buttons[c]
    answer = QMessageBox.question(parent, title, text, flags)
    for c, b in buttons.items():
        if answer == b and c in choices:
            return c
    return "cancel" if "cancel" in choices else choices[-1]
