"""Menus, toolbar and keyboard shortcuts of the main window."""

from __future__ import annotations

from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QComboBox, QLabel, QToolBar

SK = QKeySequence.StandardKey


def _action(window, text, slot, shortcut=None, tip=None) -> QAction:
    a = QAction(text, window)
    if shortcut is not None:
        if isinstance(shortcut, (list, tuple)):
            a.setShortcuts([QKeySequence(s) if isinstance(s, str) else s for s in shortcut])
        else:
            a.setShortcut(QKeySequence(shortcut) if isinstance(shortcut, str) else shortcut)
    if tip:
        a.setStatusTip(tip)
        a.setToolTip(tip)
    a.triggered.connect(lambda _checked=False: slot())
    return a


def shortcuts_text(acts: dict) -> str:
    """Every action that has a shortcut, one per line."""
    rows = []
    for a in acts.values():
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in a.shortcuts())
        if keys:
            rows.append(f"{a.text().replace('&', '').rstrip('…')}: {keys}")
    rows += ["Connect: drag from a variable's rim (or Shift-drag) to another variable",
             "Previous step (t−1): Alt-drag, or drag a variable onto itself, inside a sequence plate",
             "Pan: middle button or Space-drag; zoom: wheel"]
    return "\n".join(rows)


def build(window) -> dict[str, QAction]:
    """Create every action, the menus and the toolbar; returns the actions by name."""
    w, files, stack = window, window.files, window.document.undo_stack
    acts = {
        "new": _action(w, "&New", files.new, SK.New, "start an empty graph"),
        "open": _action(w, "&Open…", lambda: files.open(), SK.Open, "open a graph file"),
        "save": _action(w, "&Save", files.save, SK.Save, "save the graph file"),
        "save_as": _action(w, "Save &As…", lambda: files.save_as(), SK.SaveAs),
        "export": _action(w, "&Export Python script…", lambda: files.export(), "Ctrl+E",
                          "a script that rebuilds this graph with the API and trains it headless"),
        "quit": _action(w, "&Quit", w.close, SK.Quit),
        "delete": _action(w, "&Delete", w.delete_selection, [QKeySequence(SK.Delete), "Backspace"],
                          "delete the selection (a variable takes its edges and factors with it)"),
        "copy": _action(w, "&Copy", w.copy_selection, SK.Copy),
        "cut": _action(w, "Cu&t", w.cut_selection, SK.Cut),
        "paste": _action(w, "&Paste", w.paste, SK.Paste),
        "duplicate": _action(w, "D&uplicate", w.duplicate, "Ctrl+D"),
        "select_all": _action(w, "Select &All", w.select_all, SK.SelectAll),
        "layout": _action(w, "Auto-&layout", w.auto_layout, "Ctrl+L",
                          "arrange by the ancestral order (Graphviz when installed)"),
        "fit": _action(w, "&Fit to view", w.view.fit, "F", "show the whole graph"),
        "zoom_in": _action(w, "Zoom &in", lambda: w.view.zoom_by(1.25), [QKeySequence(SK.ZoomIn), "Ctrl+="]),
        "zoom_out": _action(w, "Zoom &out", lambda: w.view.zoom_by(0.8), SK.ZoomOut),
        "zoom_reset": _action(w, "&Actual size", w.view.reset_zoom, "Ctrl+0"),
        "search": _action(w, "Search &palette", w.focus_search, SK.Find),
        "model_p": _action(w, "Draw in generative model p", lambda: w.set_model("p"), "Ctrl+1"),
        "model_q": _action(w, "Draw in inference model q", lambda: w.set_model("q"), "Ctrl+2"),
    }
    undo = stack.createUndoAction(w, "&Undo")
    undo.setShortcuts(QKeySequence.keyBindings(SK.Undo))
    redo = stack.createRedoAction(w, "&Redo")
    redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    acts["undo"], acts["redo"] = undo, redo
    # the toolbar's buttons keep short names (the menu's say what they would undo)
    for key, text, slot, signal, can in (("undo_button", "Undo", stack.undo, stack.canUndoChanged, stack.canUndo),
                                         ("redo_button", "Redo", stack.redo, stack.canRedoChanged, stack.canRedo)):
        a = _action(w, text, slot)
        a.setEnabled(can())
        signal.connect(a.setEnabled)
        acts[key] = a

    bar = w.menuBar()
    m = bar.addMenu("&File")
    for k in ("new", "open"):
        m.addAction(acts[k])
    w.recent_menu = m.addMenu("Open &Recent")
    m.addSeparator()
    for k in ("save", "save_as", "export"):
        m.addAction(acts[k])
    m.addSeparator()
    m.addAction(acts["quit"])
    m = bar.addMenu("&Edit")
    for k in ("undo", "redo", None, "cut", "copy", "paste", "duplicate", "delete", None, "select_all"):
        m.addSeparator() if k is None else m.addAction(acts[k])
    m = bar.addMenu("&View")
    for k in ("fit", "zoom_in", "zoom_out", "zoom_reset", None, "layout", None, "search"):
        m.addSeparator() if k is None else m.addAction(acts[k])
    w.docks_menu = m.addMenu("&Panels")
    w.view_menu = m
    m = bar.addMenu("&Model")
    m.addAction(acts["model_p"])
    m.addAction(acts["model_q"])

    m = bar.addMenu("&Help")
    m.addAction(_action(w, "&Keyboard shortcuts", lambda: w.show_help(shortcuts_text(acts)), "F1"))

    tb = QToolBar("Main")
    tb.setObjectName("main-toolbar")
    tb.setMovable(False)
    for k in ("new", "open", "save", None, "undo_button", "redo_button", None, "layout", "fit"):
        tb.addSeparator() if k is None else tb.addAction(acts[k])
    tb.addSeparator()
    tb.addWidget(QLabel("  draw in  "))
    w.model_box = QComboBox()
    w.model_box.setToolTip("the model new connections and factors go into (Ctrl+1: p, Ctrl+2: q)")
    w.model_box.activated.connect(lambda _i: w.set_model(w.model_box.currentData()))
    tb.addWidget(w.model_box)
    w.addToolBar(tb)
    return acts
