"""A run's graph in the open document: load the version a run trained, and resume it.

Each run directory keeps the graph as it was trained (``graph.json``). Resuming a run trains
the *open* graph from the run's checkpoint, which only fits the graph it was made for. So
:func:`resume_run` compares the two first (``inference.trainer``'s structure: variables,
plates, models, networks, factors) and, where they differ, says where and offers to load
the run's version into the editor — one undoable edit (:class:`LoadVersion`), the file's path
kept — before it resumes. :func:`load_version` does the loading alone (the runs panel's
**Load**): the canvas then shows exactly what that run trained.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtGui import QUndoCommand

from graphmodel import GraphModelError
from graphmodel.fileio import load as load_graph


class LoadVersion(QUndoCommand):
    """Replace the document's graph with another (a run's version); undo puts it back."""

    def __init__(self, document, graph, text: str):
        super().__init__(text)
        self.document = document
        self.after = graph.copy()
        self.before = None

    def redo(self):
        self.before = self.document.graph.copy()
        self.document.graph = self.after.copy()
        self.document.changed.emit()

    def undo(self):
        self.document.graph = self.before.copy()
        self.document.changed.emit()


def difference(run_dir, graph) -> str | None:
    """Where the graph a run trained differs from ``graph`` in what its weights depend on
    (``None``: the checkpoint fits ``graph``)."""
    from inference.trainer import graph_structure, structure_difference

    trained = load_graph(Path(run_dir) / "graph.json")
    return structure_difference(graph_structure(trained), graph_structure(graph))


def load_version(window, run_dir) -> bool:
    """Load the graph ``run_dir`` trained into the window's document (undoable)."""
    run_dir = Path(run_dir)
    try:
        graph = load_graph(run_dir / "graph.json")
    except (GraphModelError, OSError) as e:
        window.refused(f"cannot load {run_dir.name}'s graph: {e}")
        return False
    if graph.to_dict() == window.document.graph.to_dict():
        window.status(f"the open graph is the one {run_dir.name} trained")
        return True
    window.document.undo_stack.push(LoadVersion(window.document, graph, f"Load {run_dir.name}'s graph"))
    window.status(f"loaded the graph {run_dir.name} trained (Undo brings back the one before)")
    return True


def resume_run(window, run_dir) -> bool:
    """Resume ``run_dir`` in the window's training panel, first loading the run's version of
    the graph if the open one has changed in a way its checkpoint does not fit (asked)."""
    run_dir = Path(run_dir)
    try:
        diff = difference(run_dir, window.document.graph)
    except (GraphModelError, OSError) as e:
        window.refused(f"cannot resume {run_dir.name}: {e}")
        return False
    if diff is not None:
        answer = window.ask("Resume another version",
                            f"{run_dir.name} trained another version of this graph ({diff}). Load that version "
                            f"into the editor (Undo brings back yours) and resume it?", ("load and resume", "cancel"))
        if answer != "load and resume" or not load_version(window, run_dir):
            return False
    return window.train.start(resume=str(run_dir))
