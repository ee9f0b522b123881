"""The editor's document: one :class:`graphmodel.Graph`, its file path and its undo stack.

Every change a user makes is a list of :class:`Step` s — calls of the graph's own edit
methods (``add_variable``, ``replace_factor``, ...) or plain-data writes to its
``objective`` / ``data`` / ``training`` / ``layout`` sections — pushed as one
:class:`Edit` on the undo stack. Before anything is pushed, the steps run on a copy of
the graph; a step that raises, or a result that could not be saved and read back, is
refused with the reason and the document stays as it was. Undo puts back the graph as it
was before the edit (a copy taken then), so undo and redo are exact.

The document holds the graph and nothing else of the model: widgets read
``document.graph`` whenever ``changed`` fires and keep no copies.
"""

from __future__ import annotations

import copy
import traceback
from dataclasses import dataclass, field, replace
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtGui import QUndoCommand, QUndoStack

from graphmodel import Graph, GraphModelError
from graphmodel.fileio import graph_from_dict
from graphmodel.variables import check_name

#: Graph methods a step may call.
GRAPH_METHODS = frozenset({
    "add_variable", "update_variable", "remove_variable", "add_plate", "rename_plate", "remove_plate",
    "add_model", "add_factor", "replace_factor", "remove_factor", "set_network",
})
SECTIONS = ("objective", "data", "training", "layout")


class Refused(GraphModelError):
    """An edit the editor will not make; the message says why."""


@dataclass(frozen=True)
class Step:
    """One change: a graph method with its arguments, or a section write.

    ``Step("add_variable", (v,))`` calls ``graph.add_variable(v)``;
    ``Step("set_section", ("training", {...}))`` replaces a section;
    ``Step("set_positions", ({"x": [0, 0]},))`` writes node positions into the layout;
    ``Step("set_plate_rect", ("time", [x, y, w, h]))`` writes a plate's rectangle;
    ``Step("set_name", ("vae",))`` renames the graph.
    """

    method: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


def apply_step(graph: Graph, step: Step):
    """Run one step on ``graph``; returns what the graph method returned."""
    if step.method in GRAPH_METHODS:
        return getattr(graph, step.method)(*step.args, **step.kwargs)
    if step.method == "set_section":
        name, value = step.args
        if name not in SECTIONS:
            raise GraphModelError(f"no section '{name}'; sections: {', '.join(SECTIONS)}")
        setattr(graph, name, copy.deepcopy(value))
        return None
    if step.method == "rename_variable":
        rename_variable(graph, *step.args)
        return None
    if step.method == "set_name":
        (name,) = step.args
        graph.name = check_name(name, "graph")
        return None
    if step.method == "set_positions":
        (positions,) = step.args
        nodes = dict(graph.layout.get("nodes", {}))
        for name, pos in positions.items():
            if pos is None:
                nodes.pop(name, None)
            else:
                nodes[name] = [round(float(pos[0]), 1), round(float(pos[1]), 1)]
        _set_layout(graph, "nodes", nodes)
        return None
    if step.method == "set_plate_rect":
        name, rect = step.args
        plates = dict(graph.layout.get("plates", {}))
        if rect is None:
            plates.pop(name, None)
        else:
            plates[name] = [round(float(v), 1) for v in rect]
        _set_layout(graph, "plates", plates)
        return None
    raise GraphModelError(f"unknown edit step {step.method!r}")


def _set_layout(graph: Graph, key: str, value: dict) -> None:
    """Replace one part of the layout section (a new dict: earlier snapshots keep theirs)."""
    layout = {k: v for k, v in graph.layout.items() if k != key}
    if value:
        layout[key] = value
    graph.layout = layout


