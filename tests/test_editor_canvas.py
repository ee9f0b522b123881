"""The canvas stays legible (pytest-qt, offscreen): edges clear of labels and symbols, p and
q edges of one pair apart and on their sides, distinct self-loops, the data plate, the
compact dock arrangement at 1280×720, the minimap and the dark theme."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from conftest import EXAMPLES_DIR  # noqa: E402
from test_editor_support import make_window  # noqa: E402

import graphmodel as gm  # noqa: E402


def canvas(qtbot, tmp_path, name, training=False):
    w = make_window(qtbot, tmp_path, gm.load(EXAMPLES_DIR / f"{name}.json", validate=False), training=training)
    w.view.fit()
    return w


def ink(rect, inset=1.5):
    """A label's rectangle less the air around its text (a line may graze the air)."""
    return rect.adjusted(inset, inset, -inset, -inset)


@pytest.mark.parametrize("name", ["vae", "cvae", "m2", "avb", "iwae", "hvae", "dmm"])
def test_no_edge_crosses_a_label_or_another_variable(qtbot, tmp_path, name):
    from editor.canvas import routing

    w = canvas(qtbot, tmp_path, name)
    items = w.scene.variables.values()
    for e in w.scene.edges:
        src, dst = e.ends
        labels = [ink(r) for v in items for r in v.label_rects()]
        assert routing.hits(e.path(), labels) == 0, f"{name}: edge {src.name} → {dst.name} crosses a label"
        if src is not dst:
            others = [v.symbol_rect().adjusted(4, 4, -4, -4) for v in items if v not in (src, dst)]
            assert routing.hits(e.path(), others) == 0, f"{name}: edge {src.name} → {dst.name} crosses a variable"


def _pairs(w):
    """(p edge, q edge) pairs that join the same two variables."""
    gen = [e for e in w.scene.edges if e.kind == "generative" and e.ends[0] is not e.ends[1]]
    inf = [e for e in w.scene.edges if e.kind == "inference" and e.ends[0] is not e.ends[1]]
    return [(p, q) for p in gen for q in inf if {p.ends[0], p.ends[1]} == {q.ends[0], q.ends[1]}]


@pytest.mark.parametrize("name", ["vae", "cvae", "avb", "vrnn", "dmm", "m2", "hvae", "jmvae", "gqn_toy"])
def test_parallel_p_and_q_edges_are_two_curves_with_q_on_its_side(qtbot, tmp_path, name):
    w = canvas(qtbot, tmp_path, name)
    pairs = _pairs(w)
    assert pairs, f"{name} has a p and a q edge between two variables"
    for p, q in pairs:
        a, b = p.path().pointAtPercent(0.5), q.path().pointAtPercent(0.5)
        assert math.hypot(a.x() - b.x(), a.y() - b.y()) >= 12, f"{name}: {p.ends[0].name}–{p.ends[1].name}"
        if p.lag or q.lag:
            continue  # (a previous-step edge arcs out on the left, outside the pair's q edges)
        # the side: seen along the pair from its higher end, q's curve is on the left of p's
        top, bottom = sorted((p.ends[0].pos(), p.ends[1].pos()), key=lambda pt: (pt.y(), pt.x()))
        d = bottom - top
        left = -(b - a).x() * d.y() + (b - a).y() * d.x()  # (y down) > 0: q lies to the reader's left
        assert left > 0, f"{name}: the q edge {q.ends[0].name} → {q.ends[1].name} is not on the inference side"


def test_several_self_loops_on_one_variable_are_distinct(qtbot, tmp_path):
    w = canvas(qtbot, tmp_path, "dmm")  # p and q both read z[t-1]
    loops = [e for e in w.scene.edges if e.ends[0] is e.ends[1] and e.ends[0].name == "z"]
    assert len(loops) == 2
    (a, b) = (e.path().pointAtPercent(0.5) for e in loops)
    assert math.hypot(a.x() - b.x(), a.y() - b.y()) > 20
    assert not loops[0].label_rect().intersects(loops[1].label_rect())
    node = loops[0].ends[0]
    for loop in loops:  # each label clear of both loops and of the node
        for other in loops:
            assert not other.path().intersects(loop.label_rect().adjusted(8, 4, -8, -4))
        assert not node.mapToScene(node.shape()).intersects(loop.label_rect().adjusted(8, 4, -8, -4))


def test_the_data_plate_goes_round_every_variable_and_plate(qtbot, tmp_path):
    w = canvas(qtbot, tmp_path, "vae")
    plate = w.scene.data_plate
    assert plate.isVisible()
    for name in ("x", "z"):
        item = w.scene.variables[name]
        assert plate.rect.contains(item.mapRectToScene(item.boundingRect()))
    w = canvas(qtbot, tmp_path / "gqn", "gqn")
    rect = w.scene.data_plate.rect
    assert all(rect.contains(p.rect) for p in w.scene.plates.values())
    # moving a variable takes the box with it
    item = w.scene.variables["x"]
    item.setPos(item.pos().x() + 900, item.pos().y())
    assert w.scene.data_plate.rect.contains(item.mapRectToScene(item.boundingRect()))


def test_an_empty_canvas_has_no_data_plate(qtbot, tmp_path):
    w = make_window(qtbot, tmp_path, training=False)
    assert not w.scene.data_plate.isVisible()


