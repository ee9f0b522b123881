"""Helpers shared by the editor tests (no tests here): drive the widgets the way a user does."""

from __future__ import annotations

from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtTest import QTest


def make_window(qtbot, tmp_path, graph=None, path=None, training=True):
    from editor.mainwindow import MainWindow

    w = MainWindow(graph, path, state_dir=tmp_path / "state", training=training)
    w.asked, w.notes = [], []
    w.answers = []  # answers the next prompts take, in order (default: discard)
    w.ask = lambda title, text, choices: (w.asked.append(text), w.answers.pop(0) if w.answers else "discard")[1]
    w.notify = lambda title, text: w.notes.append(text)
    w.choose_path = lambda *a, **k: None
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    return w


def activate(qtbot, window, spec: str) -> None:
    """Double-click a palette entry (``"variable:latent"``, ``"family:Normal"``, ...)."""
    tree = window.palette.tree
    item = window.palette.items[spec]
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    assert rect.isValid(), spec
    # a double-click starts with a click (QTest's first double-click on a fresh view only presses)
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    QTest.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())


def type_into(qtbot, edit, text: str) -> None:
    """Replace a line edit's text as a user would and press Enter."""
    edit.setFocus()
    edit.selectAll()
    QTest.keyClick(edit, Qt.Key.Key_Delete)
    QTest.keyClicks(edit, text)
    QTest.keyClick(edit, Qt.Key.Key_Return)


def type_spin(qtbot, box, value: int) -> None:
    box.setFocus()
    box.selectAll()
    QTest.keyClicks(box, str(value))
    QTest.keyClick(box, Qt.Key.Key_Return)


def choose(combo, data) -> None:
    """Pick the entry whose data is ``data`` (what a click in the popup does)."""
    i = combo.findData(data)
    assert i >= 0, (data, [combo.itemData(k) for k in range(combo.count())])
    combo.setCurrentIndex(i)
    combo.activated.emit(i)


def view_point(window, scene_pos: QPointF) -> QPoint:
    return window.view.mapFromScene(scene_pos)


def drag_connect(qtbot, window, parent: str, child: str) -> None:
    """Press on ``parent``'s connection port, drag to ``child`` and release."""
    scene = window.scene
    src, dst = scene.variables[parent], scene.variables[child]
    window.view.centerOn(src)
    start = view_point(window, src.mapToScene(src.port_pos()))
    vp = window.view.viewport()
    QTest.mouseMove(vp, start)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    assert scene.connecting is src, "the press did not start a connection"
    end = view_point(window, dst.pos())
    QTest.mouseMove(vp, end)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def drag_node(qtbot, window, name: str, dx: float, dy: float) -> None:
    """Drag a variable by its middle."""
    item = window.scene.variables[name]
    window.view.centerOn(item)
    vp = window.view.viewport()
    a = view_point(window, item.pos() + QPointF(0, -8))
    b = view_point(window, item.pos() + QPointF(dx, dy - 8))
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for k in range(1, 6):
        QTest.mouseMove(vp, a + (b - a) * k / 5)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def doc(window) -> dict:
    """The document's plain data (a deep copy: to_dict shares the section dicts)."""
    import copy

    return copy.deepcopy(window.document.graph.to_dict())


def without_layout(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "layout"}