def rename_variable(graph: Graph, old: str, new: str) -> None:
    """Rename a variable everywhere it is used, keeping the declaration order.

    The rename goes through the graph's edit methods: add the renamed variable, re-point
    every factor at it, remove the old one; then the order of declaration (which orders
    formulas and the file) is put back. Unlike ``Graph.update_variable(name, name=new)``,
    the data section's bindings follow the new name too.
    """
    var = graph.variable(old)
    if new in graph.variables:
        raise GraphModelError(f"cannot rename '{old}' to '{new}': that name is taken")
    order = [new if n == old else n for n in graph.variables]
    graph.add_variable(replace(var, name=new))
    for i, f in enumerate(graph.factors):
        if f.target == old or any(p.name == old for p in f.parents):
            parents = tuple(replace(p, name=new) if p.name == old else p for p in f.parents)
            graph.replace_factor(i, replace(f, target=new if f.target == old else f.target, parents=parents))
    graph.remove_variable(old)
    # the same variables in their old order; remove_variable has just dropped the engine's cache
    graph.variables = {n: graph.variables[n] for n in order}
    bind = graph.data.get("bind")
    if isinstance(bind, dict) and old in bind:
        graph.data = {**graph.data, "bind": {(new if k == old else k): v for k, v in bind.items()}}


def check_saveable(graph: Graph) -> None:
    """Raise :class:`Refused` unless ``graph`` saves to a file that reads back."""
    try:
        graph_from_dict(graph.to_dict(), validate=False)
    except GraphModelError as e:
        raise Refused(str(e)) from None


class Edit(QUndoCommand):
    """One user action: steps run on redo, the graph from before put back on undo."""

    def __init__(self, document: Document, text: str, steps: list[Step]):
        super().__init__(text)
        self.document = document
        self.steps = list(steps)
        self.before: Graph | None = None

    def redo(self):
        doc = self.document
        self.before = doc.graph.copy()
        try:
            for s in self.steps:
                apply_step(doc.graph, s)
        except Exception:  # noqa: BLE001 - the trial passed, so this is a bug; never lose the document to it
            traceback.print_exc()
            doc.graph = self.before.copy()
            self.setObsolete(True)  # the stack drops this edit
        doc.changed.emit()

    def undo(self):
        self.document.graph = self.before.copy()
        self.document.changed.emit()


class Document(QObject):
    """The open graph, where it is saved, and its undo history.

    Signals:
        changed: the graph changed (an edit, undo, redo, or a new graph).
        file_changed: the path or the saved/unsaved state changed.
        replaced: another graph replaced this one (New, Open, recovery), after ``changed``.
    """

    changed = pyqtSignal()
    file_changed = pyqtSignal()
    replaced = pyqtSignal()

    def __init__(self, graph: Graph | None = None, path=None, parent=None):
        super().__init__(parent)
        self.graph = graph if graph is not None else Graph("untitled")
        self.path: Path | None = Path(path) if path else None
        self.undo_stack = QUndoStack(self)
        # a bound method, not a lambda: Qt drops the connection when the document goes
        self.undo_stack.cleanChanged.connect(self._clean_changed)

    def _clean_changed(self, _clean: bool) -> None:
        self.file_changed.emit()

    # --- state ------------------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """Unsaved changes."""
        return not self.undo_stack.isClean()

    @property
    def title(self) -> str:
        return self.path.name if self.path else f"{self.graph.name} (unsaved)"

    def replace(self, graph: Graph, path=None, dirty: bool = False) -> None:
        """Show another graph: a new or opened file. The undo history starts again."""
        self.graph = graph
        self.path = Path(path) if path else None
        self.undo_stack.clear()
        if dirty:  # recovered work: unsaved until saved
            self.undo_stack.resetClean()
        else:
            self.undo_stack.setClean()
        self.changed.emit()
        self.file_changed.emit()
        self.replaced.emit()

    def mark_saved(self, path) -> None:
        self.path = Path(path)
        self.undo_stack.setClean()
        self.file_changed.emit()

    # --- edits ------------------------------------------------------------------------

    def trial(self, steps: list[Step]) -> Graph:
        """The graph these steps would give, without touching the document.

        Raises:
            Refused: a step failed, or the result could not be saved and read back.
        """
        g = self.graph.copy()
        try:
            for s in steps:
                apply_step(g, s)
        except GraphModelError as e:
            raise Refused(str(e)) from None
        except (TypeError, ValueError) as e:  # a dataclass refusing a field value
            raise Refused(str(e)) from None
        check_saveable(g)
        return g

    def apply(self, text: str, steps: list[Step]) -> None:
        """Push ``steps`` as one undoable edit named ``text`` (after a trial run)."""
        if not steps:
            return
        self.trial(steps)
        self.undo_stack.push(Edit(self, text, steps))