def test_the_canvas_keeps_half_of_a_1280x720_window_and_the_wide_layout_comes_back(qtbot, tmp_path):
    w = canvas(qtbot, tmp_path, "vae", training=True)
    w.resize(1280, 720)
    qtbot.waitUntil(lambda: w.dock_layout.compact is True)
    qtbot.wait(50)
    assert (w.width(), w.height()) == (1280, 720)  # no panel forces the window taller than the screen
    share = w.view.width() * w.view.height() / (w.width() * w.height())
    assert share >= 0.45, f"the canvas has {share:.0%} of the window"
    # one side column: the palette over the inspector, whose tabs are the problems and runs
    assert w.dockWidgetArea(w.docks["palette"]) == w.dockWidgetArea(w.docks["inspector"])
    assert not w.tabifiedDockWidgets(w.docks["palette"]) and not w.docks["palette"].visibleRegion().isEmpty()
    assert w.docks["problems"] in w.tabifiedDockWidgets(w.docks["inspector"])
    assert w.docks["training"] in w.tabifiedDockWidgets(w.docks["formulas"])
    # the Training tab in front: the row grows until Start shows
    w.docks["training"].raise_()
    qtbot.waitUntil(lambda: not w.train.start_button.visibleRegion().isEmpty())
    w.docks["formulas"].raise_()
    w.resize(1920, 1080)
    qtbot.waitUntil(lambda: w.dock_layout.compact is False)
    from PyQt6.QtCore import Qt

    assert w.dockWidgetArea(w.docks["palette"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert not w.tabifiedDockWidgets(w.docks["training"])
    assert w.docks["palette"].isVisible() and w.docks["training"].isVisible()


def test_the_minimap_shows_when_the_graph_does_not_fit_and_moves_the_view(qtbot, tmp_path):
    from PyQt6.QtCore import QPoint, Qt

    w = canvas(qtbot, tmp_path, "gqn")
    mini = w.view.minimap
    assert not mini.isVisible()  # fitted: the whole graph is in view
    w.view.zoom_by(3.0)
    assert mini.isVisible()
    assert w.view.viewport().geometry().contains(mini.geometry())
    before = w.view.mapToScene(w.view.viewport().rect().center())
    corner = QPoint(8, 8)
    qtbot.mouseClick(mini.viewport(), Qt.MouseButton.LeftButton, pos=corner)
    after = w.view.mapToScene(w.view.viewport().rect().center())
    target = mini.mapToScene(corner)
    assert math.hypot(after.x() - target.x(), after.y() - target.y()) < math.hypot(
        before.x() - target.x(), before.y() - target.y())
    toggle = next(a for a in w.view_menu.actions() if a.text() == "&Minimap")
    toggle.trigger()
    assert not mini.isVisible()
    toggle.trigger()
    assert mini.isVisible()
    w.view.fit()
    assert not mini.isVisible()


def test_the_dark_theme_recolours_the_canvas_and_follows_the_system(qtbot, tmp_path, monkeypatch):
    from PyQt6.QtGui import QGuiApplication, QPalette

    from editor import style, theme

    w = canvas(qtbot, tmp_path, "vae")
    try:
        w.theme.set_choice("dark")
        assert style.is_dark() and style.CANVAS.lightnessF() < 0.25 and style.INK.lightnessF() > 0.75
        window = QGuiApplication.palette().color(QPalette.ColorRole.Window)
        assert window.lightnessF() < 0.3
        pixel = w.view.viewport().grab().toImage().pixelColor(3, 3)  # the canvas's background
        assert pixel.lightnessF() < 0.3
        assert w.files.recent.store.value("theme") == "dark"
        w.theme.set_choice("light")
        assert w.view.viewport().grab().toImage().pixelColor(3, 3).lightnessF() > 0.8
        monkeypatch.setattr(theme, "system_scheme", lambda: "dark")
        w.theme.set_choice("system")
        assert style.is_dark()
        assert [a.isChecked() for a in w.theme.actions.values()] == [True, False, False]
    finally:
        monkeypatch.undo()
        w.theme.set_choice("light")
    with pytest.raises(ValueError, match="expected one of system, light, dark"):
        w.theme.set_choice("sepia")


def test_fan_out_puts_kinds_on_their_sides_and_spreads_one_kind():
    from editor.canvas import routing

    bends = routing.fan_out([("z", "x", False, "generative"), ("x", "z", False, "inference"),
                             ("h", "x", False, "generative"), ("h", "x", False, "generative"),
                             ("z", "z", True, "generative"), ("z", "z", True, "inference")])
    assert bends[0] < 0 < bends[1]  # opposite sides in the pair's own frame
    assert bends[2] == -bends[3] != 0  # two of one kind: either side of the straight line
    assert bends[4:] == [0.0, 1.0]  # self-loops: their slots
    # routing never pulls a side's edge across the straight line
    assert all(b >= 0 for b in routing.candidates(bends[1], keep_side=True))


def _make_script():
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("editor_screenshots", ROOT / "docs" / "images" / "editor" / "make.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_screenshot_script_renders_a_small_picture_of_the_window_size(qtbot, tmp_path):
    from PIL import Image

    make = _make_script()
    (path,) = make.shoot("vae", tmp_path, out=tmp_path, sizes=((1280, 720),))
    with Image.open(path) as picture:
        assert picture.size == (1280, 720)
        assert len(picture.getcolors(4096) or ()) > 8  # a picture, not a blank
    assert path.stat().st_size < 150_000


def test_every_example_has_its_screenshots_in_the_gallery():
    """``python docs/images/editor/make.py NAME`` makes the missing ones (and the page)."""
    from conftest import ROOT

    make = _make_script()
    page = (ROOT / "docs" / "tutorials" / "editor-gallery.md").read_text(encoding="utf-8")
    for example in sorted((ROOT / "examples").glob("*.json")):
        for width, _h in make.SIZES:
            shot = make.HERE / f"{example.stem}-{width}.png"
            assert shot.exists(), f"no screenshot {shot.name}: run python docs/images/editor/make.py {example.stem}"
            assert shot.stat().st_size < 150_000, f"{shot.name} is over 150 KB"
        assert f"({'../images/editor/'}{example.stem}-1280.png)" in page
